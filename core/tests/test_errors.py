"""Security check 15: with DEBUG off an unhandled error shows a generic page (web) or the API's error shape,
with no traceback and no SQL. The 400/403/404 pages are ours too."""

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import include, path
from rest_framework.views import APIView

SECRET_IN_ERROR = "SELECT password_hash FROM secret_table WHERE id_number = '29876543'"


def _crash(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    raise RuntimeError(SECRET_IN_ERROR)


def _db_crash(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_for_the_error_test")
    return HttpResponse("unreachable")


def _forbidden(request):
    raise PermissionDenied("staff only: " + SECRET_IN_ERROR)


def _suspicious(request):
    raise SuspiciousOperation("tampered: " + SECRET_IN_ERROR)


class _ApiCrash(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError(SECRET_IN_ERROR)


api_patterns = [path("crash/", _ApiCrash.as_view())]
# A test-only URLconf: the real one plus views that fail, keeping config.urls' error handlers.
urlpatterns = [
    path("test-errors/crash/", _crash),
    path("test-errors/db-crash/", _db_crash),
    path("test-errors/forbidden/", _forbidden),
    path("test-errors/suspicious/", _suspicious),
    path("api/test-errors/", include(api_patterns)),
    path("", include("config.urls")),
]
handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"

LEAKS = ["Traceback", "RuntimeError", "SELECT", "secret_table", "29876543", "no_such_table", 'File "', "settings"]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def _assert_nothing_leaks(response):
    body = response.content.decode()
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} in the error page:\n{body[:2000]}"


@pytest.mark.security_check(15)
@override_settings(DEBUG=False)
@pytest.mark.parametrize("url", ["/test-errors/crash/", "/test-errors/db-crash/"])
def test_an_unhandled_error_on_the_web_is_a_generic_page(client, url):
    response = client.get(url)
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    _assert_nothing_leaks(response)
    assert "Content-Security-Policy" in response


@pytest.mark.security_check(15)
@override_settings(DEBUG=False)
def test_an_unhandled_error_in_the_api_is_the_error_shape(client):
    response = client.get("/api/test-errors/crash/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "status": 500,
            "code": "server_error",
            "message": "Something went wrong on our side. Please try again later.",
        }
    }
    _assert_nothing_leaks(response)


@pytest.mark.security_check(15)
@override_settings(DEBUG=False)
def test_the_error_is_logged_for_us_with_the_request_id(client, caplog):
    response = client.get("/test-errors/crash/", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    assert response.status_code == 500
    errors = [r for r in caplog.records if r.name == "django.request" and r.levelname == "ERROR"]
    assert errors, "the 500 is logged"
    assert errors[0].exc_info or errors[0].exc_text  # with its traceback, in the log only
    assert getattr(errors[0], "request_id", None) == "0123456789abcdef0123456789abcdef"


@override_settings(DEBUG=False)
@pytest.mark.parametrize(
    ("url", "status", "text"),
    [
        ("/no-such-page/", 404, "Page not found"),
        ("/test-errors/forbidden/", 403, "Not allowed"),
        ("/test-errors/suspicious/", 400, "Bad request"),
    ],
)
def test_4xx_pages_are_ours_and_plain(client, url, status, text):
    response = client.get(url)
    assert response.status_code == status
    body = response.content.decode()
    assert text in body and "<nav" in body  # the site's layout
    _assert_nothing_leaks(response)


@override_settings(DEBUG=False)
@pytest.mark.parametrize(("url", "status", "code"), [("/api/no-such-endpoint/", 404, "not_found")])
def test_api_4xx_outside_drf_use_the_error_shape(client, url, status, code):
    response = client.get(url)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


@override_settings(DEBUG=False)
def test_a_csrf_failure_is_our_page(reference_data):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "a@example.com", "password": "x"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "The form has expired" in body and "<style" not in body
