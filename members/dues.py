"""What a member owes now: the registration fee, a renewal, or a renewal with the late fee.

Membership rules, decided by the server from the member's status, period and category; payments asks
here before it takes money (M-Pesa or offline) and the lifecycle's reminders quote the same figure.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from core.exceptions import DomainError

from .models import Fee, Member
from .services import renewal_is_late, renewal_window_opens


class PaymentError(DomainError):
    """A payment that cannot be made now; the message is safe to show to the member.

    Raised here when the payment asked for is not what is due, and by payments for its own refusals
    (a phone Daraja will not prompt, too many prompts, a reference already recorded).
    """

    status_code = 400
    code = "invalid"


@dataclass(frozen=True)
class AmountDue:
    payment_type: str  # a Fee value
    amount: int
    description: str

    @property
    def includes_late_fee(self) -> bool:
        return self.payment_type == Fee.LATE_PAYMENT


def payment_due(member: Member, *, today: datetime.date | None = None) -> AmountDue | None:
    """What this member can pay now, decided by the server from the category; None when nothing is due."""
    today = today or timezone.localdate()
    category = member.category
    if member.registration_fee_due:
        return AmountDue(Fee.REGISTRATION, category.registration_fee, f"{category.name} registration fee")
    if member.status in Member.WITH_PERIOD:
        if not category.period_months or member.period_end is None:
            return None  # life membership: nothing to renew
        opens = renewal_window_opens(member)
        if today < opens:
            return None
        if renewal_is_late(member, today):
            return AmountDue(
                Fee.LATE_PAYMENT,
                category.renewal_fee + category.late_fee,
                f"{category.name} renewal with late fee",
            )
        return AmountDue(Fee.RENEWAL, category.renewal_fee, f"{category.name} renewal")
    return None


def amount_due_check(member: Member, *, payment_type: str, amount: int | None) -> AmountDue:
    """What is due, when it is this `payment_type` (and this `amount`, if given); PaymentError otherwise."""
    due = payment_due(member)
    if due is None:
        raise PaymentError("Nothing is due on this membership right now.")
    if payment_type != due.payment_type:
        raise PaymentError(
            f"The payment due is the {due.description} of KES {due.amount:,} ({due.payment_type}), not {payment_type}."
        )
    if amount is not None and int(amount) != due.amount:
        raise PaymentError(f"The amount due is KES {due.amount:,}, not KES {amount:,}.")
    return due


def nothing_due_message(member: Member) -> str:
    """Why nothing is due, for the clerk who came to record a payment."""
    message = "Nothing is due on this membership right now"
    if member.is_under_review and member.registration_paid_at:
        paid = timezone.localdate(member.registration_paid_at)
        reference = member.registration_payment_reference
        return f"{message}: the registration fee was received on {paid:%d %b %Y} ({reference})."
    if member.can_renew:
        opens = renewal_window_opens(member)
        return f"{message}: the membership runs to {member.period_end:%d %b %Y}; renewal opens {opens:%d %b %Y}."
    if member.status in Member.WITH_PERIOD:
        return f"{message}: this membership does not expire."
    return f"{message} (the membership is {member.get_status_display().lower()})."
