"""Staff review an application in the browser, finance records the fee, and the member sees the result."""

import re

from django.utils import timezone
from playwright.sync_api import expect

from members.models import Document, Member
from payments.models import Payment
from tests.factories import PASSWORD

from .helpers import login, logout, submit


def test_staff_verify_and_approve_finance_records_fee_member_sees_number(page, alice, staff_user, finance_user):
    year = timezone.localdate().year

    # Staff review the documents and approve the application.
    login(page, staff_user.email, PASSWORD)
    page.goto("/staff/applications/")
    submit(page, page.get_by_role("link", name=alice.full_name))
    expect(page.get_by_role("heading", name=alice.full_name)).to_be_visible()
    approve = page.get_by_role("button", name="Approve and issue number")
    expect(approve).to_be_disabled()

    verify_buttons = page.get_by_role("button", name="Verify", exact=True)
    expect(verify_buttons).to_have_count(3)
    for remaining in (2, 1, 0):
        submit(page, verify_buttons.first)
        expect(page.get_by_role("alert")).to_contain_text("Verified:")
        expect(verify_buttons).to_have_count(remaining)
    assert set(alice.documents.values_list("status", flat=True)) == {Document.Status.VERIFIED}

    expect(approve).to_be_enabled()
    submit(page, approve)
    number = f"KTS-{year}-0001"
    expect(page.get_by_role("alert")).to_contain_text(f"membership number {number}")
    expect(page.locator("#member-status")).to_have_text("Approved, awaiting registration fee")
    # Recording the fee is finance's job, not staff's.
    expect(page.get_by_text("Record a payment received offline")).to_have_count(0)
    logout(page)

    # Finance records the registration fee paid at the office; the membership starts.
    login(page, finance_user.email, PASSWORD)
    page.goto("/staff/applications/?status=approved")
    submit(page, page.get_by_role("link", name=alice.full_name))
    page.get_by_label("Paid by").select_option("bank")
    page.get_by_label("Receipt, cheque or bank reference").fill("EQUITY-TRX-88121")
    submit(page, page.get_by_role("button", name=re.compile(r"^Record KES 5,000 received$")))
    expect(page.get_by_role("alert")).to_contain_text("Recorded the registration fee")
    expect(page.get_by_role("alert")).to_contain_text(f"Receipt RCT-{year}-000001")
    expect(page.locator("#member-status")).to_have_text("Active")
    logout(page)

    # The member sees the number and the active status.
    login(page, "alice@example.com", PASSWORD)
    assert page.url.endswith("/portal/"), page.url
    expect(page.locator("#member-status")).to_have_text("Active")
    expect(page.locator("#membership-number")).to_have_text(re.compile(rf"^KTS-{year}-\d{{4,}}$"))
    expect(page.locator("#membership-number")).to_have_text(number)
    expect(page.get_by_text("Your membership is active.")).to_be_visible()

    alice.refresh_from_db()
    assert alice.status == Member.Status.ACTIVE
    assert alice.membership_number == number
    payment = Payment.objects.get(member=alice)
    assert (payment.method, payment.external_reference) == ("bank", "EQUITY-TRX-88121")
    assert alice.registration_payment_reference == payment.receipt_number == f"RCT-{year}-000001"
