"""Every main page works under the Content-Security-Policy: Chromium reports no violation for members, staff
and visitors (no inline script, style attribute or handler slipped into a template or generated markup)."""

import datetime

import pytest
from django.utils import timezone

from members.models import Member
from payments.models import Payment
from tests.factories import PASSWORD, MemberFactory
from tests.two_factor import give_two_factor

from .helpers import login

TODAY = timezone.localdate()

# Runs before any page script, outside the page's CSP (Playwright injects it through DevTools).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.pathname}:${event.lineNumber}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, recording CSP violations from the console and from securitypolicyviolation events."""
    console = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    def check(path):
        events = page.evaluate("window.__cspViolations || []")
        problems = console + events
        assert not problems, f"CSP violations on {path}:\n" + "\n".join(problems)

    def visit(path):
        response = page.goto(path)
        assert response is not None and response.status < 500, f"{path}: {response and response.status}"
        assert response.headers.get("content-security-policy"), f"{path} has no CSP header"
        # Let deferred scripts run (Bootstrap, the payment status poller) before reading the events.
        page.wait_for_function("document.readyState === 'complete'")
        check(path)

    visit.check = check
    return visit


@pytest.fixture
def active_member(reference_data):
    member = MemberFactory(
        user__email="wanjiru@example.com",
        status=Member.Status.ACTIVE,
        membership_number="KTS-2026-0042",
        activated_at=timezone.now(),
        registration_paid_at=timezone.now(),
        period_start=TODAY - datetime.timedelta(days=340),
        period_end=TODAY + datetime.timedelta(days=25),
        phone_number="254712345678",
    )
    Payment.objects.create(
        member=member,
        payment_type="registration",
        amount=1000,
        status="completed",
        mpesa_receipt_number="TST0000042",
        receipt_number="RCP-2026-0042",
        completed_at=timezone.now(),
    )
    Payment.objects.create(member=member, payment_type="renewal", amount=1000, status="pending")
    return member


def test_pages_for_visitors_have_no_csp_violation(page, watched, active_member):
    for path in ["/", "/login/", "/register/", "/password/reset/", "/no-such-page/"]:
        watched(path)
    watched(f"/verify/{active_member.verification_token}/")


def test_member_pages_have_no_csp_violation(page, watched, active_member):
    login(page, "wanjiru@example.com", PASSWORD)
    pending = Payment.objects.get(member=active_member, status="pending")
    completed = Payment.objects.get(member=active_member, status="completed")
    for path in [
        "/portal/",
        "/portal/profile/",
        "/portal/notifications/",
        "/payments/",
        "/payments/pay/",
        f"/payments/{pending.reference}/",  # the status poller script runs here
        f"/payments/{completed.reference}/",
        "/password/change/",
    ]:
        watched(path)


def test_staff_pages_have_no_csp_violation(page, watched, active_member, admin_user, alice):
    admin_user.is_superuser = True
    admin_user.save()
    give_two_factor(admin_user)
    login(page, admin_user.email, PASSWORD)
    payment = Payment.objects.filter(member=active_member).first()
    for path in [
        "/staff/",  # the server-drawn SVG charts
        "/staff/applications/",
        "/staff/members/",
        f"/staff/members/{alice.pk}/",
        f"/staff/members/{active_member.pk}/",
        "/staff/payments/",
        f"/staff/payments/{payment.reference}/",
        "/staff/audit/",
        "/staff/exports/",
        "/admin/",
        "/admin/members/member/",
        f"/admin/members/member/{active_member.pk}/change/",
    ]:
        watched(path)


def test_the_api_docs_page_renders_under_its_policy(page, watched):
    watched("/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Membership API" in page.locator(".swagger-ui .info .title").inner_text()
    # Open an operation and the authorisation dialog: what Swagger UI draws then is checked too.
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body")
    page.get_by_role("button", name="Authorize").first.click()
    page.wait_for_selector(".modal-ux")
    watched.check("/api/docs/ (operation and Authorize dialog open)")


def test_the_detector_sees_a_violation(page, watched, live_server):
    """The checks above can fail: a page with an inline script and a style attribute is caught."""
    page.route(
        "**/csp-probe/",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Security-Policy": "default-src 'self'", "Content-Type": "text/html"},
            body="<!doctype html><p style='color: red'>x</p><script>document.title = 'ran'</script>",
        ),
    )
    with pytest.raises(AssertionError, match="CSP violations on /csp-probe/"):
        watched("/csp-probe/")
    assert page.title() != "ran"


def test_the_two_factor_pages_have_no_csp_violation(page, watched, db):
    """The second login step, and the set-up page (its QR code is inline SVG) for staff without an app."""
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    newcomer = UserFactory(email="new.staff@example.com", is_staff=True)
    newcomer.groups.add(Group.objects.get(name="Staff"))
    page.goto("/login/")
    page.get_by_label("Email").fill(newcomer.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    page.wait_for_function("document.readyState === 'complete'")
    watched.check(page.url)
    assert page.locator("svg").count() >= 1, f"no QR code on {page.url}"

    veteran = UserFactory(email="old.staff@example.com", is_staff=True)
    veteran.groups.add(Group.objects.get(name="Staff"))
    give_two_factor(veteran)
    page.context.clear_cookies()
    page.goto("/login/")
    page.get_by_label("Email").fill(veteran.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()
    assert "/login/verify/" in page.url
    watched.check(page.url)
    login(page, veteran.email, PASSWORD)
    watched("/account/two-factor/")
