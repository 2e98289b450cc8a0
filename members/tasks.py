from celery import shared_task

from . import lifecycle


@shared_task(name="members.run_lifecycle_jobs", ignore_result=True)
def run_lifecycle_jobs() -> dict:
    """Daily (Celery beat): lapse members past their end date or grace period, then send renewal reminders.

    Safe to run twice or on two workers at once; a missed day is caught up by the next run.
    """
    return lifecycle.membership_lifecycle_run().as_dict()
