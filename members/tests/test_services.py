import datetime

import pytest

from audit.models import AuditLog
from members.models import Document, Member
from members.services import (
    MembershipError,
    document_reject,
    document_verify,
    member_approve,
    member_record_registration_payment,
    member_reject,
    period_end_for,
)

pytestmark = pytest.mark.django_db


def verify_all(member, actor):
    for document in member.documents.filter(is_current=True):
        document_verify(document=document, actor=actor)


def test_it_refuses_approval_until_every_required_document_is_verified(alice, staff_user):
    with pytest.raises(MembershipError, match="Verify every required document"):
        member_approve(member=alice, actor=staff_user)
    alice.refresh_from_db()
    assert alice.status == Member.Status.PENDING
    assert alice.membership_number is None


def test_it_issues_a_number_at_approval_and_waits_for_the_fee(alice, staff_user):
    verify_all(alice, staff_user)
    member = member_approve(member=alice, actor=staff_user)
    year = datetime.date.today().year
    assert member.status == Member.Status.APPROVED
    assert member.membership_number == f"KTS-{year}-0001"
    assert member.approved_by == staff_user
    assert member.period_start is None


def test_it_activates_on_approval_when_the_fee_was_already_paid(alice, staff_user, finance_user):
    member_record_registration_payment(member=alice, reference="CASH-001", actor=finance_user)
    verify_all(alice, staff_user)
    member = member_approve(member=alice, actor=staff_user)
    assert member.status == Member.Status.ACTIVE
    assert member.period_start is not None
    assert member.period_end == period_end_for(member.period_start, alice.category.period_months)


def test_it_activates_when_the_fee_arrives_after_approval(alice, staff_user, finance_user):
    verify_all(alice, staff_user)
    member_approve(member=alice, actor=staff_user)
    member = member_record_registration_payment(member=alice, reference="CASH-002", actor=finance_user)
    assert member.status == Member.Status.ACTIVE


def test_it_records_the_registration_fee_only_once(alice, finance_user):
    member_record_registration_payment(member=alice, reference="CASH-003", actor=finance_user)
    with pytest.raises(MembershipError):
        member_record_registration_payment(member=alice, reference="CASH-004", actor=finance_user)
    alice.refresh_from_db()
    assert alice.registration_payment_reference == "CASH-003"


def test_it_uses_the_prefix_setting(alice, staff_user, settings):
    settings.MEMBERSHIP_NUMBER_PREFIX = "ICPAK"
    verify_all(alice, staff_user)
    assert member_approve(member=alice, actor=staff_user).membership_number.startswith("ICPAK-")


def test_numbers_continue_per_year_and_are_never_reused(alice, bob, staff_user):
    for member in (alice, bob):
        verify_all(member, staff_user)
        member_approve(member=member, actor=staff_user)
    numbers = sorted(Member.objects.values_list("membership_number", flat=True))
    assert [n[-4:] for n in numbers] == ["0001", "0002"]


def test_a_rejection_needs_a_reason_and_is_final(alice, staff_user):
    with pytest.raises(MembershipError):
        member_reject(member=alice, reason="  ", actor=staff_user)
    member_reject(member=alice, reason="Not a practising engineer", actor=staff_user)
    alice.refresh_from_db()
    assert alice.status == Member.Status.REJECTED
    assert alice.status_reason == "Not a practising engineer"
    with pytest.raises(MembershipError):
        member_approve(member=alice, actor=staff_user)


def test_a_rejected_document_blocks_approval_and_keeps_its_reason(alice, staff_user):
    document = alice.documents.get(doc_type="national_id")
    document_reject(document=document, reason="Blurred photo of the ID", actor=staff_user)
    document.refresh_from_db()
    assert document.status == Document.Status.REJECTED
    assert document.rejection_reason == "Blurred photo of the ID"
    with pytest.raises(MembershipError):
        member_approve(member=alice, actor=staff_user)


def test_every_status_change_is_audited_with_from_and_to(alice, staff_user):
    verify_all(alice, staff_user)
    member_approve(member=alice, actor=staff_user)
    entry = AuditLog.objects.get(action=AuditLog.Action.STATUS_CHANGED, target_id=str(alice.pk))
    assert entry.actor == staff_user
    assert entry.data == {"from": "pending", "to": "approved"}
    assert AuditLog.objects.filter(action=AuditLog.Action.NUMBER_ISSUED, target_id=str(alice.pk)).exists()
    assert AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_VERIFIED).count() == 3


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (datetime.date(2026, 1, 1), 12, datetime.date(2026, 12, 31)),
        (datetime.date(2028, 2, 29), 12, datetime.date(2029, 2, 28)),
        (datetime.date(2027, 3, 1), 12, datetime.date(2028, 2, 29)),
        (datetime.date(2026, 1, 31), 1, datetime.date(2026, 2, 28)),
        (datetime.date(2026, 3, 31), 1, datetime.date(2026, 4, 30)),
        (datetime.date(2026, 6, 15), 6, datetime.date(2026, 12, 14)),
        (datetime.date(2026, 6, 15), 0, None),
    ],
)
def test_period_end_is_the_last_day_of_whole_calendar_months(start, months, end):
    assert period_end_for(start, months) == end


def test_a_registration_racing_another_with_the_same_id_number_gets_a_field_error(alice):
    """The form checks duplicates first; the database constraint decides when two submit at once."""
    from django.core.exceptions import ValidationError

    from members.services import member_register

    with pytest.raises(ValidationError) as raised:
        member_register(
            email="racer@example.com",
            password="a long enough password",
            first_name="Race",
            last_name="Condition",
            category=alice.category,
            documents=[],
            id_number=alice.id_number,
            date_of_birth=datetime.date(1990, 1, 1),
            gender=Member.Gender.MALE,
            phone_number="254700000001",
            country=alice.country,
            region=alice.region,
        )
    assert raised.value.message_dict == {"id_number": ["A member with this ID number is already registered."]}
    assert not Member.objects.filter(user__email="racer@example.com").exists()
