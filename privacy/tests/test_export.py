""" "Download my data": only the caller's data, audited, rate limited, on the web and the API."""

import io
import json
import zipfile

import pytest

from accounts.consents import consent_give
from audit.models import AuditLog
from tests.factories import PASSWORD

from .conftest import give_history, make_active

pytestmark = pytest.mark.django_db


def _archive(response):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-')
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def _identifiers(member):
    return [
        member.user.email,
        member.user.first_name,
        member.user.last_name,
        member.id_number,
        member.phone_number,
        member.membership_number,
        member.verification_token,
    ]


@pytest.fixture
def two_members(alice, bob):
    make_active(alice, "KTS-2026-0101")
    make_active(bob, "KTS-2026-0202")
    give_history(alice, mpesa_receipt="SAL1CE0001", receipt_number="RCT-2026-000101")
    give_history(bob, mpesa_receipt="SB0B000002", receipt_number="RCT-2026-000202")
    consent_give(user=alice.user, purpose="privacy_notice", channel="web")
    consent_give(user=bob.user, purpose="privacy_notice", channel="api")
    return alice, bob


@pytest.mark.security_check(16)
def test_alices_archive_holds_her_data_and_nothing_of_bobs(client, two_members):
    alice, bob = two_members
    client.login(username=alice.user.email, password=PASSWORD)
    archive = _archive(client.post("/portal/privacy/download/"))

    data = json.loads(archive.read("data.json"))
    assert data["profile"]["email"] == "alice@example.com"
    assert data["profile"]["id_number"] == alice.id_number
    assert data["membership"]["membership_number"] == "KTS-2026-0101"
    assert [p["receipt_number"] for p in data["payments"]] == ["RCT-2026-000101"]
    assert [p["mpesa_receipt_number"] for p in data["payments"]] == ["SAL1CE0001"]
    assert [c["channel"] for c in data["consents"]] == ["Web form"]
    assert data["notifications"]["in_app"] and data["notifications"]["emails_and_sms"]
    assert {"Registered", "Profile changed", "Failed login"} <= {e["action"] for e in data["activity"]}
    documents = [name for name in archive.namelist() if name.startswith("documents/")]
    assert len(documents) == alice.documents.count() == len(data["documents"])
    assert "callback_token" not in archive.read("data.json").decode()

    everything = b"".join(archive.read(name) for name in archive.namelist())
    for value in _identifiers(bob) + ["SB0B000002", "RCT-2026-000202", "Bob"]:
        assert value.encode() not in everything, value
    bob_files = b"".join(d.file.open("rb").read() for d in bob.documents.all())
    assert bob_files  # Bob's files exist ...
    for document in bob.documents.all():
        assert document.file.name.split("/")[-1] not in archive.namelist()  # ... and are not in Alice's zip


def test_staff_identities_are_not_in_the_archive(client, alice, staff_user):
    from members.services import document_verify

    document_verify(document=alice.documents.first(), actor=staff_user)
    client.login(username=alice.user.email, password=PASSWORD)
    data = json.loads(_archive(client.post("/portal/privacy/download/")).read("data.json"))
    assert "sam.staff@example.com" not in json.dumps(data)
    assert {"by": "staff"}.items() <= next(e for e in data["activity"] if e["action"] == "Document verified").items()


def test_the_download_is_audited(client, alice):
    client.login(username=alice.user.email, password=PASSWORD)
    _archive(client.post("/portal/privacy/download/"))
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORTED)
    assert entry.actor == alice.user and entry.target_id == str(alice.pk)
    assert entry.data["what"] == "own_data" and entry.data["channel"] == "web"


def test_the_web_download_is_rate_limited(client, alice, settings):
    settings.DATA_EXPORT_MIN_INTERVAL_SECONDS = 60
    client.login(username=alice.user.email, password=PASSWORD)
    _archive(client.post("/portal/privacy/download/"))
    again = client.post("/portal/privacy/download/")
    assert again.status_code == 429
    assert "Try again in" in again.content.decode()
    assert AuditLog.objects.filter(action=AuditLog.Action.EXPORTED).count() == 1


def test_the_download_is_a_post_so_no_link_prefetch_spends_it(client, alice):
    client.login(username=alice.user.email, password=PASSWORD)
    assert client.get("/portal/privacy/download/").status_code == 405


def _token(client, email):
    response = client.post(
        "/api/auth/login/", {"username": email, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["access"]


@pytest.mark.security_check(16)
def test_the_api_returns_only_the_callers_archive(client, two_members):
    alice, bob = two_members
    token = _token(client, bob.user.email)
    archive = _archive(client.get("/api/members/data-export/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    text = b"".join(archive.read(name) for name in archive.namelist())
    assert b"bob@example.com" in text and b"RCT-2026-000202" in text
    for value in _identifiers(alice) + ["SAL1CE0001", "RCT-2026-000101"]:
        assert value.encode() not in text, value
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORTED).data["channel"] == "api"


def test_the_api_needs_a_token_and_is_rate_limited(client, alice):
    assert client.get("/api/members/data-export/").status_code == 401
    token = _token(client, alice.user.email)
    assert client.get("/api/members/data-export/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    again = client.get("/api/members/data-export/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert again.status_code == 429
    assert int(again["Retry-After"]) > 0


def test_a_staff_account_without_membership_gets_a_404(client, staff_user):
    client.force_login(staff_user)
    assert client.post("/portal/privacy/download/").status_code == 404
