"""Security check 25: malformed input (NUL characters, deeply nested JSON) is a 400 that says what was wrong,
never a 500, and nothing is changed by it.

PostgreSQL refuses a NUL in text (a search or save used to fail with DataError); the JSON decoder runs out of
stack on JSON nested 50,000 deep (RecursionError). Both ran on SQLite too: there the NUL went through.
"""

import json

import pytest
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from core.malformed_input import DEPTH_MESSAGE, MAX_JSON_DEPTH, NUL_MESSAGE, input_problem
from members.models import Member
from members.tests.test_profile import form_data, snapshot
from tests.factories import PASSWORD
from tests.two_factor import api_access_token

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(25)]

DEEP = 50_000


def deep_json(depth: int = DEEP, *, around: str = "username") -> str:
    """A JSON object whose `around` field holds lists nested `depth` deep."""
    return '{"%s": %s%s, "password": "x"}' % (around, "[" * depth, "]" * depth)  # noqa: UP031


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_access_token(user)}"}


@pytest.fixture
def strict_client(client):
    """A client that answers a server error as a 500 (as production does) instead of raising it."""
    client.raise_request_exception = False
    return client


# --- NUL characters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/staff/applications/?q=a%00b",  # the search of applications (member_search): DataError on PostgreSQL
        "/staff/members/?q=a%00b",
        "/staff/payments/PAY%00-1/",  # a payment reference in the URL
        "/staff/members/?a%00b=1",  # in a parameter's name
        "/api/staff/members/?search=a%00b",
    ],
)
def test_a_nul_in_a_staff_search_or_url_is_a_400(strict_client, admin_user, url):
    strict_client.force_login(admin_user)
    response = strict_client.get(url, **bearer(admin_user))
    assert response.status_code == 400, response.content[:500]


@pytest.mark.parametrize("url", ["/payments/PAY%00-1/", "/api/countries/K%00E/regions/"])
def test_a_nul_in_a_members_url_is_a_400(strict_client, alice, url):
    strict_client.force_login(alice.user)
    response = strict_client.get(url, **bearer(alice.user))
    assert response.status_code == 400, response.content[:500]


def test_the_api_says_what_was_wrong_with_a_nul(strict_client, admin_user):
    response = strict_client.get("/api/staff/members/?search=a%00b", **bearer(admin_user))
    assert response.status_code == 400
    assert response.json()["error"]["message"] == NUL_MESSAGE


@pytest.mark.parametrize("field", ["occupation", "postal_address", "email", "phone_number"])
def test_a_nul_in_a_profile_field_changes_nothing(strict_client, alice, field):
    strict_client.force_login(alice.user)
    before = snapshot(alice)
    data = form_data(alice, **{"occupation": "Engineer", field: "Kwa\x00Jomvu"}, current_password=PASSWORD)
    response = strict_client.post("/portal/profile/", data)
    assert response.status_code == 400
    assert snapshot(alice) == before


@pytest.mark.parametrize("field", ["occupation", "organisation", "other_names"])
def test_a_nul_in_a_profile_field_of_the_api_changes_nothing(strict_client, alice, field):
    before = snapshot(alice)
    body = {"occupation": "Engineer", field: "Kwa\x00Jomvu"}
    response = strict_client.patch(
        "/api/members/profile/", json.dumps(body), content_type="application/json", **bearer(alice.user)
    )
    assert response.status_code == 400, response.content[:500]
    assert response.json()["error"]["message"] == NUL_MESSAGE
    assert snapshot(alice) == before


def test_a_nul_in_a_form_sent_by_patch_changes_nothing(strict_client, alice):
    """A form body by PATCH is parsed by DRF, not Django: the parser refuses it too."""
    before = snapshot(alice)
    response = strict_client.patch(
        "/api/members/profile/",
        "occupation=Kwa%00Jomvu",
        content_type="application/x-www-form-urlencoded",
        **bearer(alice.user),
    )
    assert response.status_code == 400
    assert snapshot(alice) == before


def test_a_nul_in_the_web_login_form_is_a_400(strict_client, alice):
    response = strict_client.post("/login/", {"username": "alice@example.com\x00", "password": PASSWORD})
    assert response.status_code == 400
    assert "_auth_user_id" not in strict_client.session


# --- Deeply nested JSON ------------------------------------------------------------------------------------


def test_json_nested_50000_deep_on_login_is_a_400_and_logs_nobody_in(strict_client, alice):
    response = strict_client.post("/api/auth/login/", deep_json(), content_type="application/json")
    assert response.status_code == 400, response.content[:500]
    assert response.json()["error"]["message"] == DEPTH_MESSAGE
    assert not OutstandingToken.objects.exists()


def test_json_nested_50000_deep_on_a_profile_patch_changes_nothing(strict_client, alice):
    before = snapshot(alice)
    response = strict_client.patch(
        "/api/members/profile/",
        deep_json(around="occupation"),
        content_type="application/json",
        **bearer(alice.user),
    )
    assert response.status_code == 400, response.content[:500]
    assert response.json()["error"]["message"] == DEPTH_MESSAGE
    assert snapshot(alice) == before


def test_json_nested_50000_deep_on_registration_stores_nobody(strict_client, reference_data):
    """Registration lists its own parsers (multipart first): they are the same refusing ones."""
    response = strict_client.post("/api/members/register/", deep_json(around="email"), content_type="application/json")
    assert response.status_code == 400, response.content[:500]
    assert not Member.objects.exists()


def test_json_deeper_than_any_request_of_ours_is_refused_before_the_decoder_gives_up(strict_client, alice):
    before = snapshot(alice)
    response = strict_client.patch(
        "/api/members/profile/",
        deep_json(MAX_JSON_DEPTH + 1, around="occupation"),
        content_type="application/json",
        **bearer(alice.user),
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == DEPTH_MESSAGE
    assert snapshot(alice) == before


# --- What is refused -----------------------------------------------------------------------------------------


def test_input_problem_finds_a_nul_anywhere():
    assert input_problem({"a": ["b", {"c": "d\x00"}]}) == NUL_MESSAGE
    assert input_problem({"a\x00": 1}) == NUL_MESSAGE
    assert input_problem({"a": ["b", {"c": "d", "e": 1, "f": None, "g": True}]}) is None


def test_input_problem_counts_depth_without_recursing():
    nested: list = []
    for _ in range(DEEP):  # deeper than Python's recursion limit
        nested = [nested]
    assert input_problem(nested) == DEPTH_MESSAGE
    shallow: list = ["x"]
    for _ in range(MAX_JSON_DEPTH - 1):
        shallow = [shallow]
    assert input_problem(shallow) is None  # MAX_JSON_DEPTH lists, one inside the other
    assert input_problem([shallow]) == DEPTH_MESSAGE
