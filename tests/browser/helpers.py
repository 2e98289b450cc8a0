"""Steps shared by the browser tests."""


def submit(page, button):
    """Click a submit button and wait until the browser has loaded the answer (any status)."""
    with page.expect_navigation():
        button.click()


def login(page, email, password):
    """Log in through the real login page."""
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    submit(page, page.get_by_role("button", name="Log in"))
    assert "/login/" not in page.url, f"login failed for {email}: still on {page.url}"


def logout(page):
    submit(page, page.get_by_role("button", name="Log out"))
    assert page.url.endswith("/login/"), page.url
