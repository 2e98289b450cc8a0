import logging
from types import SimpleNamespace

import pytest
from django.core import mail

from notifications.models import Message
from notifications.services import member_channels, notify_member

pytestmark = pytest.mark.django_db

RECEIPT_URL = "https://members.example.org/payments/receipt/abc123/"


def payment_context(**overrides):
    return {
        "amount": 1000,
        "mpesa_receipt_number": "TJK4ABC12X",
        "receipt_number": "RCT-2026-000123",
        "receipt_url": RECEIPT_URL,
        **overrides,
    }


def test_it_emails_and_texts_the_member_from_the_event_templates(alice, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        messages = notify_member(alice, event="payment_received", context=payment_context())

    assert sorted(message.channel for message in messages) == ["email", "sms"]
    [email] = mail.outbox
    assert email.to == ["alice@example.com"]
    assert email.subject == "Payment received: KES 1,000"
    assert "Dear Alice," in email.body
    assert "RCT-2026-000123" in email.body
    assert "TJK4ABC12X" in email.body
    assert RECEIPT_URL in email.body
    [sms] = sms_outbox
    assert sms.to == alice.phone_number
    assert sms.message == (
        f"Kalda-Tech Society: KES 1,000 received, M-Pesa TJK4ABC12X. Receipt RCT-2026-000123: {RECEIPT_URL}"
    )
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert set(Message.objects.values_list("user", flat=True)) == {alice.user.pk}


def test_it_sends_once_per_dedupe_key_base(alice, django_capture_on_commit_callbacks, sms_outbox):
    with django_capture_on_commit_callbacks(execute=True):
        first = notify_member(alice, event="payment_received", context=payment_context(), dedupe_key_base="pr:9")
        again = notify_member(alice, event="payment_received", context=payment_context(), dedupe_key_base="pr:9")
    assert {m.pk for m in again} == {m.pk for m in first}
    assert sorted(Message.objects.values_list("dedupe_key", flat=True)) == ["pr:9:email", "pr:9:sms"]
    assert len(mail.outbox) == 1
    assert len(sms_outbox) == 1


def test_it_takes_payment_details_from_a_payment_object(alice, django_capture_on_commit_callbacks, sms_outbox):
    payment = SimpleNamespace(
        amount=2500,
        receipt_number="RCT-2026-000124",
        mpesa_receipt_number=None,  # paid in cash
        get_payment_type_display=lambda: "Renewal fee",
    )
    with django_capture_on_commit_callbacks(execute=True):
        notify_member(alice, event="payment_received", context={"payment": payment, "receipt_url": RECEIPT_URL})
    [email] = mail.outbox
    assert email.subject == "Payment received: KES 2,500"
    assert "KES 2,500 (renewal fee)" in email.body
    assert "M-Pesa" not in email.body
    assert "M-Pesa" not in sms_outbox[0].message


def test_it_takes_the_rejection_reason_from_a_document(alice, django_capture_on_commit_callbacks):
    document = alice.documents.first()
    document.rejection_reason = "The copy is too blurred to read."
    with django_capture_on_commit_callbacks(execute=True):
        notify_member(alice, event="document_rejected", context={"document": document})
    [email] = mail.outbox
    assert email.subject == f"Please upload your {document.get_doc_type_display()} again"
    assert "Reason: The copy is too blurred to read." in email.body


def test_it_never_raises_when_the_context_is_incomplete(alice, django_capture_on_commit_callbacks, caplog):
    with caplog.at_level(logging.ERROR, logger="notifications"), django_capture_on_commit_callbacks(execute=True):
        assert notify_member(alice, event="payment_received", context={"amount": 1000}) == []
    assert "needs receipt_number, receipt_url" in caplog.text
    assert not Message.objects.exists()


def test_it_never_raises_for_an_event_without_templates(alice, django_capture_on_commit_callbacks, caplog):
    with caplog.at_level(logging.ERROR, logger="notifications"), django_capture_on_commit_callbacks(execute=True):
        assert notify_member(alice, event="no_such_event", context={}) == []
    assert "Could not queue the no_such_event" in caplog.text
    assert not Message.objects.exists()


def test_it_never_raises_when_delivery_fails(alice, django_capture_on_commit_callbacks, settings):
    settings.EMAIL_BACKEND = "notifications.tests.fakes.RaisingEmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        messages = notify_member(alice, event="application_received")
    assert len(messages) == 2
    statuses = dict(Message.objects.values_list("channel", "status"))
    assert statuses == {"email": "queued", "sms": "sent"}


def test_members_get_email_and_sms_by_default(alice):
    assert member_channels(alice) == {"email", "sms"}
