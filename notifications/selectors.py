import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from .models import Message, Notification


def messages_due_for_redelivery(
    *,
    queued_before: datetime.datetime,
    sending_before: datetime.datetime,
    never_tried_before: datetime.datetime | None = None,
    limit: int | None = None,
) -> QuerySet[Message]:
    """Queued messages never tried and queued before `never_tried_before` (default `queued_before`), queued
    messages untouched since `queued_before`, and messages claimed for sending before `sending_before`
    (their worker stopped), oldest first."""
    never_tried_before = queued_before if never_tried_before is None else never_tried_before
    queryset = (
        Message.objects.annotate(last_activity=Coalesce("last_attempt_at", "created_at"))
        .filter(
            Q(status=Message.Status.QUEUED, last_attempt_at__isnull=True, created_at__lt=never_tried_before)
            | Q(status=Message.Status.QUEUED, last_activity__lt=queued_before)
            | Q(status=Message.Status.SENDING, last_attempt_at__lt=sending_before)
        )
        .order_by("created_at", "pk")
    )
    return queryset[:limit] if limit else queryset


def notifications_for_user(*, user) -> QuerySet[Notification]:
    """A user's in-app notifications, newest first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-pk")


def notifications_latest(*, user, limit: int = 3) -> list[Notification]:
    return list(notifications_for_user(user=user)[:limit])


def notifications_unread_count(*, user) -> int:
    """One COUNT, served by the partial index on unread rows."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
