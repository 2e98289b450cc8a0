"""The staff member list's search and filters: one FilterSet for the dashboard list, its exports and
the staff API, so a shared URL means the same set of members everywhere.

Every filter maps to an indexed column: free text to the trigram-indexed `search_text`
(members.search), status/category/country/region to their indexes, dates to `applied_at` and
`period_end`.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from core.filters import StaffListFilterSet

from .models import Country, Member, MembershipCategory, Region
from .search import exact_identifier_condition, search_condition

Status = Member.Status


class PaymentState:
    PAID_UP = "paid_up"
    UNPAID = "unpaid"
    OVERDUE = "overdue"
    CHOICES = [
        (PAID_UP, "Paid up"),
        (UNPAID, "Registration fee unpaid"),
        (OVERDUE, "Overdue (renewal not paid)"),
    ]


def payment_state_condition(state: str, today=None) -> Q:
    today = today or timezone.localdate()
    if state == PaymentState.PAID_UP:
        return Q(status=Status.ACTIVE) & (Q(period_end__isnull=True) | Q(period_end__gte=today))
    if state == PaymentState.UNPAID:
        return Q(status__in=Member.UNDER_REVIEW, registration_paid_at__isnull=True)
    if state == PaymentState.OVERDUE:
        return Q(status__in=[Status.GRACE, Status.EXPIRED]) | Q(status=Status.ACTIVE, period_end__lt=today)
    raise ValueError(state)


def country_choices() -> list[tuple[str, str]]:
    return list(Country.objects.order_by("name").values_list("code", "name"))


def region_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Regions grouped by country, as an <optgroup> each."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for pk, name, country in Region.objects.order_by("country__name", "name").values_list(
        "pk", "name", "country__name"
    ):
        groups.setdefault(country, []).append((str(pk), name))
    return list(groups.items())


class MemberFilter(StaffListFilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        help_text="Name, membership number, phone (any form), email or ID number.",
    )
    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="Any status")
    payment = django_filters.ChoiceFilter(
        label="Payment", choices=PaymentState.CHOICES, method="filter_payment", empty_label="Any"
    )
    category = django_filters.ModelChoiceFilter(
        queryset=MembershipCategory.objects.order_by("display_order", "name"),
        to_field_name="code",
        empty_label="Any category",
    )
    # Plain value lists rather than ModelChoiceFilter querysets: every country and region as model instances
    # through a server-side cursor took a third of the list page's time.
    country = django_filters.ChoiceFilter(choices=lambda: country_choices(), empty_label="Any country")
    region = django_filters.ChoiceFilter(choices=lambda: region_choices(), empty_label="Any region")
    joined = django_filters.DateFromToRangeFilter(
        field_name="applied_at",
        label="Applied between",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    expires = django_filters.DateFromToRangeFilter(
        field_name="period_end",
        label="Period ends between",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    ordering = django_filters.OrderingFilter(
        label="Sort by",
        fields=(
            ("applied_at", "applied"),
            ("period_end", "expires"),
            ("membership_number", "number"),
            ("user__last_name", "name"),
            ("status", "status"),
        ),
        field_labels={
            "applied": "Applied (oldest first)",
            "-applied": "Applied (newest first)",
            "expires": "Period end (soonest first)",
            "-expires": "Period end (latest first)",
            "number": "Membership number",
            "-number": "Membership number (descending)",
            "name": "Surname (A-Z)",
            "-name": "Surname (Z-A)",
            "status": "Status",
            "-status": "Status (descending)",
        },
        empty_label="Newest applications first",
    )

    class Meta:
        model = Member
        fields = ["q", "status", "payment", "category", "country", "region", "joined", "expires"]

    def filter_search(self, queryset, name, value):
        exact = exact_identifier_condition(value)
        if exact is not None and queryset.filter(exact).exists():
            return queryset.filter(exact)
        condition = search_condition(value)
        return queryset if condition is None else queryset.filter(condition)

    def filter_payment(self, queryset, name, value):
        return queryset.filter(payment_state_condition(value))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("ordering"):
            expires = self.form.cleaned_data.get("expires")
            if expires and (expires.start or expires.stop):
                # Looking at period ends: soonest first, which the (status, period_end) index serves; walking
                # the applied_at index instead would skip most rows of the range.
                queryset = queryset.order_by("period_end", "pk")
            else:
                queryset = queryset.order_by("-applied_at", "-pk")
        else:
            queryset = queryset.order_by(*queryset.query.order_by, "-pk")
        return queryset


def member_list_queryset():
    """The rows of the staff member list and exports: everything a row shows, in one query."""
    return Member.objects.select_related("user", "category", "country", "region")
