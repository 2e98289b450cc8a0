"""The payment state machine: every (from, to) pair of statuses, allowed or refused, through the one
compare-and-set function."""

import itertools
import re
from pathlib import Path

import pytest

from audit.models import AuditLog
from mpesa import result_codes
from payments.models import Payment
from payments.services import _fail, payment_complete, payment_timeout
from payments.transitions import (
    AUDIT_ACTIONS,
    PAYMENT_TRANSITIONS,
    Confirmation,
    MpesaReceiptAlreadyUsed,
    payment_transition,
)

pytestmark = pytest.mark.django_db

Status = Payment.Status
Source = Payment.Source
GUARDED = {(Status.FAILED, Status.COMPLETED), (Status.CANCELLED, Status.COMPLETED)}


def make_payment(member, status, result_source="", **fields):
    return Payment.objects.create(
        member=member,
        payment_type=Payment.Type.REGISTRATION,
        amount=1000,
        phone_number="254708374149",
        status=status,
        result_source=result_source,
        **fields,
    )


def confirmed(to):
    """The audit data a completion must carry (how it was confirmed); none for the other statuses."""
    return {"confirmed_by": Confirmation.QUERY} if to == Status.COMPLETED else {}


def row(payment):
    return Payment.objects.filter(pk=payment.pk).values().get()


def cases():
    """Every (from, to, result_source the row has, expected) over all statuses: the table's pairs, the
    late-confirmation guard both ways, and every pair the table leaves out."""
    for source, to in itertools.product(Status.values, Status.values):
        if (source, to) in GUARDED:
            yield source, to, Source.QUERY, True
            yield source, to, Source.CALLBACK, False
            yield source, to, Source.PUSH, False
        else:
            yield source, to, Source.CALLBACK, PAYMENT_TRANSITIONS.allows(source, to)


@pytest.mark.parametrize(("source", "to", "result_source", "allowed"), list(cases()))
def test_every_status_change_is_allowed_or_refused_as_the_table_says(alice, source, to, result_source, allowed):
    payment = make_payment(alice, source, result_source)
    before = row(payment)

    audit_data = {"why": "test", **confirmed(to)}
    changed = payment_transition(
        payment=payment, to=to, source=Source.RECONCILIATION, audit_data=audit_data, result_code="x"
    )

    after = Payment.objects.get(pk=payment.pk)
    entries = AuditLog.objects.filter(target_type="payments.payment", target_id=str(payment.pk))
    if allowed:
        assert changed is True
        assert after.status == to and after.result_source == Source.RECONCILIATION and after.result_code == "x"
        assert [(e.action, e.data) for e in entries] == [(AUDIT_ACTIONS[to], audit_data)]
    else:
        assert changed is False
        assert row(payment) == before
        assert not entries.exists()


@pytest.mark.parametrize(("source", "to"), [(s, t) for s, t, _, allowed in cases() if allowed])
def test_an_allowed_change_happens_once(alice, source, to):
    payment = make_payment(alice, source, Source.QUERY)
    assert payment_transition(payment=payment, to=to, source=Source.CALLBACK, audit_data=confirmed(to)) is True
    assert payment_transition(payment=payment, to=to, source=Source.CALLBACK, audit_data=confirmed(to)) is False
    assert AuditLog.objects.filter(target_id=str(payment.pk), action=AUDIT_ACTIONS[to]).count() == 1


def test_nothing_leaves_completed_and_nothing_leads_back_to_pending():
    assert not [to for to in Status.values if PAYMENT_TRANSITIONS.allows(Status.COMPLETED, to)]
    assert PAYMENT_TRANSITIONS.allowed_from(Status.PENDING) == frozenset()
    assert PAYMENT_TRANSITIONS.statuses == frozenset(Status.values)


def test_effects_run_after_the_change_and_add_to_the_audit_entry(alice):
    payment = make_payment(alice, Status.PENDING)
    seen = []

    def effects():
        seen.append(Payment.objects.get(pk=payment.pk).status)
        return {"receipt": "RCT-1"}

    audit_data = {"a": 1, "confirmed_by": "staff"}
    assert payment_transition(
        payment=payment, to=Status.COMPLETED, source=Source.OFFLINE, audit_data=audit_data, effects=effects
    )
    assert seen == [Status.COMPLETED]
    assert AuditLog.objects.get(action=AuditLog.Action.PAYMENT_COMPLETED).data == {**audit_data, "receipt": "RCT-1"}


def test_effects_do_not_run_when_the_change_is_refused(alice):
    payment = make_payment(alice, Status.COMPLETED)
    assert not payment_transition(payment=payment, to=Status.FAILED, source=Source.CALLBACK, effects=pytest.fail)


def test_an_mpesa_receipt_already_on_another_payment_refuses_the_change(alice, bob):
    make_payment(bob, Status.COMPLETED, Source.CALLBACK, mpesa_receipt_number="TST0000001")
    payment = make_payment(alice, Status.PENDING)
    with pytest.raises(MpesaReceiptAlreadyUsed, match="TST0000001"):
        payment_transition(
            payment=payment,
            to=Status.COMPLETED,
            source=Source.CALLBACK,
            audit_data=confirmed(Status.COMPLETED),
            mpesa_receipt_number="TST0000001",
        )
    assert Payment.objects.get(pk=payment.pk).status == Status.PENDING
    assert not AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).exists()


def test_a_cancelled_prompt_is_cancelled_and_any_other_failure_failed(alice):
    cancelled, failed = make_payment(alice, Status.PENDING), make_payment(alice, Status.PENDING)
    assert _fail(
        cancelled, code=result_codes.CANCELLED_BY_USER, description="Request cancelled by user", source=Source.CALLBACK
    )
    assert _fail(
        failed, code=result_codes.INSUFFICIENT_BALANCE, description="Insufficient balance", source=Source.CALLBACK
    )
    assert Payment.objects.get(pk=cancelled.pk).status == Status.CANCELLED
    assert Payment.objects.get(pk=failed.pk).status == Status.FAILED


def test_a_timeout_is_decided_by_reconciliation(alice):
    payment = make_payment(alice, Status.PENDING)
    assert payment_timeout(payment)
    assert not payment_timeout(payment)
    payment.refresh_from_db()
    assert (payment.status, payment.result_source) == (Status.TIMEOUT, Source.RECONCILIATION)
    assert AuditLog.objects.get(action=AuditLog.Action.PAYMENT_FAILED).data == {"code": "timeout"}


def test_a_late_confirmation_completes_a_payment_a_query_failed_but_not_one_a_callback_failed(alice):
    by_query = make_payment(alice, Status.FAILED, Source.QUERY)
    by_callback = make_payment(alice, Status.CANCELLED, Source.CALLBACK)
    late = {"source": Source.CALLBACK, "confirmed_by": Confirmation.CALLBACK_AND_QUERY}
    assert payment_complete(payment=by_query, mpesa_receipt_number="TST0000002", **late)
    assert not payment_complete(payment=by_callback, mpesa_receipt_number="TST0000003", **late)
    assert Payment.objects.get(pk=by_query.pk).status == Status.COMPLETED
    assert Payment.objects.get(pk=by_callback.pk).status == Status.CANCELLED


# transitions.py writes Payment.status; c2b.py writes the status of its own rows (C2BConfirmation), only ever
# reading payments (the TransID check), so neither is an offender.
EXEMPT_FROM_STATUS_WRITES = ("transitions.py", "c2b.py")


def test_no_payment_status_is_written_outside_the_transitions_module():
    """Every status change goes through payment_transition: no other payments code updates `status`."""
    package = Path(__file__).resolve().parents[1]
    writes = re.compile(r"\.update\([^)]*\bstatus=|\.status\s*=[^=]")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts and path.name not in EXEMPT_FROM_STATUS_WRITES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if writes.search(line)
    ]
    assert offenders == []


@pytest.mark.security_check(24)
@pytest.mark.parametrize("audit_data", [None, {}, {"confirmed_by": ""}, {"confirmed_by": "callback"}])
def test_a_completion_that_does_not_say_how_it_was_confirmed_changes_nothing(alice, audit_data):
    payment = make_payment(alice, Status.PENDING)
    before = row(payment)
    with pytest.raises(ValueError, match="confirmed_by"):
        payment_transition(payment=payment, to=Status.COMPLETED, source=Source.CALLBACK, audit_data=audit_data)
    assert row(payment) == before
    assert not AuditLog.objects.exists()
