"""Reads: the member behind a login, and staff pages' lists (one query per list page whatever its length)."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import Document, Member
from .search import search_condition


def member_of_user_or_404(user, *, related: tuple[str, ...] = (), prefetch: tuple[str, ...] = ()) -> Member:
    """The membership of this login (with its category and user), for "my ..." pages and endpoints: no id in
    the URL, so nobody reaches another member's. Http404 when the account has none (staff, a bare login)."""
    try:
        return Member.objects.select_related("category", "user", *related).prefetch_related(*prefetch).get(user=user)
    except Member.DoesNotExist:
        raise Http404("This account has no membership.") from None


def _current_documents(status: str):
    """How many of a member's current documents have `status`: a subquery per listed row, so a page of 25
    counts 25 members' documents, not every member's before the LIMIT."""
    counts = (
        Document.objects.filter(member=OuterRef("pk"), is_current=True, status=status)
        .order_by()
        .values("member")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counts), 0)


def member_search(*, query: str = "", status: str = ""):
    members = Member.objects.select_related("user", "category", "country", "region").annotate(
        documents_pending=_current_documents(Document.Status.PENDING),
        documents_rejected=_current_documents(Document.Status.REJECTED),
    )
    if status:
        members = members.filter(status=status)
    condition = search_condition(query)
    if condition is not None:
        members = members.filter(condition)
    return members.order_by("applied_at" if status == Member.Status.PENDING else "-applied_at")
