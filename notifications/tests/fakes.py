"""Stand-ins for the outside world, named in settings (SMS_BACKEND, EMAIL_BACKEND) like the real ones."""

from django.core.mail.backends.base import BaseEmailBackend

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
