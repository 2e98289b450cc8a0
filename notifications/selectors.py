import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from .models import Message


def messages_due_for_redelivery(
    *, queued_before: datetime.datetime, sending_before: datetime.datetime, limit: int | None = None
) -> QuerySet[Message]:
    """Queued messages untouched since `queued_before`, and messages claimed for sending before
    `sending_before` (their worker stopped), oldest first."""
    queryset = (
        Message.objects.annotate(last_activity=Coalesce("last_attempt_at", "created_at"))
        .filter(
            Q(status=Message.Status.QUEUED, last_activity__lt=queued_before)
            | Q(status=Message.Status.SENDING, last_attempt_at__lt=sending_before)
        )
        .order_by("created_at", "pk")
    )
    return queryset[:limit] if limit else queryset
