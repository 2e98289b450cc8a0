"""Paybill and Till payments (C2B): Daraja's confirmations and validations, stored first, then parsed.

Like an STK callback, a delivery is stored raw in its own transaction before anything can go wrong
(`c2b_receive`), then parsed and checked (`c2b_process`): the shortcode must be ours
(MPESA_C2B_SHORTCODE), the amount a positive number of shillings given as text or an integer, every field
of the type Daraja sends; a TransID (the M-Pesa receipt) is owned by one confirmation only (a partial unique
constraint: every copy is stored as a duplicate, whatever the timing) and never by a confirmation when an
STK payment already holds it as its receipt. When the database cannot store a confirmation it goes to the
callback spool (core.spool) and `payments.services.callback_spool_replay` stores and processes it later
(QUALITY check 23). Matching a confirmation to a member (members.account_match) is wired after this.

Daraja's wire format: ../shared/daraja.md section 7. What the endpoints answer is in payments.c2b_views.
"""

from __future__ import annotations

import datetime
import hmac
import json
import logging
import re
import zoneinfo
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from members.account_match import account_exists
from mpesa import config as mpesa_config
from mpesa.client import C2B_FORBIDDEN_URL_WORDS, C2B_RESPONSE_TYPES, C2B_VERSIONS, C2bRegistration

from .models import C2BConfirmation, Payment
from .spooled import spool_open, spooled_row_store

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("security")

Kind = C2BConfirmation.Kind
Status = C2BConfirmation.Status

SPOOL_C2B = "c2b_confirmation"
# A stored delivery still unparsed this long after it came (its request died with the database) is
# processed by c2b_backlog_process.
STORED_RETRY_SECONDS = 30

# Daraja's validation result codes (daraja.md 7.4).
INVALID_ACCOUNT = "C2B00012"
INVALID_SHORTCODE = "C2B00015"

EAT = zoneinfo.ZoneInfo("Africa/Nairobi")
TRANS_ID = re.compile(r"^[A-Z0-9]{6,20}$")
AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")
SHORTCODE = re.compile(r"^[0-9]{5,8}$")
TRANS_TIME = re.compile(r"^[0-9]{14}$")
MAX_AMOUNT = Decimal("999999999")


class MalformedC2B(ValueError):
    """The body is not a C2B payload of Daraja's shape and types."""


@dataclass(frozen=True)
class C2BPayload:
    trans_id: str
    trans_type: str
    trans_time: datetime.datetime | None
    amount: Decimal
    business_short_code: str
    bill_ref_number: str
    invoice_number: str
    org_account_balance: str
    third_party_trans_id: str
    msisdn: str
    first_name: str
    middle_name: str
    last_name: str


def _field(body: dict, key: str) -> str:
    """An optional text field: a string (or absent/null, read as ""); anything else is malformed."""
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedC2B(f"{key} is a {type(value).__name__}, not text")
    if "\x00" in value:
        raise MalformedC2B(f"{key} holds a NUL byte")
    return value.strip()


def _number_text(body: dict, key: str) -> str:
    """Text Daraja sends as a string; an integer is taken too (some proxies re-encode), never a bool or float."""
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _field(body, key)


def _text(value: str, model_field: str) -> str:
    return value[: C2BConfirmation._meta.get_field(model_field).max_length]


def parse_c2b(body: str) -> C2BPayload:
    """Daraja's C2B payload (daraja.md 7.3), checked for shape and types; raises MalformedC2B."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedC2B(f"not JSON ({type(error).__name__})") from None
    if not isinstance(data, dict):
        raise MalformedC2B("not a JSON object")
    trans_id = _field(data, "TransID").upper()
    if not TRANS_ID.match(trans_id):
        raise MalformedC2B("TransID missing or not a receipt number")
    amount_text = _number_text(data, "TransAmount")
    if not AMOUNT.match(amount_text):
        raise MalformedC2B("TransAmount is not an amount")
    try:
        amount = Decimal(amount_text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise MalformedC2B("TransAmount is not an amount") from None
    if not (0 < amount <= MAX_AMOUNT):
        raise MalformedC2B("TransAmount is not positive")
    short_code = _number_text(data, "BusinessShortCode")
    if not SHORTCODE.match(short_code):
        raise MalformedC2B("BusinessShortCode is not a shortcode")
    trans_time_text = _number_text(data, "TransTime")
    trans_time = None
    if trans_time_text:
        if not TRANS_TIME.match(trans_time_text):
            raise MalformedC2B("TransTime is not YYYYMMDDHHmmss")
        try:
            trans_time = datetime.datetime.strptime(trans_time_text, "%Y%m%d%H%M%S").replace(tzinfo=EAT)
        except ValueError:
            raise MalformedC2B("TransTime is not a date") from None
    return C2BPayload(
        trans_id=trans_id,
        trans_type=_text(_field(data, "TransactionType"), "trans_type"),
        trans_time=trans_time,
        amount=amount,
        business_short_code=short_code,
        bill_ref_number=_text(_field(data, "BillRefNumber"), "bill_ref_number"),
        invoice_number=_text(_field(data, "InvoiceNumber"), "invoice_number"),
        org_account_balance=_text(_number_text(data, "OrgAccountBalance"), "org_account_balance"),
        third_party_trans_id=_text(_field(data, "ThirdPartyTransID"), "third_party_trans_id"),
        # Hashed (v1) or masked (v2), kept as delivered: the payer's number cannot be recovered from it.
        msisdn=_text(_number_text(data, "MSISDN"), "msisdn"),
        first_name=_text(_field(data, "FirstName"), "first_name"),
        middle_name=_text(_field(data, "MiddleName"), "middle_name"),
        last_name=_text(_field(data, "LastName"), "last_name"),
    )


# --- Settings ---------------------------------------------------------------------------------------------


def c2b_enabled() -> bool:
    """C2B is on when a shortcode and a URL secret are configured (payments.checks wants a long secret)."""
    return bool(settings.MPESA_C2B_SHORTCODE and settings.MPESA_C2B_URL_SECRET)


def c2b_url_secret_matches(secret: str) -> bool:
    """The secret segment of a C2B URL, compared in constant time; always False while C2B is off."""
    if not c2b_enabled():
        return False
    return hmac.compare_digest(secret.encode(), str(settings.MPESA_C2B_URL_SECRET).encode())


def _validation_account_known(bill_ref: str, *, msisdn: str = "") -> bool:
    """Whether the account the payer typed names a member (validation refuses others with C2B00012): one
    indexed lookup (members.account_match.account_exists). A Till payment carries no account: it is accepted,
    and matching (the payer's hashed phone) or Finance places it after the confirmation."""
    if not (bill_ref or "").strip():
        return True
    try:
        return account_exists(bill_ref, msisdn=msisdn)
    except DatabaseError:
        # The database is down: refusing would turn away real money; the confirmation is kept (spooled) and
        # matched once the database is back.
        logger.warning("C2B validation accepted without looking up the account: the database is unavailable")
        return True


def c2b_validation_answer(payload: C2BPayload | None) -> tuple[str, str]:
    """(ResultCode, why) for a validation request: "0" accepts. With MPESA_C2B_VALIDATION off everything is
    accepted; on, a wrong shortcode is C2B00015 and an unknown account C2B00012. A body we cannot read is
    accepted: the confirmation that follows is checked (and rejected) on its own, and refusing real money
    because of our own parsing would cost the payer a failed payment."""
    if not settings.MPESA_C2B_VALIDATION or payload is None:
        return "0", "accepted"
    if payload.business_short_code != settings.MPESA_C2B_SHORTCODE:
        return INVALID_SHORTCODE, f"wrong shortcode {payload.business_short_code}"
    if not _validation_account_known(payload.bill_ref_number, msisdn=payload.msisdn):
        return INVALID_ACCOUNT, "unknown account"
    return "0", "accepted"


# --- Storing and processing -------------------------------------------------------------------------------


def _body_text(body: bytes) -> str:
    # PostgreSQL text cannot hold NUL: the stored copy shows it as U+FFFD (the parser refuses it anyway).
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def c2b_receive(*, kind: str, body: bytes, headers: dict, source_ip: str | None) -> C2BConfirmation:
    """Store the delivery exactly as it came, before anything else can go wrong."""
    return C2BConfirmation.objects.create(kind=kind, body=_body_text(body), headers=headers, source_ip=source_ip)


def c2b_process(delivery: C2BConfirmation) -> str:
    """Parse and check a stored delivery that is not parsed yet; returns its status. Idempotent: every write
    is a compare-and-set on "received and not processed", so processing one row twice changes it once."""
    now = timezone.now()
    unprocessed = C2BConfirmation.objects.filter(pk=delivery.pk, status=Status.RECEIVED, processed_at__isnull=True)
    try:
        payload = parse_c2b(delivery.body)
    except MalformedC2B as error:
        return _c2b_reject(unprocessed, delivery, f"malformed: {error}", {}, now)
    fields = asdict(payload)
    ip_problem = _source_ip_problem(delivery.source_ip)
    if ip_problem and settings.MPESA_CALLBACK_IP_CHECK == "enforce":
        return _c2b_reject(unprocessed, delivery, ip_problem, fields, now)
    if ip_problem:
        security_logger.warning("C2B %s %s: %s (log-only mode)", delivery.kind, delivery.pk, ip_problem)
    if payload.business_short_code != settings.MPESA_C2B_SHORTCODE:
        return _c2b_reject(unprocessed, delivery, f"wrong shortcode {payload.business_short_code}", fields, now)
    if delivery.kind == Kind.VALIDATION:
        code, why = c2b_validation_answer(payload)
        unprocessed.update(**fields, detail=f"validation: {code} {why}"[:255], processed_at=now)
        return Status.RECEIVED
    stk_payment = Payment.objects.filter(mpesa_receipt_number=payload.trans_id).values_list("pk", flat=True).first()
    if stk_payment is not None:
        detail = f"TransID {payload.trans_id} is already the M-Pesa receipt of STK payment {stk_payment}"
        return _c2b_reject(unprocessed, delivery, detail, fields, now)
    try:
        with transaction.atomic():
            changed = unprocessed.update(
                **fields, status=Status.RECEIVED, detail="waiting for matching", processed_at=now
            )
    except IntegrityError:
        # Another confirmation owns this TransID (the partial unique constraint): this one is a copy.
        owner = (
            C2BConfirmation.objects.filter(kind=Kind.CONFIRMATION, trans_id=payload.trans_id)
            .exclude(status__in=C2BConfirmation.NOT_OWNING)
            .values_list("pk", flat=True)
            .first()
        )
        unprocessed.update(
            **fields, status=Status.DUPLICATE, detail=f"TransID already received (row {owner})", processed_at=now
        )
        logger.info("C2B confirmation %s: duplicate TransID %s", delivery.pk, payload.trans_id)
        return Status.DUPLICATE
    if not changed:
        return C2BConfirmation.objects.values_list("status", flat=True).get(pk=delivery.pk)
    return Status.RECEIVED


def _source_ip_problem(ip: str | None) -> str:
    """As for STK callbacks (MPESA_CALLBACK_IP_CHECK, MPESA_CALLBACK_ALLOWED_IPS): off, log or enforce."""
    if settings.MPESA_CALLBACK_IP_CHECK == "off" or ip in settings.MPESA_CALLBACK_ALLOWED_IPS:
        return ""
    return f"source address {ip} is not on the Safaricom allow-list"


def _c2b_reject(unprocessed, delivery: C2BConfirmation, detail: str, fields: dict, now) -> str:
    if not unprocessed.update(**fields, status=Status.REJECTED, detail=detail[:255], processed_at=now):
        return C2BConfirmation.objects.values_list("status", flat=True).get(pk=delivery.pk)
    security_logger.warning("Rejected C2B %s %s from %s: %s", delivery.kind, delivery.pk, delivery.source_ip, detail)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        target=delivery,
        data={
            "event": "c2b_rejected",
            "kind": delivery.kind,
            "c2b": delivery.pk,
            "trans_id": fields.get("trans_id") or "",
            "detail": detail,
            "ip": delivery.source_ip,
        },
    )
    return Status.REJECTED


def c2b_backlog_process(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Process stored deliveries nobody processed (their request died with the database); returns how many."""
    now = now or timezone.now()
    waiting = list(
        C2BConfirmation.objects.filter(
            status=Status.RECEIVED,
            processed_at__isnull=True,
            received_at__lt=now - datetime.timedelta(seconds=STORED_RETRY_SECONDS),
        ).order_by("received_at")[:limit]
    )
    for delivery in waiting:
        c2b_process(delivery)
    if waiting:
        logger.warning("Processed %d stored C2B deliveries left unprocessed", len(waiting))
    return len(waiting)


# --- The spool (QUALITY check 23) -------------------------------------------------------------------------


def c2b_spool(*, body: bytes, headers: dict, source_ip: str | None) -> str:
    """Keep a confirmation the database could not store on local disk (the callback spool); returns its id.

    Raises (OSError, core.spool.SpoolFull) when it could not be kept: then it must not be answered "Accepted".
    """
    return spool_open().put(
        {
            "kind": SPOOL_C2B,
            "body": _body_text(body),
            "headers": headers,
            "source_ip": source_ip,
            "received_at": timezone.now().isoformat(),
        }
    )


def c2b_spooled_store(spool_id: str, record: dict) -> tuple[C2BConfirmation, bool]:
    """The row for a spooled confirmation: (row, True) when stored now, (existing row, False) when it already
    was (the spool id is unique, so a file replayed twice is stored once). Raises OperationalError while the
    database is still down."""
    return spooled_row_store(
        C2BConfirmation,
        spool_id=spool_id,
        record=record,
        audit_event="c2b_recovered_from_spool",
        audit_key="c2b",
        kind=Kind.CONFIRMATION,
        body=str(record.get("body") or ""),
        headers=record.get("headers") or {},
        source_ip=record.get("source_ip") or None,
    )


def c2b_process_safely(delivery: C2BConfirmation) -> str:
    """c2b_process for callers that must not fail (views, replay): a database error leaves the row unprocessed
    for c2b_backlog_process; anything else is logged and leaves it too."""
    try:
        return c2b_process(delivery)
    except (OperationalError, InterfaceError):
        logger.exception("Processing C2B delivery %s interrupted by the database; left to retry", delivery.pk)
    except Exception:
        logger.exception("Processing C2B delivery %s failed; left to retry", delivery.pk)
    return Status.RECEIVED


# --- Registering the URLs with Daraja ---------------------------------------------------------------------


class C2BRegistrationRefused(ValueError):
    """The C2B URLs cannot be registered as configured (C2B off, a forbidden word, plain http in production)."""


def c2b_urls(*, base_url: str) -> tuple[str, str]:
    """The (confirmation, validation) URLs Daraja posts to, under `base_url`, with the URL secret in them."""
    secret = settings.MPESA_C2B_URL_SECRET
    base = base_url.rstrip("/")
    return (
        base + reverse("c2b_confirmation", kwargs={"secret": secret}),
        base + reverse("c2b_validation", kwargs={"secret": secret}),
    )


def c2b_mask_url(url: str) -> str:
    """A C2B URL without its secret, to print or log."""
    secret = settings.MPESA_C2B_URL_SECRET
    return url.replace(secret, "********") if secret else url


def c2b_register_urls(*, base_url: str, version: str, response_type: str, client=None) -> C2bRegistration:
    """Register the confirmation and validation URLs for MPESA_C2B_SHORTCODE with Daraja; returns its answer.

    Refused before calling Daraja (C2BRegistrationRefused) when C2B is off, a URL holds a word Daraja refuses
    in C2B URLs (mpesa, safaricom, exec, sql, query...: daraja.md 7.1) or, in production, is not https.
    Daraja's own refusals are DarajaError (e.g. 500.003.1001 "Urls are already registered")."""
    if not c2b_enabled():
        raise C2BRegistrationRefused("C2B is off: set MPESA_C2B_SHORTCODE and MPESA_C2B_URL_SECRET.")
    if response_type not in C2B_RESPONSE_TYPES:
        raise C2BRegistrationRefused(
            f"The ResponseType must be {' or '.join(C2B_RESPONSE_TYPES)}, not {response_type!r}."
        )
    if version not in C2B_VERSIONS:
        raise C2BRegistrationRefused(f"The C2B API version must be {' or '.join(C2B_VERSIONS)}, not {version!r}.")
    urls = c2b_urls(base_url=base_url)
    for url in urls:
        forbidden = [word for word in C2B_FORBIDDEN_URL_WORDS if word in url.lower()]
        if forbidden:
            raise C2BRegistrationRefused(
                f"Daraja refuses C2B URLs containing {', '.join(forbidden)}: {c2b_mask_url(url)} (change "
                "MPESA_C2B_URL_BASE, or the secret if the word is in it)."
            )
        if mpesa_config.mpesa_environment() == "production" and urlsplit(url).scheme != "https":
            raise C2BRegistrationRefused(f"Production C2B URLs must be https: {c2b_mask_url(url)}.")
    registration = (client or mpesa_config.get_client()).register_c2b_urls(
        confirmation_url=urls[0],
        validation_url=urls[1],
        response_type=response_type,
        version=version,
        shortcode=settings.MPESA_C2B_SHORTCODE,
    )
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        data={
            "event": "c2b_urls_registered",
            "shortcode": settings.MPESA_C2B_SHORTCODE,
            "version": version,
            "response_type": response_type,
            "confirmation_url": c2b_mask_url(urls[0]),
            "validation_url": c2b_mask_url(urls[1]),
            "response_code": registration.response_code,
        },
    )
    return registration
