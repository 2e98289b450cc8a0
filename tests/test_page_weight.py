"""No page loads more than 500 KB of assets the first time (uncompressed, the worst case)."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from members.models import Member
from tests.factories import PASSWORD

LIMIT = 500 * 1024
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/static/[^"?#]+)"')

pytestmark = pytest.mark.django_db


def weight(html):
    total = len(html.encode())
    for url in set(ASSET.findall(html)):
        path = finders.find(url.removeprefix("/static/"))
        assert path, f"missing static file {url}"
        with open(path, "rb") as handle:
            total += len(handle.read())
    return total


def test_public_pages_are_light(client, reference_data):
    for url in ["/", "/login/", "/register/", "/password/reset/"]:
        response = client.get(url)
        assert response.status_code == 200
        assert weight(response.content.decode()) < LIMIT, url


def test_member_pages_are_light(client, alice):
    Member.objects.filter(pk=alice.pk).update(status="active", registration_paid_at=timezone.now())
    client.login(username=alice.user.email, password=PASSWORD)
    for url in ["/portal/", "/payments/", "/payments/pay/", "/portal/profile/", "/portal/notifications/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert weight(response.content.decode()) < LIMIT, url


def test_the_verification_page_is_light(client, alice):
    response = client.get(f"/verify/{alice.verification_token}/")
    assert weight(response.content.decode()) < LIMIT
