"""Checks on uploaded documents: size, name, extension and real content.

A file is accepted only when its extension, its leading bytes and a full parse agree: Pillow must
decode every pixel of an image, pypdf must read a PDF's page tree. So `shell.php` renamed `photo.jpg`,
a PNG header followed by HTML, an SVG or a truncated file are all refused before anything is stored.

A small file can still be costly to parse (a 150 KB PNG of 38 megapixels, a 2.5 MB PDF of 20,000 blank
pages), so the pixel count and the page count are read first, cheaply, and capped by
DOCUMENT_MAX_IMAGE_PIXELS and DOCUMENT_MAX_PDF_PAGES before anything is decoded or walked.
"""

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image
from pypdf import PdfReader

from .models import DocumentType

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

EXTENSIONS = {".pdf": PDF, ".jpg": JPEG, ".jpeg": JPEG, ".png": PNG}
SIGNATURES = {PDF: (b"%PDF-",), JPEG: (b"\xff\xd8\xff",), PNG: (b"\x89PNG\r\n\x1a\n",)}
ALLOWED_TYPES = {
    DocumentType.NATIONAL_ID: {PDF, JPEG, PNG},
    DocumentType.PASSPORT_PHOTO: {JPEG, PNG},
    DocumentType.CERTIFICATE: {PDF, JPEG, PNG},
    DocumentType.OTHER: {PDF, JPEG, PNG},
}


@dataclass(frozen=True)
class CheckedUpload:
    content_type: str
    extension: str
    size: int


def describe_types(types):
    names = sorted({"PDF" if t == PDF else "JPEG" if t == JPEG else "PNG" for t in types})
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


def check_upload(upload, doc_type: str) -> CheckedUpload:
    """Validate one uploaded file for the given document type; raise ValidationError with a clear message."""
    allowed = ALLOWED_TYPES[DocumentType(doc_type)]
    name = upload.name or ""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", "..") or len(name) > 150:
        raise ValidationError("The file name is not acceptable. Rename the file (letters, digits, dots) and try again.")
    max_bytes = settings.DOCUMENT_MAX_UPLOAD_MB * 1024 * 1024
    if upload.size > max_bytes:
        raise ValidationError(
            f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is {settings.DOCUMENT_MAX_UPLOAD_MB} MB."
        )
    if upload.size == 0:
        raise ValidationError("The file is empty.")
    extension = PurePath(name).suffix.lower()
    declared = EXTENSIONS.get(extension)
    if declared is None or declared not in allowed:
        raise ValidationError(
            f"Upload a {describe_types(allowed)} file (the file you chose is “{extension or 'no extension'}”)."
        )

    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(sig) for sig in SIGNATURES[declared]):
        raise ValidationError(
            f"The file is named {extension} but its content is not a {describe_types({declared})} file."
        )
    try:
        if declared == PDF:
            _parse_pdf(upload)
        else:
            _parse_image(upload, declared)
    except ValidationError:
        raise
    except Exception:
        raise ValidationError(
            f"The file could not be read as a {describe_types({declared})}: it may be damaged or disguised."
        ) from None
    finally:
        upload.seek(0)
    return CheckedUpload(content_type=declared, extension=".jpg" if declared == JPEG else extension, size=upload.size)


def _parse_image(upload, declared):
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(upload)
        expected = "JPEG" if declared == JPEG else "PNG"
        if image.format != expected:
            raise ValidationError(f"The file's content is {image.format}, not {expected}.")
        # Image.open read only the header: the size is known, nothing is decoded yet.
        if image.width * image.height > settings.DOCUMENT_MAX_IMAGE_PIXELS:
            raise ValidationError(
                f"The image is {image.width} x {image.height} pixels; the limit is "
                f"{settings.DOCUMENT_MAX_IMAGE_PIXELS / 1_000_000:g} megapixels. "
                "Scan or photograph it at a lower resolution."
            )
        image.load()  # decodes every pixel: trailing or embedded junk fails here
    if declared == PNG:
        # Anything after a PNG's IEND chunk (an HTML page, a script) is refused too. JPEGs are not held
        # to this: many phone cameras append their own trailer after the end-of-image marker.
        upload.seek(0)
        if not upload.read().endswith(b"IEND\xaeB`\x82"):
            raise ValidationError("The image has unexpected data after its end; save it again as a plain image.")


def _parse_pdf(upload):
    data = upload.read()
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise ValidationError("The PDF is password-protected; upload an unprotected copy.")
    pages = _count_pdf_pages(reader, limit=settings.DOCUMENT_MAX_PDF_PAGES)
    if pages < 1:
        raise ValidationError("The PDF has no pages.")


def _too_many_pages(limit):
    return ValidationError(f"The PDF has more than {limit} pages; upload only the pages needed.")


def _count_pdf_pages(reader, *, limit: int) -> int:
    """The number of pages, giving up as soon as it exceeds `limit`.

    `len(reader.pages)` flattens the whole page tree first (1.5 s for 20,000 blank pages), and the tree's
    /Count is only the file's claim, so the claim is checked first and the leaves are then counted with a
    walk that stops past the limit and never visits a node twice (a tree can loop back on itself).
    """
    tree = reader.trailer["/Root"]["/Pages"]
    claimed = tree.get("/Count", 0)
    if not isinstance(claimed, int) or claimed > limit:
        raise _too_many_pages(limit)
    pages = 0
    seen: dict[int, object] = {}  # holding each node keeps its id from being reused
    stack = [tree]
    while stack:
        node = stack.pop().get_object()
        if id(node) in seen:
            raise ValidationError("The PDF's page tree is damaged.")
        seen[id(node)] = node
        if len(seen) > 2 * limit + 1:  # a tree of `limit` leaves has fewer inner nodes than leaves
            raise _too_many_pages(limit)
        if node.get("/Type") == "/Pages":
            stack.extend(node.get("/Kids", []))
        else:
            pages += 1
            if pages > limit:
                raise _too_many_pages(limit)
    return pages
