"""The production stack, end to end on loopback: nginx, two gunicorn nodes, a Celery worker and beat,
PostgreSQL, Redis and the Daraja simulator, driven over HTTP through nginx as a member and a staff user.

Run by deploy/stack-test.sh (which installs nginx and starts PostgreSQL and Redis first) and by CI:

    deploy/stack-test.sh

It uses the real deployment files: the gunicorn, worker and beat commands of deploy/supervisor/membership.conf,
deploy/gunicorn.conf.py, and the whole nginx site deploy/nginx/membership.conf (the HTTP->HTTPS redirect and the
TLS server) with deploy/nginx/membership-app.conf, only ports, paths and the certificate changed: a self-signed
certificate for 127.0.0.1 made for the run stands in for certbot's (the client and the simulator trust it).
Settings are the `# prod:` lines of .env.example, SECURE_SSL_REDIRECT and the secure cookies on, with this
run's own addresses, paths, database and a generated SECRET_KEY; Safaricom's Daraja is the simulator
(MPESA_BASE_URL and its credentials, MPESA_ENVIRONMENT staying production), which posts its callbacks to
nginx over HTTPS.

The member: registers on the web form with documents -> a staff user logs in (with a TOTP code when the
login asks for one) and downloads a document (sent by nginx through X-Accel-Redirect), verifies the
documents and approves -> the member logs in and pays the registration fee by M-Pesa (the simulator calls
back through nginx) -> downloads the receipt -> the period end is moved into the renewal window -> pays the
renewal -> downloads that receipt -> staff exports the member list as CSV. Then: both nodes served requests,
nginx logged no 5xx, and no ERROR or Traceback is in the logs of gunicorn, the worker or beat.

Environment (defaults in brackets): STACK_DATABASE_URL [postgres://postgres@127.0.0.1:5432/membership_stack],
STACK_REDIS_URL [redis://127.0.0.1:6379/2], STACK_HTTP_PORT [18080], STACK_HTTPS_PORT [18443],
STACK_NODE_PORTS [18001,18002],
STACK_SIMULATOR_PORT [18765], STACK_KEEP=1 keeps the work directory and database afterwards;
STACK_PGBOUNCER=1 [off] puts PgBouncer (transaction pooling, port STACK_PGBOUNCER_PORT [16432]) between the
application and PostgreSQL with DISABLE_SERVER_SIDE_CURSORS=True and CONN_MAX_AGE=0.
"""

from __future__ import annotations

import configparser
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("STACK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/membership_stack")
REDIS_URL = os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/2")
HTTP_PORT = int(os.environ.get("STACK_HTTP_PORT", "18080"))
HTTPS_PORT = int(os.environ.get("STACK_HTTPS_PORT", "18443"))
NODE_PORTS = [int(p) for p in os.environ.get("STACK_NODE_PORTS", "18001,18002").split(",")]
SIMULATOR_PORT = int(os.environ.get("STACK_SIMULATOR_PORT", "18765"))
KEEP = os.environ.get("STACK_KEEP") == "1"
# STACK_PGBOUNCER=1: the nodes, worker and beat reach PostgreSQL through PgBouncer in transaction pooling mode
# (DISABLE_SERVER_SIDE_CURSORS=True, CONN_MAX_AGE=0), as README "Scaling out" describes; needs pgbouncer.
PGBOUNCER = os.environ.get("STACK_PGBOUNCER") == "1"
PGBOUNCER_PORT = int(os.environ.get("STACK_PGBOUNCER_PORT", "16432"))
BASE = f"https://127.0.0.1:{HTTPS_PORT}"
HSTS = "max-age=31536000; includeSubDomains; preload"  # config/settings.py with DEBUG off

# The simulator's phone ending 000 always pays (daraja_simulator/README.md).
PHONE = "0712345000"
MEMBER_EMAIL = "wanjiru.stack@example.com"
MEMBER_PASSWORD = "Kahawa-Tamu-2026!"  # noqa: S105 (a test account on a throw-away database)
STAFF_EMAIL = "admin.stack@example.com"
STAFF_PASSWORD = "Mlima-Kenya-2026!"  # noqa: S105


class StackFailure(Exception):
    pass


def say(message: str) -> None:
    print(f"--> {message}", flush=True)


def check(condition, message: str) -> None:
    if not condition:
        raise StackFailure(message)


def check_security_headers(response, what: str, *, a_file: bool = False) -> None:
    """Security check 13 on an answer through nginx: HSTS, nosniff, X-Frame-Options DENY, a Referrer-Policy
    and a Content-Security-Policy (a file's own: nothing loads, sandboxed)."""
    headers = response.headers
    check(headers.get("Strict-Transport-Security") == HSTS, f"{what}: HSTS {headers.get('Strict-Transport-Security')}")
    check(headers.get("X-Content-Type-Options") == "nosniff", f"{what}: no nosniff: {headers}")
    check(headers.get("X-Frame-Options") == "DENY", f"{what}: X-Frame-Options {headers.get('X-Frame-Options')}")
    check(headers.get("Referrer-Policy") == "same-origin", f"{what}: Referrer-Policy {headers.get('Referrer-Policy')}")
    policy = headers.get("Content-Security-Policy", "")
    wanted = ("default-src 'none'", "sandbox") if a_file else ("default-src 'self'", "frame-ancestors 'none'")
    check(all(part in policy for part in wanted), f"{what}: Content-Security-Policy {policy!r}")


# --- Settings ---------------------------------------------------------------------------------------------


def production_env(work: Path) -> dict[str, str]:
    """The documented production values (.env.example `# prod:` lines) with this run's own values."""
    from dev import production_example_env  # the same reading as `dev.py check`
    from mpesa.client import SANDBOX_PASSKEY
    from mpesa.config import SIMULATOR_CONSUMER_KEY, SIMULATOR_CONSUMER_SECRET

    values = production_example_env()
    values.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL=BASE,
        # nginx passes Host without the port ($host); with HTTPS on a port other than 443 the CSRF check
        # needs the origin named.
        CSRF_TRUSTED_ORIGINS=BASE,
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        STATIC_ROOT=str(work / "static"),
        MEDIA_ROOT=str(work / "media"),
        PRIVATE_MEDIA_ROOT=str(work / "private"),
        # Safaricom's Daraja is the simulator here, with its credentials given as production gives Safaricom's.
        MPESA_BASE_URL=f"http://127.0.0.1:{SIMULATOR_PORT}",
        MPESA_CONSUMER_KEY=SIMULATOR_CONSUMER_KEY,
        MPESA_CONSUMER_SECRET=SIMULATOR_CONSUMER_SECRET,
        MPESA_PASSKEY=SANDBOX_PASSKEY,
        MPESA_CALLBACK_URL=f"{BASE}/api/mpesa/callback/",
    )
    # A clean environment: nothing of the caller's settings (DATABASE_URL, CELERY_*, DEBUG...) leaks in.
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")}
    return {**keep, **values, "PYTHONUNBUFFERED": "1"}


# --- Processes --------------------------------------------------------------------------------------------


class Stack:
    """The processes this run started, each in its own process group, all stopped at exit."""

    def __init__(self, work: Path, env: dict[str, str]):
        self.work = work
        self.env = env
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own commands
            args,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_port(self, name: str, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise StackFailure(f"{name} exited:\n{self.log(name)[-3000:]}")
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise StackFailure(f"{name} is not listening on {port}:\n{self.log(name)[-3000:]}")

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            if self.processes[name].poll() is not None:
                break
            time.sleep(0.3)
        raise StackFailure(f"{name} never logged {text!r}:\n{self.log(name)[-3000:]}")

    def manage(self, *args: str) -> str:
        completed = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if completed.returncode != 0:
            raise StackFailure(f"manage.py {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
        return completed.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "--no-imports", "-c", code).strip()


def supervisor_commands() -> dict[str, list[str]]:
    """The programs' commands from deploy/supervisor/membership.conf, for this checkout's paths."""
    parser = configparser.RawConfigParser()
    parser.read(DEPLOY / "supervisor" / "membership.conf")
    commands = {}
    for program in ("membership-web", "membership-worker", "membership-beat"):
        command = parser.get(f"program:{program}", "command")
        command = command.replace("/var/www/membership/venv/bin/", f"{VENV_BIN}/")
        command = command.replace("/var/www/membership/", f"{ROOT}/")
        commands[program] = shlex.split(command)
    return commands


def pgbouncer_conf(work: Path) -> tuple[Path, str]:
    """A PgBouncer in transaction pooling mode in front of STACK_DATABASE_URL's server; the URL through it."""
    url = urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    conf = work / "pgbouncer.ini"
    conf.write_text(
        f"""[databases]
{name} = host={url.hostname} port={url.port or 5432} dbname={name} user={url.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {PGBOUNCER_PORT}
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 200
default_pool_size = 10
logfile = {work}/logs/pgbouncer-own.log
pidfile = {work}/pgbouncer.pid
"""
    )
    through = url._replace(netloc=f"{url.username}@127.0.0.1:{PGBOUNCER_PORT}").geturl()
    return conf, through


def make_certificate(work: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost, in place of certbot's."""
    tls = work / "tls"
    tls.mkdir()
    subprocess.run(  # noqa: S603
        [
            shutil.which("openssl") or "/usr/bin/openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(tls / "privkey.pem"),
            "-out",
            str(tls / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return tls / "fullchain.pem"


def nginx_conf(work: Path, env: dict[str, str]) -> Path:
    """An nginx.conf for this run holding deploy/nginx/membership.conf and membership-app.conf as they are,
    but for this run's ports, paths, logs and certificate (a check fails if one was not mapped)."""
    site = (DEPLOY / "nginx" / "membership.conf").read_text()
    replacements = {
        "listen [::]:80;": "",
        "listen [::]:443 ssl http2;": "",
        "listen 80;": f"listen 127.0.0.1:{HTTP_PORT};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{HTTPS_PORT} ssl http2;",
        "127.0.0.1:8001 ": f"127.0.0.1:{NODE_PORTS[0]} ",
        "127.0.0.1:8002 ": f"127.0.0.1:{NODE_PORTS[1]} ",
        "server_name members.example.org;": "server_name 127.0.0.1 localhost;",
        "/etc/letsencrypt/live/members.example.org/": f"{work}/tls/",
        "/var/log/nginx/": f"{work}/logs/nginx-",
        "/var/www/letsencrypt": f"{work}/letsencrypt",
        "/etc/nginx/snippets/membership-app.conf": f"{work}/membership-app.conf",
    }
    for production, here in replacements.items():
        check(production in site, f"membership.conf no longer has {production!r}: update the stack test")
        site = site.replace(production, here)
    # The redirect names the standard port; here it is the test's.
    site = site.replace("https://$host$request_uri", f"https://$host:{HTTPS_PORT}$request_uri")
    app = (DEPLOY / "nginx" / "membership-app.conf").read_text()
    for production, name in (("static", "STATIC_ROOT"), ("media", "MEDIA_ROOT"), ("private", "PRIVATE_MEDIA_ROOT")):
        app = app.replace(f"/var/www/membership/{production}/", env[name].rstrip("/") + "/")
    for text in (site, app):
        settings_only = "\n".join(line.split("#")[0] for line in text.splitlines())
        leftover = re.findall(r"(?:/var/|/etc/letsencrypt|members\.example\.org)\S*", settings_only)
        check(not leftover, f"nginx files have production paths the stack test does not map: {leftover}")
    (work / "membership-app.conf").write_text(app)
    (work / "membership-site.conf").write_text(site)
    temp = work / "nginx-temp"
    temp.mkdir()
    user = "user root;" if os.geteuid() == 0 else ""  # the private files are readable by their owner only
    conf = f"""
{user}
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/logs/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {work}/membership-site.conf;
}}
"""
    path = work / "nginx.conf"
    path.write_text(conf)
    return path


# --- HTTP helpers -----------------------------------------------------------------------------------------


CERTIFICATE: Path | None = None  # the run's self-signed certificate, trusted by the client


def new_session() -> requests.Session:
    session = requests.Session()
    session.verify = str(CERTIFICATE)
    session.trust_env = False  # no proxy, and no CA bundle from the environment replacing the run's certificate
    session.headers["User-Agent"] = "membership-stack-test"
    return session


class Forms(HTMLParser):
    """The forms of a page: action, and for each field its value; selects keep their options' attributes."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": attrs.get("action") or "", "fields": {}, "hidden": {}, "options": {}, "ticks": {}}
            )
        elif not self.forms:
            return
        elif tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
            if attrs.get("type") == "hidden":
                self.forms[-1]["hidden"][attrs["name"]] = attrs.get("value") or ""
            if attrs.get("type") == "checkbox" and "required" in attrs:
                self.forms[-1]["ticks"][attrs["name"]] = attrs.get("value") or "on"
        elif tag in ("select", "textarea") and attrs.get("name"):
            self.forms[-1]["fields"].setdefault(attrs["name"], "")
            self._select = attrs["name"] if tag == "select" else None
            self.forms[-1]["options"].setdefault(attrs["name"], [])
        elif tag == "option" and self._select:
            self.forms[-1]["options"][self._select].append(attrs)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None

    def with_field(self, name: str) -> dict:
        for form in self.forms:
            if name in form["fields"]:
                return form
        raise StackFailure(f"no form with a {name!r} field on the page")

    def with_action(self, action: str) -> dict:
        for form in self.forms:
            if form["action"] == action:
                return form
        raise StackFailure(f"no form posting to {action} on the page")


def get(session: requests.Session, path: str, expect: int = 200, **kwargs) -> requests.Response:
    response = session.get(BASE + path, timeout=30, **kwargs)
    check(response.status_code == expect, f"GET {path}: {response.status_code}, expected {expect}")
    return response


def post_form(session, path: str, form: dict, data: dict, *, files=None, expect_redirect=True) -> requests.Response:
    """Post a form like a browser: its hidden fields (the CSRF token) plus `data`, following the redirect."""
    fields = {**form.get("hidden", {}), **data}
    # Over HTTPS Django's CSRF check wants a same-origin Referer, as a browser sends.
    headers = {"Referer": BASE + path}
    response = session.post(BASE + path, data=fields, files=files, headers=headers, timeout=60, allow_redirects=False)
    if expect_redirect:
        check(
            response.status_code == 302,
            f"POST {path}: {response.status_code}, expected a redirect\n{_errors(response.text)}",
        )
        return get(session, urlsplit(response.headers["Location"]).path)
    return response


def _errors(html: str) -> str:
    found = re.findall(r'class="[^"]*(?:invalid-feedback|alert-danger|errorlist)[^"]*"[^>]*>(.*?)</div>', html, re.S)
    text = "; ".join(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in found)
    return text[:2000] or html[:2000]


# --- Steps ------------------------------------------------------------------------------------------------


def prepare_database() -> None:
    import psycopg
    import redis

    url = urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS_URL).flushdb()


def drop_database() -> None:
    import psycopg

    url = urlsplit(DATABASE_URL)
    with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.path.lstrip("/")}" WITH (FORCE)')


def set_up_staff_totp(stack: Stack) -> str | None:
    """A confirmed TOTP device for the staff user when django-otp's TOTP plugin is installed: its key (hex),
    else None. The only place that knows how two-factor is stored."""
    code = f"""
from django.conf import settings
if "django_otp.plugins.otp_totp" in settings.INSTALLED_APPS:
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice
    user = get_user_model().objects.get(email="{STAFF_EMAIL}")
    device = TOTPDevice.objects.create(user=user, name="stack test", confirmed=True)
    print(device.key)
"""
    return stack.shell(code) or None


def totp(key_hex: str, step: int = 30, digits: int = 6, at: float | None = None) -> str:
    """RFC 6238 (django-otp's defaults: SHA-1, 30 s, 6 digits)."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


OTP_FIELDS = ("otp_token", "token", "code", "otp", "totp", "otp_code", "verification_code")


def log_in(session, email: str, password: str, totp_key: str | None = None) -> requests.Response:
    """The web login; when the next page asks for a two-factor code, the code of the TOTP device."""
    form = Forms(get(session, "/login/").text).with_field("password")
    page = post_form(session, "/login/", form, {"username": email, "password": password})
    forms = Forms(page.text)
    asking = next((f for f in forms.forms for name in OTP_FIELDS if name in f["fields"]), None)
    if asking is not None:
        check(totp_key, f"the login asks {email} for a two-factor code, but no TOTP device was set up")
        field = next(name for name in OTP_FIELDS if name in asking["fields"])
        action = asking["action"] or urlsplit(page.url).path
        page = post_form(session, action, asking, {field: totp(totp_key)})
        say(f"two-factor code accepted for {email}")
    return page


def register(session) -> dict[str, bytes]:
    from members.sample_files import sample_jpeg, sample_pdf

    form = Forms(get(session, "/register/").text).with_field("email")
    options = form["options"]
    category = next(o for o in options["category"] if o.get("data-required-documents"))
    region = next(o for o in options["region"] if o.get("data-country") == "KE")
    documents = {
        "national_id": ("national-id.pdf", sample_pdf(), "application/pdf"),
        "passport_photo": ("photo.jpg", sample_jpeg(), "image/jpeg"),
        "certificate": ("certificate.pdf", sample_pdf(2), "application/pdf"),
    }
    required = category["data-required-documents"].split()
    files = {f"document_{code}": documents[code] for code in required}
    data = {
        "email": MEMBER_EMAIL,
        "password1": MEMBER_PASSWORD,
        "password2": MEMBER_PASSWORD,
        "first_name": "Wanjiru",
        "last_name": "Kamau",
        "id_type": "national_id",
        "id_number": "29876543",
        "date_of_birth": "1990-04-12",
        "gender": "female",
        "phone_number": PHONE,
        "country": "KE",
        "region": region["value"],
        "physical_address": "Moi Avenue, Nairobi",
        "category": category["value"],
    }
    data.update(form["ticks"])  # the boxes a person must tick (the privacy notice)
    page = post_form(session, "/register/", form, data, files=files)
    check(urlsplit(page.url).path == "/portal/", f"after registering: {page.url}")
    say(f"registered {MEMBER_EMAIL} ({', '.join(required)}) in category {category['value']}")
    return {code: documents[code][1] for code in required}


def approve(session, uploaded: dict[str, bytes]) -> tuple[str, str]:
    listing = get(session, "/staff/applications/", params={"q": MEMBER_EMAIL}).text
    member_id = re.search(r'href="/staff/members/(\d+)/"', listing)
    check(member_id, "the applicant is not in the staff queue")
    detail_path = f"/staff/members/{member_id.group(1)}/"
    page = get(session, detail_path).text
    # A document, as staff, through nginx: the app answered with X-Accel-Redirect, nginx sent the file.
    document_ids = re.findall(r'href="/documents/(\d+)/"', page)
    check(len(set(document_ids)) == len(uploaded), f"documents on the staff page: {document_ids}")
    response = get(session, f"/documents/{document_ids[0]}/")
    check(response.content in uploaded.values(), "the downloaded document is not the uploaded file")
    check(response.headers.get("Content-Disposition", "").startswith("attachment;"), "document not an attachment")
    check(response.headers.get("X-Content-Type-Options") == "nosniff", f"document headers: {response.headers}")
    check(response.headers.get("Cache-Control") == "private, no-store", f"document headers: {response.headers}")
    check("X-Accel-Redirect" not in response.headers, "nginx leaked X-Accel-Redirect")
    check(response.headers.get("Content-Type") in ("application/pdf", "image/jpeg"), response.headers)
    check_security_headers(response, "a document nginx sent (X-Accel-Redirect)", a_file=True)
    document_path = f"/documents/{document_ids[0]}/"
    for document_id in dict.fromkeys(document_ids):
        action = f"/staff/documents/{document_id}/verify/"
        page = post_form(session, action, Forms(page).with_action(action), {}).text
    action = f"{detail_path}approve/"
    page = post_form(session, action, Forms(page).with_action(action), {}).text
    number = re.search(r'id="membership-number">([^<]+)<', page)
    check(number, "no membership number after approval")
    say(f"staff verified {len(uploaded)} documents and approved: {number.group(1)}")
    return number.group(1), document_path


def pay(session, what: str) -> str:
    page = get(session, "/payments/pay/").text
    form = Forms(page).with_field("phone_number")
    page = post_form(session, "/payments/pay/", form, {"phone_number": PHONE})
    reference = urlsplit(page.url).path.strip("/").split("/")[-1]
    deadline = time.monotonic() + 90
    while True:
        state = get(session, f"/payments/{reference}/status/").json()
        if state["final"]:
            break
        check(time.monotonic() < deadline, f"payment {reference} still {state['status']}")
        time.sleep(0.5)
    check(state["status"] == "completed", f"{what}: {state}")
    receipt = get(session, state["receipt_url"])
    check(receipt.content.startswith(b"%PDF"), f"{what}: the receipt is not a PDF")
    check(receipt.headers.get("Content-Type") == "application/pdf", receipt.headers)
    check_security_headers(receipt, "a receipt download")
    say(f"{what} paid by M-Pesa ({reference}): {state['message']} Receipt PDF {len(receipt.content)} bytes")
    return reference


def export_members(session, number: str) -> str:
    """Staff downloads the member list as CSV: streamed by gunicorn from a server-side cursor, through nginx."""
    response = get(session, "/staff/members/export/", params={"format": "csv"})
    check(response.headers.get("Content-Disposition", "").startswith("attachment;"), response.headers)
    text = response.content.decode("utf-8-sig")
    check(text.startswith("Membership number,") and number in text, f"the CSV export: {text[:300]}")
    return f"CSV export through nginx: {len(text.splitlines()) - 1} member(s)"


def member_state(stack: Stack) -> dict:
    code = f"""
import json
from members.models import Member
m = Member.objects.get(user__email="{MEMBER_EMAIL}")
print(json.dumps({{"status": m.status, "period_end": str(m.period_end)}}))
"""
    return json.loads(stack.shell(code).splitlines()[-1])


def move_into_renewal_window(stack: Stack) -> str:
    code = f"""
import datetime
from django.utils import timezone
from members.models import Member
end = timezone.localdate() + datetime.timedelta(days=10)
Member.objects.filter(user__email="{MEMBER_EMAIL}").update(period_end=end)
print(end)
"""
    return stack.shell(code).splitlines()[-1]


def check_nginx_itself(stack: Stack, session, document_path: str) -> list[str]:
    notes = []
    # Plain HTTP only redirects to HTTPS.
    plain = requests.get(f"http://127.0.0.1:{HTTP_PORT}/register/?x=1", timeout=30, allow_redirects=False)
    check(plain.status_code == 301, f"plain HTTP answered {plain.status_code}")
    check(plain.headers["Location"] == f"{BASE}/register/?x=1", f"redirected to {plain.headers['Location']}")
    home = get(session, "/")
    check("max-age=31536000" in home.headers.get("Strict-Transport-Security", ""), "no HSTS over HTTPS")
    check(home.headers.get("Server") == "nginx", f"Server header: {home.headers.get('Server')}")
    check_security_headers(home, "the home page")
    api = session.get(BASE + "/api/categories/", timeout=30)
    check(api.status_code == 200, f"/api/categories/ answered {api.status_code}")
    check_security_headers(api, "the API")
    # collectstatic's files come from nginx (its `expires`; check_logs: never in a node's log).
    static = re.search(r'(/static/[^"]+\.css)"', home.text)
    check(static, "no stylesheet on the home page")
    stylesheet = get(session, static.group(1))
    check("Expires" in stylesheet.headers and stylesheet.headers["Content-Type"] == "text/css", stylesheet.headers)
    # The internal location is not reachable from outside, not even with a stored file's name.
    stored = next(path for path in Path(stack.env["PRIVATE_MEDIA_ROOT"]).rglob("*") if path.is_file())
    name = stored.relative_to(stack.env["PRIVATE_MEDIA_ROOT"]).as_posix()
    get(session, f"/protected/{name}", expect=404)
    # /healthz, when the application has it.
    health = session.get(BASE + "/healthz", timeout=30)
    if health.status_code == 404:
        notes.append("/healthz: not in this version, skipped")
    else:
        check(health.status_code == 200 and health.json().get("status") == "ok", f"/healthz: {health.text}")
        notes.append(f"/healthz: {health.json()}")
    # Anonymous: the document is not given out.
    anonymous = new_session().get(BASE + document_path, timeout=30, allow_redirects=False)
    check(anonymous.status_code == 302 and not anonymous.content.startswith(b"%PDF"), "anonymous document fetch")
    return notes


def check_logs(stack: Stack, document_path: str) -> list[str]:
    notes = []
    access = stack.log("nginx-membership.access").splitlines()
    check(access, "nginx logged nothing")
    server_errors = [line for line in access if re.search(r'" 5\d\d ', line)]
    check(not server_errors, "nginx answered 5xx:\n" + "\n".join(server_errors))
    for port in NODE_PORTS:
        served = [line for line in access if f"upstream=127.0.0.1:{port} " in line]
        check(served, f"the node on {port} served nothing (nginx's upstream never chose it)")
        own = stack.log(f"web-{port}.access").splitlines()
        check(own, f"the node on {port} logged no requests")
        notes.append(f"node {port}: {len(served)} requests in nginx's log, {len(own)} in its own")
    for port in NODE_PORTS:
        check('"GET /static/' not in stack.log(f"web-{port}.access"), f"the node on {port} served static files")
    # The document request reached gunicorn with an empty body; nginx sent the file.
    app_lines = [
        line
        for port in NODE_PORTS
        for line in stack.log(f"web-{port}.access").splitlines()
        if f'"GET {document_path} ' in line and '" 200 ' in line
    ]
    check(app_lines and all('" 200 0 ' in line for line in app_lines), f"document via gunicorn: {app_lines}")
    for name in [f"web-{port}" for port in NODE_PORTS] + ["worker", "beat"]:
        bad = [line for line in stack.log(name).splitlines() if re.search(r"\bERROR\b|\bCRITICAL\b|Traceback", line)]
        check(not bad, f"{name} logged errors:\n" + "\n".join(bad[:40]))
    check("Traceback" not in stack.log("simulator"), "the simulator logged a traceback")
    if PGBOUNCER:
        logins = stack.log("pgbouncer-own").count("login attempt")
        check(logins, "nothing connected through PgBouncer")
        notes.append(f"PgBouncer: {logins} client logins")
    return notes


def check_callback_tokens(stack: Stack) -> list[str]:
    """Each payment's secret callback token (in its callback URL's path) is in no access log: nginx's map and
    gunicorn's logger class mask it. Each completion was confirmed by Daraja's status query (check 24)."""
    code = """
import json
from audit.models import AuditLog
from payments.models import Payment
print(json.dumps({
    "tokens": list(Payment.objects.values_list("callback_token", flat=True)),
    "confirmed_by": list(
        AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).values_list("data__confirmed_by", flat=True)
    ),
}))
"""
    found = json.loads(stack.shell(code).splitlines()[-1])
    tokens = found["tokens"]
    check(tokens, "no payments to look for")
    logs = {"nginx": stack.log("nginx-membership.access")}
    logs.update({f"gunicorn {port}": stack.log(f"web-{port}.access") for port in NODE_PORTS})
    for name, text in logs.items():
        check(not [token for token in tokens if token in text], f"{name}'s access log holds a callback token")
    masked = [line for line in logs["nginx"].splitlines() if "/api/mpesa/callback/********/" in line]
    check(masked, "nginx logged no callback (masked)")
    check(
        found["confirmed_by"] and set(found["confirmed_by"]) == {"callback+stk_query"},
        f"completions not confirmed by Daraja's status query: {found['confirmed_by']}",
    )
    return [
        f"callback tokens: none of {len(tokens)} in the access logs ({len(masked)} masked callback lines in nginx's); "
        f"{len(found['confirmed_by'])} completions confirmed by callback+stk_query"
    ]


def run(work: Path) -> list[str]:
    global CERTIFICATE
    env = production_env(work)
    stack = Stack(work, env)
    notes: list[str] = []
    try:
        say(f"fresh database {urlsplit(DATABASE_URL).path.lstrip('/')}, Redis {REDIS_URL}")
        prepare_database()
        say("migrate, collectstatic, reference data, the first staff account")
        stack.manage("migrate", "--noinput", "--verbosity", "0")
        stack.manage("collectstatic", "--noinput", "--verbosity", "0")
        for fixture in ("countries", "regions", "membership_categories"):
            stack.manage("loaddata", f"fixtures/{fixture}.json", "--verbosity", "0")
        stack.env.update(
            DJANGO_SUPERUSER_PASSWORD=STAFF_PASSWORD,
            DJANGO_SUPERUSER_FIRST_NAME="Achieng",
            DJANGO_SUPERUSER_LAST_NAME="Otieno",
        )
        stack.manage("createsuperuser", "--noinput", "--email", STAFF_EMAIL)
        for name in ("DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_FIRST_NAME", "DJANGO_SUPERUSER_LAST_NAME"):
            del stack.env[name]
        totp_key = set_up_staff_totp(stack)

        say("starting the Daraja simulator, two gunicorn nodes, the worker, beat and nginx")
        CERTIFICATE = make_certificate(work)
        stack.start(
            "simulator",
            [
                sys.executable,
                "-m",
                "daraja_simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(SIMULATOR_PORT),
                "--callback-delay",
                "1",
            ],
            # Its callbacks go to nginx over HTTPS: it trusts the run's certificate as a public one.
            env={"SSL_CERT_FILE": str(CERTIFICATE)},
        )
        if PGBOUNCER:
            conf, through = pgbouncer_conf(work)
            # PgBouncer refuses to run as root; the `postgres` account is there wherever PostgreSQL is.
            user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            if user:
                shutil.chown(work, "postgres")
                shutil.chown(stack.logs, "postgres")
            stack.start("pgbouncer", [*user, shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", str(conf)])
            stack.wait_for_port("pgbouncer", PGBOUNCER_PORT)
            stack.env.update(DATABASE_URL=through, DISABLE_SERVER_SIDE_CURSORS="True", CONN_MAX_AGE="0")
            notes.append(f"through PgBouncer (transaction pooling) on {PGBOUNCER_PORT}")
        commands = supervisor_commands()
        for port in NODE_PORTS:
            stack.start(
                f"web-{port}",
                commands["membership-web"],
                env={
                    "GUNICORN_BIND": f"127.0.0.1:{port}",
                    "GUNICORN_NAME": f"membership-web-{port}",
                    "GUNICORN_WORKERS": "2",
                    "GUNICORN_ACCESS_LOG": str(stack.logs / f"web-{port}.access.log"),
                },
            )
        stack.start("worker", [*commands["membership-worker"], "--concurrency", "2"])
        beat = [arg.replace("/var/lib/membership/", f"{work}/") for arg in commands["membership-beat"]]
        stack.start("beat", beat)
        conf = nginx_conf(work, env)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        subprocess.run(  # noqa: S603
            [nginx, "-t", "-q", "-c", str(conf), "-e", str(stack.logs / "nginx-error.log")],
            check=True,
        )
        stack.start("nginx", [nginx, "-c", str(conf), "-e", str(stack.logs / "nginx-error.log"), "-g", "daemon off;"])
        stack.wait_for_port("simulator", SIMULATOR_PORT)
        for port in NODE_PORTS:
            stack.wait_for_port(f"web-{port}", port)
        stack.wait_for_port("nginx", HTTP_PORT)
        stack.wait_for_port("nginx", HTTPS_PORT)
        stack.wait_for_log("worker", "ready.")
        stack.wait_for_log("beat", "beat: Starting")

        member = new_session()
        uploaded = register(member)

        staff = new_session()
        log_in(staff, STAFF_EMAIL, STAFF_PASSWORD, totp_key)
        get(staff, "/staff/")
        number, document_path = approve(staff, uploaded)

        member = new_session()
        page = log_in(member, MEMBER_EMAIL, MEMBER_PASSWORD)
        check(urlsplit(page.url).path == "/portal/", f"the member's login went to {page.url}")
        pay(member, "registration fee")
        state = member_state(stack)
        check(state["status"] == "active", f"after the registration fee: {state}")
        first_end = state["period_end"]

        window_end = move_into_renewal_window(stack)
        say(f"period end moved from {first_end} to {window_end} (inside the renewal window)")
        pay(member, "renewal")
        state = member_state(stack)
        check(state["status"] == "active" and state["period_end"] > window_end, f"after the renewal: {state}")
        notes.append(f"member {number}: active, period end {window_end} -> {state['period_end']}")
        # The worker ran the jobs the web nodes queued (the member's payment confirmations).
        stack.wait_for_log("worker", "payments.confirm_callback", timeout=30)  # Daraja confirmed each callback
        stack.wait_for_log("worker", "payments.notify_payment_completed", timeout=30)
        stack.wait_for_log("worker", "succeeded", timeout=30)

        notes.append(export_members(staff, number))
        notes += check_nginx_itself(stack, member, document_path)
        time.sleep(1)  # let the last access log lines reach the files
        notes += check_logs(stack, document_path)
        notes += check_callback_tokens(stack)
        return notes
    except BaseException:
        for name in stack.processes:
            tail = stack.log(name)[-2500:]
            print(f"\n===== {name} (last lines) =====\n{tail}", file=sys.stderr)
        raise
    finally:
        stack.stop_all()


def main() -> int:
    # SIGTERM (CI cancelling) runs the same clean-up as Ctrl+C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="membership-stack-"))
    started = time.monotonic()
    ok = False
    try:
        notes = run(work)
        ok = True
    except StackFailure as failure:
        print(f"\nSTACK TEST FAILED: {failure}\n(work directory kept: {work})", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        print(
            f"\nSTACK TEST INTERRUPTED; every process it started was stopped (work directory: {work})", file=sys.stderr
        )
        raise
    except Exception:
        traceback.print_exc()
        print(f"\nSTACK TEST FAILED (work directory kept: {work})", file=sys.stderr)
        return 1
    finally:
        if ok and not KEEP:
            shutil.rmtree(work, ignore_errors=True)
            drop_database()
    print("\nProduction stack test passed in %.0f s:" % (time.monotonic() - started))
    print(
        f"  nginx on {BASE} -> gunicorn nodes {', '.join(map(str, NODE_PORTS))}; celery worker and beat; "
        f"Daraja simulator on {SIMULATOR_PORT}"
    )
    for note in notes:
        print(f"  {note}")
    print(f"  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
