"""Reads for staff pages: one query per list page whatever its length."""

from django.core.exceptions import ValidationError
from django.db.models import Count, Q

from core.phones import normalise_phone

from .models import Document, Member


def member_search(*, query: str = "", status: str = ""):
    members = Member.objects.select_related("user", "category", "country", "region").annotate(
        documents_pending=Count(
            "documents", filter=Q(documents__is_current=True, documents__status=Document.Status.PENDING)
        ),
        documents_rejected=Count(
            "documents", filter=Q(documents__is_current=True, documents__status=Document.Status.REJECTED)
        ),
    )
    if status:
        members = members.filter(status=status)
    query = (query or "").strip()
    if query:
        condition = (
            Q(user__first_name__icontains=query)
            | Q(user__last_name__icontains=query)
            | Q(other_names__icontains=query)
            | Q(user__email__icontains=query)
            | Q(id_number__iexact=query.replace(" ", ""))
            | Q(membership_number__iexact=query)
        )
        try:
            condition |= Q(phone_number=normalise_phone(query))
        except ValidationError:
            pass  # not a phone number: search the other fields only
        parts = query.split()
        if len(parts) >= 2:
            condition |= Q(user__first_name__icontains=parts[0], user__last_name__icontains=parts[-1])
        members = members.filter(condition)
    return members.order_by("applied_at" if status == Member.Status.PENDING else "-applied_at")
