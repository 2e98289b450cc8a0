"""The callback spool as payments uses it: where it lives, and storing a spooled delivery as its row.

Shared by STK callbacks (services) and C2B confirmations (c2b), which services replays; so it sits below both.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import IntegrityError, models, transaction

from audit.models import AuditLog
from audit.services import audit_log
from core.spool import Spool


def spool_open() -> Spool:
    return Spool(settings.MPESA_CALLBACK_SPOOL_DIR, max_entries=settings.MPESA_CALLBACK_SPOOL_MAX_ENTRIES)


def spooled_row_store(
    model: type[models.Model], *, spool_id: str, record: dict, audit_event: str, audit_key: str, **fields
) -> tuple[models.Model, bool]:
    """The row for a spooled delivery: (row, True) when stored now, (existing row, False) when it already was
    (`spool_id` is unique on the model, so a file replayed twice is stored once). The row keeps the time Daraja
    delivered it, and a security audit entry says it was recovered. Raises OperationalError while the database
    is still down. The audit entry names the row under `audit_key` ("callback", "c2b")."""
    try:
        with transaction.atomic():
            row = model.objects.create(spool_id=spool_id, **fields)
            received_at = datetime.datetime.fromisoformat(record["received_at"])
            # received_at is auto_now_add: the time Daraja delivered it is set afterwards.
            model.objects.filter(pk=row.pk).update(received_at=received_at)
            row.received_at = received_at
            audit_log(
                action=AuditLog.Action.SECURITY_EVENT,
                target=row,
                data={
                    "event": audit_event,
                    audit_key: row.pk,
                    "spool_id": spool_id,
                    "received_at": record["received_at"],
                },
            )
    except IntegrityError:
        existing = model.objects.filter(spool_id=spool_id).first()
        if existing is None:
            raise
        return existing, False
    return row, True
