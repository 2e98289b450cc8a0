"""Check 24: a success callback completes a payment only when Daraja confirms it with a status query, and the
audit entry of every completion says how it was confirmed.

The callback URL's token is the only thing that authenticates a callback, so anyone who ever saw one (an
insider, an old log line) could post "paid" for a prompt the payer cancelled or never answered. Daraja's
own status query decides; the local simulator answers it over real HTTP, including the sandbox quirk where
the query disagrees with the callback (daraja.md 5 and 12.7).
"""

import datetime

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from audit.models import AuditLog
from daraja_simulator import outcomes
from members.models import Member
from payments.models import MpesaCallback, Payment
from payments.services import payment_initiate_mpesa, payment_record_offline, reconcile_stale_payments
from payments.tests.test_concurrency import success_body
from tests.factories import MemberFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.security_check(24)]

SAFARICOM = "196.201.212.69"


def pay(member, phone=outcomes.PHONE_MANUAL):
    return payment_initiate_mpesa(member=member, payment_type="registration", phone=phone, actor=member.user)


def post_success(client, payment, receipt):
    """A success callback for `payment` with its URL token, as Daraja (or someone holding the token) sends it."""
    response = client.post(
        f"/api/mpesa/callback/{payment.callback_token}/",
        success_body(payment, receipt),
        content_type="application/json",
        REMOTE_ADDR=SAFARICOM,
    )
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    return MpesaCallback.objects.filter(payment=payment).order_by("-pk").first()


def completions(payment):
    return AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED, target_id=str(payment.pk))


def later(seconds=120):
    return timezone.now() + datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("story", "daraja_says"),
    [("the payer cancelled the prompt", 1032), ("the sandbox query disagrees with a success", 0)],
    ids=["cancelled", "sandbox_disagrees"],
)
def test_a_success_callback_that_daraja_contradicts_completes_nothing_and_is_a_security_event(
    daraja, client, approved_alice, story, daraja_says
):
    payment = pay(approved_alice)
    daraja.resolve(payment.checkout_request_id, daraja_says, deliver=False)
    if daraja_says == 0:
        daraja.configure(query_disagrees=True)

    callback = post_success(client, payment, "TFK1234567")

    payment.refresh_from_db()
    assert payment.status != Payment.Status.COMPLETED, story
    assert payment.receipt_number is None and payment.mpesa_receipt_number is None
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.APPROVED
    assert not completions(payment).exists()
    assert callback.outcome == MpesaCallback.Outcome.REJECTED
    assert "contradicted" in callback.detail
    entry = AuditLog.objects.get(action=AuditLog.Action.SECURITY_EVENT, data__event="callback_contradicted")
    assert entry.target_id == str(payment.pk) and entry.data["callback"] == callback.pk


def test_a_success_callback_for_a_prompt_still_open_waits_for_daraja_and_the_real_one_completes(
    daraja, client, approved_alice
):
    payment = pay(approved_alice)

    forged = post_success(client, payment, "TFK7654321")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.mpesa_receipt_number is None and payment.receipt_number is None
    assert not completions(payment).exists()
    assert forged.outcome == MpesaCallback.Outcome.CONFIRMING

    daraja.resolve(payment.checkout_request_id, 0, deliver=False)
    receipt = daraja.transaction(payment.checkout_request_id)["receipt_number"]
    real = post_success(client, payment, receipt)

    payment.refresh_from_db()
    assert real.outcome == MpesaCallback.Outcome.APPLIED
    assert payment.status == Payment.Status.COMPLETED and payment.mpesa_receipt_number == receipt
    assert completions(payment).get().data["confirmed_by"] == "callback+stk_query"
    queries = [r for r in daraja.requests if r["endpoint"] == "stkquery"]
    assert len(queries) == 2  # one for each callback


@pytest.mark.parametrize("failure", ["503", "reset", "still_processing"])
def test_a_query_that_gives_no_answer_leaves_the_payment_pending_and_reconciliation_completes_it_with_the_receipt(
    daraja, client, approved_alice, failure
):
    payment = pay(approved_alice)
    daraja.resolve(payment.checkout_request_id, 0, deliver=False)
    receipt = daraja.transaction(payment.checkout_request_id)["receipt_number"]
    if failure == "still_processing":
        daraja.configure(query_pending_mode="500", query_flaky_percent=100)
    else:
        daraja.configure(fail_next=1, fail_with=failure, fail_only="stkquery")

    callback = post_success(client, payment, receipt)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and payment.mpesa_receipt_number is None
    assert callback.outcome == MpesaCallback.Outcome.CONFIRMING
    assert not completions(payment).exists()

    daraja.configure(query_flaky_percent=0)
    summary = reconcile_stale_payments(now=later())

    payment.refresh_from_db()
    assert summary.completed == 1
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt  # from the stored callback, not lost
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.ACTIVE
    callback.refresh_from_db()
    assert callback.outcome == MpesaCallback.Outcome.APPLIED
    data = completions(payment).get().data
    assert (data["confirmed_by"], data["callback"]) == ("stk_query", callback.pk)


def _by_callback_and_query(daraja, client, member, finance, settings):
    payment = pay(member, phone=outcomes.PHONE_SUCCESS)  # the simulator finished it; its callback went nowhere
    post_success(client, payment, daraja.transaction(payment.checkout_request_id)["receipt_number"])
    return payment


def _by_reconciliation(daraja, client, member, finance, settings):
    payment = pay(member, phone=outcomes.PHONE_NO_CALLBACK)
    reconcile_stale_payments(now=later())
    return payment


def _by_staff(daraja, client, member, finance, settings):
    return payment_record_offline(member=member, method=Payment.Method.CASH, external_reference="CASH 1", actor=finance)


def _by_unconfirmed_callback(daraja, client, member, finance, settings):
    settings.MPESA_CONFIRM_CALLBACKS = False
    settings.MPESA_CONFIRM_CALLBACKS_OFF_REASON = "Sandbox: its status query reports paid prompts as failed."
    payment = pay(member)
    post_success(client, payment, "TUC1234567")  # the simulator still has the prompt open: nobody asks it
    return payment


@pytest.mark.parametrize(
    ("path", "confirmed_by", "extra"),
    [
        (_by_callback_and_query, "callback+stk_query", {}),
        (_by_reconciliation, "stk_query", {}),
        (_by_staff, "staff", {"recorded_by": "faith.finance@example.com"}),
        (
            _by_unconfirmed_callback,
            "unconfirmed_callback",
            {"reason": "Sandbox: its status query reports paid prompts as failed."},
        ),
    ],
    ids=["callback_and_query", "reconciliation", "staff", "unconfirmed_callback"],
)
def test_every_completion_says_how_it_was_confirmed(
    daraja, client, login_as, settings, reference_data, staff_user, finance_user, path, confirmed_by, extra
):
    from members.services import document_verify, member_approve

    member = MemberFactory()
    for document in member.documents.all():
        document_verify(document=document, actor=staff_user)
    member = member_approve(member=member, actor=staff_user)
    payment = path(daraja, client, member, finance_user, settings)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    data = completions(payment).get().data
    assert data["confirmed_by"] == confirmed_by
    for key, value in extra.items():
        assert data[key] == value

    login_as("finance")
    response = client.get(f"/staff/payments/{payment.reference}/")
    page = response.content.decode()
    assert response.status_code == 200, page[:3000]
    assert 'class="confirmed-by ' in page


def test_turning_confirmation_off_needs_a_reason(settings):
    settings.MPESA_CONFIRM_CALLBACKS = False
    settings.MPESA_CONFIRM_CALLBACKS_OFF_REASON = "  "
    assert "payments.E007" in [message.id for message in run_checks()]
    settings.MPESA_CONFIRM_CALLBACKS_OFF_REASON = "Sandbox: the status query is unreliable there."
    assert "payments.E007" not in [message.id for message in run_checks()]
