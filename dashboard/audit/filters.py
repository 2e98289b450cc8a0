"""The audit trail viewer's filters (/staff/audit/). Every parameter is in the URL, so a filtered view can
be bookmarked or linked to, e.g. a member's activity:

    /staff/audit/?member=<member pk>                          everything about one member
    /staff/audit/?target_type=members.member&target_id=<pk>   entries about one object only

The filters that matter on a table of tens of millions of rows use its indexes: the object
(target_type, target_id, created_at), the action, the date range (created_at) and the actor (actor_id,
found through the users' email). The free text search (`q`) scans; combine it with the others.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import CharField, Q, Value
from django.db.models.functions import Lower

from audit.models import AuditLog
from core.filters import StaffListFilterSet
from members.models import Document, Member
from payments.models import Payment


def target_type_choices():
    """Every model's "app_label.model_name", as audit.services writes target_type."""
    return sorted(
        (model._meta.label_lower, f"{model._meta.label_lower} ({model._meta.verbose_name})")
        for model in apps.get_models()
    )


def member_activity_condition(member_pk: int) -> Q:
    """Entries about a member: the membership itself, its documents and payments, the member's user account,
    and whatever that account did.

    The ids are read first, in one query (a member has a handful of documents and payments), so that the
    list's query is a plain OR of index look-ups, (target_type, target_id) and actor_id, which PostgreSQL
    combines with a BitmapOr. Sub-queries in its place make it scan the whole trail."""
    member_type, document_type = Member._meta.label_lower, Document._meta.label_lower
    payment_type, user_type = Payment._meta.label_lower, get_user_model()._meta.label_lower

    def tagged(queryset, tag, column="pk"):
        return queryset.order_by().annotate(tag=Value(tag, output_field=CharField())).values_list("tag", column)

    related = tagged(Document.objects.filter(member=member_pk), document_type).union(
        tagged(Payment.objects.filter(member=member_pk), payment_type),
        tagged(Member.objects.filter(pk=member_pk), user_type, "user_id"),
        all=True,
    )
    ids = {document_type: [], payment_type: [], user_type: []}
    for tag, pk in related:
        ids[tag].append(str(pk))

    condition = Q(target_type=member_type, target_id=str(member_pk))
    for target_type, target_ids in ids.items():
        if target_ids:
            condition |= Q(target_type=target_type, target_id__in=target_ids)
    if ids[user_type]:
        condition |= Q(actor_id__in=[int(pk) for pk in ids[user_type]])
    return condition


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class AuditLogFilter(StaffListFilterSet):
    actor = django_filters.CharFilter(
        label="Who",
        method="filter_actor",
        max_length=254,
        help_text="A whole email address matches that account only; part of one (e.g. @example.com) matches "
        "every account containing it.",
    )
    action = django_filters.ChoiceFilter(choices=AuditLog.Action.choices, empty_label="Any action")
    target_type = django_filters.ChoiceFilter(
        label="Object type", choices=target_type_choices, empty_label="Any object type"
    )
    target_id = django_filters.CharFilter(label="Object id", max_length=64)
    member = IntegerFilter(
        label="Member",
        method="filter_member",
        min_value=1,
        max_value=2**63 - 1,  # the largest id a database stores; beyond it SQLite's driver overflows
        help_text="A member's id: their membership, documents, payments, account and own actions.",
    )
    date = django_filters.DateFromToRangeFilter(
        field_name="created_at",
        label="Between",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    q = django_filters.CharFilter(
        label="Text",
        method="filter_text",
        max_length=200,
        help_text="Part of the object's description or of the reason given.",
    )

    class Meta:
        model = AuditLog
        fields = ["actor", "action", "target_type", "target_id", "member", "date", "q"]

    def filter_actor(self, queryset, name, value):
        value = value.strip()
        users = get_user_model().objects.order_by()
        try:
            forms.EmailField().clean(value)
        except forms.ValidationError:
            users = users.filter(email__icontains=value)
        else:
            # LOWER(email) = ...: the users' case-insensitive unique index (iexact's UPPER() would not use it).
            users = users.annotate(email_lower=Lower("email")).filter(email_lower=value.lower())
        return queryset.filter(actor_id__in=users.values("pk"))

    def filter_member(self, queryset, name, value):
        return queryset.filter(member_activity_condition(int(value)))

    def filter_text(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(target_repr__icontains=value) | Q(reason__icontains=value))

    def filter_queryset(self, queryset):
        # Newest first, the id breaking ties between entries written in the same microsecond.
        return super().filter_queryset(queryset).order_by("-created_at", "-id")
