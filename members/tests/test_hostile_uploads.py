"""Active content, polyglots and files that cost more to check than the bounds allow (issue 13, findings 1
and 16): refused with a clear message by `check_upload`, by the registration page and by the portal's
re-upload, and nothing is stored. (The API's registration: api/tests/test_register_hostile_uploads.py.)"""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from members.models import Document, Member
from members.sample_files import sample_jpeg, sample_pdf
from members.uploads import PDF, check_upload

from .hostile_files import (
    ACTIVE_PDFS,
    PLAIN_PDFS,
    POLYGLOTS,
    flat_png,
    many_objects_pdf,
    noisy_jpeg,
    photo_as_pdf,
    raw_pdf,
)

User = get_user_model()
ACTIVE = "The PDF contains active content"
TIMED_OUT = "The file could not be checked in time"
OUT_OF_MEMORY = "it needs too much memory once opened"


def _refusal(upload, doc_type):
    with pytest.raises(ValidationError) as caught:
        check_upload(upload, doc_type)
    return " ".join(caught.value.messages)


# --- Finding 16: active content and polyglots, by check_upload ----------------------------------------


@pytest.mark.security_check(7)
@pytest.mark.parametrize("content", [case[1] for case in ACTIVE_PDFS], ids=[case[0] for case in ACTIVE_PDFS])
def test_a_pdf_with_active_content_is_refused(content):
    assert ACTIVE in _refusal(SimpleUploadedFile("id.pdf", content), "national_id")


@pytest.mark.security_check(7)
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "message"), [case[1:] for case in POLYGLOTS], ids=[case[0] for case in POLYGLOTS]
)
def test_a_polyglot_is_refused(name, content, doc_type, message):
    assert message in _refusal(SimpleUploadedFile(name, content), doc_type)


@pytest.mark.parametrize("content", [case[1] for case in PLAIN_PDFS], ids=[case[0] for case in PLAIN_PDFS])
def test_links_and_a_page_to_open_at_are_not_active_content(content):
    assert check_upload(SimpleUploadedFile("id.pdf", content), "national_id").content_type == PDF


@pytest.mark.parametrize(
    ("name", "make", "doc_type"),
    [("scan.pdf", photo_as_pdf, "national_id"), ("camera.jpg", noisy_jpeg, "passport_photo")],
    ids=["pdf-with-a-photo-inside", "noisy-jpeg"],
)
def test_compressed_pixels_are_not_mistaken_for_names_or_markers(name, make, doc_type):
    # Random-looking bytes (JPEG data inside a PDF, a noisy photo) hold '/' and '<' by chance.
    assert check_upload(SimpleUploadedFile(name, make()), doc_type).size > 0


# --- Finding 1: each check's time and memory are bounded, whatever the file claims --------------------


@pytest.mark.security_check(17)
def test_a_check_that_needs_more_memory_than_the_bound_is_refused(settings):
    settings.DOCUMENT_MAX_IMAGE_PIXELS = 40_000_000  # let the 36-megapixel image past the header check
    settings.DOCUMENT_CHECK_MEMORY_MB = 120
    hostile = flat_png(6000, 6000)  # 140 KB on disk, 144 MB of pixels once decoded
    assert len(hostile) < 200 * 1024
    assert OUT_OF_MEMORY in _refusal(SimpleUploadedFile("scan.png", hostile), "national_id")
    # The bound is not a refusal of everything: a 2-megapixel photo fits in it.
    assert check_upload(SimpleUploadedFile("photo.jpg", noisy_jpeg()), "passport_photo").size > 0


@pytest.mark.security_check(17)
def test_a_check_that_needs_more_time_than_the_bound_is_refused(settings):
    # 9,000 small objects: under the object cap, but pypdf needs seconds to parse them all.
    settings.DOCUMENT_MAX_UPLOAD_MB = 10
    settings.DOCUMENT_CHECK_TIMEOUT_SECONDS = 0.5
    assert TIMED_OUT in _refusal(SimpleUploadedFile("id.pdf", many_objects_pdf(9_000)), "national_id")


@pytest.mark.security_check(17)
def test_a_pdf_with_more_objects_than_anyone_needs_is_refused_before_they_are_parsed(settings):
    settings.DOCUMENT_MAX_UPLOAD_MB = 10
    message = _refusal(SimpleUploadedFile("id.pdf", many_objects_pdf(20_000)), "national_id")
    assert "too many objects" in message


def test_the_form_and_the_service_check_a_file_once(settings, monkeypatch):
    calls = []
    real_run = __import__("subprocess").run

    def counting_run(*args, **kwargs):
        calls.append(args)
        return real_run(*args, **kwargs)

    monkeypatch.setattr("members.uploads.subprocess.run", counting_run)
    upload = SimpleUploadedFile("id.pdf", sample_pdf())
    check_upload(upload, "national_id")
    check_upload(upload, "national_id")
    assert len(calls) == 1
    check_upload(upload, "other")  # another type: checked again
    assert len(calls) == 2


# --- Through every path that takes a document -----------------------------------------------------------

# (case id, file name, content, document type, settings, what the person is told)
HOSTILE = [
    ("javascript-pdf", "id.pdf", dict(ACTIVE_PDFS)["javascript-open-action"], "national_id", {}, ACTIVE),
    ("escaped-launch-pdf", "id.pdf", dict(ACTIVE_PDFS)["escaped-launch-name"], "national_id", {}, ACTIVE),
    ("png-pdf-polyglot", "photo.png", POLYGLOTS[0][2], "passport_photo", {}, "also holds another kind of file"),
    ("pdf-zip-polyglot", "id.pdf", POLYGLOTS[1][2], "national_id", {}, "archive (ZIP or JAR)"),
    ("jpeg-trailing-html", "photo.jpg", POLYGLOTS[2][2], "passport_photo", {}, "also holds another kind of file"),
    (
        "memory-bound",
        "scan.png",
        flat_png(6000, 6000),
        "national_id",
        {"DOCUMENT_MAX_IMAGE_PIXELS": 40_000_000, "DOCUMENT_CHECK_MEMORY_MB": 120},
        "it needs too much memory once opened",
    ),
    (
        "time-bound",
        "id.pdf",
        many_objects_pdf(9_000),
        "national_id",
        {"DOCUMENT_MAX_UPLOAD_MB": 10, "DOCUMENT_CHECK_TIMEOUT_SECONDS": 0.5},
        "could not be checked in time",
    ),
]
HOSTILE_IDS = [case[0] for case in HOSTILE]


@pytest.mark.security_check(7)
@pytest.mark.security_check(17)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "overrides", "message"), [c[1:] for c in HOSTILE], ids=HOSTILE_IDS
)
def test_the_registration_page_refuses_a_hostile_file_and_stores_nothing(
    client, registration_data, private_files, settings, name, content, doc_type, overrides, message
):
    for key, value in overrides.items():
        setattr(settings, key, value)
    response = client.post(
        "/register/", registration_data(**{f"document_{doc_type}": SimpleUploadedFile(name, content)})
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["form"].has_error(f"document_{doc_type}")
    assert private_files() == []
    assert not User.objects.filter(email__iexact="grace.wanjiru@example.com").exists()
    assert not Member.objects.exists() and not Document.objects.exists()


@pytest.mark.security_check(7)
@pytest.mark.security_check(17)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "overrides", "message"), [c[1:] for c in HOSTILE], ids=HOSTILE_IDS
)
def test_the_portal_refuses_a_hostile_replacement_and_stores_nothing(
    client, alice, private_files, settings, name, content, doc_type, overrides, message
):
    for key, value in overrides.items():
        setattr(settings, key, value)
    documents_before = list(alice.documents.values_list("pk", "is_current", "file"))
    files_before = private_files()
    client.force_login(alice.user)
    response = client.post(
        "/portal/documents/upload/", {"doc_type": doc_type, "file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(alice.documents.values_list("pk", "is_current", "file")) == documents_before
    assert private_files() == files_before


@pytest.mark.django_db
def test_a_plain_pdf_and_photo_still_go_through_the_portal(client, alice, private_files):
    client.force_login(alice.user)
    for doc_type, name, content in [
        ("national_id", "id.pdf", raw_pdf(catalog=b"/OpenAction [3 0 R /Fit]")),
        ("passport_photo", "p.jpg", sample_jpeg()),
    ]:
        response = client.post(
            "/portal/documents/upload/", {"doc_type": doc_type, "file": SimpleUploadedFile(name, content)}
        )
        assert response.status_code == 302, response.content.decode()[:500]
        assert Path(alice.documents.get(doc_type=doc_type, is_current=True).file.path).read_bytes() == content


@pytest.mark.security_check(17)
def test_an_upload_that_finds_every_check_slot_busy_is_refused_and_not_checked(settings, monkeypatch):
    # Hostile uploads arriving together run at most DOCUMENT_CHECK_CONCURRENCY checks at once on a machine;
    # the next one waits DOCUMENT_CHECK_QUEUE_SECONDS for a slot, then is refused without starting a child.
    # (Imported here: the slots are new, and the rest of this module must run against code without them.)
    from members.uploads import check_slot

    settings.DOCUMENT_CHECK_CONCURRENCY = 1
    settings.DOCUMENT_CHECK_QUEUE_SECONDS = 0.2
    started = []
    monkeypatch.setattr("members.uploads.subprocess.run", lambda *args, **kwargs: started.append(args))
    with check_slot():  # another worker's check holds the only slot
        message = _refusal(SimpleUploadedFile("id.pdf", sample_pdf()), "national_id")
    assert "Too many documents are being checked right now" in message
    assert started == []
    # Once the slot is free, the same file is checked and accepted.
    monkeypatch.undo()
    assert check_upload(SimpleUploadedFile("id.pdf", sample_pdf()), "national_id").content_type == PDF
