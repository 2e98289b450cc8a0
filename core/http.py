from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponse
from django.utils.http import content_disposition_header


def client_ip(request) -> str | None:
    """The client's address as our own server saw it.

    X-Forwarded-For is only trusted when the deployment says a proxy sets it (nginx overwrites it with
    $proxy_add_x_forwarded_for, so the last entry is the address nginx saw).
    """
    if request is None:
        return None
    if settings.USE_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def private_file_response(file, *, filename: str, content_type: str):
    """An attachment response for a private file, sent after the caller's permission check.

    `file` is a FieldFile of private storage (a document, an export) or an open binary file made for this
    response (a temporary file, e.g. "download my data"; it is closed once sent). With
    PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX set (behind nginx, whose `internal` location of that prefix aliases
    PRIVATE_MEDIA_ROOT) and a FieldFile on the local filesystem, the body is empty and `X-Accel-Redirect`
    names the file: nginx sends it, and no gunicorn worker is held while a slow client downloads. Otherwise
    (no prefix, a file in an S3 bucket, a temporary file) Django streams the file itself: a bucket's object
    is read by the application, never handed out as a public or presigned URL. Either way: attachment, the
    given content type, nosniff and no caching. Raises FileNotFoundError when the stored file is missing.
    """
    prefix = settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX
    storage = getattr(file, "storage", None)
    if prefix and isinstance(storage, FileSystemStorage):
        if not storage.exists(file.name):
            raise FileNotFoundError(file.name)
        response = HttpResponse(b"", content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, filename)
        # The stored name is relative to PRIVATE_MEDIA_ROOT (random, no user input); quoted for the header.
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(file.name.lstrip("/"))
    else:
        body = file.open("rb") if storage is not None else file
        response = FileResponse(body, as_attachment=True, filename=filename, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
