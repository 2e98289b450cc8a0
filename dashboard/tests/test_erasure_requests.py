"""The Admin's erasure requests page (/staff/erasure-requests/): what it lists, and forms that are not
complete are refused. What an approval erases, and what the member is told, is privacy's
(privacy/tests/test_erasure.py)."""

import pytest

from privacy.erasure import erasure_request
from privacy.models import ErasureRequest
from privacy.tests.conftest import make_active
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def asking(alice):
    """Alice, an active member, has asked to be erased."""
    make_active(alice, "KTS-2026-0420")
    return erasure_request(member=alice, password=PASSWORD, note="Please")


def test_the_staff_page_lists_pending_requests(client, asking, admin_user):
    client.force_login(admin_user)
    page = client.get("/staff/erasure-requests/").content.decode()
    assert "Alice" in page and "KTS-2026-0420" in page and "Approve and erase" in page


def test_approval_needs_the_confirmation_box(client, asking, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/staff/erasure-requests/{asking.pk}/approve/")
    assert response.status_code == 400
    assert ErasureRequest.objects.get(pk=asking.pk).status == ErasureRequest.Status.PENDING
