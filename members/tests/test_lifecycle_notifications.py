"""Members hear about their application as it moves: received, a document rejected, approved, activated.

Each message is queued once the change commits, never before, and never for a change that rolled back.
"""

import datetime
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction

from members.models import Country, Member, MembershipCategory, Region
from members.services import (
    DocumentUpload,
    document_reject,
    document_verify,
    member_approve,
    member_record_registration_payment,
    member_register,
)
from notifications.models import Message, Notification

from .conftest import NEW_PASSWORD, sample_upload

pytestmark = pytest.mark.django_db

REASON = "The copy is too blurred to read."


class Boom(Exception):
    pass


def verify_all(member, actor):
    for document in member.documents.filter(is_current=True):
        document_verify(document=document, actor=actor)


def register(email="grace.wanjiru@example.com"):
    category = MembershipCategory.objects.get(code="associate")
    return member_register(
        email=email,
        password=NEW_PASSWORD,
        first_name="Grace",
        last_name="Wanjiru",
        category=category,
        documents=[DocumentUpload(doc_type=code, file=sample_upload(code)) for code in category.required_documents],
        id_number="31234567",
        date_of_birth=datetime.date(1992, 3, 14),
        gender=Member.Gender.FEMALE,
        phone_number="254712345678",
        country=Country.objects.get(pk="KE"),
        region=Region.objects.get(country="KE", code="047"),
    )


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run `action` in a transaction, check its messages are in the outbox but nothing left yet, then commit
    (run its callbacks)."""

    def run(action):
        with django_capture_on_commit_callbacks() as callbacks:
            result = action()
        assert callbacks, "nothing was queued for the commit"
        # The outbox: the messages are rows of the action's own transaction, so they commit with it (or roll
        # back with it), whatever the broker does; delivery waits for the commit.
        assert Notification.objects.exists(), "no notification was written in the transaction"
        assert Message.objects.exists(), "no message was written in the transaction"
        assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.QUEUED}
        assert mail.outbox == [], "an email left before the commit"
        with django_capture_on_commit_callbacks(execute=True):
            for callback in callbacks:
                callback()
        return result

    return run


def events_of(member):
    return list(Notification.objects.filter(user=member.user).order_by("pk").values_list("event", flat=True))


def messages_of(member, event):
    return {m.channel: m for m in Message.objects.filter(user=member.user, event=event)}


def test_registering_tells_the_applicant_their_application_was_received(
    client, registration_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/register/", registration_data())
    assert response.status_code == 302

    member = Member.objects.get(user__email="grace.wanjiru@example.com")
    assert events_of(member) == ["application_received"]
    assert set(messages_of(member, "application_received")) == {"email", "sms"}
    [email] = mail.outbox
    assert email.to == ["grace.wanjiru@example.com"]
    assert email.subject == "We have received your application to Kalda-Tech Society"
    assert f"as a {member.category.name} member" in email.body


def test_application_received_is_sent_only_after_the_commit(reference_data, after_commit):
    member = after_commit(register)
    assert events_of(member) == ["application_received"]
    assert Notification.objects.get().dedupe_key == f"application_received:{member.pk}"


def test_rejecting_a_document_tells_the_member_what_and_why(alice, staff_user, after_commit):
    document = alice.documents.get(doc_type="national_id")

    after_commit(lambda: document_reject(document=document, reason=REASON, actor=staff_user))

    assert events_of(alice) == ["document_rejected"]
    notification = Notification.objects.get()
    assert notification.title == "Please upload your National ID or passport copy again"
    assert REASON in notification.body
    sent = messages_of(alice, "document_rejected")
    assert set(sent) == {"email", "sms"}
    assert f"Reason: {REASON}" in sent["email"].body


def test_rejecting_the_same_document_twice_tells_the_member_once(alice, staff_user, django_capture_on_commit_callbacks):
    document = alice.documents.get(doc_type="national_id")
    with django_capture_on_commit_callbacks(execute=True):
        document_reject(document=document, reason=REASON, actor=staff_user)
        document_reject(document=document, reason=REASON, actor=staff_user)
    assert events_of(alice) == ["document_rejected"]
    assert Message.objects.filter(event="document_rejected").count() == 2  # one email, one SMS


def test_approval_tells_the_member_their_number_and_that_the_fee_is_due(alice, staff_user, after_commit):
    verify_all(alice, staff_user)

    member = after_commit(lambda: member_approve(member=alice, actor=staff_user))

    assert events_of(alice) == ["approved"]
    notification = Notification.objects.get()
    fee = f"KES {alice.category.registration_fee:,}"
    assert member.membership_number in notification.body
    assert f"registration fee of {fee} is now due" in notification.body
    sent = messages_of(alice, "approved")
    assert member.membership_number in sent["sms"].body
    assert f"Registration fee {fee} is now due" in sent["sms"].body
    assert notification.dedupe_key == f"approved:{alice.pk}"


def test_approving_a_paid_application_tells_the_member_approved_then_active(
    alice, staff_user, finance_user, after_commit
):
    member_record_registration_payment(member=alice, reference="CASH-001", actor=finance_user)
    verify_all(alice, staff_user)

    member = after_commit(lambda: member_approve(member=alice, actor=staff_user))

    assert member.status == Member.Status.ACTIVE
    assert events_of(alice) == ["approved", "activated"]
    approved = messages_of(alice, "approved")["email"]
    assert "is now due" not in approved.body
    assert "We have already received your registration fee" in approved.body


def test_the_fee_arriving_after_approval_tells_the_member_they_are_active(
    alice, staff_user, finance_user, after_commit
):
    verify_all(alice, staff_user)
    member_approve(member=alice, actor=staff_user)
    Notification.objects.all().delete()  # the approval's own notification and messages: not this test's
    Message.objects.all().delete()

    after_commit(lambda: member_record_registration_payment(member=alice, reference="CASH-002", actor=finance_user))
    member = Member.objects.get(pk=alice.pk)

    assert events_of(alice) == ["activated"]
    notification = Notification.objects.get()
    assert notification.title == "Your Kalda-Tech Society membership is active"
    assert member.membership_number in notification.body
    assert f"{member.period_end:%-d %b %Y}" in notification.body
    assert set(messages_of(alice, "activated")) == {"email", "sms"}
    assert notification.dedupe_key == f"activated:{alice.pk}"


def _register(alice, staff_user, finance_user):
    register()


def _reject(alice, staff_user, finance_user):
    document_reject(document=alice.documents.first(), reason=REASON, actor=staff_user)


def _approve(alice, staff_user, finance_user):
    verify_all(alice, staff_user)
    member_approve(member=alice, actor=staff_user)


def _activate(alice, staff_user, finance_user):
    verify_all(alice, staff_user)
    member_approve(member=alice, actor=staff_user)
    member_record_registration_payment(member=alice, reference="CASH-003", actor=finance_user)


@pytest.mark.parametrize("action", [_register, _reject, _approve, _activate])
def test_nothing_is_sent_when_the_transaction_rolls_back(
    action, alice, staff_user, finance_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom), transaction.atomic():
        action(alice, staff_user, finance_user)
        raise Boom
    assert callbacks == []
    assert not Notification.objects.exists()
    assert not Message.objects.exists()
    assert mail.outbox == []
    assert not get_user_model().objects.filter(email="grace.wanjiru@example.com").exists()


def test_a_failing_notification_never_undoes_the_approval(
    alice, staff_user, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise RuntimeError("the template engine is on fire")

    monkeypatch.setattr("members.services.notify_member", broken)
    verify_all(alice, staff_user)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        member = member_approve(member=alice, actor=staff_user)

    assert member.status == Member.Status.APPROVED
    alice.refresh_from_db()
    assert alice.status == Member.Status.APPROVED and alice.membership_number
    assert "the template engine is on fire" in caplog.text
