"""The public privacy notice and the links to it."""

import pytest

pytestmark = pytest.mark.django_db


def test_anyone_can_read_the_notice_with_its_version_and_contact(client, settings):
    settings.PRIVACY_NOTICE_VERSION = "2026-11"
    settings.PRIVACY_CONTACT_EMAIL = "dpo@kalda-tech.example"
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 120
    page = client.get("/privacy/")
    assert page.status_code == 200
    text = page.content.decode()
    for words in [
        "Version 2026-11",
        "dpo@kalda-tech.example",
        "Data Protection Act, 2019",
        "Office of the Data Protection Commissioner",
        "kept for 120 days",
        "Safaricom",
    ]:
        assert words in text, words


def test_without_a_contact_the_notice_points_to_the_office(client, settings):
    settings.PRIVACY_CONTACT_EMAIL = settings.PRIVACY_CONTACT_PHONE = settings.PRIVACY_CONTACT_ADDRESS = ""
    assert "through the office" in client.get("/privacy/").content.decode()


def test_every_page_links_to_the_notice_in_its_footer(client, reference_data):
    for path in ("/", "/login/", "/register/"):
        assert '<a class="link-secondary" href="/privacy/">Privacy notice</a>' in client.get(path).content.decode()
