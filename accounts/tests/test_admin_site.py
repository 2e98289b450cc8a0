"""The admin site is for the Admin role (and superusers) only: finding 8 of issue 13.

A model admin writes rows directly, past the services and their rules, so Staff and Finance (with or without
the is_staff flag, and with two-factor) change members only through /staff/.
"""

import pytest

from members.models import MembershipCategory

pytestmark = pytest.mark.django_db


def member_form(client, member):
    """The admin's change form for the member as the page fills it, with the inline documents left as they are."""
    url = f"/admin/members/member/{member.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "user": member.user_id,
            "category": member.category_id,
            "country": member.country_id,
            "region": member.region_id,
            "date_of_birth": member.date_of_birth.isoformat(),
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "1000",
        }
    )
    return url, data


@pytest.fixture
def honorary(reference_data):
    """Honorary / Life: never renewed, so a member switched to it owes nothing again."""
    return MembershipCategory.objects.get(code="life")


def test_an_admin_switches_a_members_category_in_the_admin(client, admin_user, alice, honorary):
    client.force_login(admin_user)
    url, data = member_form(client, alice)
    response = client.post(url, {**data, "category": honorary.pk})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    alice.refresh_from_db()
    assert alice.category_id == honorary.pk


@pytest.mark.security_check(19)
@pytest.mark.parametrize("who", ["staff_user", "finance_user"])
def test_staff_and_finance_cannot_use_the_admin_even_with_the_flag_and_two_factor(
    client, request, admin_user, alice, honorary, who
):
    # The form is the one an Admin sees, so the POST below would be valid for anyone the admin let in.
    client.force_login(admin_user)
    url, data = member_form(client, alice)
    category_before = alice.category_id
    assert category_before != honorary.pk

    user = request.getfixturevalue(who)
    assert user.is_staff
    client.force_login(user)  # password and code: a fully signed-in session
    response = client.post(url, {**data, "category": honorary.pk})
    alice.refresh_from_db()
    assert alice.category_id == category_before, "the paying member is not switched to Honorary / Life"
    # Sent to the admin's login, which refuses a signed-in user the admin is not for (no login loop).
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/", follow=True).status_code == 403
    assert client.get(url, follow=True).status_code == 403
    staff_home = client.get("/staff/")
    assert staff_home.status_code == 200, "their place is the staff dashboard"
    assert 'href="/admin/"' not in staff_home.content.decode(), "no link to a page that refuses them"


def test_only_admins_see_the_link_to_the_admin(client, admin_user):
    client.force_login(admin_user)
    assert 'href="/admin/"' in client.get("/staff/").content.decode()
