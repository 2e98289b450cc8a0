"""The public page behind a certificate's QR code: the standing in plain words, nothing personal, cacheable."""

import datetime
import html

import pytest
from django.utils import timezone

from members.certificates import verification_url
from members.models import Member, MembershipCategory
from members.services import document_verify, member_approve, member_record_registration_payment
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

D = datetime.date


def activate(member, staff):
    for document in member.documents.all():
        document_verify(document=document, actor=staff)
    member = member_approve(member=member, actor=staff)
    return member_record_registration_payment(member=member, reference="CASH-001", actor=staff)


def set_member(member, **fields):
    Member.objects.filter(pk=member.pk).update(updated_at=timezone.now(), **fields)
    return Member.objects.select_related("user", "category").get(pk=member.pk)


def page(client, member, **headers):
    return client.get(f"/verify/{member.verification_token}/", headers=headers)


def text(response) -> str:
    return html.unescape(response.content.decode())


def field(response, element_id) -> str:
    body = text(response)
    start = body.index(f'id="{element_id}">') + len(f'id="{element_id}">')
    return body[start : body.index("<", start)].strip()


@pytest.fixture
def active_alice(alice, staff_user):
    return activate(alice, staff_user)


def days_from_today(days):
    return timezone.localdate() + datetime.timedelta(days=days)


def test_an_active_membership_shows_as_valid_with_its_end_date(client, active_alice):
    response = page(client, active_alice)

    assert response.status_code == 200
    assert field(response, "verdict") == "Valid"
    assert field(response, "member-name") == active_alice.full_name
    assert field(response, "membership-number") == active_alice.membership_number
    assert field(response, "category") == "Full / Professional"
    assert field(response, "standing") == "Active member"
    end = active_alice.period_end
    assert field(response, "valid-until") == f"{end.day} {end:%B %Y}"


def test_the_address_printed_on_the_certificate_opens_the_page(client, active_alice, settings):
    settings.SITE_URL = "https://members.example.org"
    path = verification_url(active_alice).removeprefix("https://members.example.org")

    assert field(client.get(path), "verdict") == "Valid"


def test_a_membership_in_its_grace_period_is_valid_until_the_grace_period_ends(client, active_alice):
    end = days_from_today(-3)
    member = set_member(active_alice, status=Member.Status.GRACE, period_end=end)  # Full: 30 grace days

    response = page(client, member)

    grace_end = end + datetime.timedelta(days=30)
    assert field(response, "verdict") == "Valid — renewal due"
    assert field(response, "standing") == "Member in the grace period"
    assert field(response, "valid-until") == f"{grace_end.day} {grace_end:%B %Y}"
    assert f"The membership period ended on {end.day} {end:%B %Y}" in field(response, "verification-note")


def test_a_life_membership_is_valid_and_does_not_expire(client, active_alice):
    member = set_member(active_alice, category=MembershipCategory.objects.get(code="life"), period_end=None)

    response = page(client, member)

    assert field(response, "verdict") == "Valid"
    assert field(response, "valid-until") == "Does not expire"


@pytest.mark.parametrize(
    ("status", "standing"),
    [
        ("expired", "Membership expired"),
        ("suspended", "Membership suspended"),
        ("rejected", "Application not accepted; not a member"),
        ("pending", "Application under review; not yet a member"),
        ("approved", "Application approved; membership not yet started"),
    ],
)
def test_a_membership_that_is_not_active_shows_as_not_valid(client, active_alice, status, standing):
    member = set_member(active_alice, status=status)

    response = page(client, member)

    assert response.status_code == 200
    assert field(response, "verdict") == "Not valid"
    assert field(response, "standing") == standing
    assert field(response, "valid-until") == "Not valid"
    assert "Valid until" in text(response)
    assert ">Valid<" not in text(response)


def test_an_applicant_without_a_number_shows_as_not_valid_with_no_number(client, alice):
    response = page(client, alice)

    assert field(response, "verdict") == "Not valid"
    assert field(response, "membership-number") == "Not issued"


def test_a_membership_past_its_grace_period_is_not_valid_even_before_the_daily_job_runs(client, active_alice):
    member = set_member(active_alice, status=Member.Status.ACTIVE, period_end=days_from_today(-31))

    response = page(client, member)

    assert field(response, "verdict") == "Not valid"
    assert field(response, "standing") == "Membership expired"


def test_an_active_membership_past_its_end_date_shows_as_in_grace_before_the_daily_job_runs(client, active_alice):
    member = set_member(active_alice, status=Member.Status.ACTIVE, period_end=days_from_today(-1))

    assert field(page(client, member), "verdict") == "Valid — renewal due"


def test_an_unknown_token_gets_a_404_that_reveals_nothing(client, active_alice):
    response = client.get("/verify/not-a-real-token-0000000000000000/")

    assert response.status_code == 404
    body = text(response)
    assert field(response, "verdict") == "No membership found"
    assert active_alice.full_name not in body
    assert active_alice.membership_number not in body
    assert "Set-Cookie" not in response.headers


def test_a_malformed_token_is_not_found_either(client, active_alice):
    assert client.get("/verify/abc.def/").status_code == 404
    # A NUL is refused before any URL is resolved (core.malformed_input): a 400, still nothing about anyone.
    assert client.get("/verify/%00/").status_code == 400


def test_the_page_never_shows_contact_details_id_numbers_or_dates_of_birth(client, active_alice):
    member = set_member(
        active_alice,
        id_number="31234567",
        phone_number="254712345678",
        date_of_birth=D(1992, 3, 14),
        postal_address="P.O. Box 1234-00100",
        physical_address="Moi Avenue, Nairobi",
        occupation="Land surveyor",
        organisation="Survey of Kenya",
    )

    body = text(page(client, member))

    for secret in [
        member.user.email,
        "alice@example.com",
        "31234567",
        "254712345678",
        "0712345678",
        "712 345 678",
        "345678",
        "1992",
        "14 March 1992",
        "1992-03-14",
        "14/03/1992",
        "P.O. Box",
        "Moi Avenue",
        "Land surveyor",
        "Survey of Kenya",
        "Nairobi",
        "female",
        "Female",
    ]:
        assert secret not in body, secret


def test_the_page_is_publicly_cacheable_for_five_minutes_and_not_indexed(client, active_alice):
    response = page(client, active_alice)

    assert response["Cache-Control"] == "public, max-age=300"
    assert response["X-Robots-Tag"] == "noindex"
    assert response["ETag"].startswith('"')
    assert response["Last-Modified"].endswith("GMT")


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_page_sets_no_cookie_and_does_not_vary_by_cookie_even_for_a_signed_in_visitor(
    client, active_alice, signed_in
):
    if signed_in:
        assert client.login(username=active_alice.user.email, password=PASSWORD)

    response = page(client, active_alice)

    assert response.status_code == 200
    assert not response.cookies
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "csrfmiddlewaretoken" not in text(response)
    assert active_alice.user.email not in text(response)  # not even in the navbar


def test_the_same_page_again_is_answered_304_until_the_membership_changes(client, active_alice):
    first = page(client, active_alice)

    again = page(client, active_alice, if_none_match=first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == "public, max-age=300"
    assert not again.content

    since = page(client, active_alice, if_modified_since=first["Last-Modified"])
    assert since.status_code == 304

    suspended = set_member(active_alice, status=Member.Status.SUSPENDED)
    changed = page(client, suspended, if_none_match=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert field(changed, "verdict") == "Not valid"


def test_a_renamed_category_changes_the_etag_though_the_member_row_did_not_change(client, active_alice):
    first = page(client, active_alice)
    MembershipCategory.objects.filter(pk=active_alice.category_id).update(name="Fellow")

    response = page(client, active_alice, if_none_match=first["ETag"])

    assert response.status_code == 200
    assert field(response, "category") == "Fellow"


def test_a_valid_token_costs_one_query(client, active_alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = page(client, active_alice)
    assert response.status_code == 200


def test_an_unknown_token_costs_one_query(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert client.get("/verify/unknown-token/").status_code == 404


def test_head_is_answered_and_post_is_refused(client, active_alice):
    assert client.head(f"/verify/{active_alice.verification_token}/").status_code == 200
    assert client.post(f"/verify/{active_alice.verification_token}/").status_code == 405
