"""The staff home page (/staff/): its figures against data made here, who sees what, the links into the
member list (which must count the same members), the charts, and a query count that does not grow."""

import dataclasses
import datetime
import html
import re
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import settings as declared_settings
from dashboard.home import figures, stats
from dashboard.tests.test_charts import read_table
from members.filters import MemberFilter
from members.models import Member, MembershipCategory, Region
from payments.models import Payment
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 15)
Status = Member.Status
PType = Payment.Type


def at(day: datetime.date, hour=12, minute=0) -> datetime.datetime:
    """An aware local (Africa/Nairobi) time."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.DASHBOARD_HOME_CACHE_SECONDS = 0
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def on_today(monkeypatch):
    monkeypatch.setattr(figures, "local_today", lambda: TODAY)


def member(status=Status.PENDING, *, applied, region="047", category="full", period_end=None, country="KE"):
    return MemberFactory(
        status=status,
        applied_at=applied,
        period_end=period_end,
        region=None if region is None else Region.objects.get(country=country, code=region),
        category=MembershipCategory.objects.get(code=category),
        documents=[],
    )


def payment(who, kind, amount, status=Payment.Status.COMPLETED, *, completed=None, created=None, method="mpesa"):
    obj = Payment.objects.create(
        member=who,
        payment_type=kind,
        amount=amount,
        status=status,
        method=method,
        completed_at=completed if status == Payment.Status.COMPLETED else None,
    )
    Payment.objects.filter(pk=obj.pk).update(created_at=created or completed or at(TODAY))
    return obj


@pytest.fixture
def dataset(reference_data):
    """3 active (2 due for renewal within 30 days), 2 pending, 1 rejected; Nairobi 3, Mombasa 2, no region 1;
    Full 4, Student 2; completed payments this month, last month, last year, outside the 12 months."""
    members = {
        "active_due_10": member(Status.ACTIVE, applied=at(datetime.date(2025, 6, 10)), period_end=TODAY + days(10)),
        "active_due_30": member(
            Status.ACTIVE, applied=at(datetime.date(2024, 1, 1)), period_end=TODAY + days(30), region="001"
        ),
        "active_later": member(
            Status.ACTIVE, applied=at(TODAY - days(30)), period_end=TODAY + days(31), category="student"
        ),
        # The last 30 days start at midnight 29 days ago (14 February 2026).
        "pending_new": member(Status.PENDING, applied=at(TODAY - days(29), 0, 1), region="001"),
        "pending_today": member(Status.PENDING, applied=at(TODAY, 8), region=None, category="student"),
        "rejected": member(Status.REJECTED, applied=at(datetime.date(2025, 12, 31), 23, 30)),
    }
    m = members["active_due_10"]
    # This month (March 2026): 1,300 registration + 2,000 renewal. 00:30 on 1 March in Nairobi is still
    # 28 February in UTC: months are local.
    payment(m, PType.REGISTRATION, 1000, completed=at(datetime.date(2026, 3, 2)))
    payment(m, PType.REGISTRATION, 300, completed=at(datetime.date(2026, 3, 1), 0, 30))
    payment(m, PType.RENEWAL, 2000, completed=at(datetime.date(2026, 3, 14)))
    # Last month: 500 registration + 400 renewal.
    payment(m, PType.REGISTRATION, 500, completed=at(datetime.date(2026, 2, 10)), created=at(TODAY - days(60)))
    payment(m, PType.RENEWAL, 400, completed=at(datetime.date(2026, 2, 28), 22, 30))
    # Last year, inside the 12 months: 700 late payment in December 2025. Outside them: March 2025.
    payment(m, PType.LATE_PAYMENT, 700, completed=at(datetime.date(2025, 12, 20)), created=at(TODAY - days(90)))
    payment(m, PType.RENEWAL, 5000, completed=at(datetime.date(2025, 3, 31)), created=at(TODAY - days(400)))
    # Not money received: failed, pending.
    payment(m, PType.RENEWAL, 9999, Payment.Status.FAILED, created=at(TODAY - days(3)))
    payment(m, PType.RENEWAL, 8888, Payment.Status.PENDING, created=at(TODAY))
    # Cash is revenue, but not part of the M-Pesa success rate.
    payment(m, PType.REGISTRATION, 50, completed=at(TODAY), method="cash")
    # Not in the success rate's 30 days: an old failure.
    payment(m, PType.RENEWAL, 1, Payment.Status.CANCELLED, created=at(TODAY - days(40)))
    # M-Pesa in the last 30 days: completed 4 (1,000 / 300 / 2,000 / 400), failed 1, pending 1 -> 4 of 5.
    return members


MONTH_TOTAL = {PType.REGISTRATION: 1350, PType.RENEWAL: 2000, PType.LATE_PAYMENT: 0}
YEAR_TOTAL = {PType.REGISTRATION: 1850, PType.RENEWAL: 2400, PType.LATE_PAYMENT: 0}


# --- Reading the page ----------------------------------------------------------------------------------


def page(client, user):
    client.force_login(user)
    response = client.get("/staff/")
    assert response.status_code == 200
    return response.content.decode()


def value_of(content: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*data-value="([^"]*)"', content)
    assert match, f"no #{element_id} with a data-value"
    return match.group(1)


def href_of(content: str, element_id: str) -> str:
    match = re.search(rf'<a [^>]*href="([^"]*)"[^>]*id="{re.escape(element_id)}"', content) or re.search(
        rf'<a [^>]*id="{re.escape(element_id)}"[^>]*href="([^"]*)"', content
    )
    assert match, f"no link #{element_id}"
    return html.unescape(match.group(1))


def chart_table(content: str, chart_id: str):
    match = re.search(rf'<table [^>]*id="{chart_id}-table">.*?</table>', content, re.S)
    assert match, f"no table for {chart_id}"
    return read_table(match.group(0))


def svgs(content: str) -> dict[str, ET.Element]:
    found = {}
    for svg in re.findall(r"<svg .*?</svg>", content, re.S):
        root = ET.fromstring(svg)  # noqa: S314 - our own page
        found[root.get("id")] = root
    return found


def members_counted_by(url: str) -> int:
    """How many members the member list shows for this link (its FilterSet, applied as the list does)."""
    parts = urlsplit(url)
    assert parts.path == "/staff/members/"
    filterset = MemberFilter(QueryDict(parts.query), queryset=Member.objects.all())
    assert filterset.is_valid(), filterset.errors
    return filterset.qs.count()


# --- Who may see what ----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/staff/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/staff/"


def test_members_and_staff_without_a_role_are_refused(client, bob):
    client.force_login(bob.user)
    assert client.get("/staff/").status_code == 403
    client.force_login(UserFactory(email="nora.norole@example.com", is_staff=True))
    assert client.get("/staff/").status_code == 403


def test_the_page_only_reads(client, staff_user):
    client.force_login(staff_user)
    for method in ("post", "put", "delete"):
        assert getattr(client, method)("/staff/").status_code == 405


def test_staff_see_member_figures_but_no_money(client, staff_user, dataset, on_today, monkeypatch):
    def no_revenue_for_staff(today):
        raise AssertionError("revenue computed for a user who may not see it")

    monkeypatch.setattr(stats, "revenue_figures", no_revenue_for_staff)
    content = page(client, staff_user)

    assert value_of(content, "status-total") == "6"
    assert 'id="revenue' not in content
    assert "chart-revenue" not in content
    assert "KES" not in content
    assert 'id="link-payments"' not in content and 'id="link-audit"' not in content
    assert set(svgs(content)) == {"chart-registrations", "chart-regions", "chart-categories"}


def test_finance_see_revenue_and_the_payments_link(client, finance_user, dataset, on_today):
    content = page(client, finance_user)
    assert 'id="revenue-table"' in content
    assert href_of(content, "link-payments") == "/staff/payments/"
    assert 'id="link-audit"' not in content
    assert set(svgs(content)) == {"chart-registrations", "chart-regions", "chart-categories", "chart-revenue"}


def test_admin_also_gets_the_audit_trail_link(client, admin_user, dataset, on_today):
    content = page(client, admin_user)
    assert href_of(content, "link-audit") == "/staff/audit/"
    assert 'id="revenue-table"' in content


# --- The figures ---------------------------------------------------------------------------------------


def test_member_figures_on_the_page(client, staff_user, dataset, on_today):
    content = page(client, staff_user)

    assert value_of(content, "status-active") == "3"
    assert value_of(content, "status-pending") == "2"
    assert value_of(content, "status-rejected") == "1"
    for status in (Status.APPROVED, Status.SUSPENDED, Status.GRACE, Status.EXPIRED):
        assert value_of(content, f"status-{status}") == "0"
    kpis = {kpi: value_of(content, f"kpi-{kpi}-value") for kpi in ("active", "pending", "new", "renewals")}
    # New: applied on or after 14 February (the one applied 30 days ago, on the 13th, is not).
    # Renewals: active, period ending 15 March .. 14 April (+10 and +30 days; +31 is not).
    assert {kpi: int(text) for kpi, text in kpis.items()} == {
        "active": 3,
        "pending": 2,
        "new": 2,
        "renewals": 2,
    }


def test_every_member_link_counts_the_same_members_in_the_member_list(client, staff_user, dataset, on_today):
    content = page(client, staff_user)

    assert href_of(content, "kpi-pending") == "/staff/applications/?status=pending"
    assert href_of(content, "kpi-renewals") == (
        "/staff/members/?status=active&expires_after=2026-03-15&expires_before=2026-04-14"
    )
    assert href_of(content, "kpi-new") == "/staff/members/?joined_after=2026-02-14&joined_before=2026-03-15"
    for kpi in ("active", "new", "renewals"):
        assert members_counted_by(href_of(content, f"kpi-{kpi}")) == int(value_of(content, f"kpi-{kpi}-value"))

    status_links = re.findall(r'<a href="(/staff/members/\?status=(\w+))">', content)
    assert {status for _, status in status_links} == set(Status.values)
    for url, status in status_links:
        assert members_counted_by(html.unescape(url)) == int(value_of(content, f"status-{status}"))

    for chart_id in ("chart-registrations", "chart-regions", "chart-categories"):
        for row in chart_table(content, chart_id).rows:
            if row["url"]:
                assert members_counted_by(row["url"]) == int(row["value"]), (chart_id, row)


def test_revenue_figures_on_the_page(client, finance_user, dataset, on_today):
    content = page(client, finance_user)

    for payment_type in PType.values:
        assert int(value_of(content, f"revenue-month-{payment_type}")) == MONTH_TOTAL[payment_type]
        assert int(value_of(content, f"revenue-year-{payment_type}")) == YEAR_TOTAL[payment_type]
    assert int(value_of(content, "revenue-month-total")) == 3350
    assert int(value_of(content, "revenue-year-total")) == 4250
    success = re.search(r'id="mpesa-success">.*?data-value="([^"]*)".*?</p>', content, re.S)
    assert success.group(1) == "80.0%"
    assert "4 completed of 5 finished since 14 Feb" in " ".join(success.group(0).split())

    table = chart_table(content, "chart-revenue")
    months = {row["label"]: int(row["value"]) for row in table.rows}
    assert list(months)[0] == "April 2025" and list(months)[-1] == "March 2026 (to date)" and len(months) == 12
    assert months["March 2026 (to date)"] == 3350
    assert months["February 2026"] == 900
    assert months["December 2025"] == 700
    assert sum(months.values()) == 4950  # March 2025 is outside the 12 months
    assert int(table.foot["value"]) == 4950


def test_charts_are_valid_svg_matching_their_tables(client, admin_user, dataset, on_today):
    content = page(client, admin_user)
    ns = {"svg": "http://www.w3.org/2000/svg"}

    for chart_id, root in svgs(content).items():
        assert root.get("role") == "img"
        assert root.find("svg:title", ns).text
        table = chart_table(content, chart_id)
        assert table.caption == root.find("svg:title", ns).text
        tooltips = [bar.find("svg:title", ns).text for bar in root.findall("svg:g[@class='chart-bar']", ns)]
        assert tooltips == [f"{row['label']}: {row['text']}" for row in table.rows]

    registrations = {row["label"]: int(row["value"]) for row in chart_table(content, "chart-registrations").rows}
    assert len(registrations) == 12
    assert registrations["June 2025"] == 1
    assert registrations["December 2025"] == 1  # 23:30 on 31 December, Nairobi time
    assert registrations["February 2026"] == 2  # 13 and 14 February
    assert registrations["March 2026 (to date)"] == 1
    assert sum(registrations.values()) == 5  # January 2024 is outside the 12 months

    regions = [(row["label"], int(row["value"])) for row in chart_table(content, "chart-regions").rows]
    assert regions == [("Nairobi City", 3), ("Mombasa", 2), ("Other regions, or none given", 1)]
    categories = [(row["label"], int(row["value"])) for row in chart_table(content, "chart-categories").rows]
    assert categories == [
        ("Student", 2),
        ("Associate", 0),
        ("Full / Professional", 4),
        ("Corporate", 0),
        ("Honorary / Life", 0),
    ]


# --- Cost ----------------------------------------------------------------------------------------------


def _count_queries(client, user):
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/").status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_data(client, finance_user, dataset, on_today):
    before = _count_queries(client, finance_user)

    regions = list(Region.objects.filter(country="KE").order_by("code")[:14])
    categories = list(MembershipCategory.objects.all())
    for i in range(28):
        applied = at(TODAY - days(13 * i))
        extra = member(
            list(Status)[i % len(Status)],
            applied=applied,
            region=regions[i % len(regions)].code,
            category=categories[i % len(categories)].code,
            period_end=TODAY + days(i),
        )
        for kind in PType.values:
            payment(extra, kind, 100 + i, completed=applied)
        payment(extra, PType.RENEWAL, 5, Payment.Status.FAILED, created=applied)

    assert _count_queries(client, finance_user) == before


def test_the_figures_cost_a_fixed_number_of_queries(dataset, django_assert_num_queries):
    with django_assert_num_queries(5):
        stats.member_figures(TODAY)
    with django_assert_num_queries(2):
        stats.revenue_figures(TODAY)


def as_of(content):
    match = re.search(r'id="figures-as-of">\s*Figures as of <time datetime="[^"]+">(\d\d:\d\d)</time>', content)
    assert match, "the page must say how old its figures are"
    return match.group(1)


def test_figures_are_cached_briefly_and_the_page_says_when_they_were_computed(
    client, finance_user, dataset, on_today, settings
):
    settings.DASHBOARD_HOME_CACHE_SECONDS = 120
    before = timezone.localtime().strftime("%H:%M")
    cold = _count_queries(client, finance_user)
    after = timezone.localtime().strftime("%H:%M")
    warm = _count_queries(client, finance_user)
    # Cold: the closed months' applications and revenue (1 + 1), then the live figures (5 + 2).
    assert cold - warm == 9

    content = page(client, finance_user)
    assert as_of(content) in (before, after)
    assert "refreshed every 2 minutes" in content
    assert 'id="closed-as-of"' not in content  # computed together with the rest
    assert int(value_of(content, "revenue-year-total")) == 4250


def test_closed_months_are_kept_longer_than_the_live_figures(client, finance_user, dataset, on_today, settings):
    settings.DASHBOARD_HOME_CACHE_SECONDS = 1
    settings.DASHBOARD_HOME_HISTORY_SECONDS = 3600
    cold = _count_queries(client, finance_user)
    time.sleep(1.2)  # the live figures expire; the closed months' totals stay
    assert cold - _count_queries(client, finance_user) == 2

    # Same figures either way.
    content = page(client, finance_user)
    assert int(value_of(content, "revenue-year-total")) == 4250
    assert {row["label"]: int(row["value"]) for row in chart_table(content, "chart-registrations").rows}[
        "February 2026"
    ] == 2


def test_the_page_says_when_the_closed_months_were_counted(
    client, staff_user, dataset, on_today, settings, monkeypatch
):
    settings.DASHBOARD_HOME_CACHE_SECONDS = 120
    earlier = timezone.now() - datetime.timedelta(minutes=40)
    monkeypatch.setattr(figures, "now", lambda: earlier)
    content = page(client, staff_user)
    shown = re.search(r'Monthly totals before March as of <time [^>]*id="closed-as-of">(\d\d:\d\d)</time>', content)
    assert shown and shown.group(1) == timezone.localtime(earlier).strftime("%H:%M")


def test_counting_closed_months_apart_gives_the_same_figures(dataset):
    closed = stats.closed_months(TODAY)
    assert closed[0] == datetime.date(2025, 4, 1) and closed[-1] == datetime.date(2026, 2, 1)

    whole = stats.member_figures(TODAY)
    split = stats.member_figures(TODAY, closed=stats.applications_per_month(closed, TODAY)[0])
    assert dataclasses.replace(split, computed_at=whole.computed_at) == whole

    whole = stats.revenue_figures(TODAY)
    split = stats.revenue_figures(TODAY, closed=stats.revenue_per_month(closed, TODAY))
    assert dataclasses.replace(split, computed_at=whole.computed_at) == whole

    with pytest.raises(ValueError):
        stats.member_figures(TODAY, closed=[1, 2, 3])


def test_staff_pages_survive_a_broken_cache(client, staff_user, dataset, on_today, settings, monkeypatch):
    settings.DASHBOARD_HOME_CACHE_SECONDS = 120

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(figures.cache, "get", down)
    monkeypatch.setattr(figures.cache, "set", down)
    assert value_of(page(client, staff_user), "status-total") == "6"


# --- The aggregates, on their own ---------------------------------------------------------------------


def test_months_and_years_are_local_and_january_starts_a_new_year(reference_data):
    who = member(Status.ACTIVE, applied=at(datetime.date(2025, 1, 1)))
    payment(who, PType.RENEWAL, 100, completed=at(datetime.date(2026, 1, 1), 0, 15))  # 31 Dec 21:15 UTC
    payment(who, PType.RENEWAL, 40, completed=at(datetime.date(2025, 12, 31), 23, 45))
    figures = stats.revenue_figures(datetime.date(2026, 1, 10))

    renewal = next(row for row in figures.by_type if row.payment_type == PType.RENEWAL)
    assert (renewal.month, renewal.year) == (100, 100)
    assert figures.revenue_by_month[-2:] == [(datetime.date(2025, 12, 1), 40), (datetime.date(2026, 1, 1), 100)]
    assert figures.revenue_by_month[0][0] == datetime.date(2025, 2, 1)


def test_only_the_ten_biggest_regions_are_named_and_the_rest_is_other(reference_data):
    kenya = list(Region.objects.filter(country="KE").order_by("code")[:12])
    for index, region in enumerate(kenya):
        for _ in range(index + 1):
            member(applied=at(TODAY), region=region.code)
    member(applied=at(TODAY), region=None)
    uganda = Region.objects.filter(country="UG").first()
    member(applied=at(TODAY), region=uganda.code, country="UG")

    figures = stats.member_figures(TODAY)

    assert [group.count for group in figures.top_regions] == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3]
    assert figures.top_regions[0].key == str(kenya[11].pk)
    assert figures.top_regions[0].name == kenya[11].name
    # The two smallest Kenyan counties (1 + 2), Uganda's region (1) and the member without one (1).
    assert figures.other_regions == 5
    assert figures.total == sum(range(1, 13)) + 2


def test_an_empty_database_gives_zeros_not_errors(client, admin_user, on_today):
    figures = stats.member_figures(TODAY)
    assert figures.total == 0 and figures.top_regions == [] and figures.other_regions == 0
    assert stats.revenue_figures(TODAY).success_rate is None
    content = page(client, admin_user)
    assert value_of(content, "status-total") == "0"
    assert "no finished M-Pesa payments" in content
    for root in svgs(content).values():
        assert root.get("role") == "img"


def test_the_beat_task_counts_ahead_so_the_page_reads_kept_figures(
    client, finance_user, dataset, on_today, settings, monkeypatch
):
    from dashboard.tasks import refresh_home_figures

    settings.DASHBOARD_HOME_CACHE_SECONDS = 120
    monkeypatch.setattr("dashboard.home.figures.local_today", lambda: TODAY)
    assert refresh_home_figures() is True
    warm = _count_queries(client, finance_user)
    before = int(value_of(page(client, finance_user), "status-total"))

    # A new applicant: the kept figures do not know yet; the next refresh does, without a page view.
    member(applied=at(TODAY))
    assert int(value_of(page(client, finance_user), "status-total")) == before
    refresh_home_figures()
    assert int(value_of(page(client, finance_user), "status-total")) == before + 1
    assert _count_queries(client, finance_user) == warm  # still nothing counted in the request


def test_the_beat_task_does_nothing_when_the_cache_is_off(settings):
    from dashboard.tasks import refresh_home_figures

    settings.DASHBOARD_HOME_CACHE_SECONDS = 0
    assert refresh_home_figures() is False


def test_refreshing_is_on_the_beat_schedule_within_the_default_cache_time(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-staff-home"]
    assert entry["task"] == "dashboard.refresh_home_figures"
    assert entry["schedule"] < declared_settings.DASHBOARD_HOME_CACHE_SECONDS
