"""Responses with personal data are never stored by a browser or a shared cache."""

from django.conf import settings
from django.utils.cache import patch_cache_control


class NoStoreForPersonalDataMiddleware:
    """`Cache-Control: private, no-store` on answers to a signed-in user or an API token, and under /api/.

    A view that set Cache-Control itself keeps it: the public reference data (/api/categories/...) and
    the certificate check at /verify/ are cacheable on purpose. Placed after AuthenticationMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control") and self._personal(request):
            patch_cache_control(response, private=True, no_store=True)
        return response

    @staticmethod
    def _personal(request) -> bool:
        # Any API answer (the login's tokens go to a caller without any credential yet), and any answer
        # to a token holder.
        if request.path.startswith("/api/") or request.headers.get("Authorization"):
            return True
        # Without a session cookie nobody is signed in: don't load the session (or add Vary: Cookie) for it.
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return False
        user = getattr(request, "user", None)
        return bool(user is not None and user.is_authenticated)
