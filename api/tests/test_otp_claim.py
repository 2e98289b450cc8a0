"""Security check 19 on the API: two-factor follows the role for tokens already issued too.

A token carries `otp`: whether the login its family began with gave a second factor. A member's tokens say
false; once the member is given a staff role, those tokens reach nothing (not the staff API, not even their
own profile) and cannot be refreshed: the answer is a 401 "two_factor_required" asking to log in again,
which for a staff role means with the code.
"""

import base64
import json

import pytest
from django.contrib.auth.models import Group
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.roles import ADMIN, FINANCE, STAFF
from tests.factories import PASSWORD
from tests.two_factor import app_code, give_two_factor

from .test_api import get, login, post

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(19)]

STAFF_LIST = "/api/staff/members/"
OWN_PROFILE = "/api/members/profile/"


def refresh(client, token):
    return post(client, "/api/auth/refresh/", {"refresh": token})


def assert_two_factor_refusal(response):
    assert response.status_code == 401, response.content
    body = response.json()
    assert "access" not in body and "results" not in body and "membership_number" not in body
    assert body["error"]["code"] == "two_factor_required"
    assert body["error"]["message"] == "Two-factor required: log in again with your authenticator code."


@pytest.mark.parametrize("role", [STAFF, FINANCE, ADMIN])
@pytest.mark.parametrize("sets_up_the_app", [False, True], ids=["no-app", "app-set-up"])
def test_tokens_from_before_a_staff_role_stop_working(client, member, alice, role, sets_up_the_app):
    tokens = login(client)  # a member: no second factor asked
    assert get(client, OWN_PROFILE, tokens["access"]).status_code == 200
    assert get(client, STAFF_LIST, tokens["access"]).status_code == 403  # a member's reach, so far

    member.user.groups.add(Group.objects.get(name=role))
    device = give_two_factor(member.user) if sets_up_the_app else None

    for path in (STAFF_LIST, OWN_PROFILE, "/api/payments/history/", f"/api/staff/members/{alice.pk}/"):
        response = get(client, path, tokens["access"])
        assert_two_factor_refusal(response)
        assert b"alice" not in response.content.lower()
    assert_two_factor_refusal(refresh(client, tokens["refresh"]))
    assert AccessToken(tokens["access"])["otp"] is False and RefreshToken(tokens["refresh"])["otp"] is False

    if device is None:
        # Without the app set up there is no way in through the API (set it up on the website first).
        response = post(client, "/api/auth/login/", {"username": member.user.email, "password": PASSWORD})
        assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_setup_required"
        assert "access" not in response.json()
        return
    fresh = login_with_code(client, member.user.email, device)
    assert AccessToken(fresh["access"])["otp"] is True
    response = get(client, STAFF_LIST, fresh["access"])
    assert response.status_code == 200
    assert alice.user.email in response.content.decode() or str(alice.pk) in response.content.decode()


def login_with_code(client, email, device):
    response = post(client, "/api/auth/login/", {"username": email, "password": PASSWORD, "otp": app_code(device)})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_login_with_the_code_keeps_otp_through_every_rotation(client, member):
    member.user.groups.add(Group.objects.get(name=STAFF))
    device = give_two_factor(member.user)
    tokens = login_with_code(client, member.user.email, device)
    assert RefreshToken(tokens["refresh"])["otp"] is True
    for _ in range(3):
        rotated = refresh(client, tokens["refresh"])
        assert rotated.status_code == 200, rotated.content
        tokens = rotated.json()
        assert AccessToken(tokens["access"])["otp"] is True and RefreshToken(tokens["refresh"])["otp"] is True
        assert get(client, STAFF_LIST, tokens["access"]).status_code == 200


def test_a_member_who_turns_on_two_factor_gets_otp_and_one_who_did_not_keeps_working(client, member):
    plain = login(client)
    assert get(client, OWN_PROFILE, plain["access"]).status_code == 200
    assert refresh(client, plain["refresh"]).status_code == 200  # members choose: no code, still fine

    device = give_two_factor(member.user)
    with_code = login_with_code(client, member.user.email, device)
    assert AccessToken(with_code["access"])["otp"] is True


def test_a_forged_otp_claim_is_refused_by_the_signature(client, member):
    member.user.groups.add(Group.objects.get(name=STAFF))
    give_two_factor(member.user)
    access = AccessToken.for_user(member.user)
    header, payload, signature = str(access).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["otp"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    response = get(client, STAFF_LIST, f"{header}.{forged}.{signature}")
    assert response.status_code == 401
    assert "results" not in response.json()
