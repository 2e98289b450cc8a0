"""Members editing their own contact details and how they hear from us.

Only PROFILE_FIELDS change here. Status, membership number, category, ID and registration fields are
decided by staff through members.services; keys for them in `data` are ignored, so no form or PATCH can
reach them through this door. Asking for the password before the email or phone changes is the web
form's job (portal.forms.ProfileForm); the API relies on its access token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditLog
from audit.services import audit_log
from core.emails import normalise_email
from core.phones import normalise_phone

from .models import Member
from .search import member_search_text_update

# Member fields a member may change, plus the account's email.
PROFILE_FIELDS = (
    "email",
    "phone_number",
    "other_names",
    "postal_address",
    "physical_address",
    "occupation",
    "organisation",
    "notify_by_email",
    "notify_by_sms",
)
# Where the codes of a hijacked session would send a password reset or an M-Pesa prompt: the web asks for
# the password again before these change.
REAUTH_FIELDS = ("email", "phone_number")
BOOLEAN_FIELDS = ("notify_by_email", "notify_by_sms")

EMAIL_TAKEN = "Another account already uses this email address."


def email_in_use(email: str, *, exclude_user_id: int | None = None) -> bool:
    """Whether another account has this address, ignoring case (the database's unique index does too)."""
    users = get_user_model().objects.filter(email__iexact=normalise_email(email))
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.exists()


def profile_values(member: Member) -> dict[str, Any]:
    """The member's current values of PROFILE_FIELDS."""
    return {name: member.user.email if name == "email" else getattr(member, name) for name in PROFILE_FIELDS}


def member_update_profile(*, member: Member, actor, data: Mapping[str, Any], request=None) -> list[str]:
    """Apply the PROFILE_FIELDS present in `data` to `member`; return the names of the fields that changed.

    Other keys are ignored. The phone number is normalised (2547XXXXXXXX) and the email normalised
    (core.emails). Raises
    ValidationError keyed by field for an invalid value or an email another account uses. Nothing changed,
    nothing written; otherwise one audit entry that names the changed fields, never their values.
    """
    wanted = _cleaned(member, {name: data[name] for name in PROFILE_FIELDS if name in data})
    with transaction.atomic():
        # Locked and read afresh, so two saves at once each see what the other wrote.
        locked = Member.objects.select_for_update(of=("self",)).select_related("user").get(pk=member.pk)
        current = profile_values(locked)
        changed = [name for name in PROFILE_FIELDS if name in wanted and wanted[name] != current[name]]
        if not changed:
            return []
        if "email" in changed and email_in_use(wanted["email"], exclude_user_id=member.user_id):
            raise ValidationError({"email": EMAIL_TAKEN})
        member_fields = [name for name in changed if name != "email"]
        for name in member_fields:
            setattr(member, name, wanted[name])
        if member_fields:
            member.save(update_fields=[*member_fields, "updated_at"])
        if "email" in changed:
            member.user.email = wanted["email"]
            try:
                with transaction.atomic():
                    member.user.save(update_fields=["email"])
            except IntegrityError:
                # Another account took the address between our check and our write.
                raise ValidationError({"email": EMAIL_TAKEN}) from None
        member_search_text_update(member)
        audit_log(
            action=AuditLog.Action.PROFILE_CHANGED,
            actor=actor,
            target=member,
            data={"fields": changed},
            request=request,
        )
    return changed


def _cleaned(member: Member, values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        try:
            if name == "email":
                cleaned[name] = get_user_model()._meta.get_field("email").clean(normalise_email(value), member.user)
            elif name == "phone_number":
                cleaned[name] = normalise_phone(value, member.country_id)
            elif name in BOOLEAN_FIELDS:
                cleaned[name] = forms.BooleanField(required=False).to_python(value)  # "false" and "0" too
            else:
                # The model field's own checks: length, and blank where blank is not allowed.
                cleaned[name] = Member._meta.get_field(name).clean((value or "").strip(), member)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)
    return cleaned
