"""The figures on the staff home page.

Each is one aggregate the database computes from an index; Python only reads the handful of values that
come back (one per status, month, payment type, region or category). The number of queries is fixed
whatever the size of the tables:

    member_figures   5 queries  status (members_member.status index, index-only), applications per month
                                and in the last 30 days (members_member_applied_idx, index-only), renewals
                                due (members_member_status_end_idx), regions and categories (their foreign
                                key indexes, counted per region/category by a correlated sub-query)
    revenue_figures  2 queries  completed payments per month and type (the partial index
                                payments_completed_idx), M-Pesa outcomes of the last 30 days (created_at)

Months are counted with one FILTER (WHERE start <= t < end) per month rather than date_trunc(... AT TIME
ZONE ...): comparisons per row instead of a time zone conversion, several times faster on PostgreSQL.

The months before the current one (`closed_months`) no longer change, except by an offline payment
recorded with an earlier date, so their totals can be computed once and kept for longer: pass them to
member_figures/revenue_figures as `closed` and only the current month is counted again.

Every function is pure in `today`, a local date (settings.TIME_ZONE, Africa/Nairobi): months, "this
year" and "the last 30 days" are local whatever the server's clock zone, and end with `today`. Only the
counts by status, region and category describe the tables as they are now.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from members.models import Member, MembershipCategory, Region
from payments.models import Payment

MONTHS = 12
RECENT_DAYS = 30
RENEWAL_DAYS = 30
TOP_REGIONS = 10


# --- Dates -------------------------------------------------------------------------------------------


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The first day of the month `months` after (or before) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def local_midnight(day: datetime.date) -> datetime.datetime:
    """The aware instant local `day` begins."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def last_months(today: datetime.date, count: int = MONTHS) -> list[datetime.date]:
    """The first days of the last `count` local months, oldest first, ending with `today`'s month."""
    current = month_start(today)
    return [add_months(current, offset) for offset in range(1 - count, 1)]


def closed_months(today: datetime.date) -> list[datetime.date]:
    """The months of the chart before `today`'s: their totals are final."""
    return last_months(today)[:-1]


def recent_start(today: datetime.date, days: int = RECENT_DAYS) -> datetime.date:
    """The first day of "the last `days` days", today included."""
    return today - datetime.timedelta(days=days - 1)


def month_ranges(
    months: list[datetime.date], today: datetime.date
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """[start, end) of each local month as aware instants; none reaches past the end of `today`."""
    end_of_today = local_midnight(today + datetime.timedelta(days=1))
    return [(local_midnight(month), min(local_midnight(add_months(month, 1)), end_of_today)) for month in months]


# --- Results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """A count for one region or category; `key` is what the member list filters by."""

    key: str
    name: str
    count: int


@dataclass(frozen=True)
class MemberFigures:
    today: datetime.date
    by_status: dict[str, int]  # every Member.Status value, zeros included, in the order of Member.Status
    new_since: datetime.date  # first day of the recent window
    new_applications: int
    renewals_until: datetime.date
    renewals_due: int
    registrations_by_month: list[tuple[datetime.date, int]]  # MONTHS entries, oldest first
    top_regions: list[Group]
    other_regions: int  # members in every other region, or in none
    by_category: list[Group]
    computed_at: datetime.datetime = field(default_factory=timezone.now)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def pending(self) -> int:
        return self.by_status[Member.Status.PENDING]

    @property
    def active(self) -> int:
        return self.by_status[Member.Status.ACTIVE]


@dataclass(frozen=True)
class TypeRevenue:
    payment_type: str
    label: str
    month: int
    year: int


@dataclass(frozen=True)
class RevenueFigures:
    today: datetime.date
    by_type: list[TypeRevenue]  # every Payment.Type, zeros included
    revenue_by_month: list[tuple[datetime.date, int]]  # MONTHS entries, oldest first
    mpesa_since: datetime.date
    mpesa_completed: int
    mpesa_final: int
    computed_at: datetime.datetime = field(default_factory=timezone.now)

    @property
    def month_total(self) -> int:
        return sum(row.month for row in self.by_type)

    @property
    def year_total(self) -> int:
        return sum(row.year for row in self.by_type)

    @property
    def success_rate(self) -> float | None:
        """Completed share of the M-Pesa payments that reached a final status; None when there were none."""
        return self.mpesa_completed / self.mpesa_final if self.mpesa_final else None


# --- Members -----------------------------------------------------------------------------------------


def members_by_status() -> dict[str, int]:
    counts = dict(Member.objects.order_by().values("status").annotate(n=Count("*")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Member.Status.values}


def applications_per_month(
    months: list[datetime.date], today: datetime.date, *, recent_since: datetime.date | None = None
) -> tuple[list[int], int]:
    """Applications in each of `months` (consecutive local months, the last one counted up to the end of
    `today`), and since `recent_since` if given (else 0): one range scan of members_member_applied_idx."""
    ranges = month_ranges(months, today)
    aggregates = {
        f"m{index}": Count("applied_at", filter=Q(applied_at__gte=start, applied_at__lt=end))
        for index, (start, end) in enumerate(ranges)
    }
    lower, upper = ranges[0][0], ranges[-1][1]
    if recent_since is not None:
        recent = local_midnight(recent_since)
        aggregates["recent"] = Count("applied_at", filter=Q(applied_at__gte=recent, applied_at__lt=upper))
        lower = min(lower, recent)
    row = Member.objects.filter(applied_at__gte=lower, applied_at__lt=upper).aggregate(**aggregates)
    return [row[f"m{index}"] for index in range(len(months))], row.get("recent", 0)


def renewals_due(today: datetime.date, days: int = RENEWAL_DAYS) -> int:
    """Active members whose period ends between today and `days` days from now, both included."""
    until = today + datetime.timedelta(days=days)
    return Member.objects.filter(status=Member.Status.ACTIVE, period_end__range=(today, until)).count()


def _count_per(field_name: str):
    """Members pointing at the outer row through `field_name`, as a correlated sub-query: one probe of that
    foreign key's index per region or category, and 0 rather than NULL where there are none."""
    members = (
        Member.objects.filter(**{field_name: OuterRef("pk")})
        .order_by()
        .values(field_name)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(members, output_field=IntegerField()), Value(0))


def top_regions(limit: int = TOP_REGIONS) -> list[Group]:
    """The `limit` regions with the most members (ties by name), biggest first. Their names carry the
    country code when they come from more than one country ("Central (KE)", "Central (UG)")."""
    rows = (
        Region.objects.annotate(n=_count_per("region"))
        .order_by("-n", "name", "pk")
        .values_list("pk", "name", "country_id", "n")[:limit]
    )
    # Filtered here rather than in SQL, where PostgreSQL would run the sub-query a second time per region.
    rows = [row for row in rows if row[3] > 0]
    several_countries = len({country for _, _, country, _ in rows}) > 1
    return [
        Group(key=str(pk), name=f"{name} ({country})" if several_countries else name, count=n)
        for pk, name, country, n in rows
    ]


def members_by_category() -> list[Group]:
    """Every category, in display order, with its members (retired categories only when they have some)."""
    rows = (
        MembershipCategory.objects.annotate(n=_count_per("category"))
        .order_by("display_order", "name")
        .values_list("code", "name", "is_active", "n")
    )
    return [Group(key=code, name=name, count=n) for code, name, is_active, n in rows if is_active or n]


def member_figures(today: datetime.date, *, closed: list[int] | None = None) -> MemberFigures:
    """`closed`: applications_per_month(closed_months(today), today)[0], computed earlier; then only the
    current month is counted here."""
    months = last_months(today)
    if closed is None:
        per_month, new_applications = applications_per_month(months, today, recent_since=recent_start(today))
    else:
        if len(closed) != len(months) - 1:
            raise ValueError(f"Expected {len(months) - 1} closed months, got {len(closed)}.")
        current, new_applications = applications_per_month(months[-1:], today, recent_since=recent_start(today))
        per_month = [*closed, *current]
    by_status = members_by_status()
    regions = top_regions()
    return MemberFigures(
        today=today,
        by_status=by_status,
        new_since=recent_start(today),
        new_applications=new_applications,
        renewals_until=today + datetime.timedelta(days=RENEWAL_DAYS),
        renewals_due=renewals_due(today),
        registrations_by_month=list(zip(months, per_month, strict=True)),
        top_regions=regions,
        other_regions=sum(by_status.values()) - sum(group.count for group in regions),
        by_category=members_by_category(),
    )


# --- Payments ----------------------------------------------------------------------------------------


def revenue_per_month(months: list[datetime.date], today: datetime.date) -> dict[str, list[int]]:
    """Shillings received in each of `months` (consecutive local months, the last one up to the end of
    `today`) per payment type: one range scan of the partial index payments_completed_idx."""
    ranges = month_ranges(months, today)
    rows = (
        Payment.objects.filter(
            status=Payment.Status.COMPLETED, completed_at__gte=ranges[0][0], completed_at__lt=ranges[-1][1]
        )
        .order_by()
        .values("payment_type")
        .annotate(
            **{
                f"m{index}": Sum("amount", filter=Q(completed_at__gte=start, completed_at__lt=end))
                for index, (start, end) in enumerate(ranges)
            }
        )
    )
    result = {payment_type: [0] * len(months) for payment_type in Payment.Type.values}
    for row in rows:
        result[row["payment_type"]] = [row[f"m{index}"] or 0 for index in range(len(months))]
    return result


def mpesa_outcomes(today: datetime.date, days: int = RECENT_DAYS) -> tuple[int, int]:
    """(completed, final) M-Pesa payments started in the last `days` days; final means no longer pending."""
    result = Payment.objects.filter(
        method=Payment.Method.MPESA,
        created_at__gte=local_midnight(recent_start(today, days)),
        created_at__lt=local_midnight(today + datetime.timedelta(days=1)),
    ).aggregate(
        final=Count("status", filter=~Q(status=Payment.Status.PENDING)),
        completed=Count("status", filter=Q(status=Payment.Status.COMPLETED)),
    )
    return result["completed"], result["final"]


def revenue_figures(today: datetime.date, *, closed: dict[str, list[int]] | None = None) -> RevenueFigures:
    """`closed`: revenue_per_month(closed_months(today), today), computed earlier; then only the current
    month is summed here. The twelve months reach back past 1 January, so "this year" is in them."""
    months = last_months(today)
    if closed is None:
        per_type = revenue_per_month(months, today)
    else:
        current = revenue_per_month(months[-1:], today)
        per_type = {kind: [*closed.get(kind, [0] * (len(months) - 1)), *current[kind]] for kind in current}
    this_year = [month.year == today.year for month in months]
    by_type = [
        TypeRevenue(
            payment_type=kind,
            label=label,
            month=per_type[kind][-1],
            year=sum(value for value, counts in zip(per_type[kind], this_year, strict=True) if counts),
        )
        for kind, label in Payment.Type.choices
    ]
    by_month = [(month, sum(values[index] for values in per_type.values())) for index, month in enumerate(months)]
    completed, final = mpesa_outcomes(today)
    return RevenueFigures(
        today=today,
        by_type=by_type,
        revenue_by_month=by_month,
        mpesa_since=recent_start(today),
        mpesa_completed=completed,
        mpesa_final=final,
    )
