"""The staff API (members/api_staff.py): the member list, one member's detail and files, the review actions,
who may call each route (walked from the URL configuration), and what a member's token gets: nothing."""

import datetime
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.roles import FINANCE, ROLE_PERMISSIONS, STAFF
from audit.models import AuditLog
from members.api_staff import CappedCountPagination
from members.models import Document, Member
from tests.factories import DocumentFactory, MemberFactory
from tests.two_factor import api_access_token

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
LIST = "/api/staff/members/"
STAFF_SIDE = {"staff", "finance", "admin"}
REVIEWERS = {"staff", "admin"}
WHO = ["anonymous", "member", "no_role", "staff", "finance", "admin"]


def token_for(user) -> str:
    return api_access_token(user)


def call(client, method, path, token=None, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if method == "post":
        return client.post(path, data=json.dumps(body or {}), content_type="application/json", **headers)
    return client.get(path, **headers)


@pytest.fixture
def staff_token(staff_user):
    return token_for(staff_user)


def query_of(url: str) -> dict:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://testserver{LIST}"
    return parse_qs(parts.query)


def verify_all(client, token, member):
    for document in member.documents.all():
        response = call(client, "post", f"/api/staff/documents/{document.pk}/verify/", token)
        assert response.status_code == 200, response.content


# --- The list --------------------------------------------------------------------------------------------------


def test_staff_list_members_newest_application_first(client, staff_token, alice, bob):
    Member.objects.filter(pk=alice.pk).update(applied_at=timezone.now() - datetime.timedelta(days=3))
    response = call(client, "get", LIST, staff_token)
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [bob.pk, alice.pk]
    assert body["count"] == 2 and body["count_is_estimate"] is False and body["count_is_capped"] is False
    assert body["page"] == 1 and body["per_page"] == 25 and body["num_pages"] == 1
    assert body["next"] is None and body["previous"] is None
    row = body["results"][1]
    assert row["email"] == "alice@example.com" and row["status"] == "pending" and row["category"] == "full"
    assert row["url"] == f"http://testserver/api/staff/members/{alice.pk}/"
    assert response["Cache-Control"] == "no-store"


def test_the_list_takes_the_web_lists_filters_and_sort(client, staff_token, alice, bob):
    Member.objects.filter(pk=alice.pk).update(membership_number="KTS-2026-0003")
    Member.objects.filter(pk=bob.pk).update(
        status=Member.Status.ACTIVE, membership_number="KTS-2026-0007", period_end=TODAY + datetime.timedelta(days=9)
    )
    alice.user.last_name, bob.user.last_name = "Zawadi", "Atieno"
    alice.user.save()
    bob.user.save()

    def ids(params):
        response = call(client, "get", f"{LIST}?{params}", staff_token)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("status=active") == [bob.pk]
    assert ids("status=pending") == [alice.pk]
    assert ids(f"expires_before={TODAY + datetime.timedelta(days=30)}") == [bob.pk]
    assert ids("ordering=number") == [alice.pk, bob.pk]
    assert ids("ordering=-number") == [bob.pk, alice.pk]
    assert ids("ordering=name") == [bob.pk, alice.pk]
    # Free text: the web's `q`, and `search` as the issue names it.
    assert ids("q=KTS-2026-0007") == [bob.pk]
    assert ids("search=alice@example.com") == [alice.pk]


def test_a_filter_value_it_does_not_know_is_a_400_naming_the_field(client, staff_token, alice):
    response = call(client, "get", f"{LIST}?status=sleeping", staff_token)
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_pages_link_to_each_other_and_a_page_past_the_end_is_404(client, staff_token, reference_data):
    for _ in range(27):
        MemberFactory(documents=[])
    first = call(client, "get", f"{LIST}?status=pending", staff_token).json()
    assert len(first["results"]) == 25 and first["num_pages"] == 2
    assert query_of(first["next"]) == {"status": ["pending"], "page": ["2"]}
    second = call(client, "get", first["next"], staff_token).json()
    assert len(second["results"]) == 2 and query_of(second["previous"]) == {"status": ["pending"]}
    assert not {row["id"] for row in first["results"]} & {row["id"] for row in second["results"]}
    assert call(client, "get", f"{LIST}?page=3", staff_token).status_code == 404
    assert call(client, "get", f"{LIST}?page=x", staff_token).status_code == 404
    assert len(call(client, "get", f"{LIST}?per_page=50", staff_token).json()["results"]) == 27


def test_the_count_is_capped_and_never_over_the_whole_table(
    client, staff_token, reference_data, monkeypatch, django_assert_max_num_queries
):
    for _ in range(6):
        MemberFactory(documents=[])
    monkeypatch.setattr(CappedCountPagination, "count_cap", 4)
    with django_assert_max_num_queries(20) as queries:
        body = call(client, "get", f"{LIST}?status=pending", staff_token).json()
    assert body["count"] == 4 and body["count_is_capped"] is True and len(body["results"]) == 4
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_list_queries_do_not_grow_with_the_members_shown(
    client, staff_token, reference_data, django_assert_max_num_queries, django_assert_num_queries
):
    for _ in range(5):
        MemberFactory(documents=[])
    with django_assert_max_num_queries(12) as five:
        assert len(call(client, "get", f"{LIST}?per_page=100", staff_token).json()["results"]) == 5
    for _ in range(45):
        MemberFactory(documents=[])
    with django_assert_num_queries(len(five.captured_queries)):
        assert len(call(client, "get", f"{LIST}?per_page=100", staff_token).json()["results"]) == 50


# --- One member and their documents --------------------------------------------------------------------------


def test_the_detail_lists_each_document_with_its_review_and_download_url(client, staff_token, staff_user, alice):
    national_id = alice.documents.get(doc_type="national_id")
    Document.objects.filter(pk=national_id.pk).update(
        status=Document.Status.REJECTED, rejection_reason="Blurred", reviewed_by=staff_user
    )
    response = call(client, "get", f"/api/staff/members/{alice.pk}/", staff_token)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alice.pk and body["first_name"] == "Alice" and body["id_number"] == alice.id_number
    documents = {d["id"]: d for d in body["documents"]}
    assert set(documents) == set(alice.documents.values_list("pk", flat=True))
    rejected = documents[national_id.pk]
    assert rejected["doc_type"] == "national_id" and rejected["status"] == "rejected"
    assert rejected["rejection_reason"] == "Blurred" and rejected["reviewed_by"] == staff_user.email
    assert rejected["download_url"] == f"http://testserver/api/staff/documents/{national_id.pk}/file/"
    assert set(body["unverified_documents"]) == set(alice.category.required_documents)


def test_detail_queries_do_not_grow_with_documents(
    client, staff_token, staff_user, alice, django_assert_max_num_queries, django_assert_num_queries
):
    path = f"/api/staff/members/{alice.pk}/"
    alice.documents.update(reviewed_by=staff_user)  # each document names its reviewer
    with django_assert_max_num_queries(10) as three:
        assert len(call(client, "get", path, staff_token).json()["documents"]) == 3
    DocumentFactory(member=alice, doc_type="other")
    for n in range(4):  # replaced uploads, still listed
        DocumentFactory(
            member=alice,
            doc_type="national_id",
            is_current=False,
            uploaded_at=timezone.now() - datetime.timedelta(days=n + 1),
        )
    alice.documents.update(reviewed_by=staff_user)
    with django_assert_num_queries(len(three.captured_queries)):
        documents = call(client, "get", path, staff_token).json()["documents"]
    assert len(documents) == 8 and {d["reviewed_by"] for d in documents} == {staff_user.email}
    assert [d["is_current"] for d in documents] == [True] * 4 + [False] * 4


@pytest.mark.security_check(2)
def test_the_document_file_is_an_attachment_with_nosniff_and_is_audited(client, staff_token, staff_user, alice):
    document = alice.documents.get(doc_type="national_id")
    download_url = call(client, "get", f"/api/staff/members/{alice.pk}/", staff_token).json()["documents"]
    url = next(d["download_url"] for d in download_url if d["id"] == document.pk)
    response = call(client, "get", url, staff_token)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert AuditLog.objects.filter(
        action=AuditLog.Action.DOCUMENT_DOWNLOADED, actor=staff_user, data__channel="api"
    ).exists()


@pytest.mark.security_check(2)
def test_finance_cannot_fetch_documents_and_errors_stay_json_whatever_is_accepted(client, finance_user, alice):
    document = alice.documents.first()
    response = client.get(
        f"/api/staff/documents/{document.pk}/file/",
        HTTP_AUTHORIZATION=f"Bearer {token_for(finance_user)}",
        HTTP_ACCEPT="application/pdf",
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["status"] == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED).exists()


# --- The review --------------------------------------------------------------------------------------------------


def test_approval_issues_a_membership_number_and_is_audited(client, staff_user, alice, settings):
    token = token_for(staff_user)
    verify_all(client, token, alice)
    response = call(client, "post", f"/api/staff/members/{alice.pk}/approve/", token)
    assert response.status_code == 200, response.content
    body = response.json()
    alice.refresh_from_db()
    assert alice.status == Member.Status.APPROVED and alice.approved_by == staff_user
    assert alice.membership_number and body["membership_number"] == alice.membership_number
    assert alice.membership_number.startswith(f"{settings.MEMBERSHIP_NUMBER_PREFIX}-{TODAY.year}-")
    assert body["status"] == "approved" and body["approved_by"] == staff_user.email
    issued = AuditLog.objects.get(action=AuditLog.Action.NUMBER_ISSUED, actor=staff_user)
    assert issued.data == {"number": alice.membership_number}
    assert AuditLog.objects.filter(
        action=AuditLog.Action.STATUS_CHANGED, actor=staff_user, data={"from": "pending", "to": "approved"}
    ).exists()
    assert AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_VERIFIED, actor=staff_user).count() == 3

    again = call(client, "post", f"/api/staff/members/{alice.pk}/approve/", token)
    assert again.status_code == 409
    assert "only pending ones can be approved" in again.json()["error"]["message"]
    assert AuditLog.objects.filter(action=AuditLog.Action.NUMBER_ISSUED).count() == 1


def test_approval_waits_for_every_document_with_a_400_that_says_so(client, staff_token, alice):
    response = call(client, "post", f"/api/staff/members/{alice.pk}/approve/", staff_token)
    assert response.status_code == 400
    assert "Verify every required document first" in response.json()["error"]["message"]
    alice.refresh_from_db()
    assert alice.status == Member.Status.PENDING and alice.membership_number is None


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_a_rejection_needs_a_reason(client, staff_token, alice, body):
    response = call(client, "post", f"/api/staff/members/{alice.pk}/reject/", staff_token, body)
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    alice.refresh_from_db()
    assert alice.status == Member.Status.PENDING
    assert not AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED).exists()


def test_rejecting_an_application_records_the_reason(client, staff_token, staff_user, alice):
    response = call(client, "post", f"/api/staff/members/{alice.pk}/reject/", staff_token, {"reason": "Not eligible"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected" and response.json()["status_reason"] == "Not eligible"
    entry = AuditLog.objects.get(action=AuditLog.Action.STATUS_CHANGED, actor=staff_user)
    assert entry.reason == "Not eligible" and entry.data == {"from": "pending", "to": "rejected"}
    again = call(client, "post", f"/api/staff/members/{alice.pk}/reject/", staff_token, {"reason": "Twice"})
    assert again.status_code == 409 and "rejected" in again.json()["error"]["message"]


def test_verifying_a_document(client, staff_token, staff_user, alice):
    document = alice.documents.get(doc_type="national_id")
    response = call(client, "post", f"/api/staff/documents/{document.pk}/verify/", staff_token)
    assert response.status_code == 200
    assert response.json()["status"] == "verified" and response.json()["reviewed_by"] == staff_user.email
    document.refresh_from_db()
    assert document.status == Document.Status.VERIFIED and document.reviewed_by == staff_user
    assert AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_VERIFIED, actor=staff_user).count() == 1


def test_rejecting_a_document_needs_a_reason_and_records_it(client, staff_token, staff_user, alice):
    document = alice.documents.get(doc_type="passport_photo")
    path = f"/api/staff/documents/{document.pk}/reject/"
    missing = call(client, "post", path, staff_token, {})
    assert missing.status_code == 400 and "reason" in missing.json()["error"]["fields"]
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING

    response = call(client, "post", path, staff_token, {"reason": "Face not visible"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["rejection_reason"] == "Face not visible"
    entry = AuditLog.objects.get(action=AuditLog.Action.DOCUMENT_REJECTED, actor=staff_user)
    assert entry.reason == "Face not visible"


def test_a_document_no_longer_open_for_review_is_a_409(client, staff_token, alice):
    document = alice.documents.first()
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.REJECTED)
    response = call(client, "post", f"/api/staff/documents/{document.pk}/verify/", staff_token)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "status": 409,
        "code": "conflict",
        "message": "This document is no longer open for review.",
    }


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/staff/members/{}/"),
        ("post", "/api/staff/members/{}/approve/"),
        ("post", "/api/staff/members/{}/reject/"),
        ("post", "/api/staff/documents/{}/verify/"),
        ("post", "/api/staff/documents/{}/reject/"),
        ("get", "/api/staff/documents/{}/file/"),
    ],
)
def test_an_unknown_id_is_a_404(client, admin_user, reference_data, method, path):
    response = call(client, method, path.format(987654), token_for(admin_user), {"reason": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


# --- Who gets in: every /api/staff/ route, every role ---------------------------------------------------------

# name: (method, path, roles allowed in). The roles follow the web views' permissions (see the last test).
MATRIX = {
    "staff_members": ("get", "/api/staff/members/", STAFF_SIDE),
    "staff_member_detail": ("get", "/api/staff/members/{member}/", STAFF_SIDE),
    "staff_member_approve": ("post", "/api/staff/members/{member}/approve/", REVIEWERS),
    "staff_member_reject": ("post", "/api/staff/members/{member}/reject/", REVIEWERS),
    "staff_document_verify": ("post", "/api/staff/documents/{document}/verify/", REVIEWERS),
    "staff_document_reject": ("post", "/api/staff/documents/{document}/reject/", REVIEWERS),
    "staff_document_file": ("get", "/api/staff/documents/{document}/file/", REVIEWERS),
}


def _api_staff_url_names():
    names = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "api":
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern), pattern
                if str(pattern.pattern).startswith("staff/"):
                    names.add(pattern.name)
    return names


def test_the_matrix_covers_every_staff_api_route():
    assert _api_staff_url_names() == set(MATRIX)


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("name", list(MATRIX))
def test_who_gets_in(client, person, alice, bob, name, who):
    method, path, allowed = MATRIX[name]
    url = path.format(member=alice.pk, document=alice.documents.first().pk)
    user = person(who)
    response = call(client, method, url, token_for(user) if user else None)
    if who == "anonymous":
        assert response.status_code == 401
        assert response.json()["error"]["status"] == 401
    elif who in allowed:
        # In: the data, the file, or the action's own answer (done, or refused for the data: 400/409).
        assert response.status_code in {200, 400, 409}, (response.status_code, url)
    else:
        assert response.status_code == 403, (response.status_code, url)
        assert response.json() == {
            "error": {"status": 403, "code": "permission_denied", "message": response.json()["error"]["message"]}
        }


def test_the_matrix_follows_the_web_views_permissions():
    """The roles allowed in each route are exactly those granted the permissions of its web twin."""
    from members import api_staff

    needs = {
        "staff_members": set(api_staff.StaffMemberListView.required_permissions),
        "staff_member_detail": set(api_staff.StaffMemberDetailView.required_permissions),
        "staff_member_approve": set(api_staff.StaffMemberApproveView.required_permissions),
        "staff_member_reject": set(api_staff.StaffMemberRejectView.required_permissions),
        "staff_document_verify": set(api_staff.StaffDocumentVerifyView.required_permissions),
        "staff_document_reject": set(api_staff.StaffDocumentRejectView.required_permissions),
        "staff_document_file": set(api_staff.StaffDocumentFileView.required_permissions),
    }
    # The web views' own requirements (dashboard/members/, members/views.py).
    assert needs["staff_members"] == needs["staff_member_detail"] == {"members.view_member"}
    assert (
        needs["staff_member_approve"]
        == needs["staff_member_reject"]
        == {
            "members.view_member",
            "members.review_application",
        }
    )
    assert (
        needs["staff_document_verify"]
        == needs["staff_document_reject"]
        == {
            "members.view_document",
            "members.review_document",
        }
    )
    assert needs["staff_document_file"] == {"members.view_document"}
    roles = {"staff": set(ROLE_PERMISSIONS[STAFF]), "finance": set(ROLE_PERMISSIONS[FINANCE])}
    for name, perms in needs.items():
        expected = {role for role, granted in roles.items() if perms <= granted} | {"admin"}
        assert MATRIX[name][2] == expected, name


# --- A member's token on every staff route and id --------------------------------------------------------------


@pytest.mark.security_check(1)
def test_a_members_token_gets_403_and_no_data_on_every_staff_route_and_id(client, alice, bob):
    token = token_for(bob.user)
    ids = {
        "member": [alice.pk, bob.pk, 987654],
        "document": [
            *alice.documents.values_list("pk", flat=True),
            *bob.documents.values_list("pk", flat=True),
            987654,
        ],
    }
    assert set(MATRIX) == _api_staff_url_names()
    for method, path, _ in MATRIX.values():
        kind = "member" if "{member}" in path else "document" if "{document}" in path else None
        for pk in ids[kind] if kind else [None]:
            url = path.format(member=pk, document=pk)
            for params in ("", "?search=alice", "?status=pending&per_page=100"):
                response = call(client, method, url + params, token, {"reason": "mine now"})
                assert response.status_code == 403, (url, response.status_code)
                assert set(response.json()) == {"error"}
                assert b"alice" not in response.content.lower() and b"%PDF" not in response.content
    assert set(Member.objects.values_list("status", flat=True)) == {Member.Status.PENDING}
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.PENDING}
    assert not AuditLog.objects.filter(
        action__in=[
            AuditLog.Action.STATUS_CHANGED,
            AuditLog.Action.DOCUMENT_VERIFIED,
            AuditLog.Action.DOCUMENT_REJECTED,
            AuditLog.Action.DOCUMENT_DOWNLOADED,
            AuditLog.Action.NUMBER_ISSUED,
        ]
    ).exists()
