"""The staff home page: membership (and, for Finance and Admin, revenue) at a glance, every figure a link
into the list it counts.

The figures come from dashboard.home.figures, which counts them in a fixed number of aggregate queries and
keeps them in the cache; the page says when they were computed, and when the closed months' totals were
if those are older.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import dateformat
from django.views.decorators.http import require_safe

from core.permissions import permission_required
from members.models import Member

from . import figures, stats
from .charts import HORIZONTAL, MUTED_BAR_COLOUR, VERTICAL, Bar, Chart

REVENUE_COLOUR = "#0d6efd"  # Bootstrap's primary blue
HALF_WIDTH = 520  # drawing width of the charts in half-width cards, so their text keeps its size


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


@require_safe
@permission_required("members.view_member")
def staff_home(request):
    today = figures.local_today()
    member_figures, members_closed_at = figures.member_figures(today)
    context = member_context(member_figures)
    computed, closed = [member_figures.computed_at], [members_closed_at]

    if request.user.has_perm("payments.view_payment"):
        revenue_figures, revenue_closed_at = figures.revenue_figures(today)
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
            "cache_minutes": figures.cache_seconds() / 60,
        }
    )
    return render(request, "dashboard/home.html", context)
