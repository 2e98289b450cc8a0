"""Uploaded documents: what `check_upload` refuses and accepts, and that a refused registration leaves
nothing behind (no file under the private directory, no account)."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFile
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, NumberObject

from members import services, upload_probe
from members.models import Country, Document, Member, MembershipCategory, Region
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from members.services import DocumentUpload, member_register
from members.uploads import JPEG, PDF, PNG, check_upload

from .conftest import NEW_PASSWORD

User = get_user_model()

PHP_SHELL = b"<?php system($_GET['cmd']); ?>\n"
PNG_HEADER_THEN_HTML = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"
HTML_TRAILER = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
PDF_HEADER_THEN_GARBAGE = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\nthis is not a page tree\n%%EOF\n"
STORED_NAME = re.compile(r"^documents/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png|pdf)$")

# (case id, file name, content, document type, what the person is told)
REFUSED = [
    ("php-renamed-jpg", "photo.jpg", PHP_SHELL, "passport_photo", "its content is not a JPEG file"),
    ("png-header-then-html", "photo.png", PNG_HEADER_THEN_HTML, "passport_photo", "could not be read as a PNG"),
    (
        "png-with-html-after-iend",
        "photo.png",
        sample_png() + HTML_TRAILER,
        "passport_photo",
        "unexpected data after its end",
    ),
    ("svg-named-png", "photo.png", SVG, "passport_photo", "its content is not a PNG file"),
    ("svg-named-svg", "drawing.svg", SVG, "national_id", "Upload a JPEG, PDF or PNG file"),
    ("svg-named-svg-as-photo", "drawing.svg", SVG, "passport_photo", "Upload a JPEG or PNG file"),
    ("pdf-header-then-garbage", "id.pdf", PDF_HEADER_THEN_GARBAGE, "national_id", "could not be read as a PDF"),
    ("photo-given-as-pdf", "photo.pdf", sample_pdf(), "passport_photo", "Upload a JPEG or PNG file"),
    ("html-named-pdf", "id.pdf", b"<html><body>hello</body></html>", "national_id", "its content is not a PDF file"),
    ("no-extension", "photo", sample_jpeg(), "passport_photo", "no extension"),
    ("truncated-jpeg", "photo.jpg", sample_jpeg()[:200], "passport_photo", "could not be read as a JPEG"),
]


def _assert_refused(upload, doc_type, message):
    with pytest.raises(ValidationError) as caught:
        check_upload(upload, doc_type)
    text = " ".join(caught.value.messages)
    assert message in text


# --- check_upload on its own ------------------------------------------------------------------------


@pytest.mark.security_check(7)
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_it_refuses_disguised_or_damaged_files_with_a_clear_message(name, content, doc_type, message):
    _assert_refused(SimpleUploadedFile(name, content), doc_type, message)


def test_it_refuses_an_empty_file():
    _assert_refused(SimpleUploadedFile("id.pdf", b""), "national_id", "The file is empty.")


@pytest.mark.security_check(7)
def test_it_refuses_a_file_over_the_size_limit(settings):
    settings.DOCUMENT_MAX_UPLOAD_MB = 1
    content = b"%PDF-1.4\n" + b"0" * int(1.2 * 1024 * 1024)
    _assert_refused(SimpleUploadedFile("id.pdf", content), "national_id", "The file is 1.2 MB; the limit is 1 MB.")


def test_it_accepts_a_file_exactly_at_the_size_limit(settings):
    settings.DOCUMENT_MAX_UPLOAD_MB = 1
    pdf = sample_pdf()
    padded = pdf + b"\n" + b"%" * (1024 * 1024 - len(pdf) - 1)  # PDF comments after %%EOF
    assert len(padded) == 1024 * 1024
    assert check_upload(SimpleUploadedFile("id.pdf", padded), "national_id").size == 1024 * 1024


@pytest.mark.security_check(7)
@pytest.mark.parametrize(
    "name",
    [
        "photo\x00.jpg",
        "shell.php\x00.jpg",
        "../photo.jpg",
        "../../etc/passwd.jpg",
        "..\\..\\photo.jpg",
        "dir/photo.jpg",
        "..",
        "x" * 147 + ".jpg",
    ],
    ids=[
        "nul",
        "nul-before-extension",
        "dot-dot-slash",
        "deep-traversal",
        "backslashes",
        "sub-directory",
        "dot-dot",
        "too-long",
    ],
)
def test_it_refuses_a_dangerous_file_name(name):
    # django.core.files.File keeps the name exactly as given (UploadedFile would strip directories).
    upload = File(io.BytesIO(sample_jpeg()), name=name)
    _assert_refused(upload, "passport_photo", "The file name is not acceptable")


@pytest.mark.parametrize(
    ("name", "make", "doc_type", "content_type", "extension"),
    [
        ("photo.jpg", sample_jpeg, "passport_photo", JPEG, ".jpg"),
        ("PHOTO.JPEG", sample_jpeg, "passport_photo", JPEG, ".jpg"),
        ("photo.png", sample_png, "passport_photo", PNG, ".png"),
        ("id.pdf", sample_pdf, "national_id", PDF, ".pdf"),
        ("id.jpg", sample_jpeg, "national_id", JPEG, ".jpg"),
        ("certificate.png", sample_png, "certificate", PNG, ".png"),
        ("certificate.PDF", lambda: sample_pdf(pages=3), "certificate", PDF, ".pdf"),
        ("letter.pdf", sample_pdf, "other", PDF, ".pdf"),
    ],
)
def test_it_accepts_real_jpeg_png_and_pdf_files(name, make, doc_type, content_type, extension):
    content = make()
    upload = SimpleUploadedFile(name, content)
    checked = check_upload(upload, doc_type)
    assert checked.content_type == content_type
    assert checked.extension == extension
    assert checked.size == len(content)
    assert upload.read() == content, "the file is rewound for whoever stores it next"


# --- Through the registration page ------------------------------------------------------------------


def _assert_nothing_stored(private_files, settings, email="grace.wanjiru@example.com"):
    assert private_files() == []
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
    assert not User.objects.filter(email__iexact=email).exists()
    assert not Member.objects.exists()
    assert not Document.objects.exists()


@pytest.mark.security_check(7)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_the_registration_page_refuses_a_bad_file_and_stores_nothing(
    client, registration_data, private_files, settings, name, content, doc_type, message
):
    data = registration_data(**{f"document_{doc_type}": SimpleUploadedFile(name, content)})
    response = client.post("/register/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["form"].has_error(f"document_{doc_type}")
    _assert_nothing_stored(private_files, settings)


@pytest.mark.django_db
def test_the_registration_page_refuses_an_empty_file_and_stores_nothing(
    client, registration_data, private_files, settings
):
    response = client.post("/register/", registration_data(document_national_id=SimpleUploadedFile("id.pdf", b"")))
    assert response.status_code == 400
    assert "The submitted file is empty." in response.content.decode()
    _assert_nothing_stored(private_files, settings)


@pytest.mark.security_check(7)
@pytest.mark.django_db
def test_the_registration_page_refuses_a_file_over_the_size_limit_and_stores_nothing(
    client, registration_data, private_files, settings
):
    settings.DOCUMENT_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("id.pdf", b"%PDF-1.4\n" + b"0" * int(1.2 * 1024 * 1024))
    response = client.post("/register/", registration_data(document_national_id=big))
    assert response.status_code == 400
    html = response.content.decode()
    assert "The file is 1.2 MB; the limit is 1 MB." in html
    assert "up to 1 MB" in html, "the help text states the lowered limit"
    _assert_nothing_stored(private_files, settings)


@pytest.mark.security_check(7)
@pytest.mark.django_db
@pytest.mark.parametrize("sent_name", ["../../../photo.jpg", "..\\..\\photo.jpg", "/etc/cron.d/photo.jpg"])
def test_a_path_in_the_file_name_never_reaches_the_disk(
    client, registration_data, private_files, raw_multipart, settings, tmp_path, sent_name
):
    data = registration_data()
    fields = {key: value for key, value in data.items() if not key.startswith("document_")}
    photo = sample_jpeg()
    body, content_type = raw_multipart(
        fields,
        {
            "document_national_id": ("id.pdf", sample_pdf(), "application/pdf"),
            "document_passport_photo": (sent_name, photo, "image/jpeg"),
        },
    )
    response = client.post("/register/", body, content_type=content_type)
    assert response.status_code == 302, response.content.decode()[:2000]

    document = Document.objects.get(doc_type="passport_photo")
    assert document.original_name == "photo.jpg"
    assert STORED_NAME.match(document.file.name), document.file.name
    stored = Path(document.file.path).resolve()
    assert stored.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT).resolve())
    assert stored.read_bytes() == photo
    assert len(private_files()) == 2
    # Nothing was written next to (or above) the private directory under the name that was sent.
    assert list(tmp_path.rglob("photo.jpg")) == []


@pytest.mark.security_check(7)
@pytest.mark.django_db
def test_a_nul_byte_in_a_file_name_never_reaches_the_disk_or_the_database(
    client, registration_data, private_files, raw_multipart
):
    # Django's upload parser drops non-printable characters from names, so the NUL never reaches
    # check_upload; what matters is that it is neither stored nor used to build a path.
    fields = {key: value for key, value in registration_data().items() if not key.startswith("document_")}
    body, content_type = raw_multipart(
        fields,
        {
            "document_national_id": ("id.pdf", sample_pdf(), "application/pdf"),
            "document_passport_photo": ("photo\x00.jpg", sample_jpeg(), "image/jpeg"),
        },
    )
    response = client.post("/register/", body, content_type=content_type)
    assert response.status_code == 302
    document = Document.objects.get(doc_type="passport_photo")
    assert "\x00" not in document.original_name
    assert document.original_name == "photo.jpg"
    assert STORED_NAME.match(document.file.name)
    assert all("\x00" not in name for name in private_files())


@pytest.mark.security_check(7)
@pytest.mark.django_db
def test_a_nul_byte_hiding_a_php_extension_is_refused_and_nothing_is_stored(
    client, registration_data, private_files, raw_multipart, settings
):
    fields = {key: value for key, value in registration_data().items() if not key.startswith("document_")}
    body, content_type = raw_multipart(
        fields,
        {
            "document_national_id": ("id.pdf", sample_pdf(), "application/pdf"),
            "document_passport_photo": ("shell.php\x00.jpg", PHP_SHELL, "image/jpeg"),
        },
    )
    response = client.post("/register/", body, content_type=content_type)
    assert response.status_code == 400
    assert "its content is not a JPEG file" in response.content.decode()
    _assert_nothing_stored(private_files, settings)


@pytest.mark.django_db
def test_valid_jpeg_png_and_pdf_files_are_stored_under_random_private_names(
    client, registration_data, private_files, settings
):
    contents = {"national_id": sample_pdf(), "passport_photo": sample_jpeg(), "certificate": sample_png()}
    data = registration_data(
        category="full",
        document_national_id=SimpleUploadedFile("My ID card.pdf", contents["national_id"]),
        document_passport_photo=SimpleUploadedFile("passport photo.JPEG", contents["passport_photo"]),
        document_certificate=SimpleUploadedFile("degree.png", contents["certificate"]),
    )
    response = client.post("/register/", data)
    assert response.status_code == 302

    documents = {d.doc_type: d for d in Document.objects.all()}
    assert set(documents) == {"national_id", "passport_photo", "certificate"}
    expected = {"national_id": (PDF, ".pdf"), "passport_photo": (JPEG, ".jpg"), "certificate": (PNG, ".png")}
    root = Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    for code, document in documents.items():
        assert document.content_type == expected[code][0]
        assert document.file.name.endswith(expected[code][1])
        assert STORED_NAME.match(document.file.name)
        assert document.size == len(contents[code])
        assert Path(document.file.path).resolve().is_relative_to(root)
        assert Path(document.file.path).read_bytes() == contents[code]
        assert document.status == Document.Status.PENDING and document.is_current
    assert documents["national_id"].original_name == "My ID card.pdf"
    assert sorted(private_files()) == sorted(d.file.name for d in documents.values())


# --- One bad file spoils the whole registration -------------------------------------------------------


@pytest.mark.django_db
def test_one_bad_upload_among_several_refuses_the_whole_registration(
    client, registration_data, private_files, settings
):
    data = registration_data(
        category="full",
        document_passport_photo=SimpleUploadedFile("photo.png", PNG_HEADER_THEN_HTML),
    )
    response = client.post("/register/", data)
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["document_passport_photo"]
    assert form.files_need_reselecting
    assert "please choose your documents again" in response.content.decode()
    _assert_nothing_stored(private_files, settings)


def _register(category_code, documents):
    return member_register(
        email="grace.wanjiru@example.com",
        password=NEW_PASSWORD,
        first_name="Grace",
        last_name="Wanjiru",
        category=MembershipCategory.objects.get(code=category_code),
        documents=documents,
        id_number="31234567",
        date_of_birth="1992-03-14",
        gender="female",
        phone_number="254712345678",
        country=Country.objects.get(pk="KE"),
        region=Region.objects.get(country="KE", code="047"),
    )


@pytest.mark.django_db
def test_the_service_removes_files_already_stored_when_a_later_upload_is_bad(reference_data, private_files, settings):
    documents = [
        DocumentUpload("national_id", SimpleUploadedFile("id.pdf", sample_pdf())),
        DocumentUpload("certificate", SimpleUploadedFile("certificate.png", sample_png())),
        DocumentUpload("passport_photo", SimpleUploadedFile("photo.jpg", PHP_SHELL)),
    ]
    with pytest.raises(ValidationError):
        _register("full", documents)
    _assert_nothing_stored(private_files, settings)


@pytest.mark.django_db
def test_the_service_removes_every_stored_file_when_anything_after_storing_fails(
    reference_data, private_files, settings, monkeypatch
):
    def audit_is_down(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_log", audit_is_down)
    documents = [
        DocumentUpload("national_id", SimpleUploadedFile("id.pdf", sample_pdf())),
        DocumentUpload("passport_photo", SimpleUploadedFile("photo.jpg", sample_jpeg())),
    ]
    with pytest.raises(RuntimeError):
        _register("associate", documents)
    _assert_nothing_stored(private_files, settings)


# --- Files small on disk but costly to parse (issue 13, finding 1) ----------------------------------


def _image(size, image_format="PNG"):
    """A plain grey image: a 6200x6200 PNG of one colour compresses to under 40 KB."""
    buffer = io.BytesIO()
    Image.new("L", size, 128).save(buffer, image_format)
    return buffer.getvalue()


def _blank_pdf(pages, *, claimed_count=None):
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    if claimed_count is not None:  # the page tree's /Count is only what the file claims
        writer._root_object["/Pages"][NameObject("/Count")] = NumberObject(claimed_count)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.fixture
def nothing_decoded(monkeypatch):
    """Fails the test if Pillow decodes a pixel or pypdf flattens the page tree.

    Only in this process: check_upload runs the content check in a child process, so these tests call
    `upload_probe.inspect` (what the child runs) directly to prove the caps come before decoding.
    """

    def refuse(*args, **kwargs):
        raise AssertionError("the file was decoded or walked before its size was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr(PdfReader, "_flatten", refuse)


@pytest.mark.security_check(17)
def test_an_image_of_too_many_pixels_is_refused_from_its_header_before_decoding(nothing_decoded):
    content = _image((6200, 6200))  # 38 megapixels: the 4 s, 150 MB upload of the attack
    assert len(content) < 200 * 1024
    with pytest.raises(upload_probe.Refused, match="6200 x 6200 pixels; the limit is 25 megapixels"):
        upload_probe.inspect(content, PNG, max_pixels=25_000_000, max_pages=50)
    _assert_refused(
        SimpleUploadedFile("photo.png", content), "passport_photo", "6200 x 6200 pixels; the limit is 25 megapixels"
    )


@pytest.mark.security_check(17)
def test_the_pixel_cap_is_a_setting(settings, nothing_decoded):
    settings.DOCUMENT_MAX_IMAGE_PIXELS = 10_000
    _assert_refused(SimpleUploadedFile("photo.jpg", _image((101, 100), "JPEG")), "passport_photo", "0.01 megapixels")


@pytest.mark.parametrize(
    ("name", "size"),
    [("phone.jpg", (4000, 3000)), ("scan-a4-300dpi.png", (2480, 3508)), ("camera-24mp.jpg", (6000, 4000))],
)
def test_a_phone_photo_and_an_a4_scan_are_within_the_pixel_cap(name, size):
    image_format = "PNG" if name.endswith(".png") else "JPEG"
    assert check_upload(SimpleUploadedFile(name, _image(size, image_format)), "national_id").size > 0


@pytest.mark.security_check(17)
def test_a_pdf_of_twenty_thousand_blank_pages_is_refused_before_its_pages_are_walked(nothing_decoded):
    content = _blank_pdf(20_000)  # 2.5 MB: the 13 s upload of the attack
    with pytest.raises(upload_probe.Refused, match="The PDF has more than 50 pages"):
        upload_probe.inspect(content, PDF, max_pixels=25_000_000, max_pages=50)
    _assert_refused(SimpleUploadedFile("id.pdf", content), "national_id", "The PDF has more than 50 pages")


@pytest.mark.security_check(17)
def test_a_pdf_that_understates_its_page_count_is_still_refused(settings):
    settings.DOCUMENT_MAX_PDF_PAGES = 5
    content = _blank_pdf(6, claimed_count=1)
    _assert_refused(SimpleUploadedFile("id.pdf", content), "national_id", "The PDF has more than 5 pages")


def test_a_pdf_at_the_page_cap_is_accepted(settings):
    settings.DOCUMENT_MAX_PDF_PAGES = 5
    assert check_upload(SimpleUploadedFile("id.pdf", _blank_pdf(5)), "national_id").content_type == PDF


@pytest.mark.security_check(17)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("doc_type", "name", "make", "message"),
    [
        ("passport_photo", "photo.png", lambda: _image((6200, 6200)), "the limit is 25 megapixels"),
        ("national_id", "id.pdf", lambda: _blank_pdf(51), "The PDF has more than 50 pages"),
    ],
    ids=["38-megapixel-png", "51-page-pdf"],
)
def test_the_registration_page_refuses_a_costly_file_and_stores_nothing(
    client, registration_data, private_files, settings, doc_type, name, make, message
):
    data = registration_data(**{f"document_{doc_type}": SimpleUploadedFile(name, make())})
    response = client.post("/register/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    _assert_nothing_stored(private_files, settings)
