"""Erasure (DPA 2019 s.40) and the retention rule for rejected applications: one anonymiser for both.

What goes: names, email (replaced by a unique address under the reserved `.invalid` domain, which no mail
ever reaches), phone, ID number, date of birth, addresses, occupation, county, uploaded files (deleted; the
rows stay, marked), the contents of notifications, emails and SMS, the IP addresses on consents, the login
(unusable password, inactive account, every session and JWT ended) and the public certificate link.

What stays, because the law or the books need it: payments (amounts, dates, our receipt numbers, M-Pesa
receipt numbers; the payer's phone is masked to 2547****5678 as on an M-Pesa statement), the membership
number (it is printed on those receipts), and every audit row (its wording is pseudonymised so it names
"an erased member" instead of the person; the rows, actions, times and ids are untouched), and the audit
entry of the erasure itself.

A member with an M-Pesa payment still pending is not erased until it settles: its callback is matched by
the phone number, and completing it must still credit the membership and issue the receipt. It settles
(completed, failed or timed out) within MPESA_PAYMENT_TIMEOUT_SECONDS; staff approve again after that, and
the retention job simply tries again on its next run. (A timed-out payment can still be confirmed late by
Daraja; after erasure its masked phone no longer matches, so such a callback is refused and kept as a
security event with its M-Pesa receipt, for Finance to record by hand.)
"""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import Consent
from audit.models import AuditLog
from audit.services import audit_log
from core.exceptions import DomainError
from core.phones import mask_phone
from core.transitions import TransitionTable
from members.models import ERASED_ID_PREFIX, Document, Member, new_verification_token, private_storage
from members.search import member_search_text_refresh
from notifications.models import Message, Notification
from notifications.services import notification_create
from payments.models import MpesaCallback, Payment

from .models import ErasureRequest

logger = logging.getLogger("privacy")

# to-status -> the statuses it may be entered from: only a pending request is decided, once.
ERASURE_TRANSITIONS = TransitionTable(
    {
        ErasureRequest.Status.PENDING: set(),
        ErasureRequest.Status.APPROVED: {ErasureRequest.Status.PENDING},
        ErasureRequest.Status.REFUSED: {ErasureRequest.Status.PENDING},
        ErasureRequest.Status.CANCELLED: {ErasureRequest.Status.PENDING},
    }
)

ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: .invalid never resolves, so nothing is ever delivered
ERASED_FIRST_NAME = "Erased"
ERASED_LAST_NAME = "member"
ERASED_MARK = "erased"
# date_of_birth cannot be empty; this placeholder is far outside any real member's age.
ERASED_DATE_OF_BIRTH = datetime.date(1900, 1, 1)


class ErasureError(DomainError):
    """An erasure action that cannot happen now; the message is safe to show."""


class PaymentPendingError(ErasureError):
    """The member has an M-Pesa payment still waiting for its answer."""


def is_erased(member: Member) -> bool:
    return ErasureRequest.objects.filter(member=member, status=ErasureRequest.Status.APPROVED).exists()


# --- The member's request ---------------------------------------------------------------------------------


def erasure_request(*, member: Member, password: str, note: str = "", request=None) -> ErasureRequest:
    """The member asks to be erased; their password is asked again (a borrowed session must not do it)."""
    if not password or not member.user.check_password(password):
        raise ErasureError("That is not your password. Nothing was sent.")
    if is_erased(member):
        raise ErasureError("Your personal data has already been erased.")
    try:
        with transaction.atomic():
            erasure = ErasureRequest.objects.create(member=member, member_note=(note or "").strip()[:1000])
            audit_log(
                action=AuditLog.Action.ERASURE_REQUESTED,
                actor=member.user,
                target=member,
                data={"erasure": erasure.pk},
                request=request,
            )
    except IntegrityError:
        raise ErasureError("You have already asked; staff will decide on that request.") from None
    return erasure


def erasure_cancel(*, member: Member, request=None) -> bool:
    """Withdraw a pending request; True when there was one."""
    with transaction.atomic():
        # The member has at most one pending request (privacy_erasure_one_pending).
        cancelled = ERASURE_TRANSITIONS.apply(
            ErasureRequest.objects.filter(member=member),
            to=ErasureRequest.Status.CANCELLED,
            decided_at=timezone.now(),
            decided_by=member.user,
        )
        if cancelled:
            audit_log(
                action=AuditLog.Action.ERASURE_CANCELLED,
                actor=member.user,
                target=member,
                data={},
                request=request,
            )
    return cancelled


# --- Staff decisions -------------------------------------------------------------------------------------


def erasure_refuse(*, erasure: ErasureRequest, reason: str, actor, request=None) -> ErasureRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ErasureError("Give the member a reason: the law lets them complain to the Data Protection Commissioner.")
    with transaction.atomic():
        if not ERASURE_TRANSITIONS.apply(
            ErasureRequest,
            erasure.pk,
            to=ErasureRequest.Status.REFUSED,
            decided_at=timezone.now(),
            decided_by=actor,
            decision_reason=reason,
        ):
            raise ErasureError("This request has already been decided.")
        erasure.refresh_from_db()
        audit_log(
            action=AuditLog.Action.ERASURE_REFUSED,
            actor=actor,
            target=erasure.member,
            data={"erasure": erasure.pk},
            reason=reason,
            request=request,
        )
        notification_create(
            user=erasure.member.user,
            event="erasure_refused",
            title="Your request to erase your data was refused",
            body=f"Reason: {reason}"[:500],
            link=reverse("privacy:portal"),
            dedupe_key=f"erasure_refused:{erasure.pk}",
        )
    return erasure


def erasure_approve(*, erasure: ErasureRequest, actor, request=None) -> ErasureRequest:
    """Approve a pending request and anonymise the member, all in one transaction."""
    with transaction.atomic():
        locked = ErasureRequest.objects.select_for_update().filter(pk=erasure.pk).first()
        if locked is None or locked.status != ErasureRequest.Status.PENDING:
            raise ErasureError("This request has already been decided.")
        anonymise_member(member_id=locked.member_id, actor=actor, source=locked.source, erasure=locked, request=request)
        # The member's note may name them; every request of theirs loses it.
        ErasureRequest.objects.filter(member_id=locked.member_id).update(member_note="")
        # Cannot be refused: the row is locked and was pending.
        ERASURE_TRANSITIONS.apply(
            ErasureRequest, locked.pk, to=ErasureRequest.Status.APPROVED, decided_at=timezone.now(), decided_by=actor
        )
        locked.refresh_from_db()
    return locked


# --- The anonymiser ----------------------------------------------------------------------------------------


def _audit_rewrite(queryset, **fields) -> int:
    """Pseudonymise the wording of audit rows. AuditLog refuses updates so that nothing edits history;
    erasure is the one exception the law makes (the rows, their actions, times and ids all stay), so it goes
    around the append-only queryset on purpose and only for the display text of one person's rows."""
    return models.QuerySet.update(queryset, **fields)


def _pseudonym(member: Member) -> str:
    return f"Erased member ({member.membership_number or f'application #{member.pk}'})"


def _scrub(text: str, secrets_to_remove: list[str], replacement: str) -> str:
    for value in secrets_to_remove:
        if value:
            text = text.replace(value, replacement)
    return text


def anonymise_member(
    *, member_id: int, actor, source: str, erasure: ErasureRequest | None = None, request=None
) -> Member:
    """Anonymise one member in place. Runs inside the caller's transaction (it opens one if there is none),
    holding the member's row lock, so it never races a payment being started or completed for them."""
    with transaction.atomic():
        member = Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member_id)
        user = member.user
        if ErasureRequest.objects.filter(member=member, status=ErasureRequest.Status.APPROVED).exists():
            raise ErasureError("This member's personal data has already been erased.")
        pending = Payment.objects.filter(member=member, status=Payment.Status.PENDING).order_by("created_at").first()
        if pending is not None:
            minutes = max(1, settings.MPESA_PAYMENT_TIMEOUT_SECONDS // 60)
            started = timezone.localtime(pending.created_at)
            raise PaymentPendingError(
                f"An M-Pesa payment of KES {pending.amount:,} started {started:%d %b %Y %H:%M} "
                f"is still waiting for its answer. It is settled within {minutes} minutes (completed, failed or "
                "timed out): approve the erasure after that, so the money is still credited and receipted."
            )

        old_email = user.email
        old_phones = sorted(
            {member.phone_number, *Payment.objects.filter(member=member).values_list("phone_number", flat=True)} - {""}
        )
        old_names = [n for n in (user.first_name, user.last_name, member.other_names) if n]
        documents = list(Document.objects.filter(member=member))
        payment_ids = list(Payment.objects.filter(member=member).values_list("pk", flat=True))
        now = timezone.now()

        # The login: no password can match, the account is inactive, and no session or token outlives this.
        user.first_name, user.last_name = ERASED_FIRST_NAME, ERASED_LAST_NAME
        user.email = f"erased-{user.pk}-{secrets.token_hex(4)}@{ERASED_EMAIL_DOMAIN}"
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["first_name", "last_name", "email", "is_active", "password"])
        user.groups.clear()
        user.user_permissions.clear()
        _end_sessions(user.pk)
        _end_tokens(user)

        Member.objects.filter(pk=member.pk).update(
            other_names="",
            id_number=f"{ERASED_ID_PREFIX}{member.pk}",
            date_of_birth=ERASED_DATE_OF_BIRTH,
            gender=Member.Gender.UNDISCLOSED,
            phone_number="",
            postal_address="",
            physical_address="",
            region=None,
            occupation="",
            organisation="",
            notify_by_email=False,
            notify_by_sms=False,
            # Old certificates' QR codes stop naming anyone.
            verification_token=new_verification_token(),
            updated_at=now,
        )
        member_search_text_refresh([member.pk])
        member.refresh_from_db()

        # Documents: the files go once the transaction commits (a rollback must not lose them); rows stay.
        names = [d.file.name for d in documents if d.file]
        Document.objects.filter(member=member).update(
            file="", original_name=ERASED_MARK, size=0, rejection_reason="", is_current=False
        )
        transaction.on_commit(lambda: _delete_files(names))

        # Payments stay with their amounts, dates and receipt numbers; the payer's phone is masked.
        for payment in Payment.objects.filter(pk__in=payment_ids).exclude(phone_number=""):
            Payment.objects.filter(pk=payment.pk).update(phone_number=mask_phone(payment.phone_number))
        for callback in MpesaCallback.objects.filter(payment_id__in=payment_ids):
            MpesaCallback.objects.filter(pk=callback.pk).update(
                body=_scrub(callback.body, old_phones, "[erased phone]")
            )

        Notification.objects.filter(user=user).update(title="(erased)", body="", link="")
        messages = Message.objects.filter(Q(user=user) | Q(recipient__iexact=old_email) | Q(recipient__in=old_phones))
        # Anything not yet sent is never sent: its recipient is gone.
        messages.filter(status__in=[Message.Status.QUEUED, Message.Status.SENDING]).update(status=Message.Status.FAILED)
        messages.update(recipient=ERASED_MARK, subject="", body="", html_body="", last_error="")

        Consent.objects.filter(user=user).update(ip_address=None)
        Consent.objects.filter(user=user, withdrawn_at__isnull=True).update(withdrawn_at=now)

        _pseudonymise_audit(member, documents, old_email, old_names)
        audit_log(
            action=AuditLog.Action.PERSONAL_DATA_ERASED,
            actor=actor,
            target=member,
            data={
                "source": source,
                "erasure": erasure.pk if erasure else None,
                "documents_deleted": len(names),
                "payments_kept": len(payment_ids),
            },
            request=request,
        )
    return member


def _pseudonymise_audit(member: Member, documents: list[Document], old_email: str, old_names: list[str]) -> None:
    user = member.user
    pseudonym = _pseudonym(member)
    _audit_rewrite(AuditLog.objects.filter(actor=user), actor_repr=pseudonym)
    _audit_rewrite(AuditLog.objects.filter(target_type="accounts.user", target_id=str(user.pk)), target_repr=pseudonym)
    _audit_rewrite(
        AuditLog.objects.filter(target_type="members.member", target_id=str(member.pk)), target_repr=pseudonym
    )
    for document in documents:
        _audit_rewrite(
            AuditLog.objects.filter(target_type="members.document", target_id=str(document.pk)),
            target_repr=f"{document.get_doc_type_display()} of an erased member",
        )
    # Failed logins keep only the name typed; when it was this person's address it goes too.
    for entry in AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED, data__username=old_email):
        _audit_rewrite(AuditLog.objects.filter(pk=entry.pk), data={**entry.data, "username": user.email})
    # Free text staff wrote about the person (reasons) may hold their name.
    entries = AuditLog.objects.filter(
        Q(actor=user) | Q(target_type="members.member", target_id=str(member.pk))
    ).exclude(reason="")
    for entry in entries:
        cleaned = _scrub(entry.reason, old_names + [old_email], "[erased]")
        if cleaned != entry.reason:
            _audit_rewrite(AuditLog.objects.filter(pk=entry.pk), reason=cleaned)


def _end_sessions(user_id: int) -> None:
    """Delete the user's server-side sessions. Sessions are signed blobs keyed by a random id, so the only
    way to find one person's is to read the live ones; erasure is rare enough for that."""
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        # get_decoded() answers {} for a corrupt or tampered session.
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            doomed.append(session.session_key)
    Session.objects.filter(session_key__in=doomed).delete()


def _end_tokens(user) -> None:
    for token in OutstandingToken.objects.filter(user=user):
        BlacklistedToken.objects.get_or_create(token=token)


def _delete_files(names: list[str]) -> None:
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # OSError on the filesystem; botocore's errors with a bucket
            logger.exception("Could not delete an erased member's document file; delete it by hand.")


# --- Retention of rejected applications ---------------------------------------------------------------------


@dataclass
class RetentionSummary:
    anonymised: int = 0
    waiting_for_payment: int = 0

    def as_dict(self) -> dict:
        return {"anonymised": self.anonymised, "waiting_for_payment": self.waiting_for_payment}


def rejected_applications_due(now: datetime.datetime | None = None):
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.REJECTED_APPLICATION_RETENTION_DAYS)
    return Member.objects.filter(status=Member.Status.REJECTED, status_changed_at__lt=cutoff).exclude(
        erasure_requests__status=ErasureRequest.Status.APPROVED
    )


def anonymise_rejected_applications(*, now: datetime.datetime | None = None, limit: int = 1000) -> RetentionSummary:
    """Anonymise rejected applications older than REJECTED_APPLICATION_RETENTION_DAYS, one per transaction.

    Each is claimed with a row lock that skips rows another worker holds, and re-checked under the lock
    (an erasure approved meanwhile is excluded), so two workers running at once never act on one member;
    the `privacy_erasure_once` constraint is the backstop. Safe to run as often as you like.
    """
    summary = RetentionSummary()
    passed_over: list[int] = []
    days = settings.REJECTED_APPLICATION_RETENTION_DAYS
    for _ in range(limit):
        with transaction.atomic():
            member = (
                rejected_applications_due(now)
                .exclude(pk__in=passed_over)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("status_changed_at", "pk")
                .first()
            )
            if member is None:
                break
            pending = ErasureRequest.objects.filter(member=member, status=ErasureRequest.Status.PENDING).first()
            try:
                with transaction.atomic():
                    anonymise_member(member_id=member.pk, actor=None, source=ErasureRequest.Source.RETENTION)
                    reason = f"Rejected application kept for {days} days (REJECTED_APPLICATION_RETENTION_DAYS)."
                    ErasureRequest.objects.filter(member=member).update(member_note="")
                    # The member's pending request is answered by the erasure; if there is none (or the
                    # member withdrew it meanwhile), the erasure is recorded as its own request.
                    if pending is None or not ERASURE_TRANSITIONS.apply(
                        ErasureRequest,
                        pending.pk,
                        to=ErasureRequest.Status.APPROVED,
                        decided_at=timezone.now(),
                        decision_reason=reason,
                    ):
                        ErasureRequest.objects.create(
                            member=member,
                            source=ErasureRequest.Source.RETENTION,
                            status=ErasureRequest.Status.APPROVED,
                            decided_at=timezone.now(),
                            decision_reason=reason,
                        )
            except PaymentPendingError:
                passed_over.append(member.pk)
                summary.waiting_for_payment += 1
                continue
            except ErasureError:
                passed_over.append(member.pk)
                continue
            except IntegrityError:
                passed_over.append(member.pk)  # another worker erased them between our look and our write
                continue
            summary.anonymised += 1
    return summary
