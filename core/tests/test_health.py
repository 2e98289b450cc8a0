"""/healthz: database, cache and broker; 503 naming what failed; the callback spool's figures, "degraded"
when a delivery is stuck in it; nothing else said; never cached."""

import socket

import pytest
from celery import current_app

from config.celery import app as project_celery_app

pytestmark = pytest.mark.django_db


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is: nothing listens there


def test_healthy_without_a_broker(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "not configured", "callback_spool": "ok"},
        "callback_spool": {"depth": 0, "oldest_seconds": None, "quarantined": 0},
    }
    assert "no-store" in response["Cache-Control"]


def test_the_broker_down_is_a_503_that_says_so(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.HEALTHZ_BROKER_TIMEOUT_SECONDS = 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "cache": "ok", "broker": "failed", "callback_spool": "ok"}
    assert "127.0.0.1" not in response.content.decode() and "redis" not in response.content.decode()


def test_a_reachable_broker_is_ok(client, settings):
    """Against the Redis that CI runs (REDIS_URL); skipped where none is configured."""
    import os

    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set")
    settings.CELERY_BROKER_URL = url
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"] == "ok"


def test_the_cache_down_is_a_503(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    # (Django's setting_changed handler rebuilds the cache connections for the new CACHES.)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failed"


def test_the_database_down_is_a_503(client, monkeypatch):
    from core import health

    def broken():
        raise OSError("connection refused to db.internal:5432")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed"
    assert "db.internal" not in response.content.decode()


def test_only_get(client):
    assert client.post("/healthz").status_code == 405


def test_the_broker_check_uses_the_celery_app_of_the_project():
    assert current_app._get_current_object() is project_celery_app


@pytest.mark.security_check(23)
def test_a_callback_stuck_in_the_spool_degrades_the_status_without_a_503(client, settings):
    """The spool is replayed by beat every 30 s; a delivery older than MPESA_CALLBACK_SPOOL_ALERT_SECONDS
    means the replay is not running. The node can still serve: 200, but "degraded" for the monitor."""
    import os
    import time

    from core.spool import Spool

    settings.CELERY_BROKER_URL = ""
    settings.MPESA_CALLBACK_SPOOL_ALERT_SECONDS = 300
    spool = Spool(settings.MPESA_CALLBACK_SPOOL_DIR)
    fresh = spool.put({"kind": "stk_callback"})
    assert client.get("/healthz").json()["status"] == "ok"

    old = settings.MPESA_CALLBACK_SPOOL_DIR / f"{time.time_ns() - 600 * 10**9:020d}-old.json"
    old.write_text("{}")
    os.utime(old, (time.time() - 600, time.time() - 600))
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["callback_spool"] == "stuck"
    assert body["callback_spool"]["depth"] == 2 and body["callback_spool"]["oldest_seconds"] >= 600
    assert str(settings.MPESA_CALLBACK_SPOOL_DIR) not in response.content.decode() and fresh
