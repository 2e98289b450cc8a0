import pytest

from notifications import sms

from .fakes import ScriptedSmsBackend


@pytest.fixture(autouse=True)
def _sms_in_memory(settings):
    """No test here reaches a phone: SMS land in notifications.sms.outbox unless a test picks a fake."""
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    settings.SMS_API_KEY = ""
    settings.SMS_USERNAME = ""
    settings.SMS_SENDER_ID = ""
    sms.outbox.clear()
    ScriptedSmsBackend.reset()
    yield
    sms.outbox.clear()
    ScriptedSmsBackend.reset()


@pytest.fixture
def sms_outbox():
    return sms.outbox


@pytest.fixture
def scripted_sms(settings):
    """SMS go through ScriptedSmsBackend; append to `.errors` to make the next sends fail."""
    settings.SMS_BACKEND = "notifications.tests.fakes.ScriptedSmsBackend"
    return ScriptedSmsBackend


@pytest.fixture
def make_message(db):
    """A message row as message_queue would write it, without queuing delivery."""
    from notifications.models import Message

    def make(**fields):
        defaults = {
            "channel": Message.Channel.SMS,
            "event": "payment_received",
            "recipient": "254712345678",
            "body": "Kalda-Tech Society: KES 1,000 received.",
        }
        if fields.get("channel") == Message.Channel.EMAIL:
            defaults.update(recipient="alice@example.com", subject="Payment received")
        return Message.objects.create(**{**defaults, **fields})

    return make
