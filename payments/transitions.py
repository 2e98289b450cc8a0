"""The payment state machine: which status may become which, and the one function that changes it.

Every change of a payment's status goes through `payment_transition`: one compare-and-set UPDATE
(`filter(pk=..., <allowed from>).update(...)`) that acts only when it changed one row, then the audit
entry. So a duplicate, late or concurrent callback, a reconciliation query and a second worker can never
move a payment twice, and every move is in the audit log.

    pending ──> completed      (callback, query, offline)
       │  ╲
       │   ──> failed / cancelled ──> completed   only when the failure came from a status query
       │                                          (Daraja's query can wrongly report a failure; the real
       │                                          success callback still wins: a late confirmation)
       ╰─> timeout ──> completed / failed / cancelled   (the callback or a query came after all)

Nothing leaves completed (a staff refund, when it exists, will be the one way out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.transitions import TransitionTable

from .models import C2BConfirmation, Payment

security_logger = logging.getLogger("security")

Status = Payment.Status
Source = Payment.Source

# A failure reported by a status query may be wrong; a later success (callback or query) overrides it.
LATE_CONFIRMATION = Q(result_source=Source.QUERY)

# to-status -> the statuses it may be entered from
PAYMENT_TRANSITIONS = TransitionTable(
    {
        Status.PENDING: set(),
        Status.COMPLETED: {Status.PENDING, Status.TIMEOUT, Status.FAILED, Status.CANCELLED},
        Status.FAILED: {Status.PENDING, Status.TIMEOUT},
        Status.CANCELLED: {Status.PENDING, Status.TIMEOUT},
        Status.TIMEOUT: {Status.PENDING},
    },
    guards={
        (Status.FAILED, Status.COMPLETED): LATE_CONFIRMATION,
        (Status.CANCELLED, Status.COMPLETED): LATE_CONFIRMATION,
    },
)

AUDIT_ACTIONS: dict[str, str] = {
    Status.COMPLETED: AuditLog.Action.PAYMENT_COMPLETED,
    Status.FAILED: AuditLog.Action.PAYMENT_FAILED,
    Status.CANCELLED: AuditLog.Action.PAYMENT_FAILED,
    Status.TIMEOUT: AuditLog.Action.PAYMENT_FAILED,
}


class Confirmation(models.TextChoices):
    """How a completion was confirmed: the `confirmed_by` of every PAYMENT_COMPLETED audit entry (check 24).

    A success callback proves only that someone knew the payment's URL token, so by default it completes a
    payment only once Daraja's status query agrees (payments.services.callback_confirm).
    """

    CALLBACK_AND_QUERY = "callback+stk_query", "Daraja's callback, confirmed by a status query"
    QUERY = "stk_query", "Daraja's status query (reconciliation)"
    STAFF = "staff", "Recorded by staff (cash, cheque, bank)"
    UNCONFIRMED_CALLBACK = "unconfirmed_callback", "Daraja's callback, not confirmed (MPESA_CONFIRM_CALLBACKS off)"


class MpesaReceiptAlreadyUsed(Exception):
    """The M-Pesa receipt is already credited to another payment: one receipt pays for one payment only.

    Never a harmless duplicate: it is a forged callback or a real receipt replayed at a second payment, so
    whoever asked for the change records it as a security event.
    """

    def __init__(self, *, receipt: str, payment_id: int, credited_to: int | None):
        self.receipt, self.payment_id, self.credited_to = receipt, payment_id, credited_to
        super().__init__(f"M-Pesa receipt {receipt} is already credited to payment {credited_to}")


class MpesaReceiptIsC2B(MpesaReceiptAlreadyUsed):
    """The M-Pesa receipt is already the TransID of a Paybill (C2B) confirmation: money that came another way."""

    def __init__(self, *, receipt: str, payment_id: int, c2b_id: int):
        self.c2b_id = c2b_id
        super().__init__(receipt=receipt, payment_id=payment_id, credited_to=None)
        self.args = (f"M-Pesa receipt {receipt} is already the TransID of Paybill (C2B) confirmation {c2b_id}",)


def _c2b_owner_of(receipt: str) -> int | None:
    """The C2B confirmation that owns `receipt` as its TransID, if any (payments.c2b; the reverse check is there)."""
    return (
        C2BConfirmation.objects.filter(kind=C2BConfirmation.Kind.CONFIRMATION, trans_id=receipt)
        .exclude(status__in=C2BConfirmation.NOT_OWNING)
        .values_list("pk", flat=True)
        .first()
    )


def mpesa_receipt_refuse_reuse(*, payment: Payment, receipt: str) -> MpesaReceiptAlreadyUsed:
    """The refusal for `receipt` on `payment`, naming the payment that holds it, with the security log line."""
    credited_to = (
        Payment.objects.filter(mpesa_receipt_number=receipt).exclude(pk=payment.pk).values_list("pk", flat=True).first()
    )
    security_logger.warning(
        "M-Pesa receipt %s already on payment %s; refused for payment %s", receipt, credited_to, payment.pk
    )
    return MpesaReceiptAlreadyUsed(receipt=receipt, payment_id=payment.pk, credited_to=credited_to)


def payment_transition(
    *,
    payment: Payment,
    to: str,
    source: str,
    actor=None,
    audit_data: Mapping | None = None,
    effects: Callable[[], Mapping | None] | None = None,
    **fields,
) -> bool:
    """Move `payment` to `to` if PAYMENT_TRANSITIONS allows it from the status it has in the database.

    Sets `result_source` to `source` (a Payment.Source), `updated_at`, and `fields`. Returns True when this
    call made the change; False when the row was not in an allowed status (someone else got there first).
    Raises MpesaReceiptAlreadyUsed, changing nothing, when the M-Pesa receipt in `fields` is already on
    another payment (a False would read as "already done" and hide the reuse). When it made the
    change, it runs `effects` (in the same transaction; what it returns is added to the audit data), then
    writes the audit entry. `payment` itself is not refreshed.

    A completion must say how it was confirmed: `audit_data["confirmed_by"]` is a Confirmation value, or
    nothing changes (ValueError).
    """
    if to == Status.COMPLETED and (audit_data or {}).get("confirmed_by") not in Confirmation.values:
        raise ValueError(f"completing payment {payment.pk} needs audit_data['confirmed_by'] (a Confirmation)")
    refused: MpesaReceiptAlreadyUsed | None = None
    receipt = fields.get("mpesa_receipt_number")
    c2b_id = _c2b_owner_of(receipt) if receipt else None
    if c2b_id is not None:
        security_logger.warning(
            "M-Pesa receipt %s is C2B confirmation %s's TransID; refused for payment %s", receipt, c2b_id, payment.pk
        )
        raise MpesaReceiptIsC2B(receipt=receipt, payment_id=payment.pk, c2b_id=c2b_id)
    # No savepoint of its own: inside a caller's transaction, its effects and the change stand or fall together.
    with transaction.atomic(savepoint=False):
        try:
            with transaction.atomic():
                changed = PAYMENT_TRANSITIONS.apply(
                    Payment.objects, payment.pk, to=to, result_source=source, updated_at=timezone.now(), **fields
                )
        except IntegrityError:
            # Never credit one M-Pesa receipt twice: the unique receipt refuses the second payment. The
            # receipt is the only unique value a transition sets, so anything else is a real error.
            receipt = fields.get("mpesa_receipt_number")
            if not receipt:
                raise
            refused = mpesa_receipt_refuse_reuse(payment=payment, receipt=receipt)
        else:
            if not changed:
                return False
            data = dict(audit_data or {})
            if effects is not None:
                data.update(effects() or {})
            audit_log(action=AUDIT_ACTIONS[to], actor=actor, target=payment, data=data)
    # Raised outside the block: the refusal changed nothing, so the caller's transaction stays usable.
    if refused is not None:
        raise refused
    return True
