"""With Redis down the site degrades instead of breaking: the cache answers as an empty one, with one warning.

The cache is pointed at an address where nothing listens (port 1), through the same `redis_caches` that
config/settings.py uses whenever REDIS_URL is set.
"""

import logging

import pytest
from django.core.cache import cache

from config.settings import redis_caches
from core.cache import rate_limit_hit
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = redis_caches(DEAD_REDIS)
    yield
    settings.CACHES = redis_caches(DEAD_REDIS)  # the handler is rebuilt again when the fixture's override ends


def _outage_warnings(caplog):
    return [r for r in caplog.records if r.name == "core.cache" and r.levelno == logging.WARNING]


@pytest.mark.security_check(17)
def test_with_redis_down_the_pay_page_the_api_and_login_still_answer_and_a_warning_is_logged(
    client, alice, redis_down, caplog
):
    caplog.set_level(logging.WARNING, logger="core.cache")

    assert client.get("/login/").status_code == 200

    login = client.post(
        "/api/auth/login/", {"username": alice.user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert login.status_code == 200, login.content
    access = login.json()["access"]

    profile = client.get("/api/members/profile/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert profile.status_code == 200
    assert profile.json()["email"] == alice.user.email

    client.login(username=alice.user.email, password=PASSWORD)
    pay = client.get("/payments/pay/")
    assert pay.status_code == 200
    assert "KES 5,000" in pay.content.decode()

    # Said once, not once per cache call.
    warnings = _outage_warnings(caplog)
    assert len(warnings) == 1
    assert "Cache unavailable" in warnings[0].getMessage()


def test_with_redis_down_the_failed_login_lockout_still_holds(client, alice, redis_down, settings):
    """The lockout (django-axes) is kept in the database, not the cache."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": alice.user.email, "password": "wrong password"})
    locked = client.post("/login/", {"username": alice.user.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_unreachable_cache_reads_as_empty_and_forgets_what_it_is_given(redis_down):
    cache.set("key", "value")
    assert cache.get("key") is None
    assert cache.get("key", "fallback") == "fallback"
    assert cache.get_many(["key"]) == {}
    assert cache.add("key", "value") is True
    assert cache.get_or_set("key", "computed") == "computed"
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.has_key("key") is False
    cache.delete("key")
    cache.clear()
    with pytest.raises(ValueError):
        cache.incr("key")


def test_after_a_failure_the_cache_is_left_alone_for_a_while(redis_down, settings, monkeypatch):
    settings.CACHE_RETRY_SECONDS = 60
    from redis.connection import Connection

    attempts = []
    real_connect = Connection.connect

    def counting_connect(self):
        attempts.append(1)
        return real_connect(self)

    monkeypatch.setattr(Connection, "connect", counting_connect)
    for _ in range(5):
        cache.get("key")
    assert len(attempts) >= 1
    tried = len(attempts)
    for _ in range(5):
        cache.get("key")
    assert len(attempts) == tried


def test_with_redis_down_a_rate_limit_lets_requests_through(redis_down):
    """Counters are not kept during an outage (README: "When Redis is down")."""
    assert all(rate_limit_hit(scope="test", ident="198.51.100.7", rate="1/hour") == 0 for _ in range(3))


def test_a_rate_limit_refuses_past_its_rate_and_says_how_long_to_wait():
    waits = [rate_limit_hit(scope="test", ident="198.51.100.7", rate="2/hour") for _ in range(3)]
    assert waits[:2] == [0, 0]
    assert 0 < waits[2] <= 3600
    assert rate_limit_hit(scope="test", ident="198.51.100.8", rate="2/hour") == 0


def test_with_redis_down_the_health_check_reports_the_cache_failed(client, redis_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failed"
