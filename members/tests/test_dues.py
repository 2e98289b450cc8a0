"""What is due, decided by the server from the member's category and dates; and what a renewal does."""

import datetime

import pytest
from django.utils import timezone

from members.dues import PaymentError, amount_due_check, nothing_due_message, payment_due
from members.models import Member, MembershipCategory
from members.services import membership_renew

pytestmark = pytest.mark.django_db

D = datetime.date


def active(member, *, end, category="full", status=Member.Status.ACTIVE):
    Member.objects.filter(pk=member.pk).update(
        status=status,
        category=MembershipCategory.objects.get(code=category),
        registration_paid_at=timezone.now(),
        period_start=D(end.year - 1, end.month, 1),
        period_end=end,
        membership_number="KTS-2025-0001",
    )
    member.refresh_from_db()
    return member


def test_an_applicant_owes_the_registration_fee(alice):
    due = payment_due(alice)
    assert (due.payment_type, due.amount) == ("registration", 5000)


def test_nothing_is_due_before_the_renewal_window_opens(alice, settings):
    settings.RENEWAL_WINDOW_DAYS = 60
    member = active(alice, end=D(2026, 12, 31))
    assert payment_due(member, today=D(2026, 10, 31)) is None
    due = payment_due(member, today=D(2026, 11, 1))  # 60 days before the end
    assert (due.payment_type, due.amount) == ("renewal", 3000)


def test_within_grace_the_renewal_fee_alone_is_due(alice):
    member = active(alice, end=D(2026, 12, 31), status=Member.Status.GRACE)
    due = payment_due(member, today=D(2027, 1, 30))  # grace is 30 days
    assert (due.payment_type, due.amount) == ("renewal", 3000)


def test_after_grace_the_late_fee_is_added(alice):
    member = active(alice, end=D(2026, 12, 31), status=Member.Status.EXPIRED)
    due = payment_due(member, today=D(2027, 1, 31))
    assert (due.payment_type, due.amount) == ("late_payment", 3000 + 1000)


def test_life_members_never_owe_a_renewal(alice):
    member = active(alice, end=D(2026, 12, 31), category="life")
    assert payment_due(member, today=D(2026, 12, 30)) is None


def test_the_check_refuses_another_fee_or_amount_than_is_due(alice):
    assert amount_due_check(alice, payment_type="registration", amount=5000).amount == 5000
    with pytest.raises(PaymentError, match="not renewal"):
        amount_due_check(alice, payment_type="renewal", amount=None)
    with pytest.raises(PaymentError, match="not KES 10"):
        amount_due_check(alice, payment_type="registration", amount=10)


def test_the_check_refuses_when_nothing_is_due(alice):
    member = active(alice, end=D(2099, 12, 31))
    with pytest.raises(PaymentError, match="Nothing is due"):
        amount_due_check(member, payment_type="renewal", amount=None)


def test_nothing_due_says_when_renewal_opens_or_that_life_membership_does_not_expire(alice):
    member = active(alice, end=D(2099, 12, 31))
    assert "renewal opens" in nothing_due_message(member)
    life = active(alice, end=D(2099, 12, 31), category="life")
    Member.objects.filter(pk=life.pk).update(period_end=None)
    life.refresh_from_db()
    assert nothing_due_message(life).endswith("this membership does not expire.")


def test_the_late_fee_is_named_on_what_is_due(alice):
    member = active(alice, end=D(2026, 12, 31), status=Member.Status.EXPIRED)
    assert payment_due(member, today=D(2027, 1, 31)).includes_late_fee
    assert not payment_due(member, today=D(2027, 1, 30)).includes_late_fee


def test_an_early_renewal_extends_from_the_current_end_date(alice):
    member = active(alice, end=D(2026, 12, 31))
    renewed = membership_renew(member=member, actor=None, paid_on=D(2026, 11, 20))
    assert renewed.period_end == D(2027, 12, 31)
    assert renewed.status == Member.Status.ACTIVE


def test_a_renewal_across_a_leap_day_ends_the_day_before_the_next_start(alice):
    member = active(alice, end=D(2027, 2, 28))
    assert membership_renew(member=member, actor=None, paid_on=D(2027, 2, 1)).period_end == D(2028, 2, 29)


def test_a_lapsed_membership_restarts_from_the_payment_day(alice):
    member = active(alice, end=D(2026, 6, 30), status=Member.Status.EXPIRED)
    renewed = membership_renew(member=member, actor=None, paid_on=D(2026, 11, 26))
    assert (renewed.period_start, renewed.period_end) == (D(2026, 11, 26), D(2027, 11, 25))
    assert renewed.status == Member.Status.ACTIVE
