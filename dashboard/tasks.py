"""Background member-list exports and their clean-up.

- ``export_members(job_id)``: writes one ExportJob's file (dashboard.exports) to private storage under
  exports/, records the row count, audits it and tells the user (in-app notification and email) with a
  download link. Run by Celery; with no broker (the embedded default) it runs in-process, after the request
  that queued it commits.
- ``delete_old_exports()``: hourly (CELERY_BEAT_SCHEDULE), deletes export files older than
  EXPORT_RETENTION_HOURS, files under exports/ that no job owns, and gives up on jobs that never finished.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db.models import Q
from django.http import QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from notifications.models import Message
from notifications.services import message_queue, notification_create

from .exports import InvalidExportFilter, filtered_member_queryset, member_export_rows, write_csv, write_xlsx
from .home.figures import refresh_figures
from .models import EXPORTS_DIRECTORY, ExportJob

logger = logging.getLogger("dashboard.exports")

Status = ExportJob.Status
# A job still "running" this long after it started belongs to a worker that died: another delivery of the
# task (acks_late) may take it over.
STALE_RUNNING_AFTER = datetime.timedelta(hours=2)
ERROR_MAX = 1000


@shared_task(name="dashboard.export_members", ignore_result=True)
def export_members(job_id: int) -> None:
    run_export_job(job_id)


@shared_task(name="dashboard.delete_old_exports", ignore_result=True)
def delete_old_exports() -> dict:
    return delete_expired_exports()


def run_export_job(job_id: int) -> ExportJob | None:
    """Write the file of a queued export, once. Returns the job, or None when another worker has it."""
    now = timezone.now()
    claimed = (
        ExportJob.objects.filter(pk=job_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=now - STALE_RUNNING_AFTER))
        .update(status=Status.RUNNING, started_at=now, error="")
    )
    if not claimed:
        logger.info("Export %s is not waiting to run; nothing to do.", job_id)
        return None
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    try:
        row_count = _write_export(job)
    except InvalidExportFilter as error:
        return _fail(job, f"The filters are no longer valid: {error}")
    except Exception:
        logger.exception("Export %s failed.", job.pk)
        return _fail(job, "The file could not be written. Please try again, or narrow the filters.")
    job.status = Status.DONE
    job.row_count = row_count
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "row_count", "file", "finished_at"])
    audit_log(
        action=AuditLog.Action.EXPORTED,
        actor=job.user,
        target=job,
        data={"what": "members", "format": job.format, "filter": job.query_string, "rows": row_count, "job": job.pk},
    )
    _tell_user(job, "export_ready")
    logger.info("Export %s done: %s rows.", job.pk, row_count)
    return job


def _write_export(job: ExportJob) -> int:
    queryset = filtered_member_queryset(QueryDict(job.query_string))
    with tempfile.TemporaryDirectory(prefix="member-export-") as directory:
        path = Path(directory) / f"members.{job.format}"
        rows = member_export_rows(queryset)
        if job.format == ExportJob.Format.XLSX:
            row_count = write_xlsx(rows, path)
        else:
            with open(path, "w", encoding="utf-8-sig", newline="") as file:
                row_count = write_csv(rows, file)
        with open(path, "rb") as file:
            job.file.save(path.name, File(file), save=False)
    return row_count


def _fail(job: ExportJob, error: str) -> ExportJob:
    job.status = Status.FAILED
    job.error = error[:ERROR_MAX]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    _tell_user(job, "export_failed")
    return job


def _tell_user(job: ExportJob, event: str) -> None:
    """An in-app notification and an email to whoever asked for the export. Staff need no Member row for
    either, so this uses the notification building blocks rather than notify_member. Never raises: the
    export stands whatever happens to the message."""
    user = job.user
    download_path = reverse("dashboard:export_download", args=[job.pk])
    exports_path = reverse("dashboard:exports")
    site_url = settings.SITE_URL.rstrip("/")
    context = {
        "job": job,
        "first_name": user.first_name,
        "download_url": site_url + download_path,
        "exports_url": site_url + exports_path,
        "retention_hours": settings.EXPORT_RETENTION_HOURS,
        "organisation_name": settings.ORGANISATION_NAME,
    }
    if event == "export_ready":
        title = f"Your member export is ready ({job.row_count:,} rows)"
        body = f"The {job.get_format_display()} file can be downloaded for {settings.EXPORT_RETENTION_HOURS} hours."
        link = download_path
    else:
        title = "Your member export failed"
        body = job.error
        link = exports_path
    try:
        notification_create(user=user, event=event, title=title, body=body, link=link, dedupe_key=f"{event}:{job.pk}")
    except Exception:
        logger.exception("Could not record the in-app %s notification for export %s.", event, job.pk)
    try:
        message_queue(
            user=user,
            channel=Message.Channel.EMAIL,
            recipient=user.email,
            subject=title,
            body=render_to_string(f"dashboard/email/{event}.txt", context),
            event=event,
            dedupe_key=f"{event}:{job.pk}:email",
        )
    except Exception:
        logger.exception("Could not queue the %s email for export %s.", event, job.pk)


def delete_expired_exports(*, now: datetime.datetime | None = None) -> dict:
    """Delete export files older than EXPORT_RETENTION_HOURS and mark their jobs expired; delete files
    under exports/ that no current job owns once they are that old; mark jobs that never finished in that
    time failed. Returns counts."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    storage = storages["private"]
    report = {"expired": 0, "orphans": 0, "abandoned": 0}

    for job in ExportJob.objects.filter(status=Status.DONE, finished_at__lt=cutoff).iterator():
        if job.file:
            storage.delete(job.file.name)
        ExportJob.objects.filter(pk=job.pk, status=Status.DONE).update(status=Status.EXPIRED, file="")
        report["expired"] += 1

    report["abandoned"] = ExportJob.objects.filter(
        status__in=[Status.QUEUED, Status.RUNNING], created_at__lt=cutoff
    ).update(status=Status.FAILED, error="The export did not finish. Please ask for it again.", finished_at=now)

    # Files a crashed worker left behind, or whose job row is gone.
    try:
        _, names = storage.listdir(EXPORTS_DIRECTORY)
    except FileNotFoundError:
        names = []
    owned = set(ExportJob.objects.exclude(file="").values_list("file", flat=True))
    for name in names:
        path = f"{EXPORTS_DIRECTORY}/{name}"
        if path in owned:
            continue
        try:
            if storage.get_modified_time(path) < cutoff:
                storage.delete(path)
                report["orphans"] += 1
        except FileNotFoundError:
            continue
    if any(report.values()):
        logger.info("Export clean-up: %s", report)
    return report


@shared_task(name="dashboard.refresh_home_figures", ignore_result=True)
def refresh_home_figures() -> bool:
    """Keep the staff home's figures counted ahead of the page views (CELERY_BEAT_SCHEDULE)."""
    return refresh_figures()
