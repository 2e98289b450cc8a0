"""Cash, cheque and bank payments recorded by Finance go through the payment pipeline: a Payment row,
then `payment_complete`, so they get the M-Pesa completion effects (receipt number, membership
activated or renewed, the member told, the audit trail), exactly once."""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AuditLog
from config.celery import app as celery_app
from core.models import YearlyCounter
from members.dues import payment_due
from members.models import Member
from members.services import document_verify, member_approve, period_end_for
from notifications.models import Message, Notification
from payments.models import Payment
from payments.services import DuplicatePaymentError, PaymentError, payment_record_offline
from tests.concurrency import run_together
from tests.factories import MemberFactory, UserFactory, load_reference_data

DAY = datetime.timedelta(days=1)


@pytest.fixture
def eager_tasks():
    """Completion notifications run in this process (a broker may be configured in the environment)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def today():
    return timezone.localdate()


def make_active(member, *, end, status=Member.Status.ACTIVE):
    """A member who joined a while ago and whose current period ends on `end`."""
    Member.objects.filter(pk=member.pk).update(
        status=status,
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


def record(member, actor, reference="CASH-0001", method="cash", **kwargs):
    return payment_record_offline(member=member, method=method, external_reference=reference, actor=actor, **kwargs)


def nothing_written():
    assert not Payment.objects.exists()
    assert not YearlyCounter.objects.filter(prefix="RCT").exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_RECORDED).exists()


# --- What a recorded payment does ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cash_registration_fee_activates_an_approved_member_with_a_receipt_and_notices(
    approved_alice, finance_user, django_capture_on_commit_callbacks, eager_tasks
):
    year = today().year
    with django_capture_on_commit_callbacks(execute=True):
        payment = record(approved_alice, finance_user, reference="  cash  0042 ", amount=5000)

    payment = Payment.objects.get(pk=payment.pk)
    assert payment.status == Payment.Status.COMPLETED
    assert (payment.method, payment.payment_type, payment.amount) == ("cash", "registration", 5000)
    assert payment.external_reference == "CASH 0042"  # spaces collapsed, upper case
    assert payment.initiated_by == finance_user
    assert payment.result_source == Payment.Source.OFFLINE
    assert payment.receipt_number == f"RCT-{year}-000001"
    assert payment.mpesa_receipt_number is None and payment.checkout_request_id is None
    assert timezone.localdate(payment.completed_at) == today()

    member = Member.objects.get(pk=approved_alice.pk)
    assert member.status == Member.Status.ACTIVE
    assert member.period_start == today()
    assert member.period_end == period_end_for(today(), 12)
    assert member.registration_payment_reference == payment.receipt_number

    recorded = AuditLog.objects.get(action=AuditLog.Action.PAYMENT_RECORDED, target_type="payments.payment")
    assert recorded.actor == finance_user
    assert recorded.target_id == str(payment.pk)
    assert recorded.data == {
        "method": "cash",
        "reference": "CASH 0042",
        "amount": 5000,
        "type": "registration",
        "received_on": today().isoformat(),
        "receipt": payment.receipt_number,
    }
    completed = AuditLog.objects.get(action=AuditLog.Action.PAYMENT_COMPLETED)
    assert completed.data["source"] == Payment.Source.OFFLINE and completed.data["method"] == "cash"
    assert AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active").count() == 1

    # The member is told, once, with the receipt number: email and SMS as for M-Pesa, and in the app.
    messages = {m.channel: m for m in Message.objects.filter(user=member.user, event="payment_received")}
    assert set(messages) == {"email", "sms"}
    assert payment.receipt_number in messages["sms"].body
    assert f"/payments/{payment.reference}/receipt/" in messages["email"].body
    assert Notification.objects.filter(user=member.user, event="payment_received").count() == 1
    assert Notification.objects.filter(user=member.user, event="activated").count() == 1


@pytest.mark.django_db
def test_a_fee_recorded_before_approval_waits_for_the_approval(alice, finance_user, staff_user):
    payment = record(alice, finance_user, method="cheque", reference="000123")
    member = Member.objects.get(pk=alice.pk)
    assert payment.status == Payment.Status.COMPLETED and payment.method == "cheque"
    assert member.status == Member.Status.PENDING
    assert member.registration_paid_at is not None
    assert payment_due(member) is None

    for document in member.documents.all():
        document_verify(document=document, actor=staff_user)
    assert member_approve(member=member, actor=staff_user).status == Member.Status.ACTIVE


@pytest.mark.django_db
def test_a_bank_renewal_extends_an_active_membership_by_one_period(alice, finance_user):
    end = today() + 10 * DAY
    member = make_active(alice, end=end)
    payment = record(member, finance_user, method="bank", reference="FT26330XK9")
    assert (payment.payment_type, payment.amount, payment.status) == ("renewal", 3000, "completed")
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert member.period_end == period_end_for(end + DAY, 12)
    assert AuditLog.objects.filter(action=AuditLog.Action.MEMBERSHIP_RENEWED).count() == 1
    assert payment_due(member) is None


@pytest.mark.django_db
def test_a_late_renewal_charges_the_late_fee_and_starts_a_new_period_today(alice, finance_user):
    member = make_active(alice, end=today() - 60 * DAY, status=Member.Status.EXPIRED)
    with pytest.raises(
        PaymentError, match=r"The amount due is KES 4,000 \(Full / Professional renewal with late fee\)"
    ):
        record(member, finance_user, amount=3000)
    payment = record(member, finance_user, amount=4000)
    assert (payment.payment_type, payment.amount) == ("late_payment", 4000)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert (member.period_start, member.period_end) == (today(), period_end_for(today(), 12))


@pytest.mark.django_db
def test_money_received_within_grace_but_recorded_later_owes_no_late_fee(alice, finance_user):
    end = today() - 40 * DAY  # grace (30 days) is over today...
    member = make_active(alice, end=end, status=Member.Status.EXPIRED)
    received = end + 10 * DAY  # ...but the cash came in during it
    payment = record(member, finance_user, received_on=received)
    assert (payment.payment_type, payment.amount) == ("renewal", 3000)
    assert timezone.localdate(payment.completed_at) == received
    assert payment.receipt_number.startswith(f"RCT-{received.year}-")
    member.refresh_from_db()
    assert (member.period_start, member.period_end) == (received, period_end_for(received, 12))


# --- Exactly once ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_reference_cannot_be_recorded_twice_however_it_is_typed(approved_alice, bob, finance_user):
    first = record(approved_alice, finance_user, reference="eq-88121", method="bank")
    with pytest.raises(DuplicatePaymentError) as error:
        record(bob, finance_user, reference=" EQ-88121 ", method="bank")
    assert str(error.value) == (
        f"Bank transfer reference EQ-88121 is already recorded: receipt {first.receipt_number}, "
        f"KES 5,000 for {approved_alice.full_name}."
    )
    assert Payment.objects.count() == 1
    assert Member.objects.get(pk=bob.pk).registration_paid_at is None
    # The same number under another method is another document (cash receipt 88121 is not cheque 88121).
    assert record(bob, finance_user, reference="EQ-88121", method="cheque").status == Payment.Status.COMPLETED


@pytest.mark.django_db
def test_a_second_payment_for_a_fee_already_paid_is_refused_with_what_happened(approved_alice, finance_user):
    first = record(approved_alice, finance_user, reference="CASH-1")
    with pytest.raises(PaymentError, match="already recorded"):
        record(approved_alice, finance_user, reference="CASH-1")
    with pytest.raises(PaymentError) as error:
        record(approved_alice, finance_user, reference="CASH-2")
    assert "Nothing is due on this membership right now" in str(error.value)
    assert Payment.objects.get() == first
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_offline_reference_but_not_blank_mpesa_rows(reference_data):
    member = MemberFactory()

    def payment(method, external_reference=""):
        return Payment.objects.create(
            member=member,
            payment_type="registration",
            method=method,
            amount=5000,
            external_reference=external_reference,
        )

    payment("cash", "R-1")
    payment("cheque", "R-1")
    payment("mpesa")
    payment("mpesa")
    with pytest.raises(IntegrityError), transaction.atomic():
        payment("cash", "R-1")
    assert Payment.objects.count() == 4


# --- Refusals ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "mpesa"}, "Choose how the money was paid: cash, cheque or bank transfer."),
        ({"method": "card"}, "Choose how the money was paid: cash, cheque or bank transfer."),
        ({"reference": "   "}, "Enter the payment reference (receipt, cheque or bank transaction number)."),
        ({"reference": "X" * 65}, "The payment reference is at most 64 characters."),
        ({"amount": 500}, "The amount due is KES 5,000 (Full / Professional registration fee), not KES 500."),
        ({"received_on": "tomorrow"}, "The date received cannot be in the future."),
        ({"received_on": "before"}, "The date received is before this application was made"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_written(
    approved_alice, finance_user, kwargs, message
):
    if kwargs.get("received_on") == "tomorrow":
        kwargs["received_on"] = today() + DAY
    elif kwargs.get("received_on") == "before":
        kwargs["received_on"] = timezone.localdate(approved_alice.applied_at) - DAY
    with pytest.raises(PaymentError) as error:
        record(approved_alice, finance_user, **kwargs)
    assert str(error.value).startswith(message)
    nothing_written()
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "words"),
    [(Member.Status.REJECTED, "(the membership is rejected)"), (Member.Status.SUSPENDED, "is suspended")],
)
def test_nothing_can_be_recorded_for_a_closed_membership(alice, finance_user, status, words):
    Member.objects.filter(pk=alice.pk).update(status=status)
    with pytest.raises(PaymentError) as error:
        record(alice, finance_user)
    assert str(error.value).startswith("Nothing is due on this membership right now")
    assert words in str(error.value)
    nothing_written()


@pytest.mark.django_db
def test_nothing_is_due_before_the_renewal_window(alice, finance_user, settings):
    settings.RENEWAL_WINDOW_DAYS = 60
    end = today() + 200 * DAY
    member = make_active(alice, end=end)
    with pytest.raises(PaymentError) as error:
        record(member, finance_user)
    opens = end - 60 * DAY
    assert str(error.value) == (
        f"Nothing is due on this membership right now: the membership runs to {end:%d %b %Y}; "
        f"renewal opens {opens:%d %b %Y}."
    )
    nothing_written()


# --- Concurrency (PostgreSQL) ------------------------------------------------------------------------------


def _approved_member(reviewer):
    member = MemberFactory()
    for document in member.documents.all():
        document_verify(document=document, actor=reviewer)
    return member_approve(member=member, actor=reviewer)


@pytest.fixture
def postgres_world():
    if connection.vendor != "postgresql":
        pytest.skip(
            "Concurrency needs PostgreSQL row locks: set DATABASE_URL=postgres://... (SQLite serialises writers)."
        )
    load_reference_data()
    reviewer = UserFactory(is_staff=True, is_superuser=True)
    clerks = [UserFactory(is_staff=True, is_superuser=True) for _ in range(4)]
    return reviewer, clerks


def _record_in_thread(member_pk, clerk, reference, method="cash", results=None):
    def run():
        payment = payment_record_offline(
            member=Member.objects.get(pk=member_pk), method=method, external_reference=reference, actor=clerk
        )
        results.append(payment.pk)

    return run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_recordings_of_the_same_payment_complete_it_once(postgres_world):
    """A double-click, and two Finance clerks typing the same cash receipt: four requests at one instant."""
    reviewer, clerks = postgres_world
    for trial in range(3):
        member = _approved_member(reviewer)
        results = []
        errors = run_together(
            [_record_in_thread(member.pk, clerk, f"CASH-{trial}", results=results) for clerk in clerks]
        )

        assert len(results) == 1, errors
        assert len(errors) == 3 and all(isinstance(e, DuplicatePaymentError) for e in errors), errors
        assert all(f"Cash reference CASH-{trial} is already recorded" in str(e) for e in errors)
        payment = Payment.objects.get(member=member)
        assert payment.pk == results[0] and payment.status == Payment.Status.COMPLETED
        assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE

    assert Payment.objects.count() == 3
    assert len(set(Payment.objects.values_list("receipt_number", flat=True))) == 3
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_RECORDED, target_type="payments.payment").count() == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, data__to="active").count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_references_for_the_same_fee_complete_one_and_refuse_the_other(postgres_world):
    """The member paid once; two clerks record it from two slips at the same moment."""
    reviewer, clerks = postgres_world
    for trial in range(3):
        member = _approved_member(reviewer)
        results = []
        errors = run_together(
            [
                _record_in_thread(member.pk, clerks[0], f"CASH-A{trial}", results=results),
                _record_in_thread(member.pk, clerks[1], f"BANK-B{trial}", method="bank", results=results),
            ]
        )
        assert len(results) == 1 and len(errors) == 1, errors
        assert isinstance(errors[0], PaymentError)
        assert str(errors[0]).startswith("Nothing is due on this membership right now: the membership runs to")
        assert Payment.objects.filter(member=member).count() == 1

    assert YearlyCounter.objects.get(prefix="RCT").last_value == 3
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_reference_typed_against_two_members_at_once_is_recorded_once(postgres_world):
    """No row lock is shared between two members: the unique index decides, and the loser is told."""
    reviewer, clerks = postgres_world
    members = [_approved_member(reviewer), _approved_member(reviewer)]
    results = []
    errors = run_together(
        [
            _record_in_thread(m.pk, clerk, "CHQ-555", method="cheque", results=results)
            for m, clerk in zip(members, clerks, strict=False)
        ]
    )
    assert len(results) == 1 and len(errors) == 1, errors
    assert isinstance(errors[0], DuplicatePaymentError)
    assert Payment.objects.get().pk == results[0]
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 1
    statuses = sorted(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("status", flat=True))
    assert statuses == ["active", "approved"]
