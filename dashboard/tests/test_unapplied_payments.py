"""Payments received but not applied to a membership (issue 13, finding 6), on Finance's pages: the list's
filter and count, the payment page, and recording how each was settled (refund, credit, applied by hand),
for Finance and Admin only, with an audit entry."""

import html
import re

import pytest
from django.utils import timezone

from audit.models import AuditLog
from members.models import Member
from payments.models import Payment
from payments.services import payment_record_offline

pytestmark = pytest.mark.django_db

_counter = iter(range(1, 10**6))


def make_payment(member, *, unapplied=False, resolution="", **fields):
    n = next(_counter)
    values = {
        "payment_type": "registration",
        "method": "mpesa",
        "amount": 5000,
        "phone_number": "254711000123",
        "status": "completed",
        "checkout_request_id": f"ws_CO_UNAP{n:06d}",
        "receipt_number": f"RCT-2026-{n:06d}",
        "mpesa_receipt_number": f"TUN{n:07d}",
        "completed_at": timezone.now(),
    }
    if unapplied:
        values.update(
            unapplied_at=timezone.now(),
            unapplied_reason="The registration fee for this application is already recorded, or it is closed.",
        )
    values.update(fields, resolution=resolution)
    return Payment.objects.create(member=member, **values)


def page_text(response):
    return html.unescape(response.content.decode())


def listed(response):
    return re.findall(r'href="/staff/payments/([\w-]+)/"', response.content.decode())


@pytest.fixture
def ledger(alice, bob):
    return {
        "applied": make_payment(alice),
        "open": make_payment(alice, unapplied=True),
        "refund_due": make_payment(bob, unapplied=True, resolution="refund_due"),
        "refunded": make_payment(bob, unapplied=True, resolution="refunded", resolution_reference="RFD-1"),
    }


def test_the_unapplied_filter_lists_the_payments_finance_must_settle(client, finance_user, ledger):
    client.force_login(finance_user)
    response = client.get("/staff/payments/?applied=unapplied")
    assert response.status_code == 200
    assert sorted(listed(response)) == sorted([ledger["open"].reference, ledger["refund_due"].reference])
    text = page_text(response)
    assert "Not applied" in text

    settled = client.get("/staff/payments/?applied=settled")
    assert listed(settled) == [ledger["refunded"].reference]

    everything = client.get("/staff/payments/")
    assert len(listed(everything)) == 4


def test_the_payments_page_counts_what_awaits_finance(client, finance_user, ledger):
    client.force_login(finance_user)
    text = page_text(client.get("/staff/payments/"))
    notice = re.search(r'<div[^>]*id="unapplied-notice"[^>]*>(.*?)</div>', text, re.S)
    assert notice is not None
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", notice.group(1))).strip()
    assert words.startswith("2 payments were received but not applied to a membership")
    assert 'href="/staff/payments/?applied=unapplied"' in notice.group(1)

    Payment.objects.filter(pk__in=[ledger["open"].pk, ledger["refund_due"].pk]).update(resolution="kept_as_credit")
    assert 'id="unapplied-notice"' not in page_text(client.get("/staff/payments/"))


def test_the_payment_page_says_why_it_was_not_applied_and_offers_the_settlement(client, finance_user, ledger):
    client.force_login(finance_user)
    text = page_text(client.get(f"/staff/payments/{ledger['open'].reference}/"))
    assert "Received but not applied to the membership" in text
    assert "already recorded, or it is closed" in text
    assert f'action="/staff/payments/{ledger["open"].reference}/settle/"' in text

    applied = page_text(client.get(f"/staff/payments/{ledger['applied'].reference}/"))
    assert "not applied" not in applied and "/settle/" not in applied

    refunded = page_text(client.get(f"/staff/payments/{ledger['refunded'].reference}/"))
    assert "Refunded" in refunded and "RFD-1" in refunded and "/settle/" not in refunded


@pytest.mark.parametrize("who", ["staff", "member", "no_role"])
def test_only_finance_and_admin_can_settle(client, login_as, ledger, who):
    login_as(who)
    payment = ledger["open"]
    response = client.post(
        f"/staff/payments/{payment.reference}/settle/", {"resolution": "refunded", "reference": "RFD-9"}
    )
    assert response.status_code == 403
    payment.refresh_from_db()
    assert (payment.resolution, payment.resolution_reference, payment.resolved_at) == ("", "", None)
    assert not AuditLog.objects.filter(data__event="unapplied_payment_settled").exists()


def test_the_permission_is_finance_and_admin_by_role(finance_user, admin_user, staff_user):
    assert finance_user.has_perm("payments.settle_unapplied_payment")
    assert admin_user.has_perm("payments.settle_unapplied_payment")
    assert not staff_user.has_perm("payments.settle_unapplied_payment")


@pytest.mark.parametrize("who", ["finance", "admin"])
def test_finance_records_a_refund_with_its_reference_and_an_audit_entry(client, login_as, ledger, who):
    user = login_as(who)
    payment = ledger["open"]
    url = f"/staff/payments/{payment.reference}/settle/"
    response = client.post(url, {"resolution": "refunded", "reference": " b2c 7781 ", "note": "Sent back by M-Pesa."})
    assert response.status_code == 302 and response["Location"] == f"/staff/payments/{payment.reference}/"

    payment.refresh_from_db()
    assert payment.resolution == Payment.Resolution.REFUNDED
    assert payment.resolution_reference == "B2C 7781"
    assert payment.resolution_note == "Sent back by M-Pesa."
    assert payment.resolved_by == user and payment.resolved_at is not None
    assert payment.status == Payment.Status.COMPLETED  # the money was received: the payment stays completed
    entry = AuditLog.objects.get(data__event="unapplied_payment_settled")
    assert entry.actor == user and entry.target_id == str(payment.pk)
    assert entry.action == AuditLog.Action.PAYMENT_RECORDED
    assert entry.data == {
        "event": "unapplied_payment_settled",
        "from": "",
        "resolution": "refunded",
        "reference": "B2C 7781",
        "note": "Sent back by M-Pesa.",
        "amount": 5000,
        "receipt": payment.receipt_number,
    }
    text = page_text(client.get(response["Location"]))
    assert "Refunded" in text and "B2C 7781" in text

    # Settled is final: a second decision is refused and changes nothing.
    again = client.post(url, {"resolution": "kept_as_credit", "note": "Changed my mind."})
    assert again.status_code == 400
    assert "already settled" in page_text(again)
    payment.refresh_from_db()
    assert payment.resolution == Payment.Resolution.REFUNDED
    assert AuditLog.objects.filter(data__event="unapplied_payment_settled").count() == 1


def test_a_refund_due_can_later_be_recorded_as_refunded(client, finance_user, ledger):
    client.force_login(finance_user)
    payment = ledger["refund_due"]
    response = client.post(
        f"/staff/payments/{payment.reference}/settle/", {"resolution": "refunded", "reference": "X1"}
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert (payment.resolution, payment.resolution_reference) == ("refunded", "X1")
    assert AuditLog.objects.get(data__event="unapplied_payment_settled").data["from"] == "refund_due"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resolution": "refunded"}, "Enter the reference of the refund"),
        ({"resolution": "applied_manually"}, "Say how the payment was applied"),
        ({"resolution": "lost"}, "Choose what was done with the money"),
        ({"resolution": ""}, "Choose what was done with the money"),
    ],
)
def test_an_incomplete_settlement_is_refused_with_the_reason(client, finance_user, ledger, data, message):
    client.force_login(finance_user)
    payment = ledger["open"]
    response = client.post(f"/staff/payments/{payment.reference}/settle/", data)
    assert response.status_code == 400
    assert message in page_text(response)
    payment.refresh_from_db()
    assert payment.resolution == "" and payment.resolved_at is None
    assert not AuditLog.objects.filter(data__event="unapplied_payment_settled").exists()


def test_an_applied_payment_cannot_be_settled(client, finance_user, ledger):
    client.force_login(finance_user)
    payment = ledger["applied"]
    response = client.post(
        f"/staff/payments/{payment.reference}/settle/", {"resolution": "kept_as_credit", "note": "?"}
    )
    assert response.status_code == 400
    assert "was applied to the membership" in page_text(response)
    payment.refresh_from_db()
    assert payment.resolution == ""


def test_cash_on_the_member_page_is_refused_while_a_prompt_is_pending(client, finance_user, approved_alice):
    prompt = make_payment(approved_alice, status="pending", receipt_number=None, mpesa_receipt_number=None)
    client.force_login(finance_user)
    response = client.post(
        f"/staff/members/{approved_alice.pk}/record-payment/", {"method": "cash", "reference": "C-1", "amount": "5000"}
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "An M-Pesa payment of KES 5,000 for the registration fee, started" in text
    assert "Nothing was recorded" in text
    assert list(Payment.objects.values_list("pk", flat=True)) == [prompt.pk]
    assert Member.objects.get(pk=approved_alice.pk).registration_paid_at is None
    # Once the prompt is over (here: it failed), the same form records the cash.
    Payment.objects.filter(pk=prompt.pk).update(status="failed")
    payment_record_offline(member=approved_alice, method="cash", external_reference="C-1", actor=finance_user)
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.ACTIVE
