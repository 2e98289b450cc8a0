"""Every write to a member's membership goes through here: registration, document decisions, status.

Status changes are compare-and-set updates (`filter(pk=..., status__in=allowed).update(...)`), so two
staff clicking at once, or a payment arriving during an approval, cannot both act. Each change is
written to the audit trail with actor, from, to and reason.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import dateformat, timezone

from accounts.consents import consent_give
from accounts.models import Consent
from accounts.roles import MEMBER
from audit.models import AuditLog
from audit.services import audit_log
from core.exceptions import DomainError
from core.transitions import TransitionTable
from notifications.events import (
    ACTIVATED,
    APPLICATION_RECEIVED,
    APPROVED,
    DOCUMENT_REJECTED,
    REINSTATED,
    SUSPENDED,
)
from notifications.services import notify_member

from .models import Document, DocumentType, Member, MembershipCategory, private_storage
from .numbering import next_membership_number
from .search import member_search_text, member_search_text_refresh
from .uploads import check_upload

Status = Member.Status
logger = logging.getLogger(__name__)

# to-status -> the statuses it may be entered from
TRANSITIONS = TransitionTable(
    {
        Status.APPROVED: {Status.PENDING, Status.SUSPENDED},
        Status.REJECTED: {Status.PENDING, Status.APPROVED},
        Status.ACTIVE: {Status.APPROVED, Status.GRACE, Status.EXPIRED, Status.SUSPENDED},
        Status.GRACE: {Status.ACTIVE},
        Status.EXPIRED: {Status.ACTIVE, Status.GRACE},
        # A suspended member comes back through `member_reinstate`, to active or approved (never straight to
        # grace or expired: the lapse that follows at once is its own audited change).
        Status.SUSPENDED: {Status.ACTIVE, Status.GRACE, Status.EXPIRED, Status.APPROVED},
        Status.PENDING: set(),
    }
)


class MembershipError(DomainError):
    """A membership action that cannot happen now; the message is safe to show to the user."""


@dataclass(frozen=True)
class DocumentUpload:
    doc_type: str
    file: object  # an UploadedFile


def _today() -> datetime.date:
    return timezone.localdate()


def _notify_with_change(member_id: int, event: str, *, context: dict | None = None, dedupe_key_base: str) -> None:
    """Tell the member, in the transaction of the change (the outbox, notifications.services): the messages
    commit with it or not at all, and are delivered once it commits, whatever the broker or this process do
    after. Never raises: a failing notification rolls back its own savepoint, never the change."""
    try:
        with transaction.atomic():
            # Loaded afresh: the caller's instance may predate what was just written (the number, the period).
            member = Member.objects.select_related("user", "category").get(pk=member_id)
            notify_member(member, event=event, context=context, dedupe_key_base=dedupe_key_base)
    except Exception:
        logger.exception("Could not queue the %s notifications of member %s.", event, member_id)


def _change_status(member: Member, *, to: str, actor, reason: str = "", request=None, **fields) -> Member:
    previous = member.status
    changed = TRANSITIONS.apply(
        Member,
        member.pk,
        to=to,
        status_reason=reason,
        status_changed_at=timezone.now(),
        updated_at=timezone.now(),
        **fields,
    )
    if not changed:
        current = Member.objects.filter(pk=member.pk).values_list("status", flat=True).first()
        raise MembershipError(
            f"This membership is {Status(current).label.lower() if current else 'gone'}; "
            f"it cannot become {Status(to).label.lower()}."
        )
    # The compare-and-set succeeded, so the row now holds exactly these values.
    member.status, member.status_reason = to, reason
    for name, value in fields.items():
        setattr(member, name, value)
    audit_log(
        action=AuditLog.Action.STATUS_CHANGED,
        actor=actor,
        target=member,
        data={"from": previous, "to": to},
        reason=reason,
        request=request,
    )
    return member


# --- Registration ----------------------------------------------------------------------------------


def member_register(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    category: MembershipCategory,
    documents: list[DocumentUpload],
    consent_channel: str | None = None,
    request=None,
    **profile,
) -> Member:
    """Create the account, the pending application and its documents, all or nothing.

    `consent_channel` ("web", "api" or "staff") records, in the same transaction, that the applicant accepted
    the current privacy notice (accounts.consents); None records nothing (demo data, tests), and the portal
    then asks the member to read the notice.
    """
    User = get_user_model()
    stored: list[str] = []
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)
            user.groups.add(Group.objects.get_or_create(name=MEMBER)[0])
            member = Member(user=user, category=category, **profile)
            member.search_text = member_search_text(member)
            member.save(force_insert=True)
            if consent_channel is not None:
                consent_give(
                    user=user, purpose=Consent.Purpose.PRIVACY_NOTICE, channel=consent_channel, request=request
                )
            for upload in documents:
                document = _store_document(member, upload)
                stored.append(document.file.name)
            audit_log(
                action=AuditLog.Action.REGISTERED,
                actor=user,
                target=member,
                data={"category": category.code, "documents": [d.doc_type for d in documents]},
                request=request,
            )
            _notify_with_change(member.pk, APPLICATION_RECEIVED, dedupe_key_base=f"{APPLICATION_RECEIVED}:{member.pk}")
    except IntegrityError as exc:
        _delete_files(stored)
        # The form checks both first; these catch a registration racing another with the same details.
        message = str(exc).lower()
        if "email" in message:
            raise ValidationError({"email": "An account with this email address already exists."}) from None
        if "members_member_unique_id_number" in message or "id_number" in message:
            raise ValidationError({"id_number": "A member with this ID number is already registered."}) from None
        raise
    except BaseException:
        _delete_files(stored)
        raise
    return member


def _store_document(member: Member, upload: DocumentUpload) -> Document:
    checked = check_upload(upload.file, upload.doc_type)
    original = upload.file.name[:150]
    document = Document(
        member=member,
        doc_type=upload.doc_type,
        original_name=original,
        content_type=checked.content_type,
        size=checked.size,
    )
    document.file.save(f"upload{checked.extension}", upload.file, save=False)
    try:
        document.save()
    except BaseException:
        document.file.storage.delete(document.file.name)
        raise
    return document


def _delete_files(names: list[str]) -> None:
    storage = private_storage()
    for name in names:
        storage.delete(name)


def document_replace(*, member: Member, upload: DocumentUpload, actor, request=None) -> Document:
    """A member uploads a new file for a document type (first time, or after a rejection)."""
    if not member.is_under_review:
        raise MembershipError("Documents can only be changed while the application is under review.")
    stored: list[str] = []
    try:
        with transaction.atomic():
            previous = (
                Document.objects.select_for_update()
                .filter(member=member, doc_type=upload.doc_type, is_current=True)
                .first()
            )
            if previous is not None:
                if previous.status == Document.Status.VERIFIED:
                    raise MembershipError("This document has already been verified; it cannot be replaced.")
                Document.objects.filter(pk=previous.pk).update(is_current=False)
            document = _store_document(member, upload)
            stored.append(document.file.name)
            audit_log(
                action=AuditLog.Action.DOCUMENT_UPLOADED,
                actor=actor,
                target=document,
                data={"member": member.pk, "doc_type": upload.doc_type, "replaces": previous.pk if previous else None},
                request=request,
            )
    except BaseException:
        _delete_files(stored)
        raise
    return document


# --- Review ------------------------------------------------------------------------------------------


def document_verify(*, document: Document, actor, request=None) -> Document:
    return _document_decide(document=document, status=Document.Status.VERIFIED, reason="", actor=actor, request=request)


def document_reject(*, document: Document, reason: str, actor, request=None) -> Document:
    reason = (reason or "").strip()
    if not reason:
        raise MembershipError("Give the member a reason, so they know what to upload instead.")
    with transaction.atomic():
        document = _document_decide(
            document=document, status=Document.Status.REJECTED, reason=reason, actor=actor, request=request
        )
        # Once per uploaded file: a double-clicked rejection does not text the member twice.
        _notify_with_change(
            document.member_id,
            DOCUMENT_REJECTED,
            context={"document_type": document.get_doc_type_display(), "reason": document.rejection_reason},
            dedupe_key_base=f"{DOCUMENT_REJECTED}:{document.pk}",
        )
    return document


# to-status -> the review states it may be entered from. While the application is under review (the
# queryset in `_document_decide` says so) staff may change their mind, and a repeated decision (a
# double-click) is taken again; a re-upload is a new Document, so nothing leads back to pending.
DOCUMENT_TRANSITIONS = TransitionTable(
    {
        Document.Status.PENDING: set(),
        Document.Status.VERIFIED: set(Document.Status.values),
        Document.Status.REJECTED: set(Document.Status.values),
    }
)


def _document_decide(*, document, status, reason, actor, request):
    with transaction.atomic():
        open_for_review = Document.objects.filter(is_current=True, member__status__in=Member.UNDER_REVIEW)
        if not DOCUMENT_TRANSITIONS.apply(
            open_for_review,
            document.pk,
            to=status,
            rejection_reason=reason,
            reviewed_by=actor,
            reviewed_at=timezone.now(),
        ):
            raise MembershipError("This document is no longer open for review.")
        document.refresh_from_db()
        audit_log(
            action=AuditLog.Action.DOCUMENT_VERIFIED
            if status == Document.Status.VERIFIED
            else AuditLog.Action.DOCUMENT_REJECTED,
            actor=actor,
            target=document,
            data={"member": document.member_id, "doc_type": document.doc_type},
            reason=reason,
            request=request,
        )
    return document


def missing_documents(member: Member) -> list[str]:
    """Required document types with no current upload, or whose current upload was rejected."""
    current = {d.doc_type: d.status for d in member.documents.all() if d.is_current}
    return [
        code for code in member.category.required_documents if current.get(code) in (None, Document.Status.REJECTED)
    ]


def unverified_documents(member: Member) -> list[str]:
    current = {d.doc_type: d.status for d in member.documents.all() if d.is_current}
    return [code for code in member.category.required_documents if current.get(code) != Document.Status.VERIFIED]


def member_approve(*, member: Member, actor, request=None) -> Member:
    """Accept the application: issue the membership number; activate at once if the fee is already paid."""
    with transaction.atomic():
        member = Member.objects.select_for_update(of=("self",)).select_related("category").get(pk=member.pk)
        if member.status != Status.PENDING:
            raise MembershipError(
                f"This application is {member.get_status_display().lower()}; only pending ones can be approved."
            )
        waiting = unverified_documents(member)
        if waiting:
            labels = ", ".join(DocumentType(code).label for code in waiting)
            # Not a conflict: the application stays pending and can be approved once they are verified.
            raise MembershipError(
                f"Verify every required document first (still open: {labels}).", status_code=400, code="refused"
            )
        now = timezone.now()
        number = next_membership_number(prefix=settings.MEMBERSHIP_NUMBER_PREFIX, year=timezone.localdate(now).year)
        member = _change_status(
            member,
            to=Status.APPROVED,
            actor=actor,
            request=request,
            membership_number=number,
            approved_at=now,
            approved_by=actor,
        )
        member_search_text_refresh([member.pk])  # the number is searchable from now on
        audit_log(
            action=AuditLog.Action.NUMBER_ISSUED, actor=actor, target=member, data={"number": number}, request=request
        )
        _notify_with_change(member.pk, APPROVED, dedupe_key_base=f"{APPROVED}:{member.pk}")
        if member.registration_paid:
            member = _activate(member, actor=actor, request=request)
    return member


def member_reject(*, member: Member, reason: str, actor, request=None) -> Member:
    reason = (reason or "").strip()
    if not reason:
        raise MembershipError("Give the applicant a reason for the rejection.")
    with transaction.atomic():
        return _change_status(member, to=Status.REJECTED, actor=actor, reason=reason, request=request)


def member_record_registration_payment(
    *, member: Member, reference: str, actor, paid_at: datetime.datetime | None = None, request=None
) -> Member:
    """The registration fee has been received. Payments call this on completion; staff call it for cash,
    cheque or bank payments. Applied once: a second call for the same member changes nothing.
    """
    reference = (reference or "").strip()
    if not reference:
        raise MembershipError("Enter the payment reference (receipt, cheque or bank transaction number).")
    paid_at = paid_at or timezone.now()
    with transaction.atomic():
        updated = Member.objects.filter(
            pk=member.pk, registration_paid_at__isnull=True, status__in=Member.UNDER_REVIEW
        ).update(registration_paid_at=paid_at, registration_payment_reference=reference[:64], updated_at=timezone.now())
        if updated != 1:
            raise MembershipError("The registration fee for this application is already recorded, or it is closed.")
        # Only what the update set, and the status another transaction may have changed meanwhile.
        member.refresh_from_db(
            fields=["status", "registration_paid_at", "registration_payment_reference", "updated_at"]
        )
        audit_log(
            action=AuditLog.Action.PAYMENT_RECORDED,
            actor=actor,
            target=member,
            data={"kind": "registration", "reference": reference[:64], "amount": member.category.registration_fee},
            request=request,
        )
        if member.status == Status.APPROVED:
            member = _activate(member, actor=actor, request=request)
    return member


def renewal_window_opens(member: Member) -> datetime.date | None:
    if member.period_end is None:
        return None
    return member.period_end - datetime.timedelta(days=settings.RENEWAL_WINDOW_DAYS)


def renewal_is_late(member: Member, on: datetime.date | None = None) -> bool:
    """After the grace period the late fee applies."""
    on = on or _today()
    return member.period_end is not None and on > member.period_end + datetime.timedelta(
        days=member.category.grace_days
    )


def membership_renew(*, member: Member, actor, paid_on: datetime.date | None = None, request=None) -> Member:
    """Extend by one period from the later of today and the current end date, and make the member active.

    Called once per completed renewal payment (the payment's own transition guarantees once).
    """
    paid_on = paid_on or _today()
    with transaction.atomic():
        member = Member.objects.select_for_update(of=("self",)).select_related("category").get(pk=member.pk)
        if not member.can_renew:
            raise MembershipError("Only an active, grace or expired membership with an end date can be renewed.")
        start = max(paid_on, member.period_end + datetime.timedelta(days=1))
        end = period_end_for(start, member.category.period_months)
        if member.status == Status.ACTIVE:
            Member.objects.filter(pk=member.pk).update(period_end=end, updated_at=timezone.now())
            member.refresh_from_db()
        else:
            # A lapsed membership starts a fresh period: the gap is not paid for.
            member = _change_status(
                member,
                to=Status.ACTIVE,
                actor=actor,
                reason="Renewed.",
                request=request,
                period_start=start,
                period_end=end,
            )
        audit_log(
            action=AuditLog.Action.MEMBERSHIP_RENEWED,
            actor=actor,
            target=member,
            data={"period_start": str(member.period_start), "period_end": str(end)},
            request=request,
        )
    return member


def _activate(member: Member, *, actor, request=None) -> Member:
    start = _today()
    end = period_end_for(start, member.category.period_months)
    member = _change_status(
        member,
        to=Status.ACTIVE,
        actor=actor,
        request=request,
        reason="Approved and registration fee received.",
        activated_at=timezone.now(),
        period_start=start,
        period_end=end,
    )
    _notify_with_change(member.pk, ACTIVATED, dedupe_key_base=f"{ACTIVATED}:{member.pk}")
    return member


def period_end_for(start: datetime.date, months: int) -> datetime.date | None:
    """Last day (inclusive) of a period of `months` calendar months from `start`; None never expires.

    The next period starts on the same day of the month `months` later; when that day does not exist
    (31 Jan + 1 month, 29 Feb + 12 months) it starts on the 1st of the following month instead, so
    31 Jan runs to 28 Feb, 29 Feb 2028 to 28 Feb 2029, and 1 Mar 2027 to 29 Feb 2028.
    """
    if not months:
        return None
    next_start = start + relativedelta(months=months)
    if next_start.day < start.day:
        next_start += datetime.timedelta(days=1)
    return next_start - datetime.timedelta(days=1)


# --- Suspension -------------------------------------------------------------------------------------------


def member_suspend(*, member: Member, reason: str, actor, request=None) -> Member:
    """Suspend a member (approved, active, in grace or expired) for a reason the member is told."""
    reason = (reason or "").strip()
    if not reason:
        raise MembershipError("Give the member a reason for the suspension.")
    with transaction.atomic():
        member = _change_status(member, to=Status.SUSPENDED, actor=actor, reason=reason, request=request)
        _notify_with_change(
            member.pk, SUSPENDED, context={"reason": reason}, dedupe_key_base=f"{SUSPENDED}:{member.pk}:{_now_key()}"
        )
    return member


def member_reinstate(*, member: Member, reason: str, actor, request=None) -> Member:
    """Lift a suspension. A member who never paid the registration fee goes back to approved; anyone else
    to active, and then at once to grace or expired if their period ran out meanwhile (as the daily job
    would), so the status is right from the first moment."""
    reason = (reason or "").strip()
    if not reason:
        raise MembershipError("Give a reason for lifting the suspension.")
    with transaction.atomic():
        member = Member.objects.select_for_update(of=("self",)).select_related("category", "user").get(pk=member.pk)
        if member.status != Status.SUSPENDED:
            raise MembershipError(f"This membership is {member.get_status_display().lower()}, not suspended.")
        # Approved members are activated by their registration fee, so one suspended before paying was never
        # activated and goes back to waiting for it.
        to = Status.ACTIVE if member.activated_at else Status.APPROVED
        member = _change_status(member, to=to, actor=actor, reason=reason, request=request)
        decision = lapse_decision(member, _today()) if to == Status.ACTIVE else None
        if decision is not None:
            member = _change_status(member, to=decision[0], actor=actor, reason=decision[1], request=request)
        _notify_with_change(
            member.pk, REINSTATED, context={"reason": reason}, dedupe_key_base=f"{REINSTATED}:{member.pk}:{_now_key()}"
        )
    return member


def _now_key() -> str:
    # A member may be suspended (or reinstated) more than once: each time is its own message.
    return timezone.now().strftime("%Y%m%d%H%M%S%f")


# --- Lifecycle (the daily job in members.lifecycle) ----------------------------------------------------


def lapse_decision(member: Member, today: datetime.date) -> tuple[str, str] | None:
    """The status `member` should move to today, with the reason shown to them; None if it stays."""
    end = member.period_end
    if end is None or end >= today or member.status not in (Status.ACTIVE, Status.GRACE):
        return None
    grace_ends = end + datetime.timedelta(days=member.category.grace_days)
    if today <= grace_ends:
        if member.status == Status.GRACE:
            return None
        return (
            Status.GRACE,
            f"The membership period ended on {_day(end)}; the grace period runs until {_day(grace_ends)}.",
        )
    if grace_ends > end:
        return Status.EXPIRED, f"The grace period ended on {_day(grace_ends)}."
    return Status.EXPIRED, f"The membership period ended on {_day(end)}."


def _day(day: datetime.date) -> str:
    return dateformat.format(day, "j F Y")


def member_lapse(*, member: Member, to: str, reason: str) -> Member:
    """Move a member whose period has run out to grace or expired; the system acts, so there is no actor.

    `member` is what the job read when it decided. The row is claimed with a row lock that skips rows
    another transaction holds (another worker lapsing it, or a renewal being applied), and it must still
    have the status and end date the decision was made on: a renewal committed in between moved the end
    date, and a lapsed member must not lose it. Otherwise raises MembershipError and changes nothing.
    """
    if to not in (Status.GRACE, Status.EXPIRED):
        raise ValueError(f"member_lapse moves members to grace or expired, not {to!r}.")
    with transaction.atomic():
        current = (
            Member.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=member.pk)
            .values_list("status", "period_end")
            .first()
        )
        if current != (member.status, member.period_end):
            raise MembershipError("This membership is being changed, or has changed, since the job read it.")
        return _change_status(member, to=to, actor=None, reason=reason)
