"""Checks on uploaded documents: size, name, extension and real content.

A file is accepted only when its extension, its leading bytes and a full parse agree: Pillow must
decode every pixel of an image, pypdf must read a PDF's page tree. So `shell.php` renamed `photo.jpg`,
a PNG header followed by HTML, an SVG or a truncated file are all refused before anything is stored.
PDFs with active content (JavaScript, launch or submit actions, embedded files, multimedia, XFA) and
polyglots (a file that is also an archive, a web page or a PDF) are refused too: see members/upload_probe.py.

A small file can still be costly to parse (a 150 KB PNG of 38 megapixels, a 2.5 MB PDF of 20,000 blank
pages), so the pixel count and the page count are read first, cheaply, and capped by
DOCUMENT_MAX_IMAGE_PIXELS and DOCUMENT_MAX_PDF_PAGES before anything is decoded or walked. And whatever a
file claims, its content is checked in a child process (members/upload_probe.py) limited to
DOCUMENT_CHECK_MEMORY_MB of address space and DOCUMENT_CHECK_TIMEOUT_SECONDS of CPU and wall-clock time,
at a lower scheduling priority: a file that needs more is refused ("could not be checked in time"), the
child is killed, and the web worker never holds the decoded pixels or the parsed objects itself.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import DocumentType

logger = logging.getLogger("members.uploads")
PROBE = Path(__file__).with_name("upload_probe.py")
PROBE_KIND = {"application/pdf": "pdf", "image/jpeg": "jpeg", "image/png": "png"}
# The child gets none of our environment (no secrets, no DATABASE_URL), only what an interpreter may need.
PROBE_ENV = {key: os.environ[key] for key in ("PATH", "LD_LIBRARY_PATH", "TMPDIR") if key in os.environ}

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
    """Validate one uploaded file for the given document type; raise ValidationError with a clear message.

    The form checks a file and the service checks it again before storing it; the second call finds the
    first one's answer on the upload (same type, same bytes) instead of starting another child process.
    """
    remembered = getattr(upload, "_membership_checked", None)
    if remembered is not None and remembered[0] == doc_type and remembered[1] == _digest(upload):
        return remembered[2]
    checked = _check_upload(upload, doc_type)
    upload._membership_checked = (doc_type, _digest(upload), checked)
    return checked


def _digest(upload) -> str:
    upload.seek(0)
    digest = hashlib.sha256(upload.read()).hexdigest()
    upload.seek(0)
    return digest


def _check_upload(upload, doc_type: str) -> CheckedUpload:
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
    _check_content(upload, declared)
    return CheckedUpload(content_type=declared, extension=".jpg" if declared == JPEG else extension, size=upload.size)


TIMED_OUT = (
    "The file could not be checked in time: it is too large or too complex once opened. Upload a smaller or "
    "simpler file (a scan at a lower resolution, or only the pages needed)."
)
OUT_OF_MEMORY = (
    "The file could not be checked: it needs too much memory once opened. Upload a smaller or simpler file "
    "(a scan at a lower resolution, or only the pages needed)."
)


BUSY = "Too many documents are being checked right now. Wait a minute and send the form again."
# /dev/shm, not /tmp: the systemd units give each web node a private /tmp (PrivateTmp), and the slots must
# be shared by every node on the machine.
SLOT_DIRECTORY = (
    Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())  # noqa: S108
) / f"membership-upload-checks-{os.getuid()}"


@contextlib.contextmanager
def check_slot():
    """Hold one of DOCUMENT_CHECK_CONCURRENCY machine-wide slots (an flock on a file, released by the kernel
    if the process dies), waiting up to DOCUMENT_CHECK_QUEUE_SECONDS; ValidationError(BUSY) otherwise."""
    SLOT_DIRECTORY.mkdir(mode=0o700, exist_ok=True)
    deadline = time.monotonic() + settings.DOCUMENT_CHECK_QUEUE_SECONDS
    while True:
        for slot in range(max(1, settings.DOCUMENT_CHECK_CONCURRENCY)):
            descriptor = os.open(SLOT_DIRECTORY / f"slot-{slot}", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            try:
                yield
            finally:
                os.close(descriptor)  # closing releases the lock
            return
        if time.monotonic() >= deadline:
            logger.warning("upload check refused: all %d check slots busy", settings.DOCUMENT_CHECK_CONCURRENCY)
            raise ValidationError(BUSY, code="check_busy")
        time.sleep(0.05)


def _check_content(upload, declared: str) -> None:
    """Run members/upload_probe.py on the file in a child process with bounded memory, CPU and wall time."""
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    with check_slot():
        _run_probe(data, declared)


def _run_probe(data: bytes, declared: str) -> None:
    timeout = settings.DOCUMENT_CHECK_TIMEOUT_SECONDS
    command = [
        sys.executable,
        "-I",  # no PYTHON* variables, no user site-packages, no current directory on the path
        str(PROBE),
        PROBE_KIND[declared],
        str(settings.DOCUMENT_MAX_IMAGE_PIXELS),
        str(settings.DOCUMENT_MAX_PDF_PAGES),
        str(settings.DOCUMENT_CHECK_MEMORY_MB),
        str(max(1, math.ceil(timeout))),
    ]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False, env=PROBE_ENV)  # noqa: S603
    except subprocess.TimeoutExpired:  # run() has killed the child and reaped it
        logger.warning("upload check timed out after %ss (%s, %d bytes)", timeout, declared, len(data))
        raise ValidationError(TIMED_OUT, code="check_timeout") from None
    answer = _answer(done.stdout)
    if answer is not None and answer.get("refused"):
        raise ValidationError(answer["refused"], code=answer.get("reason") or "invalid")
    if answer is not None and done.returncode == 0 and answer.get("reason") is None:
        return
    if (answer and answer.get("reason") == "memory") or b"MemoryError" in done.stderr:
        logger.warning("upload check ran out of memory (%s, %d bytes)", declared, len(data))
        raise ValidationError(OUT_OF_MEMORY, code="check_memory")
    if done.returncode < 0:  # killed: SIGXCPU at the CPU limit, SIGKILL, SIGSEGV
        logger.warning("upload check killed by signal %d (%s, %d bytes)", -done.returncode, declared, len(data))
        raise ValidationError(TIMED_OUT, code="check_timeout")
    logger.warning(
        "upload check failed (%s, %d bytes, exit %d): %s",
        declared,
        len(data),
        done.returncode,
        done.stderr.decode(errors="replace")[-500:],
    )
    raise ValidationError(
        f"The file could not be read as a {describe_types({declared})}: it may be damaged or disguised.",
        code="unreadable",
    )


def _answer(stdout: bytes) -> dict | None:
    try:
        answer = json.loads(stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return answer if isinstance(answer, dict) else None
