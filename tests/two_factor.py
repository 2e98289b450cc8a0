"""Two-factor helpers for tests: give a user an authenticator device, and read the code their app shows."""

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor import APP_DEVICE_NAME, new_recovery_codes
from api.auth import SessionRefreshToken


def give_two_factor(user) -> TOTPDevice:
    """A confirmed authenticator app for the user (as if they had set it up), with ten recovery codes."""
    device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=True)
    new_recovery_codes(user)
    return device


def app_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def app_code(device: TOTPDevice) -> str:
    """The code the person's app would show now, computed from the device's key as the app does.

    A code is accepted once (django-otp keeps the last time step used), and the server accepts the steps
    next to the current one too (clock drift): when this step's code was used already, the next one is
    returned, as a person who waits a few seconds for the next code would type it.
    """
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    now_t = totp.t()
    for offset in (0, 1):
        if now_t + offset > device.last_t:
            totp.drift = device.drift + offset
            return f"{totp.token():0{device.digits}d}"
    raise AssertionError("Both codes the server accepts now were used already; the next comes within 30 seconds.")


def api_access_token(user) -> str:
    """An API access token as a login that gave the second factor issues it (`otp` true: api.authentication).

    For tests that call the API as a staff role without going through the login; a token without `otp`
    is refused for anyone whose role needs two-factor.
    """
    return str(SessionRefreshToken.for_user(user, otp=True).access_token)
