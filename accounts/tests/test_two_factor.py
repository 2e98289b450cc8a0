"""Two-factor authentication (django-otp): the login's second step, recovery codes, the set-up that staff
cannot skip, the admin site, members turning it on and off, and the API login's `otp`."""

import json
import re
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor_views import NEW_CODES_KEY, PENDING_KEY
from api.auth import SessionRefreshToken
from audit.models import AuditLog
from tests.factories import PASSWORD, UserFactory
from tests.two_factor import app_code, app_device, give_two_factor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def member_user(alice):
    return alice.user


@pytest.fixture
def member_with_app(member_user):
    return member_user, give_two_factor(member_user)


def password_step(client, email, next_url=""):
    path = f"/login/?next={next_url}" if next_url else "/login/"
    return client.post(path, {"username": email, "password": PASSWORD})


def events(name):
    return AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, data__event=name)


def recovery_code(user):
    return StaticToken.objects.filter(device__user=user).values_list("token", flat=True).first()


def no_inline_script(html: str) -> bool:
    return all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))


# --- The login's second step --------------------------------------------------------------------------------


@pytest.mark.security_check(9)
def test_with_an_app_the_password_alone_does_not_sign_in(client, member_with_app):
    user, device = member_with_app
    response = password_step(client, user.email, next_url="/portal/profile/")
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
    assert SESSION_KEY not in client.session
    assert client.get("/portal/").status_code == 302  # still anonymous
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()

    page = client.get("/login/verify/")
    assert page.status_code == 200 and b'name="code"' in page.content
    before = client.session.session_key
    response = client.post("/login/verify/", {"code": app_code(device)})
    assert response.status_code == 302 and response["Location"] == "/portal/profile/"
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.session.session_key != before, "a new session id once signed in"
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGIN, actor=user).count() == 1


@pytest.mark.security_check(9)
def test_a_used_code_is_refused_the_second_time(client, member_with_app):
    user, device = member_with_app
    code = app_code(device)
    password_step(client, user.email)
    assert client.post("/login/verify/", {"code": code}).status_code == 302
    client.post("/logout/")

    password_step(client, user.email)
    response = client.post("/login/verify/", {"code": code})
    assert response.status_code == 400
    assert "used already" in response.content.decode()
    assert SESSION_KEY not in client.session
    device.refresh_from_db()
    assert device.last_t >= 0  # django-otp remembered the step the code was for
    failed = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert failed.data == {"username": user.email, "stage": "second_factor"}
    assert code not in json.dumps(failed.data)


def test_a_wrong_code_does_not_sign_in_and_counts_toward_the_lockout(client, member_with_app, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user, _ = member_with_app
    password_step(client, user.email)
    assert client.post("/login/verify/", {"code": "000000"}).status_code == 400
    assert client.post("/login/verify/", {"code": "111111"}).status_code == 400
    response = client.post("/login/verify/", {"code": "222222"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert SESSION_KEY not in client.session
    # The password alone cannot start a new second step from this address meanwhile.
    assert password_step(client, user.email).status_code == 429


def test_a_recovery_code_works_once_and_its_use_is_audited(client, member_with_app):
    user, _ = member_with_app
    code = recovery_code(user)
    password_step(client, user.email)
    response = client.post("/login/verify/", {"code": code.upper()}, follow=True)
    assert response.status_code == 200
    assert "9 left" in response.content.decode()
    assert client.session[SESSION_KEY] == str(user.pk)
    entry = events("recovery_code_used").get()
    assert entry.actor == user and entry.data["codes_left"] == 9 and code not in json.dumps(entry.data)
    client.post("/logout/")

    password_step(client, user.email)
    assert client.post("/login/verify/", {"code": code}).status_code == 400
    assert SESSION_KEY not in client.session


def test_the_second_step_expires(client, member_with_app):
    user, device = member_with_app
    password_step(client, user.email)
    session = client.session
    session[PENDING_KEY] = {**session[PENDING_KEY], "at": int(time.time()) - 6 * 60}  # the clock moved on
    session.save()
    response = client.post("/login/verify/", {"code": app_code(device)})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert SESSION_KEY not in client.session


def test_the_second_step_without_a_password_step_goes_back_to_login(client, db):
    assert client.get("/login/verify/")["Location"] == "/login/"


def test_after_a_wrong_code_the_next_try_must_wait(client, member_with_app):
    user, device = member_with_app
    password_step(client, user.email)
    client.post("/login/verify/", {"code": "000000"})
    response = client.post("/login/verify/", {"code": app_code(device)})
    assert response.status_code == 400
    assert "Wait" in response.content.decode()
    assert SESSION_KEY not in client.session


# --- Staff: mandatory ----------------------------------------------------------------------------------------


@pytest.fixture
def new_staff(db):
    from django.contrib.auth.models import Group

    user = UserFactory(email="new.staff@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name="Staff"))
    return user


@pytest.mark.security_check(9)
def test_staff_without_an_app_reach_no_staff_page_until_it_is_set_up(client, new_staff, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the wrong code below (the wait is tested apart)
    response = password_step(client, new_staff.email)
    assert response.status_code == 302
    for path in ("/staff/", "/staff/members/", "/admin/", "/portal/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/account/two-factor/setup/", path

    page = client.get("/account/two-factor/setup/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'id="totp-key"' in html
    assert no_inline_script(html) and "style=" not in html.split('id="totp-qr"')[1].split("</div>")[0]
    device = TOTPDevice.objects.get(user=new_staff, confirmed=False)
    assert device.key not in html  # the hex key never; the base32 key is shown for typing in

    # The password is asked for again, and a wrong code is refused.
    assert (
        client.post("/account/two-factor/setup/", {"code": app_code(device), "current_password": "x"}).status_code
        == 400
    )
    assert (
        client.post("/account/two-factor/setup/", {"code": "123456", "current_password": PASSWORD}).status_code == 400
    )
    response = client.post("/account/two-factor/setup/", {"code": app_code(device), "current_password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/account/two-factor/recovery-codes/"

    codes_page = client.get("/account/two-factor/recovery-codes/")
    codes = codes_page.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in codes_page.content.decode() for code in codes)
    assert client.get("/account/two-factor/recovery-codes/").context["codes"] is None, "shown once"
    assert NEW_CODES_KEY not in client.session

    assert client.get("/staff/").status_code == 200
    assert events("two_factor_enabled").get().actor == new_staff


def test_staff_with_an_app_but_a_session_without_the_code_must_log_in_again(client, staff_user):
    client.force_login(staff_user, otp_verified=False)
    response = client.get("/staff/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/staff/"
    assert SESSION_KEY not in client.session


def test_staff_log_in_with_the_code_and_reach_the_staff_pages(client, staff_user):
    response = password_step(client, staff_user.email)
    assert response["Location"] == "/login/verify/"
    response = client.post("/login/verify/", {"code": app_code(app_device(staff_user))}, follow=True)
    assert response.redirect_chain[-1][0] == "/staff/"
    assert response.status_code == 200


def test_the_admin_site_needs_the_second_step(client, db):
    superuser = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    device = give_two_factor(superuser)
    password_step(client, superuser.email, next_url="/admin/")
    response = client.post("/login/verify/", {"code": app_code(device)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_site_refuses_a_signed_in_member_without_a_loop(client, member_user):
    client.force_login(member_user)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403


def test_staff_cannot_turn_two_factor_off(client, staff_user):
    client.force_login(staff_user)
    response = client.post("/account/two-factor/disable/", {"current_password": PASSWORD})
    assert response.status_code == 302
    assert app_device(staff_user) is not None
    assert not events("two_factor_disabled").exists()


# --- Members: optional, changes need the password ----------------------------------------------------------


@pytest.mark.security_check(11)
def test_a_member_turns_it_on_and_off_with_their_password(client, member_user):
    client.force_login(member_user)
    assert client.get("/portal/").status_code == 200, "members are not made to set it up"
    page = client.get("/account/two-factor/")
    assert page.context["enabled"] is False

    client.get("/account/two-factor/setup/")
    device = TOTPDevice.objects.get(user=member_user)
    response = client.post("/account/two-factor/setup/", {"code": app_code(device), "current_password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/account/two-factor/").context["enabled"] is True

    refused = client.post("/account/two-factor/disable/", {"current_password": "Not-my-password-1"})
    assert refused.status_code == 400
    assert app_device(member_user) is not None

    response = client.post("/account/two-factor/disable/", {"current_password": PASSWORD})
    assert response.status_code == 302
    assert app_device(member_user) is None
    assert not StaticToken.objects.filter(device__user=member_user).exists()
    assert [e.data["event"] for e in AuditLog.objects.filter(data__has_key="event").order_by("id")] == [
        "two_factor_enabled",
        "two_factor_disabled",
    ]
    # The next login is the password alone again.
    client.post("/logout/")
    assert password_step(client, member_user.email)["Location"] == "/"


@pytest.mark.security_check(11)
def test_new_recovery_codes_need_the_password_and_replace_the_old(client, member_with_app):
    user, _ = member_with_app
    old = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    client.force_login(user)
    assert client.post("/account/two-factor/recovery-codes/new/", {"current_password": "wrong"}).status_code == 400
    response = client.post("/account/two-factor/recovery-codes/new/", {"current_password": PASSWORD}, follow=True)
    new = set(response.context["codes"])
    assert len(new) == 10 and not new & old
    assert set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True)) == new
    assert events("recovery_codes_regenerated").exists()


def test_replacing_the_app_keeps_one_device(client, member_with_app):
    user, old = member_with_app
    client.force_login(user)
    client.get("/account/two-factor/setup/")
    new = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post("/account/two-factor/setup/", {"code": app_code(new), "current_password": PASSWORD})
    assert response.status_code == 302
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [new.pk]
    assert events("two_factor_changed").exists()


# --- The API login -----------------------------------------------------------------------------------------


def api_login(client, email, **extra):
    body = {"username": email, "password": PASSWORD, **extra}
    return client.post("/api/auth/login/", json.dumps(body), content_type="application/json")


@pytest.mark.security_check(9)
def test_the_api_login_asks_for_the_code_and_refuses_it_twice(client, member_with_app, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the wrong code below
    user, device = member_with_app
    response = api_login(client, user.email)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_required"

    response = api_login(client, user.email, otp="000000")
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_invalid"

    code = app_code(device)
    response = api_login(client, user.email, otp=code)
    assert response.status_code == 200 and set(response.json()) == {"access", "refresh"}
    again = api_login(client, user.email, otp=code)
    assert again.status_code == 401 and again.json()["error"]["code"] == "otp_invalid"


def test_the_api_login_takes_a_recovery_code_once(client, member_with_app):
    user, _ = member_with_app
    code = recovery_code(user)
    assert api_login(client, user.email, otp=code).status_code == 200
    assert events("recovery_code_used").get().data["channel"] == "api"
    assert api_login(client, user.email, otp=code).status_code == 401


def test_staff_without_two_factor_get_no_api_tokens(client, new_staff):
    response = api_login(client, new_staff.email)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "two_factor_setup_required" and "set it up" in error["message"]


def test_staff_with_two_factor_log_in_to_the_api_with_the_code(client, finance_user):
    assert api_login(client, finance_user.email).status_code == 401
    response = api_login(client, finance_user.email, otp=app_code(app_device(finance_user)))
    assert response.status_code == 200


# --- The role, not the is_staff flag (finding 9 of issue 13) -------------------------------------------------


def role_without_flag(role, email, *, with_app=False):
    """A user in a staff role whose is_staff flag was left unticked (the flag opens nothing by itself)."""
    from django.contrib.auth.models import Group

    user = UserFactory(email=email, is_staff=False)
    user.groups.add(Group.objects.get(name=role))
    if with_app:
        give_two_factor(user)
    return user


@pytest.fixture
def bobs_paid_payment(bob):
    from django.utils import timezone

    from payments.models import Payment

    return Payment.objects.create(
        member=bob,
        payment_type="registration",
        amount=1000,
        status=Payment.Status.COMPLETED,
        receipt_number="RCT-2026-000009",
        completed_at=timezone.now(),
        phone_number=bob.phone_number,
    )


@pytest.mark.security_check(19)
@pytest.mark.parametrize("page", ["detail", "receipt"])
def test_finance_without_the_flag_must_set_up_two_factor_before_another_members_payment(
    client, bobs_paid_payment, page
):
    finance = role_without_flag("Finance", "fin.noflag@example.com")
    url = f"/payments/{bobs_paid_payment.reference}/" + ("receipt/" if page == "receipt" else "")

    client.force_login(finance, otp_verified=False)  # the password alone
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == "/account/two-factor/setup/"
    assert bobs_paid_payment.receipt_number.encode() not in response.content

    # Once set up and the code given, the role's reach is back: the page was refused for the second factor.
    client.force_login(finance)
    response = client.get(url)
    assert response.status_code == 200
    if page == "receipt":
        assert response["Content-Type"] == "application/pdf"
    else:
        assert bobs_paid_payment.reference.encode() in response.content


@pytest.mark.security_check(19)
def test_staff_without_the_flag_open_no_members_document_with_a_password_alone(client, bob):
    staff = role_without_flag("Staff", "staff.noflag@example.com", with_app=True)
    document = bob.documents.first()
    downloads = AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED, target_id=str(document.pk))

    client.force_login(staff, otp_verified=False)  # has the app, but this session never gave its code
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/login/?next=/documents/{document.pk}/"
    assert SESSION_KEY not in client.session, "the half-done session is ended"
    assert not downloads.exists()

    client.force_login(staff)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert downloads.get().actor == staff


@pytest.mark.security_check(19)
@pytest.mark.parametrize("role", ["Admin", "Staff", "Finance"])
def test_every_staff_role_needs_two_factor_on_member_pages_too(client, alice, role):
    user = role_without_flag(role, f"{role.lower()}.noflag@example.com")
    client.force_login(user, otp_verified=False)
    for path in ("/portal/", "/payments/", f"/documents/{alice.documents.first().pk}/", "/staff/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/account/two-factor/setup/", path


@pytest.mark.security_check(19)
def test_the_api_asks_a_role_without_the_flag_for_its_code(client, db):
    finance = role_without_flag("Finance", "fin.api@example.com")
    response = api_login(client, finance.email)
    assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_setup_required"
    assert "access" not in response.json()

    device = give_two_factor(finance)
    response = api_login(client, finance.email)
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_required"
    assert api_login(client, finance.email, otp=app_code(device)).status_code == 200


# --- Check 9 for every staff role, whatever its is_staff flag: web, API and downloads ------------------------


def bobs_download(role, bob, payment):
    """What the role may download of another member: Staff and Admin his ID document, Finance his receipt."""
    if role == "Finance":
        return f"/payments/{payment.reference}/receipt/", "application/pdf"
    return f"/documents/{bob.documents.first().pk}/", None


@pytest.mark.security_check(9)
@pytest.mark.parametrize("role", ["Admin", "Staff", "Finance"])
def test_a_staff_role_without_the_flag_signs_in_on_the_web_only_with_a_fresh_code(
    client, bob, bobs_paid_payment, role, settings
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the refused code below
    user = role_without_flag(role, f"{role.lower()}.web@example.com", with_app=True)
    assert not user.is_staff and not user.is_superuser  # the role alone
    device = app_device(user)
    download, content_type = bobs_download(role, bob, bobs_paid_payment)
    assert client.get(download).status_code == 302  # the download exists and is guarded (not a 404 by typo)
    pages = ("/staff/", "/staff/members/", download)
    downloads = AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED)

    # The password alone: no session, no staff page, no file.
    response = password_step(client, user.email, next_url=download)
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
    assert SESSION_KEY not in client.session
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path
        assert bob.user.email.encode() not in response.content and b"%PDF" not in response.content
    assert not downloads.exists()

    # With the app's code: in, and the file is served.
    code = app_code(device)
    response = client.post("/login/verify/", {"code": code})
    assert response.status_code == 302 and response["Location"] == download
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    for path in pages:
        assert client.get(path).status_code == 200, path
    response = client.get(download)
    assert response["Content-Disposition"].startswith("attachment")
    if content_type:
        assert response["Content-Type"] == content_type and response.content.startswith(b"%PDF")
    else:
        assert downloads.filter(actor=user).count() == 2

    # The same code again, after logging out: refused, and nothing is reachable.
    client.post("/logout/")
    password_step(client, user.email)
    response = client.post("/login/verify/", {"code": code})
    assert response.status_code == 400 and "used already" in response.content.decode()
    assert SESSION_KEY not in client.session
    for path in pages:
        assert client.get(path).status_code == 302, path


@pytest.mark.security_check(9)
@pytest.mark.parametrize("role", ["Admin", "Staff", "Finance"])
def test_a_staff_role_without_the_flag_gets_api_tokens_only_with_a_fresh_code(client, bob, role, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no wait after the wrong codes below
    user = role_without_flag(role, f"{role.lower()}.api@example.com")
    if role == "Finance":  # Finance reads members, not their ID documents
        target, expected = f"/api/staff/members/{bob.pk}/", bob.user.email.encode()
    else:
        target, expected = f"/api/staff/documents/{bob.documents.first().pk}/file/", None
    assert bob.documents.exists()

    response = api_login(client, user.email)
    assert response.status_code == 403 and response.json()["error"]["code"] == "two_factor_setup_required"
    assert "access" not in response.json()

    device = give_two_factor(user)
    response = api_login(client, user.email)
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_required"
    assert "access" not in response.json()
    response = api_login(client, user.email, otp="000000")
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_invalid"

    code = app_code(device)
    response = api_login(client, user.email, otp=code)
    assert response.status_code == 200
    answer = client.get(target, HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert answer.status_code == 200
    if expected:
        assert expected in answer.content
    else:
        assert answer["Content-Disposition"].startswith("attachment")
        assert answer["X-Content-Type-Options"] == "nosniff"

    again = api_login(client, user.email, otp=code)
    assert again.status_code == 401 and again.json()["error"]["code"] == "otp_invalid"
    assert "access" not in again.json()

    # A token whose login gave no code (as every token was before the otp claim) reaches nothing.
    unearned = str(SessionRefreshToken.for_user(user).access_token)
    refused = client.get(target, HTTP_AUTHORIZATION=f"Bearer {unearned}")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "two_factor_required"
    assert b"attachment" not in refused.content and bob.user.email.encode() not in refused.content
