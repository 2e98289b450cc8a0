"""GET /healthz: is this instance able to serve? For the load balancer and monitoring.

Checks the database (one trivial query), the cache (a set and a get) and the Celery broker (a connection
with a short timeout; "not configured" when tasks run in-process without a broker). 200 with
{"status": "ok", "checks": {...}} or 503 naming the failed check.

It also reports this machine's spool of M-Pesa callbacks kept during a database outage (core.spool,
MPESA_CALLBACK_SPOOL_DIR): how many wait, the oldest one's age and how many were quarantined. A delivery
waiting longer than MPESA_CALLBACK_SPOOL_ALERT_SECONDS (the replay is not running) or any quarantined one
makes the status "degraded", still 200: the node can serve, so a balancer keeps it, but a monitor alerts.
It says nothing else: no versions, host names, addresses, paths or error texts. It is exempt from the
HTTPS redirect (SECURE_REDIRECT_EXEMPT), so a balancer can call it over plain HTTP on loopback, and never
cached.
"""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.spool import Spool

logger = logging.getLogger(__name__)

OK = "ok"
FAILED = "failed"
NOT_CONFIGURED = "not configured"


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return OK


def check_cache() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    try:
        return OK if cache.get(key) == "1" else FAILED
    finally:
        cache.delete(key)


def check_broker() -> str:
    broker_url = settings.CELERY_BROKER_URL
    if not broker_url:
        return NOT_CONFIGURED
    timeout = settings.HEALTHZ_BROKER_TIMEOUT_SECONDS
    # The app config/celery.py made current at startup; core imports nothing of config.
    with current_app.connection_for_write(url=broker_url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
    return OK


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}
STUCK = "stuck"


def callback_spool_figures() -> tuple[str, dict]:
    """("ok" or "stuck", {"depth", "oldest_seconds", "quarantined"}) of this machine's callback spool."""
    stats = Spool(settings.MPESA_CALLBACK_SPOOL_DIR).stats()
    stuck = stats.quarantined or (stats.oldest_seconds or 0) > settings.MPESA_CALLBACK_SPOOL_ALERT_SECONDS
    figures = {"depth": stats.depth, "oldest_seconds": stats.oldest_seconds, "quarantined": stats.quarantined}
    return (STUCK if stuck else OK), figures


@never_cache
@require_GET
def healthz(request):
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception:
            logger.warning("Health check %s failed", name, exc_info=True)
            results[name] = FAILED
    healthy = all(result in (OK, NOT_CONFIGURED) for result in results.values())
    figures = None
    try:
        results["callback_spool"], figures = callback_spool_figures()
    except Exception:
        logger.warning("Health check callback_spool failed", exc_info=True)
        results["callback_spool"] = FAILED
    status = ("degraded" if results["callback_spool"] != OK else OK) if healthy else "unavailable"
    return JsonResponse(
        {"status": status, "checks": results, "callback_spool": figures}, status=200 if healthy else 503
    )
