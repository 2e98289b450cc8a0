from celery import shared_task

from .erasure import anonymise_rejected_applications


@shared_task(name="privacy.anonymise_rejected_applications", ignore_result=True)
def anonymise_old_rejected_applications() -> dict:
    """Daily (Celery beat): anonymise rejected applications past REJECTED_APPLICATION_RETENTION_DAYS.

    Safe on several workers at once (rows are claimed with skip_locked); a missed day is caught up next run.
    """
    return anonymise_rejected_applications().as_dict()
