"""The audit trail viewer for staff (/staff/audit/): a filtered list and one page per entry.

Read only, like the trail itself: GET and HEAD are the only methods these views answer (405 otherwise),
and nothing here writes. Paginated with a capped count so the list stays fast at tens of millions of rows;
each page costs the same queries whatever its size. The filters use the trail's indexes, except the free
text search, which scans: on PostgreSQL the list's queries get AUDIT_LIST_TIMEOUT_MS (default 5 s) and a
search that needs longer asks for narrower filters instead of holding a connection for minutes.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from audit.models import AuditLog
from core.pagination import DEFAULT_COUNT_CAP, LargeTablePaginator
from core.permissions import permission_required
from members.models import Member

from .filters import AuditLogFilter

PAGE_SIZE = 50
COUNT_CAP = DEFAULT_COUNT_CAP
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout
TOO_SLOW = (
    "This search took too long: the text search reads the whole trail. "
    "Add a date range, an action, a person or an object to narrow it."
)
LIST_FIELDS = (
    "id",
    "created_at",
    "actor_id",
    "actor_repr",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "reason",
    "ip_address",
)
MEMBER_TYPE = Member._meta.label_lower


def audit_list_url(**params) -> str:
    """The audit list filtered by `params`, e.g. audit_list_url(member=member.pk) for a member's activity."""
    url = reverse("dashboard:audit")
    params = {key: value for key, value in params.items() if value not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def target_url(entry: AuditLog) -> str:
    """The staff page of the entry's object, where there is one."""
    if entry.target_type == MEMBER_TYPE and entry.target_id.isdigit():
        try:
            return reverse("dashboard:member_detail", args=[int(entry.target_id)])
        except NoReverseMatch:
            return ""
    return ""


def _timed_out(error: OperationalError) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == QUERY_CANCELED


def _page(filterset, number):
    """The requested page and its entries, read under a statement timeout on PostgreSQL."""
    paginator = LargeTablePaginator(filterset.qs, PAGE_SIZE, filtered=filterset.is_filtered, count_cap=COUNT_CAP)
    connection = connections[filterset.qs.db]
    if connection.vendor != "postgresql":
        page = paginator.get_page(number)
        return page, list(page.object_list)
    timeout = settings.AUDIT_LIST_TIMEOUT_MS
    with transaction.atomic(using=filterset.qs.db):
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout)])  # this transaction
        page = paginator.get_page(number)
        return page, list(page.object_list)


@require_safe
@permission_required("audit.view_auditlog")
def audit_list(request):
    filterset = AuditLogFilter(request.GET or None, queryset=AuditLog.objects.only(*LIST_FIELDS))
    if filterset.is_bound and not filterset.is_valid():
        return render(request, "dashboard/audit_list.html", {"filter": filterset, "page": None}, status=400)
    try:
        page, entries = _page(filterset, request.GET.get("page"))
    except OperationalError as error:
        if not _timed_out(error):
            raise
        context = {"filter": filterset, "page": None, "too_slow": TOO_SLOW}
        return render(request, "dashboard/audit_list.html", context, status=400)
    for entry in entries:
        entry.target_url = target_url(entry)
    return render(request, "dashboard/audit_list.html", {"filter": filterset, "page": page, "entries": entries})


@require_safe
@permission_required("audit.view_auditlog")
def audit_detail(request, pk):
    entry = get_object_or_404(AuditLog.objects.select_related("actor"), pk=pk)
    context = {
        "entry": entry,
        "data_json": json.dumps(entry.data, indent=2, sort_keys=True, ensure_ascii=False, default=str),
        "target_url": target_url(entry),
        "object_entries_url": (
            audit_list_url(target_type=entry.target_type, target_id=entry.target_id) if entry.target_type else ""
        ),
        "actor_entries_url": audit_list_url(actor=entry.actor.email) if entry.actor else "",
        "member_entries_url": (
            audit_list_url(member=entry.target_id)
            if entry.target_type == MEMBER_TYPE and entry.target_id.isdigit()
            else ""
        ),
    }
    return render(request, "dashboard/audit_detail.html", context)
