"""Sessions on the web: a new id at login, logout ends it on the server, the idle timeout, a password change
ends the other sessions, and changing email, phone or two-factor asks for the password again."""

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError

from accounts.middleware import LAST_ACTIVITY_KEY
from audit.models import AuditLog
from tests.clients import Client
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(11)]

NEW_PASSWORD = "Blue-kettle-Sunrise-71"


@pytest.fixture
def member_user(alice):
    return alice.user


def log_in(client, user):
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client.cookies["sessionid"].value


def test_the_session_id_changes_at_login_and_the_old_one_is_gone(client, member_user):
    client.get("/login/")  # an anonymous session, with the CSRF cookie
    session = client.session
    session["visited"] = True
    session.save()
    before = session.session_key

    after = log_in(client, member_user)

    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    thief = Client()
    thief.cookies["sessionid"] = before
    assert thief.get("/portal/").status_code == 302, "the pre-login id opens nothing"


def test_after_logout_the_old_session_cookie_opens_nothing(client, member_user):
    key = log_in(client, member_user)
    assert client.get("/portal/").status_code == 200
    client.post("/logout/")

    assert not Session.objects.filter(session_key=key).exists()
    replay = Client()
    replay.cookies["sessionid"] = key
    response = replay.get("/portal/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def _idle_for(client, minutes):
    """Move the session's last activity back instead of waiting."""
    session = client.session
    session[LAST_ACTIVITY_KEY] = int(time.time()) - minutes * 60
    session.save()


def test_an_idle_session_is_ended_and_the_member_is_told(client, member_user, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    key = log_in(client, member_user)
    _idle_for(client, 29)
    assert client.get("/portal/").status_code == 200, "29 minutes idle: still signed in"

    _idle_for(client, 31)
    response = client.get("/portal/profile/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/portal/profile/"
    assert not Session.objects.filter(session_key=key).exists()
    assert SESSION_KEY not in client.session
    page = client.get(response["Location"])
    assert "logged out after 30 minutes without activity" in page.content.decode()
    entry = AuditLog.objects.filter(action=AuditLog.Action.LOGOUT).get()
    assert entry.actor == member_user and entry.data == {"reason": "idle"}


def test_activity_keeps_the_session_alive(client, member_user, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    log_in(client, member_user)
    _idle_for(client, 20)
    assert client.get("/portal/").status_code == 200
    assert time.time() - client.session[LAST_ACTIVITY_KEY] < 60, "the request counted as activity"


def test_the_idle_timeout_applies_to_staff_too(client, staff_user, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    client.force_login(staff_user)
    _idle_for(client, 45)
    assert client.get("/staff/")["Location"] == "/login/?next=/staff/"


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(client, member_user):
    other_device = Client()
    log_in(other_device, member_user)
    log_in(client, member_user)
    assert other_device.get("/portal/").status_code == 200

    response = client.post(
        "/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    assert client.get("/portal/").status_code == 200, "this session stays"
    response = other_device.get("/portal/")
    assert response.status_code == 302 and response["Location"].startswith("/login/"), "the other one is over"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "someone.else@example.com"}, "Enter your current password to change your email address."),
        ({"phone_number": "0722000111"}, "Enter your current password to change your phone number."),
    ],
)
def test_changing_email_or_phone_asks_for_the_password(client, alice, change, message):
    client.force_login(alice.user)
    form = client.get("/portal/profile/").context["form"]
    data = {name: value for name, value in form.initial.items() if value not in (None, False)}
    data = {key: ("on" if value is True else value) for key, value in data.items()}
    response = client.post("/portal/profile/", {**data, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    response = client.post("/portal/profile/", {**data, **change, "current_password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "password", ["password123", "qwertyuiop", "iloveyou12", "1234567890", "alice@example.com", "short-1"]
)
def test_common_short_or_numeric_passwords_are_refused(client, member_user, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=member_user)
    client.force_login(member_user)
    response = client.post(
        "/password/change/", {"old_password": PASSWORD, "new_password1": password, "new_password2": password}
    )
    assert response.status_code == 200
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_a_long_uncommon_password_is_accepted(member_user):
    validate_password(NEW_PASSWORD, user=member_user)
