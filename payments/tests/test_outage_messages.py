"""Fault tests with real processes (PostgreSQL, a private redis-server, Celery workers): nothing lost,
nothing doubled across a Redis outage or a worker killed mid-payment (issue 13, finding 4; check 23).

The email and SMS providers are the only stand-ins (notifications.tests.fakes: every process appends what
it sent to one file), so a test counts what really left, whichever process sent it.
"""

import datetime
import shutil
from collections import Counter
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditLog
from core.models import YearlyCounter
from daraja_simulator import outcomes
from notifications.models import Message
from notifications.services import messages_redeliver
from notifications.tasks import deliver_message, redeliver_queued_messages
from notifications.tests.fakes import HANG_FILE_ENV, OUTBOX_FILE_ENV, recorded_sends
from payments.models import Payment
from payments.services import RECEIPT_PREFIX, callback_process, callback_receive, payment_initiate_mpesa
from payments.tasks import reconcile_pending_payments
from payments.tests.test_concurrency import success_body
from tests.celery_outage import CeleryWorker, RedisServer, celery_publishing_to, wait_until
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.security_check(23)]

PROVIDERS = {
    "EMAIL_BACKEND": "notifications.tests.fakes.FileRecordingEmailBackend",
    "SMS_BACKEND": "notifications.tests.fakes.FileRecordingSmsBackend",
}


@pytest.fixture
def lab(tmp_path, settings, monkeypatch):
    """A private Redis as the broker (and the workers' cache), this process publishing to it, and a way to
    start workers on it; everything stopped afterwards, whatever happened."""
    if connection.vendor != "postgresql":
        pytest.skip("Fault tests need PostgreSQL: set DATABASE_URL=postgres://...")
    if not shutil.which("redis-server"):
        pytest.skip("Fault tests need the redis-server binary (apt-get install redis-server).")
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv(OUTBOX_FILE_ENV, str(outbox))
    monkeypatch.delenv(HANG_FILE_ENV, raising=False)
    for name, value in PROVIDERS.items():
        setattr(settings, name, value)
    redis = RedisServer(tmp_path)
    workers = []

    def worker(name, **env):
        started = CeleryWorker(broker_url=redis.url, workdir=tmp_path, name=name, env={**PROVIDERS, **env})
        workers.append(started)
        started.start()
        return started

    redis.start()
    try:
        with celery_publishing_to(redis.url):
            yield SimpleNamespace(redis=redis, worker=worker, outbox=outbox, tmp=tmp_path)
    finally:
        for started in workers:
            started.stop()
            print(f"--- {started.name} ---\n{started.log()[-4000:]}")
        redis.stop()


def pay(member, phone):
    return payment_initiate_mpesa(member=member, payment_type="registration", phone=phone, actor=member.user)


def complete_by_callback(daraja, payment, receipt):
    """The customer paid, and Daraja's status query confirms the success callback (check 24), asked here as
    a background job asks it (not through the broker, which may be the thing that is down)."""
    daraja.resolve(payment.checkout_request_id, 0, deliver=False, force=True)
    body = success_body(payment, receipt)
    callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None)
    return callback_process(callback, confirm_now=True)


def sent_once_each(sends):
    """Every message the providers took, by (channel, recipient, text): each must have been taken once."""
    counts = Counter((send["channel"], send["to"], send["body"]) for send in sends)
    return {key: count for key, count in counts.items() if count != 1}


def test_redis_stopped_during_completions_loses_and_doubles_no_message(lab, daraja, reference_data, caplog):
    lab.worker("outage-a", NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS="0")
    members = [MemberFactory(phone_number=f"2547110008{index:02d}") for index in range(5)]
    payments = [pay(member, member.phone_number) for member in members]
    received = Message.objects.filter(event="payment_received")

    # Redis up: the worker sends a completion's email and SMS straight away.
    assert complete_by_callback(daraja, payments[0], "TKR0000000") == "applied"
    wait_until(lambda: received.filter(status=Message.Status.SENT).count() == 2, timeout=20, what="the first sends")

    lab.redis.stop()
    for index, payment in enumerate(payments[1:], start=1):
        assert complete_by_callback(daraja, payment, f"TKR000000{index}") == "applied"
    assert Payment.objects.filter(status=Payment.Status.COMPLETED).count() == 5
    # Each completion's messages are committed with it, waiting: none was lost with the broker.
    waiting = received.filter(status=Message.Status.QUEUED, attempts=0)
    assert waiting.count() == 8
    assert len(recorded_sends(lab.outbox)) == 2
    assert "Connection refused" in caplog.text or "Error 111" in caplog.text  # the failed publishes, logged

    lab.redis.start()
    redeliver_queued_messages.delay()  # what beat publishes every NOTIFICATIONS_SWEEP_SECONDS
    wait_until(lambda: received.filter(status=Message.Status.SENT).count() == 10, timeout=45, what="the sweep")

    sends = recorded_sends(lab.outbox)
    assert len(sends) == 10 and sent_once_each(sends) == {}
    for member, payment in zip(members, Payment.objects.order_by("pk"), strict=True):
        assert [s["channel"] for s in sends if s["to"] in (member.user.email, member.phone_number)] in (
            ["email", "sms"],
            ["sms", "email"],
        )
        assert sum(payment.receipt_number in s["body"] for s in sends if s["channel"] == "sms") == 1
    # Later sweeps, here or in the worker, find nothing more to send.
    assert messages_redeliver(older_than=datetime.timedelta(0)).sent == 0
    assert len(recorded_sends(lab.outbox)) == 10


def _backend_waiting_on_a_lock(database: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            [database],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def test_a_worker_killed_mid_payment_and_mid_send_leaves_one_payment_and_one_of_each_message(
    lab, daraja, reference_data, settings
):
    member = MemberFactory(phone_number="254711000900")
    payment = pay(member, outcomes.PHONE_NO_CALLBACK)  # Daraja took it; its callback never comes
    worker_env = {
        "MPESA_ENVIRONMENT": "simulator",
        "MPESA_BASE_URL": daraja.base_url,
        "MPESA_CONSUMER_KEY": "",
        "MPESA_CONSUMER_SECRET": "",
        "MPESA_PASSKEY": "",
        "MPESA_SHORTCODE": settings.MPESA_SHORTCODE,
        "MPESA_RECONCILE_AFTER_SECONDS": "0",
    }
    database = connection.settings_dict
    dsn = f"host={database['HOST']} port={database['PORT']} user={database['USER']} dbname={database['NAME']}"

    # 1. Killed mid-payment: the worker's completing transaction waits on the receipt counter (held here),
    #    after it has marked the payment completed, and is killed there.
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE core_yearlycounter IN EXCLUSIVE MODE")
        first = lab.worker("killed-mid-payment", **worker_env)
        reconcile_pending_payments.delay()
        pid = wait_until(lambda: _backend_waiting_on_a_lock(database["NAME"]), timeout=20, what="the completion")
        first.kill()
        blocker.rollback()
    # Its backend finds its client gone as soon as it can answer it; PostgreSQL would end it on a dead
    # socket's keepalive anyway, so past a few seconds the test ends it as that would.
    try:
        wait_until(lambda: _backend_gone(pid), timeout=5, what="the killed worker's backend")
    except AssertionError:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_until(lambda: _backend_gone(pid), timeout=10, what="the killed worker's backend")

    payment.refresh_from_db()
    assert (payment.status, payment.receipt_number) == (Payment.Status.PENDING, None)  # rolled back, whole
    assert not Message.objects.exists()
    assert not YearlyCounter.objects.filter(prefix=RECEIPT_PREFIX, last_value__gt=0).exists()

    # 2. Recovery: the next reconciliation, in a new worker, completes it once. That worker is killed in turn
    #    while the SMS provider has the message (the call never returns).
    hang = lab.tmp / "sms-in-flight"
    second = lab.worker("killed-mid-send", **worker_env, **{HANG_FILE_ENV: str(hang)})
    reconcile_pending_payments.delay()
    wait_until(hang.exists, timeout=30, what="the SMS send")
    second.kill()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED and payment.receipt_number
    sms = Message.objects.get(event="payment_received", channel="sms")
    assert sms.status == Message.Status.SENDING  # claimed by the dead worker, never sent
    assert [s["channel"] for s in recorded_sends(lab.outbox)] == ["email"]

    # 3. The sweep, once the claim is older than NOTIFICATIONS_STALE_SENDING_SECONDS, sends it again.
    settings.NOTIFICATIONS_STALE_SENDING_SECONDS = 0
    sms.refresh_from_db()
    wait_until(lambda: timezone.now() > sms.last_attempt_at, timeout=2, what="the clock")
    assert messages_redeliver(older_than=datetime.timedelta(0)).sent == 1
    # The dead worker's delivery task, if the broker ever hands it out again, finds it sent.
    deliver_message.apply(args=[sms.pk])
    assert messages_redeliver(older_than=datetime.timedelta(0)).sent == 0

    sends = recorded_sends(lab.outbox)
    assert sorted(s["channel"] for s in sends) == ["email", "sms"] and sent_once_each(sends) == {}
    assert payment.receipt_number in next(s["body"] for s in sends if s["channel"] == "sms")
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SENT}
    assert YearlyCounter.objects.get(prefix=RECEIPT_PREFIX).last_value == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1
