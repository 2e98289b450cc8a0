"""The membership certificate: what it says, the QR code it carries, and who may download it."""

import datetime
import io

import pytest
import segno
from django.contrib.auth.models import Group
from django.utils import timezone
from pypdf import PdfReader

from accounts.roles import FINANCE
from members.certificates import CertificateUnavailable, certificate_pdf, verification_url
from members.models import Member, MembershipCategory
from members.services import document_verify, member_approve, member_record_registration_payment
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SITE = "https://members.example.org"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    settings.ORGANISATION_NAME = "Kalda-Tech Society"


def activate(member, staff):
    """Approve and take the registration fee, through the services, as in real life."""
    for document in member.documents.all():
        document_verify(document=document, actor=staff)
    member = member_approve(member=member, actor=staff)
    return member_record_registration_payment(member=member, reference="CASH-001", actor=staff)


def set_status(member, status, **fields):
    Member.objects.filter(pk=member.pk).update(status=status, **fields)
    return Member.objects.select_related("user", "category").get(pk=member.pk)


def pdf_text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def login(client, member_or_user):
    user = getattr(member_or_user, "user", member_or_user)
    assert client.login(username=user.email, password=PASSWORD)


@pytest.fixture
def active_alice(alice, staff_user):
    return activate(alice, staff_user)


def test_the_certificate_names_the_member_number_category_validity_and_verification_address(active_alice):
    member = active_alice
    text = pdf_text(certificate_pdf(member))

    assert "Kalda-Tech Society" in text
    assert "CERTIFICATE OF MEMBERSHIP" in text
    assert member.full_name in text
    assert member.membership_number in text
    assert "Full / Professional" in text
    today = timezone.localdate()
    assert f"Valid from {today.day} {today:%B %Y}" in text
    assert f"Valid to {member.period_end.day} {member.period_end:%B %Y}" in text
    assert f"Issued on {today.day} {today:%B %Y}" in text
    assert f"{SITE}/verify/{member.verification_token}/" in text


def test_the_certificate_is_one_a4_landscape_page(active_alice):
    reader = PdfReader(io.BytesIO(certificate_pdf(active_alice)))

    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (297, 210)


def test_the_qr_code_on_the_certificate_encodes_the_public_verification_address(active_alice):
    expected = segno.make_qr(f"{SITE}/verify/{active_alice.verification_token}/", error="m")
    images = PdfReader(io.BytesIO(certificate_pdf(active_alice))).pages[0].images
    assert len(images) == 1
    image = images[0].image.convert("L")

    # Read the embedded picture module by module and compare it with the symbol for the expected URL.
    size = len(expected.matrix)
    scale = image.width // size
    assert image.width == image.height == size * scale
    read = [
        [image.getpixel((c * scale + scale // 2, r * scale + scale // 2)) < 128 for c in range(size)]
        for r in range(size)
    ]
    assert read == [[bool(module) for module in row] for row in expected.matrix]


def test_the_verification_address_is_built_from_the_site_url_and_the_token(active_alice, settings):
    settings.SITE_URL = "https://members.example.org/"

    assert verification_url(active_alice) == f"https://members.example.org/verify/{active_alice.verification_token}/"


def test_a_life_membership_certificate_says_it_does_not_expire(active_alice):
    life = MembershipCategory.objects.get(code="life")
    member = set_status(active_alice, Member.Status.ACTIVE, category=life, period_end=None)

    text = pdf_text(certificate_pdf(member))

    assert "Valid to Does not expire" in text
    assert "Honorary / Life" in text


def test_a_member_in_the_grace_period_still_gets_a_certificate(active_alice):
    member = set_status(active_alice, Member.Status.GRACE)

    assert member.full_name in pdf_text(certificate_pdf(member))


def test_a_name_outside_latin_1_is_printed_without_its_accents_rather_than_as_question_marks(active_alice):
    active_alice.user.last_name = "Wanjirũ"
    active_alice.user.save()

    text = pdf_text(certificate_pdf(Member.objects.select_related("user", "category").get(pk=active_alice.pk)))

    assert "Wanjiru" in text
    assert "Wanjir?" not in text


@pytest.mark.parametrize("status", ["pending", "approved", "rejected", "suspended", "expired"])
def test_there_is_no_certificate_for_a_membership_that_is_not_active(alice, status):
    member = set_status(alice, status, membership_number="KTS-2026-0042")

    with pytest.raises(CertificateUnavailable, match="only while your membership is active"):
        certificate_pdf(member)


# --- the member's own download: /portal/certificate/ ---


def test_a_member_downloads_their_own_certificate_as_a_private_attachment(client, active_alice):
    login(client, active_alice)

    response = client.get("/portal/certificate/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="certificate-{active_alice.membership_number}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert active_alice.full_name in pdf_text(response.content)


@pytest.mark.security_check(1)
def test_another_member_only_ever_gets_their_own_certificate(client, active_alice, bob, staff_user):
    bob = activate(bob, staff_user)
    login(client, bob)

    text = pdf_text(client.get("/portal/certificate/").content)

    assert bob.full_name in text
    assert bob.membership_number in text
    assert active_alice.full_name not in text
    assert active_alice.membership_number not in text
    assert active_alice.verification_token not in text


def test_an_anonymous_visitor_is_sent_to_log_in(client, active_alice):
    response = client.get("/portal/certificate/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_user_without_a_membership_gets_404(client, staff_user):
    login(client, staff_user)

    assert client.get("/portal/certificate/").status_code == 404


def test_a_member_who_is_not_active_is_sent_back_to_the_dashboard_with_the_reason(client, alice):
    login(client, alice)

    response = client.get("/portal/certificate/")

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    shown = [str(m) for m in response.wsgi_request._messages]
    assert shown == [
        "A membership certificate is available only while your membership is active (yours is: pending review)."
    ]


def test_the_certificate_cannot_be_posted_to(client, active_alice):
    login(client, active_alice)

    assert client.post("/portal/certificate/").status_code == 405


def test_the_dashboard_offers_the_certificate_only_to_members_who_can_have_one(client, active_alice, bob):
    login(client, active_alice)
    assert 'id="download-certificate"' in client.get("/portal/").content.decode()

    login(client, bob)
    assert 'id="download-certificate"' not in client.get("/portal/").content.decode()


# --- staff download: /staff/members/<pk>/certificate/ ---


@pytest.fixture
def actor(request, client):
    def sign_in(who):
        if who == "anonymous":
            return
        user = {
            "member": lambda: request.getfixturevalue("bob").user,
            "no_role": lambda: UserFactory(email="nora.norole@example.com", is_staff=True),
            "staff": lambda: request.getfixturevalue("staff_user"),
            "finance": lambda: request.getfixturevalue("finance_user"),
            "admin": lambda: request.getfixturevalue("admin_user"),
        }[who]()
        login(client, user)

    return sign_in


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 302), ("member", 403), ("no_role", 403), ("staff", 200), ("finance", 200), ("admin", 200)],
)
def test_staff_with_view_member_download_a_members_certificate_and_nobody_else_does(
    client, actor, active_alice, who, status
):
    actor(who)

    response = client.get(f"/staff/members/{active_alice.pk}/certificate/")

    assert response.status_code == status
    if status == 200:
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["Cache-Control"] == "private, no-store"
        assert active_alice.membership_number in pdf_text(response.content)
    if who == "anonymous":
        assert response["Location"].startswith("/login/")


def test_finance_may_download_certificates_because_the_role_can_view_members(finance_user):
    assert Group.objects.get(name=FINANCE).permissions.filter(codename="view_member").exists()
    assert finance_user.has_perm("members.view_member")


def test_staff_asking_for_a_pending_members_certificate_are_told_why_not(client, staff_user, alice):
    login(client, staff_user)

    response = client.get(f"/staff/members/{alice.pk}/certificate/")

    assert response.status_code == 302
    assert response["Location"] == f"/staff/members/{alice.pk}/"
    assert [str(m) for m in response.wsgi_request._messages] == ["No certificate: the membership is pending review."]


def test_staff_get_404_for_a_member_that_does_not_exist(client, staff_user):
    login(client, staff_user)

    assert client.get("/staff/members/999999/certificate/").status_code == 404


def test_the_period_on_the_certificate_is_the_members_current_period(active_alice):
    member = set_status(
        active_alice,
        Member.Status.ACTIVE,
        period_start=datetime.date(2026, 3, 1),
        period_end=datetime.date(2027, 2, 28),
    )

    text = pdf_text(certificate_pdf(member))

    assert "Valid from 1 March 2026" in text
    assert "Valid to 28 February 2027" in text
