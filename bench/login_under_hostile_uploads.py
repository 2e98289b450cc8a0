#!/usr/bin/env python3
"""Bench: GET /login/ latency while hostile uploads arrive, beside its latency at rest, in the same run.

    .venv/bin/python bench/login_under_hostile_uploads.py [--workers 2] [--worker-class both|sync|gthread]
        [--threads 4] [--attackers 3] [--rest-requests 100] [--attack-seconds 30] [--files finding|caps|both]

Issue 13, finding 1: three anonymous registrations carrying costly files (a 2.5 MB PDF of 20,000 blank pages,
a 150 KB PNG of 6200 x 6200 pixels) held both gunicorn workers and a plain GET /login/ waited 68 s.

It migrates a database (a fresh SQLite file in a temporary directory unless DATABASE_URL is set: that
database is migrated and gets the reference data, nothing else) and, for each server below, starts gunicorn
with deploy/gunicorn.conf.py and --workers 2 like the attacked server, with DEBUG off: first with plain sync
workers (the attacked server's), then as deploy/gunicorn.conf.py now says (threaded workers,
GUNICORN_THREADS); --worker-class sync|gthread [--threads N] runs one server only. For each:

  1. at rest: --rest-requests sequential GET /login/, p50/p95/max;
  2. under attack: --attackers clients each loop GET /register/ (for the CSRF token) and POST /register/
     with the hostile files, for --attack-seconds, while one client keeps timing GET /login/.

Files (--files): "finding" are the attack's own files (now refused from the header and the page count);
"caps" are the costliest files the caps let through to a full check: a 5000 x 5000 RGBA PNG (25 megapixels,
100 MB decoded, about a second) and a PDF of 9,000 small objects (pypdf parses them for 2-3 s; on a loaded
machine the check runs into DOCUMENT_CHECK_TIMEOUT_SECONDS and is killed). When both pass, the POST is still
refused for the form's other fields ("refusal reasons seen: none"). "both" runs the attack twice.

REGISTER_RATE is raised to 100000/hour for the run (the attackers share one address; in production the
per-address limit of 10/hour would stop them sooner). The figures are a report, not a test: the exit status
is 0. Timings on a shared machine move with its load: the header prints the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (the attacked server had 2)")
    parser.add_argument(
        "--worker-class",
        default="both",
        help="both (default): the attacked server's sync workers, then deploy/gunicorn.conf.py's threaded ones; "
        "or one gunicorn worker class (sync, gthread) with --threads",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker, with --worker-class gthread")
    parser.add_argument("--attackers", type=int, default=3)
    parser.add_argument("--rest-requests", type=int, default=100)
    parser.add_argument("--attack-seconds", type=float, default=30)
    parser.add_argument("--files", choices=["finding", "caps", "both"], default="both")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "SESSION_COOKIE_SECURE": "False",
        "CSRF_COOKIE_SECURE": "False",
        "REGISTER_RATE": "100000/hour",
        "PRIVATE_MEDIA_ROOT": str(workdir / "private"),
        "MEDIA_ROOT": str(workdir / "media"),
        "STATIC_ROOT": str(workdir / "static"),
        "LOG_LEVEL": "ERROR",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_ACCESS_LOG": str(workdir / "access.log"),
        "GUNICORN_ERROR_LOG": str(workdir / "error.log"),
        "GUNICORN_LOG_LEVEL": "warning",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("setup_demo", "--no-demo", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)

    files = build_files()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, {os.cpu_count()} cores")
    print(
        f"DOCUMENT_CHECK_TIMEOUT_SECONDS={settings.DOCUMENT_CHECK_TIMEOUT_SECONDS:g}, "
        f"DOCUMENT_CHECK_MEMORY_MB={settings.DOCUMENT_CHECK_MEMORY_MB}, "
        f"DOCUMENT_CHECK_CONCURRENCY={settings.DOCUMENT_CHECK_CONCURRENCY}; REGISTER_RATE raised to 100000/hour"
    )
    for name, (_, content, _) in files.items():
        print(f"  {name:<34}{len(content) / 1024:>9,.0f} KB")

    servers = {
        # The attacked server: deploy/gunicorn.conf.py as it was, plain sync workers.
        f"{args.workers} sync workers (as attacked)": ["--worker-class", "sync", "--threads", "1"],
        # deploy/gunicorn.conf.py as it is (GUNICORN_THREADS, default 4: gthread workers).
        f"{args.workers} workers, deploy/gunicorn.conf.py threads": [],
    }
    if args.worker_class != "both":
        label = f"{args.workers} {args.worker_class} workers x {args.threads} threads"
        servers = {label: ["--worker-class", args.worker_class, "--threads", str(args.threads)]}
    results = {label: serve(env, workdir, port, extra, files, args) for label, extra in servers.items()}

    for label, (rest, runs, after) in results.items():
        print()
        print(f"{'GET /login/ (ms), ' + label:<58}{'n':>6}{'p50':>9}{'p95':>9}{'max':>9}")
        row("at rest", rest)
        for kind, run in runs.items():
            row(f"under attack, {kind} files", run["login"])
            print(
                f"    {run['posts']} hostile POSTs by {args.attackers} clients in {run['seconds']:.0f} s; "
                f"answers {dict(sorted(run['statuses'].items()))}; POST p50 {pct(run['post_times'], 50):,.0f} ms; "
                f"refusal reasons seen: {', '.join(sorted(run['reasons'])) or 'none (the files passed the check)'}"
            )
        row("at rest again, after the attacks", after)
        worst = max(pct(run["login"], 95) for run in runs.values())
        print(f"  p95 under attack / p95 at rest: {worst / max(pct(rest, 95), 0.001):.1f}x")


def serve(env, workdir, port, extra, files, args):
    """Start gunicorn with deploy/gunicorn.conf.py (+ `extra` options), measure, stop it."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        *extra,
        "config.wsgi:application",
    ]
    server_log = (workdir / "server.log").open("ab")  # Django's "Bad Request" warnings, one per hostile POST
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base)
        rest = time_login(base, count=args.rest_requests)
        runs = {}
        kinds = ["finding", "caps"] if args.files == "both" else [args.files]
        for kind in kinds:
            chosen = {k: v for k, v in files.items() if k.startswith(kind)}
            runs[kind] = attack(base, chosen, attackers=args.attackers, seconds=args.attack_seconds)
        after = time_login(base, count=max(10, args.rest_requests // 5))
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log.close()
    return rest, runs, after


def row(label, samples):
    print(f"  {label:<42}{len(samples):>6}{pct(samples, 50):>9.1f}{pct(samples, 95):>9.1f}{max(samples):>9.1f}")


def pct(samples, q):
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def build_files():
    import io

    from pypdf import PdfWriter

    from members.tests.hostile_files import flat_png, many_objects_pdf

    writer = PdfWriter()
    for _ in range(20_000):
        writer.add_blank_page(612, 792)
    blank = io.BytesIO()
    writer.write(blank)
    return {
        "finding: 20,000-page PDF": ("document_national_id", blank.getvalue(), "id.pdf"),
        "finding: 6200x6200 PNG": ("document_passport_photo", flat_png(6200, 6200, colour_type=0), "photo.png"),
        "caps: 9,000-object PDF": ("document_national_id", many_objects_pdf(9_000), "id.pdf"),
        "caps: 5000x5000 RGBA PNG": ("document_passport_photo", flat_png(5000, 5000), "photo.png"),
    }


def wait_for(base, timeout=60):
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/login/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


def time_login(base, *, count=None, until=None):
    import requests

    samples = []
    with requests.Session() as session:
        while (count is not None and len(samples) < count) or (until is not None and not until.is_set()):
            started = time.perf_counter()
            response = session.get(f"{base}/login/", timeout=120)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET /login/ answered {response.status_code}")
            if until is not None:
                time.sleep(0.05)
    return samples


REASON = re.compile(
    r"could not be checked in time|needs too much memory|more than \d+ pages|megapixels|too many objects|"
    r"too many documents are being checked",
    re.IGNORECASE,
)


def attack(base, files, *, attackers, seconds):
    import requests

    stop = threading.Event()
    lock = threading.Lock()
    result = {"posts": 0, "statuses": {}, "post_times": [], "reasons": set()}

    def attacker():
        with requests.Session() as session:
            while not stop.is_set():
                page = session.get(f"{base}/register/", timeout=120)
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
                uploads = {field: (name, content) for field, content, name in files.values()}
                started = time.perf_counter()
                response = session.post(
                    f"{base}/register/",
                    data={"csrfmiddlewaretoken": token, "email": "x@bench.invalid"},
                    files=uploads,
                    headers={"Referer": f"{base}/register/"},
                    timeout=300,
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    result["posts"] += 1
                    result["statuses"][response.status_code] = result["statuses"].get(response.status_code, 0) + 1
                    result["post_times"].append(elapsed)
                    result["reasons"].update(reason.lower() for reason in REASON.findall(response.text))

    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(attackers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(1)  # let the uploads reach the workers first
    login = []
    timer = threading.Thread(target=lambda: login.extend(time_login(base, until=stop)))
    timer.start()
    time.sleep(max(0, seconds - 1))
    stop.set()
    timer.join()
    for thread in threads:
        thread.join(timeout=300)
    result["seconds"] = time.monotonic() - started
    result["login"] = login
    return result


if __name__ == "__main__":
    main()
