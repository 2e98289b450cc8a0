"""Emails are one spelling wherever they are compared or counted (core.emails.normalise_email): a look-alike
(long s, fullwidth letters, another case) neither gets its own failed-login count nor a second account."""

import datetime
import json

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError

from accounts.security import axes_username
from audit.models import AuditLog
from core.emails import normalise_email
from members.forms import RegistrationForm
from members.profile import EMAIL_TAKEN, member_update_profile
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(21)]

ATTACKER = "203.0.113.66"
BOB = "bob@sec.test"
LONG_S = "BOB@sec.te\u017ft"  # ſ, LATIN SMALL LETTER LONG S
FULLWIDTH = "\uff42\uff4f\uff42\uff20\uff53\uff45\uff43\uff0e\uff54\uff45\uff53\uff54"  # ｂｏｂ＠ｓｅｃ．ｔｅｓｔ
LOOK_ALIKES = [BOB, LONG_S, FULLWIDTH]
WRONG = "Wrong-password-123"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
    cache.clear()  # the API's throttle counters
    yield
    cache.clear()


@pytest.fixture
def bob_user(db):
    return get_user_model().objects.create_user(BOB, PASSWORD, first_name="Bob", last_name="Sec")


def web_login(client, username, password=WRONG):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ATTACKER)


def api_login(client, username, password=WRONG):
    body = json.dumps({"username": username, "password": password})
    return client.post("/api/auth/login/", body, content_type="application/json", REMOTE_ADDR=ATTACKER)


@pytest.mark.parametrize("typed", [LONG_S, FULLWIDTH, "Bob@Sec.Test", " bob@sec.test "])
def test_look_alike_spellings_normalise_to_the_stored_address(typed):
    assert normalise_email(typed) == BOB
    assert axes_username(None, {"username": typed}) == BOB


def test_stored_ascii_addresses_are_already_normal():
    """Why no data migration: existing addresses were stored lower-cased, which is their normal form."""
    for stored in ("alice@example.com", "jane.o-doe+tag@mail.example.co.ke"):
        assert normalise_email(stored) == stored == stored.lower()


def test_failed_web_logins_under_look_alike_spellings_share_one_lockout(client, bob_user):
    responses = [web_login(client, typed) for typed in LOOK_ALIKES]
    assert [r.status_code for r in responses] == [200, 200, 429]

    # The lockout holds whichever spelling comes next, with the right password.
    for typed in LOOK_ALIKES:
        assert web_login(client, typed, PASSWORD).status_code == 429
        assert SESSION_KEY not in client.session


def test_failed_api_logins_under_look_alike_spellings_share_one_lockout(client, bob_user):
    responses = [api_login(client, typed) for typed in LOOK_ALIKES]
    assert [r.status_code for r in responses] == [400, 400, 429]
    for typed in LOOK_ALIKES:
        response = api_login(client, typed, PASSWORD)
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "locked_out"


def test_a_look_alike_logs_in_to_the_one_account_it_spells(client, bob_user):
    assert web_login(client, FULLWIDTH, PASSWORD).status_code == 302
    assert client.session[SESSION_KEY] == str(bob_user.pk)


def test_new_accounts_are_stored_in_the_normal_form(db):
    user = get_user_model().objects.create_user(FULLWIDTH, PASSWORD, first_name="B", last_name="S")
    assert user.email == BOB


def test_registration_refuses_a_look_alike_of_an_existing_account(bob_user):
    form = RegistrationForm(data={"email": LONG_S})
    form.is_valid()
    assert "already exists" in " ".join(form.errors["email"])


def test_a_profile_cannot_take_a_look_alike_of_another_members_address(alice, bob_user):
    with pytest.raises(ValidationError) as error:
        member_update_profile(member=alice, actor=alice.user, data={"email": LONG_S})
    assert error.value.message_dict["email"] == [EMAIL_TAKEN]
    alice.user.refresh_from_db()
    assert alice.user.email == "alice@example.com"


def test_a_password_reset_for_a_look_alike_reaches_the_account(client, bob_user):
    client.post("/password/reset/", {"email": FULLWIDTH}, REMOTE_ADDR=ATTACKER)
    assert AuditLog.objects.filter(action=AuditLog.Action.PASSWORD_RESET_REQUESTED, target_id=str(bob_user.pk)).exists()
