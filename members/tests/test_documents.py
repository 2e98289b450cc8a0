"""Who may fetch a document, how it is served, and how a member replaces a rejected one."""

import html
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audit.models import AuditLog
from members.models import Document
from members.sample_files import sample_jpeg, sample_png
from members.services import document_reject, document_verify
from tests.idor import assert_nothing_of, body_of, row_of, their_object

pytestmark = pytest.mark.django_db


def _body(response):
    return b"".join(response.streaming_content)


def _url(document):
    return f"/documents/{document.pk}/"


# --- Download ---------------------------------------------------------------------------------------


def test_the_owner_downloads_their_document_as_an_attachment(client, alice):
    document = alice.documents.get(doc_type="passport_photo")
    client.force_login(alice.user)
    response = client.get(_url(document))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="passport_photo.jpg"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]
    with document.file.open("rb") as stored:
        assert _body(response) == stored.read()


@pytest.mark.security_check(2)
@pytest.mark.parametrize("doc_type", ["national_id", "certificate"])
def test_every_document_type_is_served_as_an_attachment_with_nosniff(client, alice, doc_type):
    document = alice.documents.get(doc_type=doc_type)
    client.force_login(alice.user)
    response = client.get(_url(document))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == document.content_type


@pytest.mark.security_check(1)
def test_another_member_gets_404_for_every_document_that_is_not_theirs(client, alice, bob):
    client.force_login(bob.user)
    others = list(Document.objects.exclude(member=bob).values_list("pk", flat=True))
    assert len(others) == 3
    for pk in others:  # each is Alice's, and its file is there to be sent
        assert their_object(Document, pk, member__user__email="alice@example.com").file.size > 0
    files = [Document.objects.get(pk=pk).file.open("rb").read() for pk in others]
    before = [row_of(Document.objects.get(pk=pk)) for pk in others]
    highest = Document.objects.order_by("-pk").first().pk
    for pk in [*others, highest + 1, highest + 1000, 0, 2**31 - 1]:
        response = client.get(f"/documents/{pk}/")
        assert response.status_code == 404, pk
        assert_nothing_of(alice, response, *(d.original_name for d in alice.documents.all()))
        assert not [content for content in files if content[:64] in body_of(response)], pk
    assert [row_of(Document.objects.get(pk=pk)) for pk in others] == before
    assert not AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED).exists()
    # Bob still gets his own.
    assert client.get(_url(bob.documents.first())).status_code == 200


@pytest.mark.security_check(1)
def test_a_missing_and_a_forbidden_document_look_the_same(client, alice, bob):
    client.force_login(bob.user)
    forbidden = client.get(_url(alice.documents.first()))
    missing = client.get("/documents/999999/")
    assert forbidden.status_code == missing.status_code == 404
    # The same page, byte for byte, apart from the logout form's CSRF token (masked afresh on every render).
    assert _without_csrf_token(forbidden.content) == _without_csrf_token(missing.content)


def _without_csrf_token(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b'name="csrfmiddlewaretoken"', content)


def test_staff_with_the_staff_role_can_download_and_it_is_audited(client, alice, staff_user):
    document = alice.documents.get(doc_type="national_id")
    client.force_login(staff_user)
    response = client.get(_url(document), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    entry = AuditLog.objects.get(action=AuditLog.Action.DOCUMENT_DOWNLOADED)
    assert entry.actor == staff_user
    assert (entry.target_type, entry.target_id) == ("members.document", str(document.pk))
    assert entry.ip_address == "203.0.113.9"


def test_the_admin_role_can_download(client, alice, admin_user):
    client.force_login(admin_user)
    assert client.get(_url(alice.documents.first())).status_code == 200


@pytest.mark.security_check(2)
def test_the_finance_role_gets_404_because_it_cannot_view_documents(client, alice, finance_user):
    assert not finance_user.has_perm("members.view_document")
    documents = list(alice.documents.all())
    assert len(documents) == 3 and all(their_object(Document, d.pk, member=alice).file.size for d in documents)
    client.force_login(finance_user)
    for document in documents:
        response = client.get(_url(document))
        assert response.status_code == 404
        assert_nothing_of(alice, response, document.original_name)
        assert document.file.open("rb").read()[:64] not in body_of(response)
    assert not AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED).exists()


def test_a_deactivated_owner_cannot_download(client, alice):
    document = alice.documents.first()
    client.force_login(alice.user)
    alice.user.is_active = False
    alice.user.save()
    response = client.get(_url(document))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not response.has_header("Content-Disposition")


def test_anonymous_visitors_are_sent_to_the_login_page(client, alice):
    document = alice.documents.first()
    response = client.get(_url(document))
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/documents/{document.pk}/"


def test_only_get_is_allowed_on_a_download(client, alice):
    client.force_login(alice.user)
    assert client.post(_url(alice.documents.first())).status_code == 405


@pytest.mark.security_check(2)
def test_documents_live_outside_every_public_directory(alice, settings):
    document = alice.documents.first()
    stored = Path(document.file.path).resolve()
    assert stored.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT).resolve())
    for public in [settings.MEDIA_ROOT, settings.STATIC_ROOT, *settings.STATICFILES_DIRS]:
        assert not stored.is_relative_to(Path(public).resolve())


def test_the_configured_private_directory_is_not_inside_a_public_one():
    # The real settings (not the per-test temp dirs): documents must never sit under media or static.
    import config.settings as configured

    private = Path(configured.PRIVATE_MEDIA_ROOT).resolve()
    for public in [configured.MEDIA_ROOT, configured.STATIC_ROOT, *configured.STATICFILES_DIRS]:
        public = Path(public).resolve()
        assert not private.is_relative_to(public), public
        assert not public.is_relative_to(private), public
    assert configured.STORAGES["private"]["BACKEND"] == "members.storage.PrivateDocumentStorage"


def test_the_private_storage_follows_the_setting_and_has_no_url(settings, tmp_path):
    from django.core.files.base import ContentFile

    from members.models import private_storage

    settings.PRIVATE_MEDIA_ROOT = tmp_path / "elsewhere"
    name = private_storage().save("documents/x.pdf", ContentFile(b"%PDF-1.4"))
    assert (tmp_path / "elsewhere" / name).is_file()
    with pytest.raises(ValueError, match="no public URL"):
        private_storage().url(name)


@pytest.mark.security_check(2)
@pytest.mark.parametrize("debug", [False, True])
def test_no_media_or_static_url_serves_a_document(client, alice, settings, debug):
    document = alice.documents.first()
    name = document.file.name
    basename = name.rsplit("/", 1)[-1]
    candidates = [
        f"{settings.MEDIA_URL}{name}",
        f"{settings.MEDIA_URL}{basename}",
        f"{settings.MEDIA_URL}private/{name}",
        f"{settings.STATIC_URL}{name}",
        f"{settings.STATIC_URL}{basename}",
        f"{settings.STATIC_URL}private/{name}",
        f"{settings.STATIC_URL}../var/private/{name}",
        f"/{name}",
        f"/private/{name}",
    ]
    with document.file.open("rb") as stored:
        content = stored.read()
    client.force_login(alice.user)  # even the owner gets it only through the checked view
    with override_settings(DEBUG=debug):
        for url in candidates:
            response = client.get(url)
            assert response.status_code == 404, url
            body = _body(response) if response.streaming else response.content
            assert content not in body, url


# --- Replacing a rejected document from the portal ---------------------------------------------------


def _upload(client, doc_type, name, content):
    return client.post("/portal/documents/upload/", {"doc_type": doc_type, "file": SimpleUploadedFile(name, content)})


def test_a_member_sees_why_a_document_was_rejected_and_replaces_it(client, alice, staff_user, private_files):
    old = alice.documents.get(doc_type="passport_photo")
    client.force_login(staff_user)
    reason = "The photo is blurred; use a plain white background."
    response = client.post(f"/staff/documents/{old.pk}/reject/", {"reason": reason})
    assert response.status_code == 302

    client.force_login(alice.user)
    portal = html.unescape(client.get("/portal/").content.decode())
    assert f"rejected — {reason}" in portal
    assert 'action="/portal/documents/upload/"' in portal
    assert 'name="doc_type" value="passport_photo"' in portal

    files_before = set(private_files())
    replacement = sample_jpeg(colour=(10, 20, 30))
    response = _upload(client, "passport_photo", "new photo.jpg", replacement)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"

    old.refresh_from_db()
    assert old.is_current is False
    assert old.status == Document.Status.REJECTED
    assert old.rejection_reason == reason
    assert Path(old.file.path).exists(), "the rejected file is kept for the record"

    new = alice.documents.get(doc_type="passport_photo", is_current=True)
    assert new.pk != old.pk
    assert new.status == Document.Status.PENDING
    assert new.original_name == "new photo.jpg"
    assert Path(new.file.path).read_bytes() == replacement
    assert set(private_files()) == files_before | {new.file.name}

    entry = AuditLog.objects.get(action=AuditLog.Action.DOCUMENT_UPLOADED)
    assert entry.actor == alice.user
    assert entry.data == {"member": alice.pk, "doc_type": "passport_photo", "replaces": old.pk}

    after = html.unescape(client.get("/portal/").content.decode())
    # The document list no longer asks for it (the in-app notification of the rejection stays listed).
    assert f"rejected — {reason}" not in after
    assert "Passport photo uploaded; staff will review it." in after


def test_a_bad_replacement_is_refused_with_its_message_and_nothing_is_stored(client, alice, staff_user, private_files):
    old = alice.documents.get(doc_type="passport_photo")
    document_reject(document=old, reason="Blurred.", actor=staff_user)
    files_before = private_files()
    client.force_login(alice.user)

    response = _upload(client, "passport_photo", "photo.png", sample_png() + b"<html><script>alert(1)</script></html>")

    assert response.status_code == 400
    assert "The image has unexpected data after its end" in html.unescape(response.content.decode())
    assert private_files() == files_before
    assert alice.documents.count() == 3
    old.refresh_from_db()
    assert old.is_current is True and old.status == Document.Status.REJECTED
    assert not AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_UPLOADED).exists()


def test_a_photo_replacement_given_as_pdf_is_refused(client, alice, staff_user, private_files):
    document_reject(document=alice.documents.get(doc_type="passport_photo"), reason="Blurred.", actor=staff_user)
    files_before = private_files()
    client.force_login(alice.user)
    response = _upload(client, "passport_photo", "photo.pdf", b"%PDF-1.4\n")
    assert response.status_code == 400
    assert "Upload a JPEG or PNG file" in html.unescape(response.content.decode())
    assert private_files() == files_before


def test_a_verified_document_cannot_be_replaced(client, alice, staff_user, private_files):
    verified = alice.documents.get(doc_type="national_id")
    document_verify(document=verified, actor=staff_user)
    files_before = private_files()
    client.force_login(alice.user)

    response = _upload(client, "national_id", "id.png", sample_png())

    assert response.status_code == 400
    assert "This document has already been verified; it cannot be replaced." in response.content.decode()
    verified.refresh_from_db()
    assert verified.is_current and verified.status == Document.Status.VERIFIED
    assert alice.documents.filter(doc_type="national_id").count() == 1
    assert private_files() == files_before


def test_documents_cannot_be_changed_once_the_application_is_closed(client, alice, staff_user, private_files):
    from members.services import member_reject

    member_reject(member=alice, reason="Not eligible.", actor=staff_user)
    files_before = private_files()
    client.force_login(alice.user)
    response = _upload(client, "passport_photo", "photo.jpg", sample_jpeg())
    assert response.status_code == 400
    assert "Documents can only be changed while the application is under review." in response.content.decode()
    assert private_files() == files_before


def test_a_member_uploads_only_to_their_own_application(client, alice, bob, staff_user):
    document_reject(document=bob.documents.get(doc_type="passport_photo"), reason="Blurred.", actor=staff_user)
    client.force_login(alice.user)
    # There is no way to name another member: the upload always goes to the caller's own application.
    response = client.post(
        "/portal/documents/upload/",
        {"doc_type": "passport_photo", "file": SimpleUploadedFile("p.jpg", sample_jpeg()), "member": bob.pk},
    )
    assert response.status_code == 302
    assert bob.documents.get(doc_type="passport_photo").status == Document.Status.REJECTED
    assert bob.documents.count() == 3
    assert alice.documents.filter(doc_type="passport_photo").count() == 2


def test_the_upload_page_needs_a_login_and_a_post(client, alice):
    response = client.post("/portal/documents/upload/", {"doc_type": "passport_photo"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(alice.user)
    assert client.get("/portal/documents/upload/").status_code == 405


def test_staff_without_a_membership_get_404_from_the_member_upload(client, staff_user, reference_data):
    client.force_login(staff_user)
    response = client.post(
        "/portal/documents/upload/", {"doc_type": "passport_photo", "file": SimpleUploadedFile("p.jpg", sample_jpeg())}
    )
    assert response.status_code == 404
    assert not Document.objects.exists()
