"""Numbered PDF receipts, drawn on request from the completed Payment (nothing to store or go stale)."""

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF

from .models import Payment


def receipt_pdf(payment: Payment) -> bytes:
    if payment.status != Payment.Status.COMPLETED or not payment.receipt_number:
        raise ValueError("Only a completed payment has a receipt.")
    member = payment.member
    pdf = FPDF(format=(148, 210), unit="mm")  # A5
    pdf.set_title(f"Receipt {payment.receipt_number}")
    pdf.set_author(settings.ORGANISATION_NAME)
    pdf.set_creator(settings.ORGANISATION_NAME)
    pdf.add_page()
    pdf.set_auto_page_break(auto=True, margin=12)

    pdf.set_fill_color(25, 135, 84)
    pdf.rect(0, 0, pdf.w, 22, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 15)
    pdf.set_xy(10, 6)
    pdf.cell(0, 10, _latin(settings.ORGANISATION_NAME))
    pdf.set_text_color(0, 0, 0)

    pdf.set_xy(10, 30)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "OFFICIAL RECEIPT", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, f"Receipt number: {payment.receipt_number}", new_x="LMARGIN", new_y="NEXT")
    paid = timezone.localtime(payment.completed_at)
    pdf.cell(0, 6, f"Date: {paid:%d %B %Y, %H:%M} (EAT)", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    rows = [
        ("Received from", member.full_name),
        ("Membership number", member.membership_number or "(application in review)"),
        ("Category", member.category.name),
        ("For", payment.get_payment_type_display()),
        ("Paid by", payment.get_method_display()),
    ]
    if payment.mpesa_receipt_number:
        rows.append(("M-Pesa receipt", payment.mpesa_receipt_number))
    if payment.external_reference:
        rows.append(("Reference", payment.external_reference))
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(45, 7, label)
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 7, _latin(value), new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_draw_color(25, 135, 84)
    pdf.set_line_width(0.6)
    y = pdf.get_y()
    pdf.line(10, y, pdf.w - 10, y)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(45, 10, "Amount")
    pdf.cell(0, 10, f"KES {payment.amount:,}.00", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "I", 8)
    pdf.ln(6)
    pdf.multi_cell(0, 4, "This receipt was issued electronically and is valid without a signature.")
    return bytes(pdf.output())


def _latin(text) -> str:
    # The core PDF fonts cover Latin-1; keep names readable rather than failing on other characters.
    return str(text).encode("latin-1", errors="replace").decode("latin-1")
