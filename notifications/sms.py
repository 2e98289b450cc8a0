"""Sending one SMS: a tiny interface and its backends, chosen by the SMS_BACKEND setting.

    backend = get_sms_backend()
    result = backend.send("254712345678", "Your payment was received.")   # -> SmsResult
    # or raises SmsError(message, permanent=...)

- ``ConsoleSmsBackend`` (the default without credentials) prints the message with the number masked.
- ``AfricasTalkingSmsBackend`` posts to Africa's Talking; ``AfricasTalkingSmsBackend._post`` is its one
  HTTP seam.
- ``LocmemSmsBackend`` keeps messages in ``notifications.sms.outbox`` for tests, like Django's locmem
  email backend.

Secrets stay out of logs and errors: the API key is only ever placed in the request header, and numbers
are logged masked (2547****5678).
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from core.phones import mask_phone

from .errors import SmsError

__all__ = [
    "AfricasTalkingSmsBackend",
    "BaseSmsBackend",
    "ConsoleSmsBackend",
    "LocmemSmsBackend",
    "SentSms",
    "SmsError",
    "SmsResult",
    "default_sms_backend",
    "get_sms_backend",
    "outbox",
]

logger = logging.getLogger("notifications.sms")

CONSOLE_BACKEND = "notifications.sms.ConsoleSmsBackend"
AFRICAS_TALKING_BACKEND = "notifications.sms.AfricasTalkingSmsBackend"


@dataclass(frozen=True)
class SmsResult:
    provider_message_id: str
    cost: str = ""


class BaseSmsBackend:
    def send(self, to: str, message: str) -> SmsResult:
        """Hand one message for `to` (international digits, e.g. 254712345678) to the provider."""
        raise NotImplementedError


def default_sms_backend() -> str:
    """Africa's Talking when its credentials are set, else the console."""
    if settings.SMS_API_KEY and settings.SMS_USERNAME:
        return AFRICAS_TALKING_BACKEND
    return CONSOLE_BACKEND


def get_sms_backend() -> BaseSmsBackend:
    path = settings.SMS_BACKEND or default_sms_backend()
    return import_string(path)()


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


# --- Development -------------------------------------------------------------------------------------


class ConsoleSmsBackend(BaseSmsBackend):
    """Prints each message to stdout (like Django's console email backend) and logs it, number masked."""

    _lock = threading.Lock()

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, to: str, message: str) -> SmsResult:
        masked = mask_phone(_digits(to))
        logger.info("SMS to %s (%d characters): %s", masked, len(message), message)
        stream = self.stream or sys.stdout  # looked up now, so a replaced sys.stdout is honoured
        with self._lock:
            stream.write(f"SMS to: {masked}\n{message}\n{'-' * 79}\n")
            stream.flush()
        return SmsResult(provider_message_id=f"console-{uuid.uuid4().hex}")


@dataclass(frozen=True)
class SentSms:
    to: str
    message: str


outbox: list[SentSms] = []


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in ``notifications.sms.outbox`` (clear it between tests)."""

    def send(self, to: str, message: str) -> SmsResult:
        outbox.append(SentSms(to=to, message=message))
        return SmsResult(provider_message_id=f"locmem-{len(outbox)}")


# --- Africa's Talking ----------------------------------------------------------------------------------

LIVE_URL = "https://api.africastalking.com/version1/messaging"
SANDBOX_URL = "https://api.sandbox.africastalking.com/version1/messaging"
TIMEOUT = (5, 20)  # seconds to connect, seconds to wait for the answer

# Per-recipient statusCode values from Africa's Talking's SMS documentation. Only listed codes mean
# anything; an unlisted code is reported with its number and not retried.
SUCCESS_CODES = {100: "Processed", 101: "Sent", 102: "Queued"}
PERMANENT_CODES = {
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    # Retrying within minutes will not top the account up; staff see the failure and can resend.
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
}
TRANSIENT_CODES = {500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway"}


class AfricasTalkingSmsBackend(BaseSmsBackend):
    """Africa's Talking's bulk messaging endpoint, one recipient per request.

    Username "sandbox" selects the sandbox host (messages reach only AT's simulator).
    """

    def __init__(self, *, api_key: str | None = None, username: str | None = None, sender_id: str | None = None):
        self.api_key = settings.SMS_API_KEY if api_key is None else api_key
        self.username = settings.SMS_USERNAME if username is None else username
        self.sender_id = settings.SMS_SENDER_ID if sender_id is None else sender_id

    def __repr__(self):
        return f"<AfricasTalkingSmsBackend username={self.username!r}>"  # never the key

    @property
    def url(self) -> str:
        return SANDBOX_URL if self.username == "sandbox" else LIVE_URL

    def send(self, to: str, message: str) -> SmsResult:
        if not self.api_key or not self.username:
            raise SmsError("Africa's Talking is not configured: set SMS_API_KEY and SMS_USERNAME.", permanent=True)
        data = {"username": self.username, "to": "+" + to.strip().lstrip("+"), "message": message}
        if self.sender_id:
            data["from"] = self.sender_id
        headers = {"apiKey": self.api_key, "Accept": "application/json"}
        masked = mask_phone(_digits(to))
        try:
            response = self._post(self.url, data=data, headers=headers)
        except requests.Timeout:
            # The message may or may not have gone out; a retry can duplicate it, which beats losing it.
            raise SmsError("Africa's Talking did not answer in time.", permanent=False) from None
        except requests.RequestException as error:
            raise SmsError(f"Could not reach Africa's Talking ({type(error).__name__}).", permanent=False) from None
        result = self._result(response)
        logger.info("SMS to %s accepted by Africa's Talking as %s.", masked, result.provider_message_id)
        return result

    def _post(self, url: str, *, data: dict[str, str], headers: dict[str, str]) -> requests.Response:
        """The one HTTP seam (tests patch ``requests.post``)."""
        return requests.post(url, data=data, headers=headers, timeout=TIMEOUT)

    def _result(self, response: requests.Response) -> SmsResult:
        status = response.status_code
        if status == 429 or status >= 500:
            raise SmsError(f"Africa's Talking is unavailable (HTTP {status}).", permanent=False)
        if status in (401, 403):
            raise SmsError(
                f"Africa's Talking refused the credentials (HTTP {status}): check SMS_API_KEY and SMS_USERNAME.",
                permanent=True,
            )
        if status >= 400:
            raise SmsError(
                f"Africa's Talking rejected the request (HTTP {status}): {self._excerpt(response)}", permanent=True
            )
        try:
            payload = response.json()
        except ValueError:
            raise SmsError(
                f"Africa's Talking sent an answer that is not JSON (HTTP {status}): {self._excerpt(response)}",
                permanent=False,
            ) from None
        data = payload.get("SMSMessageData") if isinstance(payload, dict) else None
        recipients = data.get("Recipients") if isinstance(data, dict) else None
        if not recipients or not isinstance(recipients[0], dict):
            # e.g. {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}
            summary = str(data.get("Message", "")) if isinstance(data, dict) else ""
            reason = summary[:200] or "no reason given"
            raise SmsError(f"Africa's Talking accepted no recipient: {reason}.", permanent=True)
        return self._recipient_result(recipients[0])

    @staticmethod
    def _recipient_result(recipient: dict[str, Any]) -> SmsResult:
        status_text = str(recipient.get("status", ""))[:100]
        try:
            code = int(recipient.get("statusCode"))
        except (TypeError, ValueError):
            code = None
        if code in SUCCESS_CODES or (code is None and status_text == "Success"):
            return SmsResult(
                provider_message_id=str(recipient.get("messageId", ""))[:255], cost=str(recipient.get("cost", ""))
            )
        name = TRANSIENT_CODES.get(code) or PERMANENT_CODES.get(code) or status_text or "unknown status"
        transient = code in TRANSIENT_CODES or (code is not None and 500 <= code < 600)
        raise SmsError(f"Africa's Talking did not send the SMS: {code} {name}.", permanent=not transient)

    def _excerpt(self, response: requests.Response) -> str:
        text = " ".join((response.text or "").split())[:200]
        if self.api_key:
            text = text.replace(self.api_key, "[redacted]")
        return text or "no details"
