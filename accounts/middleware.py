"""Session rules for the web pages: an idle timeout, and two-factor before any page for those who need it.

Both act before the view (process_view) and leave alone what must not read the session: requests without a
session cookie (nobody is signed in), the API (JWT, not sessions), and the public pages in PUBLIC_URL_NAMES,
which are cached and must not vary by cookie (the certificate check at /verify/).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse

from .two_factor import has_two_factor, two_factor_required

LAST_ACTIVITY_KEY = "last_activity"
# The stored time is refreshed at most this often, so a busy page does not write the session every request.
ACTIVITY_RESOLUTION_SECONDS = 60
PUBLIC_URL_NAMES = {"verify_membership"}


def touch_session(request) -> None:
    request.session[LAST_ACTIVITY_KEY] = int(time.time())


def _applies(request) -> bool:
    if settings.SESSION_COOKIE_NAME not in request.COOKIES or request.path.startswith("/api/"):
        return False
    match = getattr(request, "resolver_match", None)
    return not (match is not None and match.url_name in PUBLIC_URL_NAMES)


class _ViewMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


class SessionIdleTimeoutMiddleware(_ViewMiddleware):
    """A signed-in session with no request for SESSION_IDLE_TIMEOUT_MINUTES is ended server-side, and the
    person is sent to the login page with a message (and back to the page they asked for after logging in)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
        if not minutes or not _applies(request) or not request.user.is_authenticated:
            return None
        now = int(time.time())
        last = request.session.get(LAST_ACTIVITY_KEY)
        if last is not None and now - last > minutes * 60:
            request.logout_reason = "idle"
            logout(request)
            message = f"You were logged out after {minutes} minutes without activity. Please log in again."
            messages.info(request, message)
            return redirect_to_login(request.get_full_path())
        if last is None or now - last >= ACTIVITY_RESOLUTION_SECONDS:
            request.session[LAST_ACTIVITY_KEY] = now
        return None


class TwoFactorRequiredMiddleware(_ViewMiddleware):
    """A signed-in user who needs two-factor (`two_factor_required`: a staff role or the is_staff flag) and
    whose session has not passed it reaches no page but the set-up and logout: without a device they set one
    up; with one they log in again with the code.

    Every page, not only /staff/: a role's reach goes beyond the staff pages (Finance opens any member's
    payment and receipt, Staff any member's documents), so a password alone must open none of them.
    """

    ALLOWED_NAMES = ("accounts:two_factor_setup", "accounts:two_factor_recovery_codes", "accounts:logout")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not _applies(request):
            return None
        user = request.user
        # is_verified() first: it costs no query, and a verified session needs nothing more.
        if not user.is_authenticated or user.is_verified() or not two_factor_required(user):
            return None
        if request.path in {reverse(name) for name in self.ALLOWED_NAMES}:
            return None
        if has_two_factor(user):
            logout(request)
            messages.info(request, "Please log in again with the code from your authenticator app.")
            return redirect_to_login(request.get_full_path())
        messages.info(request, "Your role needs two-factor authentication. Set it up to continue: it takes a minute.")
        return redirect("accounts:two_factor_setup")
