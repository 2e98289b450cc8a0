"""The outbox sweep (finding 4 of issue 13): a message the broker never got is sent within about a minute
or two of its commit, once; one a dead worker left half-sent is sent again after
NOTIFICATIONS_STALE_SENDING_SECONDS; a reset link does not stay readable in the log once sent."""

import datetime

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.utils import timezone

from notifications.models import Message
from notifications.services import LINK_BODY_REMOVED, message_deliver, message_queue
from notifications.tasks import redeliver_queued_messages

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(23)]

Status = Message.Status


def ago(seconds):
    return timezone.now() - datetime.timedelta(seconds=seconds)


def sweep():
    return redeliver_queued_messages.delay().get()


def test_the_sweep_sends_within_a_minute_or_two_what_the_broker_never_got(make_message, scripted_sms, settings):
    settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS = 60
    lost = make_message(created_at=ago(90), body="never tried")
    make_message(created_at=ago(10), body="just queued")  # its delivery task may still be on its way
    make_message(created_at=ago(90), last_attempt_at=ago(80), attempts=1, body="retry pending")  # backing off

    assert sweep() == {"sent": 1, "failed": 0, "still_queued": 0, "skipped": 0}
    assert scripted_sms.sent == [("254712345678", "never tried")]
    lost.refresh_from_db()
    assert lost.status == Status.SENT
    assert sweep()["sent"] == 0


def test_beat_runs_the_sweep_every_minute_by_default():
    entry = django_settings.CELERY_BEAT_SCHEDULE["redeliver-queued-messages"]
    assert entry["task"] == "notifications.redeliver_queued_messages"
    assert entry["schedule"] == django_settings.NOTIFICATIONS_SWEEP_SECONDS == 60
    assert django_settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS == 60


def test_a_message_a_dead_worker_left_sending_is_sent_again_after_the_stale_setting(
    make_message, scripted_sms, settings
):
    settings.NOTIFICATIONS_STALE_SENDING_SECONDS = 30
    stuck = make_message(status=Status.SENDING, attempts=1, created_at=ago(60), last_attempt_at=ago(45))
    busy = make_message(status=Status.SENDING, attempts=1, created_at=ago(60), last_attempt_at=ago(5))

    assert sweep()["sent"] == 1
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, stuck.attempts) == (Status.SENT, 2)
    assert busy.status == Status.SENDING  # its worker may still be talking to the provider
    assert len(scripted_sms.sent) == 1


def test_a_reset_link_is_removed_from_the_log_once_sent(db, django_capture_on_commit_callbacks):
    link = "https://members.example.org/password/reset/MQ/set-password/"
    with django_capture_on_commit_callbacks(execute=True):
        message = message_queue(
            channel="email",
            recipient="alice@example.com",
            subject="Reset",
            body=f"Go to {link}",
            event="password_reset",
        )
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert link in mail.outbox[0].body
    assert link not in message.body and message.body == LINK_BODY_REMOVED
    assert message_deliver(message=message).status == Status.SENT  # delivered once: a repeat sends nothing
    assert len(mail.outbox) == 1
