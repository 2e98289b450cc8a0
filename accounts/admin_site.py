"""The admin site: only for Admins whose session passed the second step, and no login form of its own.

Only the Admin role (and superusers): a model admin edits rows directly, past the services and their rules
(a Staff user could switch a paying member to Honorary). Staff and Finance work in /staff/, through the
services, whatever their is_staff flag says.

Its login URL sends people to the one login page (/login/: password, then the code, with the failed-login
lockout), so there is no second password form to guess at.
"""

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.admin import OTPAdminSite

from .roles import ADMIN, user_roles


class SecureAdminSite(OTPAdminSite):
    """django-otp's admin site (has_permission also needs request.user.is_verified()) for Admins, logging in on
    /login/."""

    def __init__(self, name="admin"):
        super().__init__(name)

    def has_permission(self, request):
        # The parent asks for is_active, is_staff and a verified second factor; the role is asked last (a query).
        user = request.user
        return super().has_permission(request) and (user.is_superuser or ADMIN in user_roles(user))

    def login(self, request, extra_context=None):
        index = reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect(index)
            # Signed in, but not someone the admin is for: no login loop, a plain refusal.
            raise PermissionDenied("Your account cannot use the administration site.")
        wanted = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}):
            wanted = index
        return redirect_to_login(wanted or index, login_url=reverse("accounts:login"))
