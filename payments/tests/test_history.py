import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.models import Payment
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def make_payments(member, count, **fields):
    Payment.objects.bulk_create(
        [
            Payment(member=member, payment_type="registration", amount=5000, phone_number=member.phone_number, **fields)
            for _ in range(count)
        ]
    )


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_history_query_count_does_not_grow_with_payments(client, alice):
    client.login(username=alice.user.email, password=PASSWORD)
    make_payments(alice, 2)
    few = queries_for(client, "/payments/")
    make_payments(alice, 60, status="completed", receipt_number=None)
    assert queries_for(client, "/payments/") == few


@pytest.mark.security_check(1)
def test_the_history_shows_only_the_callers_payments(client, alice, bob):
    make_payments(bob, 3, mpesa_receipt_number=None)
    Payment.objects.filter(member=bob).update(result_description="BOBS-PAYMENT")
    make_payments(alice, 1)
    client.login(username=alice.user.email, password=PASSWORD)
    response = client.get("/payments/")
    assert len(response.context["page"].object_list) == 1
    assert "BOBS-PAYMENT" not in response.content.decode()


def test_the_history_filters_and_paginates(client, alice):
    make_payments(alice, 25)
    make_payments(alice, 3, status="failed")
    client.login(username=alice.user.email, password=PASSWORD)
    assert client.get("/payments/").context["page"].paginator.count == 28
    assert len(client.get("/payments/?page=2").context["page"].object_list) == 8
    assert client.get("/payments/?status=failed").context["page"].paginator.count == 3
    assert client.get("/payments/?status=nonsense&type=bogus&year=abc").context["page"].paginator.count == 28


def test_the_history_needs_a_membership_and_a_login(client, staff_user):
    assert client.get("/payments/").status_code == 302
    client.login(username=staff_user.email, password=PASSWORD)
    assert client.get("/payments/").status_code == 404
