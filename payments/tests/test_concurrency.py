"""Races on the money path, on PostgreSQL: duplicate callbacks arriving together, two reconcilers."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditLog
from core.models import YearlyCounter
from members.services import document_verify, member_approve
from payments.models import MpesaCallback, Payment
from payments.services import callback_process, callback_receive, payment_initiate_mpesa, reconcile_stale_payments
from tests.concurrency import run_together
from tests.factories import MemberFactory, UserFactory, load_reference_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "Concurrency needs PostgreSQL row locks: set DATABASE_URL=postgres://... (SQLite serialises writers)."
        )


def manual_phone(index):
    """A distinct phone per member (Daraja locks a phone with an open prompt), answered by the test."""
    return f"2547110006{index:02d}"


def approved_members(count):
    load_reference_data()
    reviewer = UserFactory(is_staff=True, is_superuser=True)
    members = []
    for _ in range(count):
        member = MemberFactory()
        for document in member.documents.all():
            document_verify(document=document, actor=reviewer)
        members.append(member_approve(member=member, actor=reviewer))
    return members


def success_body(payment, receipt):
    return json.dumps(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": payment.merchant_request_id or "1234-5678-1",
                    "CheckoutRequestID": payment.checkout_request_id,
                    "ResultCode": 0,
                    "ResultDesc": "The service request is processed successfully.",
                    "CallbackMetadata": {
                        "Item": [
                            {"Name": "Amount", "Value": float(payment.amount)},
                            {"Name": "MpesaReceiptNumber", "Value": receipt},
                            {"Name": "Balance"},
                            {"Name": "TransactionDate", "Value": 20261126101500},
                            {"Name": "PhoneNumber", "Value": int(payment.phone_number)},
                        ]
                    },
                }
            }
        }
    ).encode()


@pytest.mark.security_check(5)
def test_concurrent_duplicate_callbacks_complete_each_payment_once(daraja, settings):
    """5 payments, each success callback delivered by 12 threads at the same instant."""
    members = approved_members(5)
    daraja.configure(default_outcome="manual")
    payments = [
        payment_initiate_mpesa(member=m, payment_type="registration", phone=manual_phone(i), actor=m.user)
        for i, m in enumerate(members)
    ]
    for index, payment in enumerate(payments):
        daraja.resolve(payment.checkout_request_id, 0, deliver=False)  # paid: Daraja's query confirms it
        body = success_body(payment, f"TKQ{index:07d}")

        def deliver(payment=payment, body=body):
            callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip="127.0.0.1")
            callback_process(callback)

        assert run_together([deliver] * 12) == []

    for payment in payments:
        payment.refresh_from_db()
        assert payment.status == Payment.Status.COMPLETED
    assert len({p.receipt_number for p in payments}) == 5
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 5
    assert MpesaCallback.objects.filter(outcome="applied").count() == 5
    assert MpesaCallback.objects.filter(outcome="duplicate").count() == 55
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 5
    assert AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active").count() == 5


@pytest.mark.security_check(4)
def test_one_receipt_sent_at_once_for_four_payments_credits_one_and_rejects_the_rest(daraja):
    """The unique receipt makes the losers wait for the winner's commit, then refuses them: each is a
    rejection with a security entry, never a "duplicate, already completed"."""
    members = approved_members(4)
    daraja.configure(default_outcome="manual")
    payments = [
        payment_initiate_mpesa(member=m, payment_type="registration", phone=manual_phone(i), actor=m.user)
        for i, m in enumerate(members)
    ]
    for payment in payments:
        daraja.resolve(payment.checkout_request_id, 0, deliver=False)  # each paid: the query confirms them all
    deliveries = [
        lambda payment=payment: callback_process(
            callback_receive(
                token=payment.callback_token, body=success_body(payment, "TRR0000001"), headers={}, source_ip=None
            )
        )
        for payment in payments
    ]

    assert run_together(deliveries) == []

    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == [Payment.Status.COMPLETED] + [Payment.Status.PENDING] * 3
    assert Payment.objects.filter(mpesa_receipt_number="TRR0000001").count() == 1
    assert sorted(MpesaCallback.objects.values_list("outcome", flat=True)) == ["applied"] + ["rejected"] * 3
    rejections = AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, data__event="callback_rejected")
    assert rejections.count() == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1


def test_a_callback_racing_a_reconciler_completes_once(daraja):
    members = approved_members(3)
    daraja.configure(default_outcome="manual")
    for i, member in enumerate(members):
        payment = payment_initiate_mpesa(
            member=member, payment_type="registration", phone=manual_phone(i), actor=member.user
        )
        daraja.resolve(payment.checkout_request_id, 0, deliver=False)
        body = success_body(payment, daraja.transaction(payment.checkout_request_id)["receipt_number"])
        later = timezone.now() + timezone.timedelta(seconds=120)

        def deliver(payment=payment, body=body):
            callback_process(callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None))

        def reconcile(later=later):
            reconcile_stale_payments(now=later)

        assert run_together([deliver, reconcile, deliver, reconcile]) == []
        payment.refresh_from_db()
        assert payment.status == Payment.Status.COMPLETED
        assert payment.mpesa_receipt_number  # the callback's receipt is kept even if the query won
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 3


def test_two_reconcilers_never_query_the_same_payment_twice_in_a_round(daraja):
    members = approved_members(6)
    daraja.configure(default_outcome="manual")
    for i, member in enumerate(members):
        payment_initiate_mpesa(member=member, payment_type="registration", phone=manual_phone(i), actor=member.user)
    before = len([r for r in daraja.requests if r["endpoint"] == "stkquery"])
    later = timezone.now() + timezone.timedelta(seconds=120)
    summaries = []
    assert run_together([lambda: summaries.append(reconcile_stale_payments(now=later))] * 4) == []
    queries = len([r for r in daraja.requests if r["endpoint"] == "stkquery"]) - before
    assert sum(s.checked for s in summaries) == 6
    assert queries == 6
    assert set(Payment.objects.values_list("check_count", flat=True)) == {1}


def test_a_callback_that_beats_the_push_answer_by_a_hair_is_still_applied(daraja):
    """The push's answer (the CheckoutRequestID) is committed between the callback's two lookups.

    Seen under load: the callback looked the payment up by CheckoutRequestID (not stored yet), then by its
    URL token among payments still without one (stored by then), found nothing and was rejected as unknown.
    The interleaving is made exact here: right after the first lookup, another connection commits the id.
    """
    from daraja_simulator import outcomes

    member = approved_members(1)[0]
    payment = payment_initiate_mpesa(
        member=member, payment_type="registration", phone=outcomes.PHONE_MANUAL, actor=member.user
    )
    checkout_request_id = payment.checkout_request_id
    daraja.resolve(checkout_request_id, 0, deliver=False)  # paid: Daraja's query confirms the callback
    body = success_body(payment, "TKR0000001")
    Payment.objects.filter(pk=payment.pk).update(checkout_request_id=None)  # the push's answer not stored yet
    callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip="127.0.0.1")

    def push_answer_lands(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not landed and 'FROM "payments_payment"' in sql and '"checkout_request_id" =' in sql:
            landed.append(True)
            # Another connection (the initiating request) commits the id.
            assert not run_together(
                [lambda: Payment.objects.filter(pk=payment.pk).update(checkout_request_id=checkout_request_id)]
            )
        return result

    landed = []
    with connection.execute_wrapper(push_answer_lands):
        outcome = callback_process(callback)

    assert landed, "the interleaving did not happen"
    assert outcome == "applied", MpesaCallback.objects.get(pk=callback.pk).detail
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.COMPLETED
