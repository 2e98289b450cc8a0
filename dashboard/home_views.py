"""The staff home page: membership (and, for Finance and Admin, revenue) at a glance, every figure a link
into the list it counts.

The figures come from dashboard.stats in a fixed number of aggregate queries and are kept in the cache
for DASHBOARD_HOME_CACHE_SECONDS (default two minutes; 0 turns the cache off); the page says when they
were computed. The totals of the closed months of the charts are kept for DASHBOARD_HOME_HISTORY_SECONDS
(default an hour), so a render after the short cache expires counts only the current month again; the
page says when those were computed too. Member and revenue figures are cached apart, so Staff never
compute revenue.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_safe

from core.permissions import permission_required
from members.models import Member

from . import stats
from .charts import HORIZONTAL, MUTED_BAR_COLOUR, VERTICAL, Bar, Chart

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
REVENUE_COLOUR = "#0d6efd"  # Bootstrap's primary blue
HALF_WIDTH = 520  # drawing width of the charts in half-width cards, so their text keeps its size


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


def url_or(name: str, fallback: str) -> str:
    """The URL named `name`, or `fallback` while that page is not wired in yet."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return fallback


def with_query(url: str, **params) -> str:
    params = {key: value.isoformat() if isinstance(value, datetime.date) else value for key, value in params.items()}
    return f"{url}?{urlencode(params)}" if params else url


def _month_bars(series, link: Callable | None = None) -> list[Bar]:
    """One bar per month; the year under the first and under each January; the last month is "to date"."""
    bars = []
    for index, (month, value) in enumerate(series):
        long_label = dateformat.format(month, "F Y")
        bars.append(
            Bar(
                label=dateformat.format(month, "M"),
                sublabel=str(month.year) if index == 0 or month.month == 1 else "",
                long_label=f"{long_label} (to date)" if index == len(series) - 1 else long_label,
                value=value,
                url=link(month) if link else "",
            )
        )
    return bars


def member_context(figures: stats.MemberFigures) -> dict:
    members = url_or("dashboard:members", "/staff/members/")
    applications = reverse("dashboard:applications")
    today = figures.today

    def month_link(month):
        last_day = stats.add_months(month, 1) - datetime.timedelta(days=1)
        return with_query(members, joined_after=month, joined_before=last_day)

    kpis = [
        {
            "id": "active",
            "label": "Active members",
            "value": figures.active,
            "hint": f"of {figures.total:,} on record",
            "url": with_query(members, status=Member.Status.ACTIVE),
        },
        {
            "id": "pending",
            "label": "Awaiting review",
            "value": figures.pending,
            "hint": "applications to approve or reject",
            "url": with_query(applications, status=Member.Status.PENDING),
        },
        {
            "id": "new",
            "label": "New applications",
            "value": figures.new_applications,
            "hint": f"last 30 days, since {dateformat.format(figures.new_since, 'j M')}",
            "url": with_query(members, joined_after=figures.new_since, joined_before=today),
        },
        {
            "id": "renewals",
            "label": "Renewals due",
            "value": figures.renewals_due,
            "hint": f"active members whose period ends by {dateformat.format(figures.renewals_until, 'j M')}",
            "url": with_query(
                members,
                status=Member.Status.ACTIVE,
                expires_after=today,
                expires_before=figures.renewals_until,
            ),
        },
    ]
    statuses = [
        {
            "value": value,
            "label": label,
            "count": figures.by_status[value],
            "url": with_query(members, status=value),
        }
        for value, label in Member.Status.choices
    ]
    region_bars = [
        Bar(label=group.name, value=group.count, url=with_query(members, region=group.key))
        for group in figures.top_regions
    ]
    if figures.other_regions:
        region_bars.append(
            Bar(
                label="Other",
                long_label="Other regions, or none given",
                value=figures.other_regions,
                colour=MUTED_BAR_COLOUR,
            )
        )
    charts = [
        Chart(
            id="chart-registrations",
            title="Applications per month, last 12 months",
            bars=_month_bars(figures.registrations_by_month, month_link),
            label_heading="Month",
            value_heading="Applications",
            orientation=VERTICAL,
        ),
        Chart(
            id="chart-regions",
            title=f"Members by region, top {stats.TOP_REGIONS}",
            bars=region_bars,
            label_heading="Region",
            value_heading="Members",
            orientation=HORIZONTAL,
            width=HALF_WIDTH,
        ),
        Chart(
            id="chart-categories",
            title="Members by category",
            bars=[
                Bar(label=group.name, value=group.count, url=with_query(members, category=group.key))
                for group in figures.by_category
            ],
            label_heading="Category",
            value_heading="Members",
            orientation=HORIZONTAL,
            width=HALF_WIDTH,
        ),
    ]
    return {
        "members": figures,
        "kpis": kpis,
        "statuses": statuses,
        "members_url": members,
        "applications_url": with_query(applications, status=Member.Status.PENDING),
        "member_charts": charts,
    }


def revenue_context(figures: stats.RevenueFigures) -> dict:
    rate = figures.success_rate
    chart = Chart(
        id="chart-revenue",
        title="Revenue per month, last 12 months",
        bars=_month_bars(figures.revenue_by_month),
        label_heading="Month",
        value_heading="Received (KES)",
        orientation=VERTICAL,
        unit="KES",
        colour=REVENUE_COLOUR,
    )
    return {
        "revenue": figures,
        "success_rate": None if rate is None else f"{rate * 100:.1f}%",
        "revenue_chart": chart,
    }


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


def _member_figures(today: datetime.date, *, force: bool = False):
    return _figures(
        "members",
        today,
        stats.member_figures,
        lambda months, today: stats.applications_per_month(months, today)[0],
        force=force,
    )


def _revenue_figures(today: datetime.date, *, force: bool = False):
    return _figures("revenue", today, stats.revenue_figures, stats.revenue_per_month, force=force)


def refresh_figures(today: datetime.date | None = None) -> bool:
    """Count every figure again and keep it in the cache. Celery beat runs this (dashboard.refresh_home_figures)
    more often than the cache expires, so staff opening the page read kept figures and never wait for the
    counting (a second or so at a million members). False when the cache is off, so there is nothing to keep."""
    if cache_seconds() <= 0:
        return False
    today = today or local_today()
    _member_figures(today, force=True)
    _revenue_figures(today, force=True)
    return True


@require_safe
@permission_required("members.view_member")
def staff_home(request):
    today = local_today()
    member_figures, members_closed_at = _member_figures(today)
    context = member_context(member_figures)
    computed, closed = [member_figures.computed_at], [members_closed_at]

    if request.user.has_perm("payments.view_payment"):
        revenue_figures, revenue_closed_at = _revenue_figures(today)
        context.update(revenue_context(revenue_figures))
        computed.append(revenue_figures.computed_at)
        closed.append(revenue_closed_at)
    if request.user.has_perm("payments.view_all_payments"):
        context["payments_url"] = url_or("dashboard:payments", "/staff/payments/")
    if request.user.has_perm("audit.view_auditlog"):
        context["audit_url"] = url_or("dashboard:audit", "/staff/audit/")

    as_of = min(computed)
    closed_as_of = min((when for when in closed if when is not None), default=None)
    context.update(
        {
            "today": today,
            "as_of": as_of,
            # The closed months' totals are kept longer: say so when they are older than the rest.
            "closed_as_of": (
                closed_as_of
                if closed_as_of is not None and as_of - closed_as_of >= datetime.timedelta(minutes=1)
                else None
            ),
            "current_month": stats.month_start(today),
            "cache_minutes": cache_seconds() / 60,
        }
    )
    return render(request, "dashboard/home.html", context)
