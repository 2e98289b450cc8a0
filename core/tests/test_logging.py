"""Logs: secrets and personal data never reach them (security check 14); each request's lines carry its id.

The flows run for real (a failed login, a registration, an STK push to the local Daraja simulator and its
callback) with every logger at DEBUG, and everything the configured console handler writes is searched.
"""

import base64
import io
import json
import logging
import re
import uuid

import pytest

from core import request_id as request_ids
from core.log_redaction import MASK, redact
from members.models import Member, Region
from members.tests.conftest import sample_upload
from mpesa.client import SANDBOX_PASSKEY
from mpesa.config import SIMULATOR_CONSUMER_KEY, SIMULATOR_CONSUMER_SECRET
from payments.models import Payment
from tests.factories import PASSWORD

WRONG_PASSWORD = "Wrong-Horse-Battery-17"
NEW_PASSWORD = "Quiet-River-Lantern-52"
ID_NUMBER = "29876543"
PHONE = "254712345678"


def _console_handler():
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert handlers, "settings.LOGGING's console handler is not installed on the root logger"
    return handlers[0]


@pytest.fixture
def console_log():
    """What the real console handler (its filters and formatter) writes, with every logger at DEBUG."""
    handler = _console_handler()
    buffer = io.StringIO()
    old_stream = handler.setStream(buffer)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.setLevel(old_level)
        handler.setStream(old_stream)


def _forbidden(*values):
    """Each value, and the forms it could be logged in (local phone form, base64 in a Daraja password)."""
    found = set()
    for value in values:
        found.add(value)
        if re.fullmatch(r"254\d{9}", value):
            found.add("0" + value[3:])
            found.add("+" + value)
    return found


def _assert_absent(text, values):
    leaked = sorted(value for value in values if value and value in text)
    for value in leaked:
        at = text.index(value)
        print("LEAK CONTEXT:", text[max(0, at - 300) : at + 100])
    assert not leaked, f"leaked into the logs: {leaked}\n{text[-3000:]}"


@pytest.mark.security_check(14)
def test_the_redaction_filter_masks_what_the_handler_writes(console_log, settings):
    settings.MPESA_PASSKEY = "pk-0123456789abcdef-passkey"
    settings.MPESA_CONSUMER_SECRET = "cs-fedcba9876543210-secret"
    log = logging.getLogger("core.tests.redaction")
    log.warning("push %s with passkey %s", "0712345678", settings.MPESA_PASSKEY)
    log.info("auth %s:%s", "key", settings.MPESA_CONSUMER_SECRET)
    log.info("form password=%s otp=%s national_id=%s", WRONG_PASSWORD, "123456", ID_NUMBER)
    log.info('payload {"Password": "abc==", "id_number": "%s", "PhoneNumber": %s}', ID_NUMBER, PHONE)
    try:
        raise ValueError(f"boom for +{PHONE} with secret {settings.MPESA_CONSUMER_SECRET}")
    except ValueError:
        log.exception("failed")
    text = console_log.getvalue()
    _assert_absent(
        text,
        _forbidden(PHONE, WRONG_PASSWORD, "123456", ID_NUMBER, "abc==")
        | {settings.MPESA_PASSKEY, settings.MPESA_CONSUMER_SECRET},
    )
    assert "0712****78" in text and "2547******78" in text
    assert text.count(MASK) >= 6
    assert "ValueError: boom for" in text  # the traceback is kept, masked


def test_redact_leaves_ordinary_text_alone():
    text = "Payment 42 KES 1000 ResultCode=0 checkout ws_CO_26112026153025123456 receipt NLJ7RT61SV at 20261126153025"
    assert redact(text) == text


@pytest.mark.security_check(14)
@pytest.mark.django_db
def test_a_failed_login_and_a_registration_leave_no_password_id_or_phone_in_the_logs(alice, client, console_log):
    response = client.post("/login/", {"username": alice.user.email, "password": WRONG_PASSWORD})
    assert response.status_code == 200  # the form again, with an error

    category = alice.category
    data = {
        "email": "wanjiku.kamau@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "first_name": "Wanjiku",
        "last_name": "Kamau",
        "id_type": "national_id",
        "id_number": ID_NUMBER,
        "date_of_birth": "1991-05-20",
        "gender": "female",
        "phone_number": "0798765432",
        "country": "KE",
        "region": Region.objects.get(country="KE", code="047").pk,
        "physical_address": "Kenyatta Avenue, Nairobi",
        "occupation": "Engineer",
        "category": category.pk,
        "accept_privacy_notice": "on",
    }
    for code in category.required_documents:
        data[f"document_{code}"] = sample_upload(code)
    client.logout()
    response = client.post("/register/", data)
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    assert Member.objects.filter(id_number=ID_NUMBER).exists()

    text = console_log.getvalue()
    assert text  # the flows did log something (at least the SQL-free debug lines of the libraries)
    _assert_absent(text, _forbidden(WRONG_PASSWORD, NEW_PASSWORD, PASSWORD, ID_NUMBER, "254798765432"))


@pytest.mark.security_check(14)
def test_an_stk_push_and_its_callback_leave_no_secret_or_phone_in_the_logs(
    alice, settings, daraja_live, client, console_log
):
    # The credentials the client really uses against the simulator, so the filter knows their values.
    settings.MPESA_CONSUMER_KEY = SIMULATOR_CONSUMER_KEY
    settings.MPESA_CONSUMER_SECRET = SIMULATOR_CONSUMER_SECRET
    settings.MPESA_PASSKEY = SANDBOX_PASSKEY
    alice.phone_number = PHONE
    alice.save(update_fields=["phone_number"])
    client.force_login(alice.user)

    response = client.post("/payments/pay/", {"phone_number": "0712345678", "payment_type": "registration"})
    assert response.status_code == 302, response.content[:500]
    payment = Payment.objects.get(member=alice)
    daraja_live.wait_for_deliveries(1)
    daraja_live.wait_until_idle()
    payment.refresh_from_db()
    assert payment.status == "completed", payment.result_description
    # And a forged callback with a phone in it, rejected and logged as a security event.
    forged = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_unknown", "ResultCode": 0, "PhoneNumber": PHONE}}}
    client.post("/api/mpesa/callback/not-a-token/", json.dumps(forged), content_type="application/json")

    text = console_log.getvalue()
    assert "STK push accepted" in text  # the flow's own lines are there, masked
    # Daraja's CheckoutRequestID ends with the MSISDN's last 9 digits after a millisecond part
    # (ws_CO_<ddMMyyyyHHmmss><ms><9 digits>), and the logs keep it whole so a payment can be traced; when the
    # milliseconds end in 0 it happens to contain the local form 07.... That is an id, not a logged phone.
    text = re.sub(r"ws_CO_\d+", "ws_CO_<id>", text)
    basic = base64.b64encode(f"{SIMULATOR_CONSUMER_KEY}:{SIMULATOR_CONSUMER_SECRET}".encode()).decode()
    _assert_absent(text, _forbidden(PHONE, SANDBOX_PASSKEY, SIMULATOR_CONSUMER_SECRET, basic))


# --- Request ids ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_valid_incoming_request_id_is_kept_and_is_on_the_requests_log_lines(client, console_log):
    incoming = uuid.uuid4().hex
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)
    assert response.status_code == 404
    assert response["X-Request-ID"] == incoming
    lines = [line for line in console_log.getvalue().splitlines() if "Not Found: /no-such-page/" in line]
    assert lines and all(f"[{incoming}]" in line for line in lines)
    assert request_ids.current_request_id() == request_ids.NO_REQUEST  # cleared when the request ended


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "short", "has space in it", "x" * 65, "abc\ninjected log line", "a'b\"c<d>"])
def test_an_invalid_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/login/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.django_db
def test_every_answer_gets_a_fresh_id_without_one(client):
    first, second = client.get("/login/")["X-Request-ID"], client.get("/login/")["X-Request-ID"]
    assert first != second


def test_a_queued_task_carries_the_request_id_to_the_worker():
    token = request_ids.request_id_var.set("req-1234567890")
    try:
        headers = {}
        request_ids._add_request_id_header(headers=headers)
        assert headers == {"request_id": "req-1234567890"}
    finally:
        request_ids.request_id_var.reset(token)

    class Task:
        class request:  # noqa: N801 - Celery's task.request
            request_id = "req-1234567890"

    request_ids._use_request_id_of_task(task_id="t1", task=Task)
    assert request_ids.current_request_id() == "req-1234567890"
    request_ids._forget_request_id_of_task(task_id="t1")
    assert request_ids.current_request_id() == request_ids.NO_REQUEST


def test_json_log_format_writes_one_object_per_line_with_the_request_id(settings):
    config = settings.LOGGING
    formatter_config = dict(config["formatters"]["json"])
    factory = formatter_config.pop("()")
    module, _, name = factory.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(**formatter_config)
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(formatter)
    handler.addFilter(request_ids.RequestIdFilter())
    from core.log_redaction import RedactingFilter

    handler.addFilter(RedactingFilter())
    record = logging.LogRecord("payments", logging.INFO, __file__, 1, "paid from %s", (PHONE,), None)
    record.request = object()  # Django's request extra is dropped, never printed
    token = request_ids.request_id_var.set("rid-abcdef123456")
    try:
        handler.handle(record)
    finally:
        request_ids.request_id_var.reset(token)
    line = handler.stream.getvalue().strip()
    entry = json.loads(line)
    assert entry["request_id"] == "rid-abcdef123456"
    assert entry["level"] == "INFO" and entry["logger"] == "payments"
    assert entry["message"] == "paid from 2547******78"
    assert "request" not in entry


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_a_queued_task_with_the_request_id_that_queued_it(tmp_path, settings):
    """Through Redis to a separate `celery worker` process: its log lines use settings.LOGGING (not
    Celery's own handlers), so they carry the request id and pass the redaction filter."""
    import os
    import subprocess
    import sys
    import time

    from django.db import connection

    from config.celery import app as celery_app
    from dashboard.tasks import delete_old_exports

    redis_url = os.environ.get("REDIS_URL", "")
    if connection.vendor != "postgresql" or not redis_url:
        pytest.skip("Needs PostgreSQL and Redis: set DATABASE_URL=postgres://... and REDIS_URL=redis://...")
    broker = celery_app.conf.broker_url or redis_url
    celery_app.control.purge()
    database = connection.settings_dict
    log_file = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": "",
        "CELERY_TASK_ALWAYS_EAGER": "False",
        "PRIVATE_MEDIA_ROOT": str(tmp_path / "private"),
    }
    with open(log_file, "w") as output:
        worker = subprocess.Popen(  # noqa: S603 - our own Celery app
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"log-{os.getpid()}@localhost"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    old_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    token = request_ids.request_id_var.set("rid-from-the-web-0001")
    try:
        delete_old_exports.delay()
        deadline = time.monotonic() + 60
        while "succeeded in" not in log_file.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, "the Celery worker died:\n" + log_file.read_text()
            time.sleep(0.5)
    finally:
        request_ids.request_id_var.reset(token)
        celery_app.conf.task_always_eager = old_eager
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    lines = [line for line in log_file.read_text().splitlines() if "dashboard.delete_old_exports[" in line]
    assert any("succeeded in" in line for line in lines), log_file.read_text()[-3000:]
    # The task's own lines carry the id of the request that queued it; the worker's other lines do not.
    assert all("[rid-from-the-web-0001]" in line for line in lines if "succeeded in" in line)
    assert "Connected to redis" in log_file.read_text() and "[-] Connected to redis" in log_file.read_text()
