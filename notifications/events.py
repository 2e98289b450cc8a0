"""The events members are told about, the context each one's templates need, and how that context is built.

Each event has three templates under ``templates/notifications/``:
``<event>.subject.txt`` and ``<event>.txt`` (the email) and ``<event>.sms.txt`` (one short SMS). An optional
``<event>.html`` becomes the email's HTML alternative.

Every template also gets: ``member``, ``first_name``, ``membership_number``, ``organisation_name``,
``site_url`` (SITE_URL without a trailing slash) and ``portal_url``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse

APPLICATION_RECEIVED = "application_received"
DOCUMENT_REJECTED = "document_rejected"
APPROVED = "approved"
ACTIVATED = "activated"
PAYMENT_RECEIVED = "payment_received"
PAYMENT_FAILED = "payment_failed"
SUSPENDED = "suspended"
REINSTATED = "reinstated"

# event -> context keys the caller must supply (directly, or through the object noted beside it).
REQUIRED_CONTEXT: dict[str, tuple[str, ...]] = {
    APPLICATION_RECEIVED: (),
    # document_type (a label, e.g. "National ID or passport copy") and reason; or pass `document`.
    DOCUMENT_REJECTED: ("document_type", "reason"),
    # Uses member.membership_number, and member.category.registration_fee while the fee is unpaid.
    APPROVED: (),
    # Uses member.membership_number and member.period_end.
    ACTIVATED: (),
    # amount (KES), receipt_number, receipt_url; mpesa_receipt_number when paid by M-Pesa; or pass
    # `payment` (a payments.Payment) for everything but receipt_url.
    PAYMENT_RECEIVED: ("amount", "receipt_number", "receipt_url"),
    # amount and reason (plain words for the member); or pass `payment` for the amount.
    PAYMENT_FAILED: ("amount", "reason"),
    # reason: why staff suspended the membership, or lifted the suspension (shown to the member).
    SUSPENDED: ("reason",),
    REINSTATED: ("reason",),
}
EVENTS = tuple(REQUIRED_CONTEXT)


class MissingContext(ValueError):
    pass


def member_context(member) -> dict[str, Any]:
    site_url = settings.SITE_URL.rstrip("/")
    try:
        portal_url = site_url + reverse("portal:home")
    except NoReverseMatch:
        portal_url = site_url + "/"
    return {
        "member": member,
        "first_name": member.user.first_name or member.full_name,
        "membership_number": member.membership_number or "",
        "organisation_name": settings.ORGANISATION_NAME,
        "site_url": site_url,
        "portal_url": portal_url,
    }


def _from_payment(payment) -> dict[str, Any]:
    # Duck-typed so this app does not depend on the payments app.
    return {
        "amount": payment.amount,
        "receipt_number": getattr(payment, "receipt_number", None) or "",
        "mpesa_receipt_number": getattr(payment, "mpesa_receipt_number", None) or "",
        "payment_type": payment.get_payment_type_display() if hasattr(payment, "get_payment_type_display") else "",
    }


def _from_document(document) -> dict[str, Any]:
    return {"document_type": document.get_doc_type_display(), "reason": document.rejection_reason}


def event_context(member, *, event: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the templates of `event` use; values the caller passed win over derived ones."""
    given = dict(context or {})
    derived: dict[str, Any] = {"mpesa_receipt_number": "", "payment_type": ""}
    if given.get("payment") is not None:
        derived.update(_from_payment(given["payment"]))
    if given.get("document") is not None:
        derived.update(_from_document(given["document"]))
    full = {**member_context(member), **derived, **given}
    missing = [key for key in REQUIRED_CONTEXT.get(event, ()) if full.get(key) in (None, "")]
    if missing:
        raise MissingContext(f"The {event} notification needs {', '.join(missing)} in its context.")
    return full
