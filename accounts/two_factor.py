"""Two-factor authentication (django-otp): an authenticator app (TOTP) and single-use recovery codes.

Mandatory for Admin, Staff and Finance and anyone with is_staff (`two_factor_required`); optional for
members. A user with a confirmed device logs in with the password and then a code (accounts.views); a user
who needs it and has none is kept on the set-up page until done, whatever page they ask for
(accounts.middleware). django-otp remembers the last
time step a TOTP code was accepted for, so a code cannot be used twice, and slows down wrong guesses.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import segno
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.safestring import mark_safe
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditLog
from audit.services import audit_log

from .roles import STAFF_ROLES, user_roles

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"


def two_factor_required(user) -> bool:
    """Staff roles and the is_staff flag need a second factor; members choose.

    The one rule: the web pages (accounts.middleware), the admin site and the API login all ask it. The role
    counts on its own, since a role without the flag still reaches other members' payments and documents.
    """
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    in_staff_role = getattr(user, STAFF_ROLE_ANNOTATION, None)  # read with the user (with_staff_role)
    if in_staff_role is None:
        in_staff_role = bool(user_roles(user) & set(STAFF_ROLES))
    return bool(in_staff_role)


STAFF_ROLE_ANNOTATION = "in_staff_role"


def with_staff_role(users: QuerySet) -> QuerySet:
    """Users read with whether they hold a staff role, so `two_factor_required` costs no further query.

    The API asks it on every request a token makes (api.auth), where one more query each time would show.
    """
    staff_groups = Group.objects.filter(user=OuterRef("pk"), name__in=STAFF_ROLES)
    return users.annotate(**{STAFF_ROLE_ANNOTATION: Exists(staff_groups)})


def has_two_factor(user) -> bool:
    """Whether the user has a confirmed authenticator app (recovery codes alone do not count)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@dataclass
class CodeCheck:
    device: object | None = None
    error: str = ""

    @property
    def recovery_code(self) -> bool:
        return isinstance(self.device, StaticDevice)


def _clean(code) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


def check_code(user, code) -> CodeCheck:
    """Verify a 6-digit app code or a recovery code (used up) for the user.

    The code's form picks the device, so a wrong app code never counts against the recovery codes.
    """
    code = _clean(code)
    if not code:
        return CodeCheck(error="Enter the 6-digit code from your authenticator app, or a recovery code.")
    model = TOTPDevice if code.isdigit() else StaticDevice
    with transaction.atomic():
        devices = model.objects.filter(user=user, confirmed=True).select_for_update()
        for device in devices:
            allowed, extra = device.verify_is_allowed()
            if not allowed:
                return CodeCheck(error="Too many wrong codes. Wait a minute, then try again.")
            if device.verify_token(code):
                return CodeCheck(device=device)
    return CodeCheck(error="That code is not right, or it was used already. Try the next code your app shows.")


def audit_recovery_code_use(user, request=None, channel="web"):
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        actor=user,
        target=user,
        data={"event": "recovery_code_used", "channel": channel, "codes_left": recovery_codes_left(user)},
        request=request,
    )


# --- Setting up ---------------------------------------------------------------------------------------------


def pending_app_device(user) -> TOTPDevice:
    """The unconfirmed device being set up (kept, so reloading the page shows the same QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return device


def manual_key(device: TOTPDevice) -> str:
    """The secret as an app's "enter a key" field wants it: base32, in groups of four."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URL as an inline SVG (no script, no style attribute, no request for an image)."""
    qr = segno.make(device.config_url, error="m")
    svg = qr.svg_inline(scale=4, dark="#000", light="#fff", title="QR code for your authenticator app")
    return mark_safe(svg)  # noqa: S308  (segno's own markup; the only data in it is the encoded QR)


def new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones; each works once."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def two_factor_enable(*, user, device: TOTPDevice, request=None) -> list[str]:
    """Confirm a verified app device (replacing any earlier one) and issue new recovery codes."""
    replacing = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).exists()
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.name = APP_DEVICE_NAME
    device.save()
    codes = new_recovery_codes(user)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        actor=user,
        target=user,
        data={"event": "two_factor_changed" if replacing else "two_factor_enabled"},
        request=request,
    )
    return codes


@transaction.atomic
def two_factor_disable(*, user, request=None) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    if request is not None and hasattr(request, "session"):
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        actor=user,
        target=user,
        data={"event": "two_factor_disabled"},
        request=request,
    )


def recovery_codes_regenerate(*, user, request=None) -> list[str]:
    codes = new_recovery_codes(user)
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        actor=user,
        target=user,
        data={"event": "recovery_codes_regenerated"},
        request=request,
    )
    return codes
