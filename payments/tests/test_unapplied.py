"""A fee paid twice (issue 13, finding 6): cash recorded while an M-Pesa prompt is open is refused, and a
payment that completes but cannot be applied to the membership (paid twice, closed meanwhile, nothing due
any more) is kept as money received, marked unapplied on its row and listed for Finance to refund or keep
as credit, never only an audit entry."""

import datetime
import html
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from audit.models import AuditLog
from members.models import Member
from members.services import document_verify, member_approve, member_reject, period_end_for
from payments.models import Payment
from payments.services import (
    PaymentError,
    payment_complete,
    payment_initiate_mpesa,
    payment_record_offline,
    payment_timeout,
)
from payments.transitions import Confirmation
from tests.factories import MemberFactory, UserFactory, load_reference_data

DAY = datetime.timedelta(days=1)
PHONE = "254711000901"


def today():
    return timezone.localdate()


def mpesa_payment(member, *, status=Payment.Status.TIMEOUT, payment_type="registration", amount=5000):
    """An M-Pesa attempt as payment_initiate_mpesa leaves it, moved to `status` (a prompt nobody answered in
    time, whose success arrives later: a late callback or a status query)."""
    payment = Payment.objects.create(
        member=member,
        payment_type=payment_type,
        method=Payment.Method.MPESA,
        amount=amount,
        phone_number=PHONE,
        checkout_request_id=f"ws_CO_LATE{member.pk:06d}",
    )
    if status == Payment.Status.TIMEOUT:
        assert payment_timeout(payment)
    payment.refresh_from_db()
    return payment


def late_success(payment, receipt="TLA0000001"):
    return payment_complete(
        payment=payment,
        mpesa_receipt_number=receipt,
        result_description="The service request is processed successfully.",
        source=Payment.Source.CALLBACK,
        confirmed_by=Confirmation.CALLBACK_AND_QUERY,  # Daraja's callback, which its status query confirmed
    )


def make_active(member, *, end):
    Member.objects.filter(pk=member.pk).update(
        status=Member.Status.ACTIVE,
        applied_at=timezone.now() - datetime.timedelta(days=800),
        activated_at=timezone.now() - datetime.timedelta(days=700),
        registration_paid_at=timezone.now() - datetime.timedelta(days=700),
        registration_payment_reference="RCT-2024-000001",
        period_start=end - datetime.timedelta(days=364),
        period_end=end,
        membership_number="KTS-2024-0007",
    )
    member.refresh_from_db()
    return member


# --- 1. No cash while a prompt is open ----------------------------------------------------------------------


@pytest.mark.django_db
def test_cash_for_the_registration_fee_is_refused_while_an_mpesa_prompt_is_pending(
    approved_alice, finance_user, daraja
):
    daraja.configure(default_outcome="manual")  # the prompt stays open on the phone
    prompt = payment_initiate_mpesa(
        member=approved_alice, payment_type="registration", phone=PHONE, actor=approved_alice.user
    )
    assert prompt.status == Payment.Status.PENDING

    with pytest.raises(PaymentError) as refused:
        payment_record_offline(member=approved_alice, method="cash", external_reference="CASH-77", actor=finance_user)

    message = str(refused.value)
    assert message.startswith("An M-Pesa payment of KES 5,000 for the registration fee, started ")
    assert "is still waiting for the member's answer on 2547****0901" in message
    assert "Nothing was recorded" in message
    # Nothing stored: no cash row, no receipt number, the fee still due, no audit entry of a recording.
    assert list(Payment.objects.values_list("pk", "method", "status")) == [(prompt.pk, "mpesa", "pending")]
    member = Member.objects.get(pk=approved_alice.pk)
    assert member.registration_paid_at is None and member.status == Member.Status.APPROVED
    assert not AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_RECORDED).exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).exists()


@pytest.mark.django_db
def test_cash_is_accepted_once_the_prompt_has_failed_or_timed_out(approved_alice, finance_user):
    mpesa_payment(approved_alice, status=Payment.Status.TIMEOUT)
    payment = payment_record_offline(
        member=approved_alice, method="cash", external_reference="CASH-78", actor=finance_user
    )
    assert payment.status == Payment.Status.COMPLETED and payment.unapplied_at is None
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.ACTIVE


@pytest.mark.django_db
def test_a_prompt_for_a_fee_just_paid_in_cash_is_refused_by_what_is_due(approved_alice, finance_user, daraja):
    payment_record_offline(member=approved_alice, method="cash", external_reference="CASH-79", actor=finance_user)
    with pytest.raises(PaymentError, match="Nothing is due on this membership right now"):
        payment_initiate_mpesa(
            member=approved_alice, payment_type="registration", phone=PHONE, actor=approved_alice.user
        )
    assert list(Payment.objects.values_list("method", flat=True)) == ["cash"]


# --- 2. A completion that cannot be applied is kept and marked for Finance ----------------------------------


@pytest.mark.django_db
def test_a_late_mpesa_success_after_the_fee_was_paid_in_cash_is_kept_as_unapplied(approved_alice, finance_user):
    prompt = mpesa_payment(approved_alice)
    cash = payment_record_offline(
        member=approved_alice, method="cash", external_reference="CASH-80", actor=finance_user
    )
    activated = Member.objects.get(pk=approved_alice.pk)
    assert activated.status == Member.Status.ACTIVE

    assert late_success(prompt) is True

    prompt.refresh_from_db()
    # The money is in: completed, with its own receipt number, and marked as not applied.
    assert prompt.status == Payment.Status.COMPLETED and prompt.mpesa_receipt_number == "TLA0000001"
    assert prompt.receipt_number and prompt.receipt_number != cash.receipt_number
    assert prompt.unapplied_at is not None
    assert prompt.unapplied_reason == "The registration fee for this application is already recorded, or it is closed."
    assert prompt.resolution == "" and prompt.resolved_at is None
    assert Payment.objects.unapplied().get() == prompt
    assert Payment.objects.awaiting_resolution().get() == prompt
    cash.refresh_from_db()
    assert cash.unapplied_at is None
    # One membership effect: the member was activated once, by the cash, and keeps the cash receipt.
    member = Member.objects.get(pk=approved_alice.pk)
    assert (member.period_start, member.period_end) == (activated.period_start, activated.period_end)
    assert member.registration_payment_reference == cash.receipt_number
    assert AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active").count() == 1
    # Still in the audit trail, as a security event and on the completion entry.
    event = AuditLog.objects.get(action=AuditLog.Action.SECURITY_EVENT, data__event="payment_not_applied")
    assert event.target_id == str(prompt.pk)
    completed = AuditLog.objects.get(action=AuditLog.Action.PAYMENT_COMPLETED, target_id=str(prompt.pk))
    assert completed.data["unapplied"] == prompt.unapplied_reason


@pytest.mark.django_db
def test_a_renewal_paid_twice_extends_the_membership_once_and_keeps_the_second_as_unapplied(alice, finance_user):
    end = today() + 10 * DAY
    member = make_active(alice, end=end)
    prompt = mpesa_payment(member, payment_type="renewal", amount=3000)
    payment_record_offline(member=member, method="bank", external_reference="FT-1", actor=finance_user)
    renewed_to = period_end_for(end + DAY, 12)
    assert Member.objects.get(pk=member.pk).period_end == renewed_to

    assert late_success(prompt) is True

    assert Member.objects.get(pk=member.pk).period_end == renewed_to  # not extended a second time
    assert AuditLog.objects.filter(action=AuditLog.Action.MEMBERSHIP_RENEWED).count() == 1
    prompt.refresh_from_db()
    assert prompt.status == Payment.Status.COMPLETED and prompt.unapplied_at is not None
    assert prompt.unapplied_reason.startswith("Nothing is due on this membership right now: the membership runs to")


@pytest.mark.django_db
def test_a_fee_paid_after_the_application_was_rejected_is_kept_as_unapplied(alice, staff_user):
    prompt = mpesa_payment(alice, status=Payment.Status.PENDING)
    member_reject(member=alice, actor=staff_user, reason="Documents do not match.")
    assert late_success(prompt) is True
    prompt.refresh_from_db()
    assert prompt.status == Payment.Status.COMPLETED and prompt.unapplied_at is not None
    assert Member.objects.get(pk=alice.pk).registration_paid_at is None


@pytest.mark.django_db
def test_an_applied_payment_is_not_marked(approved_alice):
    prompt = mpesa_payment(approved_alice, status=Payment.Status.PENDING)
    assert late_success(prompt) is True
    prompt.refresh_from_db()
    assert prompt.unapplied_at is None and prompt.unapplied_reason == ""
    assert not Payment.objects.unapplied().exists()


@pytest.mark.django_db
def test_the_member_sees_an_unapplied_payment_as_received_in_their_history(client, approved_alice, finance_user):
    prompt = mpesa_payment(approved_alice)
    payment_record_offline(member=approved_alice, method="cash", external_reference="CASH-81", actor=finance_user)
    late_success(prompt)
    prompt.refresh_from_db()

    client.force_login(approved_alice.user)
    text = html.unescape(client.get("/payments/").content.decode())
    row = text[text.index(f"/payments/{prompt.reference}/") :]
    row = row[: row.index("</tr>")]
    assert "Completed" in row and prompt.receipt_number in row
    assert "Received, not applied to your membership: our finance team will contact you" in row


# --- 3. PostgreSQL: the two paths serialise on the member row -----------------------------------------------


def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "Concurrency needs PostgreSQL row locks: set DATABASE_URL=postgres://... (SQLite serialises writers)."
        )


def _approved_member():
    load_reference_data()
    reviewer = UserFactory(is_staff=True, is_superuser=True)
    member = MemberFactory()
    for document in member.documents.all():
        document_verify(document=document, actor=reviewer)
    return member_approve(member=member, actor=reviewer), UserFactory(is_staff=True, is_superuser=True)


def _waits_for_a_lock(pid) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
        return cursor.fetchone()[0]


def _run_in_order(member, first, second):
    """Start `first`, wait until it waits for the member row (held here), then `second`, likewise; then
    let go. Each waits for the row in the order it came, so `first` gets it first. Answers {name: result or
    error}."""
    outcomes, pids = {}, {}

    def thread(name, function):
        def run():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    pids[name] = cursor.fetchone()[0]
                outcomes[name] = function()
            except Exception as error:  # noqa: BLE001 - asserted by the test
                outcomes[name] = error
            finally:
                connections.close_all()

        return threading.Thread(target=run, name=name)

    threads = [thread(*first), thread(*second)]
    with transaction.atomic():
        Member.objects.select_for_update().get(pk=member.pk)
        for started in threads:
            started.start()
            deadline = time.monotonic() + 20
            while not (started.name in pids and _waits_for_a_lock(pids[started.name])):
                assert time.monotonic() < deadline, f"{started.name} never waited for the member row"
                assert started.is_alive(), outcomes
                time.sleep(0.01)
    for started in threads:
        started.join(timeout=30)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ["cash_first", "mpesa_first"])
def test_cash_and_a_late_mpesa_success_at_once_credit_the_fee_once_and_list_the_other(order, client):
    _postgres_only()
    member, clerk = _approved_member()
    prompt = mpesa_payment(member)
    cash = ("cash", lambda: payment_record_offline(member=member, method="cash", external_reference="C-9", actor=clerk))
    mpesa = ("mpesa", lambda: late_success(prompt))

    outcomes = _run_in_order(member, *((cash, mpesa) if order == "cash_first" else (mpesa, cash)))

    member.refresh_from_db()
    prompt.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active").count() == 1
    assert prompt.status == Payment.Status.COMPLETED
    if order == "cash_first":
        # Both took the money: the cash is applied, the M-Pesa payment that completed second is kept for Finance.
        assert outcomes["mpesa"] is True and isinstance(outcomes["cash"], Payment), outcomes
        applied = Payment.objects.get(method="cash")
        assert applied.unapplied_at is None
        assert prompt.unapplied_at is not None and "already recorded" in prompt.unapplied_reason
        assert member.registration_payment_reference == applied.receipt_number
        finance = UserFactory(is_staff=True, is_superuser=True)
        client.force_login(finance)
        listed = html.unescape(client.get("/staff/payments/?applied=unapplied").content.decode())
        assert f"/staff/payments/{prompt.reference}/" in listed
        assert f"/staff/payments/{applied.reference}/" not in listed
    else:
        # The M-Pesa payment took the fee; the clerk is told nothing is due and no cash is recorded.
        assert outcomes["mpesa"] is True and isinstance(outcomes["cash"], PaymentError), outcomes
        assert str(outcomes["cash"]).startswith("Nothing is due on this membership right now")
        assert list(Payment.objects.values_list("method", flat=True)) == ["mpesa"]
        assert prompt.unapplied_at is None
        assert member.registration_payment_reference == prompt.receipt_number
    assert Payment.objects.filter(status="completed", unapplied_at__isnull=True).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("order", ["prompt_first", "cash_first"])
def test_a_prompt_and_a_cash_record_at_once_never_both_go_through(order, daraja):
    _postgres_only()
    daraja.configure(default_outcome="manual")
    member, clerk = _approved_member()
    prompt = (
        "mpesa",
        lambda: payment_initiate_mpesa(member=member, payment_type="registration", phone=PHONE, actor=member.user),
    )
    cash = ("cash", lambda: payment_record_offline(member=member, method="cash", external_reference="C-8", actor=clerk))

    outcomes = _run_in_order(member, *((prompt, cash) if order == "prompt_first" else (cash, prompt)))

    first, second = ("mpesa", "cash") if order == "prompt_first" else ("cash", "mpesa")
    assert isinstance(outcomes[first], Payment) and isinstance(outcomes[second], PaymentError), outcomes
    assert list(Payment.objects.values_list("method", flat=True)) == [first]
    if order == "prompt_first":  # the prompt is open: the cash is refused
        assert str(outcomes["cash"]).startswith("An M-Pesa payment of KES 5,000")
        assert Member.objects.get(pk=member.pk).registration_paid_at is None
    else:  # the cash paid the fee: nothing is due for a prompt
        assert str(outcomes["mpesa"]).startswith("Nothing is due on this membership right now")
        assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE
