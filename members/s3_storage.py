"""Members' documents and export files in an S3-compatible bucket (STORAGE_BACKEND=s3, config/storage.py).

A separate module so that django-storages and boto3 are imported only when a bucket is configured.
"""

from django.utils.deconstruct import deconstructible
from storages.backends.s3 import S3Storage

# Bytes of a file read from the bucket kept in memory before it spills to a temporary file on disk
# (django-storages' default, 0, keeps all of it in memory: a large export would too).
READ_MEMORY_MAX_BYTES = 5 * 1024 * 1024


@deconstructible(path="members.s3_storage.PrivateS3Storage")
class PrivateS3Storage(S3Storage):
    """The bucket's private/ prefix, with no URL at all.

    Objects are written with no ACL, so they are exactly as private as the bucket, which must not be public.
    Files are read through the application only: the views check who is asking, then stream the object
    (core.http.private_file_response). `url()` refuses, as on the filesystem, so neither a template nor a
    later change can hand out a public or presigned link to a member's document.
    """

    def get_default_settings(self):
        defaults = super().get_default_settings()
        defaults["max_memory_size"] = READ_MEMORY_MAX_BYTES
        return defaults

    def url(self, name, parameters=None, expire=None, http_method=None):
        raise ValueError("Members' documents have no public URL; use the document download view.")
