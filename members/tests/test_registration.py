"""The /register/ page, driven through Django's test client."""

import datetime
import html
import re

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.utils import timezone

from audit.models import AuditLog
from members.models import Document, Member, MembershipCategory, Region

from .conftest import NEW_PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()


def _selected(page, name):
    """The values of the selected options of the <select> with this name."""
    block = re.search(rf'<select name="{name}".*?</select>', page, re.DOTALL)
    assert block, f"no select named {name}"
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b', block.group(0))


def _errors(response):
    return response.context["form"].errors


def test_it_shows_the_form(client, reference_data):
    response = client.get("/register/")
    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b'name="document_passport_photo"' in response.content


def test_a_complete_application_creates_a_pending_member_and_logs_them_in(client, registration_data):
    response = client.post("/register/", registration_data(), REMOTE_ADDR="198.51.100.23")

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    user = User.objects.get(email="grace.wanjiru@example.com")
    assert user.check_password(NEW_PASSWORD)
    assert (user.first_name, user.last_name) == ("Grace", "Wanjiru")
    assert not user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["Member"]

    member = Member.objects.get(user=user)
    assert member.status == Member.Status.PENDING
    assert member.membership_number is None
    assert member.phone_number == "254712345678"
    assert member.id_number == "31234567"
    assert member.date_of_birth == datetime.date(1992, 3, 14)
    assert member.category.code == "associate"
    assert member.region == Region.objects.get(country="KE", code="047")
    assert member.registration_paid_at is None
    assert sorted(member.documents.values_list("doc_type", flat=True)) == ["national_id", "passport_photo"]

    assert client.session[SESSION_KEY] == str(user.pk)
    portal = client.get("/portal/")
    assert portal.status_code == 200
    assert "Application received" in portal.content.decode()

    entry = AuditLog.objects.get(action=AuditLog.Action.REGISTERED)
    assert entry.actor == user
    assert entry.target_type == "members.member" and entry.target_id == str(member.pk)
    assert entry.ip_address == "198.51.100.23"
    assert entry.data == {"category": "associate", "documents": ["national_id", "passport_photo"]}
    assert NEW_PASSWORD not in str(entry.data) and "31234567" not in str(entry.data)


def test_the_email_is_stored_in_lower_case(client, registration_data):
    client.post("/register/", registration_data(email="  Grace.WANJIRU@Example.COM "))
    assert User.objects.get().email == "grace.wanjiru@example.com"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0712345678", "254712345678"),
        ("+254712345678", "254712345678"),
        ("254712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("0712 345 678", "254712345678"),
        ("+254 712-345-678", "254712345678"),
    ],
)
def test_every_common_way_of_typing_a_kenyan_mobile_number_is_normalised(client, registration_data, typed, stored):
    response = client.post("/register/", registration_data(phone_number=typed))
    assert response.status_code == 302, _errors(response)
    assert Member.objects.get().phone_number == stored


@pytest.mark.parametrize("typed", ["0201234567", "12345", "07123456789012", "not a number"])
def test_it_refuses_a_number_that_is_not_a_mobile(client, registration_data, typed):
    response = client.post("/register/", registration_data(phone_number=typed))
    assert response.status_code == 400
    assert "Enter a valid mobile number" in _errors(response)["phone_number"][0]
    assert not Member.objects.exists()


def test_an_invalid_application_shows_every_error_at_once_and_keeps_what_was_typed(client, registration_data):
    future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    data = registration_data(
        email="grace.wanjiru-at-example.com",
        first_name="",
        password2="something-else-entirely",
        phone_number="12345",
        date_of_birth=future,
        document_passport_photo=None,
        occupation="Hydrologist",
        organisation="Athi Water Works",
        postal_address="P.O. Box 77-00200, Nairobi",
    )
    response = client.post("/register/", data)

    assert response.status_code == 400
    errors = _errors(response)
    assert set(errors) == {
        "email",
        "first_name",
        "password2",
        "phone_number",
        "date_of_birth",
        "document_passport_photo",
    }
    page = html.unescape(response.content.decode())
    for message in [
        "Enter a valid email address.",
        "This field is required.",
        "The two passwords differ.",
        "Enter a valid mobile number",
        "The date of birth is in the future.",
        "Associate membership needs this document.",
    ]:
        assert message in page, message
    assert "Please correct the 6 problems below." in page
    # What was typed comes back, so nothing has to be typed twice ...
    for value in [
        "grace.wanjiru-at-example.com",
        "Wanjiru",
        "Njeri",
        "Hydrologist",
        "Athi Water Works",
        "P.O. Box 77-00200, Nairobi",
        "31234567",
        future,
    ]:
        assert f'value="{value}"' in page, value
    assert _selected(page, "category") == [str(MembershipCategory.objects.get(code="associate").pk)]
    assert _selected(page, "region") == [str(Region.objects.get(country="KE", code="047").pk)]
    assert _selected(page, "gender") == ["female"]
    # ... except the passwords, which are never sent back.
    assert NEW_PASSWORD not in page
    assert "something-else-entirely" not in page
    assert not User.objects.exists() and not Member.objects.exists()


def test_a_too_young_applicant_is_refused(client, registration_data, settings):
    settings.MEMBER_MINIMUM_AGE = 18
    born = timezone.localdate().replace(year=timezone.localdate().year - 17)
    response = client.post("/register/", registration_data(date_of_birth=born.isoformat()))
    assert response.status_code == 400
    assert _errors(response)["date_of_birth"] == ["Members must be at least 18 years old."]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password123", "This password is too common."),
        ("Wanjiru1992", "The password is too similar to the last name."),
        ("Short1!x", "This password is too short."),
    ],
)
def test_a_weak_password_is_refused(client, registration_data, password, message):
    response = client.post("/register/", registration_data(password1=password, password2=password))
    assert response.status_code == 400
    assert any(message in error for error in _errors(response)["password1"])
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@Example.COM", "  Alice@example.com "])
def test_a_duplicate_email_is_refused_whatever_its_case(client, registration_data, alice, email):
    response = client.post("/register/", registration_data(email=email))
    assert response.status_code == 400
    assert _errors(response)["email"] == [
        "An account with this email address already exists. Log in, or reset your password."
    ]
    assert "An account with this email address already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert Member.objects.count() == 1


def test_a_duplicate_id_number_is_refused_and_no_file_is_left_behind(client, registration_data, alice, private_files):
    files_before = private_files()
    spaced = f" {alice.id_number[:4]} {alice.id_number[4:]} "
    response = client.post("/register/", registration_data(id_number=spaced))

    assert response.status_code == 400
    assert _errors(response)["id_number"] == ["A member with this ID number is already registered."]
    assert "A member with this ID number is already registered." in response.content.decode()
    assert not User.objects.filter(email="grace.wanjiru@example.com").exists()
    assert Member.objects.count() == 1
    assert Document.objects.exclude(member=alice).count() == 0
    assert private_files() == files_before


def test_the_same_number_on_a_different_kind_of_id_is_not_a_duplicate(client, registration_data, alice):
    response = client.post("/register/", registration_data(id_type="passport", id_number=alice.id_number))
    assert response.status_code == 302


def test_a_region_outside_the_chosen_country_is_refused(client, registration_data):
    ugandan = Region.objects.get(country="UG", code="C")
    response = client.post("/register/", registration_data(country="KE", region=ugandan.pk))
    assert response.status_code == 400
    assert _errors(response)["region"] == ["Central is not in Kenya."]
    assert not Member.objects.exists()


def test_a_country_with_regions_requires_one(client, registration_data):
    response = client.post("/register/", registration_data(region=""))
    assert response.status_code == 400
    assert _errors(response)["region"] == ["Choose your county or region."]


@pytest.mark.parametrize(
    ("category", "left_out"),
    [("full", "certificate"), ("full", "national_id"), ("associate", "passport_photo"), ("corporate", "certificate")],
)
def test_the_categorys_required_documents_are_enforced(client, registration_data, private_files, category, left_out):
    response = client.post("/register/", registration_data(category=category, **{f"document_{left_out}": None}))
    assert response.status_code == 400
    name = MembershipCategory.objects.get(code=category).name
    assert _errors(response)[f"document_{left_out}"] == [f"{name} membership needs this document."]
    assert list(_errors(response)) == [f"document_{left_out}"]
    assert not User.objects.exists()
    assert private_files() == []


def test_documents_the_category_does_not_require_may_still_be_given(client, registration_data, make_upload):
    response = client.post("/register/", registration_data(category="associate", document_other=make_upload("other")))
    assert response.status_code == 302
    assert sorted(Document.objects.values_list("doc_type", flat=True)) == ["national_id", "other", "passport_photo"]


def test_an_inactive_category_cannot_be_chosen(client, registration_data):
    MembershipCategory.objects.filter(code="associate").update(is_active=False)
    response = client.post("/register/", registration_data(category="associate"))
    assert response.status_code == 400
    assert "category" in _errors(response)


@pytest.mark.security_check(3)
def test_a_member_cannot_set_protected_fields_by_adding_them_to_the_post(client, registration_data):
    category = MembershipCategory.objects.get(code="associate")
    data = registration_data(
        status="active",
        membership_number="KTS-2020-0001",
        status_reason="self-approved",
        registration_paid_at="2020-01-01T00:00:00Z",
        registration_payment_reference="FAKE123",
        approved_at="2020-01-01T00:00:00Z",
        period_start="2020-01-01",
        period_end="2099-12-31",
        is_staff="on",
        is_superuser="on",
        groups="1",
        user_permissions="1",
        registration_fee="1",
        renewal_fee="1",
        user="1",
    )
    response = client.post("/register/", data)
    assert response.status_code == 302

    member = Member.objects.select_related("user").get()
    assert member.status == Member.Status.PENDING
    assert member.membership_number is None
    assert member.status_reason == ""
    assert member.registration_paid_at is None
    assert member.registration_payment_reference == ""
    assert member.approved_at is None and member.approved_by is None
    assert member.period_start is None and member.period_end is None
    assert member.user.email == "grace.wanjiru@example.com"
    assert not member.user.is_staff and not member.user.is_superuser
    assert list(member.user.groups.values_list("name", flat=True)) == ["Member"]
    assert not member.user.user_permissions.exists()
    category.refresh_from_db()
    assert (category.registration_fee, category.renewal_fee) == (2000, 1500)


def test_a_signed_in_person_is_sent_home_instead_of_registering_again(client, registration_data, alice):
    client.force_login(alice.user)
    response = client.post("/register/", registration_data())
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert Member.objects.count() == 1


@pytest.mark.security_check(17)
def test_web_applications_are_limited_per_address_and_the_refusal_keeps_what_was_typed(
    client, registration_data, settings
):
    settings.REGISTER_RATE = "2/hour"
    attacker = "198.51.100.66"
    for _ in range(2):  # refused applications count too: checking their uploads is the cost
        assert (
            client.post("/register/", registration_data(phone_number="12345"), REMOTE_ADDR=attacker).status_code == 400
        )

    response = client.post("/register/", registration_data(occupation="Hydrologist"), REMOTE_ADDR=attacker)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    page = html.unescape(response.content.decode())
    assert "Too many applications from your network" in page
    assert 'value="Hydrologist"' in page
    assert 'value="grace.wanjiru@example.com"' in page
    assert NEW_PASSWORD not in page
    assert not User.objects.filter(email="grace.wanjiru@example.com").exists()
    assert not Member.objects.exists()


@pytest.mark.security_check(17)
def test_the_registration_limit_of_one_address_does_not_stop_another(client, registration_data, settings):
    settings.REGISTER_RATE = "1/hour"
    assert (
        client.post("/register/", registration_data(phone_number="12345"), REMOTE_ADDR="198.51.100.66").status_code
        == 400
    )
    assert client.post("/register/", registration_data(), REMOTE_ADDR="198.51.100.66").status_code == 429

    response = client.post("/register/", registration_data(), REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 302
    assert Member.objects.get().user.email == "grace.wanjiru@example.com"


def test_showing_the_registration_form_is_not_counted(client, reference_data, settings):
    settings.REGISTER_RATE = "1/hour"
    for _ in range(3):
        assert client.get("/register/").status_code == 200
