import pytest

from payments.models import MpesaCallback, Payment
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{}", b'{"Body": {"stkCallback": {}}}', b"\xff\xfe garbage", b"[1, 2, 3]"],
)
def test_the_callback_answers_politely_whatever_it_gets_and_keeps_it(client, body):
    response = client.post("/api/mpesa/callback/some-token/", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    stored = MpesaCallback.objects.get()
    assert stored.outcome == MpesaCallback.Outcome.REJECTED
    assert stored.url_token == "some-token"


def test_the_callback_is_post_only(client):
    assert client.get("/api/mpesa/callback/x/").status_code == 405


def test_the_pay_page_needs_a_login(client):
    response = client.get("/payments/pay/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_pay_page_shows_the_fee_the_server_decides(client, alice):
    client.login(username=alice.user.email, password=PASSWORD)
    response = client.get("/payments/pay/")
    assert response.status_code == 200
    assert "KES 5,000" in response.content.decode()


def test_a_bad_phone_is_refused_with_a_message_and_nothing_is_started(client, alice, daraja):
    client.login(username=alice.user.email, password=PASSWORD)
    response = client.post("/payments/pay/", {"phone_number": "12345", "payment_type": "registration"})
    assert response.status_code == 400
    assert "Safaricom number" in response.content.decode()
    assert not Payment.objects.exists()


def test_a_non_kenyan_number_cannot_pay_by_mpesa(client, alice, daraja):
    client.login(username=alice.user.email, password=PASSWORD)
    response = client.post("/payments/pay/", {"phone_number": "+256772123456", "payment_type": "registration"})
    assert response.status_code == 400
    assert "Kenyan Safaricom number" in response.content.decode()


def test_staff_without_a_membership_get_a_404_on_the_pay_page(client, staff_user):
    client.login(username=staff_user.email, password=PASSWORD)
    assert client.get("/payments/pay/").status_code == 404


def test_nothing_due_is_said_plainly(client, alice):
    from django.utils import timezone

    alice.__class__.objects.filter(pk=alice.pk).update(registration_paid_at=timezone.now())
    client.login(username=alice.user.email, password=PASSWORD)
    assert "Nothing is due" in client.get("/payments/pay/").content.decode()
