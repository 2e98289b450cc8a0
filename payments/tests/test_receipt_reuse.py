"""One M-Pesa receipt pays for one payment: a callback bringing a receipt already credited to another payment
is a forgery (or a replay aimed at a second payment), rejected and logged, never a harmless duplicate."""

import pytest

from audit.models import AuditLog
from payments.models import MpesaCallback, Payment
from payments.services import callback_process, callback_receive, payment_complete
from payments.tests.test_concurrency import success_body
from payments.transitions import Confirmation, MpesaReceiptAlreadyUsed

# Transactional, so a callback's confirmation (queued on commit) runs as in production; Daraja's status query
# confirms every payment (the conftest stub), so what is tested here is the receipt rule after it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("daraja_confirms")]

Status = Payment.Status
Source = Payment.Source
RECEIPT = "TRU1234567"
QUERY = Confirmation.QUERY


def mpesa_payment(member, checkout_request_id, **fields):
    return Payment.objects.create(
        member=member,
        payment_type=Payment.Type.REGISTRATION,
        amount=member.category.registration_fee,
        phone_number="254708374149",
        checkout_request_id=checkout_request_id,
        merchant_request_id=f"m-{checkout_request_id}",
        **fields,
    )


def deliver(payment, receipt):
    callback = callback_receive(
        token=payment.callback_token, body=success_body(payment, receipt), headers={}, source_ip="127.0.0.1"
    )
    callback_process(callback)
    return MpesaCallback.objects.get(pk=callback.pk)


@pytest.fixture
def paid_by_bob(bob):
    """Bob's payment, completed by its callback with RECEIPT."""
    payment = mpesa_payment(bob, "ws_CO_bob")
    assert deliver(payment, RECEIPT).outcome == MpesaCallback.Outcome.APPLIED
    return Payment.objects.get(pk=payment.pk)


def snapshot(payment):
    return Payment.objects.filter(pk=payment.pk).values().get()


def security_entries(**data):
    return AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, **{f"data__{k}": v for k, v in data.items()})


@pytest.mark.security_check(4)
def test_a_callback_reusing_a_receipt_credited_to_another_payment_is_rejected_and_logged(paid_by_bob, alice):
    alices = mpesa_payment(alice, "ws_CO_alice")
    bobs_before, alices_before = snapshot(paid_by_bob), snapshot(alices)

    callback = deliver(alices, RECEIPT)

    assert (callback.outcome, callback.payment_id) == (MpesaCallback.Outcome.REJECTED, alices.pk)
    assert RECEIPT in callback.detail and f"payment {paid_by_bob.pk}" in callback.detail
    assert snapshot(alices) == alices_before  # still pending, no receipt, no result
    assert snapshot(paid_by_bob) == bobs_before
    entry = security_entries(event="callback_rejected", callback=callback.pk).get()
    assert entry.target_id == str(alices.pk) and RECEIPT in entry.data["detail"]
    assert not AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED, target_id=str(alices.pk)).exists()


@pytest.mark.security_check(4)
def test_a_receipt_reused_for_a_payment_a_status_query_completed_is_rejected(paid_by_bob, alice):
    """Reconciliation completes a payment without a receipt; its callback brings the receipt later. A receipt
    already on another payment must not be attached to it."""
    alices = mpesa_payment(alice, "ws_CO_alice")
    assert payment_complete(payment=alices, source=Source.QUERY, confirmed_by=QUERY)
    alices_before = snapshot(alices)

    callback = deliver(alices, RECEIPT)

    assert callback.outcome == MpesaCallback.Outcome.REJECTED, callback.detail
    assert snapshot(alices) == alices_before
    assert snapshot(alices)["mpesa_receipt_number"] is None
    assert security_entries(event="callback_rejected", callback=callback.pk).exists()


def test_a_status_query_completion_carrying_a_used_receipt_is_refused(paid_by_bob, alice):
    """The service every completion goes through refuses the receipt and says whose it is, so the query
    path (which will fetch receipts) cannot credit one receipt twice either."""
    alices = mpesa_payment(alice, "ws_CO_alice", status=Status.TIMEOUT)
    before = snapshot(alices)

    with pytest.raises(MpesaReceiptAlreadyUsed) as refused:
        payment_complete(payment=alices, source=Source.QUERY, confirmed_by=QUERY, mpesa_receipt_number=RECEIPT)

    assert (refused.value.receipt, refused.value.credited_to) == (RECEIPT, paid_by_bob.pk)
    assert snapshot(alices) == before


def test_the_same_receipt_again_for_its_own_payment_is_still_a_plain_duplicate(paid_by_bob):
    callback = deliver(paid_by_bob, RECEIPT)
    assert callback.outcome == MpesaCallback.Outcome.DUPLICATE
    assert not security_entries(event="callback_rejected").exists()


def test_a_late_receipt_for_a_query_completed_payment_is_still_attached(alice):
    payment = mpesa_payment(alice, "ws_CO_alice")
    assert payment_complete(payment=payment, source=Source.QUERY, confirmed_by=QUERY)
    assert deliver(payment, "TRU7654321").outcome == MpesaCallback.Outcome.DUPLICATE
    assert snapshot(payment)["mpesa_receipt_number"] == "TRU7654321"
