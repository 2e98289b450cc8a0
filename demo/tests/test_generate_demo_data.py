"""generate_demo_data: realistic, consistent, unique, and the sequences continue after it."""

import datetime
import io
import random
import re
import zoneinfo
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from core.models import YearlyCounter
from core.phones import normalise_phone
from core.sequences import next_number
from demo.generate import DEMO_PASSWORD
from demo.histories import period_end
from demo.identifiers import TakenValues, _inverse, national_id_for, passport_for, phone_for
from members.models import Member
from members.search import member_search_text
from members.services import document_verify, member_approve, period_end_for
from payments.models import Payment
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

N = 200
PAID = {"active", "grace", "expired", "suspended"}
NUMBERED = PAID | {"approved"}
NUMBER = re.compile(r"^KTS-(\d{4})-(\d{4,})$")
RECEIPT = re.compile(r"^RCT-(\d{4})-(\d{6,})$")
MPESA_RECEIPT = re.compile(r"^[N-Z][A-L][1-9A-V][0-9A-Z]{7}$")
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")


def generate(count=N, **options):
    call_command("generate_demo_data", members=count, verbosity=0, **options)


@pytest.fixture
def demo(reference_data, settings):
    settings.DEBUG = True
    settings.MEMBERSHIP_NUMBER_PREFIX = "KTS"
    generate(seed=7)


def local_day(moment):
    return timezone.localtime(moment, NAIROBI).date()


def test_it_adds_members_users_and_payments(demo):
    assert Member.objects.count() == N
    assert get_user_model().objects.filter(member__isnull=False).count() == N
    payments = Payment.objects.count()
    assert 1.5 * N < payments < 4.5 * N
    assert get_user_model().objects.filter(groups__name="Member").count() == N


def test_the_status_mix_is_mostly_active_with_some_of_everything(reference_data, settings):
    settings.DEBUG = True
    generate(1500, seed=11)
    mix = Counter(Member.objects.values_list("status", flat=True))
    assert set(mix) == set(Member.Status.values), mix
    assert mix["active"] > 0.6 * 1500
    assert mix["expired"] > mix["grace"]
    share = Counter(Member.objects.values_list("country_id", flat=True))
    assert share["KE"] > 0.9 * 1500 and len(share) > 1


def test_every_member_is_valid_and_plausible(demo):
    today = timezone.localdate()
    members = list(Member.objects.select_related("user", "category", "region", "country"))
    for member in members:
        assert member.region is None or member.region.country_id == member.country_id
        if member.country_id == "KE":
            assert member.region is not None
        assert member.phone_number[:4] in ("2547", "2541") and len(member.phone_number) == 12
        assert normalise_phone("0" + member.phone_number[3:]) == member.phone_number
        age_now = (today - member.date_of_birth).days / 365.25
        age_applying = (local_day(member.applied_at) - member.date_of_birth).days / 365.25
        assert age_applying >= 18 and age_now < 76
        assert today - datetime.timedelta(days=5 * 366) <= local_day(member.applied_at) <= today
        assert member.user.email == member.user.email.lower()
        assert member.user.check_password(DEMO_PASSWORD)
    for member in random.Random(3).sample(members, 40):
        member.full_clean()  # fields, choices, lengths and the unique constraints
        member.user.full_clean()


def test_unique_values_are_unique(demo):
    def all_distinct(values):
        values = [v for v in values if v not in (None, "")]
        return len(values) == len(set(values))

    members = Member.objects.all()
    assert all_distinct(members.values_list("phone_number", flat=True))
    assert all_distinct(members.values_list("id_type", "id_number"))
    assert all_distinct(members.values_list("membership_number", flat=True))
    assert all_distinct(members.values_list("verification_token", flat=True))
    assert all_distinct(get_user_model().objects.values_list("email", flat=True))
    payments = Payment.objects.all()
    for field in ("reference", "callback_token", "checkout_request_id", "mpesa_receipt_number", "receipt_number"):
        assert all_distinct(payments.values_list(field, flat=True)), field
    offline = payments.exclude(method=Payment.Method.MPESA)
    assert all_distinct(offline.values_list("method", "external_reference"))


def test_statuses_numbers_and_periods_are_consistent(demo):
    today = timezone.localdate()
    year_numbers = Counter()
    for member in Member.objects.select_related("category"):
        assert (member.membership_number is not None) == (member.status in NUMBERED), member.status
        if member.membership_number:
            year = int(NUMBER.match(member.membership_number).group(1))
            assert year == local_day(member.approved_at).year
            year_numbers[year] += 1
        assert (member.registration_paid_at is not None) >= (member.status in PAID)
        if member.status not in PAID:
            assert member.period_start is None and member.period_end is None
            continue
        months, grace = member.category.period_months, member.category.grace_days
        assert member.activated_at >= member.approved_at
        assert member.period_start is not None
        if not months:
            assert member.period_end is None
            continue
        # The current period is the run started on period_start, extended by each renewal paid on time.
        renewals = sorted(
            local_day(p.completed_at)
            for p in member.payments.filter(status="completed").exclude(payment_type="registration")
        )
        in_run = [day for day in renewals if day >= member.period_start]
        on_time = len(in_run) - (1 if in_run and in_run[0] == member.period_start else 0)
        end = period_end_for(member.period_start, months)
        for _ in range(on_time):
            end = period_end_for(end + datetime.timedelta(days=1), months)
        assert member.period_end == end
        if member.status == "active":
            assert member.period_end >= today
        elif member.status == "grace":
            assert member.period_end < today <= member.period_end + datetime.timedelta(days=grace)
        elif member.status == "expired":
            assert today > member.period_end + datetime.timedelta(days=grace)
    # Numbers run 1..n in each year with no gaps.
    for year, count in year_numbers.items():
        used = sorted(
            int(NUMBER.match(n).group(2))
            for n in Member.objects.filter(membership_number__startswith=f"KTS-{year}-").values_list(
                "membership_number", flat=True
            )
        )
        assert used == list(range(1, count + 1))


def test_payments_are_consistent(demo):
    receipts_per_year = Counter()
    for payment in Payment.objects.select_related("member__category"):
        category = payment.member.category
        if payment.status == Payment.Status.COMPLETED:
            year, _ = RECEIPT.match(payment.receipt_number).groups()
            assert int(year) == local_day(payment.completed_at).year
            receipts_per_year[int(year)] += 1
            if payment.method == Payment.Method.MPESA:
                assert MPESA_RECEIPT.match(payment.mpesa_receipt_number), payment.mpesa_receipt_number
                assert payment.result_code == "0" and payment.phone_number
            else:
                assert payment.mpesa_receipt_number is None and payment.external_reference
                assert payment.result_source == "offline"
        else:
            assert payment.receipt_number is None and payment.mpesa_receipt_number is None
            assert payment.completed_at is None
        if payment.method == Payment.Method.MPESA:
            assert payment.checkout_request_id.startswith("ws_CO_")
            assert payment.phone_number[:4] in ("2547", "2541")
        expected = {
            Payment.Type.REGISTRATION: category.registration_fee,
            Payment.Type.RENEWAL: category.renewal_fee,
            Payment.Type.LATE_PAYMENT: category.renewal_fee + category.late_fee,
        }[payment.payment_type]
        assert payment.amount == expected
        assert payment.created_at <= (payment.completed_at or payment.updated_at) or payment.method != "mpesa"
    for member in Member.objects.all():
        registrations = list(member.payments.filter(payment_type="registration", status="completed"))
        if member.registration_paid_at is None:
            assert registrations == []
        else:
            assert len(registrations) == 1
            assert registrations[0].completed_at == member.registration_paid_at
            assert member.registration_payment_reference == registrations[0].receipt_number
    for year, count in receipts_per_year.items():
        assert Payment.objects.filter(receipt_number__startswith=f"RCT-{year}-").aggregate(n=Count("id"))["n"] == count


def test_search_text_is_what_the_model_would_store(demo):
    for member in Member.objects.select_related("user"):
        assert member.search_text == member_search_text(member)


def test_counters_continue_after_the_generated_numbers(demo, staff_user):
    for prefix, model, column, pattern in (
        ("KTS", Member, "membership_number", NUMBER),
        ("RCT", Payment, "receipt_number", RECEIPT),
    ):
        highest = Counter()
        for value in model.objects.exclude(**{f"{column}__isnull": True}).values_list(column, flat=True):
            year, number = pattern.match(value).groups()
            highest[int(year)] = max(highest[int(year)], int(number))
        for year, number in highest.items():
            assert YearlyCounter.objects.get(prefix=prefix, year=year).last_value == number

    year = timezone.localdate().year
    before = YearlyCounter.objects.get(prefix="KTS", year=year).last_value
    applicant = MemberFactory()
    for document in applicant.documents.all():
        document_verify(document=document, actor=staff_user)
    approved = member_approve(member=applicant, actor=staff_user)
    assert approved.membership_number == f"KTS-{year}-{before + 1:04d}"
    last_receipt = YearlyCounter.objects.get(prefix="RCT", year=year).last_value
    with transaction.atomic():
        assert next_number(prefix="RCT", year=year, width=6) == f"RCT-{year}-{last_receipt + 1:06d}"


def test_running_twice_adds_more_without_collisions(demo):
    generate(seed=7)  # the same seed again: the data differ, because the ids do
    assert Member.objects.count() == 2 * N
    members = Member.objects.all()
    assert members.values("phone_number").distinct().count() == 2 * N
    assert members.values("id_type", "id_number").distinct().count() == 2 * N
    assert members.exclude(membership_number=None).values("membership_number").distinct().count() == (
        members.exclude(membership_number=None).count()
    )
    for member in Member.objects.select_related("user").order_by("-pk")[:50]:
        assert member.search_text == member_search_text(member)


def _next_member_id():
    if connection.vendor != "postgresql":
        return (Member.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('members_member', 'id')")
        cursor.execute(f"SELECT last_value, is_called FROM {cursor.fetchone()[0]}")  # noqa: S608
        last, called = cursor.fetchone()
    return max(last + 1 if called else last, (Member.objects.aggregate(m=Max("id"))["m"] or 0) + 1)


def test_phones_and_ids_held_by_hand_made_members_are_skipped(reference_data, settings):
    settings.DEBUG = True
    hand_made = [MemberFactory(documents=[]) for _ in range(6)]
    first = _next_member_id()
    # Hand-made members holding exactly what the next generated members would derive from their ids.
    for offset, member in enumerate(hand_made):
        Member.objects.filter(pk=member.pk).update(
            phone_number=phone_for(first + offset * 3), id_number=national_id_for(first + offset * 5 + 1)
        )
    generate(50, seed=1)
    members = Member.objects.all()
    assert members.values("phone_number").distinct().count() == 56
    assert members.values("id_type", "id_number").distinct().count() == 56


def test_it_refuses_without_debug_unless_forced(reference_data, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        generate(5)
    assert not Member.objects.exists()
    generate(5, force=True)
    assert Member.objects.count() == 5


def test_derived_values_invert_and_periods_match_the_service():
    rng = random.Random(5)
    for kind, derive in TakenValues.DERIVE.items():
        for k in [0, 1, 2, 999_999, rng.randrange(10**7), TakenValues.SPACES[kind] - 1]:
            assert _inverse(kind, derive(k)) == k
    assert passport_for(1) != passport_for(2)
    day = datetime.date(2023, 1, 1)
    while day < datetime.date(2025, 12, 31):
        for months in (1, 6, 12, 24):
            assert period_end(day, months) == period_end_for(day, months), (day, months)
        day += datetime.timedelta(days=1)


def test_the_same_seed_gives_the_same_members(reference_data):
    from demo.histories import Batch, DemoData, Sequences, Stats
    from members.models import Country, MembershipCategory, Region

    now = timezone.localtime(timezone.now(), NAIROBI)

    def rows():
        years = range(now.year - 6, now.year + 1)
        data = DemoData(
            rng=random.Random("42:1"),  # noqa: S311
            now=now,
            count=30,
            categories=list(MembershipCategory.objects.order_by("pk")),
            regions=list(Region.objects.order_by("pk")),
            countries=set(Country.objects.values_list("pk", flat=True)),
            password_hash="x",
            member_group_id=1,
            seq=Sequences(prefix="KTS", numbers=dict.fromkeys(years, 0), receipts=dict.fromkeys(years, 0)),
            taken=TakenValues(1, 30),
        )
        batch = Batch()
        for i in range(30):
            data.member(i + 1, i + 1, batch, Stats())
        return batch.users, batch.members

    assert rows() == rows()


def test_generated_phone_numbers_are_valid_safaricom_numbers():
    import phonenumbers
    from phonenumbers import carrier

    for k in random.Random(9).sample(range(5_000_000), 300):
        number = phonenumbers.parse("+" + phone_for(k))
        assert phonenumbers.is_valid_number(number)
        assert carrier.name_for_number(number, "en") == "Safaricom"


def test_settings_prefix_is_used(reference_data, settings):
    settings.DEBUG = True
    settings.MEMBERSHIP_NUMBER_PREFIX = "ABC"
    generate(60, seed=3)
    numbers = Member.objects.exclude(membership_number=None).values_list("membership_number", flat=True)
    assert numbers and all(n.startswith("ABC-") for n in numbers)
    assert YearlyCounter.objects.filter(prefix="ABC").exists()


@pytest.mark.postgres
def test_a_load_with_deferred_indexes_puts_every_index_and_constraint_back(reference_data, settings):
    if connection.vendor != "postgresql":
        pytest.skip("Deferred indexes are a PostgreSQL bulk-load path.")
    settings.DEBUG = True

    def schema():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = ANY(%s::regclass[]) "
                "UNION ALL SELECT conname FROM pg_constraint WHERE conrelid = ANY(%s::regclass[])",
                [["members_member", "payments_payment"]] * 2,
            )
            return sorted(row[0] for row in cursor.fetchall())

    before = schema()
    generate(40, seed=3, defer_indexes="yes", method="copy")
    assert schema() == before
    assert Member.objects.count() == 40


def test_it_reports_what_it_added_and_the_password(reference_data, settings):
    settings.DEBUG = True
    out, err = io.StringIO(), io.StringIO()
    call_command("generate_demo_data", members=20, seed=4, stdout=out, stderr=err)
    assert "Added 20 members and " in out.getvalue()
    assert DEMO_PASSWORD in out.getvalue()
    assert "members [" in err.getvalue()  # the progress bar
