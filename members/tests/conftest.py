"""Helpers for the registration, upload and document tests: a valid application, real files, and a look
at what landed in the private storage directory."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from members.models import MembershipCategory, Region
from members.sample_files import sample_jpeg, sample_pdf, sample_png

NEW_PASSWORD = "Tree-lamp-Orbit-93"

SAMPLE_UPLOADS = {
    "national_id": ("id.pdf", "application/pdf", sample_pdf),
    "passport_photo": ("photo.jpg", "image/jpeg", sample_jpeg),
    "certificate": ("certificate.png", "image/png", sample_png),
    "other": ("other.pdf", "application/pdf", sample_pdf),
}


def sample_upload(doc_type):
    name, content_type, make = SAMPLE_UPLOADS[doc_type]
    return SimpleUploadedFile(name, make(), content_type=content_type)


@pytest.fixture
def make_upload():
    """A fresh, valid uploaded file for a document type (an upload is consumed when posted)."""
    return sample_upload


@pytest.fixture
def registration_data(reference_data):
    """Build a complete, valid registration POST; override fields by keyword, drop one with None."""

    def build(category="associate", **overrides):
        chosen = MembershipCategory.objects.get(code=category)
        data = {
            "email": "grace.wanjiru@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "first_name": "Grace",
            "other_names": "Njeri",
            "last_name": "Wanjiru",
            "id_type": "national_id",
            "id_number": "31234567",
            "date_of_birth": "1992-03-14",
            "gender": "female",
            "phone_number": "0712345678",
            "country": "KE",
            "region": Region.objects.get(country="KE", code="047").pk,
            "physical_address": "Moi Avenue, Nairobi",
            "postal_address": "P.O. Box 1234-00100, Nairobi",
            "occupation": "Land surveyor",
            "organisation": "Survey of Kenya",
            "category": chosen.pk,
            "accept_privacy_notice": "on",
        }
        for code in chosen.required_documents:
            data[f"document_{code}"] = sample_upload(code)
        data.update(overrides)
        return {key: value for key, value in data.items() if value is not None}

    return build


@pytest.fixture
def private_files(settings):
    """Every file (not directory) under the private storage directory, as relative POSIX paths."""

    def list_files():
        root = Path(settings.PRIVATE_MEDIA_ROOT)
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    return list_files


@pytest.fixture
def raw_multipart():
    """Encode a multipart body by hand, so file names reach the server exactly as given.

    Django's test client strips directories from file names before sending; a hostile client does not.
    Returns (body, content_type) for `client.post(url, body, content_type=...)`.
    """

    def encode(fields, files):
        boundary = "----membership-test-boundary-7c1d"
        parts = []
        for key, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        for key, (filename, content, content_type) in files.items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            parts.append(head + content + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"

    return encode
