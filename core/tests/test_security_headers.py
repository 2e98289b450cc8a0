"""Security check 13: the deploy check passes with the documented production env, and answers carry HSTS,
nosniff, X-Frame-Options DENY, a Referrer-Policy and a Content-Security-Policy. Plus Cache-Control on
personal pages, the admin's configurable address, and the API docs page under the same policy."""

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import clear_url_caches, reverse
from django.utils import timezone

from payments.models import Payment
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from dev import production_example_env  # noqa: E402

pytestmark = pytest.mark.django_db

REQUIRED_CSP = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def _directives(header):
    return {part.strip().split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.security_check(13)
def test_the_deploy_check_passes_at_warning_level_with_the_documented_production_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(production_example_env())
    # The documented DB_* values name a server that need not exist here; the deploy check does not connect.
    completed = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


@pytest.mark.security_check(13)
def test_the_deploy_check_fails_without_the_production_values(tmp_path):
    """The test above can fail: DEBUG on is a deploy-check warning, and WARNING level fails on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update({**production_example_env(), "DEBUG": "True"})
    completed = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "security.W018" in completed.stdout + completed.stderr


@pytest.mark.security_check(13)
@pytest.mark.parametrize("path", ["/login/", "/register/", "/portal/", "/api/categories/", "/no-such-page/"])
def test_answers_carry_the_security_headers(client, settings, path, reference_data):
    # What DEBUG off turns on (config/settings.py), over HTTPS as nginx forwards it.
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(path, secure=True)
    assert response.status_code in (200, 302, 404)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    directives = _directives(response["Content-Security-Policy"])
    for required in REQUIRED_CSP:
        assert directives[required.split()[0]] == required
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


# --- What the production settings themselves serve, on a page, the API and downloads ------------------------

# The settings that put a security header on a response (or decide whether the request counts as HTTPS).
HEADER_SETTINGS = [
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
    "CONTENT_SECURITY_POLICY",
    "MIDDLEWARE",
    "PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX",
]


@functools.cache
def production_settings() -> dict:
    """config.settings as it loads with the documented production env (.env.example `# prod:` lines).

    Read in a fresh process: the values DEBUG off turns on are decided when the settings module loads.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update({**production_example_env(), "DJANGO_SETTINGS_MODULE": "config.settings"})
    code = (
        "import json\n"
        "from django.conf import settings\n"
        f"names = {['DEBUG', *HEADER_SETTINGS]!r}\n"
        "print(json.dumps({name: getattr(settings, name, None) for name in names}))\n"
    )
    completed = subprocess.run(  # noqa: S603 - our own settings module
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    values = json.loads(completed.stdout.strip().splitlines()[-1])
    if values["SECURE_PROXY_SSL_HEADER"] is not None:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


def production_hsts(values) -> str:
    parts = [f"max-age={values['SECURE_HSTS_SECONDS']}"]
    if values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]:
        parts.append("includeSubDomains")
    if values["SECURE_HSTS_PRELOAD"]:
        parts.append("preload")
    return "; ".join(parts)


@pytest.fixture
def production(settings):
    """This test process serving with the production settings' header values, behind nginx as documented."""
    values = production_settings()
    assert values["DEBUG"] is False
    for name in HEADER_SETTINGS:
        setattr(settings, name, values[name])
    return values


def served_paths(alice) -> dict[str, str]:
    """A member's page, the API (public and with a token), downloads, and an error."""
    payment = Payment.objects.create(
        member=alice,
        payment_type="registration",
        amount=1000,
        status=Payment.Status.COMPLETED,
        receipt_number="RCT-2026-000013",
        completed_at=timezone.now(),
        phone_number=alice.phone_number,
    )
    return {
        "member page": "/portal/",
        "public api": "/api/categories/",
        "member api": "/api/members/profile/",
        "document download": f"/documents/{alice.documents.first().pk}/",
        "receipt download": f"/payments/{payment.reference}/receipt/",
        "api receipt download": f"/api/payments/{payment.reference}/receipt/",
        "error page": "/no-such-page/",
    }


def assert_security_headers(name, response, production):
    assert response["Strict-Transport-Security"] == production_hsts(production), name
    assert response["X-Content-Type-Options"] == "nosniff", name
    assert response["X-Frame-Options"] == "DENY", name
    assert response["Referrer-Policy"] == "same-origin", name
    directives = _directives(response["Content-Security-Policy"])
    if name == "document download":
        assert_file_policy(directives)  # the file's own, stricter policy (members.views)
        return
    for required in REQUIRED_CSP:
        assert directives[required.split()[0]] == required, (name, required)
    assert "unsafe-inline" not in response["Content-Security-Policy"], name


def assert_file_policy(directives):
    """An uploaded file is never a page: nothing loads from it, and it runs sandboxed if opened."""
    assert directives["default-src"] == "default-src 'none'" and "sandbox" in directives
    assert not [d for d in directives.values() if "unsafe" in d or "*" in d.split()]


@pytest.mark.security_check(13)
def test_the_production_settings_put_every_header_on_a_page_the_api_and_downloads(client, production, alice):
    assert production["SECURE_HSTS_SECONDS"] >= 31_536_000 and production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    client.defaults["HTTP_X_FORWARDED_PROTO"] = "https"  # as nginx sets it for every request it passes on
    login = client.post(
        "/api/auth/login/", {"username": alice.user.email, "password": PASSWORD}, content_type="application/json"
    )
    token = login.json()["access"]
    assert_security_headers("login page", client.get("/login/"), production)  # as anyone sees it
    client.force_login(alice.user)
    for name, path in served_paths(alice).items():
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if path.startswith("/api/") else {}
        response = client.get(path, **headers)
        assert response.status_code == (404 if name == "error page" else 200), (name, response.status_code)
        assert_security_headers(name, response, production)
        if name == "document download":
            # Behind nginx the body is the file nginx sends from /protected/: the headers of that answer are
            # nginx's own (test_nginx_puts_the_headers_on_the_files_it_sends_itself).
            assert response["X-Accel-Redirect"].startswith(production["PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX"])
        elif "download" in name:
            assert response["Content-Disposition"].startswith("attachment") and response.content[:4] == b"%PDF"
    # Plain HTTP (no X-Forwarded-Proto from nginx) is sent to HTTPS by the same settings.
    del client.defaults["HTTP_X_FORWARDED_PROTO"]
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/login/"


# --- nginx (deploy/nginx/): what it passes on, and what it adds to the files it sends itself ----------------

NGINX = ROOT / "deploy" / "nginx"


def nginx_blocks(text: str) -> list[tuple[str, list[str], list]]:
    """A small nginx config parser: [(block name, [its directives], [its nested blocks])] at the top level.

    Enough for our two files: comments dropped, `;`-ended directives, `{...}` blocks, quoted strings kept.
    """
    # A `#` starts a comment, except inside a quoted string (the log map's regex has one).
    tokens = [
        token
        for token in re.findall(r'"[^"]*"|\'[^\']*\'|#[^\n]*|[{};]|[^\s{};"\'#]+', text)
        if not token.startswith("#")
    ]
    position = 0

    def block():
        nonlocal position
        directives, children, words = [], [], []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == ";":
                directives.append(" ".join(words))
                words = []
            elif token == "{":
                name = " ".join(words)
                words = []
                inner_directives, inner_children = block()
                children.append((name, inner_directives, inner_children))
            elif token == "}":
                return directives, children
            else:
                words.append(token)
        return directives, children

    top_directives, top_children = block()
    return [("", top_directives, top_children)]


def find_block(blocks, name):
    for block_name, directives, children in blocks:
        if block_name == name:
            return directives, children
        found = find_block(children, name)
        if found:
            return found
    return None


def added_headers(directives) -> dict[str, str]:
    """`add_header Name value always;` -> {name: value}; a header added without `always` is missing on errors."""
    headers = {}
    for directive in directives:
        words = directive.split(None, 1)
        if words[0] == "add_header":
            name, _, value = words[1].partition(" ")
            assert value.endswith(" always"), f"{directive}: without `always`, nginx drops it on 4xx/5xx answers"
            headers[name.lower()] = value.removesuffix(" always").strip().strip('"')
    return headers


SECURITY_HEADERS = {
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
}


@pytest.mark.security_check(13)
def test_nginx_puts_the_headers_on_the_files_it_sends_itself():
    """A document download behind nginx is an X-Accel-Redirect: nginx sends the file from its internal
    /protected/ location and passes on only Content-Type, Content-Disposition, Cache-Control, Expires,
    Set-Cookie and Accept-Ranges of the application's answer. Every other header has to be nginx's own."""
    blocks = nginx_blocks((NGINX / "membership-app.conf").read_text())
    values = production_settings()
    prefix = values["PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX"]
    protected = find_block(blocks, f"location {prefix}")
    assert protected, f"no nginx location for PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX {prefix}"
    directives, _ = protected
    assert "internal" in directives
    headers = added_headers(directives)
    missing = SECURITY_HEADERS - set(headers)
    assert not missing, f"nginx sends documents without {sorted(missing)}"
    assert headers["strict-transport-security"] == production_hsts(values)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert_file_policy(_directives(headers["content-security-policy"]))


@pytest.mark.security_check(13)
def test_nginx_passes_the_applications_headers_on_untouched():
    """Pages, the API and PDF downloads come from Django through `location /`: nginx must neither hide
    its headers nor add a second copy (a server-level add_header would be inherited there)."""
    app = nginx_blocks((NGINX / "membership-app.conf").read_text())
    site = nginx_blocks((NGINX / "membership.conf").read_text())
    proxied, _ = find_block(app, "location /")
    assert any(directive.startswith("proxy_pass ") for directive in proxied)
    assert "proxy_set_header X-Forwarded-Proto $scheme" in proxied  # what SECURE_PROXY_SSL_HEADER reads

    def touching(directives):
        return [
            d
            for d in directives
            if d.split()[0] in {"add_header", "proxy_hide_header", "more_clear_headers", "proxy_ignore_headers"}
            and (d.split()[0] == "proxy_ignore_headers" or d.split()[1].lower() in SECURITY_HEADERS)
        ]

    assert touching(proxied) == []
    servers = [(directives, children) for name, directives, children in site[0][2] if name == "server"]
    https = [d for d, _ in servers if any(x.startswith("listen 443") for x in d)]
    assert len(https) == 1
    assert "include /etc/nginx/snippets/membership-app.conf" in https[0]
    assert touching(https[0]) == [] and touching(app[0][1]) == []


@pytest.mark.security_check(13)
def test_plain_http_is_redirected_to_https_except_the_health_check(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200


def test_the_api_docs_page_runs_no_inline_script_under_the_strict_policy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>" not in page and "<style>" not in page
    assert 'src="/api/docs/?script="' in page
    directives = _directives(response["Content-Security-Policy"])
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    from django.contrib.staticfiles import finders

    assert "css/api-docs.css" in page and finders.find("css/api-docs.css")


# --- Cache-Control ----------------------------------------------------------------------------------------


def _no_store(response):
    value = response.get("Cache-Control", "")
    return "no-store" in value and ("private" in value or value == "no-store")


@pytest.mark.parametrize("path", ["/portal/", "/payments/", "/portal/profile/", "/portal/notifications/"])
def test_member_pages_are_never_stored(client, alice, path):
    client.force_login(alice.user)
    response = client.get(path)
    assert response.status_code == 200, path
    assert _no_store(response), response.get("Cache-Control")


@pytest.mark.parametrize("path", ["/staff/", "/staff/members/", "/staff/payments/"])
def test_staff_pages_are_never_stored(client, admin_user, path):
    client.force_login(admin_user)
    response = client.get(path)
    if response.status_code == 302:  # two-factor set-up comes first for staff (accounts/)
        pytest.skip("staff must set up 2FA first; covered by the member pages")
    assert response.status_code == 200, path
    assert _no_store(response), response.get("Cache-Control")


def test_api_answers_to_a_token_are_never_stored(client, alice):
    alice.status = "active"
    alice.save()
    login = client.post(
        "/api/auth/login/", {"username": alice.user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert login.status_code == 200, login.content
    token = login.json()["access"]
    response = client.get("/api/payments/history/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert _no_store(response), response.get("Cache-Control")
    # Even an error answer to a token holder.
    assert _no_store(client.get("/api/payments/NOPE/status/", HTTP_AUTHORIZATION=f"Bearer {token}"))


def test_the_api_login_answer_with_its_tokens_is_never_stored(client, alice):
    response = client.post(
        "/api/auth/login/", {"username": alice.user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200 and "access" in response.json()
    assert _no_store(response), response.get("Cache-Control")


def test_public_reference_data_and_the_certificate_check_stay_cacheable(client, alice, reference_data):
    response = client.get("/api/categories/")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"] and "no-store" not in response["Cache-Control"]
    # Even when a signed-in member asks (the view's own choice wins).
    client.force_login(alice.user)
    response = client.get("/api/countries/")
    assert "public" in response["Cache-Control"] and "no-store" not in response["Cache-Control"]
    response = client.get(f"/verify/{alice.verification_token}/")
    assert response.status_code == 200
    assert "public" in response["Cache-Control"] and "no-store" not in response["Cache-Control"]


def test_anonymous_public_pages_are_not_marked_private(client, reference_data):
    response = client.get("/")
    assert "no-store" not in response.get("Cache-Control", "")


# --- The admin's address ------------------------------------------------------------------------------------


@pytest.fixture
def admin_url(settings):
    """Set ADMIN_URL and rebuild the URLconf; afterwards the original address and URLconf come back."""
    import importlib

    import config.urls

    original = settings.ADMIN_URL

    def use(url):
        settings.ADMIN_URL = url
        importlib.reload(config.urls)
        clear_url_caches()

    yield use
    use(original)


def test_the_admin_lives_at_admin_url(client, admin_url):
    admin_url("back-office-7f3a/")
    assert reverse("admin:index") == "/back-office-7f3a/"
    assert client.get("/admin/").status_code == 404
    response = client.get("/back-office-7f3a/")
    assert response.status_code == 302 and "/back-office-7f3a/login/" in response["Location"]
