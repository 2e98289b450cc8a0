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
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.phones import mask_phone, normalise_phone
from core.queue import task_queue
from core.sequences import next_number
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

from .models import MpesaCallback, Payment
from .transitions import MpesaReceiptAlreadyUsed, mpesa_receipt_refuse_reuse, payment_transition

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
        # The callback may already have arrived and set these (Daraja can answer the push after the
        # callback); only fill what is empty.
        Payment.objects.filter(pk=payment.pk, checkout_request_id__isnull=True).update(
            checkout_request_id=response.checkout_request_id,
            merchant_request_id=response.merchant_request_id,
            sent_at=timezone.now(),
        )
    payment.refresh_from_db()
    return payment


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
    return f"APP{member.pk}"[:12]


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
    actor=None,
    completed_at: datetime.datetime | None = None,
) -> bool:
    """Mark the payment completed and apply its effects, once. Returns False when it already was.

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
        transaction.on_commit(lambda: _notify_completed(completed.pk), robust=True)
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


def _notify_completed(payment_id: int) -> None:
    # One message to the broker here; the worker renders and queues the email and SMS.
    task_queue("payments.notify_payment_completed", payment_id)


def payment_completed_notify(payment_id: int) -> None:
    payment = Payment.objects.select_related("member__user", "member__category").get(pk=payment_id)
    notify_member(
        payment.member,
        event="payment_received",
        context={
            "payment": payment,
            "receipt_url": settings.SITE_URL.rstrip("/") + reverse("payments:receipt", args=[payment.reference]),
        },
        dedupe_key_base=f"payment_received:{payment.pk}",
    )


def _fail(payment: Payment, *, code: str, description: str, source: str) -> bool:
    status = Status.CANCELLED if code == result_codes.CANCELLED_BY_USER else Status.FAILED
    failed = payment_transition(
        payment=payment,
        to=status,
        source=source,
        audit_data={"code": code, "description": description[:255], "source": source},
        result_code=code,
        result_description=description[:255],
    )
    if failed and source != Source.PUSH:
        transaction.on_commit(lambda: _notify_failed(payment.pk), robust=True)
    return failed


def _notify_failed(payment_id: int) -> None:
    task_queue("payments.notify_payment_failed", payment_id)


def payment_failed_notify(payment_id: int) -> None:
    payment = Payment.objects.select_related("member__user", "member__category").get(pk=payment_id)
    notify_member(
        payment.member,
        event="payment_failed",
        context={"payment": payment, "reason": payment_failure_reason(payment)},
        dedupe_key_base=f"payment_failed:{payment.pk}",
    )


def payment_failure_reason(payment: Payment) -> str:
    """Plain words for the member: why this payment did not go through."""
    if payment.status == Status.TIMEOUT:
        return "We did not hear back from M-Pesa in time. If money left your account, it will be credited."
    if payment.result_code:
        return member_message(payment.result_code)
    return payment.result_description or "The payment did not go through."


def payment_timeout(payment: Payment) -> bool:
    return payment_transition(
        payment=payment, to=Status.TIMEOUT, source=Source.RECONCILIATION, audit_data={"code": "timeout"}
    )


# --- Callbacks --------------------------------------------------------------------------------------------


def callback_receive(*, token: str, body: bytes, headers: dict, source_ip: str | None) -> MpesaCallback:
    """Store the delivery exactly as it came, before anything else can go wrong."""
    return MpesaCallback.objects.create(
        url_token=token[:64],
        body=body.decode("utf-8", errors="replace"),
        headers=headers,
        source_ip=source_ip,
    )


def callback_process(callback: MpesaCallback) -> str:
    """Apply one stored callback; idempotent, so replaying a stored callback is safe."""
    try:
        outcome, detail, payment = _apply_callback(callback)
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
        try:
            applied = payment_complete(
                payment=payment,
                mpesa_receipt_number=parsed.receipt_number,
                result_code=parsed.result_code,
                result_description=parsed.result_description,
                source=Source.CALLBACK,
            )
        except MpesaReceiptAlreadyUsed as reuse:
            return _reject(callback, str(reuse), payment)
        if applied:
            return MpesaCallback.Outcome.APPLIED, "completed", payment
        return MpesaCallback.Outcome.DUPLICATE, "already completed", payment

    if parsed.outcome is Outcome.PENDING:
        return MpesaCallback.Outcome.IGNORED, f"not final ({parsed.result_code})", payment
    if _fail(payment, code=parsed.result_code, description=parsed.result_description, source=Source.CALLBACK):
        return MpesaCallback.Outcome.APPLIED, f"failed ({parsed.result_code})", payment
    payment.refresh_from_db()
    if payment.status == Status.COMPLETED:
        security_logger.warning("Failure callback for completed payment %s ignored", payment.pk)
        return MpesaCallback.Outcome.IGNORED, "failure after completion", payment
    return MpesaCallback.Outcome.DUPLICATE, "already final", payment


def _source_ip_problem(ip: str | None) -> str:
    if settings.MPESA_CALLBACK_IP_CHECK == "off":
        return ""
    if ip in settings.MPESA_CALLBACK_ALLOWED_IPS:
        return ""
    return f"source address {ip} is not on the Safaricom allow-list"


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
        _reconcile_one(payment, client=client, oldest=oldest, summary=summary)
    return summary


def _reconcile_one(payment: Payment, *, client, oldest, summary: ReconcileSummary) -> None:
    if payment.checkout_request_id:
        try:
            result = client.stk_query(payment.checkout_request_id)
        except DarajaError as error:
            logger.error("Status query for payment %s failed: %r", payment.pk, error)
            summary.errors += 1
            result = None
        if result is not None and result.outcome is Outcome.PAID:
            if payment_complete(
                payment=payment,
                result_code=result.result_code or result_codes.PAID,
                result_description=result.result_description,
                source=Source.QUERY,
            ):
                summary.completed += 1
            return
        if result is not None and result.outcome is Outcome.FAILED:
            code = result.result_code or ""
            if _fail(payment, code=code, description=result.result_description, source=Source.QUERY):
                summary.failed += 1
            return
    if payment.created_at < oldest:
        if payment_timeout(payment):
            summary.timed_out += 1
            transaction.on_commit(lambda: _notify_failed(payment.pk), robust=True)
        return
    summary.still_pending += 1


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
