import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from core.models import YearlyCounter
from members.models import Member
from members.numbering import format_membership_number, next_membership_number
from members.services import document_verify, member_approve
from tests.factories import MemberFactory, UserFactory, load_reference_data


def test_the_padding_widens_after_9999_instead_of_truncating():
    assert format_membership_number("KTS", 2026, 1) == "KTS-2026-0001"
    assert format_membership_number("KTS", 2026, 9999) == "KTS-2026-9999"
    assert format_membership_number("KTS", 2026, 10000) == "KTS-2026-10000"


@pytest.mark.django_db
def test_it_crosses_from_9999_to_10000(alice, staff_user):
    year = timezone.localdate().year
    YearlyCounter.objects.create(prefix="KTS", year=year, last_value=9998)
    with transaction.atomic():
        assert next_membership_number(prefix="KTS", year=year) == f"KTS-{year}-9999"
    for document in alice.documents.all():
        document_verify(document=document, actor=staff_user)
    member = member_approve(member=alice, actor=staff_user)
    assert member.membership_number == f"KTS-{year}-10000"


@pytest.mark.django_db
def test_each_year_starts_again_at_0001():
    with transaction.atomic():
        assert next_membership_number(prefix="KTS", year=2026) == "KTS-2026-0001"
        assert next_membership_number(prefix="KTS", year=2027) == "KTS-2027-0001"
        assert next_membership_number(prefix="KTS", year=2026) == "KTS-2026-0002"


@pytest.mark.django_db
def test_a_rolled_back_approval_gives_its_number_back():
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        next_membership_number(prefix="KTS", year=2026)
        raise Boom
    with transaction.atomic():
        assert next_membership_number(prefix="KTS", year=2026) == "KTS-2026-0001"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_hand_out_a_number_outside_a_transaction():
    with pytest.raises(RuntimeError):
        next_membership_number(prefix="KTS", year=2026)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_of_the_year", [True, False], ids=["new-counter", "existing-counter"])
def test_concurrent_approvals_get_distinct_consecutive_numbers(first_of_the_year):
    """50 staff approve 50 applications at the same instant: 50 distinct numbers, 0001..0050, no gaps.

    Run both when the year's counter row does not exist yet (the racers all try to create it) and
    when it does (the racers all increment it).
    """
    if connection.vendor != "postgresql":
        pytest.skip(
            "Row-lock concurrency needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite ignores row locks)."
        )
    load_reference_data()
    if not first_of_the_year:
        YearlyCounter.objects.create(prefix="KTS", year=timezone.localdate().year, last_value=0)
    reviewer = UserFactory(is_staff=True, is_superuser=True)
    applicants = [MemberFactory() for _ in range(50)]
    for applicant in applicants:
        for document in applicant.documents.all():
            document_verify(document=document, actor=reviewer)

    barrier = threading.Barrier(len(applicants))
    errors = []

    def approve(member):
        try:
            barrier.wait(timeout=30)
            member_approve(member=member, actor=reviewer)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(m,)) for m in applicants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    year = timezone.localdate().year
    numbers = sorted(Member.objects.values_list("membership_number", flat=True))
    assert numbers == [f"KTS-{year}-{n:04d}" for n in range(1, 51)]
    assert YearlyCounter.objects.get(prefix="KTS", year=year).last_value == 50
