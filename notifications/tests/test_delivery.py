import smtplib
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.core import mail

from notifications.errors import DeliveryError, EmailError, SmsError
from notifications.models import Message
from notifications.services import MAX_ATTEMPTS, message_deliver
from notifications.tasks import deliver_message
from notifications.tests.fakes import RaisingEmailBackend

pytestmark = pytest.mark.django_db

Status = Message.Status


def test_an_email_is_delivered_with_its_subject_and_body(make_message):
    message = make_message(channel="email", subject="Payment received: KES 1,000", body="Dear Alice,\n\nThanks.\n")
    message = message_deliver(message=message)
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "Payment received: KES 1,000"
    assert email.body == "Dear Alice,\n\nThanks.\n"
    assert email.alternatives == []
    assert message.status == Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert message.provider_message_id == email.extra_headers["Message-ID"]
    assert message.provider_message_id.startswith("<")


def test_an_html_body_goes_as_an_alternative(make_message):
    message_deliver(message=make_message(channel="email", html_body="<p>Thanks.</p>"))
    [email] = mail.outbox
    assert email.alternatives[0][:2] == ("<p>Thanks.</p>", "text/html")


def test_an_sms_goes_through_the_backend_named_in_settings(make_message, scripted_sms):
    message = message_deliver(message=make_message(body="Hello"))
    assert scripted_sms.sent == [("254712345678", "Hello")]
    assert message.status == Status.SENT
    assert message.provider_message_id == "ATXid_1"


def test_a_transient_failure_leaves_the_message_queued_for_a_retry(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking did not answer in time.", permanent=False))
    message = make_message()
    with pytest.raises(SmsError):
        message_deliver(message=message)
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.attempts == 1
    assert message.last_error == "Africa's Talking did not answer in time."
    assert message.last_attempt_at is not None
    assert message.sent_at is None


def test_the_next_attempt_after_a_transient_failure_sends_it(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking is unavailable (HTTP 503).", permanent=False))
    message = make_message()
    with pytest.raises(SmsError):
        message_deliver(message=message)
    message = message_deliver(message=message)
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert message.last_error == ""
    assert len(scripted_sms.sent) == 1


def test_a_permanent_failure_marks_the_message_failed_without_a_retry(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking did not send the SMS: 406 UserInBlacklist.", permanent=True))
    message = message_deliver(message=make_message())
    assert message.status == Status.FAILED
    assert message.attempts == 1
    assert message.last_error == "Africa's Talking did not send the SMS: 406 UserInBlacklist."


def test_the_last_allowed_attempt_gives_up_even_on_a_transient_failure(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking is unavailable (HTTP 503).", permanent=False))
    message = message_deliver(message=make_message(attempts=MAX_ATTEMPTS - 1))
    assert message.status == Status.FAILED
    assert message.attempts == MAX_ATTEMPTS


def test_an_unexpected_error_is_recorded_and_left_for_a_retry(make_message, scripted_sms):
    scripted_sms.errors.append(KeyError("statusCode"))
    message = make_message()
    with pytest.raises(DeliveryError):
        message_deliver(message=message)
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.last_error == "Unexpected KeyError: 'statusCode'"


@pytest.mark.parametrize("status", [Status.SENDING, Status.SENT, Status.FAILED])
def test_a_message_that_is_not_queued_is_not_sent_again(status, make_message, scripted_sms):
    message = message_deliver(message=make_message(status=status, attempts=1))
    assert scripted_sms.sent == []
    assert message.status == status
    assert message.attempts == 1


def test_a_second_worker_holding_a_stale_copy_does_not_send_it_again(make_message, scripted_sms):
    message = make_message()
    stale_copy = Message.objects.get(pk=message.pk)
    message_deliver(message=message)
    message_deliver(message=stale_copy)
    assert len(scripted_sms.sent) == 1
    assert Message.objects.get(pk=message.pk).attempts == 1


def test_the_error_stored_never_holds_the_sms_api_key(make_message, scripted_sms, settings):
    settings.SMS_API_KEY = "atsk_live_0123456789abcdef"
    scripted_sms.errors.append(SmsError("rejected key atsk_live_0123456789abcdef", permanent=True))
    message = message_deliver(message=make_message())
    assert "atsk_live" not in message.last_error
    assert message.last_error == "rejected key [redacted]"


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"alice@example.com": (550, b"No such user")}), True),
        (smtplib.SMTPRecipientsRefused({"alice@example.com": (450, b"Mailbox busy")}), False),
        (smtplib.SMTPAuthenticationError(535, b"Authentication credentials invalid"), True),
        (smtplib.SMTPDataError(451, b"Try again later"), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
        (TimeoutError("timed out"), False),
    ],
)
def test_smtp_failures_are_retried_only_when_the_server_says_so(error, permanent, make_message, settings):
    settings.EMAIL_BACKEND = "notifications.tests.fakes.RaisingEmailBackend"
    message = make_message(channel="email")
    with mock.patch.object(RaisingEmailBackend, "error", error):
        if permanent:
            message = message_deliver(message=message)
        else:
            with pytest.raises(EmailError):
                message_deliver(message=message)
            message.refresh_from_db()
    assert message.status == (Status.FAILED if permanent else Status.QUEUED)
    assert message.last_error


# --- The task --------------------------------------------------------------------------------------------


def test_the_task_delivers_a_queued_message(make_message, sms_outbox):
    message = make_message()
    deliver_message.delay(message.pk)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert len(sms_outbox) == 1


def test_without_a_worker_a_transient_failure_stays_queued_instead_of_raising(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("Africa's Talking is unavailable (HTTP 503).", permanent=False))
    message = make_message()
    deliver_message.delay(message.pk)  # eager: runs here, like the embedded default
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.attempts == 1


def test_on_a_worker_a_transient_failure_schedules_a_retry_with_backoff(make_message, scripted_sms):
    scripted_sms.errors.extend([SmsError("HTTP 503", permanent=False), SmsError("HTTP 503", permanent=False)])
    message = make_message()
    task = deliver_message._get_current_object()
    with mock.patch.object(task, "retry", side_effect=Retry("retrying")) as retry:
        with pytest.raises(Retry):
            task.run(message.pk)  # as a worker runs it: not eager, first try
        task.push_request(retries=3)
        try:
            with pytest.raises(Retry):
                task.run(message.pk)
        finally:
            task.pop_request()
    first, fourth = retry.call_args_list
    assert isinstance(first.kwargs["exc"], SmsError)
    assert 60 <= first.kwargs["countdown"] <= 75
    assert 480 <= fourth.kwargs["countdown"] <= 600
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.attempts == 2


def test_on_a_worker_a_permanent_failure_is_not_retried(make_message, scripted_sms):
    scripted_sms.errors.append(SmsError("403 InvalidPhoneNumber", permanent=True))
    message = make_message()
    task = deliver_message._get_current_object()
    with mock.patch.object(task, "retry") as retry:
        task.run(message.pk)
    retry.assert_not_called()
    message.refresh_from_db()
    assert message.status == Status.FAILED


def test_the_task_ignores_a_message_that_no_longer_exists(db, caplog):
    deliver_message.delay(987654)
    assert "Message 987654 to deliver does not exist." in caplog.text
