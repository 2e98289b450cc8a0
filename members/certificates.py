"""Membership certificates and their public verification.

A certificate is drawn on request from the Member (nothing stored to go stale). Its QR code carries the
public verification URL, which is found by the member's unguessable `verification_token` alone; the page
behind it shows the membership's standing today, so a certificate printed last year still answers
"is this person a member now?" truthfully.
"""

from __future__ import annotations

import datetime
import io
import unicodedata
from dataclasses import dataclass

import segno
from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from fpdf import FPDF

from core.exceptions import DomainError

from .models import Member

Status = Member.Status

# Grace counts: the period has ended but the member has not lapsed yet.
CERTIFIABLE = (Status.ACTIVE, Status.GRACE)

GREEN = (25, 135, 84)


class CertificateUnavailable(DomainError):
    """This member cannot have a certificate now; the message is safe to show to the member."""

    code = "certificate_unavailable"


def verification_url(member: Member) -> str:
    path = reverse("verify_membership", kwargs={"token": member.verification_token})
    return settings.SITE_URL.rstrip("/") + path


def verification_qr(url: str) -> segno.QRCode:
    # Level M survives a scuffed or badly printed certificate; the URL fits a small symbol all the same.
    return segno.make_qr(url, error="m")


def certificate_pdf(member: Member) -> bytes:
    if member.status not in CERTIFIABLE or not member.membership_number:
        raise CertificateUnavailable(
            "A membership certificate is available only while your membership is active "
            f"(yours is: {member.get_status_display().lower()})."
        )
    organisation = settings.ORGANISATION_NAME
    url = verification_url(member)

    pdf = FPDF(orientation="landscape", format="A4", unit="mm")
    pdf.set_title(f"Membership certificate {member.membership_number}")
    pdf.set_author(organisation)
    pdf.set_creator(organisation)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    width, height = pdf.w, pdf.h

    pdf.set_draw_color(*GREEN)
    pdf.set_line_width(1.2)
    pdf.rect(8, 8, width - 16, height - 16)
    pdf.set_line_width(0.3)
    pdf.rect(10, 10, width - 20, height - 20)
    pdf.set_fill_color(*GREEN)
    pdf.rect(10, 10, width - 20, 20, style="F")

    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 18)
    pdf.set_xy(10, 14)
    pdf.cell(width - 20, 12, _latin(organisation), align="C")

    pdf.set_text_color(*GREEN)
    pdf.set_font("Helvetica", "B", 26)
    pdf.set_xy(10, 38)
    pdf.cell(width - 20, 14, "CERTIFICATE OF MEMBERSHIP", align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "", 13)
    pdf.ln(4)
    pdf.cell(0, 8, "This is to certify that", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 24)
    pdf.ln(2)
    pdf.cell(0, 14, _latin(member.full_name), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 13)
    pdf.ln(2)
    pdf.cell(
        0, 8, _latin(f"is a member of {organisation} in the category below."), align="C", new_x="LMARGIN", new_y="NEXT"
    )

    rows = [
        ("Membership number", member.membership_number),
        ("Category", member.category.name),
        ("Valid from", _date(member.period_start) if member.period_start else "-"),
        ("Valid to", _date(member.period_end) if member.period_end else "Does not expire"),
        ("Issued on", _date(timezone.localdate())),
    ]
    top = 112
    for index, (label, value) in enumerate(rows):
        pdf.set_xy(40, top + index * 9)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(50, 8, label)
        pdf.set_font("Helvetica", "", 12)
        pdf.cell(110, 8, _latin(value))

    qr_size = 42
    qr_x, qr_y = width - 40 - qr_size, top - 4
    pdf.image(_qr_png(url), x=qr_x, y=qr_y, w=qr_size, h=qr_size)
    pdf.set_font("Helvetica", "", 8)
    pdf.set_xy(qr_x - 10, qr_y + qr_size + 1)
    pdf.cell(qr_size + 20, 4, "Scan to check this membership", align="C")

    pdf.set_font("Helvetica", "I", 9)
    pdf.set_xy(10, height - 32)
    pdf.cell(
        width - 20,
        5,
        "Issued electronically; valid without a signature. Whether this membership is valid today is shown at:",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 7)
    pdf.set_x(10)
    pdf.cell(width - 20, 4, url, align="C")
    return bytes(pdf.output())


def certificate_attachment(member: Member) -> HttpResponse:
    """The certificate as a private download; raises CertificateUnavailable like certificate_pdf."""
    response = HttpResponse(certificate_pdf(member), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="certificate-{member.membership_number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    # border=0: the certificate's white paper is the quiet zone; scale 10 keeps modules sharp when printed.
    verification_qr(url).save(buffer, kind="png", scale=10, border=0)
    buffer.seek(0)
    return buffer


def _date(value: datetime.date) -> str:
    return f"{value.day} {value:%B %Y}"


def _latin(text) -> str:
    # The core PDF fonts cover Latin-1 only: spell "Wanjirũ" as "Wanjiru" rather than "Wanjir?".
    out = []
    for char in str(text):
        try:
            char.encode("latin-1")
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("latin-1", errors="ignore").decode("latin-1")
            char = base or "?"
        out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Verification:
    """What the public verification page may say about a membership: nothing more."""

    valid: bool
    verdict: str  # "Valid", "Valid — renewal due" or "Not valid"
    status: str  # the standing in plain words
    valid_until: datetime.date | None  # None with valid=True means it never expires
    note: str = ""


def membership_verification(member: Member, today: datetime.date | None = None) -> Verification:
    """The membership's standing on `today`.

    Dates are checked as well as the status, so the page never calls a membership valid after its
    grace period has ended even if the daily lifecycle job has not run yet.
    """
    today = today or timezone.localdate()
    status = member.status
    grace_end = grace_end_of(member)
    if status in CERTIFIABLE and member.period_end is not None:
        if today > grace_end:
            status = Status.EXPIRED
        elif today > member.period_end:
            status = Status.GRACE

    if status == Status.ACTIVE:
        return Verification(True, "Valid", "Active member", member.period_end)
    if status == Status.GRACE:
        return Verification(
            True,
            "Valid — renewal due",
            "Member in the grace period",
            grace_end,
            note=(
                f"The membership period ended on {_date(member.period_end)}; it stays valid until "
                f"{_date(grace_end)} for the member to renew."
            ),
        )
    if status == Status.EXPIRED:
        note = f"The membership ended on {_date(grace_end)}." if grace_end else ""
        return Verification(False, "Not valid", "Membership expired", None, note=note)
    words = {
        Status.PENDING: "Application under review; not yet a member",
        Status.APPROVED: "Application approved; membership not yet started",
        Status.REJECTED: "Application not accepted; not a member",
        Status.SUSPENDED: "Membership suspended",
    }
    return Verification(False, "Not valid", words.get(status, "Not a member"), None)


def grace_end_of(member: Member) -> datetime.date | None:
    if member.period_end is None:
        return None
    return member.period_end + datetime.timedelta(days=member.category.grace_days)
