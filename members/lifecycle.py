"""The daily membership lifecycle: lapse members whose period has run out, and remind members of their end date.

Run by the `members.run_lifecycle_jobs` Celery beat task (06:00 EAT) and by `manage.py run_lifecycle_jobs`.
Both jobs may run twice, or on several workers at the same moment, without acting twice:

- a lapse is claimed with a skip-locked row lock and made by compare-and-set (`members.services.member_lapse`),
  so each status change happens, and is audited, once;
- a reminder is logged before it is sent. Its ReminderLog row (unique per member, period end and kind) is
  inserted in the transaction that queues the messages, and only the run whose insert succeeds queues them:
  a second worker's insert waits for the first transaction and then fails.

Reminder days, for a period whose last valid day is E, in a category with G grace days:

    due_30 on E-30, due_7 on E-7, due_1 on E-1, ended on E (renewal_due event),
    grace_ended on E+G+1, the first day after the grace period, when the membership has expired (expired event).

`grace_ended` waits for that day rather than the grace period's last day (E+G) because its message says the
membership has expired and quotes the late fee, and both are true only from E+G+1.

Catching up (the job did not run for a day or more): a run on day T sends a member the latest reminder whose
day has come, unless the next reminder's day has come too, or it is more than CATCH_UP_DAYS late, or it was
already sent for this period. So a member hears at most one reminder per run, the one that fits today (never
"30 days left" with 5 to go), and the first run after installing this sends nothing about periods that
ended long ago. The windows are `reminder_windows()`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import operator
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from notifications.models import Notification
from notifications.services import notify_member

from .dues import payment_due
from .models import Member, MembershipCategory, ReminderLog
from .services import MembershipError, lapse_decision, member_lapse, renewal_window_opens

logger = logging.getLogger("members.lifecycle")

Status = Member.Status
Kind = ReminderLog.Kind

RENEWAL_DUE = "renewal_due"
EXPIRED = "expired"

CATCH_UP_DAYS = 7  # a reminder missed by more than this many days is not sent late
BATCH_SIZE = 500

EVENT_FOR_KIND: dict[str, str] = {
    Kind.DAYS_30: RENEWAL_DUE,
    Kind.DAYS_7: RENEWAL_DUE,
    Kind.DAYS_1: RENEWAL_DUE,
    Kind.END_DATE: RENEWAL_DUE,
    Kind.GRACE_ENDED: EXPIRED,
}
# Before and on the end date the member is active (or in grace if an old job left it so); the expired notice
# also goes to members still in grace, in case the lapse job failed today.
STATUSES_FOR_KIND: dict[str, tuple[str, ...]] = {
    Kind.DAYS_30: (Status.ACTIVE, Status.GRACE),
    Kind.DAYS_7: (Status.ACTIVE, Status.GRACE),
    Kind.DAYS_1: (Status.ACTIVE, Status.GRACE),
    Kind.END_DATE: (Status.ACTIVE, Status.GRACE),
    Kind.GRACE_ENDED: (Status.GRACE, Status.EXPIRED),
}


@dataclass
class LapseCounts:
    grace: int = 0
    expired: int = 0
    # Renewed, suspended or lapsed by another worker between the listing and the change.
    skipped: int = 0


@dataclass
class ReminderCounts:
    due_30: int = 0
    due_7: int = 0
    due_1: int = 0
    ended: int = 0
    grace_ended: int = 0
    # Logged by another run or worker between the listing and our insert.
    skipped: int = 0

    @property
    def sent(self) -> int:
        return sum(getattr(self, kind) for kind in Kind.values)


@dataclass
class LifecycleReport:
    today: datetime.date
    lapsed: LapseCounts = field(default_factory=LapseCounts)
    reminders: ReminderCounts = field(default_factory=ReminderCounts)

    def as_dict(self) -> dict:
        return {"today": self.today.isoformat(), "lapsed": vars(self.lapsed), "reminders": vars(self.reminders)}


def membership_lifecycle_run(*, today: datetime.date | None = None) -> LifecycleReport:
    """The daily job: lapse first, so today's expired notices find today's expired members."""
    today = today or timezone.localdate()
    report = LifecycleReport(today=today)
    report.lapsed = membership_expire_lapsed(today=today)
    report.reminders = renewal_reminders_send(today=today)
    logger.info("Lifecycle run for %s: %s", today, report.as_dict())
    return report


# --- Lapsing -------------------------------------------------------------------------------------------


def membership_expire_lapsed(*, today: datetime.date | None = None) -> LapseCounts:
    """Active members past their end date go to grace (while within the category's grace days) or straight
    to expired; members in grace past its last day go to expired. Members without an end date never lapse."""
    today = today or timezone.localdate()
    counts = LapseCounts()
    ids = list(Member.objects.filter(_lapsed(today)).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH_SIZE):
        batch = Member.objects.filter(pk__in=ids[start : start + BATCH_SIZE]).select_related("category").order_by("pk")
        for member in batch:
            decision = lapse_decision(member, today)
            if decision is None:
                counts.skipped += 1
                continue
            to, reason = decision
            try:
                member_lapse(member=member, to=to, reason=reason)
            except MembershipError:
                counts.skipped += 1
                continue
            if to == Status.GRACE:
                counts.grace += 1
            else:
                counts.expired += 1
    return counts


def _lapsed(today: datetime.date) -> Q:
    over = [Q(status=Status.ACTIVE, period_end__lt=today)]
    for grace_days, category_ids in _categories_by_grace_days().items():
        over.append(
            Q(
                status=Status.GRACE,
                category_id__in=category_ids,
                period_end__lt=today - datetime.timedelta(days=grace_days),
            )
        )
    return functools.reduce(operator.or_, over)


def _categories_by_grace_days() -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for pk, grace_days in MembershipCategory.objects.values_list("pk", "grace_days"):
        groups[grace_days].append(pk)
    return groups


# --- Reminders -----------------------------------------------------------------------------------------


def reminder_windows(grace_days: int) -> dict[str, tuple[int, int]]:
    """Each reminder kind -> the first and last day (offsets from the end date, inclusive) it may be sent.

    A reminder is due from its own day until CATCH_UP_DAYS later, but never once the next one is due.
    """
    days = [
        (Kind.DAYS_30, -30),
        (Kind.DAYS_7, -7),
        (Kind.DAYS_1, -1),
        (Kind.END_DATE, 0),
        (Kind.GRACE_ENDED, grace_days + 1),
    ]
    windows = {}
    for index, (kind, first) in enumerate(days):
        last = first + CATCH_UP_DAYS
        if index + 1 < len(days):
            last = min(last, days[index + 1][1] - 1)
        windows[str(kind)] = (first, last)
    return windows


def renewal_reminders_send(*, today: datetime.date | None = None) -> ReminderCounts:
    """Send each member the reminder due today (see the module docstring), once per member per period."""
    today = today or timezone.localdate()
    counts = ReminderCounts()
    for kind in Kind.values:
        for member in reminder_candidates(kind, today).iterator(chunk_size=BATCH_SIZE):
            if reminder_send(member, kind=kind, today=today):
                setattr(counts, kind, getattr(counts, kind) + 1)
            else:
                counts.skipped += 1
    return counts


def reminder_candidates(kind: str, today: datetime.date) -> QuerySet[Member]:
    """Members whose `kind` reminder is due today and not yet logged for their current period."""
    by_window: dict[tuple[int, int], list[int]] = defaultdict(list)
    for grace_days, category_ids in _categories_by_grace_days().items():
        by_window[reminder_windows(grace_days)[kind]].extend(category_ids)
    if not by_window:
        return Member.objects.none()
    # A reminder whose window is days [first, last] after the end date E is due today when E is within
    # [today - last, today - first].
    in_window = functools.reduce(
        operator.or_,
        (
            Q(
                category_id__in=category_ids,
                period_end__gte=today - datetime.timedelta(days=last),
                period_end__lte=today - datetime.timedelta(days=first),
            )
            for (first, last), category_ids in by_window.items()
        ),
    )
    already_sent = ReminderLog.objects.filter(member=OuterRef("pk"), period_end=OuterRef("period_end"), kind=kind)
    return (
        Member.objects.filter(in_window, status__in=STATUSES_FOR_KIND[kind])
        .filter(~Exists(already_sent))
        .select_related("user", "category")
        .order_by("pk")
    )


def reminder_send(member: Member, *, kind: str, today: datetime.date) -> bool:
    """Log and queue one reminder; False (and nothing queued) if it is already logged for this period."""
    context = reminder_context(member, kind=kind, today=today)
    with transaction.atomic():
        if not _reminder_log(member, kind=kind):
            return False
        # The messages are queued in this transaction and delivered after it commits, so the log row and the
        # messages stand or fall together.
        notify_member(
            member,
            event=EVENT_FOR_KIND[kind],
            context=context,
            dedupe_key_base=f"reminder:{member.pk}:{member.period_end}:{kind}",
        )
    return True


def _reminder_log(member: Member, *, kind: str) -> bool:
    """Insert the reminder's log row; False if it exists (another run, or a worker racing this one, sent it).

    On PostgreSQL a concurrent insert of the same row waits for the first transaction to end, then fails.
    """
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives the IntegrityError
            ReminderLog.objects.create(member=member, period_end=member.period_end, kind=kind)
    except IntegrityError:
        return False
    return True


def reminder_context(member: Member, *, kind: str, today: datetime.date) -> dict:
    """What the renewal_due and expired templates use, beyond notifications.events.member_context."""
    category = member.category
    end = member.period_end
    due = payment_due(member, today=today)
    return {
        "reminder": kind,
        "days_left": (end - today).days,
        "period_end": end,
        "grace_days": category.grace_days,
        "grace_ends": end + datetime.timedelta(days=category.grace_days),
        "renewal_fee": category.renewal_fee,
        "late_fee": category.late_fee,
        "amount_due": due.amount if due else None,
        "late_fee_included": bool(due and due.includes_late_fee),
        "renewal_opens": renewal_window_opens(member),
        "renew_url": settings.SITE_URL.rstrip("/") + reverse("payments:pay"),
    }


# --- Reminders staff send by hand (the member list's bulk action) ---------------------------------------------


@dataclass
class ManualReminders:
    sent: int = 0
    already_today: int = 0  # reminded today already (by staff): one a day is enough
    not_applicable: int = 0  # nothing to renew: applicants, rejected, suspended, life members


def reminders_send_manual(*, member_ids, actor, request=None, today: datetime.date | None = None) -> ManualReminders:
    """Send the renewal reminder (or the expired notice) now to each of `member_ids` that has a period to
    renew, at most once a day per member, and audit each one."""
    today = today or timezone.localdate()
    result = ManualReminders()
    members = Member.objects.filter(pk__in=list(member_ids)).select_related("user", "category").order_by("pk")
    for member in members:
        if not member.can_renew:
            result.not_applicable += 1
            continue
        kind = Kind.GRACE_ENDED if member.status == Status.EXPIRED else Kind.DAYS_30
        key = f"manual_reminder:{member.pk}:{today.isoformat()}"
        with transaction.atomic():
            # The member row lock serialises two staff pressing the button at once.
            list(Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True))
            if Notification.objects.filter(dedupe_key=key).exists():
                result.already_today += 1
                continue
            notify_member(
                member,
                event=EVENT_FOR_KIND[kind],
                context=reminder_context(member, kind=kind, today=today),
                dedupe_key_base=key,
            )
            audit_log(
                action=AuditLog.Action.REMINDER_SENT,
                actor=actor,
                target=member,
                data={"event": EVENT_FOR_KIND[kind], "period_end": member.period_end.isoformat(), "manual": True},
                request=request,
            )
        result.sent += 1
    return result
