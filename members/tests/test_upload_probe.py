"""members/upload_probe.py in this process: its two searches for active content each work on their own."""

import io

import pytest
from pypdf import PdfReader

from members import upload_probe

from .hostile_files import ACTIVE_PDFS


@pytest.mark.security_check(7)
def test_the_object_walk_and_the_raw_scan_each_find_active_content_on_their_own():
    # The walk reads what the cross-reference table names, through pypdf (names decoded by it)...
    reader = PdfReader(io.BytesIO(dict(ACTIVE_PDFS)["escaped-javascript-name"]))
    with pytest.raises(upload_probe.Refused, match="JavaScript"):
        upload_probe._walk_pdf_objects(reader)
    # ...the raw scan what no table names, and what sits in a compressed object stream.
    outside, inflated = upload_probe._split_streams(dict(ACTIVE_PDFS)["javascript-outside-the-xref"])
    with pytest.raises(upload_probe.Refused, match="JavaScript"):
        upload_probe._refuse_active_names(b"".join(outside))
    outside, inflated = upload_probe._split_streams(dict(ACTIVE_PDFS)["javascript-in-a-compressed-object-stream"])
    upload_probe._refuse_active_names(b"".join(outside))  # nothing to see outside the stream
    with pytest.raises(upload_probe.Refused, match="JavaScript"):
        upload_probe._refuse_active_names(b"".join(inflated))
