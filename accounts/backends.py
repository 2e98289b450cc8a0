"""The lockout check in front of Django's password check (django-axes)."""

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username

from core.http import client_ip

from .security import lockout_until


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a login whose username and client address are locked out (accounts.security).

    Every login that arrives over the network passes its request to authenticate(): the web form, the admin
    (which uses the web form) and POST /api/auth/login/. A call without a request (the shell, a script, a
    test checking a password) is no network login: nothing is counted and nothing is refused, where
    django-axes' own backend would raise.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutHandler(AxesDatabaseHandler):
    """AXES_HANDLER: django-axes' lock per username and address, and the wider ones beside it.

    django-axes compares every lockout parameter with one AXES_FAILURE_LIMIT; the address across accounts and
    the account across addresses need higher limits of their own (accounts.security.lockout_until).
    """

    def is_locked(self, request, credentials=None) -> bool:
        if super().is_locked(request, credentials):
            return True
        ip_address = getattr(request, "axes_ip_address", None) or client_ip(request)
        username = get_client_username(request, credentials)
        return lockout_until(username=username, ip_address=ip_address) is not None
