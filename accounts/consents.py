"""Giving and withdrawing consent. Plain functions, `consent_<verb>(*, ..., request=None)`.

The privacy notice's version is PRIVACY_NOTICE_VERSION: when it changes, a member's acceptance of an older
version no longer counts as current and the portal asks them to read the new one (never blocking what they
are doing: paying, downloading their data).
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.exceptions import DomainError
from core.http import client_ip

from .models import Consent

Purpose = Consent.Purpose
OPTIONAL_PURPOSES = [p for p in Purpose if p != Purpose.PRIVACY_NOTICE]


class ConsentError(DomainError):
    """A consent change that cannot happen; the message is safe to show."""


def current_notice_version() -> str:
    return settings.PRIVACY_NOTICE_VERSION


def consent_give(*, user, purpose: str, channel: str, request=None) -> Consent:
    """Record that `user` agrees to `purpose` under the current notice; once, however often it is called."""
    if purpose not in Purpose.values:
        raise ConsentError(f"Unknown purpose {purpose!r}.")
    if channel not in Consent.Channel.values:
        raise ValueError(f"Unknown consent channel {channel!r}; use one of {', '.join(Consent.Channel.values)}.")
    version = current_notice_version()
    open_rows = Consent.objects.filter(user=user, purpose=purpose, version=version, withdrawn_at__isnull=True)
    existing = open_rows.first()
    if existing is not None:
        return existing
    try:
        # A savepoint: on PostgreSQL a duplicate key must not break the caller's transaction (registration).
        with transaction.atomic():
            consent = Consent.objects.create(
                user=user, purpose=purpose, version=version, channel=channel, ip_address=client_ip(request)
            )
    except IntegrityError:
        return open_rows.get()  # the same person's other click won the race
    audit_log(
        action=AuditLog.Action.CONSENT_GIVEN,
        actor=user,
        target=user,
        data={"purpose": purpose, "version": version, "channel": channel},
        request=request,
    )
    return consent


def consent_withdraw(*, user, purpose: str, request=None) -> int:
    """Withdraw an optional consent; returns how many open consents were closed (0: there was none).

    The privacy notice is not withdrawn this way: we hold a member's data because of the membership, not
    only because they agreed, so ending that means asking for erasure (privacy.erasure).
    """
    if purpose == Purpose.PRIVACY_NOTICE:
        raise ConsentError(
            "The privacy notice cannot be withdrawn like a preference: to stop us holding your data, "
            "ask for your data to be erased."
        )
    if purpose not in Purpose.values:
        raise ConsentError(f"Unknown purpose {purpose!r}.")
    closed = Consent.objects.filter(user=user, purpose=purpose, withdrawn_at__isnull=True).update(
        withdrawn_at=timezone.now()
    )
    if closed:
        audit_log(
            action=AuditLog.Action.CONSENT_WITHDRAWN,
            actor=user,
            target=user,
            data={"purpose": purpose},
            request=request,
        )
    return closed


def current_consents(user) -> dict[str, Consent | None]:
    """Each purpose's consent that is in force for `user` (not withdrawn), or None. One query.

    For the privacy notice "in force" means for any version: whether it is the current version is
    `needs_notice_acceptance`'s question.
    """
    found: dict[str, Consent | None] = dict.fromkeys(Purpose.values)
    for consent in Consent.objects.filter(user=user, withdrawn_at__isnull=True).order_by("-given_at", "-pk"):
        if found.get(consent.purpose) is None:
            found[consent.purpose] = consent
    return found


def needs_notice_acceptance(user) -> bool:
    """Whether the member has not yet accepted the privacy notice's current version."""
    return not Consent.objects.filter(
        user=user, purpose=Purpose.PRIVACY_NOTICE, version=current_notice_version(), withdrawn_at__isnull=True
    ).exists()
