import pytest

from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def test_a_reset_request_for_an_account_is_audited(client, alice):
    response = client.post("/password/reset/", {"email": "ALICE@example.com"}, REMOTE_ADDR="197.248.10.1")
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.PASSWORD_RESET_REQUESTED)
    assert entry.target_id == str(alice.user.pk)
    assert entry.ip_address == "197.248.10.1"


def test_a_reset_request_for_an_unknown_address_answers_the_same_and_audits_nothing(client, db):
    response = client.post("/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/password/reset/sent/"
    assert not AuditLog.objects.filter(action=AuditLog.Action.PASSWORD_RESET_REQUESTED).exists()
