"""Payments: what is due, starting an M-Pesa payment, applying Daraja's answers, reconciling.

The Payment row is written before Daraja is called, and every change of status goes through
`payments.transitions.payment_transition`, a compare-and-set (`filter(pk=..., status__in=allowed).update(...)`)
that acts only when it changed one row, so a duplicate, late or concurrent callback, a reconciliation query
and a second worker can never complete a payment twice. Completion effects (membership, receipt number,
notifications) run in the completing transaction or on its commit, so they happen exactly once.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.phones import mask_phone, normalise_phone
from core.queue import task_queue
from core.sequences import next_number
from core.spool import Spool
from members.dues import PaymentError, amount_due_check, nothing_due_message, payment_due
from members.models import Member
from members.services import (
    MembershipError,
    member_record_registration_payment,
    membership_renew,
)
from mpesa import config as mpesa_config
from mpesa import result_codes
from mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback
from mpesa.client import StkPushRequest
from mpesa.errors import DarajaError
from mpesa.result_codes import Outcome, member_message
from notifications.services import notify_member

from .c2b import SPOOL_C2B, c2b_backlog_process, c2b_process_safely, c2b_spooled_store
from .models import MpesaCallback, Payment
from .spooled import spool_open, spooled_row_store
from .transitions import Confirmation, MpesaReceiptAlreadyUsed, mpesa_receipt_refuse_reuse, payment_transition

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("security")

Status = Payment.Status
Type = Payment.Type
Source = Payment.Source
RECEIPT_PREFIX = "RCT"
RECEIPT_WIDTH = 6


class PaymentThrottled(PaymentError):
    """Too many M-Pesa prompts for this member or this phone just now; `retry_after` is in seconds."""

    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, retry_after=retry_after)


# --- Starting an M-Pesa payment -----------------------------------------------------------------------


def callback_url_for(payment: Payment) -> str:
    return settings.MPESA_CALLBACK_URL.rstrip("/") + f"/{payment.callback_token}/"


def payment_initiate_mpesa(
    *,
    member: Member,
    payment_type: str,
    phone: str,
    actor,
    amount: int | None = None,
    client=None,
    request=None,
) -> Payment:
    """Record the attempt, then ask Daraja to prompt the phone. Returns the Payment (pending, or failed
    when Daraja certainly did not accept the push, with the reason in plain words)."""
    try:
        phone = normalise_phone(phone, "KE")
    except Exception:
        raise PaymentError("Enter the Safaricom number to pay from, e.g. 0712 345 678.") from None
    if not (phone.startswith("2547") or phone.startswith("2541")):
        raise PaymentError("M-Pesa payments need a Kenyan Safaricom number, e.g. 0712 345 678.")

    with transaction.atomic():
        # One member starts one payment at a time: the member row is the lock.
        member = Member.objects.select_for_update(of=("self",)).select_related("category").get(pk=member.pk)
        due = amount_due_check(member, payment_type=payment_type, amount=amount)
        _check_prompt_limits(member, phone)
        payment = Payment.objects.create(
            member=member,
            payment_type=due.payment_type,
            method=Payment.Method.MPESA,
            amount=due.amount,
            phone_number=phone,
            initiated_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_log(
            action=AuditLog.Action.PAYMENT_STARTED,
            actor=actor,
            target=payment,
            data={"type": payment.payment_type, "amount": payment.amount, "phone": mask_phone(phone)},
            request=request,
        )

    if client is None:
        client = mpesa_config.get_client()
    push = StkPushRequest(
        phone=phone,
        amount=payment.amount,
        account_reference=_account_reference(member),
        description=Payment.Type(payment.payment_type).label,
        callback_url=callback_url_for(payment),
    )
    try:
        response = client.stk_push(push)
    except DarajaError as error:
        if error.maybe_processed:
            # The push may have reached Daraja: a prompt may be on the phone. Leave it pending; the
            # callback (matched by the URL token) or reconciliation decides, and nobody pushes twice.
            Payment.objects.filter(pk=payment.pk, status=Status.PENDING).update(
                result_description="No answer from M-Pesa yet."
            )
            logger.warning("STK push for payment %s: no answer (%s); left pending", payment.pk, error)
        else:
            _fail(payment, code="", description=str(error.message)[:255], source=Source.PUSH)
            logger.warning("STK push for payment %s refused: %r", payment.pk, error)
            raise PaymentError(_push_failure_message(error)) from None
    else:
        answer = {
            "checkout_request_id": response.checkout_request_id,
            "merchant_request_id": response.merchant_request_id,
            "sent_at": timezone.now(),
        }
        try:
            _push_answer_save(payment.pk, answer)
        except DatabaseError:
            # Daraja accepted: a prompt is on the phone. The payment stays pending; its callback is matched by
            # the URL token, and the answer is kept in the spool so reconciliation can query Daraja even if
            # no callback ever comes.
            logger.exception("STK push for payment %s accepted but its answer could not be saved", payment.pk)
            _push_answer_spool(payment, answer)
            for field, value in answer.items():
                setattr(payment, field, value)
            return payment
    payment.refresh_from_db()
    return payment


def _push_answer_save(payment_id: int, answer: dict) -> int:
    # The callback may already have arrived and set these (Daraja can answer the push after the callback);
    # only fill what is empty.
    return Payment.objects.filter(pk=payment_id, checkout_request_id__isnull=True).update(**answer)


def _push_answer_spool(payment: Payment, answer: dict) -> None:
    record = {
        "kind": SPOOL_PUSH_ANSWER,
        "payment": payment.pk,
        "token": payment.callback_token,
        "checkout_request_id": answer["checkout_request_id"],
        "merchant_request_id": answer["merchant_request_id"],
        "sent_at": answer["sent_at"].isoformat(),
    }
    try:
        spool_id = spool_open().put(record)
    except Exception:
        # Nothing more can be done here; the callback (matched by the URL token) still completes it.
        logger.critical(
            "STK push answer for payment %s could not be spooled either: CheckoutRequestID %s",
            payment.pk,
            answer["checkout_request_id"],
            exc_info=True,
        )
    else:
        logger.warning("STK push answer for payment %s kept in the callback spool as %s", payment.pk, spool_id)


# --- Prompt limits (QUALITY check 10) -------------------------------------------------------------------
# Counted from the Payment table, so every process and worker sees the same numbers. The caller holds the
# member's row lock; prompts to one phone from different members are serialised by an advisory lock on
# PostgreSQL (SQLite serialises writers anyway).

PHONE_LOCK_NAMESPACE = 7310  # first key of pg_advisory_xact_lock(int, int): "M-Pesa prompts to a phone"


def _prompts():
    """M-Pesa attempts that put, or may have put, a prompt on a phone: all but pushes Daraja refused."""
    return Payment.objects.filter(method=Payment.Method.MPESA).exclude(status=Status.FAILED, result_source=Source.PUSH)


def _lock_phone(phone: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PHONE_LOCK_NAMESPACE, int(phone) % 2**31])


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _check_prompt_limits(member: Member, phone: str) -> None:
    """Raise PaymentThrottled when this member or this phone (whichever account asks) had enough prompts.

    1. A member's own prompt still pending within MPESA_PROMPT_COOLDOWN_SECONDS: answer that one first.
    2. Anyone's prompt to this phone still pending within the cooldown: Daraja would refuse anyway.
    3. At most MPESA_PROMPTS_PER_PHONE prompts to this phone and MPESA_PROMPTS_PER_MEMBER by this member
       in any MPESA_PROMPT_WINDOW_SECONDS (0 turns a limit off).
    """
    _lock_phone(phone)
    now = timezone.now()
    cooldown = settings.MPESA_PROMPT_COOLDOWN_SECONDS
    pending = (
        _prompts()
        .filter(status=Status.PENDING, created_at__gte=now - datetime.timedelta(seconds=cooldown))
        .order_by("-created_at")
    )
    own = pending.filter(member=member).first()
    if own is not None:
        raise PaymentThrottled(
            f"A payment prompt was already sent to {mask_phone(own.phone_number)}. "
            "Answer it on your phone, or wait a minute and try again.",
            retry_after=_remaining(own.created_at, cooldown, now),
        )
    others = pending.filter(phone_number=phone).first()
    if others is not None:
        wait = _remaining(others.created_at, cooldown, now)
        raise PaymentThrottled(
            f"A payment prompt was just sent to {mask_phone(phone)}. Try again in {_wait_words(wait)}.",
            retry_after=wait,
        )
    window = settings.MPESA_PROMPT_WINDOW_SECONDS
    since = now - datetime.timedelta(seconds=window)
    limits = (
        (Q(phone_number=phone), settings.MPESA_PROMPTS_PER_PHONE, f"{mask_phone(phone)} has had"),
        (Q(member=member), settings.MPESA_PROMPTS_PER_MEMBER, "You have started"),
    )
    for scope, limit, who in limits:
        if limit <= 0:
            continue
        times = list(
            _prompts()
            .filter(scope, created_at__gte=since)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(times) >= limit:
            # The oldest of the last `limit` prompts must leave the window before another may start.
            wait = _remaining(times[-1], window, now)
            raise PaymentThrottled(
                f"{who} {limit} M-Pesa payment prompts in the last {_wait_words(window)}. "
                f"Try again in {_wait_words(wait)}.",
                retry_after=wait,
            )


def _remaining(started: datetime.datetime, seconds: int, now: datetime.datetime) -> float:
    return (started + datetime.timedelta(seconds=seconds) - now).total_seconds()


def _account_reference(member: Member) -> str:
    # Shown on the member's phone; at most 12 characters for Daraja.
    if member.membership_number:
        return member.membership_number.replace("-", "")[:12]
    # An applicant has no number yet: the account reference they would also type at the Paybill
    # (members.account_match matches both).
    return member.account_reference


def _push_failure_message(error: DarajaError) -> str:
    if error.permanent:
        return "M-Pesa refused the payment request. Nothing was charged; please contact the office."
    if error.retry_after_seconds:
        return "Your phone is busy with another M-Pesa request. Nothing was charged; try again in a minute."
    return "M-Pesa is not answering right now. Nothing was charged; please try again in a few minutes."


# --- Completing and failing ---------------------------------------------------------------------------


def payment_complete(
    *,
    payment: Payment,
    mpesa_receipt_number: str | None = None,
    result_code: str = result_codes.PAID,
    result_description: str = "",
    source: str,
    confirmed_by: str,
    confirmation: Mapping | None = None,
    actor=None,
    completed_at: datetime.datetime | None = None,
) -> bool:
    """Mark the payment completed and apply its effects, once. Returns False when it already was.

    `confirmed_by` (a transitions.Confirmation) says how the completion was confirmed, and `confirmation`
    adds the particulars (the callback, the query's result, who recorded it); both go into the audit entry.
    Raises MpesaReceiptAlreadyUsed, changing nothing, when `mpesa_receipt_number` is another payment's.
    """

    def effects() -> dict:
        completed = Payment.objects.select_related("member__category", "member__user").get(pk=payment.pk)
        unapplied = _apply_membership_effect(completed, actor=actor)
        # Taken last, so the year's receipt counter stays locked for as short a time as possible.
        year = timezone.localdate(completed.completed_at).year
        completed.receipt_number = next_number(prefix=RECEIPT_PREFIX, year=year, width=RECEIPT_WIDTH)
        Payment.objects.filter(pk=completed.pk).update(receipt_number=completed.receipt_number)
        if completed.payment_type == Type.REGISTRATION:
            Member.objects.filter(pk=completed.member_id, registration_payment_reference=completed.reference).update(
                registration_payment_reference=completed.receipt_number
            )
        # In this transaction (the outbox): the messages commit with the payment, whatever the broker does.
        payment_completed_notify(completed.pk)
        data = {
            "amount": completed.amount,
            "type": completed.payment_type,
            "method": completed.method,
            "receipt": completed.receipt_number,
            "mpesa_receipt": completed.mpesa_receipt_number,
            "source": source,
        }
        if unapplied:
            data["unapplied"] = unapplied
        return data

    with transaction.atomic():
        if payment_transition(
            payment=payment,
            to=Status.COMPLETED,
            source=source,
            actor=actor,
            audit_data={"confirmed_by": confirmed_by, **(confirmation or {})},
            effects=effects,
            mpesa_receipt_number=mpesa_receipt_number or None,
            result_code=result_code,
            result_description=result_description[:255],
            completed_at=completed_at or timezone.now(),
        ):
            return True
        if mpesa_receipt_number:
            # Completed by a query (which carries no receipt); the callback brings the receipt.
            try:
                with transaction.atomic():
                    Payment.objects.filter(
                        pk=payment.pk, status=Status.COMPLETED, mpesa_receipt_number__isnull=True
                    ).update(mpesa_receipt_number=mpesa_receipt_number)
            except IntegrityError:
                raise mpesa_receipt_refuse_reuse(payment=payment, receipt=mpesa_receipt_number) from None
        return False


def _apply_membership_effect(payment: Payment, *, actor) -> str:
    """Register, activate or renew the membership this payment pays for. Answers "" when it did, or why it
    could not: the fee was already paid another way (cash recorded while the member also paid the M-Pesa
    prompt), nothing is due any more, or the application was closed meanwhile. The money is in all the same:
    the payment stays completed and is marked unapplied, for Finance to refund or keep as credit; never
    undone, never only an audit entry.
    """
    paid_on = timezone.localdate(payment.completed_at)
    try:
        with transaction.atomic():
            # The member row is the lock payment_initiate_mpesa and payment_record_offline hold while they
            # decide what is due: a completion waits for a clerk recording this member's cash (and the clerk
            # for it), then sees what the other did, so two payments for one fee credit it once.
            member = (
                Member.objects.select_for_update(of=("self",))
                .select_related("category", "user")
                .get(pk=payment.member_id)
            )
            if payment.payment_type == Type.REGISTRATION:
                member_record_registration_payment(
                    member=member,
                    reference=payment.reference,  # replaced by the receipt number once it is taken
                    actor=actor,
                    paid_at=payment.completed_at,
                )
            else:
                if payment_due(member, today=paid_on) is None:
                    # Renewed meanwhile by another payment: a second renewal would extend the period twice.
                    raise MembershipError(nothing_due_message(member))
                membership_renew(member=member, actor=actor, paid_on=paid_on)
    except MembershipError as error:
        reason = str(error)[: Payment._meta.get_field("unapplied_reason").max_length]
        logger.error("Payment %s completed but not applied to member %s: %s", payment.pk, payment.member_id, reason)
        Payment.objects.filter(pk=payment.pk).update(unapplied_at=timezone.now(), unapplied_reason=reason)
        audit_log(
            action=AuditLog.Action.SECURITY_EVENT,
            actor=None,
            target=payment,
            data={"event": "payment_not_applied", "reason": reason},
        )
        return reason
    return ""


def payment_completed_notify(payment_id: int) -> None:
    """Queue the "payment received" email, SMS and in-app notification, once per payment. Called inside the
    completing transaction, so the messages are rows in the outbox the moment the payment is committed
    (notifications.services); never raises."""
    _notify_in_savepoint(
        payment_id,
        "payment_received",
        lambda payment: {
            "payment": payment,
            "receipt_url": settings.SITE_URL.rstrip("/") + reverse("payments:receipt", args=[payment.reference]),
        },
    )


def _notify_in_savepoint(payment_id: int, event: str, context: Callable[[Payment], dict]) -> None:
    try:
        # A savepoint: whatever goes wrong here rolls back the notification alone, never the payment.
        with transaction.atomic():
            payment = Payment.objects.select_related("member__user", "member__category").get(pk=payment_id)
            notify_member(
                payment.member, event=event, context=context(payment), dedupe_key_base=f"{event}:{payment.pk}"
            )
    except Exception:
        logger.exception("Could not queue the %s notifications of payment %s.", event, payment_id)


def _fail(payment: Payment, *, code: str, description: str, source: str) -> bool:
    status = Status.CANCELLED if code == result_codes.CANCELLED_BY_USER else Status.FAILED
    with transaction.atomic():
        failed = payment_transition(
            payment=payment,
            to=status,
            source=source,
            audit_data={"code": code, "description": description[:255], "source": source},
            result_code=code,
            result_description=description[:255],
        )
        if failed and source != Source.PUSH:
            payment_failed_notify(payment.pk)  # in the transaction, as payment_completed_notify
    return failed


def payment_failed_notify(payment_id: int) -> None:
    """Queue the "payment failed" messages, once per payment, in the caller's transaction; never raises."""
    _notify_in_savepoint(
        payment_id, "payment_failed", lambda payment: {"payment": payment, "reason": payment_failure_reason(payment)}
    )


def payment_failure_reason(payment: Payment) -> str:
    """Plain words for the member: why this payment did not go through."""
    if payment.status == Status.TIMEOUT:
        return "We did not hear back from M-Pesa in time. If money left your account, it will be credited."
    if payment.result_code:
        return member_message(payment.result_code)
    return payment.result_description or "The payment did not go through."


def payment_timeout(payment: Payment) -> bool:
    with transaction.atomic():
        timed_out = payment_transition(
            payment=payment, to=Status.TIMEOUT, source=Source.RECONCILIATION, audit_data={"code": "timeout"}
        )
        if timed_out:
            payment_failed_notify(payment.pk)
    return timed_out


# --- Callbacks --------------------------------------------------------------------------------------------


def callback_receive(*, token: str, body: bytes, headers: dict, source_ip: str | None) -> MpesaCallback:
    """Store the delivery exactly as it came, before anything else can go wrong."""
    return MpesaCallback.objects.create(
        url_token=token[:64],
        body=body.decode("utf-8", errors="replace"),
        headers=headers,
        source_ip=source_ip,
    )


def callback_process(callback: MpesaCallback, *, confirm_now: bool = False) -> str:
    """Apply one stored callback; idempotent, so replaying a stored callback is safe.

    A success callback waits for Daraja's confirmation (callback_confirm): queued as a task, so the callback
    view answers Daraja at once, or asked here with `confirm_now` (background jobs: no broker needed)."""
    try:
        outcome, detail, payment = _apply_callback(callback)
    except (OperationalError, InterfaceError):
        # The database went away mid-way: the row stays "received" and callback_backlog_process (beat, and
        # reconciliation before it times anything out) applies it once the database is back.
        logger.exception("Processing M-Pesa callback %s interrupted by the database; left to retry", callback.pk)
        return MpesaCallback.Outcome.RECEIVED
    except Exception as error:
        MpesaCallback.objects.filter(pk=callback.pk).update(
            outcome=MpesaCallback.Outcome.ERROR,
            detail=f"{type(error).__name__}: {error}"[:255],
            traceback=traceback.format_exc(),
            processed_at=timezone.now(),
        )
        logger.exception("Processing M-Pesa callback %s failed", callback.pk)
        return MpesaCallback.Outcome.ERROR
    MpesaCallback.objects.filter(pk=callback.pk).update(
        outcome=outcome,
        detail=detail[:255],
        payment=payment,
        checkout_request_id=callback.checkout_request_id,
        processed_at=timezone.now(),
    )
    if outcome == MpesaCallback.Outcome.CONFIRMING and confirm_now:
        return callback_confirm(callback_id=callback.pk) or outcome
    if outcome == MpesaCallback.Outcome.CONFIRMING:
        # Daraja's status query runs in a task, so Daraja's callback is answered without waiting for it.
        transaction.on_commit(lambda: _queue_confirmation(callback.pk), robust=True)
        # With tasks run in-process (development, tests) it may be decided already.
        outcome = MpesaCallback.objects.values_list("outcome", flat=True).get(pk=callback.pk)
    return outcome


def _reject(callback: MpesaCallback, detail: str, payment: Payment | None = None):
    security_logger.warning("Rejected M-Pesa callback %s from %s: %s", callback.pk, callback.source_ip, detail)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        target=payment or callback,
        data={"event": "callback_rejected", "callback": callback.pk, "detail": detail, "ip": callback.source_ip},
    )
    return MpesaCallback.Outcome.REJECTED, detail, payment


def _apply_callback(callback: MpesaCallback):
    try:
        parsed: StkCallback = parse_stk_callback(callback.body)
    except MalformedCallback as error:
        return _reject(callback, f"malformed: {error}")
    callback.checkout_request_id = parsed.checkout_request_id[:64]

    ip_problem = _source_ip_problem(callback.source_ip)
    if ip_problem and settings.MPESA_CALLBACK_IP_CHECK == "enforce":
        return _reject(callback, ip_problem)
    if ip_problem:
        security_logger.warning("M-Pesa callback %s: %s (log-only mode)", callback.pk, ip_problem)

    payment = Payment.objects.filter(checkout_request_id=parsed.checkout_request_id).first()
    if payment is None and callback.url_token:
        # The callback can beat the push's answer: then the URL token identifies the payment. The push's
        # answer may be stored between the two lookups, so the token's payment may have the id by now.
        payment = Payment.objects.filter(callback_token=callback.url_token).first()
        if payment is not None and payment.checkout_request_id not in (None, parsed.checkout_request_id):
            return _reject(callback, "CheckoutRequestID is not this payment's", payment)
    if payment is None:
        return _reject(callback, "unknown CheckoutRequestID")
    if not callback.url_token or not hmac.compare_digest(callback.url_token, payment.callback_token):
        return _reject(callback, "wrong URL token", payment)
    if payment.checkout_request_id is None:
        Payment.objects.filter(pk=payment.pk, checkout_request_id__isnull=True).update(
            checkout_request_id=parsed.checkout_request_id, merchant_request_id=parsed.merchant_request_id
        )

    if parsed.outcome is Outcome.PAID:
        if parsed.amount is None or parsed.amount != Decimal(payment.amount):
            return _reject(callback, f"amount {parsed.amount} differs from KES {payment.amount}", payment)
        if parsed.phone and parsed.phone != payment.phone_number:
            return _reject(callback, f"phone {mask_phone(parsed.phone)} differs", payment)
        if not parsed.receipt_number:
            return _reject(callback, "success without an M-Pesa receipt number", payment)
        if not settings.MPESA_CONFIRM_CALLBACKS:
            reason = settings.MPESA_CONFIRM_CALLBACKS_OFF_REASON
            unconfirmed = {"callback": callback.pk, "reason": reason}
            return _complete_from_callback(callback, payment, parsed, Confirmation.UNCONFIRMED_CALLBACK, unconfirmed)
        if Payment.objects.filter(pk=payment.pk, status=Status.COMPLETED).exists():
            # Already paid (a duplicate, or completed by a query): nothing to credit, so nothing to confirm; a
            # query-completed payment takes the receipt number (payment_complete).
            return _complete_from_callback(callback, payment, parsed, Confirmation.CALLBACK_AND_QUERY, {})
        # The URL token proves only that the sender knew it: Daraja's status query decides (check 24).
        return MpesaCallback.Outcome.CONFIRMING, "success: waiting for Daraja's status query", payment

    if parsed.outcome is Outcome.PENDING:
        return MpesaCallback.Outcome.IGNORED, f"not final ({parsed.result_code})", payment
    if _fail(payment, code=parsed.result_code, description=parsed.result_description, source=Source.CALLBACK):
        return MpesaCallback.Outcome.APPLIED, f"failed ({parsed.result_code})", payment
    payment.refresh_from_db()
    if payment.status == Status.COMPLETED:
        security_logger.warning("Failure callback for completed payment %s ignored", payment.pk)
        return MpesaCallback.Outcome.IGNORED, "failure after completion", payment
    return MpesaCallback.Outcome.DUPLICATE, "already final", payment


def _complete_from_callback(
    callback: MpesaCallback, payment: Payment, parsed: StkCallback, confirmed_by: str, confirmation: Mapping
):
    try:
        applied = payment_complete(
            payment=payment,
            mpesa_receipt_number=parsed.receipt_number,
            result_code=parsed.result_code,
            result_description=parsed.result_description,
            source=Source.CALLBACK,
            confirmed_by=confirmed_by,
            confirmation=confirmation,
        )
    except MpesaReceiptAlreadyUsed as reuse:
        return _reject(callback, str(reuse), payment)
    if applied:
        return MpesaCallback.Outcome.APPLIED, "completed", payment
    return MpesaCallback.Outcome.DUPLICATE, "already completed", payment


def _queue_confirmation(callback_id: int) -> None:
    try:
        task_queue("payments.confirm_callback", callback_id)
    except Exception:
        # The broker is down: the callback stays stored as waiting, and reconciliation's query confirms it.
        logger.warning("Could not queue the confirmation of M-Pesa callback %s; reconciliation will", callback_id)


def callback_confirm(*, callback_id: int, client=None) -> str:
    """Ask Daraja whether the payment of a success callback waiting for confirmation is paid, and act on it.

    Paid: complete the payment with the callback's receipt (confirmed_by callback+stk_query). Failed: the
    callback is contradicted by Daraja itself (a forgery by someone who knew the URL token, or the sandbox's
    unreliable query): it is rejected with a security entry, and the payment takes the query's failure, as
    reconciliation would (a later success that Daraja confirms can still complete it). No answer (still
    processing, 500.001.1001, Daraja unreachable): the payment stays pending and the callback waiting, and
    reconciliation's next query completes it with this callback's receipt. Returns the callback's outcome.
    """
    callback = MpesaCallback.objects.filter(pk=callback_id, outcome=MpesaCallback.Outcome.CONFIRMING).first()
    if callback is None or callback.payment_id is None:
        return ""  # decided meanwhile (by reconciliation), or not a waiting callback
    payment = Payment.objects.get(pk=callback.payment_id)
    parsed = parse_stk_callback(callback.body)
    try:
        result = (client or mpesa_config.get_client()).stk_query(
            payment.checkout_request_id or parsed.checkout_request_id
        )
    except DarajaError as error:  # a configuration problem (credentials, shortcode): someone must fix it
        logger.error("Status query to confirm M-Pesa callback %s failed: %r", callback.pk, error)
        result = None
    if result is not None and result.outcome is Outcome.PAID:
        outcome, detail, _ = _complete_from_callback(
            callback, payment, parsed, Confirmation.CALLBACK_AND_QUERY, {"callback": callback.pk}
        )
    elif result is not None and result.outcome is Outcome.FAILED:
        outcome, detail = _contradicted(callback, payment, result)
    else:
        why = result.result_description if result is not None else "the query failed"
        outcome, detail = (
            MpesaCallback.Outcome.CONFIRMING,
            f"success: not confirmed yet ({why}); reconciliation asks again",
        )
    MpesaCallback.objects.filter(pk=callback.pk, outcome=MpesaCallback.Outcome.CONFIRMING).update(
        outcome=outcome, detail=detail[:255], processed_at=timezone.now()
    )
    return outcome


def _contradicted(callback: MpesaCallback, payment: Payment, result) -> tuple[str, str]:
    code = result.result_code or ""
    detail = f"success callback contradicted by Daraja's status query ({code}: {result.result_description})"
    security_logger.warning("M-Pesa callback %s for payment %s: %s", callback.pk, payment.pk, detail)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        target=payment,
        data={
            "event": "callback_contradicted",
            "callback": callback.pk,
            "query_result": code,
            "detail": detail,
            "ip": callback.source_ip,
        },
    )
    _fail(payment, code=code, description=result.result_description, source=Source.QUERY)
    return MpesaCallback.Outcome.REJECTED, detail


def _source_ip_problem(ip: str | None) -> str:
    if settings.MPESA_CALLBACK_IP_CHECK == "off":
        return ""
    if ip in settings.MPESA_CALLBACK_ALLOWED_IPS:
        return ""
    return f"source address {ip} is not on the Safaricom allow-list"


# --- Callbacks kept during a database outage (QUALITY check 23) ------------------------------------------
# A delivery the database cannot store is written to a spool on local disk (core.spool) and only then
# answered "Accepted"; if even that fails the answer is a 503, never "Accepted" and dropped. The periodic
# job (payments.replay_callback_spool), `manage.py replay_callback_spool` and reconciliation (before it
# times anything out) store each spooled delivery as an MpesaCallback row with its spool id (unique, so a
# file replayed twice stores one row), remove the file, and process the row like any callback. The spool
# also keeps the answer of an STK push that the database could not save, so the payment can be queried.

SPOOL_CALLBACK = "stk_callback"
SPOOL_PUSH_ANSWER = "push_answer"
# A stored callback still "received" this long after it came (its request died with the database, or the
# database failed while processing it) is applied by callback_backlog_process.
STORED_CALLBACK_RETRY_SECONDS = 30


def callback_spool(*, token: str, body: bytes, headers: dict, source_ip: str | None) -> str:
    """Keep a delivery that could not be stored durably on local disk; returns its spool id.

    Raises (OSError, core.spool.SpoolFull) when it could not be kept: then it must not be answered "Accepted".
    """
    return spool_open().put(
        {
            "kind": SPOOL_CALLBACK,
            "token": token[:64],
            "body": body.decode("utf-8", errors="replace"),
            "headers": headers,
            "source_ip": source_ip,
            "received_at": timezone.now().isoformat(),
        }
    )


@dataclass
class SpoolReplaySummary:
    replayed: int = 0  # deliveries stored from the spool (and processed)
    already_stored: int = 0  # files whose row a previous replay had stored (removed now)
    push_answers: int = 0  # STK push answers saved on their payment
    c2b_replayed: int = 0  # C2B (Paybill) confirmations stored from the spool (and processed)
    quarantined: int = 0  # files that can never be used, moved aside for a human
    remaining: int = 0  # left in the spool (the database is still unavailable)


def callback_spool_replay(*, limit: int = 1000) -> SpoolReplaySummary:
    """Move what the spool holds into the database, oldest first, and apply it. Safe to run anywhere, any
    number of times, concurrently: a file is stored once (unique spool id) and applied once."""
    spool = spool_open()
    summary = SpoolReplaySummary()
    entries = spool.entries()
    for index, entry in enumerate(entries[:limit]):
        try:
            record = spool.read(entry)
        except FileNotFoundError:
            continue  # another replay took it
        except (OSError, ValueError) as error:
            _spool_quarantine(spool, entry, f"unreadable: {type(error).__name__}", summary)
            continue
        try:
            if record.get("kind") == SPOOL_CALLBACK:
                callback, created = _spooled_callback_store(entry.id, record)
            elif record.get("kind") == SPOOL_PUSH_ANSWER:
                callback, created = None, _spooled_push_answer_save(record)
            elif record.get("kind") == SPOOL_C2B:
                c2b_delivery, created = c2b_spooled_store(entry.id, record)
                callback = None
            else:
                _spool_quarantine(spool, entry, f"unknown kind {record.get('kind')!r}", summary)
                continue
        except (OperationalError, InterfaceError):
            logger.warning("Callback spool: the database is still unavailable; %d left", len(entries) - index)
            summary.remaining = len(entries) - index
            return summary
        except Exception as error:
            logger.exception("Callback spool: %s cannot be stored", entry.id)
            _spool_quarantine(spool, entry, f"cannot be stored: {type(error).__name__}", summary)
            continue
        # Stored (or saved) and committed: the database holds it now.
        spool.remove(entry)
        if record["kind"] == SPOOL_PUSH_ANSWER:
            summary.push_answers += 1
        elif record["kind"] == SPOOL_C2B:
            summary.c2b_replayed += created
            summary.already_stored += not created
            c2b_process_safely(c2b_delivery)
        elif created:
            summary.replayed += 1
        else:
            summary.already_stored += 1
        if callback is not None:
            _stored_callback_process(callback.pk)
    summary.remaining = max(0, len(entries) - limit)
    if summary.replayed or summary.push_answers or summary.c2b_replayed or summary.quarantined:
        logger.warning("Callback spool replayed: %s", vars(summary))
    return summary


def _spool_quarantine(spool: Spool, entry, reason: str, summary: SpoolReplaySummary) -> None:
    try:
        spool.quarantine(entry)
    except FileNotFoundError:
        return  # another replay took it
    summary.quarantined += 1
    logger.error("Callback spool: %s quarantined (%s)", entry.id, reason)


def _spooled_callback_store(spool_id: str, record: dict) -> tuple[MpesaCallback, bool]:
    """The row for a spooled delivery: (row, True) when stored now, (existing row, False) when it already was."""
    return spooled_row_store(
        MpesaCallback,
        spool_id=spool_id,
        record=record,
        audit_event="callback_recovered_from_spool",
        audit_key="callback",
        url_token=str(record.get("token") or "")[:64],
        body=str(record.get("body") or ""),
        headers=record.get("headers") or {},
        source_ip=record.get("source_ip") or None,
    )


def _spooled_push_answer_save(record: dict) -> bool:
    """Save an STK push answer the database could not take at the time, if the payment still lacks one."""
    payment = Payment.objects.filter(pk=record["payment"]).first()
    if payment is None or not hmac.compare_digest(str(record.get("token") or ""), payment.callback_token):
        raise ValueError("the spooled push answer does not match its payment")
    saved = _push_answer_save(
        payment.pk,
        {
            "checkout_request_id": str(record["checkout_request_id"])[:64],
            "merchant_request_id": str(record.get("merchant_request_id") or "")[:64],
            "sent_at": datetime.datetime.fromisoformat(record["sent_at"]),
        },
    )
    if saved:
        audit_log(
            action=AuditLog.Action.SECURITY_EVENT,
            target=payment,
            data={"event": "push_answer_recovered_from_spool", "checkout_request_id": record["checkout_request_id"]},
        )
    return bool(saved)


def _stored_callback_process(callback_id: int, *, now: datetime.datetime | None = None) -> str | None:
    """Process a stored callback still "received", unless another process has it. Returns the outcome, or
    None when it was not processed here (already processed, or claimed by another process).

    The claim is a compare-and-set of processed_at on the row (no session lock, so it also holds behind
    PgBouncer's transaction pooling); a claim older than STORED_CALLBACK_RETRY_SECONDS is taken over (its
    process died or lost the database)."""
    now = now or timezone.now()
    claimed = (
        MpesaCallback.objects.filter(pk=callback_id, outcome=MpesaCallback.Outcome.RECEIVED)
        .filter(
            Q(processed_at__isnull=True)
            | Q(processed_at__lt=now - datetime.timedelta(seconds=STORED_CALLBACK_RETRY_SECONDS))
        )
        .update(processed_at=timezone.now())
    )
    if claimed != 1:
        return None
    # A background job (replay, backlog, reconciliation): Daraja confirms a success callback right here.
    return callback_process(MpesaCallback.objects.get(pk=callback_id), confirm_now=True)


def callback_backlog_process(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Apply stored callbacks nobody processed (left "received" by an outage); returns how many were."""
    now = now or timezone.now()
    waiting = list(
        MpesaCallback.objects.filter(
            outcome=MpesaCallback.Outcome.RECEIVED,
            received_at__lt=now - datetime.timedelta(seconds=STORED_CALLBACK_RETRY_SECONDS),
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    processed = 0
    for pk in waiting:
        if _stored_callback_process(pk, now=now) not in (None, MpesaCallback.Outcome.RECEIVED):
            processed += 1
    if processed:
        logger.warning("Applied %d stored M-Pesa callbacks left unprocessed", processed)
    return processed


def callback_recover(*, now: datetime.datetime | None = None) -> dict:
    """The periodic job: the spool into the database, then stored callbacks nobody processed."""
    summary = vars(callback_spool_replay())
    summary["backlog_processed"] = callback_backlog_process(now=now)
    summary["c2b_backlog_processed"] = c2b_backlog_process(now=now)
    return summary


# --- Reconciliation ---------------------------------------------------------------------------------------


@dataclass
class ReconcileSummary:
    checked: int = 0
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    still_pending: int = 0
    errors: int = 0


def reconcile_stale_payments(
    *, client=None, now: datetime.datetime | None = None, limit: int = 200
) -> ReconcileSummary:
    """Ask Daraja about every M-Pesa payment still pending after MPESA_RECONCILE_AFTER_SECONDS.

    Each payment is claimed with a conditional UPDATE on its last check time, so two workers running
    this at once never query or resolve the same payment in the same round.
    """
    now = now or timezone.now()
    # What Daraja already told us comes first: callbacks kept in the spool during a database outage and
    # stored ones nobody processed. They complete payments with their M-Pesa receipt, which a query lacks.
    try:
        callback_recover(now=now)
    except Exception:
        logger.exception("Recovering M-Pesa callbacks before reconciliation failed")
    try:
        spooled_tokens = _spooled_callback_tokens()
    except OSError:
        logger.exception("The callback spool cannot be read: no payment is timed out this round")
        spooled_tokens = None
    stale = now - datetime.timedelta(seconds=settings.MPESA_RECONCILE_AFTER_SECONDS)
    oldest = now - datetime.timedelta(seconds=settings.MPESA_PAYMENT_TIMEOUT_SECONDS)
    summary = ReconcileSummary()
    candidates = list(
        Payment.objects.filter(method=Payment.Method.MPESA, status=Status.PENDING, created_at__lt=stale)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=stale))
        .order_by("created_at")
        .values_list("pk", "last_checked_at")[:limit]
    )
    if candidates and client is None:
        client = mpesa_config.get_client()
    for pk, last_checked in candidates:
        claimed = (
            Payment.objects.filter(pk=pk, status=Status.PENDING, last_checked_at=last_checked).update(
                last_checked_at=now, check_count=F("check_count") + 1
            )
            if last_checked
            else Payment.objects.filter(pk=pk, status=Status.PENDING, last_checked_at__isnull=True).update(
                last_checked_at=now, check_count=F("check_count") + 1
            )
        )
        if claimed != 1:
            continue  # another worker has it this round
        payment = Payment.objects.get(pk=pk)
        summary.checked += 1
        _reconcile_one(payment, client=client, oldest=oldest, summary=summary, spooled_tokens=spooled_tokens)
    return summary


def _spooled_callback_tokens() -> set[str]:
    """URL tokens of the callbacks still in the spool (not yet replayed): their payments are not timed out."""
    spool = spool_open()
    tokens = set()
    for entry in spool.entries():
        try:
            tokens.add(str(spool.read(entry).get("token") or ""))
        except (OSError, ValueError):
            continue
    return tokens


def _stored_callback_receipt(payment: Payment) -> str | None:
    """The M-Pesa receipt of a stored success callback that matches this payment in every respect (URL
    token, CheckoutRequestID, amount, phone) and was not rejected; None when there is none."""
    candidates = MpesaCallback.objects.filter(url_token=payment.callback_token).exclude(
        outcome=MpesaCallback.Outcome.REJECTED
    )
    for body in candidates.order_by("received_at").values_list("body", flat=True):
        try:
            parsed = parse_stk_callback(body)
        except MalformedCallback:
            continue
        if (
            parsed.outcome is Outcome.PAID
            and parsed.receipt_number
            and parsed.checkout_request_id == payment.checkout_request_id
            and parsed.amount == Decimal(payment.amount)
            and (not parsed.phone or parsed.phone == payment.phone_number)
        ):
            return parsed.receipt_number
    return None


def _callback_waiting(payment: Payment, spooled_tokens: set[str] | None) -> bool:
    """Daraja's callback for this payment came but is not applied yet (in the spool, or stored unprocessed)."""
    if spooled_tokens is None or payment.callback_token in spooled_tokens:
        return True
    match = Q(url_token=payment.callback_token)
    if payment.checkout_request_id:
        match |= Q(checkout_request_id=payment.checkout_request_id)
    # RECEIVED: stored, not processed yet; CONFIRMING: a success callback waiting for Daraja's confirmation.
    waiting = (MpesaCallback.Outcome.RECEIVED, MpesaCallback.Outcome.CONFIRMING)
    return MpesaCallback.objects.filter(match, outcome__in=waiting).exists()


def _reconcile_one(payment: Payment, *, client, oldest, summary: ReconcileSummary, spooled_tokens=frozenset()) -> None:
    if payment.checkout_request_id:
        try:
            result = client.stk_query(payment.checkout_request_id)
        except DarajaError as error:
            logger.error("Status query for payment %s failed: %r", payment.pk, error)
            summary.errors += 1
            result = None
        if result is not None and result.outcome is Outcome.PAID:
            if _complete_by_query(payment, result):
                summary.completed += 1
            if not Payment.objects.filter(pk=payment.pk, mpesa_receipt_number__isnull=False).exists():
                logger.warning("Payment %s completed by a status query; its M-Pesa receipt is pending", payment.pk)
            return
        if result is not None and result.outcome is Outcome.FAILED:
            code = result.result_code or ""
            if _fail(payment, code=code, description=result.result_description, source=Source.QUERY):
                summary.failed += 1
            return
    if payment.created_at < oldest:
        if _callback_waiting(payment, spooled_tokens):
            # Never time out a payment whose answer we hold: it is applied when the database takes it.
            logger.warning("Payment %s not timed out: its callback waits to be applied", payment.pk)
            summary.still_pending += 1
            return
        if payment_timeout(payment):
            summary.timed_out += 1
        return
    summary.still_pending += 1


def _complete_by_query(payment: Payment, result, *, stored_receipt: bool = True) -> bool:
    """Daraja's query says paid: complete the payment, with the M-Pesa receipt of a success callback that was
    waiting for this confirmation (check 24) when there is one, so the receipt is not lost."""
    waiting = []
    for callback in MpesaCallback.objects.filter(payment=payment, outcome=MpesaCallback.Outcome.CONFIRMING):
        try:
            waiting.append((callback, parse_stk_callback(callback.body).receipt_number))
        except MalformedCallback:
            continue
    receipts = {receipt for _, receipt in waiting}
    # Waiting callbacks that disagree on the receipt: at least one is forged, so none is believed.
    receipt = next(iter(receipts)) if len(receipts) == 1 else None
    if not receipts and stored_receipt:
        # No callback waits for this confirmation; one stored otherwise (e.g. replayed) may hold the receipt.
        receipt = _stored_callback_receipt(payment)
    if len(receipts) > 1:
        security_logger.warning("Success callbacks for payment %s name different M-Pesa receipts", payment.pk)
        audit_log(
            action=AuditLog.Action.SECURITY_EVENT,
            target=payment,
            data={"event": "callback_receipts_differ", "callbacks": [callback.pk for callback, _ in waiting]},
        )
    confirmation = {"callback": waiting[0][0].pk} if receipt and waiting else {}
    try:
        completed = payment_complete(
            payment=payment,
            mpesa_receipt_number=receipt,
            result_code=result.result_code or result_codes.PAID,
            result_description=result.result_description,
            source=Source.QUERY,
            confirmed_by=Confirmation.QUERY,
            confirmation=confirmation,
        )
    except MpesaReceiptAlreadyUsed as reuse:
        for callback, _ in waiting:
            _reject(callback, str(reuse), payment)
        MpesaCallback.objects.filter(pk__in=[c.pk for c, _ in waiting]).update(
            outcome=MpesaCallback.Outcome.REJECTED, detail=str(reuse)[:255], processed_at=timezone.now()
        )
        # The waiting callbacks are rejected now; complete without a receipt (it stays pending).
        return _complete_by_query(payment, result, stored_receipt=False)
    for callback, callback_receipt in waiting:
        applied = completed and callback_receipt == receipt
        MpesaCallback.objects.filter(pk=callback.pk, outcome=MpesaCallback.Outcome.CONFIRMING).update(
            outcome=MpesaCallback.Outcome.APPLIED if applied else MpesaCallback.Outcome.DUPLICATE,
            detail="completed when reconciliation's status query confirmed it"
            if applied
            else "payment completed by reconciliation's status query",
            processed_at=timezone.now(),
        )
    return completed


# --- Offline payments (cash, cheque, bank transfer) -------------------------------------------------------

OFFLINE_METHODS = (Payment.Method.CASH, Payment.Method.CHEQUE, Payment.Method.BANK)
EXTERNAL_REFERENCE_MAX = Payment._meta.get_field("external_reference").max_length


class DuplicatePaymentError(PaymentError):
    """This cash receipt, cheque or bank reference is already recorded."""


def normalise_external_reference(value: str | None) -> str:
    """How a receipt, cheque or bank reference is stored and compared: spaces collapsed, upper case, so
    "eq 88121" typed by one clerk and "EQ  88121" by another are the same deposit."""
    return " ".join((value or "").split()).upper()


def payment_record_offline(
    *,
    member: Member,
    method: str,
    external_reference: str,
    amount: int | None = None,
    received_on: datetime.date | None = None,
    actor,
    request=None,
) -> Payment:
    """Finance received what is due in cash, by cheque or by bank transfer: record it as a Payment and
    complete it through `payment_complete`, so it gets the same effects as M-Pesa (receipt number,
    membership activated or renewed, the member told), exactly once.

    Exactly once: the member row is locked while what is due is decided and the payment is written, so
    a double-click or two clerks recording the same member wait for each other and the second finds the
    reference already recorded, or nothing due any more. The same reference for the same method can never
    be written twice, whichever member it is typed against: migration 0003's partial unique index on
    (external_reference, method) refuses it (the check below only gives the clearer message).

    Never while an M-Pesa prompt of this member is pending: the member could answer it too and pay the fee
    twice. payment_initiate_mpesa takes the same member lock, so a prompt and a recording never both pass;
    a prompt that times out and is paid late all the same is kept as an unapplied payment for Finance.

    `amount`, when given, must be what is due (the clerk's figure from the slip); `received_on` (default
    today, never in the future) decides what was due (a renewal paid before the grace period ended owes
    no late fee) and the payment's completion date. Raises PaymentError with a message for the clerk.
    """
    if method not in OFFLINE_METHODS:
        raise PaymentError("Choose how the money was paid: cash, cheque or bank transfer.")
    method_label = Payment.Method(method).label
    reference = normalise_external_reference(external_reference)
    if not reference:
        raise PaymentError("Enter the payment reference (receipt, cheque or bank transaction number).")
    if len(reference) > EXTERNAL_REFERENCE_MAX:
        raise PaymentError(f"The payment reference is at most {EXTERNAL_REFERENCE_MAX} characters.")
    today = timezone.localdate()
    received_on = received_on or today
    if received_on > today:
        raise PaymentError("The date received cannot be in the future.")

    with transaction.atomic():
        member = Member.objects.select_for_update(of=("self",)).select_related("category", "user").get(pk=member.pk)
        applied_on = timezone.localdate(member.applied_at)
        if received_on < applied_on:
            raise PaymentError(f"The date received is before this application was made ({applied_on:%d %b %Y}).")
        _refuse_recorded_reference(method, reference)
        _refuse_while_prompt_pending(member)
        due = payment_due(member, today=received_on)
        if due is None:
            raise PaymentError(nothing_due_message(member))
        if amount is not None and int(amount) != due.amount:
            raise PaymentError(f"The amount due is KES {due.amount:,} ({due.description}), not KES {int(amount):,}.")
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    member=member,
                    payment_type=due.payment_type,
                    method=method,
                    amount=due.amount,
                    external_reference=reference,
                    initiated_by=actor if getattr(actor, "is_authenticated", False) else None,
                )
        except IntegrityError:
            # Recorded against another member at this very moment (the unique index waited for it).
            raise DuplicatePaymentError(f"{method_label} reference {reference} is already recorded.") from None
        # The date is what counts; the time of an earlier day is not known, so it is the start of that day.
        completed_at = (
            timezone.now()
            if received_on == today
            else timezone.make_aware(datetime.datetime.combine(received_on, datetime.time.min))
        )
        completed = payment_complete(
            payment=payment,
            result_code="",
            result_description=f"{method_label} {reference}, received {received_on:%d %b %Y}",
            source=Source.OFFLINE,
            confirmed_by=Confirmation.STAFF,
            confirmation={"recorded_by": getattr(actor, "email", "") or str(actor)},
            actor=actor,
            completed_at=completed_at,
        )
        if not completed:  # cannot happen to a row written in this transaction; never leave it half done
            raise PaymentError("The payment could not be completed; nothing was recorded.")
        payment.refresh_from_db()
        audit_log(
            action=AuditLog.Action.PAYMENT_RECORDED,
            actor=actor,
            target=payment,
            data={
                "method": method,
                "reference": reference,
                "amount": payment.amount,
                "type": payment.payment_type,
                "received_on": received_on.isoformat(),
                "receipt": payment.receipt_number,
            },
            request=request,
        )
    return payment


def _refuse_while_prompt_pending(member: Member) -> None:
    """Refuse while an M-Pesa prompt of this member is pending (the caller holds the member's row lock)."""
    prompt = (
        Payment.objects.filter(member=member, method=Payment.Method.MPESA, status=Status.PENDING)
        .order_by("-created_at")
        .first()
    )
    if prompt is None:
        return
    started = timezone.localtime(prompt.created_at)
    raise PaymentError(
        f"An M-Pesa payment of KES {prompt.amount:,} for the {Payment.Type(prompt.payment_type).label.lower()}, "
        f"started {started:%d %b %Y %H:%M}, is still waiting for the member's answer on "
        f"{mask_phone(prompt.phone_number)}. Nothing was recorded: wait until it completes, fails or times out "
        "(the member can also cancel it on the phone), then record this money only if the M-Pesa payment did "
        "not go through."
    )


def _refuse_recorded_reference(method: str, reference: str) -> None:
    existing = (
        Payment.objects.filter(method=method, external_reference=reference)
        .exclude(method=Payment.Method.MPESA)  # the partial unique index's condition, so the index is used
        .select_related("member__user")
        .first()
    )
    if existing is not None:
        raise DuplicatePaymentError(
            f"{Payment.Method(method).label} reference {reference} is already recorded: receipt "
            f"{existing.receipt_number or existing.reference}, KES {existing.amount:,} for {existing.member.full_name}."
        )


# --- Unapplied payments: what Finance did with the money ----------------------------------------------------

Resolution = Payment.Resolution
# resolution -> the resolutions it may follow ("" is "nothing decided yet"); refunded, kept as credit and
# applied manually are final.
SETTLEMENTS = {
    Resolution.REFUND_DUE: {""},
    Resolution.REFUNDED: {"", Resolution.REFUND_DUE},
    Resolution.KEPT_AS_CREDIT: {"", Resolution.REFUND_DUE},
    Resolution.APPLIED_MANUALLY: {"", Resolution.REFUND_DUE},
}
RESOLUTION_REFERENCE_MAX = Payment._meta.get_field("resolution_reference").max_length
RESOLUTION_NOTE_MAX = Payment._meta.get_field("resolution_note").max_length


def payment_settle_unapplied(
    *, payment: Payment, resolution: str, reference: str = "", note: str = "", actor, request=None
) -> Payment:
    """Record what Finance did with the money of a payment that was not applied: a refund due, a refund
    made (with its reference), the money kept as the member's credit, or applied by hand (saying how).
    The payment stays completed (the money was received); the decision is on its row and in the audit
    trail. Raises PaymentError, changing nothing, for a payment that was applied or is already settled.
    """
    if resolution not in SETTLEMENTS:
        raise PaymentError("Choose what was done with the money: refund due, refunded, kept as credit or applied.")
    reference = normalise_external_reference(reference)
    note = " ".join((note or "").split())
    if resolution == Resolution.REFUNDED and not reference:
        raise PaymentError("Enter the reference of the refund (M-Pesa, cheque or bank transaction).")
    if resolution == Resolution.APPLIED_MANUALLY and not note:
        raise PaymentError("Say how the payment was applied, in the note.")
    if len(reference) > RESOLUTION_REFERENCE_MAX:
        raise PaymentError(f"The refund reference is at most {RESOLUTION_REFERENCE_MAX} characters.")
    if len(note) > RESOLUTION_NOTE_MAX:
        raise PaymentError(f"The note is at most {RESOLUTION_NOTE_MAX} characters.")

    with transaction.atomic():
        # Two clerks settling the same payment at once: the second waits, then sees the first's decision.
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status != Status.COMPLETED or locked.unapplied_at is None:
            raise PaymentError("This payment was applied to the membership: there is nothing to settle.")
        if locked.resolution == Resolution.REFUND_DUE and resolution == Resolution.REFUND_DUE:
            raise PaymentError("A refund is already due on this payment: record it as refunded once it is made.")
        if locked.resolution not in SETTLEMENTS[resolution]:
            raise PaymentError(
                f"This payment is already settled: {locked.get_resolution_display().lower()}"
                f"{f' ({locked.resolution_reference})' if locked.resolution_reference else ''}."
            )
        now = timezone.now()
        Payment.objects.filter(pk=locked.pk).update(
            resolution=resolution,
            resolution_reference=reference,
            resolution_note=note,
            resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
            resolved_at=now,
            updated_at=now,
        )
        audit_log(
            action=AuditLog.Action.PAYMENT_RECORDED,
            actor=actor,
            target=locked,
            data={
                "event": "unapplied_payment_settled",
                "from": locked.resolution,
                "resolution": resolution,
                "reference": reference,
                "note": note,
                "amount": locked.amount,
                "receipt": locked.receipt_number,
            },
            request=request,
        )
    locked.refresh_from_db()
    return locked
