import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Member
from notifications.services import notify_member
from payments.models import Payment
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def make_active(member, *, days_left):
    Member.objects.filter(pk=member.pk).update(
        status=Member.Status.ACTIVE,
        membership_number="KTS-2026-0001",
        registration_paid_at=timezone.now(),
        period_start=timezone.localdate() - datetime.timedelta(days=300),
        period_end=timezone.localdate() + datetime.timedelta(days=days_left),
    )


def home_queries(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/portal/")
    assert response.status_code == 200
    return len(captured), response


def test_the_home_query_count_does_not_grow_with_payments_or_notifications(client, alice):
    make_active(alice, days_left=20)
    client.login(username=alice.user.email, password=PASSWORD)
    few, _ = home_queries(client)
    Payment.objects.bulk_create(
        [Payment(member=alice, payment_type="renewal", amount=3000, phone_number="254712345678") for _ in range(40)]
    )
    for n in range(12):
        notify_member(alice, event="application_received", context={}, dedupe_key_base=f"test:{n}")
    many, _ = home_queries(client)
    assert many == few


def test_an_active_member_sees_days_left_and_the_renewal_when_the_window_is_open(client, alice):
    make_active(alice, days_left=20)
    client.login(username=alice.user.email, password=PASSWORD)
    _, response = home_queries(client)
    html = response.content.decode()
    assert "20 days left" in html
    assert "Renew with M-Pesa" in html
    assert "KES 3,000" in html
    assert "Download certificate" in html


def test_no_renewal_is_offered_before_the_window(client, alice):
    make_active(alice, days_left=200)
    client.login(username=alice.user.email, password=PASSWORD)
    _, response = home_queries(client)
    assert "Renew with M-Pesa" not in response.content.decode()


def test_after_grace_the_late_fee_is_shown(client, alice):
    make_active(alice, days_left=-40)
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.EXPIRED)
    client.login(username=alice.user.email, password=PASSWORD)
    _, response = home_queries(client)
    html = response.content.decode()
    assert "includes the late fee" in html
    assert "KES 4,000" in html
    assert "Ended 40 days ago" in html
