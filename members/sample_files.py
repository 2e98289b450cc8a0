"""Small, real documents (PNG, JPEG, PDF) for demo data and tests."""

import io

from PIL import Image
from pypdf import PdfWriter


def sample_png(width: int = 60, height: int = 80, colour=(30, 120, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def sample_jpeg(width: int = 60, height: int = 80, colour=(200, 180, 150)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def sample_pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
