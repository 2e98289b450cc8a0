"""The audit trail viewer (/staff/audit/): who may read it, its filters, paging at a fixed query cost, the
detail page, and that nothing in it writes."""

import datetime
import html
import re
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from dashboard.audit.filters import AuditLogFilter
from dashboard.audit.views import PAGE_SIZE, audit_list_url
from payments.models import Payment
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

Action = AuditLog.Action


def at(day, hour=12, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def write(when=None, **kwargs):
    """An audit entry as the app writes it, dated `when` (created_at is set by the database layer)."""
    if when is None:
        return audit_log(**kwargs)
    with mock.patch("django.utils.timezone.now", return_value=when):
        return audit_log(**kwargs)


def listed(response) -> list[int]:
    """The entry ids on a list page, in order."""
    assert response.status_code == 200, response.content.decode()[:500]
    return [int(pk) for pk in re.findall(r'<tr id="entry-(\d+)">', response.content.decode())]


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


# --- Who may read it -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/staff/audit/", "/staff/audit/{pk}/"])
def test_only_holders_of_view_auditlog_may_read_the_trail(
    client, path, bob, staff_user, finance_user, admin_user, django_user_model
):
    carol = django_user_model.objects.create_user(email="carol@example.com", password=None)
    entry = write(action=Action.LOGIN, actor=carol, target=carol)
    url = path.format(pk=entry.pk)

    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={url}"
    for user in (bob.user, staff_user, finance_user):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 403, user
        assert "carol@example.com" not in response.content.decode()

    client.force_login(admin_user)
    assert client.get(url).status_code == 200

    # The permission, not the role, opens it.
    auditor = UserFactory(email="audrey.auditor@example.com", is_staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_auditlog", content_type__app_label="audit"))
    client.force_login(django_user_model.objects.get(pk=auditor.pk))
    response = client.get(url)
    assert response.status_code == 200 and "carol@example.com" in response.content.decode()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/staff/audit/", "/staff/audit/{pk}/"])
def test_nothing_can_be_written_through_the_viewer(admin, method, path, bob):
    entry = write(action=Action.LOGIN, actor=bob.user, target=bob.user, reason="As written.")
    before = list(AuditLog.objects.values_list("pk", "action", "reason", "data"))

    response = getattr(admin, method)(path.format(pk=entry.pk), {"reason": "Rewritten"})

    assert response.status_code == 405
    assert list(AuditLog.objects.values_list("pk", "action", "reason", "data")) == before


def test_the_pages_offer_no_edit_or_delete(admin, bob):
    entry = write(action=Action.LOGIN, actor=bob.user, target=bob.user)
    for url in ("/staff/audit/", f"/staff/audit/{entry.pk}/"):
        content = admin.get(url).content.decode()
        main = content[content.index("<main") : content.index("</main>")]
        assert 'method="post"' not in main.lower()
        assert "Delete" not in main and "Edit" not in main


# --- The list and its filters ----------------------------------------------------------------------------


@pytest.fixture
def trail(reference_data, admin, admin_user, staff_user, finance_user):
    """Entries about Alice (her membership, document, payment, account), about Bob, and system ones; and the
    admin's own log-in (now), which the trail records like any other."""
    alice = MemberFactory(user__email="alice@example.com", user__first_name="Alice")
    bob = MemberFactory(user__email="bob@example.com", user__first_name="Bob")
    document = alice.documents.first()
    paid = Payment.objects.create(member=alice, payment_type="registration", amount=1000)
    day = datetime.date(2026, 3, 10)
    entries = {
        "alice_registered": write(at(day, 8), action=Action.REGISTERED, actor=alice.user, target=alice),
        "alice_login": write(at(day, 9), action=Action.LOGIN, actor=alice.user, target=alice.user),
        "doc_rejected": write(
            at(day, 10),
            action=Action.DOCUMENT_REJECTED,
            actor=staff_user,
            target=document,
            reason="The scan is blurred.",
        ),
        "alice_paid": write(
            at(day + datetime.timedelta(days=1), 0, 5),
            action=Action.PAYMENT_COMPLETED,
            target=paid,
            data={"receipt": "RCT-2026-000001", "amount": 1000},
        ),
        "alice_approved": write(
            at(day + datetime.timedelta(days=2), 23, 55),
            action=Action.STATUS_CHANGED,
            actor=staff_user,
            target=alice,
            data={"from": "pending", "to": "approved"},
            reason="All documents verified.",
        ),
        "bob_registered": write(at(day, 8, 30), action=Action.REGISTERED, actor=bob.user, target=bob),
        "bob_rejected": write(
            at(day + datetime.timedelta(days=3), 7),
            action=Action.STATUS_CHANGED,
            actor=finance_user,
            target=bob,
            reason="Duplicate application.",
        ),
        "failed_login": write(at(day + datetime.timedelta(days=3), 8), action=Action.LOGIN_FAILED),
        "admin_login": AuditLog.objects.get(actor=admin_user, action=Action.LOGIN),
    }
    return {"alice": alice, "bob": bob, "entries": entries}


def ids(trail, *names):
    return [trail["entries"][name].pk for name in names]


def test_the_list_shows_every_entry_newest_first(admin, trail):
    response = admin.get("/staff/audit/")
    assert listed(response) == ids(
        trail,
        "admin_login",
        "failed_login",
        "bob_rejected",
        "alice_approved",
        "alice_paid",
        "doc_rejected",
        "alice_login",
        "bob_registered",
        "alice_registered",
    )
    content = response.content.decode()
    assert "9 entries" in content
    # A membership links to its staff page; every entry links to its own page.
    alice = trail["alice"]
    assert f'href="/staff/members/{alice.pk}/"' in content
    assert f'href="/staff/audit/{trail["entries"]["alice_paid"].pk}/"' in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # A whole address is that account only; part of one matches every account containing it.
        ({"actor": "sam.staff@example.com"}, ["alice_approved", "doc_rejected"]),
        ({"actor": "SAM.STAFF@example.com"}, ["alice_approved", "doc_rejected"]),
        ({"actor": "sam.staff"}, ["alice_approved", "doc_rejected"]),
        ({"actor": "finance"}, ["bob_rejected"]),
        (
            {"actor": "@example.com"},
            [
                "admin_login",
                "bob_rejected",
                "alice_approved",
                "doc_rejected",
                "alice_login",
                "bob_registered",
                "alice_registered",
            ],
        ),
        ({"actor": "m.staff@example.com"}, []),  # a whole address: exact, so not sam.staff@example.com
        ({"action": "status_changed"}, ["bob_rejected", "alice_approved"]),
        ({"action": "status_changed", "actor": "finance"}, ["bob_rejected"]),
        ({"target_type": "payments.payment"}, ["alice_paid"]),
        ({"q": "blurred"}, ["doc_rejected"]),  # the reason
        # The object's description: her membership, her account, her document ("National ID ... of Alice ...").
        ({"q": "ALICE"}, ["alice_approved", "doc_rejected", "alice_login", "alice_registered"]),
        # Local days: 00:05 on the 11th and 23:55 on the 12th belong to those days in Nairobi.
        ({"date_after": "2026-03-11", "date_before": "2026-03-12"}, ["alice_approved", "alice_paid"]),
        ({"date_after": "2026-03-13", "date_before": "2026-03-31"}, ["failed_login", "bob_rejected"]),
        ({"date_before": "2026-03-10", "action": "registered"}, ["bob_registered", "alice_registered"]),
    ],
)
def test_filters(admin, trail, query, expected):
    assert listed(admin.get("/staff/audit/", query)) == ids(trail, *expected)


def test_one_object_by_type_and_id(admin, trail):
    bob = trail["bob"]
    response = admin.get("/staff/audit/", {"target_type": "members.member", "target_id": str(bob.pk)})
    assert listed(response) == ids(trail, "bob_rejected", "bob_registered")


def test_a_members_activity_covers_their_membership_documents_payments_and_account(admin, trail):
    alice = trail["alice"]
    url = audit_list_url(member=alice.pk)
    assert url == f"/staff/audit/?member={alice.pk}"
    assert listed(admin.get(url)) == ids(
        trail, "alice_approved", "alice_paid", "doc_rejected", "alice_login", "alice_registered"
    )
    assert listed(admin.get(audit_list_url(member=trail["bob"].pk))) == ids(trail, "bob_rejected", "bob_registered")
    assert listed(admin.get(audit_list_url(member=999999))) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_after": "2026-02-31"}, "date"),
        ({"date_before": "yesterday"}, "date"),
        ({"action": "launch_missiles"}, "action"),
        ({"member": "abc"}, "member"),
        ({"member": "1.5"}, "member"),
        ({"member": "-1"}, "member"),
        ({"target_type": "nothing.here"}, "target_type"),
        ({"target_id": "9" * 65}, "target_id"),
    ],
)
def test_bad_filters_get_a_clear_message_and_a_400(admin, trail, query, field):
    response = admin.get("/staff/audit/", query)
    assert response.status_code == 400
    content = response.content.decode()
    assert "Some filters were not understood" in content
    assert response.context["filter"].form.errors[field]
    assert 'id="audit-table"' not in content  # no list that ignores what was asked


def test_pages_keep_the_filters_and_stop_at_the_end(admin, bob):
    for i in range(PAGE_SIZE + 7):
        write(
            at(datetime.date(2026, 1, 1), 0, 0) + datetime.timedelta(minutes=i),
            action=Action.LOGIN,
            actor=bob.user,
            target=bob.user,
        )
    write(action=Action.LOGOUT, actor=bob.user, target=bob.user)

    first = admin.get("/staff/audit/", {"action": "login", "actor": "bob@example.com"})
    assert len(listed(first)) == PAGE_SIZE
    content = first.content.decode()
    assert f"{PAGE_SIZE + 7} entries" in content
    next_link = html.unescape(re.search(r'href="([^"]*)" rel="next"', content).group(1))
    assert next_link == "?action=login&actor=bob%40example.com&page=2"
    second = admin.get("/staff/audit/" + next_link)
    assert len(listed(second)) == 7
    assert set(listed(first)).isdisjoint(listed(second))
    assert 'rel="next"' not in second.content.decode()
    assert listed(admin.get(f"/staff/audit/{next_link}".replace("page=2", "page=999"))) == listed(second)  # no 404
    assert listed(admin.get(f"/staff/audit/{next_link}".replace("page=2", "page=x"))) == listed(first)


def test_the_count_is_capped_on_a_big_trail(admin, bob, monkeypatch):
    monkeypatch.setattr("dashboard.audit.views.COUNT_CAP", 5)
    for _ in range(8):
        write(action=Action.LOGIN, actor=bob.user, target=bob.user)
    content = admin.get("/staff/audit/", {"action": "login"}).content.decode()
    assert "more than 5 entries" in content


def list_queries(query) -> int:
    """Session, user, the session's two-factor device (django-otp), the user's and the groups' permissions;
    the capped count and the page of entries; the navbar's two look-ups (user.member, unread notifications).
    A member's activity first reads the ids of their documents, payments and account (one query). On
    PostgreSQL the count and the page run under a statement timeout: SAVEPOINT, set_config, RELEASE in a test
    (BEGIN/COMMIT, not counted, in production)."""
    return 5 + 2 + 2 + ("member" in query) + (3 if connection.vendor == "postgresql" else 0)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"page": "2"},
        {"member": "MEMBER"},
        {"action": "login", "actor": "bob@example.com", "date_after": "2026-01-01"},
    ],
)
def test_the_query_count_does_not_grow_with_the_page(admin, bob, query, django_assert_num_queries):
    query = {key: str(bob.pk) if value == "MEMBER" else value for key, value in query.items()}
    write(action=Action.LOGIN, actor=bob.user, target=bob.user)
    with django_assert_num_queries(list_queries(query)):
        assert len(listed(admin.get("/staff/audit/", query))) <= 2

    for i in range(PAGE_SIZE * 2 + 5):
        write(action=Action.LOGIN, actor=bob.user, target=bob.user, data={"i": i})
        Payment.objects.create(member=bob, payment_type="renewal", amount=i + 1)
    with django_assert_num_queries(list_queries(query)):
        assert len(listed(admin.get("/staff/audit/", query))) == PAGE_SIZE


def test_a_search_that_takes_too_long_asks_for_narrower_filters(admin, bob, settings, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("The statement timeout is PostgreSQL's (SQLite has none).")
    write(action=Action.LOGIN, actor=bob.user, target=bob.user, reason="Needle")
    settings.AUDIT_LIST_TIMEOUT_MS = 50

    def slow_text_search(self, queryset, name, value):
        return queryset.extra(where=["(SELECT true FROM pg_sleep(0.5))"])  # noqa: S610 - a fixed test string

    monkeypatch.setattr(AuditLogFilter, "filter_text", slow_text_search)
    response = admin.get("/staff/audit/", {"q": "Needle"})

    assert response.status_code == 400
    content = response.content.decode()
    assert "This search took too long" in content and 'id="audit-table"' not in content
    # The connection is usable again, without the timeout.
    monkeypatch.undo()
    assert listed(admin.get("/staff/audit/", {"q": "Needle"})) != []


def test_the_detail_page_costs_a_fixed_number_of_queries(admin, bob, django_assert_num_queries):
    entry = write(action=Action.LOGIN, actor=bob.user, target=bob.user, data={"big": list(range(500))})
    # Request overhead (session, user, two-factor device, permissions), the entry with its actor, the navbar.
    with django_assert_num_queries(5 + 1 + 2):
        assert admin.get(f"/staff/audit/{entry.pk}/").status_code == 200


# --- One entry -----------------------------------------------------------------------------------------


def test_the_detail_page_shows_every_field_and_the_data_escaped(admin, staff_user, bob):
    entry = write(
        action=Action.STATUS_CHANGED,
        actor=staff_user,
        target=bob,
        data={"to": "rejected", "note": "<script>alert('x')</script>", "nested": {"b": 2, "a": [1, "two"]}},
        reason="Duplicate <b>application</b>.",
    )
    response = admin.get(f"/staff/audit/{entry.pk}/")
    assert response.status_code == 200
    content = response.content.decode()

    assert "<script>alert" not in content and "<b>application</b>" not in content
    data = html.unescape(re.search(r'<pre[^>]*id="entry-data"><code>(.*?)</code></pre>', content, re.S).group(1))
    assert data == (
        "{\n"
        '  "nested": {\n'
        '    "a": [\n'
        "      1,\n"
        '      "two"\n'
        "    ],\n"
        '    "b": 2\n'
        "  },\n"
        '  "note": "<script>alert(\'x\')</script>",\n'
        '  "to": "rejected"\n'
        "}"
    )
    fields = html.unescape(re.search(r'<dl [^>]*id="entry-fields">(.*?)</dl>', content, re.S).group(1))
    for text in (
        str(entry.pk),
        "sam.staff@example.com",
        "Status changed",
        "status_changed",
        str(bob),
        "members.member",
        str(bob.pk),
        "Duplicate <b>application</b>.",
        timezone.localtime(entry.created_at).strftime("%H:%M:%S"),
    ):
        assert text in fields, text
    assert f'href="/staff/members/{bob.pk}/"' in content
    assert html.escape(audit_list_url(member=bob.pk)) in content
    assert html.escape(audit_list_url(target_type="members.member", target_id=bob.pk)) in content
    assert html.escape(audit_list_url(actor="sam.staff@example.com")) in content


def test_an_entry_without_actor_or_object(admin):
    entry = write(action=Action.LOGIN_FAILED, data={"username": "mallory@example.com"})
    content = admin.get(f"/staff/audit/{entry.pk}/").content.decode()
    assert "Nobody signed in" in content
    assert "mallory@example.com" in content


def test_an_unknown_entry_is_a_404(admin):
    assert admin.get("/staff/audit/987654/").status_code == 404
    assert admin.get("/staff/audit/99999999999999999999999/").status_code == 404


def test_ids_beyond_the_databases_range_are_refused_or_find_nothing(admin, bob):
    write(action=Action.LOGIN, actor=bob.user, target=bob.user)
    huge = "99999999999999999999999"
    assert admin.get("/staff/audit/", {"member": huge}).status_code == 400
    assert listed(admin.get("/staff/audit/", {"member": str(2**63 - 1)})) == []
    assert listed(admin.get("/staff/audit/", {"target_type": "members.member", "target_id": huge})) == []
