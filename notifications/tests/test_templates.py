import copy
import datetime

import pytest

from members.models import Member
from notifications.events import EVENTS, event_context
from notifications.services import message_render

pytestmark = pytest.mark.django_db

# GSM 03.38 basic character set: texts using only these fit 160 characters per SMS (others force UCS-2: 70).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)

# What callers pass for each event: realistic values, at realistic lengths.
EVENT_CONTEXT = {
    "application_received": {},
    "document_rejected": {"document_type": "National ID or passport copy", "reason": "The photo is too blurred."},
    "approved": {},
    "activated": {},
    "payment_received": {
        "amount": 1500,
        "mpesa_receipt_number": "TJK4ABC12X",
        "receipt_number": "RCT-2026-000123",
        "receipt_url": "https://members.example.org/payments/receipt/Zx9kQ2mP7vB4tR1y/",
    },
    "payment_failed": {"amount": 1500, "reason": "You cancelled the M-Pesa prompt."},
    "suspended": {"reason": "The annual practising levy for 2026 is outstanding; please settle it with the office."},
    "reinstated": {"reason": "The outstanding levy has been paid. Thank you."},
}


@pytest.fixture(autouse=True)
def _strict_templates(settings):
    """A variable the templates use but the context lacks shows up as INVALID instead of vanishing."""
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = "INVALID[%s]"
    settings.TEMPLATES = templates
    settings.SITE_URL = "https://members.example.org/"


@pytest.fixture
def approved_member(alice):
    Member.objects.filter(pk=alice.pk).update(status=Member.Status.APPROVED, membership_number="KTS-2026-0001")
    alice.refresh_from_db()
    return alice


@pytest.fixture
def active_member(approved_member):
    Member.objects.filter(pk=approved_member.pk).update(
        status=Member.Status.ACTIVE,
        registration_paid_at=datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc),
        period_start=datetime.date(2026, 1, 5),
        period_end=datetime.date(2027, 1, 4),
    )
    approved_member.refresh_from_db()
    return approved_member


def render_all(member, event, **extra):
    context = event_context(member, event=event, context={**EVENT_CONTEXT[event], **extra})
    return message_render(event=event, channel="email", context=context), message_render(
        event=event, channel="sms", context=context
    )


def test_every_event_has_context_for_this_test():
    assert set(EVENT_CONTEXT) == set(EVENTS)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("member_fixture", ["approved_member", "active_member"])
def test_every_event_renders_an_email_and_an_sms_with_nothing_missing(event, member_fixture, request):
    member = request.getfixturevalue(member_fixture)
    email, sms = render_all(member, event)
    for text in (email.subject, email.body, sms.body):
        assert text.strip()
        assert "INVALID" not in text
        assert "{{" not in text and "{%" not in text
    assert "\n" not in email.subject
    assert "\n" not in sms.body
    assert "Kalda-Tech Society" in sms.body


@pytest.mark.parametrize("event", EVENTS)
def test_every_sms_fits_one_message_with_typical_values(event, active_member):
    _, sms = render_all(active_member, event)
    assert len(sms.body) <= 160, sms.body
    assert set(sms.body) <= GSM_BASIC, set(sms.body) - GSM_BASIC


def test_text_is_not_html_escaped(approved_member):
    email, sms = render_all(approved_member, "document_rejected", reason="Member's photo & ID don't match <here>")
    assert "Reason: Member's photo & ID don't match <here>" in email.body
    assert "Member's photo & ID" in sms.body


def test_a_long_rejection_reason_is_shortened_in_the_sms_but_not_the_email(approved_member):
    reason = "The scan cuts off the bottom half of the card, so the ID number and date of birth cannot be read."
    email, sms = render_all(approved_member, "document_rejected", reason=reason)
    assert reason in email.body
    assert reason not in sms.body
    assert "The scan cuts off" in sms.body


def test_approval_says_the_registration_fee_is_due_while_it_is_unpaid(approved_member):
    email, sms = render_all(approved_member, "approved")
    fee = f"KES {approved_member.category.registration_fee:,}"
    assert "KTS-2026-0001" in email.body and "KTS-2026-0001" in sms.body
    assert f"Your registration fee of {fee} is now due" in email.body
    assert f"Registration fee {fee} is now due: https://members.example.org/portal/" in sms.body


def test_approval_does_not_ask_for_a_fee_already_paid(active_member):
    email, sms = render_all(active_member, "approved")
    assert "is now due" not in email.body
    assert "already received your registration fee" in email.body
    assert "fee" not in sms.body


def test_activation_gives_the_number_and_the_end_date(active_member):
    email, sms = render_all(active_member, "activated")
    assert "Membership number: KTS-2026-0001" in email.body
    assert "Valid until: 4 January 2027" in email.body
    assert sms.body == "Kalda-Tech Society: your membership KTS-2026-0001 is now active until 4 Jan 2027. Thank you."


def test_a_payment_without_an_mpesa_receipt_does_not_mention_mpesa(active_member):
    email, sms = render_all(active_member, "payment_received", mpesa_receipt_number="")
    assert "M-Pesa" not in email.body
    assert "M-Pesa" not in sms.body
    assert "Receipt number: RCT-2026-000123" in email.body


def test_a_failed_payment_gives_the_reason_in_plain_words(active_member):
    email, sms = render_all(active_member, "payment_failed")
    assert email.subject == "Your payment of KES 1,500 did not go through"
    assert "You cancelled the M-Pesa prompt." in email.body
    assert sms.body == (
        "Kalda-Tech Society: your payment of KES 1,500 did not go through. You cancelled the M-Pesa prompt. "
        "Try again: https://members.example.org/portal/"
    )
