"""Reads for staff pages: one query per list page whatever its length."""

from django.db.models import Count, Q

from .models import Document, Member
from .search import search_condition


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
    condition = search_condition(query)
    if condition is not None:
        members = members.filter(condition)
    return members.order_by("applied_at" if status == Member.Status.PENDING else "-applied_at")
