"""Stand-ins for the outside world, named in settings (SMS_BACKEND, EMAIL_BACKEND) like the real ones."""

import json
import os
import time
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend

from notifications.errors import SmsError
from notifications.sms import BaseSmsBackend, SmsResult


class ScriptedSmsBackend(BaseSmsBackend):
    """Records every send; raises the next exception in `errors`, if any, instead of sending."""

    sent: list[tuple[str, str]] = []
    errors: list[Exception] = []

    @classmethod
    def reset(cls):
        cls.sent = []
        cls.errors = []

    def send(self, to: str, message: str) -> SmsResult:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((to, message))
        return SmsResult(provider_message_id=f"ATXid_{len(self.sent)}")


class RaisingEmailBackend(BaseEmailBackend):
    """Raises `error` for every message, as an SMTP server or connection would."""

    error: Exception = OSError("no mail server here")

    def send_messages(self, email_messages):
        raise self.error


# --- For tests with worker processes: what they send, counted in a file every process can append to ---

OUTBOX_FILE_ENV = "FAKE_OUTBOX_FILE"  # one JSON line per message the provider accepted
HANG_FILE_ENV = "FAKE_SMS_HANG_FILE"  # when set: an SMS send creates this file, then never returns


def _record(channel: str, to: str, body: str) -> None:
    path = os.environ.get(OUTBOX_FILE_ENV)
    if not path:
        raise RuntimeError(f"{OUTBOX_FILE_ENV} is not set: the test names the file its worker processes share.")
    line = json.dumps({"channel": channel, "to": to, "body": body, "pid": os.getpid()}) + "\n"
    with open(path, "a", encoding="utf-8") as outbox:  # O_APPEND: whole lines, whichever process writes
        outbox.write(line)


def recorded_sends(path) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as outbox:
            return [json.loads(line) for line in outbox if line.strip()]
    except FileNotFoundError:
        return []


class FileRecordingSmsBackend(BaseSmsBackend):
    """The SMS provider, as seen by a test whose worker runs in another process."""

    def send(self, to: str, message: str) -> SmsResult:
        hang = os.environ.get(HANG_FILE_ENV)
        if hang:
            # A provider call in flight: the test kills the worker now; nothing reached the phone.
            Path(hang).touch()
            time.sleep(300)
            raise SmsError("the fake provider never answered", permanent=False)
        _record("sms", to, message)
        return SmsResult(provider_message_id=f"ATXid_{os.getpid()}_{time.monotonic_ns()}")


class FileRecordingEmailBackend(BaseEmailBackend):
    """The mail server, as seen by a test whose worker runs in another process."""

    def send_messages(self, email_messages):
        for message in email_messages:
            for to in message.to:
                _record("email", to, message.body)
        return len(email_messages)
