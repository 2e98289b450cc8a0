"""Staff find members with search and filters, remind them in bulk, and suspend and reinstate one."""

import datetime

from django.utils import timezone
from playwright.sync_api import expect

from members.models import Member
from notifications.models import Notification
from tests.factories import PASSWORD, MemberFactory

from .helpers import login, submit

TODAY = timezone.localdate()


def _active(first, last, phone, days_left):
    return MemberFactory(
        documents=[],
        user__first_name=first,
        user__last_name=last,
        phone_number=phone,
        status=Member.Status.ACTIVE,
        activated_at=timezone.now(),
        registration_paid_at=timezone.now(),
        period_start=TODAY - datetime.timedelta(days=300),
        period_end=TODAY + datetime.timedelta(days=days_left),
    )


def test_search_filter_remind_suspend_and_reinstate(page, reference_data, staff_user):
    achieng = _active("Achieng", "Otieno", "254712345678", 20)
    kiprop = _active("Kiprop", "Chebet", "254722000111", 300)
    MemberFactory(documents=[], user__first_name="Pending", user__last_name="Applicant")

    login(page, staff_user.email, PASSWORD)
    page.goto("/staff/members/")
    table = page.locator("#member-table tbody")
    expect(table.get_by_role("row")).to_have_count(3)

    # A phone number typed the local way finds the member stored as 2547...
    page.get_by_role("textbox", name="Search").fill("0712 345 678")
    submit(page, page.get_by_role("button", name="Search"))
    expect(table.get_by_role("row")).to_have_count(1)
    expect(table).to_contain_text("Achieng Otieno")
    assert "q=0712+345+678" in page.url  # the URL can be shared

    # Filters: active members whose period ends in the next 30 days.
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("Status").select_option("active")
    page.get_by_label("Period ends on or after").fill(TODAY.isoformat())
    page.get_by_label("Period ends on or before").fill((TODAY + datetime.timedelta(days=30)).isoformat())
    submit(page, page.get_by_role("button", name="Search"))
    expect(table.get_by_role("row")).to_have_count(1)
    expect(table).to_contain_text("Achieng Otieno")
    expect(page.locator("#result-count")).to_contain_text("1 member")

    # Remind the one found; the page keeps its filters.
    page.get_by_label("Select Achieng Otieno").check()
    submit(page, page.get_by_role("button", name="Send renewal reminder to selected"))
    expect(page.get_by_role("alert")).to_contain_text("Sent 1 reminder.")
    assert "status=active" in page.url
    assert Notification.objects.filter(user=achieng.user, event="renewal_due").count() == 1

    # Suspend, then reinstate, from the member's page.
    page.goto(f"/staff/members/{kiprop.pk}/")
    page.get_by_label("Reason (the member is told it)").fill("Code of conduct investigation")
    submit(page, page.get_by_role("button", name="Suspend"))
    expect(page.locator("#member-status")).to_have_text("Suspended")
    page.get_by_label("Reason (the member is told it)").fill("Investigation closed")
    submit(page, page.get_by_role("button", name="Reinstate"))
    expect(page.locator("#member-status")).to_have_text("Active")
    expect(page.get_by_role("alert")).to_contain_text("now active")
