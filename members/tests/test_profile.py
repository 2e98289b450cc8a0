"""A member edits their own profile at /portal/profile/: contact details and notification channels.

Changing the email or phone asks for the password again; protected fields cannot be reached at all.
"""

import datetime
import html
import json

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditLog
from members.models import Member, MembershipCategory
from members.profile import member_update_profile
from notifications.models import Message, Notification
from notifications.services import member_channels, notify_member
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/portal/profile/"


def form_data(member, **overrides):
    """The profile form as the page fills it in, with `overrides` typed over it (None drops a field)."""
    data = {
        "email": member.user.email,
        "phone_number": member.phone_number,
        "other_names": member.other_names,
        "postal_address": member.postal_address,
        "physical_address": member.physical_address,
        "occupation": member.occupation,
        "organisation": member.organisation,
    }
    if member.notify_by_email:
        data["notify_by_email"] = "on"
    if member.notify_by_sms:
        data["notify_by_sms"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def snapshot(member):
    """Everything stored about the member and their account."""
    row = Member.objects.filter(pk=member.pk).values().get()  # every column, editable or not
    del row["updated_at"]
    return {**row, "email": Member.objects.get(pk=member.pk).user.email}


def page_text(response):
    return html.unescape(response.content.decode())


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice.user)
    return client


def test_the_page_shows_the_members_details_and_channels(logged_in, alice):
    response = logged_in.get(URL)
    assert response.status_code == 200
    page = page_text(response)
    assert 'value="alice@example.com"' in page
    assert f'value="{alice.phone_number}"' in page
    assert 'name="current_password"' in page
    assert 'name="notify_by_email" id="id_notify_by_email" checked' in page
    assert 'name="status"' not in page and 'name="category"' not in page and 'name="id_number"' not in page


def test_a_member_edits_contact_details_and_channels_without_a_password(logged_in, alice):
    response = logged_in.post(
        URL,
        form_data(
            alice,
            other_names="Wanjiku",
            postal_address="P.O. Box 30000-00100, Nairobi",
            physical_address="Ngong Road, Nairobi",
            occupation="Quantity surveyor",
            organisation="Kenya Rural Roads Authority",
            notify_by_sms=None,
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    alice.refresh_from_db()
    assert alice.other_names == "Wanjiku"
    assert alice.postal_address == "P.O. Box 30000-00100, Nairobi"
    assert alice.physical_address == "Ngong Road, Nairobi"
    assert alice.occupation == "Quantity surveyor"
    assert alice.organisation == "Kenya Rural Roads Authority"
    assert (alice.notify_by_email, alice.notify_by_sms) == (True, False)
    assert "Your profile has been saved." in page_text(logged_in.get("/portal/"))


def test_saving_an_unchanged_profile_writes_nothing(logged_in, alice):
    response = logged_in.post(URL, form_data(alice))
    assert response.status_code == 302
    assert not AuditLog.objects.filter(action=AuditLog.Action.PROFILE_CHANGED).exists()
    assert "Nothing to save" in page_text(logged_in.get("/portal/"))


def test_changing_the_email_with_the_right_password_changes_the_login(logged_in, alice):
    response = logged_in.post(URL, form_data(alice, email="  Alice.Kamau@Example.ORG ", current_password=PASSWORD))

    assert response.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.email == "alice.kamau@example.org"
    assert authenticate(username="alice.kamau@example.org", password=PASSWORD) == alice.user
    assert authenticate(username="alice@example.com", password=PASSWORD) is None


def test_changing_the_phone_with_the_right_password_stores_it_normalised(logged_in, alice):
    response = logged_in.post(URL, form_data(alice, phone_number="0722 000 111", current_password=PASSWORD))
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.phone_number == "254722000111"


def test_the_same_phone_typed_another_way_needs_no_password(logged_in, alice):
    Member.objects.filter(pk=alice.pk).update(phone_number="254712345678")
    alice.refresh_from_db()
    response = logged_in.post(URL, form_data(alice, phone_number="0712 345 678", occupation="Surveyor"))
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.phone_number, alice.occupation) == ("254712345678", "Surveyor")


@pytest.mark.parametrize(
    ("change", "password", "message"),
    [
        ({"email": "new.alice@example.com"}, None, "Enter your current password to change your email address."),
        ({"email": "new.alice@example.com"}, "not my password", "That is not your current password"),
        ({"phone_number": "0722000111"}, None, "Enter your current password to change your phone number."),
        ({"phone_number": "0722000111"}, "not my password", "That is not your current password"),
        (
            {"email": "new.alice@example.com", "phone_number": "0722000111"},
            "",
            "Enter your current password to change your email address and phone number.",
        ),
    ],
)
def test_changing_email_or_phone_without_the_right_password_saves_nothing(logged_in, alice, change, password, message):
    before = snapshot(alice)
    response = logged_in.post(URL, form_data(alice, occupation="Changed too", current_password=password, **change))

    assert response.status_code == 400
    page = page_text(response)
    assert message in page
    assert "Nothing was saved" in page
    assert snapshot(alice) == before
    assert not AuditLog.objects.filter(action=AuditLog.Action.PROFILE_CHANGED).exists()


@pytest.mark.security_check(3)
def test_protected_fields_posted_with_the_form_change_nothing(logged_in, alice, staff_user):
    before = snapshot(alice)
    other_category = MembershipCategory.objects.exclude(pk=alice.category_id).first()
    response = logged_in.post(
        URL,
        form_data(
            alice,
            status="active",
            membership_number="KTS-2026-9999",
            category=other_category.pk,
            id_type="passport",
            id_number="A1234567",
            date_of_birth="1970-01-01",
            registration_paid_at="2026-01-01T00:00:00Z",
            registration_payment_reference="FAKE-PAID",
            period_start="2026-01-01",
            period_end="2099-12-31",
            approved_by=staff_user.pk,
            verification_token="guessable",
            is_staff="on",
            user=staff_user.pk,
        ),
    )

    assert response.status_code == 302
    assert snapshot(alice) == before
    alice.user.refresh_from_db()
    assert not alice.user.is_staff


@pytest.mark.security_check(3)
def test_the_service_ignores_protected_keys_too(alice):
    changed = member_update_profile(
        member=alice,
        actor=alice.user,
        data={"status": Member.Status.ACTIVE, "membership_number": "KTS-2026-9999", "occupation": "Surveyor"},
    )
    assert changed == ["occupation"]
    stored = Member.objects.get(pk=alice.pk)
    assert (stored.status, stored.membership_number, stored.occupation) == (Member.Status.PENDING, None, "Surveyor")


@pytest.mark.parametrize("typed", ["bob@example.com", "BOB@Example.com"])
def test_an_email_another_account_uses_is_refused_whatever_its_case(logged_in, alice, bob, typed):
    before = snapshot(alice)
    response = logged_in.post(URL, form_data(alice, email=typed, current_password=PASSWORD))

    assert response.status_code == 400
    assert "Another account already uses this email address." in page_text(response)
    assert snapshot(alice) == before


def test_the_service_refuses_an_email_another_account_uses(alice, bob):
    with pytest.raises(ValidationError) as raised:
        member_update_profile(member=alice, actor=alice.user, data={"email": "Bob@Example.com"})
    assert raised.value.message_dict == {"email": ["Another account already uses this email address."]}


def test_every_problem_is_listed_at_once(logged_in, alice, bob):
    response = logged_in.post(
        URL, form_data(alice, email="bob@example.com", phone_number="12345", current_password="wrong")
    )
    assert response.status_code == 400
    page = page_text(response)
    assert "Another account already uses this email address." in page
    assert "Enter a valid mobile number" in page
    # The password is judged only for an acceptable new email or phone; both are refused here.
    assert "Nothing was saved. Please correct the 2 problems below." in page


def test_the_audit_entry_names_the_changed_fields_and_never_their_values(logged_in, alice):
    logged_in.post(
        URL,
        form_data(alice, email="alice.kamau@example.org", occupation="Surveyor", current_password=PASSWORD),
        REMOTE_ADDR="198.51.100.7",
    )

    entry = AuditLog.objects.get(action=AuditLog.Action.PROFILE_CHANGED)
    assert entry.actor == alice.user
    assert entry.target_type == "members.member" and entry.target_id == str(alice.pk)
    assert entry.data == {"fields": ["email", "occupation"]}
    assert entry.ip_address == "198.51.100.7"
    stored = str(entry.data) + entry.reason + entry.target_repr
    assert "alice.kamau" not in stored and "Surveyor" not in stored and PASSWORD not in stored


def test_channel_choices_are_what_member_channels_and_notify_member_use(logged_in, alice):
    logged_in.post(URL, form_data(alice, notify_by_email=None))
    alice.refresh_from_db()
    assert member_channels(alice) == {"sms"}
    assert [m.channel for m in notify_member(alice, event="application_received")] == ["sms"]

    logged_in.post(URL, form_data(alice, notify_by_email="on", notify_by_sms=None))
    alice.refresh_from_db()
    assert member_channels(alice) == {"email"}

    logged_in.post(URL, form_data(alice, notify_by_email=None, notify_by_sms=None))
    alice.refresh_from_db()
    assert member_channels(alice) == set()
    notify_member(alice, event="application_received")
    assert Message.objects.count() == 1  # only the SMS from before
    assert Notification.objects.filter(user=alice.user).count() == 2  # in-app is always kept


def test_an_invalid_phone_is_refused_with_a_clear_message(logged_in, alice):
    response = logged_in.post(URL, form_data(alice, phone_number="0712", current_password=PASSWORD))
    assert response.status_code == 400
    assert "Enter a valid mobile number, e.g. 0712 345 678" in page_text(response)


def test_a_text_field_longer_than_its_column_is_refused(logged_in, alice):
    response = logged_in.post(URL, form_data(alice, occupation="x" * 101))
    assert response.status_code == 400
    assert Member.objects.get(pk=alice.pk).occupation == ""


def test_anonymous_visitors_are_sent_to_the_login_page(client, reference_data):
    for response in (client.get(URL), client.post(URL, {"occupation": "Nobody"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_staff_without_a_membership_get_404(client, staff_user, reference_data):
    client.force_login(staff_user)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"occupation": "Staff"}).status_code == 404


def bobs_ids(bob) -> dict:
    """Every name a form or body could use to point at Bob's row or account."""
    return {
        "id": bob.pk,
        "pk": bob.pk,
        "member": bob.pk,
        "member_id": bob.pk,
        "user": bob.user_id,
        "user_id": bob.user_id,
        "membership_number": bob.membership_number or "",
        "reference": bob.verification_token,
    }


def api_patch(client, token, path, body):
    return client.patch(path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.security_check(1)
def test_each_member_edits_only_their_own_profile(client, alice, bob):
    """Alice aims at Bob's profile every way a form or an API client could, and only ever changes her own."""
    Member.objects.filter(pk=bob.pk).update(occupation="Bobs-own-occupation", postal_address="P.O. Box 77-BOB")
    bob.refresh_from_db()
    assert Member.objects.filter(pk=bob.pk, user__email="bob@example.com").exists() and bob.pk != alice.pk
    bob_before = snapshot(bob)
    alice_before = snapshot(alice)
    ids = bobs_ids(bob)
    query = "?" + "&".join(f"{name}={value}" for name, value in ids.items())

    def only_alice_changed(**expected):
        assert snapshot(bob) == bob_before, "Bob's row or account changed"
        assert snapshot(alice) == {**alice_before, **expected}

    # The web form, with Bob's ids in hidden fields and in the URL.
    client.force_login(alice.user)
    response = client.post(URL + query, {**form_data(alice, occupation="Surveyor"), **ids})
    only_alice_changed(occupation="Surveyor")
    assert response.status_code == 302
    # Bob's own details typed in (his email is his: refused; his names and addresses would only be Alice's).
    response = client.post(URL, {**form_data(bob, occupation="Bob's job?", current_password=PASSWORD), **ids})
    assert response.status_code == 400
    only_alice_changed(occupation="Surveyor")
    for path in (f"{URL}{bob.pk}/", f"/portal/members/{bob.pk}/profile/", f"/members/{bob.pk}/profile/"):
        assert client.post(path, form_data(bob, occupation="By id")).status_code == 404, path
    only_alice_changed(occupation="Surveyor")
    page = page_text(client.get(URL + query))
    assert not [value for value in ("bob@example.com", bob.phone_number, "Bobs-own", "77-BOB") if value in page]

    # The API, with Bob's ids in the body (refused, naming the field) or in the URL (ignored).
    login = client.post(
        "/api/auth/login/", {"username": "alice@example.com", "password": PASSWORD}, content_type="application/json"
    )
    token = login.json()["access"]
    for name, value in ids.items():
        response = api_patch(client, token, "/api/members/profile/", {name: value, "organisation": "Bob's org?"})
        only_alice_changed(occupation="Surveyor")
        assert response.status_code == 400 and name in response.json()["error"]["fields"], name
    response = api_patch(client, token, "/api/members/profile/" + query, {"organisation": "KeRRA"})
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "alice@example.com" and "bob" not in json.dumps(body).lower()
    assert bob.phone_number not in json.dumps(body)
    only_alice_changed(occupation="Surveyor", organisation="KeRRA")
    response = api_patch(
        client, token, "/api/members/profile/", {"email": "bob@example.com", "current_password": PASSWORD}
    )
    assert response.status_code == 400
    for path in (f"/api/members/{bob.pk}/", f"/api/members/profile/{bob.pk}/", f"/api/members/{bob.pk}/profile/"):
        assert api_patch(client, token, path, {"organisation": "By id"}).status_code == 404, path
    only_alice_changed(occupation="Surveyor", organisation="KeRRA")


def test_the_member_home_links_to_the_profile(logged_in):
    assert 'href="/portal/profile/"' in logged_in.get("/portal/").content.decode()


def test_a_closed_membership_can_still_update_contact_details(logged_in, alice):
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.EXPIRED, status_changed_at=timezone.now())
    response = logged_in.post(URL, form_data(alice, postal_address="P.O. Box 1-00100"))
    assert response.status_code == 302
    stored = Member.objects.get(pk=alice.pk)
    assert (stored.status, stored.postal_address) == (Member.Status.EXPIRED, "P.O. Box 1-00100")
    assert stored.date_of_birth == datetime.date(1990, 1, 15)
