from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render

from audit.models import AuditLog
from audit.services import audit_log

from .forms import EmailAuthenticationForm, EmailPasswordResetForm
from .roles import is_staff_user
from .security import password_reset_allowed
from .two_factor import has_two_factor
from .two_factor_views import start_second_step


def home(request):
    """The landing page for visitors; signed-in people go to their own home."""
    if request.user.is_authenticated:
        if is_staff_user(request.user):
            return redirect("dashboard:home")
        if hasattr(request.user, "member"):
            return redirect("portal:home")
    return render(request, "home.html")


class LoginView(auth_views.LoginView):
    """The password step. With a confirmed authenticator the session is not signed in yet: the code comes
    next (accounts.two_factor_views.login_verify), and only then does login() run (a new session id)."""

    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if has_two_factor(user):
            start_second_step(self.request, user, next_url=self.get_success_url())
            return redirect("accounts:login_verify")
        return super().form_valid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        audit_log(
            action=AuditLog.Action.PASSWORD_CHANGED,
            actor=self.request.user,
            target=self.request.user,
            data={"how": "change"},
            request=self.request,
        )
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for a reset link by email, within PASSWORD_RESET_RATE_PER_ADDRESS and _PER_ACCOUNT. The answer is
    the same "we have emailed a link if an account exists" page whether it sent one, found no account, or
    was over a limit: it never tells whether an account exists, nor an attacker when to try again."""

    form_class = EmailPasswordResetForm

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        if not password_reset_allowed(self.request, email):
            return HttpResponseRedirect(self.get_success_url())
        # Audited against the account when one exists; the page answers the same either way.
        for user in form.get_users(email):
            audit_log(action=AuditLog.Action.PASSWORD_RESET_REQUESTED, target=user, request=self.request)
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        audit_log(
            action=AuditLog.Action.PASSWORD_CHANGED,
            actor=form.user,
            target=form.user,
            data={"how": "reset"},
            request=self.request,
        )
        return response
