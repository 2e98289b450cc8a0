"""Background member-list exports and their clean-up; the work is in dashboard.exports.

- ``export_members(job_id)``: writes one ExportJob's file (`run_export_job`). Run by Celery; with no
  broker (the embedded default) it runs in-process, after the request that queued it commits.
- ``delete_old_exports()``: hourly (CELERY_BEAT_SCHEDULE), deletes export files older than
  EXPORT_RETENTION_HOURS, files under exports/ that no job owns, and gives up on jobs that never finished
  (`delete_expired_exports`).
"""

from __future__ import annotations

from celery import shared_task

from .exports import delete_expired_exports, run_export_job
from .home.figures import refresh_figures


@shared_task(name="dashboard.export_members", ignore_result=True)
def export_members(job_id: int) -> None:
    run_export_job(job_id)


@shared_task(name="dashboard.delete_old_exports", ignore_result=True)
def delete_old_exports() -> dict:
    return delete_expired_exports()


@shared_task(name="dashboard.refresh_home_figures", ignore_result=True)
def refresh_home_figures() -> bool:
    """Keep the staff home's figures counted ahead of the page views (CELERY_BEAT_SCHEDULE)."""
    return refresh_figures()
