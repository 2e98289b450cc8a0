"""Who may open which staff page and take which staff action, and how those views behave."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditLog
from members.models import Document, Member
from members.services import document_verify
from payments.models import Payment
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "member", "no_role", "staff", "finance", "admin"]

# Straight from accounts/roles.py: Staff reviews applications and documents, Finance records payments,
# Admin does everything; a member, or a staff account with no role, does nothing here.
PAGES = {
    "home": ("/staff/", {"staff", "finance", "admin"}),
    "applications": ("/staff/applications/", {"staff", "finance", "admin"}),
    "member_detail": ("/staff/members/{member}/", {"staff", "finance", "admin"}),
}
ACTIONS = {
    "approve": ("/staff/members/{member}/approve/", {"staff", "admin"}),
    "reject": ("/staff/members/{member}/reject/", {"staff", "admin"}),
    "record_payment": ("/staff/members/{member}/record-payment/", {"finance", "admin"}),
    "document_verify": ("/staff/documents/{document}/verify/", {"staff", "admin"}),
    "document_reject": ("/staff/documents/{document}/reject/", {"staff", "admin"}),
}
POST_DATA = {
    "approve": {},
    "reject": {"reason": "Incomplete application."},
    "record_payment": {"method": "bank", "reference": "BANK-7781", "amount": "5000"},
    "document_verify": {},
    "document_reject": {"reason": "The scan is unreadable."},
}


def _state(member):
    member = Member.objects.get(pk=member.pk)
    documents = sorted(member.documents.values_list("pk", "status", "rejection_reason", "is_current"))
    return (member.status, member.membership_number, member.registration_paid_at, member.status_reason, documents)


def _verify_all(member):
    for document in member.documents.filter(is_current=True):
        document_verify(document=document, actor=None)


# --- The matrix -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("page", list(PAGES))
def test_staff_pages_open_only_for_roles_that_may_view_members(client, alice, login_as, page, who):
    path, allowed = PAGES[page]
    url = path.format(member=alice.pk)
    login_as(who)
    response = client.get(url)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    elif who in allowed:
        if page == "home":
            assert response.status_code == 200
            assert 'href="/staff/members/?status=pending"' in response.content.decode()
        else:
            assert response.status_code == 200
            assert alice.user.email in response.content.decode()
    else:
        assert response.status_code == 403
        assert alice.user.email not in response.content.decode()


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_staff_actions_are_allowed_only_for_the_roles_that_hold_the_permission(client, alice, login_as, action, who):
    path, allowed = ACTIONS[action]
    if action == "approve":
        _verify_all(alice)
    document = alice.documents.get(doc_type="national_id")
    url = path.format(member=alice.pk, document=document.pk)
    actor = login_as(who)
    before = _state(alice)

    response = client.post(url, POST_DATA[action])

    if who in allowed:
        assert response.status_code == 302, html.unescape(response.content.decode())[:500]
        assert response["Location"] == f"/staff/members/{alice.pk}/"
        alice.refresh_from_db()
        document.refresh_from_db()
        if action == "approve":
            assert alice.status == Member.Status.APPROVED and alice.membership_number
        elif action == "reject":
            assert alice.status == Member.Status.REJECTED
            assert alice.status_reason == "Incomplete application."
        elif action == "record_payment":
            payment = Payment.objects.get(member=alice)
            assert (payment.method, payment.external_reference, payment.status) == ("bank", "BANK-7781", "completed")
            assert alice.registration_paid_at is not None
            assert alice.registration_payment_reference == payment.receipt_number
        elif action == "document_verify":
            assert document.status == Document.Status.VERIFIED and document.reviewed_by == actor
        elif action == "document_reject":
            assert document.status == Document.Status.REJECTED
            assert document.rejection_reason == "The scan is unreadable."
        assert AuditLog.objects.filter(actor=actor).exclude(action=AuditLog.Action.LOGIN).exists()
    else:
        if who == "anonymous":
            assert response.status_code == 302
            assert response["Location"] == f"/login/?next={url}"
        else:
            assert response.status_code == 403
        assert _state(alice) == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_staff_actions_refuse_get(client, alice, admin_user, action):
    client.force_login(admin_user)
    url = ACTIONS[action][0].format(member=alice.pk, document=alice.documents.first().pk)
    before = _state(alice)
    assert client.get(url, POST_DATA[action]).status_code == 405
    assert _state(alice) == before


def test_the_matrix_matches_the_role_definitions():
    from accounts.roles import ADMIN, FINANCE, ROLE_PERMISSIONS, STAFF

    needs = {
        "approve": {"members.view_member", "members.review_application"},
        "reject": {"members.view_member", "members.review_application"},
        "record_payment": {"members.view_member", "members.record_offline_payment"},
        "document_verify": {"members.view_document", "members.review_document"},
        "document_reject": {"members.view_document", "members.review_document"},
    }
    roles = {"staff": set(ROLE_PERMISSIONS[STAFF]), "finance": set(ROLE_PERMISSIONS[FINANCE])}
    for action, (_, allowed) in ACTIONS.items():
        expected = {role for role, perms in roles.items() if needs[action] <= perms} | {ADMIN.lower()}
        assert allowed == expected, action


def test_unknown_members_and_documents_are_404_for_staff(client, staff_user, reference_data):
    client.force_login(staff_user)
    assert client.get("/staff/members/999999/").status_code == 404
    assert client.post("/staff/members/999999/approve/").status_code == 404
    assert client.post("/staff/documents/999999/verify/").status_code == 404


# --- Behaviour ----------------------------------------------------------------------------------------


def test_approving_with_unverified_documents_answers_400_with_the_reason(client, alice, staff_user):
    document_verify(document=alice.documents.get(doc_type="national_id"), actor=staff_user)
    client.force_login(staff_user)
    response = client.post(f"/staff/members/{alice.pk}/approve/")
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert (
        "Verify every required document first (still open: Passport photo, Academic or professional certificate)"
    ) in page
    alice.refresh_from_db()
    assert alice.status == Member.Status.PENDING and alice.membership_number is None
    assert not AuditLog.objects.filter(action=AuditLog.Action.NUMBER_ISSUED).exists()


@pytest.mark.parametrize("reason", [None, "", "   \n  "])
def test_rejecting_an_application_without_a_reason_answers_400(client, alice, staff_user, reason):
    client.force_login(staff_user)
    data = {} if reason is None else {"reason": reason}
    response = client.post(f"/staff/members/{alice.pk}/reject/", data)
    assert response.status_code == 400
    assert "Give the applicant a reason for the rejection." in response.content.decode()
    alice.refresh_from_db()
    assert alice.status == Member.Status.PENDING


def test_rejecting_a_document_without_a_reason_answers_400(client, alice, staff_user):
    document = alice.documents.first()
    client.force_login(staff_user)
    response = client.post(f"/staff/documents/{document.pk}/reject/", {"reason": " "})
    assert response.status_code == 400
    assert "Give the member a reason for rejecting the document." in response.content.decode()
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING


def test_recording_a_payment_without_a_reference_answers_400(client, alice, finance_user):
    client.force_login(finance_user)
    data = {"method": "cash", "reference": "", "amount": "5000"}
    response = client.post(f"/staff/members/{alice.pk}/record-payment/", data)
    assert response.status_code == 400
    assert "Enter the payment reference." in response.content.decode()
    alice.refresh_from_db()
    assert alice.registration_paid_at is None


def test_an_application_cannot_be_approved_twice(client, alice, staff_user):
    _verify_all(alice)
    client.force_login(staff_user)
    assert client.post(f"/staff/members/{alice.pk}/approve/").status_code == 302
    number = Member.objects.get(pk=alice.pk).membership_number
    response = client.post(f"/staff/members/{alice.pk}/approve/")
    assert response.status_code == 400
    assert "only pending ones can be approved" in response.content.decode()
    assert Member.objects.get(pk=alice.pk).membership_number == number


def test_the_full_review_through_the_pages_issues_the_first_number_of_the_year(client, alice, staff_user, finance_user):
    year = timezone.localdate().year
    client.force_login(staff_user)
    detail = client.get(f"/staff/members/{alice.pk}/").content.decode()
    for document in alice.documents.all():
        assert f'action="/staff/documents/{document.pk}/verify/"' in detail
        response = client.post(f"/staff/documents/{document.pk}/verify/", follow=True)
        assert response.status_code == 200
        assert "Verified:" in response.content.decode()

    response = client.post(f"/staff/members/{alice.pk}/approve/", follow=True)
    assert response.status_code == 200
    number = f"KTS-{year}-0001"
    assert f"membership number {number}" in response.content.decode()
    alice.refresh_from_db()
    assert alice.status == Member.Status.APPROVED
    assert alice.membership_number == number
    assert alice.approved_by == staff_user

    client.force_login(finance_user)
    response = client.post(
        f"/staff/members/{alice.pk}/record-payment/",
        {"method": "cash", "reference": "CASH-0042", "amount": "5000"},
        follow=True,
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.status == Member.Status.ACTIVE
    assert alice.period_start == timezone.localdate()
    assert alice.membership_number == number

    actions = list(
        AuditLog.objects.filter(target_type="members.member", target_id=str(alice.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["status_changed", "number_issued", "payment_recorded", "status_changed"]

    client.force_login(alice.user)
    portal = client.get("/portal/").content.decode()
    assert number in portal


def test_the_next_approval_gets_the_next_number(client, alice, bob, staff_user):
    year = timezone.localdate().year
    client.force_login(staff_user)
    for member in (bob, alice):
        _verify_all(member)
        assert client.post(f"/staff/members/{member.pk}/approve/").status_code == 302
    assert Member.objects.get(pk=bob.pk).membership_number == f"KTS-{year}-0001"
    assert Member.objects.get(pk=alice.pk).membership_number == f"KTS-{year}-0002"


def test_the_applications_list_filters_by_status_and_searches(client, alice, bob, staff_user):
    Member.objects.filter(pk=bob.pk).update(status=Member.Status.REJECTED)
    client.force_login(staff_user)
    pending = client.get("/staff/applications/").content.decode()
    assert alice.user.email in pending and bob.user.email not in pending
    everyone = client.get("/staff/applications/", {"status": ""}).content.decode()
    assert alice.user.email in everyone and bob.user.email in everyone
    found = client.get("/staff/applications/", {"status": "", "q": "bob@example"}).content.decode()
    assert bob.user.email in found and alice.user.email not in found
    assert client.get("/staff/applications/", {"status": "nonsense"}).status_code == 200


# --- Query count --------------------------------------------------------------------------------------


def _count_queries(client, url, params):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("params", [{}, {"status": ""}, {"status": "", "q": "example.com"}])
def test_the_applications_page_makes_the_same_number_of_queries_for_3_or_20_rows(
    client, reference_data, staff_user, params
):
    members = [MemberFactory() for _ in range(3)]
    client.force_login(staff_user)
    client.get("/staff/applications/", params)  # warm caches that are not per row

    few, page = _count_queries(client, "/staff/applications/", params)
    assert all(m.user.email in page for m in members)

    members += [MemberFactory() for _ in range(17)]
    Document.objects.filter(member=members[-1], doc_type="certificate").update(status=Document.Status.REJECTED)
    many, page = _count_queries(client, "/staff/applications/", params)
    assert all(m.user.email in page for m in members)
    assert "1 rejected" in page

    assert few == many
