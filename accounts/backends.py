"""The lockout check in front of Django's password check (django-axes)."""

from axes.backends import AxesStandaloneBackend


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
