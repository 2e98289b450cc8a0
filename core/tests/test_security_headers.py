"""Security check 13: the deploy check passes with the documented production env, and answers carry HSTS,
nosniff, X-Frame-Options DENY, a Referrer-Policy and a Content-Security-Policy. Plus Cache-Control on
personal pages, the admin's configurable address, and the API docs page under the same policy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import clear_url_caches, reverse

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
