"""Error pages (config.urls handler400/403/404/500): a plain page on the web, the API's error shape under /api/.

Nothing of the error itself is shown: no traceback, no SQL, no exception text. Django logs the 500 (with
the request id) for us to read.
"""

from django.http import HttpResponseServerError, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from .malformed_input import MalformedInput

API_PREFIX = "/api/"
MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("permission_denied", "You do not have permission to do that."),
    404: ("not_found", "Not found."),
    500: ("server_error", "Something went wrong on our side. Please try again later."),
}


def _api_error(status: int, message: str = "") -> JsonResponse:
    code, default_message = MESSAGES[status]
    message = message or default_message
    return JsonResponse({"error": {"status": status, "code": code, "message": message}}, status=status)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


@requires_csrf_token
def bad_request(request, exception):
    if _is_api(request):
        # Our own refusal says what was wrong; any other (a bad Host header...) stays unexplained.
        return _api_error(400, str(exception) if isinstance(exception, MalformedInput) else "")
    return defaults.bad_request(request, exception, template_name="400.html")


@requires_csrf_token
def permission_denied(request, exception):
    if _is_api(request):
        return _api_error(403)
    return defaults.permission_denied(request, exception, template_name="403.html")


@requires_csrf_token
def page_not_found(request, exception):
    if _is_api(request):
        return _api_error(404)
    return defaults.page_not_found(request, exception, template_name="404.html")


@requires_csrf_token
def server_error(request):
    if _is_api(request):
        return _api_error(500)
    # Rendered without the request's context: whatever failed (the database, a context processor) must
    # not fail the error page too.
    return HttpResponseServerError(loader.get_template("500.html").render())
