"""The content check of one uploaded document, run in a child process whose time and memory are bounded.

`members.uploads.check_upload` runs this file as a script (`python -I members/upload_probe.py <type>
<max pixels> <max pages> <memory MB> <CPU seconds>`, the file's bytes on standard input). It sets its own
limits first (address space, CPU time, a lower scheduling priority), then inspects the file and prints one
JSON line: `{"refused": null}` or `{"refused": "<message for the applicant>", "reason": "<code>"}`.
Whatever the file claims (pages, pixels, nesting, compressed sizes), the child is killed at the CPU or wall
clock limit and a decode that needs more memory fails with MemoryError, so the web worker that waits for it
stays small and its wait is bounded.

It imports only the standard library, Pillow and pypdf: no Django, no project code, so a fresh interpreter
starts it in about 0.1 s, and `inspect()` can be called in-process by tests.

What it refuses, beyond a file Pillow or pypdf cannot fully read:
- images above the pixel cap (read from the header, before decoding), animated PNGs, PNGs with data after
  IEND;
- PDFs that are encrypted, have no pages or more than the page cap (a bounded walk, not the file's claim);
- active content in PDFs (`ACTIVE_NAMES`), found twice: by a raw scan of the file's names (#-escapes
  decoded, so `/J#61vaScript` is `/JavaScript`; objects the cross-reference table leaves out are seen too)
  and of its inflated object streams, and by a walk of every object pypdf resolves through the
  cross-reference table;
- polyglots: a file that is also a ZIP/JAR archive, an image holding `%PDF-`, HTML or PHP anywhere, a PDF
  holding HTML or PHP outside its streams.
"""

import io
import json
import os
import re
import resource
import sys
import warnings
import zipfile
import zlib

from PIL import Image, PngImagePlugin
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TYPES = {"pdf": PDF, "jpeg": JPEG, "png": PNG}

# PDF names whose presence means the file can run code, start a program, send data, open another file or
# carry one inside it, when a desktop reader opens it. /OpenAction and /AA themselves are not listed: most
# PDF writers use them to open at a page (a GoTo or a destination); what they would run is one of these.
# /URI (a link the reader asks about) and /GoTo (a page of the same file) stay allowed.
ACTIVE_NAMES = {
    "JavaScript": "JavaScript",
    "JS": "JavaScript",
    "Launch": "an action that starts a program",
    "SubmitForm": "an action that sends form data",
    "ImportData": "an action that imports data",
    "GoToR": "a link that opens another file",
    "GoToE": "a link that opens an embedded file",
    "GoTo3DView": "a 3D view",
    "EmbeddedFile": "an embedded file",
    "EmbeddedFiles": "embedded files",
    "FileAttachment": "an attached file",
    "RichMedia": "multimedia (Flash or video)",
    "Movie": "multimedia (a movie)",
    "Sound": "multimedia (a sound)",
    "Rendition": "multimedia (a rendition)",
    "3D": "a 3D model",
    "XFA": "an XFA form (a form with scripts)",
}
# Another format's markers: in an image anywhere, in a PDF outside its streams. Long enough (or followed by
# a delimiter) that compressed pixel data does not produce them by chance.
FOREIGN_IN_IMAGE = re.compile(rb"%PDF-|<script|<html[\s>]|<!doctype html|<\?php|<iframe|<body[\s>]", re.IGNORECASE)
FOREIGN_IN_PDF = re.compile(rb"<script|<html[\s>]|<!doctype html|<\?php|<iframe|<body[\s>]", re.IGNORECASE)

NAME = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
STREAM_START = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
MAX_INFLATED_BYTES = 32 * 1024 * 1024  # object streams, all together: far more than any real document's
MAX_PDF_OBJECTS = 10_000  # a 50-page document has a few thousand; pypdf parses about 4,000 a second
MAX_PDF_NODES = 2_000_000  # dictionary entries and array items visited by the object walk
PNG_END = b"IEND\xaeB`\x82"


class Refused(Exception):  # noqa: N818 - a refusal, not an error of ours
    def __init__(self, message: str, reason: str = "content"):
        super().__init__(message)
        self.message = message
        self.reason = reason


def describe(declared: str) -> str:
    return {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}[declared]


# --- Entry point ---------------------------------------------------------------------------------------


def inspect(data: bytes, declared: str, *, max_pixels: int, max_pages: int) -> None:
    """Raise Refused if `data`, named as `declared`, is not a plain, complete, affordable document."""
    if _is_zip(data):
        raise Refused(
            f"The file is a {describe(declared)} with an archive (ZIP or JAR) hidden inside it. "
            f"Save it again as a plain {describe(declared)} and upload that.",
            "polyglot",
        )
    try:
        if declared == PDF:
            _inspect_pdf(data, max_pages=max_pages)
        else:
            _inspect_image(data, declared, max_pixels=max_pixels)
    except (Refused, MemoryError, RecursionError):
        raise
    except Exception:
        raise Refused(
            f"The file could not be read as a {describe(declared)}: it may be damaged or disguised.", "unreadable"
        ) from None


def _is_zip(data: bytes) -> bool:
    """True when a ZIP reader would open the file (its end record and central directory are valid)."""
    if b"PK\x05\x06" not in data[-(65536 + 22) :]:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return bool(archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
        return False


# --- Images --------------------------------------------------------------------------------------------


def _inspect_image(data: bytes, declared: str, *, max_pixels: int) -> None:
    # Text chunks (tEXt, zTXt, iTXt) and ICC profiles are decompressed by Pillow up to these sizes.
    PngImagePlugin.MAX_TEXT_CHUNK = 256 * 1024
    PngImagePlugin.MAX_TEXT_MEMORY = 1024 * 1024
    expected = describe(declared)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=[expected])  # no other decoder is even tried
        if image.format != expected:
            raise Refused(f"The file's content is {image.format}, not {expected}.")
        if declared == PNG and not data.endswith(PNG_END):
            # Anything after a PNG's IEND chunk (an HTML page, a script) is refused. JPEGs are not held to
            # this (phone cameras append their own trailers after the end-of-image marker), but a JPEG
            # holding another format's markers anywhere is refused just below.
            raise Refused("The image has unexpected data after its end; save it again as a plain image.", "trailer")
        if FOREIGN_IN_IMAGE.search(data):
            raise Refused(
                f"The image also holds another kind of file (a PDF, a web page or a script). "
                f"Save it again as a plain {describe(declared)} and upload that.",
                "polyglot",
            )
        # Image.open read only the header: the size is known, nothing is decoded yet.
        if image.width * image.height > max_pixels:
            raise Refused(
                f"The image is {image.width} x {image.height} pixels; the limit is "
                f"{max_pixels / 1_000_000:g} megapixels. Scan or photograph it at a lower resolution.",
                "pixels",
            )
        if getattr(image, "n_frames", 1) > 1:
            raise Refused("The image is animated; upload a single still image.", "frames")
        image.load()  # decodes every pixel: trailing or embedded junk fails here


# --- PDFs ----------------------------------------------------------------------------------------------


def _inspect_pdf(data: bytes, *, max_pages: int) -> None:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise Refused("The PDF is password-protected; upload an unprotected copy.", "encrypted")
    pages = _count_pdf_pages(reader, limit=max_pages)  # first: it stops at the cap, whatever the file's size
    if pages < 1:
        raise Refused("The PDF has no pages.")
    # The raw scan: linear in the file's size, it sees what no cross-reference entry names.
    outside, object_streams = _split_streams(data)
    for chunk in outside:
        if FOREIGN_IN_PDF.search(chunk):
            raise Refused(
                "The PDF also holds a web page or a script. Print it to a new PDF (or scan the paper) and upload that.",
                "polyglot",
            )
    for chunk in outside + object_streams:
        _refuse_active_names(chunk)
    _walk_pdf_objects(reader)


def _active_content(label: str) -> Refused:
    return Refused(
        f"The PDF contains active content ({label}), which could harm the computer of whoever opens it. "
        "Print it to a new PDF (or scan the paper document) and upload that.",
        "active_content",
    )


def _normalise(name: bytes) -> bytes:
    return ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), name) if b"#" in name else name


def _refuse_active_names(chunk: bytes) -> None:
    for match in NAME.finditer(chunk):
        name = _normalise(match.group(1)).decode("latin-1")
        if name in ACTIVE_NAMES:
            raise _active_content(ACTIVE_NAMES[name])


def _split_streams(data: bytes) -> tuple[list[bytes], list[bytes]]:
    """The file's bytes outside `stream ... endstream`, and every FlateDecode object stream, inflated.

    Stream bodies are left out of the raw scan (image and font data would match names by chance), except
    object streams, which hold objects: those are inflated (at most MAX_INFLATED_BYTES in all) and scanned.
    """
    outside: list[bytes] = []
    inflated: list[bytes] = []
    budget = MAX_INFLATED_BYTES
    position = 0
    for match in STREAM_START.finditer(data):
        if match.start() < position:
            continue  # inside a stream already skipped
        end = data.find(b"endstream", match.end())
        end = len(data) if end < 0 else end
        outside.append(data[position : match.start()])
        header_start = max(data.rfind(b"obj", position, match.start()), position)
        header = _normalise_all(data[header_start : match.start()])
        if b"/ObjStm" in header:
            if b"/Filter" in header and b"/FlateDecode" not in header:
                raise Refused(
                    "The PDF stores its objects in a way we cannot check; print it to a new PDF and upload that.",
                    "unreadable",
                )
            body = data[match.end() : end]
            if b"/FlateDecode" in header:
                body = _inflate(body, budget)
            budget -= len(body)
            inflated.append(body)
        position = end + len(b"endstream")
    outside.append(data[position:])
    return outside, inflated


def _normalise_all(chunk: bytes) -> bytes:
    return NAME.sub(lambda m: b"/" + _normalise(m.group(1)), chunk)


def _inflate(body: bytes, budget: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, budget + 1)
    except zlib.error:
        return b""  # pypdf will fail on it too, or the object walk sees what it holds
    if len(out) > budget:
        raise Refused("The PDF is too large once uncompressed to be checked; upload a smaller file.", "too_large")
    return out


def _too_many_pages(limit: int) -> Refused:
    return Refused(f"The PDF has more than {limit} pages; upload only the pages needed.", "pages")


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
            raise Refused("The PDF's page tree is damaged.", "unreadable")
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


def _walk_pdf_objects(reader) -> None:
    """Every object the cross-reference table names, resolved by pypdf (object streams included), and the
    trailer: no key or name value may be in ACTIVE_NAMES. Iterative, and bounded in objects and nodes."""
    references = [(number, generation) for generation, table in reader.xref.items() for number in table]
    references += [(number, 0) for number in reader.xref_objStm]
    if len(references) > MAX_PDF_OBJECTS:
        raise Refused("The PDF has too many objects to be checked; upload a simpler file.", "too_large")
    roots = [reader.trailer]
    for number, generation in references:
        try:
            roots.append(reader.get_object(IndirectObject(number, generation, reader)))
        except (MemoryError, RecursionError):
            raise
        except Exception:  # noqa: BLE001, S112 - a broken object is skipped; pypdf read what a reader needs
            continue
    visited = 0
    stack = list(roots)
    while stack:
        value = stack.pop()
        visited += 1
        if visited > MAX_PDF_NODES:
            raise Refused("The PDF is too complex to be checked; upload a simpler file.", "too_large")
        if isinstance(value, DictionaryObject):  # streams too: their dictionaries
            for key, item in value.items():
                if key[1:] in ACTIVE_NAMES:
                    raise _active_content(ACTIVE_NAMES[key[1:]])
                if not isinstance(item, IndirectObject):  # indirect ones are visited through the table
                    stack.append(item)
        elif isinstance(value, ArrayObject):
            stack.extend(item for item in value if not isinstance(item, IndirectObject))
        elif isinstance(value, NameObject) and value[1:] in ACTIVE_NAMES:
            raise _active_content(ACTIVE_NAMES[value[1:]])


# --- The child process ---------------------------------------------------------------------------------


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        os.nice(10)  # request handling in the web workers goes first
    except OSError:
        pass


def main(argv: list[str]) -> int:
    kind, max_pixels, max_pages, memory_mb, cpu_seconds = argv
    _limit(int(memory_mb), int(cpu_seconds))
    data = sys.stdin.buffer.read()
    answer: dict = {"refused": None}
    try:
        inspect(data, TYPES[kind], max_pixels=int(max_pixels), max_pages=int(max_pages))
    except Refused as refused:
        answer = {"refused": refused.message, "reason": refused.reason}
    except MemoryError:
        data = None
        answer = {"refused": None, "reason": "memory"}
    except RecursionError:
        answer = {"refused": None, "reason": "nesting"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
