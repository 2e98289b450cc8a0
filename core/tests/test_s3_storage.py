"""STORAGE_BACKEND=s3: members' documents and export files in an S3-compatible bucket.

The bucket is moto's standalone server over real HTTP on 127.0.0.1 (the stand-in for the cloud bucket the
tests cannot reach), and STORAGES is the one config/storage.py builds for config/settings.py. Every path that
stores, reads or deletes a private file runs here: registration uploads, downloads by the owner and by staff
(web and API), a refused upload, background exports and their clean-up, "download my data" and erasure.
"""

import datetime
import io
import json
import os
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import AuditLog
from config.storage import s3_storages
from dashboard.exports import delete_expired_exports
from dashboard.models import ExportJob
from members.models import Document, Member, private_storage
from members.s3_storage import PrivateS3Storage
from members.sample_files import sample_jpeg
from members.tests.conftest import sample_upload
from privacy.erasure import erasure_request
from tests.factories import PASSWORD
from tests.two_factor import api_access_token

pytestmark = pytest.mark.django_db

REGION = "us-east-1"
KEYS = {"access_key": "test-access-key", "secret_key": "test-secret-key"}  # moto takes any
DOCUMENT_KEY = r"private/documents/\d{4}/\d{2}/[0-9a-f]{32}\.(pdf|jpg|png)"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate limits ("download my data", API throttles) live in the cache
    yield
    cache.clear()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3-compatible server on a random local port, for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    def __init__(self, endpoint, name):
        self.name = name
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=KEYS["access_key"],
            aws_secret_access_key=KEYS["secret_key"],
        )

    def object_keys(self, prefix="") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def read(self, key) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def bucket(s3_endpoint, settings):
    """A new private bucket, and STORAGES switched to it exactly as STORAGE_BACKEND=s3 does."""
    name = f"membership-{uuid.uuid4().hex[:16]}"
    bucket = Bucket(s3_endpoint, name)
    bucket.client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        **s3_storages(bucket_name=name, endpoint_url=s3_endpoint, region_name=REGION, **KEYS),
    }
    return bucket


@pytest.fixture
def local_files(settings):
    """Every file under the filesystem roots (which STORAGE_BACKEND=s3 must leave alone)."""

    def list_files():
        roots = [Path(settings.PRIVATE_MEDIA_ROOT), Path(settings.MEDIA_ROOT)]
        return sorted(str(p) for root in roots if root.exists() for p in root.rglob("*") if p.is_file())

    return list_files


# `bucket` comes before `alice` and `bob` in every test below: their documents are stored as they are made.


def _key(field_file) -> str:
    return f"private/{field_file.name}"


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Configuration ---------------------------------------------------------------------------------------------


def test_the_settings_build_the_bucket_storages_from_the_environment(tmp_path):
    env = {
        **os.environ,
        "STORAGE_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": "association-files",
        "AWS_S3_ENDPOINT_URL": "https://minio.example.org:9000",
        "AWS_S3_REGION_NAME": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "key-id",
        "AWS_SECRET_ACCESS_KEY": "key-secret",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    script = "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps(s.STORAGES))"
    result = subprocess.run(  # noqa: S603 - our own settings module
        [sys.executable, "-c", script], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    configured = json.loads(result.stdout.strip().splitlines()[-1])
    expected = s3_storages(
        bucket_name="association-files",
        endpoint_url="https://minio.example.org:9000",
        region_name="eu-west-1",
        access_key="key-id",
        secret_key="key-secret",
        addressing_style="path",
    )
    assert configured["private"] == expected["private"]
    assert configured["default"] == expected["default"]
    assert configured["private"]["BACKEND"] == "members.s3_storage.PrivateS3Storage"
    assert configured["private"]["OPTIONS"]["location"] == "private"


def test_a_bucket_name_is_required_and_the_addressing_style_checked():
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        s3_storages(bucket_name="")
    with pytest.raises(ImproperlyConfigured, match="AWS_S3_ADDRESSING_STYLE"):
        s3_storages(bucket_name="files", addressing_style="sideways")


def test_the_model_fields_follow_the_switch_to_the_bucket(bucket):
    assert isinstance(storages["private"], PrivateS3Storage)
    assert isinstance(Document._meta.get_field("file").storage, PrivateS3Storage)
    assert isinstance(ExportJob._meta.get_field("file").storage, PrivateS3Storage)
    assert isinstance(private_storage(), PrivateS3Storage)


# --- Registration and downloads --------------------------------------------------------------------------------


@pytest.mark.security_check(2)
def test_a_registration_stores_its_documents_in_the_bucket_and_nothing_on_disk(
    client, bucket, registration_data, local_files
):
    response = client.post("/register/", registration_data())
    assert response.status_code == 302, response.content.decode()[:2000]

    member = Member.objects.get(user__email="grace.wanjiru@example.com")
    documents = list(member.documents.order_by("doc_type"))
    assert [d.doc_type for d in documents] == ["national_id", "passport_photo"]
    keys = bucket.object_keys()
    assert keys == sorted(_key(d.file) for d in documents)
    for key in keys:
        assert re.fullmatch(DOCUMENT_KEY, key), key
    assert bucket.read(_key(documents[0].file)).startswith(b"%PDF")
    assert bucket.read(_key(documents[1].file)) == sample_upload("passport_photo").read()
    # The original names never reach the bucket.
    assert not any("id.pdf" in key or "photo.jpg" in key for key in keys)
    assert local_files() == []


@pytest.mark.security_check(2)
def test_objects_are_private_and_the_storage_gives_out_no_url(bucket, alice):
    document = alice.documents.get(doc_type="national_id")
    grants = bucket.client.get_object_acl(Bucket=bucket.name, Key=_key(document.file))["Grants"]
    assert grants and all("URI" not in grant["Grantee"] for grant in grants), grants  # no AllUsers, no AuthUsers
    with pytest.raises(ValueError, match="no public URL"):
        document.file.url  # noqa: B018
    with pytest.raises(ValueError, match="no public URL"):
        storages["private"].url(document.file.name)


@pytest.mark.security_check(2)
def test_the_owner_downloads_from_the_bucket_and_another_member_gets_404(client, bucket, alice, bob, local_files):
    document = alice.documents.get(doc_type="passport_photo")
    assert bucket.object_keys() == sorted(_key(d.file) for d in Document.objects.all())

    client.force_login(alice.user)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="passport_photo.jpg"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Type"] == "image/jpeg"
    assert "X-Accel-Redirect" not in response and "Location" not in response
    assert _body(response) == bucket.read(_key(document.file))

    client.force_login(bob.user)
    for other in alice.documents.all():
        assert client.get(f"/documents/{other.pk}/").status_code == 404
    assert local_files() == []


@pytest.mark.security_check(2)
def test_the_bucket_is_streamed_even_behind_nginx(client, bucket, alice, settings):
    """X-Accel-Redirect names a file under PRIVATE_MEDIA_ROOT: with a bucket there is none, so Django streams."""
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX = "/protected/"
    document = alice.documents.get(doc_type="national_id")
    client.force_login(alice.user)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert "X-Accel-Redirect" not in response
    assert _body(response) == bucket.read(_key(document.file))


def test_an_object_missing_from_the_bucket_is_a_404_not_a_500(client, bucket, alice):
    document = alice.documents.get(doc_type="national_id")
    bucket.client.delete_object(Bucket=bucket.name, Key=_key(document.file))
    client.force_login(alice.user)
    assert client.get(f"/documents/{document.pk}/").status_code == 404


@pytest.mark.security_check(2)
def test_staff_verify_and_download_through_the_api(client, bucket, alice, staff_user, finance_user):
    document = alice.documents.get(doc_type="national_id")
    staff = {"HTTP_AUTHORIZATION": f"Bearer {api_access_token(staff_user)}"}

    verified = client.post(f"/api/staff/documents/{document.pk}/verify/", content_type="application/json", **staff)
    assert verified.status_code == 200, verified.content
    document.refresh_from_db()
    assert document.status == Document.Status.VERIFIED

    response = client.get(f"/api/staff/documents/{document.pk}/file/", **staff)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Type"] == "application/pdf"
    assert _body(response) == bucket.read(_key(document.file))
    assert AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED, actor=staff_user).exists()

    finance = {"HTTP_AUTHORIZATION": f"Bearer {api_access_token(finance_user)}"}
    assert client.get(f"/api/staff/documents/{document.pk}/file/", **finance).status_code == 403


@pytest.mark.security_check(7)
def test_a_refused_upload_stores_nothing_in_the_bucket(client, bucket, registration_data, local_files):
    disguised = SimpleUploadedFile("photo.jpg", b"<?php system($_GET['cmd']); ?>\n", content_type="image/jpeg")
    response = client.post("/register/", registration_data(document_passport_photo=disguised))
    assert response.status_code == 400
    assert "its content is not a JPEG file" in response.content.decode()
    assert bucket.object_keys() == []
    assert not Member.objects.exists() and not Document.objects.exists()
    assert local_files() == []


def test_a_member_replaces_a_rejected_document_in_the_bucket(client, bucket, alice, staff_user):
    from members.services import document_reject

    old = alice.documents.get(doc_type="passport_photo")
    document_reject(document=old, reason="Blurred", actor=staff_user)
    photo = sample_jpeg(colour=(10, 20, 30))
    client.force_login(alice.user)
    response = client.post(
        "/portal/documents/upload/", {"doc_type": "passport_photo", "file": SimpleUploadedFile("new.jpg", photo)}
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    new = alice.documents.get(doc_type="passport_photo", is_current=True)
    assert new.pk != old.pk
    assert bucket.read(_key(new.file)) == photo
    assert _key(old.file) in bucket.object_keys(), "the rejected file stays for the record"
    assert len(bucket.object_keys()) == alice.documents.count()


# --- Exports -----------------------------------------------------------------------------------------------


def test_a_background_export_is_written_to_and_downloaded_from_the_bucket(
    client, bucket, alice, bob, finance_user, settings, django_capture_on_commit_callbacks, local_files
):
    settings.EXPORT_SYNC_MAX_ROWS = 1  # two members: too many for the request
    client.force_login(finance_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get("/staff/members/export/", {"format": "csv"})
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.DONE, job.error
    key = _key(job.file)
    assert re.fullmatch(r"private/exports/[0-9a-f]{32}\.csv", key), key
    stored = bucket.read(key)
    assert alice.user.email.encode() in stored and bob.user.email.encode() in stored

    download = client.get(f"/staff/exports/{job.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Cache-Control"] == "private, no-store"
    assert _body(download) == stored
    assert local_files() == []

    # The retention sweep finds it in the bucket (and an orphan no job owns) and deletes both.
    bucket.client.put_object(Bucket=bucket.name, Key="private/exports/leftover.csv", Body=b"x")
    later = timezone.now() + datetime.timedelta(hours=settings.EXPORT_RETENTION_HOURS + 1)
    assert delete_expired_exports(now=later) == {"expired": 1, "orphans": 1, "abandoned": 0}
    assert bucket.object_keys("private/exports/") == []
    assert client.get(f"/staff/exports/{job.pk}/download/").status_code == 404


# --- Privacy ----------------------------------------------------------------------------------------------------


@pytest.mark.security_check(16)
def test_download_my_data_reads_the_documents_from_the_bucket(client, bucket, alice, bob):
    client.login(username=alice.user.email, password=PASSWORD)
    response = client.post("/portal/privacy/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    data = json.loads(archive.read("data.json"))
    in_zip = sorted(archive.read(name) for name in archive.namelist() if name.startswith("documents/"))
    in_bucket = sorted(bucket.read(_key(d.file)) for d in alice.documents.all())
    assert len(in_zip) == alice.documents.count() == len(data["documents"]) > 0
    assert in_zip == in_bucket
    assert all(entry["file_in_this_archive"] for entry in data["documents"])
    assert data["profile"]["email"] == alice.user.email and bob.user.email.encode() not in archive.read("data.json")


def test_the_api_data_export_reads_the_bucket_too(client, bucket, alice):
    token = client.post(
        "/api/auth/login/", {"username": alice.user.email, "password": PASSWORD}, content_type="application/json"
    )
    assert token.status_code == 200, token.content
    response = client.get("/api/members/data-export/", HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    archive = zipfile.ZipFile(io.BytesIO(_body(response)))
    assert len([n for n in archive.namelist() if n.startswith("documents/")]) == alice.documents.count()


@pytest.mark.security_check(16)
def test_erasure_deletes_the_objects_from_the_bucket(
    client, bucket, alice, bob, admin_user, django_capture_on_commit_callbacks
):
    alices = [_key(d.file) for d in alice.documents.all()]
    bobs = [_key(d.file) for d in bob.documents.all()]
    assert alices and bobs and bucket.object_keys() == sorted(alices + bobs)

    erasure = erasure_request(member=alice, password=PASSWORD)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/staff/erasure-requests/{erasure.pk}/approve/", {f"approve-{erasure.pk}-confirm": "on"}
        )
    assert response.status_code == 302, response.content.decode()[:500]
    assert bucket.object_keys() == sorted(bobs)
    assert set(alice.documents.values_list("file", flat=True)) == {""}
    document = alice.documents.first()
    assert client.get(f"/documents/{document.pk}/").status_code == 404
    admin = {"HTTP_AUTHORIZATION": f"Bearer {api_access_token(admin_user)}"}
    assert client.get(f"/api/staff/documents/{document.pk}/file/", **admin).status_code == 404
