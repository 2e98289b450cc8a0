"""Erasure: the member asks (with their password), an Admin decides; approval anonymises the person and
keeps the payments and the audit trail."""

import datetime
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session

from accounts.consents import consent_give
from accounts.models import Consent
from audit.models import AuditLog
from members.models import Document, Member
from members.selectors import member_search
from payments.models import MpesaCallback, Payment
from privacy.erasure import ErasureError, erasure_approve, erasure_request
from privacy.models import ErasureRequest
from tests.factories import PASSWORD, MemberFactory

from .conftest import give_history, make_active

pytestmark = pytest.mark.django_db


@pytest.fixture
def nyokabi(reference_data):
    """A member with unusual, searchable identifiers, a paid registration and a full history."""
    member = MemberFactory(
        user__email="nyokabi.gathoni@example.com",
        user__first_name="Nyokabi",
        user__last_name="Gathoni",
        other_names="Wairimu",
        id_number="27654321",
        phone_number="254722334455",
        date_of_birth=datetime.date(1987, 6, 21),
        physical_address="Kimathi Street, Nyeri",
        postal_address="P.O. Box 4321-10100, Nyeri",
        occupation="Geologist",
        organisation="Tana Drilling",
    )
    make_active(member, "KTS-2026-0420")
    give_history(member, mpesa_receipt="SNY0KAB001", receipt_number="RCT-2026-000420")
    consent_give(user=member.user, purpose="privacy_notice", channel="web")
    consent_give(user=member.user, purpose="news_and_events", channel="web")
    return member


IDENTIFIERS = [
    "nyokabi",
    "gathoni",
    "wairimu",
    "27654321",
    "254722334455",
    "0722334455",
    "1987-06-21",
    "kimathi street",
    "4321-10100",
    "geologist",
    "tana drilling",
]


def _rows_holding(identifiers):
    """Every (model, pk, field) anywhere in the database whose value contains one of `identifiers`."""
    found = []
    for model in apps.get_models():
        for row in model._base_manager.values():
            for field, value in row.items():
                text = str(value).lower()
                for identifier in identifiers:
                    if identifier in text:
                        found.append((model._meta.label, row.get("id", row.get("pk")), field, identifier))
    return found


def _approve(client, admin_user, erasure, django_capture_on_commit_callbacks):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/staff/erasure-requests/{erasure.pk}/approve/", {f"approve-{erasure.pk}-confirm": "on"}
        )
    return response


@pytest.mark.security_check(16)
def test_approval_leaves_no_trace_of_the_person_but_keeps_payments_and_audit_rows(
    client, nyokabi, bob, admin_user, django_capture_on_commit_callbacks
):
    email = nyokabi.user.email
    files = [Path(d.file.path) for d in nyokabi.documents.all()]
    assert files and all(f.exists() for f in files)
    assert _rows_holding(IDENTIFIERS + [email])  # the scan finds them before
    erasure = erasure_request(member=nyokabi, password=PASSWORD, note="Please delete me, Nyokabi")
    payments_before = list(
        Payment.objects.order_by("pk").values_list(
            "pk", "amount", "receipt_number", "mpesa_receipt_number", "created_at", "completed_at"
        )
    )
    audit_ids_before = set(AuditLog.objects.values_list("pk", flat=True))

    response = _approve(client, admin_user, erasure, django_capture_on_commit_callbacks)

    assert response.status_code == 302, response.content.decode()[:500]
    assert _rows_holding(IDENTIFIERS + [email]) == []
    # Payments: every row, amount, date and receipt number as before; the phone masked.
    assert (
        list(
            Payment.objects.order_by("pk").values_list(
                "pk", "amount", "receipt_number", "mpesa_receipt_number", "created_at", "completed_at"
            )
        )
        == payments_before
    )
    assert Payment.objects.get(member=nyokabi).phone_number == "2547****4455"
    assert "[erased phone]" in MpesaCallback.objects.get(payment__member=nyokabi).body
    # Audit: every earlier row is still there, plus the erasure's own entry.
    audit_ids_after = set(AuditLog.objects.values_list("pk", flat=True))
    assert audit_ids_before < audit_ids_after
    new_actions = AuditLog.objects.filter(pk__in=audit_ids_after - audit_ids_before).exclude(
        actor=admin_user, action="login"
    )
    assert list(new_actions.values_list("action", flat=True)) == [AuditLog.Action.PERSONAL_DATA_ERASED]
    entry = AuditLog.objects.get(action=AuditLog.Action.PERSONAL_DATA_ERASED)
    assert entry.actor == admin_user and entry.target_id == str(nyokabi.pk)
    assert entry.data["payments_kept"] == 1 and entry.data["documents_deleted"] == len(files)
    assert AuditLog.objects.filter(
        target_id=str(nyokabi.pk), target_repr__startswith="Erased member (KTS-2026-0420)"
    ).exists()
    # The membership number stays: it is printed on the receipts.
    member = Member.objects.select_related("user").get(pk=nyokabi.pk)
    assert member.membership_number == "KTS-2026-0420"
    assert member.full_name == "Erased member"
    assert member.user.email.endswith("@erased.invalid")
    # Files gone, rows kept and marked.
    assert not any(f.exists() for f in files)
    assert Document.objects.filter(member=nyokabi).count() == len(files)
    assert set(Document.objects.filter(member=nyokabi).values_list("file", "original_name")) == {("", "erased")}
    # Bob is untouched.
    bob.refresh_from_db()
    assert bob.user.email == "bob@example.com" and bob.user.is_active and bob.documents.first().file
    assert ErasureRequest.objects.get(pk=erasure.pk).status == ErasureRequest.Status.APPROVED


def test_the_person_cannot_sign_in_and_their_sessions_and_tokens_end(
    client, nyokabi, admin_user, django_capture_on_commit_callbacks
):
    from django.test import Client

    member_browser = Client()
    assert member_browser.login(username=nyokabi.user.email, password=PASSWORD)
    tokens = member_browser.post(
        "/api/auth/login/", {"username": nyokabi.user.email, "password": PASSWORD}, content_type="application/json"
    ).json()
    erasure = erasure_request(member=nyokabi, password=PASSWORD)
    assert Session.objects.count() == 1

    _approve(client, admin_user, erasure, django_capture_on_commit_callbacks)

    user = Member.objects.get(pk=nyokabi.pk).user
    assert not user.is_active and not user.has_usable_password()
    assert not user.groups.exists()
    assert not Session.objects.exclude(session_key=client.session.session_key).exists()
    assert member_browser.get("/portal/")["Location"].startswith("/login/")
    assert not Client().login(username="nyokabi.gathoni@example.com", password=PASSWORD)
    api = Client()
    assert api.get("/api/members/profile/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 401
    refreshed = api.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json")
    assert refreshed.status_code == 401


def test_search_no_longer_finds_the_person(client, nyokabi, admin_user, django_capture_on_commit_callbacks):
    assert list(member_search(query="Nyokabi", status="")) == [nyokabi]
    _approve(client, admin_user, erasure_request(member=nyokabi, password=PASSWORD), django_capture_on_commit_callbacks)
    for query in ("Nyokabi", "0722334455", "27654321", "nyokabi.gathoni@example.com"):
        assert not list(member_search(query=query, status="")), query
    assert list(member_search(query="KTS-2026-0420", status="")) == [nyokabi]


def test_consents_are_withdrawn_and_their_addresses_dropped(
    client, nyokabi, admin_user, django_capture_on_commit_callbacks
):
    _approve(client, admin_user, erasure_request(member=nyokabi, password=PASSWORD), django_capture_on_commit_callbacks)
    consents = Consent.objects.filter(user=nyokabi.user)
    assert consents.count() == 2
    assert not consents.filter(withdrawn_at__isnull=True).exists()
    assert not consents.exclude(ip_address=None).exists()


def test_a_pending_mpesa_payment_holds_the_erasure_until_it_settles(
    client, nyokabi, admin_user, django_capture_on_commit_callbacks
):
    Payment.objects.create(
        member=nyokabi, payment_type=Payment.Type.RENEWAL, amount=3000, phone_number=nyokabi.phone_number
    )
    erasure = erasure_request(member=nyokabi, password=PASSWORD)
    staff_page = client
    staff_page.force_login(admin_user)
    assert "still waiting for its answer" in staff_page.get("/staff/erasure-requests/").content.decode()

    response = _approve(client, admin_user, erasure, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert "is still waiting for its answer" in response.content.decode()
    assert ErasureRequest.objects.get(pk=erasure.pk).status == ErasureRequest.Status.PENDING
    assert Member.objects.get(pk=nyokabi.pk).user.email == "nyokabi.gathoni@example.com"

    Payment.objects.filter(member=nyokabi, status="pending").update(status=Payment.Status.TIMEOUT)
    assert _approve(client, admin_user, erasure, django_capture_on_commit_callbacks).status_code == 302
    assert ErasureRequest.objects.get(pk=erasure.pk).status == ErasureRequest.Status.APPROVED


def test_a_request_is_approved_once(client, nyokabi, admin_user, django_capture_on_commit_callbacks):
    erasure = erasure_request(member=nyokabi, password=PASSWORD)
    _approve(client, admin_user, erasure, django_capture_on_commit_callbacks)
    again = _approve(client, admin_user, erasure, django_capture_on_commit_callbacks)
    assert again.status_code == 400
    assert "already been decided" in again.content.decode()
    with pytest.raises(ErasureError):
        erasure_approve(erasure=erasure, actor=admin_user)
    assert AuditLog.objects.filter(action=AuditLog.Action.PERSONAL_DATA_ERASED).count() == 1


def test_refusal_needs_a_reason_and_tells_the_member(client, nyokabi, admin_user):
    erasure = erasure_request(member=nyokabi, password=PASSWORD)
    client.force_login(admin_user)
    assert client.post(f"/staff/erasure-requests/{erasure.pk}/refuse/").status_code == 400
    response = client.post(
        f"/staff/erasure-requests/{erasure.pk}/refuse/",
        {f"refuse-{erasure.pk}-reason": "Your membership fee dispute is still open."},
    )
    assert response.status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == ErasureRequest.Status.REFUSED and erasure.decided_by == admin_user
    assert nyokabi.user.notifications.get(event="erasure_refused").body.endswith("dispute is still open.")
    entry = AuditLog.objects.get(action=AuditLog.Action.ERASURE_REFUSED)
    assert entry.reason == "Your membership fee dispute is still open."
    client.force_login(nyokabi.user)
    assert "Your last request was refused" in client.get("/portal/privacy/").content.decode()


def test_the_member_asks_with_their_password_and_can_cancel(client, nyokabi):
    client.force_login(nyokabi.user)
    page = client.get("/portal/privacy/erasure/").content.decode()
    assert "Your payments stay in our books" in page
    wrong = client.post("/portal/privacy/erasure/", {"password": "not my password"})
    assert wrong.status_code == 400 and "That is not your password" in wrong.content.decode()
    assert not ErasureRequest.objects.exists()

    assert client.post("/portal/privacy/erasure/", {"password": PASSWORD, "note": "Moving abroad"}).status_code == 302
    erasure = ErasureRequest.objects.get()
    assert erasure.status == ErasureRequest.Status.PENDING and erasure.member_note == "Moving abroad"
    assert AuditLog.objects.filter(action=AuditLog.Action.ERASURE_REQUESTED, actor=nyokabi.user).exists()
    twice = client.post("/portal/privacy/erasure/", {"password": PASSWORD})
    assert twice.status_code == 400 and "You already asked" in twice.content.decode()
    assert ErasureRequest.objects.count() == 1

    client.post("/portal/privacy/erasure/cancel/")
    assert ErasureRequest.objects.get().status == ErasureRequest.Status.CANCELLED
    assert Member.objects.get(pk=nyokabi.pk).user.is_active


def test_an_erased_documents_download_is_a_404(client, nyokabi, admin_user, django_capture_on_commit_callbacks):
    document = nyokabi.documents.first()
    _approve(client, admin_user, erasure_request(member=nyokabi, password=PASSWORD), django_capture_on_commit_callbacks)
    assert client.get(f"/documents/{document.pk}/").status_code == 404
