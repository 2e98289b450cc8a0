""" "Download my data" (DPA 2019 s.26 access, s.38 portability): one zip with everything we hold about the
caller, and nothing about anyone else.

`data.json` holds the profile, membership history, payments with their receipt numbers, consents, erasure
requests, in-app notifications, emails and SMS sent, and the audit entries about the person; `documents/`
holds the files they uploaded. Every query below is scoped by the caller's own user or member row: there is
no id parameter anywhere, so nobody can ask for someone else's archive.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils import timezone

from accounts.models import Consent
from audit.models import AuditLog
from audit.services import audit_log
from members.models import Document, Member
from notifications.models import Message, Notification
from payments.models import Payment

from .models import ErasureRequest

logger = logging.getLogger("privacy")

# Kept in memory up to this size, then spooled to a temporary file: a handful of 5 MB documents fits.
SPOOL_MAX_BYTES = 8 * 1024 * 1024


@dataclass
class DataExport:
    filename: str
    file: tempfile.SpooledTemporaryFile
    size: int


def export_wait_seconds(user) -> int:
    """0 when `user` may download their data now (and the clock starts), else seconds to wait.

    cache.add is atomic (Redis SET NX, or the local-memory cache's lock), so two requests at once cannot
    both pass.
    """
    interval = settings.DATA_EXPORT_MIN_INTERVAL_SECONDS
    if interval <= 0:
        return 0
    key = f"privacy:data-export:{user.pk}"
    now = timezone.now().timestamp()
    if cache.add(key, now, timeout=interval):
        return 0
    started = cache.get(key) or now
    return max(1, int(interval - (now - started)) + 1)


def _dt(value):
    return value.isoformat() if value else None


def _profile(member: Member) -> dict:
    user = member.user
    return {
        "first_name": user.first_name,
        "other_names": member.other_names,
        "last_name": user.last_name,
        "email": user.email,
        "phone_number": member.phone_number,
        "id_type": member.id_type,
        "id_number": member.id_number,
        "date_of_birth": member.date_of_birth,
        "gender": member.gender,
        "country": member.country.name,
        "region": member.region.name if member.region_id else None,
        "physical_address": member.physical_address,
        "postal_address": member.postal_address,
        "occupation": member.occupation,
        "organisation": member.organisation,
        "notify_by_email": member.notify_by_email,
        "notify_by_sms": member.notify_by_sms,
        "account_created_at": _dt(user.date_joined),
    }


def _membership(member: Member) -> dict:
    status_changes = AuditLog.objects.filter(
        action=AuditLog.Action.STATUS_CHANGED, target_type="members.member", target_id=str(member.pk)
    ).order_by("created_at", "pk")
    return {
        "membership_number": member.membership_number,
        "category": member.category.name,
        "status": member.get_status_display(),
        "status_reason": member.status_reason,
        "applied_at": _dt(member.applied_at),
        "approved_at": _dt(member.approved_at),
        "activated_at": _dt(member.activated_at),
        "registration_paid_at": _dt(member.registration_paid_at),
        "period_start": member.period_start,
        "period_end": member.period_end,
        "history": [
            {
                "at": _dt(entry.created_at),
                "from": entry.data.get("from"),
                "to": entry.data.get("to"),
                "reason": entry.reason,
            }
            for entry in status_changes
        ],
    }


def _payments(member: Member) -> list[dict]:
    # Explicit fields: the callback token is a secret of the payment, not data about the person.
    return [
        {
            "reference": p.reference,
            "type": p.get_payment_type_display(),
            "method": p.get_method_display(),
            "amount_kes": p.amount,
            "status": p.get_status_display(),
            "phone_number": p.phone_number,
            "mpesa_receipt_number": p.mpesa_receipt_number,
            "receipt_number": p.receipt_number,
            "external_reference": p.external_reference,
            "result_description": p.result_description,
            "created_at": _dt(p.created_at),
            "completed_at": _dt(p.completed_at),
        }
        for p in Payment.objects.filter(member=member).order_by("created_at", "pk")
    ]


def _documents(member: Member) -> list[Document]:
    return list(Document.objects.filter(member=member).order_by("uploaded_at", "pk"))


def _document_entry(document: Document, archive_name: str | None) -> dict:
    return {
        "type": document.get_doc_type_display(),
        "original_name": document.original_name,
        "status": document.get_status_display(),
        "rejection_reason": document.rejection_reason,
        "uploaded_at": _dt(document.uploaded_at),
        "current": document.is_current,
        "file_in_this_archive": archive_name,
    }


def _consents(user) -> list[dict]:
    return [
        {
            "purpose": c.get_purpose_display(),
            "privacy_notice_version": c.version,
            "given_at": _dt(c.given_at),
            "channel": c.get_channel_display(),
            "ip_address": c.ip_address,
            "withdrawn_at": _dt(c.withdrawn_at),
        }
        for c in Consent.objects.filter(user=user).order_by("given_at", "pk")
    ]


def _erasure_requests(member: Member) -> list[dict]:
    return [
        {
            "status": e.get_status_display(),
            "requested_at": _dt(e.requested_at),
            "your_note": e.member_note,
            "decided_at": _dt(e.decided_at),
            "decision_reason": e.decision_reason,
        }
        for e in ErasureRequest.objects.filter(member=member).order_by("requested_at", "pk")
    ]


def _notifications(user) -> dict:
    in_app = Notification.objects.filter(user=user).order_by("created_at", "pk")
    sent = Message.objects.filter(user=user).order_by("created_at", "pk")
    return {
        "in_app": [
            {"title": n.title, "body": n.body, "created_at": _dt(n.created_at), "read_at": _dt(n.read_at)}
            for n in in_app
        ],
        "emails_and_sms": [
            {
                "channel": m.get_channel_display(),
                "to": m.recipient,
                "subject": m.subject,
                "body": m.body,
                "status": m.get_status_display(),
                "created_at": _dt(m.created_at),
                "sent_at": _dt(m.sent_at),
            }
            for m in sent
        ],
    }


def audit_entries_about(member: Member, document_ids: list[int]):
    """Audit entries whose subject is this person: done by them, or to their account, application,
    documents or payments; and failed logins typed with their email address."""
    user = member.user
    payment_ids = [str(pk) for pk in Payment.objects.filter(member=member).values_list("pk", flat=True)]
    about = (
        Q(actor=user)
        | Q(target_type="accounts.user", target_id=str(user.pk))
        | Q(target_type="members.member", target_id=str(member.pk))
        | Q(target_type="members.document", target_id__in=[str(pk) for pk in document_ids])
        | Q(target_type="payments.payment", target_id__in=payment_ids)
        | Q(action=AuditLog.Action.LOGIN_FAILED, data__username=user.email)
    )
    # Security events (forged callbacks and the like) are about an attacker, not the member.
    return AuditLog.objects.filter(about).exclude(action=AuditLog.Action.SECURITY_EVENT).order_by("created_at", "pk")


def _audit(member: Member, document_ids: list[int]) -> list[dict]:
    user = member.user
    entries = []
    for entry in audit_entries_about(member, document_ids):
        mine = entry.actor_id == user.pk
        entries.append(
            {
                "at": _dt(entry.created_at),
                "action": entry.get_action_display(),
                # Staff are named by role, not by name: their identity is their personal data.
                "by": "you" if mine else ("staff" if entry.actor_id else "the system"),
                "about": entry.target_type.split(".")[-1] if entry.target_type else "your account",
                "reason": entry.reason,
                "details": entry.data if entry.action != AuditLog.Action.LOGIN_FAILED else {},
                # Only the addresses they used themselves.
                "ip_address": entry.ip_address if mine else None,
            }
        )
    return entries


def member_data_export(*, member: Member, channel: str, request=None) -> DataExport:
    """Build the caller's archive and audit that it was downloaded."""
    member = Member.objects.select_related("user", "category", "country", "region").get(pk=member.pk)
    user = member.user
    documents = _documents(member)
    # Not a `with`: the FileResponse that sends it closes it.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
    document_entries = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, document in enumerate(documents, start=1):
            archive_name = None
            if document.file:
                extension = document.file.name[document.file.name.rfind(".") :] if "." in document.file.name else ""
                archive_name = f"documents/{number:02d}-{document.doc_type}{extension}"
                try:
                    with document.file.open("rb") as handle:
                        archive.writestr(archive_name, handle.read())
                except FileNotFoundError:
                    logger.warning("Document %s has no file on disk; left out of the data export.", document.pk)
                    archive_name = None
            document_entries.append(_document_entry(document, archive_name))
        data = {
            "about_this_file": (
                f"Everything {settings.ORGANISATION_NAME} holds about you, as of {timezone.now():%Y-%m-%d %H:%M} "
                f"(privacy notice version {settings.PRIVACY_NOTICE_VERSION}). Your uploaded files are in documents/."
            ),
            "generated_at": timezone.now(),
            "profile": _profile(member),
            "membership": _membership(member),
            "payments": _payments(member),
            "documents": document_entries,
            "consents": _consents(user),
            "erasure_requests": _erasure_requests(member),
            "notifications": _notifications(user),
            "activity": _audit(member, [d.pk for d in documents]),
        }
        archive.writestr("data.json", json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False))
    size = spool.tell()
    spool.seek(0)
    audit_log(
        action=AuditLog.Action.EXPORTED,
        actor=user,
        target=member,
        data={
            "what": "own_data",
            "channel": channel,
            "documents": sum(1 for e in document_entries if e["file_in_this_archive"]),
        },
        request=request,
    )
    stamp = timezone.localdate().isoformat()
    return DataExport(filename=f"my-data-{stamp}.zip", file=spool, size=size)
