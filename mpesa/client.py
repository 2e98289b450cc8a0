"""A small client for Safaricom's M-Pesa Daraja API: OAuth, STK push, STK query, C2B URL registration.

It takes and returns small dataclasses and knows nothing of our models. Every HTTP request goes through
``DarajaClient._send`` (the one seam). Errors are ``mpesa.errors.DarajaError`` subclasses carrying
``permanent``; bad input is refused with ``ValueError`` before anything is sent.

Retry policy: the client retries exactly one thing by itself, a request whose bearer token Daraja refused
(drop the cached token, fetch a new one, send once more). Everything else is raised for the caller to
schedule, because Daraja has no idempotency: re-sending an STK push can prompt, and charge, twice.

Secrets stay out of logs: the passkey, consumer secret, tokens and the Password are never logged, and
phone numbers are logged masked (2547****5678). Spec: daraja.md sections 1-6 and 9.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import requests

from mpesa import result_codes
from mpesa.errors import (
    DarajaAuthError,
    DarajaError,
    DarajaTimeout,
    DarajaTokenRejected,
    DarajaUnavailable,
    error_from_response,
)
from mpesa.result_codes import Outcome

logger = logging.getLogger("mpesa")

EAT = ZoneInfo("Africa/Nairobi")

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"  # noqa: S105 (public)

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = (PAYBILL, BUY_GOODS)

PHONE_PATTERN = re.compile(r"^254(7|1)\d{8}$")
MAX_AMOUNT = 250_000  # KES per transaction (daraja.md 3.1)
ACCOUNT_REFERENCE_MAX = 12
ACCOUNT_REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,11}$")
TRANSACTION_DESC_MAX = 13
C2B_RESPONSE_TYPES = ("Completed", "Cancelled")
C2B_VERSIONS = ("v1", "v2")
# Daraja refuses C2B URLs containing these words, in any case (daraja.md 7.1).
C2B_FORBIDDEN_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")

TOKEN_EXPIRY_MARGIN_SECONDS = 60
DEFAULT_TIMEOUT = (5.0, 30.0)


class Cache(Protocol):
    """The part of Django's cache API the client uses, so a dict-backed stand-in works in tests."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: float | None = None) -> Any: ...

    def delete(self, key: str) -> Any: ...


class MemoryCache:
    """A process-local cache for scripts and tests; production passes Django's shared cache."""

    def __init__(self):
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            value, expires_at = self._data.get(key, (default, None))
            if expires_at is not None and expires_at <= time.monotonic():
                del self._data[key]
                return default
            return value

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        with self._lock:
            self._data[key] = (value, None if timeout is None else time.monotonic() + timeout)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


@dataclass(frozen=True)
class StkPushRequest:
    phone: str  # 2547XXXXXXXX or 2541XXXXXXXX; normalise before building the request
    amount: int  # whole shillings
    account_reference: str  # at most 12 characters, shown on the member's prompt
    description: str  # TransactionDesc; cut to 13 characters
    callback_url: str


@dataclass(frozen=True)
class StkPushResponse:
    """Daraja accepted the push: a prompt is on its way. This is not a payment."""

    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str


@dataclass(frozen=True)
class StkQueryResult:
    checkout_request_id: str
    result_code: str | None  # None while pending or when Daraja gave no answer this time
    result_description: str
    pending: bool
    outcome: Outcome
    merchant_request_id: str | None = None
    # The transient error that made this answer "pending" instead of a result, for logs and backoff.
    error: DarajaError | None = field(default=None, compare=False)

    @property
    def member_message(self) -> str:
        return result_codes.member_message(self.result_code if not self.pending else result_codes.STILL_PROCESSING)


@dataclass(frozen=True)
class C2bRegistration:
    originator_conversation_id: str | None
    response_code: str
    response_description: str


@dataclass(frozen=True)
class _HttpAnswer:
    status: int
    body: Any  # decoded JSON, or None when the body was not JSON
    text: str


def mask_phone(phone: Any) -> str:
    """2547****5678: enough to tell numbers apart in logs, not enough to call anyone."""
    text = str(phone or "")
    if len(text) <= 8:
        return "*" * len(text)
    return f"{text[:4]}{'*' * (len(text) - 8)}{text[-4:]}"


def eat_timestamp(moment: datetime) -> str:
    """Daraja's ``YYYYMMDDHHmmss`` in East Africa Time, whatever zone the server runs in."""
    if moment.tzinfo is None:
        raise ValueError("The clock must return an aware datetime.")
    return moment.astimezone(EAT).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    """base64(shortcode + passkey + timestamp); the same timestamp must be sent as ``Timestamp``."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


def validate_phone(phone: Any) -> str:
    if not isinstance(phone, str) or not PHONE_PATTERN.fullmatch(phone):
        raise ValueError(f"Phone must look like 2547XXXXXXXX or 2541XXXXXXXX, got {mask_phone(phone)!r}.")
    return phone


def validate_amount(amount: Any) -> int:
    # bool is an int subclass; Decimal and float are refused because Daraja takes whole shillings only.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"Amount must be a whole number of shillings (int), got {type(amount).__name__}.")
    if not 1 <= amount <= MAX_AMOUNT:
        raise ValueError(f"Amount must be between 1 and {MAX_AMOUNT} shillings, got {amount}.")
    return amount


def validate_account_reference(reference: Any) -> str:
    """Refused rather than cut: it is the only label the member sees on the prompt, and two references
    cut to the same 12 characters would look like the same bill."""
    if not isinstance(reference, str) or not ACCOUNT_REFERENCE_PATTERN.fullmatch(reference):
        raise ValueError(
            f"AccountReference must be 1-{ACCOUNT_REFERENCE_MAX} letters, digits, spaces or . _ / -, got {reference!r}."
        )
    return reference


def clean_description(description: Any) -> str:
    """TransactionDesc is cut to 13 characters: it is cosmetic, and refusing it would fail a payment
    over wording. Blank becomes "Payment" because some gateways reject an empty value."""
    text = re.sub(r"\s+", " ", str(description or "")).strip()
    return text[:TRANSACTION_DESC_MAX].rstrip() or "Payment"


def validate_url(url: Any, field_name: str) -> str:
    # Stray whitespace is a classic cause of "Invalid CallBackURL" (daraja.md 3.1).
    if not isinstance(url, str) or not re.fullmatch(r"https?://\S+", url):
        raise ValueError(f"{field_name} must be an http(s) URL without spaces, got {url!r}.")
    return url


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class DarajaClient:
    """One Daraja app (consumer key/secret) and one shortcode/passkey pair."""

    def __init__(
        self,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        shortcode: str | int,
        passkey: str,
        transaction_type: str = PAYBILL,
        party_b: str | int | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        cache: Cache | None = None,
        clock: Callable[[], datetime] = _utc_now,
        session: requests.Session | None = None,
    ):
        if transaction_type not in TRANSACTION_TYPES:
            raise ValueError(f"transaction_type must be one of {TRANSACTION_TYPES}, got {transaction_type!r}.")
        self.base_url = base_url.strip().rstrip("/")
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.shortcode = str(shortcode)
        self._passkey = passkey
        self.transaction_type = transaction_type
        # For tills, BusinessShortCode is the store/HO number and PartyB the till (daraja.md 3.1).
        self.party_b = str(party_b) if party_b not in (None, "") else self.shortcode
        self.timeout = timeout
        self.cache: Cache = cache if cache is not None else MemoryCache()
        self.clock = clock
        self.session = session or requests.Session()
        # Hashed so the key is safe for memcached and does not spell out the consumer key.
        digest = hashlib.sha256(f"{self.base_url}|{consumer_key}".encode()).hexdigest()[:32]
        self.token_cache_key = f"mpesa:token:{digest}"

    def __repr__(self) -> str:
        return f"DarajaClient(base_url={self.base_url!r}, shortcode={self.shortcode!r})"

    # --- OAuth -----------------------------------------------------------------------------------------

    def get_token(self) -> str:
        """A bearer token, from the shared cache while it has more than a minute left."""
        cached = self.cache.get(self.token_cache_key)
        if isinstance(cached, dict) and cached.get("expires_at", 0) > self.clock().timestamp():
            return cached["access_token"]
        return self._fetch_token()

    def _fetch_token(self) -> str:
        answer = self._send(
            "GET",
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(self.consumer_key, self._consumer_secret),
        )
        body = answer.body if isinstance(answer.body, dict) else {}
        token = body.get("access_token")
        if answer.status != 200 or not isinstance(token, str) or not token:
            error = error_from_response(answer.status, answer.body, answer.text)
            if error.permanent and type(error) is not DarajaAuthError:
                # Whatever shape the refusal came in (an empty 400, a 401), OAuth refused our credentials.
                error = DarajaAuthError(
                    error.message, code=error.code, http_status=error.http_status, request_id=error.request_id
                )
            logger.warning("Daraja OAuth failed: %s (HTTP %s)", error, answer.status)
            raise error
        try:
            # Seen as the number 3599 and as the string "3599" (daraja.md 2).
            expires_in = int(float(body.get("expires_in", 3599)))
        except (TypeError, ValueError):
            expires_in = 3599
        lifetime = max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, 0)
        if lifetime > 0:
            expires_at = self.clock().timestamp() + lifetime
            self.cache.set(self.token_cache_key, {"access_token": token, "expires_at": expires_at}, lifetime)
        logger.info("Daraja OAuth token fetched, valid %s s", expires_in)
        return token

    def _forget_token(self, token: str) -> None:
        # Only drop the token we used: another worker may already have cached a fresh one.
        cached = self.cache.get(self.token_cache_key)
        if isinstance(cached, dict) and cached.get("access_token") == token:
            self.cache.delete(self.token_cache_key)

    # --- STK push and query ----------------------------------------------------------------------------

    def stk_push(self, request: StkPushRequest) -> StkPushResponse:
        """Ask Daraja to prompt the member's phone. Success means "accepted", never "paid"."""
        phone = validate_phone(request.phone)
        amount = validate_amount(request.amount)
        reference = validate_account_reference(request.account_reference)
        callback_url = validate_url(request.callback_url, "callback_url")
        timestamp = eat_timestamp(self.clock())
        payload = {
            "BusinessShortCode": self.shortcode,
            "Password": stk_password(self.shortcode, self._passkey, timestamp),
            "Timestamp": timestamp,
            "TransactionType": self.transaction_type,
            "Amount": amount,
            "PartyA": phone,
            "PartyB": self.party_b,
            "PhoneNumber": phone,
            "CallBackURL": callback_url,
            "AccountReference": reference,
            "TransactionDesc": clean_description(request.description),
        }
        try:
            answer = self._call("/mpesa/stkpush/v1/processrequest", payload)
        except DarajaError as error:
            logger.warning(
                "STK push to %s for KES %s failed: %s (permanent=%s)", mask_phone(phone), amount, error, error.permanent
            )
            raise
        body = answer.body
        checkout_request_id = _text(body.get("CheckoutRequestID"))
        response_code = _text(body.get("ResponseCode"))
        if response_code != result_codes.REQUEST_ACCEPTED or not checkout_request_id:
            error = DarajaUnavailable(
                f"STK push not accepted: ResponseCode {response_code!r}, "
                f"{_text(body.get('ResponseDescription')) or 'no description'}",
                code=response_code or None,
                http_status=answer.status,
            )
            logger.warning("STK push to %s for KES %s not accepted: %s", mask_phone(phone), amount, error)
            raise error
        response = StkPushResponse(
            merchant_request_id=_text(body.get("MerchantRequestID")),
            checkout_request_id=checkout_request_id,
            response_code=response_code,
            response_description=_text(body.get("ResponseDescription")),
            customer_message=_text(body.get("CustomerMessage")),
        )
        logger.info("STK push accepted: checkout=%s phone=%s amount=%s", checkout_request_id, mask_phone(phone), amount)
        return response

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """Where an STK payment stands. A query problem is never an answer: anything short of a final
        ResultCode comes back pending, so only the table in result_codes decides paid or failed.

        Permanent errors (wrong passkey, unknown shortcode, a refused fresh token) are raised, because
        they will not clear up by waiting and someone has to fix the configuration.
        """
        if not isinstance(checkout_request_id, str) or not checkout_request_id.strip():
            raise ValueError("checkout_request_id must be a non-empty string.")
        timestamp = eat_timestamp(self.clock())
        payload = {
            "BusinessShortCode": self.shortcode,
            "Password": stk_password(self.shortcode, self._passkey, timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        }
        try:
            answer = self._call("/mpesa/stkpushquery/v1/query", payload)
        except DarajaError as error:
            if error.permanent:
                logger.warning("STK query for %s failed: %s", checkout_request_id, error)
                raise
            # 500.001.1001 "being processed" / "does not Exist" / intermittent, timeouts, spike arrest.
            logger.info("STK query for %s has no answer yet: %s", checkout_request_id, error)
            return _pending(checkout_request_id, error.message, error=error)

        body = answer.body
        result_code = result_codes.normalise_code(body.get("ResultCode"))
        description = _text(body.get("ResultDesc"))
        if result_code is None:
            return _pending(checkout_request_id, description or _text(body.get("ResponseDescription")))
        entry = result_codes.lookup(result_code)
        if entry.outcome is Outcome.PENDING:
            return _pending(checkout_request_id, description, result_code=result_code)
        logger.info(
            "STK query for %s: ResultCode %s (%s)%s",
            checkout_request_id,
            result_code,
            entry.outcome.value,
            "" if entry.known else " -- unlisted code",
        )
        return StkQueryResult(
            checkout_request_id=_text(body.get("CheckoutRequestID")) or checkout_request_id,
            result_code=result_code,
            result_description=description,
            pending=False,
            outcome=entry.outcome,
            merchant_request_id=_text(body.get("MerchantRequestID")) or None,
        )

    # --- C2B -------------------------------------------------------------------------------------------

    def register_c2b_urls(
        self,
        confirmation_url: str,
        validation_url: str,
        response_type: str = "Completed",
        version: str = "v2",
        shortcode: str | int | None = None,
    ) -> C2bRegistration:
        """Register where Daraja posts C2B validation and confirmation for a paybill or till."""
        if response_type not in C2B_RESPONSE_TYPES:
            raise ValueError(f"response_type must be one of {C2B_RESPONSE_TYPES} (exact case), got {response_type!r}.")
        if version not in C2B_VERSIONS:
            raise ValueError(f"version must be one of {C2B_VERSIONS}, got {version!r}.")
        for name, url in (("confirmation_url", confirmation_url), ("validation_url", validation_url)):
            validate_url(url, name)
            lowered = url.lower()
            forbidden = [word for word in C2B_FORBIDDEN_URL_WORDS if word in lowered]
            if forbidden:
                raise ValueError(f"Daraja refuses C2B URLs containing {forbidden}: {name}={url!r}.")
        payload = {
            "ShortCode": str(shortcode) if shortcode not in (None, "") else self.shortcode,
            "ResponseType": response_type,
            "ConfirmationURL": confirmation_url,
            "ValidationURL": validation_url,
        }
        answer = self._call(f"/mpesa/c2b/{version}/registerurl", payload)
        body = answer.body
        response_code = _text(body.get("ResponseCode"))
        if response_code != result_codes.REQUEST_ACCEPTED:
            raise DarajaUnavailable(
                f"C2B URL registration not accepted: ResponseCode {response_code!r}",
                code=response_code or None,
                http_status=answer.status,
            )
        registration = C2bRegistration(
            # Daraja misspells the key; accept the correct spelling too in case it is ever fixed.
            originator_conversation_id=_text(
                body.get("OriginatorCoversationID") or body.get("OriginatorConversationID")
            )
            or None,
            response_code=response_code,
            response_description=_text(body.get("ResponseDescription")),
        )
        logger.info("C2B URLs registered (%s) for shortcode %s", version, payload["ShortCode"])
        return registration

    # --- HTTP ------------------------------------------------------------------------------------------

    def _call(self, path: str, payload: dict[str, Any]) -> _HttpAnswer:
        """POST with a bearer token; a refused token is dropped, refreshed and the request sent once more."""
        token = self.get_token()
        answer = self._send("POST", path, json=payload, token=token)
        if _is_success(answer):
            return answer
        error = error_from_response(answer.status, answer.body, answer.text)
        if not isinstance(error, DarajaTokenRejected):
            raise error
        logger.info("Daraja refused the cached token (%s); fetching a new one and retrying once", error.code)
        self._forget_token(token)
        token = self._fetch_token()
        answer = self._send("POST", path, json=payload, token=token)
        if _is_success(answer):
            return answer
        raise error_from_response(answer.status, answer.body, answer.text)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        token: str | None = None,
    ) -> _HttpAnswer:
        """The one place that talks HTTP. Transport failures become transient DarajaErrors."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                json=json,  # json=, never data=: form-encoding gives "Invalid BusinessShortCode"
                params=params,
                auth=auth,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.ConnectTimeout as exc:
            raise DarajaTimeout(f"Timed out connecting to Daraja ({path})") from exc
        except requests.Timeout as exc:
            raise DarajaTimeout(f"Daraja did not answer in time ({path})", maybe_processed=True) from exc
        except requests.ConnectionError as exc:
            raise DarajaUnavailable(
                f"Could not reach Daraja ({path}): {type(exc).__name__}", maybe_processed=not _never_connected(exc)
            ) from exc
        except requests.RequestException as exc:
            raise DarajaUnavailable(
                f"HTTP error talking to Daraja ({path}): {type(exc).__name__}", maybe_processed=True
            ) from exc
        text = response.text
        try:
            body = response.json()
        except ValueError:
            body = None
        return _HttpAnswer(status=response.status_code, body=body, text=text)


def _is_success(answer: _HttpAnswer) -> bool:
    return answer.status == 200 and isinstance(answer.body, dict) and "errorCode" not in answer.body


def _never_connected(exc: BaseException) -> bool:
    """True when the connection was refused or the name did not resolve, so nothing reached Daraja."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ in ("NewConnectionError", "NameResolutionError", "ConnectionRefusedError"):
            return True
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


def _pending(
    checkout_request_id: str,
    description: str,
    *,
    result_code: str | None = None,
    error: DarajaError | None = None,
) -> StkQueryResult:
    return StkQueryResult(
        checkout_request_id=checkout_request_id,
        result_code=result_code,
        result_description=description,
        pending=True,
        outcome=Outcome.PENDING,
        error=error,
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
