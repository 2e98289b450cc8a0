"""Fault test: M-Pesa callbacks during a PostgreSQL outage (issue 13 finding 3, QUALITY check 23).

The test starts its own PostgreSQL cluster (initdb in a temporary directory, a free port), migrates it and
runs the application in a real gunicorn against it. Success callbacks are posted over HTTP for pending
payments; then the cluster is stopped (`pg_ctl stop -m fast`) and more callbacks arrive, one of them for a
payment whose STK push answer was never saved and one a duplicate. Each is answered "Accepted" only
because it was spooled on disk. The cluster is restarted, reconciliation runs (at a time past the payment
timeout, with Daraja's status query down) and `manage.py replay_callback_spool`. Then: every payment
completed exactly once with its M-Pesa receipt, one callback row per delivery, one credit and one receipt
number each, nothing timed out, the spool empty. Everything it started is stopped, also on failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.security_check(23)]

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PAID_BEFORE = 3  # callbacks delivered while the database is up
PAID_DURING = 3  # callbacks delivered while it is down (plus a duplicate and the unsaved push's)

SETUP = """
import json
from members.dues import payment_due
from payments.models import Payment
from tests.factories import MemberFactory, load_reference_data

load_reference_data()
rows = []
for index in range({count}):
    member = MemberFactory()
    payment = Payment.objects.create(
        member=member, payment_type="registration", method="mpesa", amount=payment_due(member).amount,
        phone_number=f"2547110009{{index:02d}}",
        # The last one's STK push answer was never saved (the outage began as Daraja accepted the push).
        checkout_request_id=None if index == {count} - 1 else f"ws_CO_OUTAGE{{index:04d}}",
    )
    rows.append({{"pk": payment.pk, "token": payment.callback_token, "amount": payment.amount,
                 "phone": payment.phone_number, "checkout": f"ws_CO_OUTAGE{{index:04d}}"}})
print("ROWS=" + json.dumps(rows))
"""

AFTER = """
import datetime, io, json
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from audit.models import AuditLog
from core.models import YearlyCounter
from mpesa.errors import DarajaError
from payments.models import MpesaCallback, Payment
from payments.services import reconcile_stale_payments

class QueryDown:
    def stk_query(self, checkout_request_id):
        raise DarajaError("Daraja is not answering", maybe_processed=True)

later = timezone.now() + datetime.timedelta(seconds=settings.MPESA_PAYMENT_TIMEOUT_SECONDS + 60)
summary = vars(reconcile_stale_payments(now=later, client=QueryDown()))
replay = io.StringIO()
call_command("replay_callback_spool", stdout=replay)
print("STATE=" + json.dumps({
    "reconciliation": summary,
    "replay": replay.getvalue(),
    "payments": list(Payment.objects.order_by("pk").values(
        "pk", "status", "mpesa_receipt_number", "receipt_number", "result_source", "checkout_request_id")),
    "callbacks": list(MpesaCallback.objects.order_by("pk").values("payment_id", "outcome", "spool_id")),
    "completions": list(AuditLog.objects.filter(action="payment_completed").values_list("target_id", flat=True)),
    "receipts_taken": YearlyCounter.objects.get(prefix="RCT").last_value,
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster, run as the postgres OS user when we are root."""

    def __init__(self):
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.base = Path(tempfile.mkdtemp(prefix="outage-pg-"))
        if self.as_postgres:
            shutil.chown(self.base, "postgres")
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *args, timeout=60):
        return subprocess.run(  # noqa: S603 - PostgreSQL's own tools, fixed arguments
            [*self.as_postgres, *map(str, args)], check=True, capture_output=True, text=True, timeout=timeout
        )

    def init(self):
        self.run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self):
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.base / "server.log", "-w", "-t", "30", "-o", options, "start"
        )

    def stop(self, mode="fast"):
        self.run(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self):
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                pass
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def cluster():
    if connection.vendor != "postgresql":
        pytest.skip("A PostgreSQL fault test: run with DATABASE_URL=postgres://... (it starts its own cluster)")
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (set PG_BIN)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("Running as root needs runuser to start PostgreSQL as the postgres user")
    cluster = Cluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def app_env(cluster, tmp_path):
    return {
        **os.environ,
        "ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": cluster.url,
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CELERY_RESULT_BACKEND": "",
        "CELERY_TASK_ALWAYS_EAGER": "True",
        "DEBUG": "True",
        "MPESA_CALLBACK_IP_CHECK": "off",
        # No Daraja here (the payments' CheckoutRequestIDs are made up): this test is about the database
        # outage. Daraja confirming callbacks across an outage is test_callback_spool.py's, with the simulator.
        "MPESA_CONFIRM_CALLBACKS": "False",
        "MPESA_CONFIRM_CALLBACKS_OFF_REASON": "database-outage fault test: no Daraja to confirm with",
        "MPESA_CALLBACK_SPOOL_DIR": str(tmp_path / "spool"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PRIVATE_MEDIA_ROOT": str(tmp_path / "private"),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "SMS_BACKEND": "notifications.sms.LocmemSmsBackend",
    }


def manage(env, *args, timeout=60) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def shell(env, script: str, marker: str):
    output = manage(env, "shell", "-c", script)
    line = next(line for line in output.splitlines() if line.startswith(marker + "="))
    return json.loads(line[len(marker) + 1 :])


@pytest.fixture
def server(app_env, tmp_path):
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(  # noqa: S603 - our own app
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "30",
            "config.wsgi:application",
        ],
        cwd=settings.BASE_DIR,
        env=app_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "gunicorn exited"
            try:
                urllib.request.urlopen(base + "/healthz", timeout=5)  # noqa: S310 - our local server
                break
            except urllib.error.HTTPError:
                break  # it answers (the new database has no tables yet; that is not the point here)
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read()[-5000:])
        log.close()


def success_body(row, receipt) -> bytes:
    items = [
        {"Name": "Amount", "Value": float(row["amount"])},
        {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "TransactionDate", "Value": 20261205001500},
        {"Name": "PhoneNumber", "Value": int(row["phone"])},
    ]
    callback = {
        "MerchantRequestID": f"mr-{row['pk']}",
        "CheckoutRequestID": row["checkout"],
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": items},
    }
    return json.dumps({"Body": {"stkCallback": callback}}).encode()


def post(base, row, receipt) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - our local server
        f"{base}/api/mpesa/callback/{row['token']}/",
        data=success_body(row, receipt),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_callbacks_during_a_database_outage_are_kept_and_credited_once(cluster, app_env, server, tmp_path):
    manage(app_env, "migrate", "-v", "0", timeout=120)
    count = PAID_BEFORE + PAID_DURING + 1
    rows = shell(app_env, SETUP.format(count=count), "ROWS")
    receipts = {row["pk"]: f"TKO{index:07d}" for index, row in enumerate(rows)}
    spool = Path(app_env["MPESA_CALLBACK_SPOOL_DIR"])

    for row in rows[:PAID_BEFORE]:
        assert post(server, row, receipts[row["pk"]]) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})

    cluster.stop("fast")
    during = rows[PAID_BEFORE:]  # the unsaved push's payment last
    deliveries = [*during, during[0]]  # and Daraja's duplicate of one of them
    for number, row in enumerate(deliveries, start=1):
        assert post(server, row, receipts[row["pk"]]) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})
        # Accepted only once it is on disk.
        assert len(list(spool.glob("[!.]*.json"))) == number
    with pytest.raises(urllib.error.HTTPError) as health:
        urllib.request.urlopen(server + "/healthz", timeout=10)  # noqa: S310 - our local server
    assert health.value.code == 503
    assert json.loads(health.value.read())["callback_spool"]["depth"] == len(deliveries)

    cluster.start()
    # Reconciliation past the payment timeout (Daraja's query down), then `manage.py replay_callback_spool`.
    state = shell(app_env, AFTER, "STATE")
    assert state["reconciliation"]["timed_out"] == 0, state["reconciliation"]
    assert state["replay"].startswith("replayed 0,"), state["replay"]  # reconciliation replayed them first

    payments = state["payments"]
    assert [p["status"] for p in payments] == ["completed"] * count
    assert {p["pk"]: p["mpesa_receipt_number"] for p in payments} == receipts
    assert all(p["result_source"] == "callback" for p in payments)
    assert payments[-1]["checkout_request_id"] == rows[-1]["checkout"]  # learnt from its callback
    assert len({p["receipt_number"] for p in payments}) == count and state["receipts_taken"] == count
    assert sorted(map(int, state["completions"])) == sorted(receipts)  # one completion each
    callbacks = state["callbacks"]
    assert len(callbacks) == PAID_BEFORE + len(deliveries)  # one row per delivery, none doubled
    assert sum(c["outcome"] == "applied" for c in callbacks) == count
    assert [c["outcome"] for c in callbacks if c["outcome"] != "applied"] == ["duplicate"]
    spooled = [c["spool_id"] for c in callbacks if c["spool_id"]]
    assert len(spooled) == len(set(spooled)) == len(deliveries)
    assert list(spool.glob("*.json")) == []
