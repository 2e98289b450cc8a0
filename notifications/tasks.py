import datetime
import logging
import random

from celery import shared_task
from django.conf import settings

from .errors import DeliveryError
from .models import Message
from .services import message_deliver, messages_redeliver

logger = logging.getLogger("notifications")

MAX_RETRIES = 5  # with the first try, services.MAX_ATTEMPTS
RETRY_BASE_SECONDS = 60  # 1, 2, 4, 8 then 16 minutes, each plus up to a quarter more


def retry_countdown(retries: int) -> int:
    base = RETRY_BASE_SECONDS * 2**retries
    return base + random.randint(0, base // 4)  # noqa: S311  (jitter, not security)


# The name Celery gave it before it was spelled out; queued deliveries carry it (notifications.services).
@shared_task(
    name="notifications.tasks.deliver_message", bind=True, max_retries=MAX_RETRIES, acks_late=True, ignore_result=True
)
def deliver_message(self, message_id: int) -> None:
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        logger.warning("Message %s to deliver does not exist.", message_id)
        return
    try:
        message_deliver(message=message)
    except DeliveryError as error:
        if self.request.is_eager:
            # No worker: retrying here would hold up the request that queued it. The row stays queued
            # for `manage.py send_queued_messages`.
            return
        raise self.retry(exc=error, countdown=retry_countdown(self.request.retries)) from None


@shared_task(name="notifications.redeliver_queued_messages", ignore_result=True)
def redeliver_queued_messages(minutes: int = 10) -> dict:
    """Periodic (Celery beat, every NOTIFICATIONS_SWEEP_SECONDS), like `manage.py send_queued_messages`: the
    outbox sweep. Sends messages never tried NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS after they were queued
    (the broker was down when their transaction committed), and those idle `minutes` after a failed try
    (the worker's own retries normally get there first)."""
    return vars(
        messages_redeliver(
            older_than=datetime.timedelta(minutes=minutes),
            never_tried_older_than=datetime.timedelta(seconds=settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS),
            limit=500,
        )
    )
