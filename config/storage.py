"""The STORAGES entries for an S3-compatible bucket (STORAGE_BACKEND=s3).

Built in one place so that config/settings.py and the tests (core/tests/test_s3_storage.py, against a local
S3-compatible server) use exactly the same configuration::

    STORAGES.update(s3_storages(bucket_name="membership", endpoint_url="https://minio.example:9000"))

Members' documents and export files go under private/ in the bucket (members.s3_storage.PrivateS3Storage:
no URL at all, served only by the views after their permission check); public media under media/.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

S3_BACKEND = "storages.backends.s3.S3Storage"
PRIVATE_S3_BACKEND = "members.s3_storage.PrivateS3Storage"


def s3_storages(
    *,
    bucket_name: str,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    addressing_style: str | None = None,
) -> dict[str, dict]:
    """The "default" and "private" STORAGES entries for one bucket. Empty strings count as not set: boto3
    then uses its own defaults (AWS's endpoint, credentials from its environment variables or instance role).
    """
    if not bucket_name:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME.")
    if addressing_style and addressing_style not in ("auto", "path", "virtual"):
        raise ImproperlyConfigured(f"AWS_S3_ADDRESSING_STYLE must be auto, path or virtual, not {addressing_style!r}.")
    options = {
        "bucket_name": bucket_name,
        "endpoint_url": endpoint_url or None,
        "region_name": region_name or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "addressing_style": addressing_style or None,
        # No per-object ACL: objects stay as private as the bucket (S3's default for an object is owner-only),
        # and a bucket with ACLs disabled (AWS's default "bucket owner enforced") accepts the uploads.
        "default_acl": None,
        # Any URL django-storages builds is signed; the private storage builds none at all.
        "querystring_auth": True,
        # A name already taken gets a suffix instead of replacing the object (names are random anyway).
        "file_overwrite": False,
    }
    return {
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": {**options, "location": "media"}},
        "private": {"BACKEND": PRIVATE_S3_BACKEND, "OPTIONS": {**options, "location": "private"}},
    }
