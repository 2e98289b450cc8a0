"""Daraja's behaviour, independent of HTTP: tokens, STK transactions, callbacks, C2B, and the control verbs.

All state sits behind one lock. Network calls (callbacks) are made outside it, from worker threads, so
a slow or dead client never blocks the simulator.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import logging
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from daraja_simulator.config import SimulatorConfig
from daraja_simulator.delivery import Scheduler, Workers, post_json
from daraja_simulator.ids import EAT, Clock, IdFactory
from daraja_simulator.outcomes import (
    NAMED_OUTCOMES,
    Outcome,
    describe,
    outcome_for_phone,
    outcome_from_choice,
)

logger = logging.getLogger("daraja_simulator")

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = (PAYBILL, BUY_GOODS)

MSISDN_RE = re.compile(r"^254(7|1)\d{8}$")
SHORTCODE_RE = re.compile(r"^\d{5,7}$")
TIMESTAMP_RE = re.compile(r"^\d{14}$")
AMOUNT_RE = re.compile(r"^\d+(\.\d+)?$")
# Daraja refuses C2B URLs containing these words, in any case (daraja.md §7.1).
C2B_FORBIDDEN_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")

STK_ACCEPTED = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successsfully"  # Safaricom's typo, kept on purpose
LOCK_MESSAGE = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
PENDING_4999 = "The transaction is still under processing"
PENDING_500 = "The transaction is being processed"
SPIKE_ARREST = "Error Occurred: Spike Arrest Violation"

REQUEST_LOG_LIMIT = 1000


class DarajaError(Exception):
    """A synchronous Daraja error; HTTP status is the first segment of the code (daraja.md §1)."""

    def __init__(self, code: str, message: str, request_id: str | None = None):
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = int(code.split(".")[0])


class ControlError(Exception):
    """A mistake in a control-API call (never a Daraja response)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def bad_request(field_name: str) -> DarajaError:
    return DarajaError("400.002.02", f"Bad Request - Invalid {field_name}")


def stk_password(shortcode: str, passkey: str, timestamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode()


@dataclass
class StkTransaction:
    checkout_request_id: str
    merchant_request_id: str
    business_short_code: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone_number: str
    callback_url: str
    account_reference: str
    transaction_desc: str
    outcome: str
    created_at: str
    created_ts: float
    status: str = "pending"  # pending -> completed
    result_code: int | str | None = None
    result_desc: str | None = None  # the callback's wording
    query_result_desc: str | None = None  # the query's wording
    receipt_number: str | None = None
    transaction_date: int | None = None
    deliver_callback: bool = True
    manual: bool = False
    expires_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    callback_body: dict | None = None
    generation: int = 0

    def snapshot(self) -> dict:
        data = asdict(self)
        data.pop("generation")
        data.pop("created_ts")
        return data


@dataclass
class Token:
    value: str
    consumer_key: str
    expires_ts: float


@dataclass
class C2BRegistration:
    short_code: str
    response_type: str
    confirmation_url: str
    validation_url: str
    version: str
    registered_at: str


@dataclass
class C2BPayment:
    trans_id: str
    short_code: str
    command_id: str
    amount: int
    msisdn: str
    bill_ref_number: str
    version: str
    created_at: str
    status: str = "pending"  # pending -> confirmed | rejected | not_registered
    validation_result: str | None = None
    third_party_trans_id: str = ""
    first_name: str = "JOHN"
    middle_name: str = ""
    last_name: str = "DOE"


@dataclass
class Response:
    """What the HTTP layer writes. ``after`` runs once the response has been sent."""

    status: int
    body: object = None
    content_type: str = "application/json;charset=UTF-8"
    headers: dict = field(default_factory=dict)
    after: object = None
    drop_connection: bool = False


def error_response(exc: DarajaError, ids: IdFactory) -> Response:
    body = {"requestId": exc.request_id or ids.hex_group_id(), "errorCode": exc.code, "errorMessage": exc.message}
    return Response(exc.status, body)


# --- Field parsers: Daraja takes numbers or numeric strings for codes, amounts and phones -------------


def _as_text(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def parse_shortcode(value: object) -> str | None:
    text = _as_text(value)
    return text if text is not None and SHORTCODE_RE.match(text) else None


def parse_msisdn(value: object) -> str | None:
    text = _as_text(value)
    return text if text is not None and MSISDN_RE.match(text) else None


def parse_timestamp(value: object) -> datetime | None:
    text = _as_text(value)
    if text is None or not TIMESTAMP_RE.match(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=EAT)
    except ValueError:
        return None


def parse_amount(value: object, policy: str, maximum: int) -> int | None:
    """Whole shillings 1..maximum; decimals are refused ("Only whole numbers are supported") or truncated."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number: float | int = value
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str) and AMOUNT_RE.match(value):
        number = float(value) if "." in value else int(value)
    else:
        return None
    if isinstance(number, float):
        if number != number or number in (float("inf"), float("-inf")):
            return None
        if not number.is_integer() and policy == "reject":
            return None
        number = int(number)
    return number if 1 <= number <= maximum else None


def valid_url(value: object, strict: bool = False) -> bool:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    schemes = ("https",) if strict else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        return False
    return not (strict and value != value.lower())


def mask_msisdn(msisdn: str) -> str:
    """C2B v2 masks the payer's number, e.g. ``2547 ***** 126``."""
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


class Engine:
    def __init__(self, config: SimulatorConfig):
        config.validate()
        self.initial_config = config
        self.config = config
        self.lock = threading.RLock()
        self.clock = Clock(config.start_time, config.freeze_clock)
        self.ids = IdFactory(config.seed)
        self.scheduler = Scheduler(self.clock)
        self.workers = Workers()
        self._deliveries_changed = threading.Condition(self.lock)
        self._epoch = 0
        self._clear_state()

    def _clear_state(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.transactions: dict[str, StkTransaction] = {}
        self.deliveries: list[dict] = []
        self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_LIMIT)
        self.next_outcomes: dict[str, list[tuple[Outcome, float | None]]] = {}
        self.c2b_registrations: dict[str, C2BRegistration] = {}
        self.c2b_payments: list[C2BPayment] = []
        self.c2b_balances: dict[str, int] = {}
        self._recent_requests: deque[float] = deque()

    # --- Life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.workers.stopping.clear()
        self.scheduler.start()

    def stop(self) -> None:
        self.workers.stopping.set()
        self.scheduler.stop()
        self.workers.join(timeout=self.config.callback_timeout + 2)

    def reset(self) -> None:
        """Forget everything and return to the options the simulator was created with."""
        self.scheduler.clear()
        with self.lock:
            self.config = self.initial_config
            self.ids.reseed(self.config.seed)
            self._epoch += 1
            self._clear_state()
        self.clock.reset(self.config.start_time, self.config.freeze_clock)

    def configure(self, **changes) -> SimulatorConfig:
        with self.lock:
            new = self.config.updated(**changes)
            self.config = new
            if "seed" in changes:
                self.ids.reseed(new.seed)
        if "start_time" in changes or "freeze_clock" in changes:
            self.clock.reset(new.start_time, new.freeze_clock)
        return new

    def now_iso(self) -> str:
        return self.clock.now().isoformat(timespec="milliseconds")

    # --- Gateway behaviour: faults, rate limits, logging ----------------------------------------------

    def log_request(self, method: str, path: str, status: int, endpoint: str | None) -> None:
        with self.lock:
            self.requests.append(
                {"time": self.now_iso(), "method": method, "path": path, "endpoint": endpoint, "status": status}
            )

    def injected_fault(self, endpoint: str) -> Response | None:
        """Spike arrest, quota, 503 and resets, as Apigee produces them before Daraja sees the request."""
        with self.lock:
            cfg = self.config
            kind = None
            if cfg.fail_next > 0 and cfg.fail_only in (None, endpoint):
                self.config = cfg.updated(fail_next=cfg.fail_next - 1)
                kind = cfg.fail_with
            elif cfg.rate_limit_per_second:
                now = time.monotonic()
                while self._recent_requests and now - self._recent_requests[0] > 1.0:
                    self._recent_requests.popleft()
                if len(self._recent_requests) >= cfg.rate_limit_per_second:
                    kind = "spike_arrest"
                else:
                    self._recent_requests.append(now)
        if kind is None:
            return None
        if kind == "503":
            page = (
                "<html><body><h1>503 Service Unavailable</h1>"
                "No server is available to handle this request.</body></html>"
            )
            return Response(503, page, content_type="text/html")
        if kind == "reset":
            return Response(0, drop_connection=True)
        code, message = {
            "spike_arrest": ("500.003.02", SPIKE_ARREST),
            "system_busy": ("500.003.02", "System is busy. Please try again in few minutes."),
            "quota": ("500.003.03", "Quota Violation"),
            "internal": ("500.003.1001", "Internal Server Error"),
        }[kind]
        return error_response(DarajaError(code, message), self.ids)

    def slow_seconds(self, endpoint: str) -> float:
        cfg = self.config
        return cfg.slow_seconds if cfg.slow_seconds > 0 and cfg.slow_only in (None, endpoint) else 0.0

    # --- OAuth ---------------------------------------------------------------------------------------

    def oauth(self, grant_type: str | None, authorization: str | None) -> Response:
        cfg = self.config
        try:
            if grant_type != "client_credentials":
                raise DarajaError("400.008.02", "Invalid grant type passed")
            key = self._basic_auth_key(authorization)
        except DarajaError as exc:
            if exc.code == "400.008.01" and cfg.oauth_failure_body == "empty":
                return Response(400, "", content_type="text/plain")
            return error_response(exc, self.ids)
        with self.lock:
            if cfg.token_revokes_previous:
                for value in [v for v, t in self.tokens.items() if t.consumer_key == key]:
                    del self.tokens[value]
            token = Token(self.ids.access_token(), key, self.clock.time() + cfg.token_ttl)
            self.tokens[token.value] = token
        expires_in: int | str = cfg.token_ttl if cfg.expires_in_as_number else str(cfg.token_ttl)
        return Response(200, {"access_token": token.value, "expires_in": expires_in})

    def _basic_auth_key(self, authorization: str | None) -> str:
        invalid = DarajaError("400.008.01", "Invalid Authentication passed")
        scheme, _, encoded = (authorization or "").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise invalid
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid from None
        key, sep, secret = decoded.partition(":")
        if not sep or self.config.apps().get(key) != secret:
            raise invalid
        return key

    def check_bearer(self, authorization: str | None, api: str) -> None:
        """Stale and unknown tokens: 404.001.03 on STK, 400.003.01 on C2B (codes differ per API, §1)."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise DarajaError("404.001.04", "Invalid Authentication Header")
        with self.lock:
            token = self.tokens.get(value.strip())
            valid = token is not None and token.expires_ts > self.clock.time()
        if not valid:
            if api == "c2b":
                raise DarajaError("400.003.01", "Invalid Access Token")
            raise DarajaError("404.001.03", "Invalid Access Token")
        if self.config.app_lacks_product:
            raise DarajaError(
                "401.003.01", "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
            )

    # --- STK push ------------------------------------------------------------------------------------

    @staticmethod
    def parse_json_object(content_type: str | None, raw: bytes) -> dict | None:
        if "json" not in (content_type or "").lower():
            return None
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def _check_merchant(self, body: dict) -> tuple[str, str]:
        """Shortcode, Password and Timestamp, shared by push and query. Returns (shortcode, passkey)."""
        shortcode = parse_shortcode(body.get("BusinessShortCode"))
        if shortcode is None:
            raise bad_request("BusinessShortCode")
        if not isinstance(body.get("Password"), str) or not body["Password"]:
            raise bad_request("Password")
        moment = parse_timestamp(body.get("Timestamp"))
        if moment is None:
            raise bad_request("Timestamp")
        skew = self.config.timestamp_max_skew
        if skew is not None and abs(moment.timestamp() - self.clock.time()) > skew:
            raise bad_request("Timestamp")
        return shortcode, str(body.get("Timestamp"))

    def _check_password(self, shortcode: str, timestamp: str, password: str) -> None:
        passkey = self.config.merchants().get(shortcode)
        if passkey is None:
            raise DarajaError("500.001.1001", "Merchant does not exist")
        if password != stk_password(shortcode, passkey, timestamp):
            raise DarajaError("500.001.1001", "Wrong credentials")

    def stk_push(self, authorization: str | None, content_type: str | None, raw: bytes) -> Response:
        try:
            self.check_bearer(authorization, "stk")
            body = self.parse_json_object(content_type, raw)
            if body is None:
                # Daraja's own FAQ: a form-encoded or unparsable body reads as a bad shortcode.
                raise bad_request("BusinessShortCode")
            return self._stk_push(body)
        except DarajaError as exc:
            return error_response(exc, self.ids)

    def _stk_push(self, body: dict) -> Response:
        cfg = self.config
        shortcode, timestamp = self._check_merchant(body)
        transaction_type = body.get("TransactionType")
        if transaction_type not in TRANSACTION_TYPES:
            raise bad_request("TransactionType")
        amount = parse_amount(body.get("Amount"), cfg.decimal_amount_policy, cfg.max_amount)
        if amount is None:
            raise bad_request("Amount")
        party_a = parse_msisdn(body.get("PartyA"))
        if party_a is None:
            raise bad_request("PartyA")
        party_b = parse_shortcode(body.get("PartyB"))
        if party_b is None:
            raise bad_request("PartyB")
        phone = parse_msisdn(body.get("PhoneNumber"))
        if phone is None:
            raise bad_request("PhoneNumber")
        callback_url = body.get("CallBackURL")
        if not valid_url(callback_url, strict=cfg.strict_callback_url):
            raise bad_request("CallBackURL")
        account_reference = _as_text(body.get("AccountReference"))
        if not account_reference:
            raise bad_request("AccountReference")
        transaction_desc = _as_text(body.get("TransactionDesc")) or ""
        too_long = len(account_reference) > 12 or len(transaction_desc) > 13
        if too_long and cfg.long_field_policy == "reject":
            raise bad_request("AccountReference" if len(account_reference) > 12 else "TransactionDesc")
        self._check_password(shortcode, timestamp, body["Password"])

        with self.lock:
            locked = any(t.status == "pending" and t.phone_number == phone for t in self.transactions.values())
            if locked and cfg.lock_policy == "sync":
                raise DarajaError("500.001.1001", LOCK_MESSAGE)
            outcome, delay = self._choose_outcome(
                shortcode=shortcode,
                transaction_type=transaction_type,
                party_b=party_b,
                phone=phone,
                amount=amount,
                locked=locked and cfg.lock_policy == "callback_1001",
                too_long=too_long and cfg.long_field_policy == "callback_1025",
            )
            now = self.clock.now()
            checkout_id = self.ids.checkout_request_id(now, phone)
            while checkout_id in self.transactions:  # two pushes to one phone in the same millisecond
                now = now.replace(microsecond=(now.microsecond + 1000) % 1_000_000)
                checkout_id = self.ids.checkout_request_id(now, phone)
            txn = StkTransaction(
                checkout_request_id=checkout_id,
                merchant_request_id=self.ids.hex_group_id(),
                business_short_code=shortcode,
                transaction_type=transaction_type,
                amount=amount,
                party_a=party_a,
                party_b=party_b,
                phone_number=phone,
                callback_url=callback_url,
                account_reference=account_reference,
                transaction_desc=transaction_desc,
                outcome=outcome.name,
                created_at=now.isoformat(timespec="milliseconds"),
                created_ts=self.clock.time(),
                deliver_callback=outcome.deliver,
                manual=outcome.manual,
            )
            self.transactions[checkout_id] = txn
            response_body = {
                "MerchantRequestID": txn.merchant_request_id,
                "CheckoutRequestID": checkout_id,
                "ResponseCode": "0",
                "ResponseDescription": STK_ACCEPTED,
                "CustomerMessage": STK_ACCEPTED,
            }
            if outcome.manual:
                expiry = self.clock.time() + cfg.manual_expiry_seconds
                txn.expires_at = datetime.fromtimestamp(expiry, EAT).isoformat(timespec="milliseconds")
                self._schedule(txn, 1037, None, at=expiry, by="expiry")
                return Response(200, response_body)
            if delay > 0 and not cfg.deliver_before_response:
                self._schedule(txn, outcome.result_code, None, at=self.clock.time() + delay, by="schedule")
                return Response(200, response_body)
            # Zero delay: the outcome is final before the client sees the response, so a query made
            # right after the push already reports it. The callback follows the response.
            deliver = self._complete(txn, outcome.result_code, None, by="schedule")
        if deliver and cfg.deliver_before_response:
            # The race Daraja allows: the callback reaches the client before the push's response does.
            self._deliver_stk(checkout_id, "callback", wait_first=True)
            return Response(200, response_body)
        if not deliver:
            return Response(200, response_body)
        # The worker exists from now on (so wait_until_idle sees it) but posts only once the response is out.
        sent = threading.Event()
        self._deliver_stk(checkout_id, "callback", not_before=sent)
        return Response(200, response_body, after=sent.set)

    def _choose_outcome(
        self, *, shortcode, transaction_type, party_b, phone, amount, locked, too_long
    ) -> tuple[Outcome, float]:
        cfg = self.config
        outcome: Outcome | None = None
        delay: float | None = None
        if locked:
            outcome = Outcome("subscriber_locked", 1001)
        elif too_long:
            # The prompt text exceeds the USSD limit, so the push cannot be sent (daraja.md §6, 1025).
            outcome = Outcome("push_error", 1025)
        elif cfg.check_product_assignment and (
            mismatch := self._product_mismatch(shortcode, transaction_type, party_b)
        ):
            outcome = mismatch
        elif cfg.same_amount_window is not None and any(
            t.phone_number == phone and t.amount == amount and self.clock.time() - t.created_ts < cfg.same_amount_window
            for t in self.transactions.values()
        ):
            outcome = Outcome("rule_limited", 17)
        elif self.next_outcomes.get(phone):
            outcome, delay = self.next_outcomes[phone].pop(0)
            if not self.next_outcomes[phone]:
                del self.next_outcomes[phone]
        else:
            outcome = outcome_for_phone(phone, NAMED_OUTCOMES[cfg.default_outcome])
        if delay is None:
            delay = cfg.callback_delay
            if outcome.is_timeout and cfg.timeout_callback_delay is not None:
                delay = cfg.timeout_callback_delay
        return outcome, delay

    def _product_mismatch(self, shortcode: str, transaction_type: str, party_b: str) -> Outcome | None:
        cfg = self.config
        is_till = shortcode == cfg.shortcode and cfg.shortcode_type == "till"
        if transaction_type != (BUY_GOODS if is_till else PAYBILL):
            return Outcome("product_assignment", 2028)
        expected_party_b = (cfg.till_number or party_b) if is_till else shortcode
        if party_b != expected_party_b:
            return Outcome("operator_missing", "SFC_IC0003")
        return None

    # --- Resolution and callbacks --------------------------------------------------------------------

    def _schedule(self, txn: StkTransaction, result_code, deliver: bool | None, *, at: float, by: str, force=False):
        """Resolve ``txn`` at clock time ``at``; any later (re)scheduling cancels this one."""
        txn.generation += 1
        generation, checkout_id = txn.generation, txn.checkout_request_id

        def fire():
            with self.lock:
                current = self.transactions.get(checkout_id)
                if current is None or current.generation != generation:
                    return
                if current.status != "pending" and not force:
                    return
                send = self._complete(current, result_code, deliver, by=by)
            if send:
                self._deliver_stk(checkout_id, "callback")

        self.scheduler.at(at, fire)

    def _complete(self, txn: StkTransaction, result_code, deliver: bool | None, *, by: str) -> bool:
        """Make ``txn`` final (caller holds the lock). Returns whether a callback should go out."""
        cfg = self.config
        now = self.clock.now()
        txn.generation += 1
        txn.status = "completed"
        txn.result_code = result_code
        txn.result_desc, txn.query_result_desc = describe(result_code)
        txn.resolved_at = now.isoformat(timespec="milliseconds")
        txn.resolved_by = by
        if deliver is not None:
            txn.deliver_callback = deliver
        callback = {
            "MerchantRequestID": txn.merchant_request_id,
            "CheckoutRequestID": txn.checkout_request_id,
            "ResultCode": result_code,
            "ResultDesc": txn.result_desc,
        }
        if result_code == 0:
            txn.receipt_number = txn.receipt_number or self.ids.receipt_number(now)
            txn.transaction_date = int(now.strftime("%Y%m%d%H%M%S"))
            amount = float(txn.amount) if cfg.callback_amount_type == "float" else txn.amount
            items: list[dict] = [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": txn.receipt_number},
            ]
            if cfg.callback_balance == "no_value":
                items.append({"Name": "Balance"})
            elif cfg.callback_balance != "absent":
                items.append({"Name": "Balance", "Value": cfg.callback_balance})
            items.append({"Name": "TransactionDate", "Value": txn.transaction_date})
            items.append({"Name": "PhoneNumber", "Value": int(txn.phone_number)})
            if cfg.shuffle_metadata:
                items.sort(key=lambda _: self.ids.random())
            callback["CallbackMetadata"] = {"Item": items}
        txn.callback_body = {"Body": {"stkCallback": callback}}
        return txn.deliver_callback

    def _callback_headers(self, shortcode: str) -> dict[str, str]:
        # Header spelling as captured from the sandbox (daraja.md §4.1).
        headers = {"Content-Type": "application/json;charset=UTF-8", "Businessshortcode": shortcode}
        if self.config.forwarded_for:
            headers["X-Forwarded-For"] = self.config.forwarded_for
        return headers

    def _deliver_stk(
        self, checkout_id: str, kind: str, *, wait_first=False, copies=None, url=None, delay=0.0, not_before=None
    ):
        with self.lock:
            txn = self.transactions[checkout_id]
            body = copy.deepcopy(txn.callback_body)
            target = url or txn.callback_url
            headers = self._callback_headers(txn.business_short_code)
            cfg = self.config
        copies = cfg.callback_copies if copies is None else copies

        def send_copy(number: int) -> None:
            self._attempt_until_done(kind, target, body, headers, checkout_id=checkout_id, copy_number=number)

        def send_rest(first: int) -> None:
            if not_before is not None:
                not_before.wait(5)
            if delay > 0 and self.workers.stopping.wait(delay):
                return
            for number in range(first, copies + 1):
                if number > 1 and self.workers.stopping.wait(cfg.callback_copy_interval):
                    return
                send_copy(number)

        if wait_first:
            send_copy(1)
            if copies > 1:
                self.workers.submit(lambda: send_rest(2))
        else:
            self.workers.submit(lambda: send_rest(1))

    def _attempt_until_done(self, kind, url, body, headers, *, checkout_id=None, copy_number=1) -> dict:
        cfg = self.config
        attempts = cfg.callback_max_attempts if cfg.callback_retry_until_2xx else 1
        record: dict = {}
        for attempt in range(1, attempts + 1):
            if attempt > 1 and self.workers.stopping.wait(cfg.callback_retry_interval):
                break
            record = self._attempt(kind, url, body, headers, checkout_id, copy_number, attempt)
            if record["ok"]:
                break
        return record

    def _attempt(self, kind, url, body, headers, checkout_id, copy_number, attempt, timeout=None) -> dict:
        epoch = self._epoch
        started = self.now_iso()
        begin = time.monotonic()
        status, text, error = post_json(url, body, headers, timeout or self.config.callback_timeout)
        record = {
            "kind": kind,
            "checkout_request_id": checkout_id,
            "url": url,
            "copy": copy_number,
            "attempt": attempt,
            "time": started,
            "duration_ms": round((time.monotonic() - begin) * 1000, 1),
            "status": status,
            "ok": status is not None and 200 <= status < 300,
            "error": error,
            "request_headers": dict(headers),
            "body": body,
            "response_body": text,
        }
        with self._deliveries_changed:
            if epoch != self._epoch:  # sent before a reset: the new run must not see it
                return record
            record["id"] = len(self.deliveries) + 1
            self.deliveries.append(record)
            self._deliveries_changed.notify_all()
        logger.info("Delivered %s to %s: %s", kind, url, status if status is not None else error)
        return record

    def wait_for_deliveries(self, count: int, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._deliveries_changed:
            while len(self.deliveries) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} deliveries, got {len(self.deliveries)}")
                self._deliveries_changed.wait(remaining)
            return copy.deepcopy(self.deliveries)

    def is_idle(self) -> bool:
        return not self.scheduler.has_due_work() and not self.workers.busy()

    # --- STK query -----------------------------------------------------------------------------------

    def stk_query(self, authorization: str | None, content_type: str | None, raw: bytes) -> Response:
        try:
            self.check_bearer(authorization, "stk")
            body = self.parse_json_object(content_type, raw)
            if body is None:
                raise bad_request("BusinessShortCode")
            return self._stk_query(body)
        except DarajaError as exc:
            return error_response(exc, self.ids)

    def _stk_query(self, body: dict) -> Response:
        cfg = self.config
        shortcode, timestamp = self._check_merchant(body)
        checkout_id = body.get("CheckoutRequestID")
        if not isinstance(checkout_id, str) or not checkout_id.strip():
            raise bad_request("CheckoutRequestID")
        self._check_password(shortcode, timestamp, body["Password"])
        with self.lock:
            txn = self.transactions.get(checkout_id)
            if txn is None or txn.business_short_code != shortcode:
                raise DarajaError("500.001.1001", "The transaction does not Exist")
            # Observed: 4 of 19 polls of a finished transaction failed like this (daraja.md §5).
            if cfg.query_flaky_percent and self.ids.random() * 100 < cfg.query_flaky_percent:
                raise DarajaError("500.001.1001", PENDING_500)
            if txn.status == "pending":
                old_style = cfg.query_pending_mode == "500" or (
                    cfg.query_pending_mode == "mixed" and self.ids.random() < 0.5
                )
                if old_style:
                    raise DarajaError("500.001.1001", PENDING_500, request_id=checkout_id)
                result_code, result_desc = "4999", PENDING_4999
            elif cfg.query_disagrees and txn.result_code == 0:
                result_code, result_desc = "1037", describe(1037)[1]
            else:
                result_code, result_desc = str(txn.result_code), txn.query_result_desc
            return Response(
                200,
                {
                    "ResponseCode": "0",
                    "ResponseDescription": QUERY_ACCEPTED,
                    "MerchantRequestID": txn.merchant_request_id,
                    "CheckoutRequestID": txn.checkout_request_id,
                    "ResultCode": result_code,
                    "ResultDesc": result_desc,
                },
            )

    # --- C2B -----------------------------------------------------------------------------------------

    def _c2b_prelude(self, version: str, authorization: str | None, content_type: str | None, raw: bytes) -> dict:
        self.check_bearer(authorization, "c2b")
        wanted = self.config.c2b_api_version
        if wanted is not None and wanted != version:
            raise DarajaError(
                "401.003.01", "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
            )
        body = self.parse_json_object(content_type, raw)
        if body is None:
            raise DarajaError("400.002.05", "Invalid Request Payload")
        return body

    def c2b_register(self, version: str, authorization, content_type, raw: bytes) -> Response:
        try:
            body = self._c2b_prelude(version, authorization, content_type, raw)
            short_code = parse_shortcode(body.get("ShortCode"))
            if short_code is None:
                raise bad_request("ShortCode")
            if body.get("ResponseType") not in ("Completed", "Cancelled"):
                raise bad_request("ResponseType")
            for name in ("ConfirmationURL", "ValidationURL"):
                url = body.get(name)
                if not valid_url(url) or any(word in url.lower() for word in C2B_FORBIDDEN_WORDS):
                    raise bad_request(name)
            with self.lock:
                if self.config.c2b_mode == "production" and short_code in self.c2b_registrations:
                    raise DarajaError("500.003.1001", "Urls are already registered")
                self.c2b_registrations[short_code] = C2BRegistration(
                    short_code=short_code,
                    response_type=body["ResponseType"],
                    confirmation_url=body["ConfirmationURL"],
                    validation_url=body["ValidationURL"],
                    version=version,
                    registered_at=self.now_iso(),
                )
                conversation_id = self.ids.originator_conversation_id()
        except DarajaError as exc:
            return error_response(exc, self.ids)
        # The misspelled key (no "n" in Conversation) is what Daraja really sends.
        return Response(
            200, {"OriginatorCoversationID": conversation_id, "ResponseCode": "0", "ResponseDescription": "Success"}
        )

    def c2b_simulate(self, version: str, authorization, content_type, raw: bytes) -> Response:
        try:
            body = self._c2b_prelude(version, authorization, content_type, raw)
            short_code = parse_shortcode(body.get("ShortCode"))
            if short_code is None:
                raise bad_request("ShortCode")
            command_id = body.get("CommandID")
            if command_id not in TRANSACTION_TYPES:
                raise bad_request("CommandID")
            amount = parse_amount(body.get("Amount"), "reject", self.config.max_amount)
            if amount is None:
                raise bad_request("Amount")
            msisdn = parse_msisdn(body.get("Msisdn"))
            if msisdn is None:
                raise bad_request("Msisdn")
            bill_ref = _as_text(body.get("BillRefNumber")) or ""
        except DarajaError as exc:
            return error_response(exc, self.ids)
        payment = self.c2b_pay(
            short_code=short_code,
            command_id=command_id,
            amount=amount,
            msisdn=msisdn,
            bill_ref=bill_ref,
            version=version,
        )
        return Response(
            200,
            {
                "OriginatorCoversationID": payment["originator_conversation_id"],
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            },
        )

    def c2b_pay(
        self,
        *,
        short_code: str,
        amount: int,
        msisdn: str,
        bill_ref: str = "",
        command_id: str = PAYBILL,
        version: str | None = None,
        first_name: str = "JOHN",
        middle_name: str = "",
        last_name: str = "DOE",
    ) -> dict:
        """A customer pays a shortcode: validation (if enabled), then confirmation, in the background."""
        with self.lock:
            registration = self.c2b_registrations.get(short_code)
            payment = C2BPayment(
                trans_id=self.ids.receipt_number(self.clock.now()),
                short_code=short_code,
                command_id=command_id,
                amount=amount,
                msisdn=msisdn,
                bill_ref_number=bill_ref,
                version=version or (registration.version if registration else "v2"),
                created_at=self.now_iso(),
                first_name=first_name,
                middle_name=middle_name,
                last_name=last_name,
            )
            if registration is None:
                payment.status = "not_registered"
            self.c2b_payments.append(payment)
            conversation_id = self.ids.originator_conversation_id()
        if registration is not None:
            self.workers.submit(lambda: self._run_c2b(payment, registration), name="daraja-sim-c2b")
        return {**asdict(payment), "originator_conversation_id": conversation_id}

    def _c2b_body(self, payment: C2BPayment, balance: str) -> dict:
        msisdn = payment.msisdn
        shown = hashlib.sha256(msisdn.encode()).hexdigest() if payment.version == "v1" else mask_msisdn(msisdn)
        return {
            "TransactionType": "Pay Bill" if payment.command_id == PAYBILL else "Buy Goods",
            "TransID": payment.trans_id,
            "TransTime": self.clock.now().strftime("%Y%m%d%H%M%S"),
            "TransAmount": f"{payment.amount:.2f}",
            "BusinessShortCode": payment.short_code,
            "BillRefNumber": payment.bill_ref_number,
            "InvoiceNumber": "",
            "OrgAccountBalance": balance,
            "ThirdPartyTransID": payment.third_party_trans_id,
            "MSISDN": shown,
            "FirstName": payment.first_name,
            "MiddleName": payment.middle_name,
            "LastName": payment.last_name,
        }

    def _run_c2b(self, payment: C2BPayment, registration: C2BRegistration) -> None:
        headers = {"Content-Type": "application/json"}
        if self.config.forwarded_for:
            headers["X-Forwarded-For"] = self.config.forwarded_for
        if self.config.c2b_external_validation:
            record = self._attempt(
                "c2b_validation",
                registration.validation_url,
                self._c2b_body(payment, ""),
                headers,
                None,
                1,
                1,
                timeout=self.config.c2b_validation_timeout,
            )
            verdict = self._validation_verdict(record, registration.response_type)
            with self.lock:
                payment.validation_result = verdict
                if verdict != "accepted":
                    payment.status = "rejected"
                    return
                payment.third_party_trans_id = self._third_party_id(record)
        with self.lock:
            balance = self.c2b_balances.get(payment.short_code, 0) + payment.amount
            self.c2b_balances[payment.short_code] = balance
            payment.status = "confirmed"
        self._attempt(
            "c2b_confirmation",
            registration.confirmation_url,
            self._c2b_body(payment, f"{balance:.2f}"),
            headers,
            None,
            1,
            1,
        )

    @staticmethod
    def _validation_answer(record: dict) -> dict | None:
        try:
            answer = json.loads(record["response_body"]) if record["ok"] else None
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def _validation_verdict(self, record: dict, response_type: str) -> str:
        answer = self._validation_answer(record)
        if answer is None:
            # No usable answer in time: the registered ResponseType decides (daraja.md §7.1).
            return "accepted" if response_type == "Completed" else "rejected"
        return "accepted" if str(answer.get("ResultCode")) == "0" else f"rejected:{answer.get('ResultCode')}"

    def _third_party_id(self, record: dict) -> str:
        answer = self._validation_answer(record) or {}
        return str(answer.get("ThirdPartyTransID") or "")

    # --- Control verbs (used by /__sim__/ and by tests in-process) ------------------------------------

    def transaction(self, checkout_id: str) -> StkTransaction:
        txn = self.transactions.get(checkout_id)
        if txn is None:
            raise ControlError(f"unknown CheckoutRequestID {checkout_id}", status=404)
        return txn

    def resolve(self, checkout_id: str, result_code=0, *, delay: float = 0, deliver=None, force=False, by="control"):
        """Finish a push as if the customer answered; ``force`` re-resolves a finished one (late callback)."""
        try:
            outcome = outcome_from_choice(result_code)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        if outcome.manual:
            raise ControlError("resolve needs a result code, not 'manual'")
        if deliver is None and outcome.name == "no_callback":
            deliver = False
        with self.lock:
            txn = self.transaction(checkout_id)
            if txn.status != "pending" and not force:
                raise ControlError(f"{checkout_id} is already resolved (pass force to resolve it again)", 409)
            if delay and delay > 0:
                self._schedule(txn, outcome.result_code, deliver, at=self.clock.time() + delay, by=by, force=force)
                return txn.snapshot()
            send = self._complete(txn, outcome.result_code, deliver, by=by)
            snapshot = txn.snapshot()
        if send:
            self._deliver_stk(checkout_id, "callback")
        return snapshot

    def redeliver(self, checkout_id: str, *, url: str | None = None, delay: float = 0, copies: int = 1) -> dict:
        with self.lock:
            txn = self.transaction(checkout_id)
            if txn.callback_body is None:
                raise ControlError(f"{checkout_id} is still pending: nothing to redeliver", 409)
            snapshot = txn.snapshot()
        self._deliver_stk(checkout_id, "redelivery", copies=copies, url=url, delay=delay)
        return snapshot

    def set_next_outcome(self, phone: object, result_code: object, delay: float | None = None) -> None:
        msisdn = parse_msisdn(phone)
        if msisdn is None:
            raise ControlError("phone must look like 2547XXXXXXXX or 2541XXXXXXXX")
        try:
            outcome = outcome_from_choice(result_code)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        with self.lock:
            self.next_outcomes.setdefault(msisdn, []).append((outcome, delay))

    def forge_callback(self, url: str, body: dict | None = None, **fields) -> dict:
        """POST a callback Daraja never sent: for tests that the client refuses it."""
        if not valid_url(url):
            raise ControlError("url must be an http(s) URL")
        if body is None:
            now = self.clock.now()
            result_code = fields.get("result_code", 0)
            callback = {
                "MerchantRequestID": fields.get("merchant_request_id") or self.ids.hex_group_id(),
                "CheckoutRequestID": fields.get("checkout_request_id")
                or self.ids.checkout_request_id(now, str(fields.get("phone", "254700000000"))),
                "ResultCode": result_code,
                "ResultDesc": describe(outcome_from_choice(result_code).result_code)[0],
            }
            if result_code == 0:
                callback["CallbackMetadata"] = {
                    "Item": [
                        {"Name": "Amount", "Value": float(fields.get("amount", 1))},
                        {"Name": "MpesaReceiptNumber", "Value": fields.get("receipt") or self.ids.receipt_number(now)},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": int(now.strftime("%Y%m%d%H%M%S"))},
                        {"Name": "PhoneNumber", "Value": int(fields.get("phone", 254700000000))},
                    ]
                }
            body = {"Body": {"stkCallback": callback}}
        headers = self._callback_headers(str(fields.get("shortcode", self.config.shortcode)))
        if "forwarded_for" in fields:
            headers.pop("X-Forwarded-For", None)
            if fields["forwarded_for"]:
                headers["X-Forwarded-For"] = str(fields["forwarded_for"])
        checkout_id = body.get("Body", {}).get("stkCallback", {}).get("CheckoutRequestID") if body else None
        return self._attempt("forged", url, body, headers, checkout_id, 1, 1)

    # --- Snapshots ------------------------------------------------------------------------------------

    def transactions_snapshot(self) -> dict[str, dict]:
        with self.lock:
            return {cid: txn.snapshot() for cid, txn in self.transactions.items()}

    def deliveries_snapshot(self) -> list[dict]:
        with self.lock:
            return copy.deepcopy(self.deliveries)

    def c2b_snapshot(self) -> dict:
        with self.lock:
            return {
                "registrations": {code: asdict(reg) for code, reg in self.c2b_registrations.items()},
                "payments": [asdict(p) for p in self.c2b_payments],
            }

    def pending_prompts(self, phone: str | None = None) -> list[dict]:
        with self.lock:
            return [
                t.snapshot()
                for t in self.transactions.values()
                if t.status == "pending" and (phone is None or t.phone_number == phone)
            ]

    def recent_results(self, phone: str | None = None, limit: int = 5) -> list[dict]:
        with self.lock:
            done = [
                t.snapshot()
                for t in self.transactions.values()
                if t.status == "completed" and (phone is None or t.phone_number == phone)
            ]
        return done[-limit:][::-1]
