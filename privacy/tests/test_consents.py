"""Versioned consent: captured at registration, shown and withdrawn in the portal, asked again when the
privacy notice changes."""

import pytest

from accounts.consents import ConsentError, consent_give, consent_withdraw, needs_notice_acceptance
from accounts.models import Consent
from audit.models import AuditLog
from members.models import Country, Member, MembershipCategory, Region
from members.services import DocumentUpload, member_register

pytestmark = pytest.mark.django_db
Purpose = Consent.Purpose


def test_web_registration_records_the_notice_version_channel_and_address(client, registration_data, settings):
    settings.PRIVACY_NOTICE_VERSION = "2026-11"
    response = client.post("/register/", registration_data(), REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302
    member = Member.objects.get()
    consent = Consent.objects.get(user=member.user)
    assert (consent.purpose, consent.version, consent.channel) == (Purpose.PRIVACY_NOTICE, "2026-11", "web")
    assert consent.ip_address == "198.51.100.7" and consent.withdrawn_at is None
    assert AuditLog.objects.filter(action=AuditLog.Action.CONSENT_GIVEN, actor=member.user).count() == 1


def test_registration_without_ticking_the_box_is_refused_and_nothing_is_created(client, registration_data):
    response = client.post("/register/", registration_data(accept_privacy_notice=None))
    assert response.status_code == 400
    assert "Tick the box to confirm you have read the privacy notice." in response.content.decode()
    assert not Member.objects.exists() and not Consent.objects.exists()


def test_the_registration_page_links_to_the_notice(client, reference_data):
    page = client.get("/register/").content.decode()
    assert 'href="/privacy/"' in page
    assert 'name="accept_privacy_notice"' in page


def _register(make_upload, reference_data, **kwargs):
    category = MembershipCategory.objects.get(code="associate")
    return member_register(
        email="api.person@example.com",
        password="Tree-lamp-Orbit-93",
        first_name="Api",
        last_name="Person",
        category=category,
        documents=[DocumentUpload(code, make_upload(code)) for code in category.required_documents],
        id_number="39876543",
        date_of_birth="1990-02-02",
        gender="male",
        phone_number="254711222333",
        country=Country.objects.get(pk="KE"),
        region=Region.objects.get(country="KE", code="047"),
        **kwargs,
    )


def test_member_register_records_an_api_consent_when_asked(make_upload, reference_data):
    member = _register(make_upload, reference_data, consent_channel="api")
    assert Consent.objects.get(user=member.user).channel == "api"


def test_member_register_records_nothing_without_a_channel(make_upload, reference_data):
    member = _register(make_upload, reference_data)
    assert not Consent.objects.filter(user=member.user).exists()
    assert needs_notice_acceptance(member.user)


def test_an_unknown_channel_is_a_programming_error(alice):
    with pytest.raises(ValueError, match="Unknown consent channel"):
        consent_give(user=alice.user, purpose=Purpose.PRIVACY_NOTICE, channel="carrier-pigeon")


def test_giving_twice_records_one_consent(alice):
    first = consent_give(user=alice.user, purpose=Purpose.PRIVACY_NOTICE, channel="web")
    second = consent_give(user=alice.user, purpose=Purpose.PRIVACY_NOTICE, channel="web")
    assert first.pk == second.pk
    assert Consent.objects.filter(user=alice.user).count() == 1


def test_a_new_notice_version_asks_again_without_blocking_the_portal(client, alice, member_client, settings):
    settings.PRIVACY_NOTICE_VERSION = "2026-11"
    consent_give(user=alice.user, purpose=Purpose.PRIVACY_NOTICE, channel="web")
    member_client(alice)
    assert 'id="privacy-notice-prompt"' not in client.get("/portal/").content.decode()

    settings.PRIVACY_NOTICE_VERSION = "2027-03"
    assert needs_notice_acceptance(alice.user)
    home = client.get("/portal/")
    assert home.status_code == 200  # asked, not blocked
    assert 'id="privacy-notice-prompt"' in home.content.decode()

    response = client.post("/portal/privacy/accept/", {"next": "home"})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert not needs_notice_acceptance(alice.user)
    versions = list(Consent.objects.filter(user=alice.user).order_by("given_at").values_list("version", flat=True))
    assert versions == ["2026-11", "2027-03"]  # the old acceptance stays, as proof of what was agreed then
    assert 'id="privacy-notice-prompt"' not in client.get("/portal/").content.decode()


def test_an_outdated_acceptance_does_not_block_the_data_download(client, alice, member_client, settings):
    settings.PRIVACY_NOTICE_VERSION = "2099-01"
    member_client(alice)
    response = client.post("/portal/privacy/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"


def test_a_member_gives_and_withdraws_an_optional_consent_in_the_portal(client, alice, member_client):
    member_client(alice)
    page = client.get("/portal/privacy/")
    assert page.status_code == 200
    assert "News, events and surveys" in page.content.decode()

    client.post("/portal/privacy/consents/news_and_events/", {"action": "give"})
    consent = Consent.objects.get(user=alice.user, purpose=Purpose.NEWS_AND_EVENTS)
    assert consent.withdrawn_at is None and consent.channel == "web"

    client.post("/portal/privacy/consents/news_and_events/", {"action": "withdraw"})
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert AuditLog.objects.filter(action=AuditLog.Action.CONSENT_WITHDRAWN, actor=alice.user).count() == 1
    history = client.get("/portal/privacy/").content.decode()
    assert "You have not agreed." in history


def test_the_privacy_notice_is_not_a_toggle(client, alice, member_client):
    consent_give(user=alice.user, purpose=Purpose.PRIVACY_NOTICE, channel="web")
    with pytest.raises(ConsentError, match="ask for your data to be erased"):
        consent_withdraw(user=alice.user, purpose=Purpose.PRIVACY_NOTICE)
    member_client(alice)
    assert client.post("/portal/privacy/consents/privacy_notice/", {"action": "withdraw"}).status_code == 404
    page = client.get("/portal/privacy/").content.decode()
    assert "ask us to erase your data" in page
    assert Consent.objects.get(user=alice.user).withdrawn_at is None


def test_privacy_pages_need_a_signed_in_member(client, staff_user):
    assert client.get("/portal/privacy/")["Location"].startswith("/login/")
    client.force_login(staff_user)
    assert client.get("/portal/privacy/").status_code == 404


def test_the_portal_prompt_posts_with_a_csrf_token(alice):
    import re

    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.user)
    page = browser.get("/portal/").content.decode()
    prompt = page[page.index('id="privacy-notice-prompt"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', prompt).group(1)
    response = browser.post("/portal/privacy/accept/", {"csrfmiddlewaretoken": token, "next": "home"})
    assert response.status_code == 302
    assert not needs_notice_acceptance(alice.user)
