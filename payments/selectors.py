"""Reads of payments for staff pages; every one is a bounded, indexed query."""

from __future__ import annotations

import json

from audit.models import AuditLog
from members.models import Member

from .models import MpesaCallback, Payment
from .transitions import Confirmation

MEMBER_PAYMENTS_SHOWN = 10


def member_recent_payments(member: Member, limit: int = MEMBER_PAYMENTS_SHOWN) -> list[Payment]:
    """The member's latest payments, newest first (the (member, -created_at) index)."""
    return list(Payment.objects.filter(member=member).order_by("-created_at", "-pk")[:limit])


def payment_for_staff(reference: str) -> Payment | None:
    return (
        Payment.objects.select_related("member__user", "member__category", "initiated_by", "resolved_by")
        .filter(reference=reference)
        .first()
    )


def unapplied_payments_to_settle() -> int:
    """How many payments were received but not applied to a membership, and await Finance's decision
    (the partial index payments_unapplied_idx holds only unapplied rows)."""
    return Payment.objects.awaiting_resolution().count()


def payment_callbacks(payment: Payment) -> list[MpesaCallback]:
    """Daraja's callbacks for this payment, in the order they came, each with `pretty_body`: the JSON
    indented for reading, or the body as it came when it is not JSON."""
    callbacks = list(payment.callbacks.order_by("received_at", "pk"))
    for callback in callbacks:
        try:
            callback.pretty_body = json.dumps(json.loads(callback.body), indent=2, ensure_ascii=False, sort_keys=False)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            callback.pretty_body = callback.body
    return callbacks


def payment_history(payment: Payment) -> list[AuditLog]:
    """The audit trail of this payment: started, completed or failed, recorded by whom; a completion carries
    `confirmation`, how it was confirmed in words (transitions.Confirmation), with the reason when unconfirmed."""
    entries = list(
        AuditLog.objects.filter(target_type=Payment._meta.label_lower, target_id=str(payment.pk)).order_by(
            "created_at", "id"
        )
    )
    for entry in entries:
        confirmed_by = entry.data.get("confirmed_by") if isinstance(entry.data, dict) else None
        if confirmed_by:
            words = Confirmation(confirmed_by).label if confirmed_by in Confirmation.values else confirmed_by
            reason = entry.data.get("reason")
            entry.confirmation = f"{words}: {reason}" if reason else words
    return entries
