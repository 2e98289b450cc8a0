"""The staff member list: search over every identifier, each filter, sorting, cheap counts, bulk reminders."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from members.models import Country, Member, MembershipCategory, Region
from notifications.models import Message, Notification
from tests.factories import MemberFactory

URL = reverse("dashboard:members")
Status = Member.Status
TODAY = timezone.localdate()


def make(status=Status.ACTIVE, *, first="Wanjiru", last="Kamau", period_end=None, paid=True, **kwargs):
    member = MemberFactory(
        documents=[],
        user__first_name=first,
        user__last_name=last,
        status=status,
        period_end=period_end,
        registration_paid_at=timezone.now() if paid else None,
        activated_at=timezone.now() if status in (Status.ACTIVE, Status.GRACE, Status.EXPIRED) else None,
        **kwargs,
    )
    return member


def names(response):
    assert response.status_code == 200, response.content[:500]
    return sorted(m.user.first_name for m in response.context["page"])


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.django_db
class TestSearch:
    @pytest.fixture(autouse=True)
    def data(self, reference_data):
        self.otieno = make(
            first="Achieng",
            last="Otieno",
            phone_number="254712345678",
            id_number="31234567",
            membership_number="KTS-2024-0042",
        )
        self.kamau = make(
            first="Njeri",
            last="Kamau",
            phone_number="254798765432",
            id_number="29876543",
            user__email="njeri.k@shamba.co.ke",
        )

    @pytest.mark.parametrize(
        "query",
        [
            "Achieng",
            "otieno",
            "achieng otieno",
            "KTS-2024-0042",
            "kts-2024-0042",
            "0712 345 678",
            "+254712345678",
            "254712345678",
            "0712345678",
            "31234567",
            "345678",
        ],
    )
    def test_finds_a_member_by_any_identifier_in_any_form(self, staff_client, query):
        assert names(staff_client.get(URL, {"q": query})) == ["Achieng"]

    def test_email_and_its_parts_match(self, staff_client):
        assert names(staff_client.get(URL, {"q": "njeri.k@shamba.co.ke"})) == ["Njeri"]
        assert names(staff_client.get(URL, {"q": "shamba"})) == ["Njeri"]

    def test_every_word_must_match(self, staff_client):
        assert names(staff_client.get(URL, {"q": "njeri otieno"})) == []

    def test_search_text_is_what_member_search_text_says(self):
        from members.search import member_search_text

        self.otieno.refresh_from_db()
        assert self.otieno.search_text == member_search_text(self.otieno)
        assert "0712345678" in self.otieno.search_text


@pytest.mark.django_db
class TestFilters:
    @pytest.fixture(autouse=True)
    def data(self, reference_data):
        self.paid_up = make(first="Paid", period_end=TODAY + datetime.timedelta(days=100))
        self.lapsing = make(first="Lapsing", period_end=TODAY - datetime.timedelta(days=1))  # job has not run yet
        self.grace = make(Status.GRACE, first="Grace", period_end=TODAY - datetime.timedelta(days=5))
        self.expired = make(Status.EXPIRED, first="Expired", period_end=TODAY - datetime.timedelta(days=90))
        self.applicant = make(Status.PENDING, first="Applicant", paid=False)
        self.approved = make(Status.APPROVED, first="Approved", paid=False)
        self.suspended = make(Status.SUSPENDED, first="Suspended", period_end=TODAY + datetime.timedelta(days=10))
        student = MembershipCategory.objects.exclude(code="full").first()
        mombasa = Region.objects.get(country="KE", code="001")
        self.other = make(
            first="Other", category=student, region=mombasa, period_end=TODAY + datetime.timedelta(days=20)
        )
        uganda = Country.objects.get(pk="UG")
        self.abroad = make(first="Abroad", country=uganda, region=None, period_end=TODAY + datetime.timedelta(days=200))
        Member.objects.filter(pk=self.applicant.pk).update(applied_at=timezone.now() - datetime.timedelta(days=400))

    def test_status(self, staff_client):
        assert names(staff_client.get(URL, {"status": "grace"})) == ["Grace"]

    def test_payment_state(self, staff_client):
        assert names(staff_client.get(URL, {"payment": "paid_up"})) == ["Abroad", "Other", "Paid"]
        assert names(staff_client.get(URL, {"payment": "unpaid"})) == ["Applicant", "Approved"]
        assert names(staff_client.get(URL, {"payment": "overdue"})) == ["Expired", "Grace", "Lapsing"]

    def test_category_country_region(self, staff_client):
        assert names(staff_client.get(URL, {"category": self.other.category.code})) == ["Other"]
        assert names(staff_client.get(URL, {"country": "UG"})) == ["Abroad"]
        assert names(staff_client.get(URL, {"region": self.other.region_id})) == ["Other"]

    def test_date_ranges(self, staff_client):
        since = (TODAY - datetime.timedelta(days=30)).isoformat()
        assert "Applicant" not in names(staff_client.get(URL, {"joined_after": since}))
        assert names(staff_client.get(URL, {"joined_before": since})) == ["Applicant"]
        window = {
            "expires_after": TODAY.isoformat(),
            "expires_before": (TODAY + datetime.timedelta(days=30)).isoformat(),
        }
        assert names(staff_client.get(URL, window)) == ["Other", "Suspended"]

    def test_filters_combine(self, staff_client):
        response = staff_client.get(URL, {"status": "active", "country": "KE", "payment": "paid_up"})
        assert names(response) == ["Other", "Paid"]

    def test_sorting(self, staff_client):
        response = staff_client.get(URL, {"ordering": "expires", "status": "active"})
        assert [m.user.first_name for m in response.context["page"]] == ["Lapsing", "Other", "Paid", "Abroad"]
        response = staff_client.get(URL, {"ordering": "-expires", "status": "active"})
        assert [m.user.first_name for m in response.context["page"]] == ["Abroad", "Paid", "Other", "Lapsing"]

    @pytest.mark.parametrize(
        "params",
        [
            {"joined_after": "31/02/2025"},
            {"status": "nonsense"},
            {"region": "abc"},
            {"category": "no-such"},
            {"payment": "maybe"},
            {"ordering": "password"},
        ],
    )
    def test_bad_filters_get_a_400_with_the_form_not_every_member(self, staff_client, params):
        response = staff_client.get(URL, params)
        assert response.status_code == 400
        assert response.context["page"] is None
        assert b"not understood" in response.content

    def test_the_url_is_shareable(self, staff_client):
        response = staff_client.get(URL, {"status": "active", "country": "KE", "page": "1"})
        assert b'value="active" selected' in response.content or b"selected>Active" in response.content
        assert 'href="?status=active&amp;country=KE&amp;page=2"' not in response.content.decode()  # one page only


@pytest.mark.django_db
def test_queries_do_not_grow_with_page_size(staff_client, reference_data, django_assert_max_num_queries):
    for n in range(30):
        make(first=f"M{n}", period_end=TODAY + datetime.timedelta(days=n))
    with django_assert_max_num_queries(20) as small:
        staff_client.get(URL, {"per_page": 25})
    with django_assert_max_num_queries(20) as large:
        response = staff_client.get(URL, {"per_page": 100})
    assert len(response.context["page"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db
def test_count_is_capped_and_never_a_whole_table_count(staff_client, reference_data, monkeypatch):
    for n in range(6):
        make(first=f"M{n}")
    monkeypatch.setattr("dashboard.members.list_views.COUNT_CAP", 4)
    response = staff_client.get(URL, {"status": "active", "per_page": 25})
    paginator = response.context["page"].paginator
    assert paginator.count_is_capped and paginator.count == 4
    assert "more than 4" in response.content.decode()


@pytest.mark.django_db
def test_unfiltered_list_counts_with_a_limit(staff_client, reference_data, django_assert_max_num_queries):
    make()
    with django_assert_max_num_queries(20) as queries:
        staff_client.get(URL)
    counts = [
        q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "members_member" in q["sql"]
    ]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


@pytest.mark.django_db
def test_anonymous_goes_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_a_member_gets_403(client, alice):
    client.force_login(alice.user)
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
class TestBulkReminders:
    def test_sends_to_members_with_a_period_once_a_day_and_audits(self, staff_client, reference_data):
        due = make(first="Due", period_end=TODAY + datetime.timedelta(days=20))
        expired = make(Status.EXPIRED, first="Expired", period_end=TODAY - datetime.timedelta(days=60))
        applicant = make(Status.PENDING, first="Applicant", paid=False)
        data = {"member": [due.pk, expired.pk, applicant.pk], "next": URL + "?status=active"}
        response = staff_client.post(reverse("dashboard:members_remind"), data, follow=True)
        assert response.redirect_chain[-1][0] == URL + "?status=active"
        assert "Sent 2 reminders" in response.content.decode()
        assert Notification.objects.filter(user=due.user, event="renewal_due").count() == 1
        assert Notification.objects.filter(user=expired.user, event="expired").count() == 1
        assert not Notification.objects.filter(user=applicant.user).exists()
        assert Message.objects.filter(user=due.user, channel="sms").count() == 1
        assert AuditLog.objects.filter(action=AuditLog.Action.REMINDER_SENT).count() == 2

        again = staff_client.post(reverse("dashboard:members_remind"), data, follow=True)
        assert "2 already reminded today" in again.content.decode()
        assert Notification.objects.filter(user=due.user, event="renewal_due").count() == 1

    def test_no_selection_or_junk_is_a_clear_message(self, staff_client, reference_data):
        response = staff_client.post(reverse("dashboard:members_remind"), {}, follow=True)
        assert "Choose at least one member" in response.content.decode()
        response = staff_client.post(reverse("dashboard:members_remind"), {"member": ["x"]}, follow=True)
        assert "not understood" in response.content.decode()

    def test_open_redirects_are_refused(self, staff_client, reference_data):
        due = make(period_end=TODAY + datetime.timedelta(days=20))
        response = staff_client.post(
            reverse("dashboard:members_remind"), {"member": due.pk, "next": "https://evil.example/"}
        )
        assert response["Location"] == URL

    def test_finance_cannot_send(self, client, finance_user, reference_data):
        client.force_login(finance_user)
        assert client.post(reverse("dashboard:members_remind"), {"member": 1}).status_code == 403


@pytest.mark.django_db
class TestExactIdentifiers:
    """An identifier typed whole is looked up through its own index and shows just that member."""

    @pytest.fixture(autouse=True)
    def data(self, reference_data):
        self.owner = make(
            first="Owner", phone_number="254711223344", id_number="22334455", membership_number="KTS-2025-0101"
        )
        # Another member whose other identifiers contain the owner's as a substring.
        self.other = make(
            first="Other", phone_number="254700000001", id_number="122334455", membership_number="KTS-2025-01011"
        )

    @pytest.mark.parametrize("query", ["KTS-2025-0101", "kts-2025-0101", "0711 223 344", "22334455"])
    def test_the_exact_match_wins(self, staff_client, query):
        assert names(staff_client.get(URL, {"q": query})) == ["Owner"]

    def test_a_partial_identifier_falls_back_to_substring_search(self, staff_client):
        assert names(staff_client.get(URL, {"q": "2334455"})) == ["Other", "Owner"]
        assert names(staff_client.get(URL, {"q": "KTS-2025-010"})) == ["Other", "Owner"]

    def test_exact_lookups_use_the_identifier_columns(self):
        from members.search import exact_identifier_condition

        assert exact_identifier_condition("kamau") is None
        assert "membership_number" in str(exact_identifier_condition("KTS-2025-0101"))
        assert "phone_number" in str(exact_identifier_condition("+254 711 223 344"))


@pytest.mark.django_db
def test_an_expiry_range_lists_soonest_first_by_default(staff_client, reference_data):
    make(first="Later", period_end=TODAY + datetime.timedelta(days=20))
    make(first="Sooner", period_end=TODAY + datetime.timedelta(days=5))
    response = staff_client.get(URL, {"expires_after": TODAY.isoformat()})
    assert [m.user.first_name for m in response.context["page"]] == ["Sooner", "Later"]


@pytest.mark.django_db
def test_the_applications_queue_counts_with_a_limit_and_documents_per_row(
    staff_client, alice, bob, django_assert_max_num_queries
):
    with django_assert_max_num_queries(20) as queries:
        response = staff_client.get(reverse("dashboard:applications"), {"status": ""})
    rows = {m.pk: m for m in response.context["page"]}
    assert rows[alice.pk].documents_pending == 3 and rows[alice.pk].documents_rejected == 0
    member_counts = [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper()
        and "LIMIT" not in q["sql"].upper()
        and "members_member" in q["sql"]
        and "documents_document" not in q["sql"]
    ]
    assert member_counts == []
