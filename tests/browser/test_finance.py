"""Finance in the browser: the staff home's revenue, the payments list and a payment's page, a CSV export;
then the Admin reads what happened in the audit trail."""

import csv
import io

from django.utils import timezone
from playwright.sync_api import expect

from dashboard.home.figures import refresh_figures
from members.models import Member
from members.services import document_verify, member_approve
from payments.services import payment_record_offline
from tests.factories import PASSWORD

from .helpers import login, logout, submit


def test_finance_sees_revenue_finds_the_payment_exports_and_admin_audits(page, alice, bob, finance_user, admin_user):
    for document in alice.documents.all():
        document_verify(document=document, actor=admin_user)
    member_approve(member=alice, actor=admin_user)
    payment = payment_record_offline(
        member=Member.objects.get(pk=alice.pk), method="cash", external_reference="CASH-0042", actor=admin_user
    )
    year = timezone.localdate().year
    refresh_figures()  # what Celery beat does every minute: the staff home's kept figures include the payment

    login(page, finance_user.email, PASSWORD)
    page.goto("/staff/")
    expect(page.locator("#revenue-month-total")).to_have_attribute("data-value", str(payment.amount))
    expect(page.locator("svg[role=img]").first).to_be_visible()  # charts drawn on the server, no script

    submit(page, page.locator("#link-payments"))
    page.get_by_role("textbox", name="Search").fill("cash-0042")
    submit(page, page.get_by_role("button", name="Search"))
    rows = page.locator("#payment-table tbody tr")
    expect(rows).to_have_count(1)
    submit(page, rows.first.get_by_role("link").first)
    expect(page.locator("#receipt-number")).to_have_text(f"RCT-{year}-000001")
    expect(page.locator("#no-callbacks")).to_contain_text("recorded by staff")

    # Export the active members as CSV: the file holds exactly them.
    page.goto("/staff/members/?status=active")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    content = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) == 2, rows
    assert alice.user.email in rows[1]
    logout(page)

    login(page, admin_user.email, PASSWORD)
    page.goto("/staff/audit/?action=exported")
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody")).to_contain_text(finance_user.email)
