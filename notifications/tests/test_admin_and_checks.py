import pytest
from django.urls import reverse

from notifications.checks import check_sms_backend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_lists_searches_and_filters_the_message_log(superuser_client, make_message):
    make_message(event="payment_received", recipient="254712345678")
    make_message(event="approved", recipient="254799999999", status="failed")
    url = reverse("admin:notifications_message_changelist")
    response = superuser_client.get(url, {"q": "254712345678"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    response = superuser_client.get(url, {"status__exact": "failed"})
    assert response.context["cl"].result_count == 1


def test_the_admin_shows_a_message_but_cannot_add_change_or_delete_one(superuser_client, make_message):
    message = make_message()
    response = superuser_client.get(reverse("admin:notifications_message_change", args=[message.pk]))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert superuser_client.get(reverse("admin:notifications_message_add")).status_code == 403
    assert superuser_client.get(reverse("admin:notifications_message_delete", args=[message.pk])).status_code == 403


def test_the_admin_shows_a_message_body_but_never_a_password_reset_link(superuser_client, make_message):
    link = "https://members.example.org/password/reset/MQ/cdn8z1-0f3d9c2b1a/"
    reset = make_message(channel="email", event="password_reset", body=f"Go to {link}", html_body=f"<a>{link}</a>")
    other = make_message(body="KES 1,000 received.")
    page = superuser_client.get(reverse("admin:notifications_message_change", args=[reset.pk]))
    assert page.status_code == 200
    assert b"/password/reset/MQ/" not in page.content and b"Not shown" in page.content
    page = superuser_client.get(reverse("admin:notifications_message_change", args=[other.pk]))
    assert b"KES 1,000 received." in page.content


def test_the_default_sms_settings_pass_the_checks(settings):
    settings.SMS_BACKEND = "notifications.sms.ConsoleSmsBackend"
    assert check_sms_backend(None) == []


def test_a_backend_that_cannot_be_imported_is_a_check_error(settings):
    settings.SMS_BACKEND = "notifications.sms.NoSuchBackend"
    [error] = check_sms_backend(None)
    assert error.id == "notifications.E001"


def test_africas_talking_without_credentials_is_a_check_error(settings):
    settings.SMS_BACKEND = "notifications.sms.AfricasTalkingSmsBackend"
    [error] = check_sms_backend(None)
    assert error.id == "notifications.E002"
    settings.SMS_API_KEY, settings.SMS_USERNAME = "a-key", "sandbox"
    assert check_sms_backend(None) == []
