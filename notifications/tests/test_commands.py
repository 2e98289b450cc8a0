import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.errors import SmsError
from notifications.models import Message
from notifications.tasks import redeliver_queued_messages

pytestmark = pytest.mark.django_db

Status = Message.Status


def minutes_ago(minutes):
    return timezone.now() - datetime.timedelta(minutes=minutes)


def send_queued(*args):
    out = StringIO()
    call_command("send_queued_messages", *args, stdout=out)
    return out.getvalue()


def test_it_delivers_messages_left_queued_longer_than_the_threshold(make_message, scripted_sms):
    forgotten = make_message(created_at=minutes_ago(30), body="forgotten")
    fresh = make_message(created_at=minutes_ago(2), body="fresh")
    output = send_queued("--minutes", "10")
    assert scripted_sms.sent == [("254712345678", "forgotten")]
    forgotten.refresh_from_db()
    fresh.refresh_from_db()
    assert forgotten.status == Status.SENT
    assert fresh.status == Status.QUEUED
    assert "Sent 1, failed 0, still queued 0" in output


def test_it_counts_idle_time_from_the_last_attempt(make_message, scripted_sms):
    make_message(created_at=minutes_ago(60), last_attempt_at=minutes_ago(3), attempts=1)  # retry due soon
    send_queued("--minutes", "10")
    assert scripted_sms.sent == []


def test_it_requeues_and_sends_a_message_a_stopped_worker_left_half_sent(make_message, scripted_sms):
    stuck = make_message(status=Status.SENDING, attempts=1, created_at=minutes_ago(40), last_attempt_at=minutes_ago(30))
    send_queued()
    stuck.refresh_from_db()
    assert stuck.status == Status.SENT
    assert stuck.attempts == 2
    assert len(scripted_sms.sent) == 1


def test_it_leaves_alone_a_message_a_worker_is_sending_right_now(make_message, scripted_sms):
    busy = make_message(status=Status.SENDING, attempts=1, created_at=minutes_ago(40), last_attempt_at=minutes_ago(1))
    send_queued("--minutes", "0")
    busy.refresh_from_db()
    assert busy.status == Status.SENDING
    assert scripted_sms.sent == []


def test_it_reports_messages_still_failing_and_those_given_up(make_message, scripted_sms):
    make_message(created_at=minutes_ago(30))
    make_message(created_at=minutes_ago(30))
    scripted_sms.errors.extend([SmsError("HTTP 503", permanent=False), SmsError("406 UserInBlacklist", permanent=True)])
    output = send_queued()
    assert "Sent 0, failed 1, still queued 1" in output
    assert sorted(Message.objects.values_list("status", flat=True)) == ["failed", "queued"]


def test_it_leaves_sent_and_failed_messages_alone(make_message, scripted_sms):
    make_message(status=Status.SENT, created_at=minutes_ago(30))
    make_message(status=Status.FAILED, created_at=minutes_ago(30))
    assert "Sent 0, failed 0, still queued 0" in send_queued()
    assert scripted_sms.sent == []


def test_it_stops_at_the_limit_oldest_first(make_message, scripted_sms):
    for age in (50, 40, 30):
        make_message(created_at=minutes_ago(age), body=f"{age} minutes old")
    send_queued("--limit", "2")
    assert [body for _, body in scripted_sms.sent] == ["50 minutes old", "40 minutes old"]


def test_it_refuses_a_negative_threshold():
    with pytest.raises(CommandError):
        send_queued("--minutes", "-1")


def test_the_periodic_task_does_the_same_catching_up(make_message, scripted_sms):
    make_message(created_at=minutes_ago(30))
    assert redeliver_queued_messages.delay().get() == {"sent": 1, "failed": 0, "still_queued": 0, "skipped": 0}
