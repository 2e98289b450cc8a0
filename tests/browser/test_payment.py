"""A member pays the registration fee by M-Pesa in the browser, answering the prompt on the local
Daraja simulator's phone page; the page updates by itself, the receipt downloads, the member is active."""

import datetime
import re

from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from members.models import Member
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from members.services import document_verify, member_approve, period_end_for
from payments.models import Payment
from tests.factories import PASSWORD

from .helpers import login, logout, submit
from .test_registration import NEW_PASSWORD, fill_application


def answer_prompt(page, simulator, action):
    """The member answers the M-Pesa prompt on the simulator's phone page, in another tab."""
    phone = page.context.new_page()
    phone.goto(f"{simulator.base_url}/phone/")
    with phone.expect_navigation():
        phone.locator(f"section.prompt button[data-action={action}]").click()
    phone.close()


def approve(member, reviewer):
    for document in member.documents.all():
        document_verify(document=document, actor=reviewer)
    return member_approve(member=member, actor=reviewer)


def test_a_member_pays_on_the_phone_page_and_downloads_the_receipt(page, daraja_live, alice, staff_user, tmp_path):
    daraja_live.configure(default_outcome="manual", callback_delay=0.2)
    Member.objects.filter(pk=alice.pk).update(phone_number="254711000600")
    approve(alice, staff_user)

    login(page, alice.user.email, PASSWORD)
    page.goto("/portal/")
    submit(page, page.get_by_role("link", name="Pay registration fee with M-Pesa"))
    expect(page.locator("#amount-due")).to_have_text("KES 5,000")
    expect(page.get_by_label("M-Pesa phone number")).to_have_value("0711000600")
    submit(page, page.get_by_role("button", name="Send payment prompt"))
    expect(page.locator("#payment-message")).to_contain_text("Check your phone")

    phone = page.context.new_page()
    phone.goto(f"{daraja_live.base_url}/phone/")
    prompt = phone.locator("section.prompt")
    expect(prompt).to_contain_text("Pay KES 5,000")
    phone.locator("[name=pin]").fill("1234")
    with phone.expect_navigation():
        prompt.locator("button[data-action=approve]").click()
    phone.close()

    # The payment page polls the server and shows the result without a reload.
    expect(page.locator("#payment-status")).to_have_text("Completed", timeout=15_000)
    receipt = page.get_by_role("link", name="Download receipt")
    expect(receipt).to_be_visible()
    with page.expect_download() as download:
        receipt.click()
    path = tmp_path / "receipt.pdf"
    download.value.save_as(path)
    payment = Payment.objects.get()
    assert payment.receipt_number in PdfReader(path).pages[0].extract_text()

    page.goto("/portal/")
    expect(page.locator("#member-status")).to_have_text("Active")
    expect(page.locator("#membership-number")).to_have_text(re.compile(rf"KTS-{timezone.localdate().year}-\d{{4}}"))


def test_a_declined_prompt_says_so_and_offers_a_retry(page, daraja_live, alice, staff_user):
    daraja_live.configure(default_outcome="manual", callback_delay=0.2)
    Member.objects.filter(pk=alice.pk).update(phone_number="254711000601")
    approve(alice, staff_user)

    login(page, alice.user.email, PASSWORD)
    page.goto("/payments/pay/")
    submit(page, page.get_by_role("button", name="Send payment prompt"))

    answer_prompt(page, daraja_live, "decline")

    expect(page.locator("#payment-status")).to_have_text("Cancelled", timeout=15_000)
    expect(page.locator("#payment-message")).to_contain_text("cancel")
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert Member.objects.get(pk=alice.pk).status == Member.Status.APPROVED


def test_the_whole_journey_register_approve_pay_receipt_active(page, daraja_live, reference_data, staff_user, tmp_path):
    """The issue's end-to-end flow, every step in the browser: apply, staff approve, pay on the phone."""
    daraja_live.configure(default_outcome="manual", callback_delay=0.2)
    folder = tmp_path / "docs"
    folder.mkdir()
    documents = {}
    for code, (name, content) in {
        "national_id": ("id.pdf", sample_pdf()),
        "passport_photo": ("photo.jpg", sample_jpeg()),
        "certificate": ("cert.png", sample_png()),
    }.items():
        documents[code] = folder / name
        documents[code].write_bytes(content)

    page.goto("/register/")
    values = fill_application(page, documents, phone_number="0711 000 602", email="journey@example.com")
    submit(page, page.get_by_role("button", name="Submit application"))
    expect(page.locator("#member-status")).to_have_text("Pending review")
    logout(page)

    login(page, staff_user.email, PASSWORD)
    page.goto("/staff/applications/")
    submit(page, page.get_by_role("link", name=re.compile(values["first_name"])))
    verify = page.get_by_role("button", name="Verify", exact=True)
    for _ in range(3):
        submit(page, verify.first)
    submit(page, page.get_by_role("button", name="Approve and issue number"))
    logout(page)

    login(page, values["email"], NEW_PASSWORD)
    page.goto("/portal/")
    submit(page, page.get_by_role("link", name="Pay registration fee with M-Pesa"))
    submit(page, page.get_by_role("button", name="Send payment prompt"))
    answer_prompt(page, daraja_live, "approve")
    expect(page.locator("#payment-status")).to_have_text("Completed", timeout=15_000)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download receipt").click()
    assert download.value.suggested_filename.startswith("receipt-RCT-")

    page.goto("/portal/")
    expect(page.locator("#member-status")).to_have_text("Active")
    assert Member.objects.get(user__email="journey@example.com").status == Member.Status.ACTIVE


def test_an_active_member_renews_downloads_the_certificate_and_a_verifier_checks_it(page, daraja_live, alice):
    daraja_live.configure(default_outcome="manual", callback_delay=0.2)
    today = timezone.localdate()
    end = today + datetime.timedelta(days=20)
    Member.objects.filter(pk=alice.pk).update(
        status=Member.Status.ACTIVE,
        membership_number=f"KTS-{today.year}-0042",
        registration_paid_at=timezone.now(),
        period_start=today - datetime.timedelta(days=345),
        period_end=end,
        phone_number="254711000603",
    )

    login(page, alice.user.email, PASSWORD)
    page.goto("/portal/")
    expect(page.locator("#days-left")).to_have_text("20 days left")
    submit(page, page.get_by_role("link", name="Renew with M-Pesa"))
    expect(page.locator("#amount-due")).to_have_text("KES 3,000")
    submit(page, page.get_by_role("button", name="Send payment prompt"))
    answer_prompt(page, daraja_live, "approve")
    expect(page.locator("#payment-status")).to_have_text("Completed", timeout=15_000)

    member = Member.objects.get(pk=alice.pk)
    # Renewed early: one more period counted from the day after the current end date.
    assert member.period_end == period_end_for(end + datetime.timedelta(days=1), 12)
    assert Payment.objects.get().receipt_number
    page.goto("/portal/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download certificate").click()
    text = PdfReader(download.value.path()).pages[0].extract_text()
    assert member.membership_number in text

    # A third party follows the QR code's URL, with no login.
    verifier = page.context.browser.new_context(viewport={"width": 375, "height": 740})
    checker = verifier.new_page()
    checker.goto(f"{page.url.split('/portal/')[0]}/verify/{member.verification_token}/")
    expect(checker.get_by_text(member.membership_number)).to_be_visible()
    expect(checker.get_by_text("Valid", exact=True).first).to_be_visible()
    assert alice.user.email not in checker.content()
    verifier.close()
