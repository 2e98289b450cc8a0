"""The login's second step, setting up two-factor, recovery codes, and turning it off (members only)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from . import two_factor
from .forms import CodeForm, CurrentPasswordForm, TwoFactorSetupForm
from .security import is_locked_out, lockout_response

PENDING_KEY = "two_factor_pending"
NEW_CODES_KEY = "two_factor_new_recovery_codes"


def start_second_step(request, user, *, next_url: str) -> None:
    """Remember, in the not-yet-signed-in session, whose password was right and where they were going."""
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "next": next_url,
        "at": int(time.time()),
    }


def _pending_user(request):
    pending = request.session.get(PENDING_KEY)
    if not pending:
        return None, None
    if time.time() - pending["at"] > settings.TWO_FACTOR_PENDING_MINUTES * 60:
        request.session.pop(PENDING_KEY, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify(request):
    user, pending = _pending_user(request)
    if user is None:
        messages.info(request, "Please log in again: the code was not entered in time.")
        return redirect("accounts:login")
    if is_locked_out(request, user.email):
        request.session.pop(PENDING_KEY, None)
        return lockout_response(request, credentials={"username": user.email})
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = two_factor.check_code(user, form.cleaned_data["code"])
        if result.device is not None:
            del request.session[PENDING_KEY]
            user.backend = pending["backend"]
            login(request, user)  # a new session id, and the audited login
            otp_login(request, result.device)
            if result.recovery_code:
                two_factor.audit_recovery_code_use(user, request)
                left = two_factor.recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You used a recovery code; {left} left. Generate new ones on the two-factor page if needed.",
                )
            return redirect(pending["next"])
        # A wrong code counts as a failed login: audited, and toward the lockout of this username and address.
        user_login_failed.send(
            sender=__name__, credentials={"username": user.email, "stage": "second_factor"}, request=request
        )
        if getattr(request, "axes_locked_out", False) or is_locked_out(request, user.email):
            request.session.pop(PENDING_KEY, None)
            return lockout_response(request, credentials={"username": user.email})
        form.add_error("code", result.error)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/login_verify.html", {"form": form}, status=status)


@sensitive_post_parameters("current_password", "code")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Add (or replace) the authenticator app: scan the QR code or type the key, then prove it with a code."""
    user = request.user
    device = two_factor.pending_app_device(user)
    form = TwoFactorSetupForm(request.POST or None, user=user, device=device)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.two_factor_enable(user=user, device=device, request=request)
        otp_login(request, device)
        request.session[NEW_CODES_KEY] = codes
        messages.success(request, "Two-factor authentication is on.")
        return redirect("accounts:two_factor_recovery_codes")
    context = {
        "form": form,
        "qr_svg": two_factor.qr_svg(device),
        "manual_key": two_factor.manual_key(device),
        "replacing": two_factor.has_two_factor(user),
        "required": two_factor.two_factor_required(user),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
def recovery_codes(request):
    """The new recovery codes, shown once: the session forgets them as the page is made."""
    codes = request.session.pop(NEW_CODES_KEY, None)
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@sensitive_post_parameters("current_password")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def manage(request):
    """The two-factor page: status, new recovery codes, and (members only) turning it off."""
    user = request.user
    context = {
        "enabled": two_factor.has_two_factor(user),
        "required": two_factor.two_factor_required(user),
        "codes_left": two_factor.recovery_codes_left(user),
        "form": CurrentPasswordForm(user=user),
    }
    return render(request, "accounts/two_factor.html", context)


@sensitive_post_parameters("current_password")
@never_cache
@login_required
@require_POST
def disable(request):
    user = request.user
    if two_factor.two_factor_required(user):
        messages.error(request, "Two-factor authentication is required for your role; it cannot be turned off.")
        return redirect("accounts:two_factor")
    form = CurrentPasswordForm(request.POST, user=user)
    if not form.is_valid():
        return _manage_with_errors(request, form)
    two_factor.two_factor_disable(user=user, request=request)
    messages.success(request, "Two-factor authentication is off. Logging in now needs only your password.")
    return redirect("accounts:two_factor")


@sensitive_post_parameters("current_password")
@never_cache
@login_required
@require_POST
def regenerate_codes(request):
    user = request.user
    if not two_factor.has_two_factor(user):
        return redirect("accounts:two_factor")
    form = CurrentPasswordForm(request.POST, user=user)
    if not form.is_valid():
        return _manage_with_errors(request, form)
    request.session[NEW_CODES_KEY] = two_factor.recovery_codes_regenerate(user=user, request=request)
    return redirect("accounts:two_factor_recovery_codes")


def _manage_with_errors(request, form):
    user = request.user
    context = {
        "enabled": two_factor.has_two_factor(user),
        "required": two_factor.two_factor_required(user),
        "codes_left": two_factor.recovery_codes_left(user),
        "form": form,
    }
    return render(request, "accounts/two_factor.html", context, status=400)
