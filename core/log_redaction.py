"""A logging filter that masks secrets and personal data before any handler writes a record.

Code should not log such values in the first place (phones are logged masked at the source); this is the
net under it, for third-party libraries, exception messages and tracebacks. It masks:

- the values of the settings named in LOG_REDACT_SETTINGS (the M-Pesa passkey and consumer secret, the
  secret key, mail and SMS passwords...), wherever they appear;
- Kenyan phone numbers in full (2547.., 2541.., +254.., 07.., 01..): 254712345678 -> 2547******78;
- the value in key=value / "key": "value" forms whose key names a password, OTP, passkey, secret, token
  or national ID number;
- the per-payment token in a Daraja callback path (/api/mpesa/callback/<token>/): whoever reads it could post a
  callback for that payment. gunicorn's access log masks it the same way (core.access_log), nginx's with a map
  (deploy/nginx/membership.conf).
"""

from __future__ import annotations

import logging
import re

from django.conf import settings

MASK = "********"
# A setting's value shorter than this is not searched for (it would mask ordinary words and numbers).
MIN_SECRET_LENGTH = 6

# Not inside a longer run of letters or digits (a request id, a CheckoutRequestID, a hash).
PHONE = re.compile(r"(?<![\w*+])(?:\+?254|0)[17]\d{2}[ -]?\d{3}[ -]?\d{3}(?![\w*])")
KEY_VALUE = re.compile(
    r"""(?ix)
    (?P<key>["']?(?<![\w-])
        (?:[\w-]*(?:password|passwd|passkey|secret|national_id|nationalid|id_number|idnumber|api_key|apikey
                    |access_token|refresh_token|session_key|sessionid|csrfmiddlewaretoken)[\w-]*
          |(?:[\w-]+_)?(?:otp|totp|pin)(?:_[\w-]+)?)
    ["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s&,;}\]\)]+)
    """
)


# The callback URL's token segment, in any case (a path, a request line, a Referer, a URL in a message), and
# the secret segment of the C2B (Paybill) URLs, /api/c2b/<secret>/confirmation/.
CALLBACK_TOKEN = re.compile(r"(?i)(/api/mpesa/callback/|/api/c2b/)[^/?#\s\"']+")


def mask_callback_tokens(text: str) -> str:
    """/api/mpesa/callback/<token>/ -> /api/mpesa/callback/********/ (settings-free: gunicorn's master uses it)."""
    return CALLBACK_TOKEN.sub(lambda match: match.group(1) + MASK, text)


def _mask_phone(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def _mask_value(match: re.Match) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{MASK}{quote}"


def _secret_values() -> list[str]:
    values = []
    for name in settings.LOG_REDACT_SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            values.append(value)
    database_password = settings.DATABASES.get("default", {}).get("PASSWORD")
    if isinstance(database_password, str) and len(database_password) >= MIN_SECRET_LENGTH:
        values.append(database_password)
    return sorted(set(values), key=len, reverse=True)


def redact(text: str) -> str:
    if not text:
        return text
    for secret in _secret_values():
        if secret in text:
            text = text.replace(secret, MASK)
    text = KEY_VALUE.sub(_mask_value, text)
    text = mask_callback_tokens(text)
    return PHONE.sub(_mask_phone, text)


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message, traceback and string extras are masked in place."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we have, masked
            message = f"{record.msg} {record.args}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The formatter uses exc_text when present; the original exception is not formatted again.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES and key != "request_id" and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def json_formatter(**kwargs):
    """LOG_FORMAT=json: python-json-logger's formatter, minus Django's `request` object (its repr would
    print the path and query string unmasked) and with string extras masked like the message."""
    # Imported when LOG_FORMAT=json asks for it: settings.LOGGING names this factory, and the plain format
    # never loads the library.
    from pythonjsonlogger.json import JsonFormatter

    class RedactedJsonFormatter(JsonFormatter):
        def add_fields(self, log_data, record, message_dict):
            super().add_fields(log_data, record, message_dict)
            log_data.pop("request", None)
            for key, value in list(log_data.items()):
                if isinstance(value, str) and key not in ("time", "level", "logger", "request_id"):
                    log_data[key] = redact(value)

    return RedactedJsonFormatter(**kwargs)
