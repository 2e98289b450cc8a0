"""The staff home's figures, counted by dashboard.home.stats and kept in the cache: for the page
(dashboard.home.views) and for the beat task that counts them ahead of it (dashboard.tasks.refresh_home_figures).

Kept for DASHBOARD_HOME_CACHE_SECONDS (default two minutes; 0 turns the cache off). The totals of the closed
months of the charts are kept for DASHBOARD_HOME_HISTORY_SECONDS (default an hour), so a miss of the short
cache counts only the current month again. Member and revenue figures are kept apart, so Staff never
compute revenue.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import stats

logger = logging.getLogger(__name__)

CACHE_VERSION = 1


def local_today() -> datetime.date:
    return timezone.localdate()


def now() -> datetime.datetime:
    return timezone.now()


def cache_seconds() -> int:
    return settings.DASHBOARD_HOME_CACHE_SECONDS


def history_seconds() -> int:
    """How long the closed months' totals are kept; never kept when the cache is off."""
    if cache_seconds() <= 0:
        return 0
    return settings.DASHBOARD_HOME_HISTORY_SECONDS


def cached(key: str, compute: Callable, timeout: int, *, force: bool = False):
    """`compute()`, kept for `timeout` seconds (`force`: computed and stored again whatever is kept).
    A cache that is down costs a cold render, never the page."""
    if timeout <= 0:
        return compute()
    key = f"dashboard:home:v{CACHE_VERSION}:{key}"
    try:
        value = None if force else cache.get(key)
    except Exception:
        logger.warning("Cache unavailable; computing the staff home figures afresh.", exc_info=True)
        return compute()
    if value is None:
        value = compute()
        try:
            cache.set(key, value, timeout)
        except Exception:
            logger.warning("Could not cache the staff home figures.", exc_info=True)
    return value


def _figures(kind: str, today: datetime.date, compute: Callable, compute_closed: Callable, *, force: bool = False):
    """(figures, when their closed months were counted, or None when together with the rest).

    `compute(today, closed=...)` is kept for cache_seconds(); the closed months' totals it builds on,
    `compute_closed(months, today)`, for history_seconds(), so a miss of the first recounts only the
    current month. The history is read only on such a miss, and cached with the figures made from it."""
    if history_seconds() <= 0:
        return compute(today), None

    def live():
        months = stats.closed_months(today)
        key = f"{kind}-closed:{months[0].isoformat()}:{months[-1].isoformat()}"
        closed, closed_at = cached(key, lambda: (compute_closed(months, today), now()), history_seconds())
        return compute(today, closed=closed), closed_at

    return cached(f"{kind}:{today.isoformat()}", live, cache_seconds(), force=force)


def member_figures(today: datetime.date, *, force: bool = False):
    return _figures(
        "members",
        today,
        stats.member_figures,
        lambda months, today: stats.applications_per_month(months, today)[0],
        force=force,
    )


def revenue_figures(today: datetime.date, *, force: bool = False):
    return _figures("revenue", today, stats.revenue_figures, stats.revenue_per_month, force=force)


def refresh_figures(today: datetime.date | None = None) -> bool:
    """Count every figure again and keep it in the cache. Celery beat runs this (dashboard.refresh_home_figures)
    more often than the cache expires, so staff opening the page read kept figures and never wait for the
    counting (a second or so at a million members). False when the cache is off, so there is nothing to keep."""
    if cache_seconds() <= 0:
        return False
    today = today or local_today()
    member_figures(today, force=True)
    revenue_figures(today, force=True)
    return True
