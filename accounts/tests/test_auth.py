"""Logging in and out, password reset and change, where people land, and the role groups."""

import json
import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.forms.models import model_to_dict

from accounts.roles import ADMIN, FINANCE, MEMBER, ROLE_PERMISSIONS, STAFF
from audit.models import AuditLog
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Blue-kettle-Sunrise-71"
RESET_LINK = re.compile(r"https?://[^/\s]+(/password/reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture
def member_user(alice):
    return alice.user


def _entry_text(entry):
    return json.dumps(model_to_dict(entry), default=str)


# --- Login ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["alice@example.com", "ALICE@Example.COM", "Alice@example.com"])
def test_a_member_logs_in_with_their_email_in_any_case(client, member_user, typed):
    response = client.post("/login/", {"username": typed, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(member_user.pk)


def test_a_successful_login_is_audited_with_the_ip_address(client, member_user):
    client.post(
        "/login/",
        {"username": "alice@example.com", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.77",
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN)
    assert entry.actor == member_user
    assert entry.ip_address == "198.51.100.77"
    assert entry.user_agent == "TestBrowser/1.0"
    assert PASSWORD not in _entry_text(entry)


@pytest.mark.security_check(11)
def test_the_session_id_changes_at_login(client, member_user):
    from django.contrib.sessions.models import Session

    before = client.session
    before["visited"] = True
    before.save()
    old_key = before.session_key
    assert Session.objects.filter(session_key=old_key).exists()

    client.post("/login/", {"username": "alice@example.com", "password": PASSWORD})

    assert client.cookies["sessionid"].value != old_key
    assert client.session[SESSION_KEY] == str(member_user.pk)
    assert not Session.objects.filter(session_key=old_key).exists()


def test_a_failed_login_is_audited_with_the_username_and_ip_but_never_the_password(client, member_user):
    wrong = "Not-The-Password-9431"
    response = client.post("/login/", {"username": "Alice@Example.com", "password": wrong}, REMOTE_ADDR="203.0.113.50")
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert "Please enter a correct" in response.content.decode()

    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    # The address as the login compares and counts it (core.emails), so one account's failures read alike.
    assert entry.data == {"username": "alice@example.com"}
    assert entry.ip_address == "203.0.113.50"
    assert entry.actor is None
    assert wrong not in _entry_text(entry)
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()


def test_a_failed_login_for_an_unknown_email_is_audited_too(client, reference_data):
    client.post("/login/", {"username": "nobody@example.com", "password": "whatever-it-is"}, REMOTE_ADDR="192.0.2.4")
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert entry.data == {"username": "nobody@example.com"}
    assert entry.ip_address == "192.0.2.4"
    assert "whatever-it-is" not in _entry_text(entry)


def test_a_deactivated_account_cannot_log_in(client, member_user):
    member_user.is_active = False
    member_user.save()
    response = client.post("/login/", {"username": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session


# --- Logout --------------------------------------------------------------------------------------------


@pytest.mark.security_check(11)
def test_logout_by_post_ends_the_session_and_is_audited(client, member_user):
    client.force_login(member_user)
    old_session = client.session.session_key
    response = client.post("/logout/", REMOTE_ADDR="198.51.100.5")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert SESSION_KEY not in client.session
    assert client.get("/portal/").status_code == 302

    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=old_session).exists(), "ended server-side"
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGOUT)
    assert entry.actor == member_user and entry.ip_address == "198.51.100.5"


def test_logout_by_get_is_refused_and_keeps_the_session(client, member_user):
    client.force_login(member_user)
    assert client.get("/logout/").status_code == 405
    assert client.session[SESSION_KEY] == str(member_user.pk)


# --- Password reset and change ------------------------------------------------------------------------


def test_password_reset_sends_a_link_that_sets_a_new_password(client, member_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the email leaves from the outbox on commit
        response = client.post("/password/reset/", {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    link = RESET_LINK.search(message.body)
    assert link, message.body

    response = client.get(link.group(1), follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    assert form_url.endswith("/set-password/")

    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/done/"
    member_user.refresh_from_db()
    assert member_user.check_password(NEW_PASSWORD)
    assert not member_user.check_password(PASSWORD)

    entry = AuditLog.objects.get(action=AuditLog.Action.PASSWORD_CHANGED)
    assert entry.actor == member_user
    assert entry.data == {"how": "reset"}
    assert NEW_PASSWORD not in _entry_text(entry)

    # The link works once only.
    again = client.get(link.group(1), follow=True)
    assert again.status_code == 200
    assert b'name="new_password1"' not in again.content

    assert client.login(email="alice@example.com", password=NEW_PASSWORD)


def test_password_reset_for_an_unknown_email_sends_nothing_and_reveals_nothing(
    client, member_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/password/reset/", {"email": "alice@example.com"})
        unknown = client.post("/password/reset/", {"email": "nobody@example.com"})
    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"]
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_a_forged_reset_link_does_not_change_the_password(client, member_user):
    response = client.get("/password/reset/MQ/abc-0123456789abcdef/", follow=True)
    assert b'name="new_password1"' not in response.content
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)


def test_password_change_needs_the_old_password_and_is_audited(client, member_user):
    client.force_login(member_user)
    refused = client.post(
        "/password/change/",
        {
            "old_password": "wrong-old-password",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert refused.status_code == 200
    member_user.refresh_from_db()
    assert member_user.check_password(PASSWORD)

    response = client.post(
        "/password/change/",
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        REMOTE_ADDR="198.51.100.9",
    )
    assert response.status_code == 302
    assert response["Location"] == "/password/change/done/"
    member_user.refresh_from_db()
    assert member_user.check_password(NEW_PASSWORD)
    # Still signed in after the change.
    assert client.get("/password/change/done/").status_code == 200

    entry = AuditLog.objects.get(action=AuditLog.Action.PASSWORD_CHANGED)
    assert entry.actor == member_user and entry.data == {"how": "change"}
    assert entry.ip_address == "198.51.100.9"
    assert NEW_PASSWORD not in _entry_text(entry) and PASSWORD not in _entry_text(entry)


def test_password_change_needs_a_login(client):
    response = client.get("/password/change/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- Where people land --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["staff_user", "finance_user", "admin_user"])
def test_home_sends_staff_to_the_staff_pages(client, request, fixture):
    client.force_login(request.getfixturevalue(fixture))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/staff/"


def test_home_sends_members_to_their_portal(client, member_user):
    client.force_login(member_user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"


def test_home_sends_a_freshly_logged_in_member_to_the_portal(client, member_user):
    response = client.post("/login/", {"username": "alice@example.com", "password": PASSWORD}, follow=True)
    assert response.redirect_chain == [("/", 302), ("/portal/", 302)]
    assert response.status_code == 200


def test_home_shows_the_landing_page_to_visitors(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert b"/register/" in response.content


def test_the_is_staff_flag_alone_does_not_open_the_staff_pages(client, db):
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/").status_code == 200
    assert client.get("/staff/").status_code == 403


# --- Role groups ------------------------------------------------------------------------------------------


def _permissions(group):
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_four_role_groups_exist_after_migrations(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"Admin", "Staff", "Finance", "Member"}


def test_each_role_group_holds_exactly_its_permissions(db):
    assert _permissions(Group.objects.get(name=STAFF)) == set(ROLE_PERMISSIONS[STAFF])
    assert _permissions(Group.objects.get(name=FINANCE)) == set(ROLE_PERMISSIONS[FINANCE])
    assert _permissions(Group.objects.get(name=MEMBER)) == set()
    assert Group.objects.get(name=ADMIN).permissions.count() == Permission.objects.count()


def test_the_roles_split_the_work_as_designed(db):
    staff = _permissions(Group.objects.get(name=STAFF))
    finance = _permissions(Group.objects.get(name=FINANCE))
    admin = _permissions(Group.objects.get(name=ADMIN))
    # Staff review; they do not take money.
    assert {
        "members.view_member",
        "members.review_application",
        "members.view_document",
        "members.review_document",
    } <= staff
    assert "members.record_offline_payment" not in staff
    # Finance takes money; it does not see or judge documents or applications.
    assert {"members.view_member", "members.record_offline_payment"} <= finance
    assert not finance & {"members.view_document", "members.review_document", "members.review_application"}
    # Nobody but Admin manages accounts, roles or the audit trail.
    for perms in (staff, finance):
        assert not {p for p in perms if p.startswith(("accounts.", "auth.", "audit."))}
        assert not {p for p in perms if p.split(".")[1].startswith("delete_")}
    assert {"accounts.change_user", "auth.change_group", "audit.view_auditlog"} <= admin
