"""Exports of the staff member list (CSV, Excel) and the user's export files.

- ``GET members/export/?<the list's filters>&format=csv|xlsx``: up to EXPORT_SYNC_MAX_ROWS rows download at
  once (CSV streamed); more are prepared by the ``dashboard.export_members`` task and the user is told
  when the file is ready. Invalid filters are a 400, never an export of everything.
- ``GET exports/``: the user's recent exports and their status.
- ``GET exports/<id>/download/``: a finished export, for the user who asked for it (or an Admin) only.

All need ``members.export_member`` (Finance and Admin); every export is audited (AuditLog EXPORTED).
"""

from __future__ import annotations

import logging
import tempfile

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from accounts.roles import ADMIN, user_roles
from audit.models import AuditLog
from audit.services import audit_log
from core.http import private_file_response
from core.permissions import permission_required
from dashboard.exports import (
    CSV_CONTENT_TYPE,
    EXPORT_TRANSITIONS,
    XLSX_CONTENT_TYPE,
    InvalidExportFilter,
    count_up_to,
    export_filename,
    filtered_member_queryset,
    member_export_rows,
    stream_csv,
    write_xlsx,
)
from dashboard.models import ExportJob
from dashboard.tasks import export_members

logger = logging.getLogger("dashboard.exports")

EXPORT_PERMISSION = "members.export_member"
# GET parameters of the member list that are not filters.
NON_FILTER_PARAMETERS = ("format", "page")
RECENT_EXPORTS = 50
Format = ExportJob.Format
Status = ExportJob.Status


@require_GET
@permission_required(EXPORT_PERMISSION)
def member_export(request):
    params = request.GET.copy()
    for name in NON_FILTER_PARAMETERS:
        params.pop(name, None)
    query_string = params.urlencode()
    file_format = request.GET.get("format") or Format.CSV
    if file_format not in Format.values:
        return _bad_request(
            request, [f"Unknown format “{file_format}”: choose CSV or Excel (csv or xlsx)."], query_string
        )
    try:
        queryset = filtered_member_queryset(params)
    except InvalidExportFilter as error:
        return _bad_request(request, error.messages, query_string)

    limit = settings.EXPORT_SYNC_MAX_ROWS
    rows_up_to_limit = count_up_to(queryset, limit)
    audit_data = {"what": "members", "format": file_format, "filter": query_string}
    if rows_up_to_limit > limit:
        return _queue_export(request, file_format, query_string, audit_data)

    audit_log(
        action=AuditLog.Action.EXPORTED,
        actor=request.user,
        data={**audit_data, "rows": rows_up_to_limit},
        request=request,
    )
    filename = export_filename(file_format)
    rows = member_export_rows(queryset)
    if file_format == Format.CSV:
        response = StreamingHttpResponse(stream_csv(rows), content_type=CSV_CONTENT_TYPE)
        response["Content-Disposition"] = content_disposition_header(True, filename)
    else:
        # Not a `with`: FileResponse closes it once sent, and a TemporaryFile is deleted when closed.
        file = tempfile.TemporaryFile(prefix="member-export-")  # noqa: SIM115
        try:
            write_xlsx(rows, file)
            file.seek(0)
        except BaseException:
            file.close()
            raise
        response = FileResponse(file, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
    return _private(response)


def _queue_export(request, file_format: str, query_string: str, audit_data: dict):
    limit = settings.EXPORT_SYNC_MAX_ROWS
    # The same export already waiting for this user (a double click, a reload): follow that one.
    job = ExportJob.objects.filter(
        user=request.user,
        format=file_format,
        query_string=query_string,
        status__in=[Status.QUEUED, Status.RUNNING],
    ).first()
    already_queued = job is not None
    if job is None:
        job = ExportJob.objects.create(user=request.user, format=file_format, query_string=query_string)
    audit_log(
        action=AuditLog.Action.EXPORTED,
        actor=request.user,
        target=job,
        data={**audit_data, "rows": None, "more_than": limit, "status": "queued", "job": job.pk},
        request=request,
    )
    if not already_queued:
        job_id = job.pk
        # After the commit, so the worker finds the row. With in-process tasks (no broker, or outside a
        # transaction) this runs the export right here.
        transaction.on_commit(lambda: _enqueue(job_id), robust=True)
    job.refresh_from_db()  # with in-process tasks it may be finished already
    context = {"job": job, "already_queued": already_queued, "limit": limit}
    return render(request, "dashboard/export_queued.html", context, status=202)


def _enqueue(job_id: int) -> None:
    try:
        export_members.delay(job_id)
    except Exception:
        logger.exception("Could not queue export %s.", job_id)
        EXPORT_TRANSITIONS.apply(
            ExportJob.objects.filter(status=Status.QUEUED),  # a job a worker took after all is left alone
            job_id,
            to=Status.FAILED,
            error="The export could not be started. Please try again in a few minutes.",
            finished_at=timezone.now(),
        )


def _bad_request(request, messages: list[str], query_string: str):
    return render(
        request, "dashboard/export_error.html", {"problems": messages, "query_string": query_string}, status=400
    )


@require_GET
@permission_required(EXPORT_PERMISSION)
def exports(request):
    jobs = ExportJob.objects.filter(user=request.user).order_by("-created_at", "-pk")[:RECENT_EXPORTS]
    return render(
        request,
        "dashboard/exports.html",
        {"jobs": jobs, "retention_hours": settings.EXPORT_RETENTION_HOURS},
    )


@require_GET
@login_required
def export_download(request, pk: int):
    """Only the user who asked (or an Admin) learns that the export exists: anyone else gets a 404."""
    job = get_object_or_404(ExportJob, pk=pk)
    if job.user_id != request.user.pk and not _is_admin(request.user):
        raise Http404("No such export.")
    if not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied
    if not job.is_downloadable:
        raise Http404("This export is not ready, or its file has been deleted.")
    content_type = XLSX_CONTENT_TYPE if job.format == Format.XLSX else CSV_CONTENT_TYPE
    try:
        # Sent by nginx (X-Accel-Redirect) when PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX is set, else streamed.
        return private_file_response(job.file, filename=job.download_name, content_type=content_type)
    except FileNotFoundError:
        raise Http404("This export's file has been deleted.") from None


def _is_admin(user) -> bool:
    return user.is_superuser or ADMIN in user_roles(user)


def _private(response):
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
