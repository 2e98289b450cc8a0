from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from kombu.exceptions import OperationalError

from notifications.errors import SmsError
from notifications.models import Message
from notifications.services import message_queue
from notifications.tasks import deliver_message

pytestmark = pytest.mark.django_db


def queue_sms(**overrides):
    fields = {
        "channel": "sms",
        "recipient": "254712345678",
        "body": "Kalda-Tech Society: KES 1,000 received.",
        "event": "payment_received",
    }
    return message_queue(**{**fields, **overrides})


def test_it_writes_the_message_but_sends_nothing_until_the_transaction_commits(
    django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = queue_sms()
        assert message.status == Message.Status.QUEUED
        assert Message.objects.count() == 1
        assert sms_outbox == []
    assert len(callbacks) == 1
    assert len(sms_outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None


def test_it_sends_the_sms_it_queued(django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        queue_sms(body="Hello Alice")
    assert [(sent.to, sent.message) for sent in sms_outbox] == [("254712345678", "Hello Alice")]


def test_a_rolled_back_transaction_sends_nothing(django_capture_on_commit_callbacks, sms_outbox):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queue_sms()
        raise RuntimeError("the payment could not be saved")
    assert callbacks == []
    assert sms_outbox == []
    assert not Message.objects.exists()


def test_a_dedupe_key_sends_once(django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = queue_sms(dedupe_key="payment_received:42:sms")
        second = queue_sms(dedupe_key="payment_received:42:sms", body="A different body")
    assert second.pk == first.pk
    assert len(callbacks) == 1
    assert len(sms_outbox) == 1
    assert Message.objects.count() == 1


def test_a_dedupe_key_used_earlier_returns_the_message_already_sent(django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        first = queue_sms(dedupe_key="approved:7:sms")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = queue_sms(dedupe_key="approved:7:sms")
    assert again.pk == first.pk
    assert again.status == Message.Status.SENT
    assert callbacks == []
    assert len(sms_outbox) == 1


def test_messages_without_a_dedupe_key_may_repeat(django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        queue_sms()
        queue_sms()
    assert len(sms_outbox) == 2
    assert list(Message.objects.values_list("dedupe_key", flat=True)) == [None, None]


def test_a_blank_recipient_queues_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert queue_sms(recipient="  ") is None
    assert callbacks == []
    assert not Message.objects.exists()


def test_an_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="Unknown channel 'fax'"):
        queue_sms(channel="fax")


def test_an_email_is_queued_with_its_user_and_delivered_after_commit(django_capture_on_commit_callbacks, alice):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(
            user=alice.user,
            channel="email",
            recipient=alice.user.email,
            subject="Welcome",
            body="Dear Alice, welcome.",
            event="approved",
        )
    assert message.user == alice.user
    assert [(sent.to, sent.subject) for sent in mail.outbox] == [(["alice@example.com"], "Welcome")]


def test_a_broker_that_is_down_never_raises_into_the_code_that_queued(django_capture_on_commit_callbacks):
    broker_down = OperationalError("Connection refused")
    with (
        mock.patch.object(deliver_message, "delay", side_effect=broker_down),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = queue_sms()
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED  # send_queued_messages picks it up later
    assert message.attempts == 0


def test_a_failing_sms_never_raises_into_the_code_that_queued(django_capture_on_commit_callbacks, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking is unavailable (HTTP 503).", permanent=False))
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_sms()
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.last_error == "Africa's Talking is unavailable (HTTP 503)."


@pytest.mark.django_db(transaction=True)
def test_with_real_transactions_only_committed_messages_are_sent(sms_outbox):
    with transaction.atomic():
        queue_sms(body="committed")
        assert sms_outbox == []
    with pytest.raises(RuntimeError), transaction.atomic():
        queue_sms(body="rolled back")
        raise RuntimeError
    assert [sent.message for sent in sms_outbox] == ["committed"]
    assert list(Message.objects.values_list("body", "status")) == [("committed", "sent")]
