"""A database outage during a payment loses nothing (issue 13 finding 3, QUALITY check 23).

A callback the database cannot store is kept in the spool on local disk before it is answered "Accepted"
(a 503 when even that fails), replayed once the database is back, and credited with its M-Pesa receipt;
reconciliation never times out a payment whose callback waits; an STK push answer the database could not
save is recovered; a payment completed by a status query takes the receipt of a stored callback.
The whole outage, with a real server and a real PostgreSQL stopped and restarted, is test_db_outage.py.
"""

import datetime
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.db.models.query import QuerySet
from django.utils import timezone

from audit.models import AuditLog
from core.models import YearlyCounter
from daraja_simulator import outcomes
from payments.models import MpesaCallback, Payment
from payments.services import (
    callback_receive,
    payment_initiate_mpesa,
    reconcile_stale_payments,
)

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(23)]

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def pay(member):
    return payment_initiate_mpesa(
        member=member, payment_type="registration", phone=outcomes.PHONE_MANUAL, actor=member.user
    )


def paid_at_daraja(daraja, payment):
    """The customer paid: Daraja's record says so; returns (callback body, M-Pesa receipt). Not delivered."""
    txn = daraja.resolve(payment.checkout_request_id, 0, deliver=False)
    return json.dumps(txn["callback_body"]).encode(), txn["receipt_number"]


def post_callback(client, payment, body):
    return client.post(f"/api/mpesa/callback/{payment.callback_token}/", body, content_type="application/json")


def database_refuses_callbacks(monkeypatch):
    def unavailable(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(MpesaCallback.objects, "create", unavailable)


def after_timeout(settings):
    return timezone.now() + datetime.timedelta(seconds=settings.MPESA_PAYMENT_TIMEOUT_SECONDS + 60)


class spool:  # noqa: N801 - reads as what it is; plain files, so this module runs on code without a spool
    def __init__(self, settings):
        self.directory = Path(settings.MPESA_CALLBACK_SPOOL_DIR)

    def entries(self):
        return sorted(self.directory.glob("[!.]*.json"))


def test_a_callback_the_database_cannot_store_is_spooled_then_credited_with_its_receipt(
    daraja, client, approved_alice, monkeypatch, settings
):
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    with monkeypatch.context() as outage:
        database_refuses_callbacks(outage)
        response = post_callback(client, payment, body)
    assert response.status_code == 200
    assert response.json() == ACCEPTED
    assert MpesaCallback.objects.count() == 0
    assert len(spool(settings).entries()) == 1, "answered Accepted without keeping the callback"

    summary = reconcile_stale_payments(now=after_timeout(settings))

    payment.refresh_from_db()
    assert summary.timed_out == 0
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt
    assert payment.result_source == Payment.Source.CALLBACK
    stored = MpesaCallback.objects.get()
    assert stored.outcome == MpesaCallback.Outcome.APPLIED
    assert stored.spool_id and stored.payment_id == payment.pk
    assert spool(settings).entries() == []
    recovered = AuditLog.objects.filter(data__event="callback_recovered_from_spool")
    assert list(recovered.values_list("data__spool_id", flat=True)) == [stored.spool_id]

    call_command("replay_callback_spool")  # nothing left: nothing changes
    assert MpesaCallback.objects.count() == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1


def test_a_callback_kept_nowhere_is_not_answered_accepted(
    daraja, client, approved_alice, monkeypatch, settings, tmp_path
):
    payment = pay(approved_alice)
    body, _ = paid_at_daraja(daraja, payment)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.MPESA_CALLBACK_SPOOL_DIR = blocked / "spool"  # cannot be created: the disk refuses too
    database_refuses_callbacks(monkeypatch)

    response = post_callback(client, payment, body)

    assert response.status_code == 503
    assert response.json()["ResultCode"] != 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_a_spooled_file_replayed_twice_stores_and_credits_once(
    daraja, client, approved_alice, monkeypatch, settings, tmp_path
):
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    with monkeypatch.context() as outage:
        database_refuses_callbacks(outage)
        post_callback(client, payment, body)
        post_callback(client, payment, body)  # Daraja's duplicate, also during the outage
    files = spool(settings).entries()
    assert len(files) == 2
    copies = [shutil.copy(path, tmp_path / path.name) for path in files]

    call_command("replay_callback_spool")
    for copy in copies:  # a replay that stored the rows but died before removing the files
        shutil.copy(copy, settings.MPESA_CALLBACK_SPOOL_DIR)
    call_command("replay_callback_spool")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt
    assert sorted(MpesaCallback.objects.values_list("outcome", flat=True)) == ["applied", "duplicate"]
    assert YearlyCounter.objects.get(prefix="RCT").last_value == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENT_COMPLETED).count() == 1
    assert spool(settings).entries() == []


def test_reconciliation_does_not_time_out_a_payment_whose_callback_waits_in_the_spool(
    daraja, client, approved_alice, monkeypatch, settings
):
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    daraja.configure(fail_next=10, fail_with="503", fail_only="stkquery")  # and Daraja's query is down
    database_refuses_callbacks(monkeypatch)  # the callbacks table is still unavailable
    post_callback(client, payment, body)

    summary = reconcile_stale_payments(now=after_timeout(settings))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING, "timed out while its success callback waits"
    assert summary.timed_out == 0 and summary.still_pending == 1
    assert len(spool(settings).entries()) == 1

    monkeypatch.undo()
    daraja.configure(fail_next=0)  # Daraja answers again, so it can confirm the callback (check 24)
    reconcile_stale_payments(now=after_timeout(settings) + datetime.timedelta(seconds=120))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt


def test_reconciliation_applies_a_stored_callback_left_unprocessed_instead_of_timing_out(
    daraja, approved_alice, settings
):
    """The callback was stored, then the database went before it was processed (the request died)."""
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None)
    daraja.configure(fail_next=10, fail_with="503", fail_only="stkquery")

    summary = reconcile_stale_payments(now=after_timeout(settings))

    # Processed, but Daraja cannot confirm it yet: it waits, and the payment is not timed out.
    payment.refresh_from_db()
    assert summary.timed_out == 0
    assert payment.status == Payment.Status.PENDING
    assert MpesaCallback.objects.get().outcome == MpesaCallback.Outcome.CONFIRMING

    daraja.configure(fail_next=0)
    reconcile_stale_payments(now=after_timeout(settings) + datetime.timedelta(seconds=120))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt
    assert MpesaCallback.objects.get().outcome == MpesaCallback.Outcome.APPLIED


def test_a_callback_interrupted_by_the_database_is_left_to_retry(daraja, client, approved_alice, monkeypatch, settings):
    from payments import services

    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as outage:
        # The database goes away while the stored callback is being applied.
        outage.setattr(services, "_apply_callback", database_gone)
        response = post_callback(client, payment, body)
    assert response.status_code == 200
    assert MpesaCallback.objects.get().outcome == MpesaCallback.Outcome.RECEIVED

    reconcile_stale_payments(now=timezone.now() + datetime.timedelta(seconds=120))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number == receipt


def test_a_push_answer_the_database_cannot_save_is_recovered(
    daraja, client, approved_alice, finance_user, monkeypatch, settings
):
    original_update = QuerySet.update

    def update(queryset, **fields):
        if queryset.model is Payment and "sent_at" in fields:
            raise OperationalError("terminating connection due to administrator command")
        return original_update(queryset, **fields)

    with monkeypatch.context() as outage:
        outage.setattr(QuerySet, "update", update)
        payment = pay(approved_alice)

    assert payment.status == Payment.Status.PENDING
    checkout_request_id = payment.checkout_request_id
    payment.refresh_from_db()
    assert payment.checkout_request_id is None  # not saved...
    assert spool(settings).entries(), "...and not kept anywhere"

    # The customer paid but the callback never came: reconciliation recovers the answer, asks Daraja and
    # completes the payment.
    payment.checkout_request_id = checkout_request_id
    body, receipt = paid_at_daraja(daraja, payment)
    summary = reconcile_stale_payments(now=after_timeout(settings))

    payment.refresh_from_db()
    assert summary.timed_out == 0
    assert payment.checkout_request_id == checkout_request_id
    assert payment.status == Payment.Status.COMPLETED
    assert payment.result_source == Payment.Source.QUERY
    assert payment.mpesa_receipt_number is None  # shown as pending until the callback brings it
    assert AuditLog.objects.filter(data__event="push_answer_recovered_from_spool").count() == 1
    client.force_login(finance_user)
    assert "Receipt pending" in client.get(f"/staff/payments/{payment.reference}/").content.decode()

    post_callback(client, payment, body)  # Daraja's late callback fills it in
    payment.refresh_from_db()
    assert payment.mpesa_receipt_number == receipt
    assert "Receipt pending" not in client.get(f"/staff/payments/{payment.reference}/").content.decode()


def test_a_query_completion_takes_the_receipt_of_a_stored_success_callback(daraja, approved_alice, settings):
    """The stored callback could not complete the payment (an error while processing); the query does, and
    the M-Pesa receipt comes from that callback instead of being lost."""
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None)
    MpesaCallback.objects.filter(pk=callback.pk).update(outcome=MpesaCallback.Outcome.ERROR)

    summary = reconcile_stale_payments(now=timezone.now() + datetime.timedelta(seconds=120))

    payment.refresh_from_db()
    assert summary.completed == 1
    assert payment.status == Payment.Status.COMPLETED
    assert payment.result_source == Payment.Source.QUERY
    assert payment.mpesa_receipt_number == receipt


def test_a_rejected_callback_lends_no_receipt_to_a_query_completion(daraja, approved_alice, settings):
    payment = pay(approved_alice)
    body, receipt = paid_at_daraja(daraja, payment)
    callback = callback_receive(token=payment.callback_token, body=body, headers={}, source_ip=None)
    MpesaCallback.objects.filter(pk=callback.pk).update(outcome=MpesaCallback.Outcome.REJECTED)

    reconcile_stale_payments(now=timezone.now() + datetime.timedelta(seconds=120))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.mpesa_receipt_number is None


def test_an_unusable_spool_file_is_quarantined_and_reported(client, settings, db):
    directory = Path(settings.MPESA_CALLBACK_SPOOL_DIR)
    directory.mkdir(parents=True)
    (directory / "00000000000000000001-other.json").write_text('{"kind": "something else"}')
    (directory / "00000000000000000002-truncated.json").write_text('{"kind": "stk_call')

    call_command("replay_callback_spool")

    assert spool(settings).entries() == []
    quarantined = [path.name for path in (directory / "quarantine").iterdir()]
    assert sorted(quarantined) == ["00000000000000000001-other.json", "00000000000000000002-truncated.json"]
    assert MpesaCallback.objects.count() == 0
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["callback_spool"] == {"depth": 0, "oldest_seconds": None, "quarantined": 2}
