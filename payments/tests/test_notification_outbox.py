"""A payment's notifications are rows in the outbox, written in the payment's own transaction (finding 4 of
issue 13): with the broker down when the payment commits, the messages wait in the database and the sweep
sends each once when the broker is back. Before, the broker was asked to render them after the commit and,
when it could not be reached, the messages were lost for good."""

import json
import logging

import pytest
from celery.app.task import Task
from django.core import mail
from django.db import connection
from kombu.exceptions import OperationalError

from notifications.models import Message, Notification
from notifications.tasks import redeliver_queued_messages
from payments.models import Payment
from payments.services import callback_process, callback_receive, payment_initiate_mpesa
from payments.tests.test_concurrency import success_body
from tests.factories import MemberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(23)]

Status = Message.Status


class BrokerOutage:
    """Every task publish fails as kombu's does when Redis refuses the connection (the broker edge), until
    `end()`."""

    def __init__(self, monkeypatch):
        self.patch = monkeypatch

    def begin(self):
        def refuse(task, *args, **kwargs):
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        self.patch.setattr(Task, "apply_async", refuse)

    def end(self):
        self.patch.undo()


@pytest.fixture
def broker_down(monkeypatch):
    outage = BrokerOutage(monkeypatch)
    outage.begin()
    yield outage
    outage.end()


@pytest.fixture
def sms_outbox():
    from notifications import sms

    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


def members(count):
    return [MemberFactory(phone_number=f"2547110007{index:02d}") for index in range(count)]


def pay(member, index):
    return payment_initiate_mpesa(
        member=member, payment_type="registration", phone=f"2547110007{index:02d}", actor=member.user
    )


def failure_body(payment):
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": payment.merchant_request_id or "1234-5678-1",
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user",
            }
        }
    }
    return json.dumps(body).encode()


def deliver(body, payment, daraja=None):
    """Store and apply a callback. With `daraja`, the customer paid: Daraja's status query confirms the
    success callback (check 24), asked here as a background job asks it, not through the broker."""
    if daraja is not None:
        daraja.resolve(payment.checkout_request_id, 0, deliver=False, force=True)
    callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None)
    return callback_process(callback, confirm_now=daraja is not None)


def test_payments_completed_while_the_broker_is_down_are_announced_once_when_it_is_back(
    daraja, reference_data, broker_down, django_capture_on_commit_callbacks, sms_outbox, settings, caplog
):
    settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS = 0
    payers = members(4)
    payments = [pay(member, index) for index, member in enumerate(payers)]
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        for index, payment in enumerate(payments):
            assert deliver(success_body(payment, f"TKB{index:07d}"), payment, daraja) == "applied"

    assert Payment.objects.filter(status=Payment.Status.COMPLETED).count() == 4
    queued = Message.objects.filter(event="payment_received")
    # Each payment's email and SMS wait in the outbox, unsent: nothing reached the broker.
    assert sorted(queued.values_list("channel", "status")) == [("email", "queued")] * 4 + [("sms", "queued")] * 4
    assert mail.outbox == [] and sms_outbox == []

    assert "Connection refused" in caplog.text  # the failed publish is logged, and nothing else is lost

    broker_down.end()
    assert redeliver_queued_messages.delay().get() == {"sent": 8, "failed": 0, "still_queued": 0, "skipped": 0}
    assert redeliver_queued_messages.delay().get() == {"sent": 0, "failed": 0, "still_queued": 0, "skipped": 0}

    assert sorted(queued.values_list("status", flat=True)) == [Status.SENT] * 8
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.user.email for p in payers)
    assert sorted(s.to for s in sms_outbox) == sorted(p.phone_number for p in payers)
    for payment in Payment.objects.all():
        assert sum(payment.receipt_number in s.message for s in sms_outbox) == 1
    assert Notification.objects.filter(event="payment_received").count() == 4


def test_a_payment_failure_while_the_broker_is_down_is_announced_when_it_is_back(
    daraja, reference_data, broker_down, django_capture_on_commit_callbacks, sms_outbox, settings
):
    settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS = 0
    (member,) = members(1)
    payment = pay(member, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(failure_body(payment), payment) == "applied"

    assert sorted(Message.objects.filter(event="payment_failed").values_list("channel", "status")) == [
        ("email", "queued"),
        ("sms", "queued"),
    ]
    broker_down.end()
    assert redeliver_queued_messages.delay().get()["sent"] == 2
    assert len(mail.outbox) == 1 and len(sms_outbox) == 1


def test_the_messages_commit_with_the_payment_not_after_it(
    daraja, reference_data, django_capture_on_commit_callbacks, sms_outbox
):
    """Written in the payment's transaction: before its commit hooks run, the rows exist; delivery waits."""
    (member,) = members(1)
    payment = pay(member, 0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert deliver(success_body(payment, "TKB9000001"), payment, daraja) == "applied"
    assert Message.objects.filter(event="payment_received", status=Status.QUEUED).count() == 2
    assert mail.outbox == [] and sms_outbox == []
    for callback in callbacks:
        callback()
    assert Message.objects.filter(event="payment_received", status=Status.SENT).count() == 2


def test_a_database_error_while_notifying_never_undoes_the_payment(
    daraja, reference_data, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """notify_member runs inside the payment's transaction; each of its steps has a savepoint, so a failing
    query (which on PostgreSQL makes the whole transaction unusable without one) rolls back only itself."""

    def broken_context(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_for_this_test")

    monkeypatch.setattr("notifications.services.event_context", broken_context)
    (member,) = members(1)
    payment = pay(member, 0)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        assert deliver(success_body(payment, "TKB9000002"), payment, daraja) == "applied"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED and payment.receipt_number
    assert not Message.objects.exists()
    assert "could not be built" in caplog.text
