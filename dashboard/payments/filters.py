"""The Finance payments list's filters (/staff/payments/): one FilterSet, so a shared URL means the same
payments for everyone who opens it.

Every filter maps to an index of a table with millions of rows (payments/migrations/0003 lists the ones
added for this list): status to (status, created_at), the date range and the default order to
created_at, the amount order to (amount, id). Free text is never a LIKE: it is compared for equality
with each identifier a payment can be found by, every one of them indexed, combined with OR (PostgreSQL
answers that with a BitmapOr of index scans). The members a membership number or phone number names are
looked up first (one small indexed query), so the OR stays on the payments table.
"""

from __future__ import annotations

import re

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q

from core.filters import StaffListFilterSet
from core.phones import normalise_phone
from members.models import Member
from payments.models import Payment
from payments.services import normalise_external_reference

Status = Payment.Status

UNSUCCESSFUL = "unsuccessful"
# The statuses Finance follows up: highlighted in the list, and one filter choice for all of them.
PROBLEM_STATUSES = (Status.FAILED, Status.CANCELLED, Status.TIMEOUT)
STATUS_CHOICES = [*Status.choices, (UNSUCCESSFUL, "Failed, cancelled or timed out")]

# Payments received but not applied to a membership (Payment.unapplied_at): those Finance has still to settle
# (refund or keep as credit), and those already settled.
UNAPPLIED, SETTLED = "unapplied", "settled"
APPLIED_CHOICES = [(UNAPPLIED, "Not applied: to settle"), (SETTLED, "Not applied: settled")]

_PHONE_LIKE = re.compile(r"^\+?[\d\s()-]{9,}$")
MAX_MEMBERS_PER_SEARCH = 50


def search_condition(text: str) -> Q | None:
    """Payments that any identifier in `text` names exactly, or None when the text is empty.

    Payment reference (as issued; case matters), our receipt number, the M-Pesa receipt number, Daraja's
    CheckoutRequestID, the cash/cheque/bank reference (compared as stored: spaces collapsed, upper case),
    the paying phone number in any form, and the member's membership number or phone number.
    """
    term = " ".join((text or "").split())
    if not term:
        return None
    upper = term.upper()
    condition = (
        Q(reference=term)
        | Q(receipt_number=upper)
        | Q(mpesa_receipt_number=upper)
        | Q(checkout_request_id=term)
        # `method <> 'mpesa'` is the unique index's condition: without it the index cannot be used.
        | (Q(external_reference=normalise_external_reference(term)) & ~Q(method=Payment.Method.MPESA))
    )
    members = Q(membership_number=upper)
    if _PHONE_LIKE.match(term):
        try:
            phone = normalise_phone(term)
        except ValidationError:
            pass
        else:
            condition |= Q(phone_number=phone)
            members |= Q(phone_number=phone)
    member_ids = list(Member.objects.filter(members).values_list("pk", flat=True)[:MAX_MEMBERS_PER_SEARCH])
    if member_ids:
        condition |= Q(member_id__in=member_ids)
    return condition


class PaymentFilter(StaffListFilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        help_text=(
            "Payment reference, receipt number (ours or M-Pesa's), cheque or bank reference, phone number "
            "(any form) or membership number."
        ),
    )
    status = django_filters.ChoiceFilter(choices=STATUS_CHOICES, method="filter_status", empty_label="Any status")
    payment_type = django_filters.ChoiceFilter(label="For", choices=Payment.Type.choices, empty_label="Anything")
    method = django_filters.ChoiceFilter(label="Paid by", choices=Payment.Method.choices, empty_label="Any method")
    applied = django_filters.ChoiceFilter(
        label="Applied to the membership",
        choices=APPLIED_CHOICES,
        method="filter_applied",
        empty_label="Applied or not",
    )
    # created_after / created_before (whole days, in Nairobi time).
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at",
        label="Created between",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    ordering = django_filters.OrderingFilter(
        label="Sort by",
        fields=(("created_at", "date"), ("amount", "amount")),
        field_labels={
            "date": "Date (oldest first)",
            "-date": "Date (newest first)",
            "amount": "Amount (smallest first)",
            "-amount": "Amount (largest first)",
        },
        empty_label="Newest first",
    )

    class Meta:
        model = Payment
        fields = ["q", "status", "payment_type", "method", "applied", "created"]

    def filter_search(self, queryset, name, value):
        condition = search_condition(value)
        return queryset if condition is None else queryset.filter(condition)

    def filter_status(self, queryset, name, value):
        if value == UNSUCCESSFUL:
            return queryset.filter(status__in=PROBLEM_STATUSES)
        return queryset.filter(status=value)

    def filter_applied(self, queryset, name, value):
        # Both use the partial index payments_unapplied_idx (unapplied rows only).
        if value == UNAPPLIED:
            return queryset.awaiting_resolution()
        return queryset.settled()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        order = list(queryset.query.order_by) if self.form.cleaned_data.get("ordering") else ["-created_at"]
        # The id breaks ties in the same direction, so (amount, id) serves either amount order by itself.
        return queryset.order_by(*order, "-pk" if order[0].startswith("-") else "pk")


def payment_list_queryset():
    """The rows of the Finance payments list: everything a row shows (the member's name and number), in
    one query."""
    return Payment.objects.select_related("member__user")
