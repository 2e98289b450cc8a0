"""Errors raised by the Daraja client, each knowing whether retrying can help.

``permanent`` is the one question callers ask: a permanent error will fail the same way next time
(validation, wrong credentials, an unknown shortcode); a transient one may succeed later (timeouts,
connection errors, spike arrest, system busy, quota, a subscriber with another prompt open).

Daraja reuses codes across APIs and hides several meanings behind ``500.001.1001``, so the error table
below is keyed by ``errorCode`` and refined by message only where Daraja forces us to. Source:
daraja.md sections 1, 2, 3.3, 5 and 7.1.
"""

from __future__ import annotations

import re
from typing import Any


class DarajaError(Exception):
    """A call to Daraja did not give the answer we asked for."""

    permanent: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        permanent: bool | None = None,
        request_id: str | None = None,
        retry_after_seconds: int = 0,
        maybe_processed: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.code = code  # Daraja's errorCode, else the HTTP status as text, else None (no answer at all)
        self.http_status = http_status
        if permanent is not None:
            self.permanent = permanent
        self.request_id = request_id
        self.retry_after_seconds = retry_after_seconds
        # True when the request may have reached Daraja before the answer was lost (a read timeout or a
        # dropped connection). Daraja has no idempotency, so re-sending an STK push then may prompt twice.
        self.maybe_processed = maybe_processed

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"http_status={self.http_status!r}, permanent={self.permanent!r})"
        )


class DarajaRejected(DarajaError):
    """Daraja refused the request as sent: sending it again unchanged fails again."""

    permanent = True


class DarajaAuthError(DarajaRejected):
    """OAuth refused our consumer key/secret, or a freshly issued token was refused too."""


class DarajaTokenRejected(DarajaAuthError):
    """A bearer token was refused (expired, revoked, or the app lacks the API product)."""


class DarajaUnavailable(DarajaError):
    """Daraja could not be reached or was overloaded; try again later."""

    permanent = False


class DarajaTimeout(DarajaUnavailable):
    """No answer within the client's timeout."""


class DarajaSubscriberBusy(DarajaError):
    """Another prompt or USSD session is open on the customer's phone; Daraja asks for a minute's wait."""

    permanent = False


# errorCode -> (error class, permanent). Codes not listed fall back on the HTTP status.
ERROR_CODES: dict[str, tuple[type[DarajaError], bool]] = {
    "400.002.02": (DarajaRejected, True),  # "Bad Request - Invalid <Field>"
    "400.002.05": (DarajaRejected, True),  # Invalid Request Payload
    "400.003.02": (DarajaRejected, True),  # Bad request (C2B, Transaction Status)
    "404.001.01": (DarajaRejected, True),  # Resource not found: wrong path
    "404.001.04": (DarajaRejected, True),  # Invalid Authentication Header
    "404.003.01": (DarajaRejected, True),  # Resource not found (C2B, Transaction Status)
    "405.001": (DarajaRejected, True),  # Method Not Allowed
    "400.008.01": (DarajaAuthError, True),  # OAuth: invalid authentication (also wrong key/secret)
    "400.008.02": (DarajaAuthError, True),  # OAuth: invalid grant type
    "404.001.03": (DarajaTokenRejected, True),  # Invalid Access Token (STK)
    "400.003.01": (DarajaTokenRejected, True),  # Invalid Access Token (C2B, Transaction Status)
    "401.002.01": (DarajaTokenRejected, True),  # Invalid Access Token (Account Balance)
    "401.003.01": (DarajaTokenRejected, True),  # Invalid Access Token - no apiproduct match found
    "500.001.1001": (DarajaUnavailable, False),  # refined by message below
    "500.003.02": (DarajaUnavailable, False),  # System is busy / Spike Arrest Violation
    "500.003.03": (DarajaUnavailable, False),  # Quota Violation
    "500.003.1001": (DarajaUnavailable, False),  # Internal Server Error (refined by message below)
}

# Messages that change the meaning of a shared code: (code, lowercase fragment, class, permanent, wait).
# Order matters: "Merchant does not exist" must win over the query's "The transaction does not Exist".
MESSAGE_RULES: list[tuple[str, str, type[DarajaError], bool, int]] = [
    ("500.001.1001", "unable to lock subscriber", DarajaSubscriberBusy, False, 60),
    ("500.001.1001", "wrong credentials", DarajaRejected, True, 0),
    ("500.001.1001", "merchant does not exist", DarajaRejected, True, 0),
    ("500.003.1001", "already registered", DarajaRejected, True, 0),
    ("500.003.1001", "duplicate notification info", DarajaRejected, True, 0),
]

_REFUSED_BEARER_PHRASE = "invalid access token"


def error_from_response(http_status: int, body: Any, text: str = "") -> DarajaError:
    """The error for an HTTP answer that was not the success we expected.

    ``body`` is the decoded JSON (or None when the body was not JSON); ``text`` the raw body, used only
    for a short excerpt when the body is not Daraja-shaped (HTML from a proxy, an Apigee SOAP fault).
    """
    code = message = request_id = None
    if isinstance(body, dict) and body.get("errorCode") is not None:
        code = str(body["errorCode"]).strip()
        message = str(body.get("errorMessage") or "").strip()
        request_id = str(body["requestId"]) if body.get("requestId") is not None else None
    if message is None:
        message = f"Unexpected Daraja answer (HTTP {http_status}): {_excerpt(text) or 'empty body'}"

    if code in ERROR_CODES:
        error_class, permanent = ERROR_CODES[code]
        retry_after = 0
        lowered = message.lower()
        for rule_code, fragment, rule_class, rule_permanent, rule_wait in MESSAGE_RULES:
            if rule_code == code and fragment in lowered:
                error_class, permanent, retry_after = rule_class, rule_permanent, rule_wait
                break
        return error_class(
            message,
            code=code,
            http_status=http_status,
            permanent=permanent,
            request_id=request_id,
            retry_after_seconds=retry_after,
        )

    error_class, permanent = _class_for_status(http_status, message)
    return error_class(
        message,
        code=code or str(http_status),
        http_status=http_status,
        permanent=permanent,
        request_id=request_id,
    )


def _class_for_status(http_status: int, message: str) -> tuple[type[DarajaError], bool]:
    if http_status == 401 or _REFUSED_BEARER_PHRASE in message.lower():
        return DarajaTokenRejected, True
    if http_status in (408, 429) or http_status >= 500:
        return DarajaUnavailable, False
    if 400 <= http_status < 500:
        return DarajaRejected, True
    # A 2xx/3xx that is not the answer we expected: a proxy page or a gateway hiccup, not a refusal.
    return DarajaUnavailable, False


def _excerpt(text: str, limit: int = 120) -> str:
    collapsed = re.sub(r"\s+", " ", text or "").strip()
    return collapsed if len(collapsed) <= limit else collapsed[:limit] + "..."
