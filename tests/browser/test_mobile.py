"""On a phone the pages fit the screen and the navigation folds into a menu button."""

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD

from .helpers import login

PHONE = {"width": 375, "height": 740}


def assert_fits_phone(page):
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
    )
    assert widths["scroll"] <= widths["client"], f"{page.url} scrolls sideways on a phone: {widths}"
    toggler = page.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    toggler.click()
    expect(page.locator("#nav")).to_be_visible()


@pytest.fixture
def phone_page(page):
    page.set_viewport_size(PHONE)
    return page


def test_registration_page_fits_a_phone(phone_page, reference_data):
    phone_page.goto("/register/")
    assert_fits_phone(phone_page)
    expect(phone_page.get_by_role("link", name="Log in")).to_be_visible()


def test_portal_page_fits_a_phone(phone_page, alice):
    login(phone_page, "alice@example.com", PASSWORD)
    phone_page.goto("/portal/")
    expect(phone_page.locator("#member-status")).to_have_text("Pending review")
    assert_fits_phone(phone_page)
    expect(phone_page.get_by_role("button", name="Log out")).to_be_visible()
