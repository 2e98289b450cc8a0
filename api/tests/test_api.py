"""The brief's API requests sent verbatim with a real token, the error shape, token rotation and logout,
scoping to the caller, throttling, and the OpenAPI description."""

import json

import pytest

from audit.models import AuditLog
from payments.models import Payment
from tests.factories import PASSWORD
from tests.idor import assert_nothing_of, row_of, their_object

pytestmark = pytest.mark.django_db


def post(client, path, body, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def get(client, path, token):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def login(client, email="member@example.com", password=PASSWORD):
    response = post(client, "/api/auth/login/", {"username": email, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


# --- The brief's examples, verbatim -------------------------------------------------------------------------


def test_login_as_the_brief_shows(client, member):
    tokens = login(client)
    assert set(tokens) == {"access", "refresh"}
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGIN, actor=member.user, data__channel="api").exists()


def test_get_member_profile(client, member):
    token = login(client)["access"]
    response = get(client, "/api/members/profile/", token)
    assert response.status_code == 200
    body = response.json()
    assert body["membership_number"] == "KTS-2026-0001"
    assert body["email"] == "member@example.com"
    assert body["phone_number"] == "254712345678"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.security_check(1)
def test_get_payment_history(client, member, bob):
    Payment.objects.create(member=member, payment_type="registration", amount=500, status="completed")
    Payment.objects.create(member=bob, payment_type="registration", amount=5000)
    token = login(client)["access"]
    response = get(client, "/api/payments/history/", token)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [row["amount"] for row in body["results"]] == [500]


def test_initiate_mpesa_payment_and_check_its_status(client, member, daraja):
    token = login(client)["access"]
    response = post(
        client,
        "/api/payments/mpesa/initiate/",
        {"amount": 1000, "phone_number": "254712345678", "payment_type": "renewal"},
        token,
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "pending" and created["payment_type"] == "renewal" and created["amount"] == 1000
    reference = created["payment_reference"]

    response = get(client, f"/api/payments/{reference}/status/", token)
    assert response.status_code == 200
    body = response.json()
    assert body["payment_reference"] == reference
    assert {"status", "amount", "payment_type", "mpesa_receipt_number", "result_description"} <= set(body)


# --- Errors, scoping, tokens ---------------------------------------------------------------------------------


def test_a_wrong_amount_is_a_400_that_says_what_is_due(client, member, daraja):
    token = login(client)["access"]
    response = post(
        client,
        "/api/payments/mpesa/initiate/",
        {"amount": 5, "phone_number": "0712345678", "payment_type": "renewal"},
        token,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and "KES 1,000" in error["fields"]["amount"][0]
    assert not Payment.objects.exists()


def test_field_errors_are_listed_in_one_shape(client, member):
    token = login(client)["access"]
    response = post(client, "/api/payments/mpesa/initiate/", {"payment_type": "gift"}, token)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"amount", "phone_number", "payment_type"}


def test_a_wrong_password_is_a_400_without_detail_and_is_audited(client, member):
    response = post(client, "/api/auth/login/", {"username": "member@example.com", "password": "nope"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The email or password is not right."
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED).count() == 1


def test_no_token_is_a_401_in_the_same_shape(client, member):
    response = client.get("/api/members/profile/")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


@pytest.mark.security_check(1)
def test_another_members_payment_is_404(client, member, bob):
    theirs = Payment.objects.create(
        member=bob, payment_type="registration", amount=5000, phone_number=bob.phone_number, result_description="BOBS"
    )
    their_object(Payment, theirs.pk, member__user__email="bob@example.com", reference=theirs.reference)
    before = row_of(theirs)
    token = login(client)["access"]
    for path in (f"/api/payments/{theirs.reference}/status/", f"/api/payments/{theirs.reference.lower()}/status/"):
        response = get(client, path, token)
        assert response.status_code == 404, path
        assert_nothing_of(bob, response, theirs.reference, "BOBS", "5000")
    assert row_of(theirs) == before  # asking did not touch it (no status query on Bob's behalf)
    # The same request for one of the caller's own payments answers: the 404 was about whose it is.
    own = Payment.objects.create(member=member, payment_type="renewal", amount=1000, phone_number=member.phone_number)
    assert get(client, f"/api/payments/{own.reference}/status/", token).status_code == 200


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client, member):
    tokens = login(client)
    response = post(client, "/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    rotated = response.json()
    assert rotated["refresh"] != tokens["refresh"] and "access" in rotated
    again = post(client, "/api/auth/refresh/", {"refresh": tokens["refresh"]})
    assert again.status_code == 401


def test_logout_blacklists_the_refresh_token(client, member):
    tokens = login(client)
    assert post(client, "/api/auth/logout/", {"refresh": tokens["refresh"]}, tokens["access"]).status_code == 204
    assert post(client, "/api/auth/refresh/", {"refresh": tokens["refresh"]}).status_code == 401


def test_logins_are_throttled_per_username_with_a_retry_after(client, member, monkeypatch):
    from api.auth import LoginThrottle

    monkeypatch.setattr(LoginThrottle, "rate", "3/hour", raising=False)  # the setting is API_THROTTLE_LOGIN
    for _ in range(3):
        post(client, "/api/auth/login/", {"username": "member@example.com", "password": "wrong"})
    response = post(client, "/api/auth/login/", {"username": "member@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["retry_after_seconds"] > 0
    # Another username from the same address is not locked out by this one's attempts.
    assert post(client, "/api/auth/login/", {"username": "x@example.com", "password": "y"}).status_code == 400


def test_an_account_without_membership_gets_404_for_member_endpoints(client, staff_user):
    from tests.two_factor import app_code, app_device

    body = {"username": staff_user.email, "password": PASSWORD, "otp": app_code(app_device(staff_user))}
    tokens = post(client, "/api/auth/login/", body).json()  # staff log in with their two-factor code
    assert get(client, "/api/members/profile/", tokens["access"]).status_code == 404


# --- OpenAPI ---------------------------------------------------------------------------------------------------


def test_the_schema_is_openapi_3_and_lists_the_brief_paths(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/auth/login/",
        "/api/auth/refresh/",
        "/api/members/profile/",
        "/api/payments/history/",
        "/api/payments/mpesa/initiate/",
        "/api/payments/{payment_reference}/status/",
    } <= set(schema["paths"])


def test_the_docs_page_loads_nothing_from_another_host(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    for marker in ("https://", "http://", "//cdn"):
        assert marker not in page.replace("http://testserver", ""), marker


# --- Reference data (public) -------------------------------------------------------------------------------


def test_categories_countries_and_regions_need_no_token(client, reference_data, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        categories = client.get("/api/categories/")
    assert categories.status_code == 200 and "max-age=3600" in categories["Cache-Control"]
    full = next(c for c in categories.json() if c["code"] == "full")
    assert full["registration_fee"] == 5000 and "national_id" in full["required_documents"]
    countries = client.get("/api/countries/").json()
    assert {"code": "KE", "name": "Kenya"}.items() <= next(c for c in countries if c["code"] == "KE").items()
    regions = client.get("/api/countries/ke/regions/").json()
    assert len(regions) == 47 and {"code": "047", "name": "Nairobi City"} in regions


def test_regions_of_an_unknown_country_are_404_in_the_error_shape(client, reference_data):
    response = client.get("/api/countries/XX/regions/")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


@pytest.mark.parametrize("body", [[None, None], "a string", {"username": ["a@example.com"], "password": "x"}])
def test_a_login_body_of_the_wrong_shape_is_a_400_not_a_500(client, body):
    # Found by the Schemathesis run: a JSON list reached the per-username throttle, which expected a mapping.
    response = post(client, "/api/auth/login/", body)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == 400
