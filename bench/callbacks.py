#!/usr/bin/env python3
"""Bench: M-Pesa success callbacks through gunicorn on PostgreSQL, beside pgbench's INSERT rate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/membership_bench .venv/bin/python bench/callbacks.py

It creates N members with one pending M-Pesa payment each (default 10,000), starts the app under
gunicorn on loopback, fires one success callback per payment plus 10% duplicates from concurrent
clients, then prints callbacks/s, p50/p99 latency, and the lost and double-credited counts (both must
be 0). Beside them: pgbench's single-row INSERT transactions per second on the same server, measured in
the same run, and the ratio. Nothing here is a test; it never asserts a time.
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (a database this script may fill; it is migrated and reused).")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "False",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "SESSION_COOKIE_SECURE": "False",
        "CSRF_COOKIE_SECURE": "False",
        "MPESA_ENVIRONMENT": "sandbox",
        "MPESA_CALLBACK_URL": f"https://127.0.0.1:{args.port}/api/mpesa/callback/",
        # No Daraja here to confirm each success with a status query (a Celery task in production), so the
        # callbacks complete their payments themselves: the bench measures that path, checks and completion.
        "MPESA_CONFIRM_CALLBACKS": "False",
        "MPESA_CONFIRM_CALLBACKS_OFF_REASON": "bench/callbacks.py: no Daraja to confirm; measures the callback path",
        # Completion queues notifications; park them on a broker no worker reads.
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15"),
        "CELERY_TASK_ALWAYS_EAGER": "False",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("setup_demo", "--no-demo", verbosity=0)
    payments = prepare(args.payments)
    print(f"prepared {len(payments):,} pending payments")

    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_port(args.port)
        figures = fire(payments, args)
    finally:
        server.terminate()
        server.wait(timeout=30)
    integrity = check(payments)
    tps = pgbench(database_url, args.pgbench_seconds)

    print()
    print(f"{'callbacks sent':<34}{figures['sent']:>12,}  ({figures['duplicates']:,} duplicates)")
    print(f"{'callbacks/s (ours)':<34}{figures['rate']:>12,.0f}")
    print(f"{'single-row INSERT TPS (pgbench)':<34}{tps:>12,.0f}")
    print(f"{'ratio ours / pgbench':<34}{figures['rate'] / tps:>12.2f}")
    print(f"{'latency p50 / p99 (ms)':<34}{figures['p50']:>7.1f} / {figures['p99']:.1f}")
    print(f"{'non-200 answers':<34}{figures['errors']:>12,}")
    print(f"{'lost (still pending)':<34}{integrity['lost']:>12,}")
    print(f"{'double-credited':<34}{integrity['double']:>12,}")
    print(f"{'receipts issued / payments':<34}{integrity['receipts']:>7,} / {len(payments):,}")
    if integrity["lost"] or integrity["double"]:
        sys.exit(1)


def prepare(count):
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from members.models import Country, Member, MembershipCategory
    from payments.models import MpesaCallback, Payment

    User = get_user_model()
    with transaction.atomic():
        MpesaCallback.objects.all().delete()
        Payment.objects.all().delete()
        Member.objects.filter(user__email__endswith="@bench.invalid").delete()
        User.objects.filter(email__endswith="@bench.invalid").delete()
        from core.models import YearlyCounter

        YearlyCounter.objects.filter(prefix="RCT").delete()
    category = MembershipCategory.objects.get(code="associate")
    kenya = Country.objects.get(pk="KE")
    users = User.objects.bulk_create(
        [User(email=f"m{i}@bench.invalid", first_name="Bench", last_name=str(i), password="!") for i in range(count)],
        batch_size=2000,
    )
    now = timezone.now()
    members = Member.objects.bulk_create(
        [
            Member(
                user=u,
                category=category,
                id_number=f"B{i:09d}",
                date_of_birth="1990-01-01",
                gender="other",
                phone_number=f"2547{i:08d}",
                country=kenya,
                status=Member.Status.APPROVED,
                applied_at=now,
            )
            for i, u in enumerate(users)
        ],
        batch_size=2000,
    )
    payments = Payment.objects.bulk_create(
        [
            Payment(
                member=m,
                payment_type="registration",
                amount=category.registration_fee,
                phone_number=m.phone_number,
                checkout_request_id=f"ws_CO_BENCH{i:012d}",
                merchant_request_id=f"bench-{i}",
            )
            for i, m in enumerate(members)
        ],
        batch_size=2000,
    )
    return [(p.checkout_request_id, p.callback_token, p.amount, p.phone_number, i) for i, p in enumerate(payments)]


def body_for(checkout_id, amount, phone, index):
    return json.dumps(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": f"bench-{index}",
                    "CheckoutRequestID": checkout_id,
                    "ResultCode": 0,
                    "ResultDesc": "The service request is processed successfully.",
                    "CallbackMetadata": {
                        "Item": [
                            {"Name": "Amount", "Value": float(amount)},
                            {"Name": "MpesaReceiptNumber", "Value": f"B{index:09d}"},
                            {"Name": "Balance"},
                            {"Name": "TransactionDate", "Value": 20261126120000},
                            {"Name": "PhoneNumber", "Value": int(phone)},
                        ]
                    },
                }
            }
        }
    ).encode()


def fire(payments, args):
    jobs = [(p, False) for p in payments]
    extra = random.Random(7).sample(payments, int(len(payments) * args.duplicates))
    jobs += [(p, True) for p in extra]
    random.Random(8).shuffle(jobs)
    latencies, errors = [], [0]
    lock = threading.Lock()
    local = threading.local()

    def send(job):
        (checkout_id, token, amount, phone, index), _ = job
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        body = body_for(checkout_id, amount, phone, index)
        started = time.perf_counter()
        try:
            local.conn.request(
                "POST", f"/api/mpesa/callback/{token}/", body, {"Content-Type": "application/json;charset=UTF-8"}
            )
            response = local.conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            local.conn.close()
            del local.conn
            ok = False
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            if not ok:
                errors[0] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        list(pool.map(send, jobs))
    duration = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": len(jobs),
        "duplicates": len(extra),
        "rate": len(jobs) / duration,
        "errors": errors[0],
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
    }


def check(payments):
    from django.db.models import Count, Q

    from payments.models import MpesaCallback, Payment

    ids = [p[0] for p in payments]
    lost = Payment.objects.filter(checkout_request_id__in=ids).exclude(status="completed").count()
    double = (
        MpesaCallback.objects.filter(outcome="applied")
        .values("payment")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    receipts = Payment.objects.filter(checkout_request_id__in=ids, receipt_number__isnull=False).count()
    distinct_receipts = Payment.objects.filter(~Q(receipt_number=None)).values("receipt_number").distinct().count()
    return {"lost": lost, "double": double + (receipts - distinct_receipts), "receipts": receipts}


def pgbench(database_url, seconds):
    url = urlparse(database_url)
    conn = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    name = url.path.lstrip("/")
    subprocess.run(
        [
            "psql",
            *conn,
            "-d",
            name,
            "-qc",  # noqa: S603, S607
            "DROP TABLE IF EXISTS bench_insert; CREATE TABLE bench_insert (id bigserial primary key, v int)",
        ],
        check=True,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_insert (v) VALUES (1);\n")
    result = subprocess.run(  # noqa: S603, S607
        ["pgbench", *conn, "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", script.name, name],
        check=True,
        capture_output=True,
        text=True,
    )
    os.unlink(script.name)
    for line in result.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise RuntimeError(result.stdout)


def wait_for_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/api/mpesa/callback/ping/")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


if __name__ == "__main__":
    main()
