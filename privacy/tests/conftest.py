import datetime
import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from members.models import Member
from members.tests.conftest import make_upload, registration_data  # noqa: F401 (shared fixtures)
from notifications.services import notify_member
from payments.models import MpesaCallback, Payment
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the download rate limit lives in the cache
    yield
    cache.clear()


def make_active(member, number):
    Member.objects.filter(pk=member.pk).update(
        status=Member.Status.ACTIVE,
        membership_number=number,
        registration_paid_at=timezone.now(),
        period_start=timezone.localdate() - datetime.timedelta(days=30),
        period_end=timezone.localdate() + datetime.timedelta(days=300),
    )
    member.refresh_from_db()
    return member


def give_history(member, *, mpesa_receipt, receipt_number):
    """A completed M-Pesa payment with its raw callback, notifications, a failed login and audit entries."""
    payment = Payment.objects.create(
        member=member,
        payment_type=Payment.Type.REGISTRATION,
        amount=5000,
        phone_number=member.phone_number,
        status=Payment.Status.COMPLETED,
        mpesa_receipt_number=mpesa_receipt,
        receipt_number=receipt_number,
        checkout_request_id=f"ws_CO_{mpesa_receipt}",
        completed_at=timezone.now(),
    )
    body = {
        "Body": {
            "stkCallback": {
                "CheckoutRequestID": payment.checkout_request_id,
                "ResultCode": 0,
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 5000},
                        {"Name": "MpesaReceiptNumber", "Value": mpesa_receipt},
                        {"Name": "PhoneNumber", "Value": int(member.phone_number)},
                    ]
                },
            }
        }
    }
    MpesaCallback.objects.create(
        body=json.dumps(body), headers={}, checkout_request_id=payment.checkout_request_id, payment=payment
    )
    notify_member(member, event="application_received", dedupe_key_base=f"application_received:{member.pk}")
    audit_log(action=AuditLog.Action.REGISTERED, actor=member.user, target=member)
    audit_log(action=AuditLog.Action.PROFILE_CHANGED, actor=member.user, target=member, data={"fields": ["phone"]})
    audit_log(action=AuditLog.Action.LOGIN_FAILED, data={"username": member.user.email})
    return payment


@pytest.fixture
def member_client(client):
    def sign_in(member):
        assert client.login(username=member.user.email, password=PASSWORD)
        return client

    return sign_in
