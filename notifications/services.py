"""Queue and deliver members' emails and SMS.

Callers use two functions:

- ``notify_member(member, event=..., context=..., dedupe_key_base=...)`` renders the event's templates,
  records an in-app notification (always) and queues an email and an SMS on the channels the member
  chose. It never raises: a notification problem is logged and must not undo the caller's work (a payment
  stays paid when its SMS cannot be sent).
- ``message_queue(...)`` queues one message of any content.

Either way the row is written in the caller's transaction (an outbox: it commits with the payment or
the status change it announces, or not at all) and delivery is queued with ``transaction.on_commit``, so a
rolled-back transaction sends nothing and a broker that is down at commit loses nothing: the periodic sweep
(``notifications.redeliver_queued_messages``, every NOTIFICATIONS_SWEEP_SECONDS) sends whatever is still
queued. ``message_deliver`` (run by the ``deliver_message`` task, the sweep, or ``manage.py
send_queued_messages``) claims a queued row with a conditional UPDATE, so one worker sends it, calls the
provider, and writes the outcome on the row.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core.phones import mask_phone
from core.queue import task_queue
from core.transitions import TransitionTable

from .errors import DeliveryError
from .events import event_context
from .mail import send_email
from .models import Message, Notification
from .selectors import messages_due_for_redelivery
from .sms import get_sms_backend

logger = logging.getLogger("notifications")
DELIVER_TASK = "notifications.tasks.deliver_message"  # queued by name: the task module imports this one

Channel = Message.Channel
Status = Message.Status
# to-status -> the statuses it may be entered from. One worker claims a queued message (sending), then
# records the outcome; a temporary failure, or a worker that died mid-send, puts it back in the queue.
# (An erasure withdraws unsent messages of an erased member in bulk: privacy.erasure.)
MESSAGE_TRANSITIONS = TransitionTable(
    {
        Status.QUEUED: {Status.SENDING},
        Status.SENDING: {Status.QUEUED},
        Status.SENT: {Status.SENDING},
        Status.FAILED: {Status.SENDING},
    }
)

MAX_ATTEMPTS = 6  # the first try and five retries; after that a message is marked failed
LAST_ERROR_MAX = 1000
# Events whose body is a secret (a password reset link): once the message is sent or given up, its text is
# replaced, so the outbound log, the admin and backups do not keep a working link.
LINK_BODY_EVENTS = frozenset({"password_reset"})
LINK_BODY_REMOVED = "[Removed once sent: it held a single-use link.]"


def stale_sending_after() -> datetime.timedelta:
    """A send takes well under a minute (SMS timeouts 5 + 20 s, EMAIL_TIMEOUT); a row claimed longer ago than
    NOTIFICATIONS_STALE_SENDING_SECONDS belongs to a worker that stopped."""
    return datetime.timedelta(seconds=settings.NOTIFICATIONS_STALE_SENDING_SECONDS)


# --- Queuing -------------------------------------------------------------------------------------------


def message_queue(
    *,
    user=None,
    channel: str,
    recipient: str,
    subject: str = "",
    body: str,
    html_body: str = "",
    event: str,
    dedupe_key: str | None = None,
) -> Message | None:
    """Record a message and deliver it once the current transaction commits.

    With a `dedupe_key` already used, the existing message is returned and nothing new is queued. A blank
    recipient (a member without an email address) queues nothing and returns None.
    """
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}; use one of {', '.join(Channel.values)}.")
    recipient = (recipient or "").strip()
    if not recipient:
        logger.warning("Not queuing the %s %s message: no recipient.", event, channel)
        return None
    if dedupe_key:
        existing = Message.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    try:
        # A savepoint, so a duplicate key does not break the caller's transaction on PostgreSQL.
        with transaction.atomic():
            message = Message.objects.create(
                user=user,
                channel=channel,
                event=event,
                recipient=recipient,
                subject=subject[:255],
                body=body,
                html_body=html_body,
                dedupe_key=dedupe_key or None,
            )
    except IntegrityError:
        if not dedupe_key:
            raise
        # Another transaction queued the same message between our look and our insert.
        return Message.objects.get(dedupe_key=dedupe_key)
    # robust: a broker that is down must not raise into the caller after its commit; the row stays
    # queued and send_queued_messages delivers it later.
    # (A lambda, not functools.partial: Django logs a robust callback's failure by its __qualname__.)
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue_delivery(message_id), robust=True)
    return message


def _enqueue_delivery(message_id: int) -> None:
    task_queue(DELIVER_TASK, message_id)


# --- Members and their events ------------------------------------------------------------------------------


def member_channels(member) -> set[str]:
    """The channels a member chose for email and SMS (the in-app notification is always kept)."""
    channels = set()
    if member.notify_by_email:
        channels.add(Channel.EMAIL.value)
    if member.notify_by_sms:
        channels.add(Channel.SMS.value)
    return channels


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    html_body: str = ""


def message_render(*, event: str, channel: str, context: dict[str, Any]) -> RenderedMessage:
    """Render one event's templates for one channel. Raises TemplateDoesNotExist for an unknown event."""
    if channel == Channel.SMS:
        # One line: the template's line breaks are for reading it, not for the phone.
        return RenderedMessage(subject="", body=_one_line(render_to_string(f"notifications/{event}.sms.txt", context)))
    subject = _one_line(render_to_string(f"notifications/{event}.subject.txt", context))
    body = _tidy(render_to_string(f"notifications/{event}.txt", context))
    try:
        html_body = render_to_string(f"notifications/{event}.html", context).strip()
    except TemplateDoesNotExist:
        html_body = ""
    return RenderedMessage(subject=subject, body=body, html_body=html_body)


def notify_member(
    member,
    *,
    event: str,
    context: dict[str, Any] | None = None,
    dedupe_key_base: str | None = None,
    link: str | None = None,
) -> list[Message]:
    """Tell `member` about `event`: one in-app notification, and a message on each channel they chose.
    Returns the queued (or already queued) email and SMS messages.

    `dedupe_key_base` makes it send-once: "payment_received:42" is the in-app notification's key and becomes
    "payment_received:42:email" and "payment_received:42:sms" for the messages. `link` is where the in-app
    notification leads (default: the receipt_url in the context, else the member portal). Never raises.
    """
    # Each step in a savepoint of its own: inside the caller's transaction (a payment's completion) a
    # database error here rolls back that step alone, never the caller's work, on PostgreSQL too (where an
    # error outside a savepoint would leave the whole transaction unusable).
    try:
        with transaction.atomic():
            full_context = event_context(member, event=event, context=context)
    except Exception:
        logger.exception("Not notifying member %s of %s: its context could not be built.", member.pk, event)
        return []
    try:
        with transaction.atomic():
            rendered = notification_render(event=event, context=full_context)
            notification_create(
                user=member.user,
                event=event,
                title=rendered.subject,
                body=rendered.body,
                link=link if link is not None else (full_context.get("receipt_url") or _portal_path()),
                dedupe_key=dedupe_key_base,
            )
    except Exception:
        logger.exception("Could not record the in-app %s notification for member %s.", event, member.pk)
    recipients = {Channel.EMAIL: member.user.email, Channel.SMS: member.phone_number}
    messages = []
    for channel in sorted(member_channels(member)):
        try:
            with transaction.atomic():
                rendered = message_render(event=event, channel=channel, context=full_context)
                message = message_queue(
                    user=member.user,
                    channel=channel,
                    recipient=recipients[channel],
                    subject=rendered.subject,
                    body=rendered.body,
                    html_body=rendered.html_body,
                    event=event,
                    dedupe_key=f"{dedupe_key_base}:{channel}" if dedupe_key_base else None,
                )
        except Exception:
            logger.exception("Could not queue the %s %s message for member %s.", event, channel, member.pk)
            continue
        if message is not None:
            messages.append(message)
    return messages


# --- In-app notifications ------------------------------------------------------------------------------------

TITLE_MAX = 200
BODY_MAX = 500


def notification_render(*, event: str, context: dict[str, Any]) -> RenderedMessage:
    """The in-app title (the email's subject) and body: ``<event>.inapp.txt`` if the event has one, else
    the SMS text, which is short too."""
    title = _one_line(render_to_string(f"notifications/{event}.subject.txt", context))
    try:
        body = _one_line(render_to_string(f"notifications/{event}.inapp.txt", context))
    except TemplateDoesNotExist:
        body = message_render(event=event, channel=Channel.SMS, context=context).body
    return RenderedMessage(subject=title[:TITLE_MAX], body=body[:BODY_MAX])


def notification_create(
    *, user, event: str, title: str, body: str = "", link: str = "", dedupe_key: str | None = None
) -> Notification:
    """Record one in-app notification. With a `dedupe_key` already used, the existing one is returned."""
    if dedupe_key:
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    try:
        # A savepoint, so a duplicate key does not break the caller's transaction on PostgreSQL.
        with transaction.atomic():
            return Notification.objects.create(
                user=user,
                event=event,
                title=title[:TITLE_MAX],
                body=body[:BODY_MAX],
                link=link[:500],
                dedupe_key=dedupe_key or None,
            )
    except IntegrityError:
        if not dedupe_key:
            raise
        return Notification.objects.get(dedupe_key=dedupe_key)


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of `user`'s notifications read (once: the first read time stays).

    Raises Notification.DoesNotExist when `user` has no notification with this id.
    """
    notification = Notification.objects.get(pk=notification_id, user=user)
    if notification.read_at is None:
        now = timezone.now()
        if Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now):
            notification.read_at = now
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of `user` read; returns how many changed."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def _portal_path() -> str:
    try:
        return reverse("portal:home")
    except NoReverseMatch:
        return "/"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


# --- Delivery ----------------------------------------------------------------------------------------------


def message_deliver(*, message: Message) -> Message:
    """Send a queued message once and record the outcome on its row.

    Only the caller whose conditional UPDATE moves the row from queued to sending sends it; anyone else
    gets the row back untouched. A permanent failure, or a temporary one on the last allowed attempt, marks
    it failed. Any other temporary failure puts it back in the queue and is re-raised as DeliveryError, so
    the caller can retry later.
    """
    claimed = MESSAGE_TRANSITIONS.apply(
        Message, message.pk, to=Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=timezone.now()
    )
    message.refresh_from_db()
    if not claimed:
        return message
    try:
        provider_message_id = _send(message)
    except DeliveryError as error:
        return _record_failure(message, error)
    except Exception as error:
        # Unforeseen (a library bug, a bad SMS_BACKEND): keep the row out of limbo and let retries decide.
        logger.exception("Unexpected error sending %s.", message)
        return _record_failure(message, DeliveryError(f"Unexpected {type(error).__name__}: {error}"))
    MESSAGE_TRANSITIONS.apply(
        Message,
        message.pk,
        to=Status.SENT,
        sent_at=timezone.now(),
        provider_message_id=provider_message_id[:255],
        last_error="",
        **_link_body_removed(message),
    )
    message.refresh_from_db()
    logger.info("Sent %s to %s.", message, _masked_recipient(message))
    return message


def _send(message: Message) -> str:
    if message.channel == Channel.EMAIL:
        return send_email(to=message.recipient, subject=message.subject, body=message.body, html_body=message.html_body)
    if message.channel == Channel.SMS:
        return get_sms_backend().send(message.recipient, message.body).provider_message_id
    raise DeliveryError(f"Unknown channel {message.channel!r}.", permanent=True)


def _record_failure(message: Message, error: DeliveryError) -> Message:
    reason = _redact(str(error))[:LAST_ERROR_MAX]
    give_up = error.permanent or message.attempts >= MAX_ATTEMPTS
    MESSAGE_TRANSITIONS.apply(
        Message,
        message.pk,
        to=Status.FAILED if give_up else Status.QUEUED,
        last_error=reason,
        **(_link_body_removed(message) if give_up else {}),
    )
    message.refresh_from_db()
    if give_up:
        logger.warning(
            "Gave up on %s to %s after %d attempt(s): %s", message, _masked_recipient(message), message.attempts, reason
        )
        return message
    logger.info("Attempt %d of %s failed, will retry: %s", message.attempts, message, reason)
    raise error


def _link_body_removed(message: Message) -> dict[str, str]:
    if message.event not in LINK_BODY_EVENTS:
        return {}
    return {"body": LINK_BODY_REMOVED, "html_body": ""}


def _redact(text: str) -> str:
    # Belt and braces: no provider puts our secrets in an error today, and none ever reaches the row.
    for secret in (settings.SMS_API_KEY, settings.EMAIL_HOST_PASSWORD):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def _masked_recipient(message: Message) -> str:
    if message.channel == Channel.SMS:
        return mask_phone("".join(ch for ch in message.recipient if ch.isdigit()))
    return "***@" + message.recipient.rpartition("@")[2]


# --- Catching up ----------------------------------------------------------------------------------------


@dataclass
class RedeliveryReport:
    sent: int = 0
    failed: int = 0
    still_queued: int = 0
    skipped: int = 0


def messages_redeliver(
    *,
    older_than: datetime.timedelta,
    never_tried_older_than: datetime.timedelta | None = None,
    limit: int | None = None,
) -> RedeliveryReport:
    """Deliver, in this process, what nobody delivered: messages never tried `never_tried_older_than` (default
    `older_than`) after they were queued (the broker was down at commit, or lost the task), messages idle
    in the queue `older_than` since a failed attempt, and messages stuck in sending past
    NOTIFICATIONS_STALE_SENDING_SECONDS (a worker died mid-send; those may go out twice if it died after
    the provider took them)."""
    now = timezone.now()
    queued_before = now - older_than
    never_tried_before = now - (older_than if never_tried_older_than is None else never_tried_older_than)
    sending_before = now - stale_sending_after()
    report = RedeliveryReport()
    due = messages_due_for_redelivery(
        queued_before=queued_before, never_tried_before=never_tried_before, sending_before=sending_before, limit=limit
    )
    for message in due:
        if message.status == Status.SENDING:
            MESSAGE_TRANSITIONS.apply(
                Message.objects.filter(last_attempt_at__lt=sending_before),
                message.pk,
                to=Status.QUEUED,
                last_error="Requeued: the worker sending it stopped.",
            )
        attempts_before = message.attempts
        try:
            message = message_deliver(message=message)
        except DeliveryError:
            report.still_queued += 1
            continue
        if message.attempts == attempts_before:
            report.skipped += 1  # another worker got to it first
        elif message.status == Status.SENT:
            report.sent += 1
        elif message.status == Status.FAILED:
            report.failed += 1
        else:
            report.skipped += 1
    return report
