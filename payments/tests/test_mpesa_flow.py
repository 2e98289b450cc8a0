"""M-Pesa payments end to end against the local Daraja simulator over real HTTP: the client pushes to
the simulator, and the simulator posts its callbacks to this test's live server."""

import datetime
import io

import pytest
from django.utils import timezone
from pypdf import PdfReader

from audit.models import AuditLog
from core.models import YearlyCounter
from daraja_simulator import outcomes
from members.models import Member
from payments.models import MpesaCallback, Payment
from payments.services import PaymentError, payment_initiate_mpesa, reconcile_stale_payments
from tests.factories import PASSWORD
from tests.idor import assert_nothing_of, row_of, their_object

pytestmark = pytest.mark.django_db(transaction=True)


def pay(member, phone=outcomes.PHONE_SUCCESS, payment_type="registration"):
    return payment_initiate_mpesa(member=member, payment_type=payment_type, phone=phone, actor=member.user)


def settle(sim, payment, deliveries=1):
    sim.wait_for_deliveries(deliveries, timeout=10)
    sim.wait_until_idle(timeout=10)
    payment.refresh_from_db()
    return payment


def test_a_paid_registration_fee_activates_an_approved_member_with_one_receipt(daraja_live, approved_alice):
    payment = pay(approved_alice)
    assert payment.status == Payment.Status.PENDING
    assert payment.checkout_request_id.startswith("ws_CO_")

    payment = settle(daraja_live, payment)

    year = timezone.localdate().year
    assert payment.status == Payment.Status.COMPLETED
    assert payment.receipt_number == f"RCT-{year}-000001"
    assert len(payment.mpesa_receipt_number) == 10
    member = Member.objects.get(pk=approved_alice.pk)
    assert member.status == Member.Status.ACTIVE
    assert member.registration_payment_reference == payment.receipt_number
    assert MpesaCallback.objects.get().outcome == MpesaCallback.Outcome.APPLIED


def test_a_fee_paid_before_approval_activates_the_member_on_approval(daraja_live, alice, staff_user):
    from members.services import document_verify, member_approve

    payment = settle(daraja_live, pay(alice))
    assert payment.status == Payment.Status.COMPLETED
    assert Member.objects.get(pk=alice.pk).status == Member.Status.PENDING
    for document in alice.documents.all():
        document_verify(document=document, actor=staff_user)
    assert member_approve(member=alice, actor=staff_user).status == Member.Status.ACTIVE


@pytest.mark.parametrize(
    ("phone", "status", "code", "words"),
    [
        (outcomes.PHONE_CANCELLED, Payment.Status.CANCELLED, "1032", "cancelled"),
        (outcomes.PHONE_INSUFFICIENT, Payment.Status.FAILED, "1", "balance"),
        (outcomes.PHONE_WRONG_PIN, Payment.Status.FAILED, "2001", "PIN"),
        (outcomes.PHONE_TIMEOUT, Payment.Status.FAILED, "1037", "respond"),
        (outcomes.PHONE_UNKNOWN_CODE, Payment.Status.FAILED, "7777", ""),
    ],
)
def test_a_failed_payment_changes_nothing_and_says_why(daraja_live, client, approved_alice, phone, status, code, words):
    payment = settle(daraja_live, pay(approved_alice, phone=phone))
    assert payment.status == status
    assert payment.result_code == code
    assert payment.receipt_number is None
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.APPROVED

    client.login(username=approved_alice.user.email, password=PASSWORD)
    state = client.get(f"/payments/{payment.reference}/status/").json()
    assert state["final"] is True
    assert state["receipt_url"] is None
    assert words.lower() in state["message"].lower()


@pytest.mark.security_check(5)
def test_the_same_success_callback_three_times_completes_once(daraja_live, approved_alice):
    payment = settle(daraja_live, pay(approved_alice))
    daraja_live.redeliver(payment.checkout_request_id, copies=2)
    settle(daraja_live, payment, deliveries=3)

    outcomes_seen = sorted(MpesaCallback.objects.values_list("outcome", flat=True))
    assert outcomes_seen == ["applied", "duplicate", "duplicate"], MpesaCallback.objects.values("outcome", "detail")
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1
    activations = AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active")
    assert activations.count() == 1


def test_a_lost_callback_is_resolved_by_reconciliation(daraja_live, approved_alice, settings):
    payment = pay(approved_alice, phone=outcomes.PHONE_NO_CALLBACK)
    daraja_live.wait_until_idle(timeout=10)
    assert daraja_live.deliveries == []

    summary = reconcile_stale_payments(now=timezone.now() + datetime.timedelta(seconds=120))

    payment.refresh_from_db()
    assert summary.completed == 1
    assert payment.status == Payment.Status.COMPLETED
    assert payment.result_source == Payment.Source.QUERY
    assert payment.receipt_number is not None
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.ACTIVE


@pytest.mark.security_check(6)
def test_a_payment_still_processing_stays_pending(daraja_live, approved_alice):
    payment = pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    for mode in ("4999", "500"):
        daraja_live.configure(query_pending_mode=mode)
        summary = reconcile_stale_payments(
            now=timezone.now() + datetime.timedelta(seconds=120 * (2 if mode == "500" else 1))
        )
        payment.refresh_from_db()
        assert summary.still_pending == 1, mode
        assert payment.status == Payment.Status.PENDING


def test_a_late_success_after_timeout_still_completes_the_payment(daraja_live, approved_alice, settings):
    payment = pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    later = timezone.now() + datetime.timedelta(seconds=settings.MPESA_PAYMENT_TIMEOUT_SECONDS + 60)
    summary = reconcile_stale_payments(now=later)
    payment.refresh_from_db()
    assert summary.timed_out == 1
    assert payment.status == Payment.Status.TIMEOUT

    daraja_live.resolve(payment.checkout_request_id, 0)
    payment = settle(daraja_live, payment)
    assert payment.status == Payment.Status.COMPLETED
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.ACTIVE


@pytest.mark.security_check(6)
def test_a_query_failure_leaves_the_payment_pending(daraja_live, approved_alice, settings):
    payment = pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    daraja_live.configure(fail_next=5, fail_with="503", fail_only="stkquery")
    summary = reconcile_stale_payments(now=timezone.now() + datetime.timedelta(seconds=120))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert summary.completed == summary.failed == 0


@pytest.mark.security_check(4)
@pytest.mark.parametrize("forgery", ["unknown_id", "wrong_token", "wrong_amount", "wrong_phone"])
def test_a_forged_callback_credits_nothing_and_is_logged(daraja_live, approved_alice, live_server, forgery):
    payment = pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    url = f"{live_server.url}/api/mpesa/callback/{payment.callback_token}/"
    fields = {
        "checkout_request_id": payment.checkout_request_id,
        "amount": payment.amount,
        "phone": payment.phone_number,
        "result_code": 0,
    }
    if forgery == "unknown_id":
        fields["checkout_request_id"] = "ws_CO_000000000000000000000000"
        url = f"{live_server.url}/api/mpesa/callback/not-a-real-token/"
    elif forgery == "wrong_token":
        url = f"{live_server.url}/api/mpesa/callback/guessed-token/"
    elif forgery == "wrong_amount":
        fields["amount"] = 1
    elif forgery == "wrong_phone":
        fields["phone"] = "254799999999"
    reply = daraja_live.forge_callback(url, **fields)

    assert reply["status"] == 200  # polite, and reveals nothing
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    callback = MpesaCallback.objects.get()
    assert callback.outcome == MpesaCallback.Outcome.REJECTED
    assert AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, data__event="callback_rejected").exists()


def test_daraja_down_fails_the_attempt_without_charging(daraja, approved_alice):
    daraja.stop()
    with pytest.raises(PaymentError, match="Nothing was charged"):
        pay(approved_alice)
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.FAILED
    assert payment.result_source == Payment.Source.PUSH


@pytest.mark.security_check(6)
def test_a_push_that_times_out_stays_pending_and_is_not_sent_twice(daraja, approved_alice, settings, monkeypatch):
    from mpesa import config

    real = config.get_client

    def impatient_client():
        client = real()
        client.timeout = (2, 0.5)
        return client

    monkeypatch.setattr(config, "get_client", impatient_client)
    daraja.configure(slow_seconds=2, slow_only="stkpush")
    payment = pay(approved_alice)
    assert payment.status == Payment.Status.PENDING
    assert payment.checkout_request_id is None
    with pytest.raises(PaymentError, match="already sent"):
        pay(approved_alice)


@pytest.mark.security_check(10)
def test_a_second_prompt_is_refused_while_one_is_pending(daraja, approved_alice):
    pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    with pytest.raises(PaymentError, match="already sent"):
        pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    assert Payment.objects.count() == 1


def test_the_server_decides_the_amount(daraja, approved_alice):
    with pytest.raises(PaymentError, match="amount due is KES 5,000"):
        payment_initiate_mpesa(
            member=approved_alice,
            payment_type="registration",
            phone=outcomes.PHONE_SUCCESS,
            amount=1,
            actor=approved_alice.user,
        )
    with pytest.raises(PaymentError, match="registration"):
        pay(approved_alice, payment_type="renewal")
    assert Payment.objects.count() == 0


@pytest.mark.security_check(1)
def test_the_receipt_pdf_is_for_its_owner_and_finance_only(daraja_live, client, approved_alice, bob, finance_user):
    payment = settle(daraja_live, pay(approved_alice))
    url = f"/payments/{payment.reference}/receipt/"

    client.login(username=approved_alice.user.email, password=PASSWORD)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert payment.receipt_number in text
    assert payment.mpesa_receipt_number in text
    assert "KES 5,000.00" in text

    their_object(Payment, payment.pk, member=approved_alice, receipt_number=payment.receipt_number)
    before = row_of(payment)
    client.login(username=bob.user.email, password=PASSWORD)
    for path in (url, f"/payments/{payment.reference}/status/", f"/payments/{payment.reference}/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert_nothing_of(approved_alice, response, payment.receipt_number, payment.mpesa_receipt_number, "5,000")
    assert row_of(payment) == before
    client.login(username=finance_user.email, password=PASSWORD)
    assert client.get(url).status_code == 200


def test_spike_arrest_on_the_push_fails_the_attempt_with_a_plain_message(daraja, approved_alice):
    daraja.configure(fail_next=1, fail_with="spike_arrest", fail_only="stkpush")
    with pytest.raises(PaymentError, match="not answering"):
        pay(approved_alice)
    assert Payment.objects.get().status == Payment.Status.FAILED
    # Nothing is stuck: the member can try again straight away.
    assert pay(approved_alice).status == Payment.Status.PENDING


@pytest.mark.parametrize(
    ("mode", "source", "applied"),
    [
        ("enforce", "203.0.113.9", False),
        ("enforce", "196.201.212.69", True),
        ("log", "203.0.113.9", True),
        ("off", "203.0.113.9", True),
    ],
)
def test_the_safaricom_address_allow_list(daraja, client, approved_alice, settings, mode, source, applied):
    from payments.tests.test_concurrency import success_body

    settings.MPESA_CALLBACK_IP_CHECK = mode
    payment = pay(approved_alice, phone=outcomes.PHONE_MANUAL)
    daraja.resolve(payment.checkout_request_id, 0, deliver=False)  # paid: Daraja's query confirms the callback
    response = client.post(
        f"/api/mpesa/callback/{payment.callback_token}/",
        success_body(payment, "TIP1234567"),
        content_type="application/json",
        REMOTE_ADDR=source,
    )
    assert response.status_code == 200
    payment.refresh_from_db()
    assert (payment.status == Payment.Status.COMPLETED) is applied
    assert MpesaCallback.objects.get().source_ip == source
