"""Security check 20: a password change or reset, or a deactivation, revokes every API refresh token, and
rotation never carries a token family past its absolute lifetime."""

import contextlib
import datetime
import re
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.factories import PASSWORD

from .test_api import login, post

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(20)]

NEW_PASSWORD = "Blue-kettle-Sunrise-71"
RESET_LINK = re.compile(r"https?://[^/\s]+(/password/reset/[^/\s]+/[^/\s]+/)")


def refresh(client, token):
    return post(client, "/api/auth/refresh/", {"refresh": token})


def assert_refused(client, token):
    response = refresh(client, token)
    assert response.status_code == 401, response.content
    assert "access" not in response.json()


def test_a_password_change_revokes_the_refresh_tokens(client, member, alice):
    own = login(client)["refresh"]
    others = login(client, email="alice@example.com")["refresh"]
    client.force_login(member.user)
    response = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert_refused(client, own)
    # Alice's tokens are hers: untouched.
    assert "access" in refresh(client, others).json()


def test_a_password_reset_revokes_the_refresh_tokens(client, member, alice, django_capture_on_commit_callbacks):
    own = login(client)["refresh"]
    others = login(client, email="alice@example.com")["refresh"]
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves from the outbox on commit
        client.post("/password/reset/", {"email": "member@example.com"})
    form_url = client.get(RESET_LINK.search(mail.outbox[0].body).group(1), follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == "/password/reset/done/"
    assert_refused(client, own)
    assert "access" in refresh(client, others).json()


def test_set_password_and_save_revokes_the_refresh_tokens(client, member):
    own = login(client)["refresh"]
    member.user.set_password(NEW_PASSWORD)
    member.user.save()
    assert_refused(client, own)


def test_a_deactivation_revokes_the_refresh_tokens(client, member, alice):
    own = login(client)["refresh"]
    others = login(client, email="alice@example.com")["refresh"]
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])  # as the admin's change form saves it
    assert BlacklistedToken.objects.filter(token__user=member.user).exists()
    assert_refused(client, own)
    assert "access" in refresh(client, others).json()


def test_an_unrelated_save_keeps_the_refresh_tokens(client, member):
    own = login(client)["refresh"]
    member.user.first_name = "Renamed"
    member.user.save()
    assert "access" in refresh(client, own).json()


@contextlib.contextmanager
def travel(moment):
    """simplejwt's clock and PyJWT's (which checks `iat` and `exp` again) both read `moment`.

    freezegun is not a dependency.
    """

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return moment.astimezone(tz)

    with (
        mock.patch("rest_framework_simplejwt.tokens.aware_utcnow", return_value=moment),
        mock.patch("rest_framework_simplejwt.utils.aware_utcnow", return_value=moment),
        mock.patch("jwt.api_jwt.datetime", Clock),
    ):
        yield


def test_rotation_stops_at_the_absolute_lifetime(client, member):
    """Each rotation gives a fresh `exp`, but the family ends JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS after login."""
    token = login(client)["refresh"]
    start = timezone.now()
    step = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] - datetime.timedelta(days=1)
    limit = datetime.timedelta(days=settings.JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS)
    assert step < limit
    elapsed = datetime.timedelta(0)
    while True:
        elapsed += step
        with travel(start + elapsed):
            response = refresh(client, token)
        if elapsed < limit:
            assert response.status_code == 200, (elapsed, response.content)
            token = response.json()["refresh"]
        else:
            assert response.status_code == 401, (elapsed, response.content)
            assert "access" not in response.json()
            break
