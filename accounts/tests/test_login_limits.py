"""Failed logins are limited per address across accounts and per account across addresses (accounts.security),
beside the per-pair lock, on the web and the API, and with the same cool-off (never a permanent lock)."""

import datetime
import json

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.db.models import F

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(21)]

ATTACKER = "203.0.113.66"
HOME = "198.51.100.20"
EMAIL = "alice@example.com"
WRONG = "Wrong-password-123"


@pytest.fixture(autouse=True)
def _production_limits(settings):
    # The shipped defaults, as the finding was reproduced against: 5 per pair, 20 per address or account.
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 20
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 20
    cache.clear()  # the API's throttle counters
    yield
    cache.clear()


def web_login(client, username, password=WRONG, ip=ATTACKER):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def api_login(client, username, password=WRONG, ip=ATTACKER):
    body = json.dumps({"username": username, "password": password})
    return client.post("/api/auth/login/", body, content_type="application/json", REMOTE_ADDR=ip)


def many_addresses(count):
    return [f"192.0.2.{n}" for n in range(1, count + 1)]


def move_clock_past_the_cool_off():
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(minutes=16))


def test_one_address_trying_fifteen_accounts_is_throttled(client, alice):
    """The reported run: 4 tries at each of 15 accounts from one address, under every per-pair limit."""
    statuses = [web_login(client, f"member{n}@example.com").status_code for n in range(15) for _ in range(4)]
    assert statuses[:20] == [200] * 20
    assert set(statuses[20:]) == {429}

    # Locked as an address: Alice's right password from there is refused, from home it is not.
    assert web_login(client, EMAIL, PASSWORD).status_code == 429
    assert SESSION_KEY not in client.session
    assert web_login(client, EMAIL, PASSWORD, ip=HOME).status_code == 302


def test_one_account_tried_from_many_addresses_is_throttled(client, alice):
    statuses = [web_login(client, EMAIL, ip=ip).status_code for ip in many_addresses(20)]
    assert statuses == [200] * 20

    # Locked as an account: refused from an address that never failed, even with the right password.
    response = web_login(client, EMAIL, PASSWORD, ip=HOME)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    # Other accounts from those addresses are not affected.
    assert web_login(client, "someone.else@example.com", ip="192.0.2.1").status_code == 200


def test_the_account_lock_is_a_cool_off_not_a_permanent_lock(client, alice):
    for ip in many_addresses(20):
        web_login(client, EMAIL, ip=ip)
    assert web_login(client, EMAIL, PASSWORD, ip=HOME).status_code == 429

    move_clock_past_the_cool_off()
    assert web_login(client, EMAIL, PASSWORD, ip=HOME).status_code == 302


def test_the_api_login_has_both_limits_too(client, alice, bob):
    for ip in many_addresses(20):
        api_login(client, EMAIL, ip=ip)
    response = api_login(client, EMAIL, PASSWORD, ip=HOME)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    assert "refresh" not in response.json()

    for n in range(20):
        api_login(client, f"member{n}@example.com", ip="192.0.2.200")
    response = api_login(client, "bob@example.com", PASSWORD, ip="192.0.2.200")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"


def test_the_admin_page_lists_the_pairs_behind_an_address_lock(client, admin_user):
    """Each pair is below its own limit of 5; together they are the address's 20."""
    for n in range(5):
        for _ in range(4):
            web_login(client, f"member{n}@example.com")
    staff = type(client)()
    staff.force_login(admin_user)

    locked = staff.get("/staff/security/lockouts/").context["locked"]
    assert {row["username"] for row in locked} == {f"member{n}@example.com" for n in range(5)}
    assert all(row["until"] is not None for row in locked)
