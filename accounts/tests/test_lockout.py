"""Failed-login lockouts (django-axes, accounts.security): per username and client address, with a cool-off;
the web login, the admin's (which is the web login) and the API's; the Admin's lockouts page."""

import datetime
import json

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.db.models import F

from audit.models import AuditLog
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(8)]

ATTACKER = "203.0.113.66"
HOME = "198.51.100.20"
EMAIL = "alice@example.com"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_MINUTES = 15
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
    cache.clear()  # the API's throttle counters
    yield
    cache.clear()


@pytest.fixture
def member_user(alice):
    return alice.user


def web_login(client, password, ip=ATTACKER, username=EMAIL, path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def api_login(client, password, ip=ATTACKER, username=EMAIL, **extra):
    body = {"username": username, "password": password, **extra}
    return client.post("/api/auth/login/", json.dumps(body), content_type="application/json", REMOTE_ADDR=ip)


def fail(client, times, ip=ATTACKER, username=EMAIL):
    return [web_login(client, "Wrong-password-123", ip=ip, username=username) for _ in range(times)]


def move_clock_past_the_cool_off(minutes=16):
    """Instead of sleeping: the recorded failures happened `minutes` earlier."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=minutes))


def test_failures_below_the_limit_only_show_the_login_form_again(client, member_user):
    responses = fail(client, 2)
    assert [r.status_code for r in responses] == [200, 200]
    assert web_login(client, PASSWORD).status_code == 302


def test_the_limit_locks_the_username_from_that_address_with_a_page_saying_when(client, member_user):
    *_, last = fail(client, 3)
    assert last.status_code == 429
    page = last.content.decode()
    assert "Too many failed logins" in page and "Try again" in page
    assert 1 <= int(last["Retry-After"]) <= 15 * 60

    # The right password from that address is refused too while the lockout lasts.
    response = web_login(client, PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    assert AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, data__event="login_locked_out").exists()


def test_the_case_of_the_email_does_not_give_more_tries(client, member_user):
    # Beyond ASCII case too: a fullwidth ａ and the roman numeral ⅿ fold to the same address (core.emails).
    for typed in ("ALICE@Example.COM", "\uff41lice@example.com", "alice@example.co\u217f"):
        response = web_login(client, "Wrong-password-123", username=typed)
    assert response.status_code == 429


def test_someone_elses_failures_do_not_lock_the_member_out_from_their_own_address(client, member_user):
    fail(client, 5, ip=ATTACKER)
    response = web_login(client, PASSWORD, ip=HOME)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(member_user.pk)


def test_other_accounts_from_the_locked_address_are_not_locked(client, member_user, bob):
    fail(client, 3)
    assert web_login(client, PASSWORD, username="bob@example.com").status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, member_user):
    fail(client, 3)
    assert web_login(client, PASSWORD).status_code == 429
    move_clock_past_the_cool_off(minutes=14)
    assert web_login(client, PASSWORD).status_code == 429, "still within the cool-off"
    move_clock_past_the_cool_off(minutes=2)
    response = web_login(client, PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(member_user.pk)


def test_a_successful_login_forgets_earlier_failures(client, member_user):
    fail(client, 2)
    assert web_login(client, PASSWORD).status_code == 302
    client.post("/logout/")
    assert [r.status_code for r in fail(client, 2)] == [200, 200], "counting starts again"


def test_x_forwarded_for_counts_only_behind_the_proxy(client, member_user, settings):
    # Without USE_X_FORWARDED_FOR a client cannot dodge the lockout by sending a new header each time.
    for n in range(3):
        response = client.post(
            "/login/",
            {"username": EMAIL, "password": "nope-nope-1"},
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )
    assert response.status_code == 429
    # Behind nginx the forwarded address is the client's, so each address is counted on its own.
    settings.USE_X_FORWARDED_FOR = True
    response = client.post(
        "/login/", {"username": EMAIL, "password": PASSWORD}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=HOME
    )
    assert response.status_code == 302


# --- The admin site ----------------------------------------------------------------------------------------


def test_the_admin_has_no_password_form_of_its_own_it_uses_the_locked_login(client, admin_user):
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/admin/"

    # Posting credentials to the admin's login URL signs nobody in: there is nothing there to guess at.
    response = client.post("/admin/login/", {"username": admin_user.email, "password": PASSWORD}, REMOTE_ADDR=ATTACKER)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert SESSION_KEY not in client.session

    # The login the admin sends people to locks out like any other.
    *_, last = fail(client, 3, username=admin_user.email)
    assert last.status_code == 429
    response = web_login(client, PASSWORD, username=admin_user.email, path="/login/?next=/admin/")
    assert response.status_code == 429
    assert SESSION_KEY not in client.session


# --- The API ----------------------------------------------------------------------------------------------


def test_the_api_login_locks_out_in_its_error_shape(client, member_user):
    answers = [api_login(client, "Wrong-password-123") for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    response = api_login(client, PASSWORD)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == 429 and error["code"] == "locked_out"
    assert 0 < error["retry_after_seconds"] <= 15 * 60
    assert "access" not in response.json()

    # Another address logs in; the web login from the locked address is locked too (one count for both).
    assert api_login(client, PASSWORD, ip=HOME).status_code == 200
    assert web_login(client, PASSWORD).status_code == 429

    move_clock_past_the_cool_off()
    assert api_login(client, PASSWORD).status_code == 200


def test_a_successful_api_login_forgets_earlier_failures(client, member_user):
    assert [api_login(client, "Wrong-password-123").status_code for _ in range(2)] == [400, 400]
    assert api_login(client, PASSWORD).status_code == 200
    assert [api_login(client, "Wrong-password-123").status_code for _ in range(2)] == [400, 400]


# --- The Admin's page --------------------------------------------------------------------------------------


def test_the_admin_sees_a_lockout_and_lifts_it_and_that_is_audited(client, member_user, admin_user):
    fail(client, 3)
    fail(client, 1, username="someone@example.com")
    staff = type(client)()
    staff.force_login(admin_user)

    page = staff.get("/staff/security/lockouts/")
    assert page.status_code == 200
    locked = page.context["locked"]
    assert [(row["username"], row["ip_address"]) for row in locked] == [(EMAIL, ATTACKER)]
    assert [row["username"] for row in page.context["watch"]] == ["someone@example.com"]

    response = staff.post("/staff/security/lockouts/clear/", {"username": EMAIL, "ip_address": ATTACKER})
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.SECURITY_EVENT, data__event="lockout_cleared")
    assert entry.actor == admin_user and entry.data["username"] == EMAIL and entry.data["ip_address"] == ATTACKER
    assert staff.get("/staff/security/lockouts/").context["locked"] == []

    assert web_login(client, PASSWORD).status_code == 302


def test_lifting_needs_a_username_and_an_address(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/staff/security/lockouts/clear/", {"username": EMAIL, "ip_address": "not-an-ip"})
    assert response.status_code == 302
    assert not AuditLog.objects.filter(data__event="lockout_cleared").exists()
