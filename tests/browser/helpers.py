"""Steps shared by the browser tests."""


def submit(page, button):
    """Click a submit button and wait until the browser has loaded the answer (any status)."""
    with page.expect_navigation():
        button.click()


def login(page, email, password):
    """Log in through the real login page. For an account with two-factor (every staff role), the second
    step is done as a person would: the code their authenticator app shows now, computed from the device's
    key (tests.two_factor.app_code)."""
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    submit(page, page.get_by_role("button", name="Log in"))
    if "/login/verify/" in page.url:
        from accounts.models import User
        from tests.two_factor import app_code, app_device

        device = app_device(User.objects.get(email__iexact=email))
        assert device is not None, f"{email} is asked for a code but has no authenticator device"
        page.get_by_label("Code").fill(app_code(device))
        submit(page, page.get_by_role("button", name="Verify"))
    assert "/login/" not in page.url, f"login failed for {email}: still on {page.url}"


def logout(page):
    submit(page, page.get_by_role("button", name="Log out"))
    assert page.url.endswith("/login/"), page.url
