"""search_text follows every service that changes what it is built from (names, email, membership number, ID
number, phone): saving a model does not rebuild it, so each service must."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from members.models import Member, MembershipCategory, Region
from members.profile import member_update_profile
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from members.search import member_search_text
from members.services import DocumentUpload, document_verify, member_approve, member_register
from privacy.erasure import erasure_approve, erasure_request
from tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db

UPLOADS = {
    "national_id": ("id.pdf", "application/pdf", sample_pdf),
    "passport_photo": ("photo.jpg", "image/jpeg", sample_jpeg),
    "certificate": ("certificate.png", "image/png", sample_png),
}


def stored(member) -> str:
    return Member.objects.values_list("search_text", flat=True).get(pk=member.pk)


def assert_current(member):
    member = Member.objects.select_related("user").get(pk=member.pk)
    assert member.search_text == member_search_text(member)


@pytest.fixture
def wambui(reference_data):
    return MemberFactory(
        user__email="wambui.njoroge@example.com",
        user__first_name="Wambui",
        user__last_name="Njoroge",
        other_names="Wairimu",
        id_number="27654321",
        phone_number="254722334455",
    )


@pytest.fixture
def superuser_client(client, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    return client


def test_registration_stores_it_with_the_new_member(reference_data):
    category = MembershipCategory.objects.get(code="associate")
    uploads = [
        DocumentUpload(code, SimpleUploadedFile(UPLOADS[code][0], UPLOADS[code][2](), UPLOADS[code][1]))
        for code in category.required_documents
    ]
    member = member_register(
        email="grace.wanjiru@example.com",
        password=PASSWORD,
        first_name="Grace",
        last_name="Wanjiru",
        category=category,
        documents=uploads,
        id_number="31234567",
        date_of_birth="1992-03-14",
        gender=Member.Gender.FEMALE,
        phone_number="254712345678",
        country_id="KE",
        region=Region.objects.get(country="KE", code="047"),
        other_names="Njeri",
    )

    assert member.search_text == stored(member)
    for term in ("grace", "njeri", "wanjiru", "grace.wanjiru@example.com", "31234567", "254712345678", "0712345678"):
        assert term in member.search_text
    assert_current(member)


def test_approval_adds_the_membership_number(wambui, staff_user):
    for document in wambui.documents.all():
        document_verify(document=document, actor=staff_user)

    member = member_approve(member=wambui, actor=staff_user)

    assert member.membership_number.lower() in stored(member)
    assert_current(member)


@pytest.mark.parametrize("actor", ["member", "staff"])
def test_a_profile_change_by_the_member_or_staff_replaces_the_old_values(wambui, staff_user, actor):
    member_update_profile(
        member=wambui,
        actor=wambui.user if actor == "member" else staff_user,
        data={"email": "wambui@shamba.co.ke", "phone_number": "0798765432", "other_names": "Nyambura"},
    )

    text = stored(wambui)
    assert "wambui@shamba.co.ke" in text and "254798765432" in text and "nyambura" in text
    assert "wambui.njoroge@example.com" not in text and "254722334455" not in text and "wairimu" not in text
    assert wambui.search_text == text
    assert_current(wambui)


def test_erasure_leaves_nothing_of_the_person_to_find(wambui, admin_user):
    erasure = erasure_request(member=wambui, password=PASSWORD)
    erasure_approve(erasure=erasure, actor=admin_user)

    text = stored(wambui)
    for term in ("wambui", "njoroge", "wairimu", "27654321", "254722334455", "example.com"):
        assert term not in text
    assert_current(wambui)


def test_a_member_edited_in_the_admin_is_found_by_the_new_values(superuser_client, wambui):
    url = f"/admin/members/member/{wambui.pk}/change/"
    form = superuser_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "user": wambui.user_id,
            "category": wambui.category_id,
            "country": wambui.country_id,
            "region": wambui.region_id,
            "date_of_birth": "1990-01-15",
            "id_number": "99887766",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "1000",
        }
    )
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    assert "99887766" in stored(wambui) and "27654321" not in stored(wambui)
    assert_current(wambui)


def test_a_user_renamed_in_the_admin_is_found_by_the_new_name(superuser_client, wambui):
    user = wambui.user
    response = superuser_client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": "wambui.mwangi@example.com",
            "first_name": user.first_name,
            "last_name": "Mwangi",
            "is_active": "on",
            "groups": [Group.objects.get(name="Member").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302

    assert "mwangi" in stored(wambui) and "njoroge" not in stored(wambui)
    assert "wambui.mwangi@example.com" in stored(wambui)
    assert_current(wambui)


def test_saving_a_member_directly_does_not_touch_it(wambui):
    """The rule the services follow: the model does not rebuild it (so bulk writes and updates are plain)."""
    before = stored(wambui)
    wambui.other_names = "Nyambura"
    wambui.save()
    assert stored(wambui) == before
