"""The daily lifecycle job: active -> grace -> expired, and renewal reminders sent once per member per period."""

import copy
import datetime
import itertools
import threading
from io import StringIO

import pytest
from celery.schedules import crontab
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditLog
from members import lifecycle
from members.lifecycle import (
    membership_expire_lapsed,
    membership_lifecycle_run,
    reminder_context,
    reminder_windows,
    renewal_reminders_send,
)
from members.models import Member, MembershipCategory, ReminderLog
from members.services import MembershipError, member_lapse, membership_renew, period_end_for
from notifications.events import event_context
from notifications.models import Message
from notifications.services import member_channels, message_render
from tests.concurrency import run_together
from tests.factories import MemberFactory, load_reference_data

Status = Member.Status
Kind = ReminderLog.Kind
day = datetime.timedelta(days=1)

TODAY = datetime.date(2026, 11, 26)
NUMBERS = itertools.count(1)
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)


def member_ending(end, *, status=Status.ACTIVE, category="full", **fields):
    """A member whose current period ends on `end` (None: a life membership), in `status`."""
    member = MemberFactory(documents=[], category=MembershipCategory.objects.get(code=category), **fields)
    Member.objects.filter(pk=member.pk).update(
        status=status,
        membership_number=f"KTS-2025-{next(NUMBERS):04d}",
        registration_paid_at=timezone.now(),
        period_start=end - datetime.timedelta(days=364) if end else datetime.date(2025, 1, 1),
        period_end=end,
    )
    member.refresh_from_db()
    return member


def status_of(member):
    return Member.objects.values_list("status", flat=True).get(pk=member.pk)


def status_audits(member):
    return list(
        AuditLog.objects.filter(
            action=AuditLog.Action.STATUS_CHANGED, target_type="members.member", target_id=str(member.pk)
        )
        .order_by("pk")
        .values_list("data", flat=True)
    )


def reminders_of(member):
    return list(ReminderLog.objects.filter(member=member).order_by("sent_at", "pk").values_list("period_end", "kind"))


@pytest.fixture(autouse=True)
def _setup(reference_data, settings):
    settings.SITE_URL = "https://members.example.org/"


@pytest.fixture
def no_grace(db):
    return MembershipCategory.objects.create(
        code="no-grace",
        name="No grace",
        registration_fee=1000,
        renewal_fee=1000,
        late_fee=300,
        period_months=12,
        grace_days=0,
    )


# --- Lapsing ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestLapsing:
    def test_a_member_stays_active_on_the_last_day_of_the_period(self):
        member = member_ending(TODAY)
        assert vars(membership_expire_lapsed(today=TODAY)) == {"grace": 0, "expired": 0, "skipped": 0}
        assert status_of(member) == Status.ACTIVE

    def test_an_active_member_enters_grace_the_day_after_the_end_date(self):
        member = member_ending(TODAY - day)
        counts = membership_expire_lapsed(today=TODAY)
        assert (counts.grace, counts.expired) == (1, 0)
        member.refresh_from_db()
        assert member.status == Status.GRACE
        assert member.status_reason == (
            "The membership period ended on 25 November 2026; the grace period runs until 25 December 2026."
        )
        [audit] = AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED)
        assert audit.data == {"from": "active", "to": "grace"}
        assert audit.actor is None  # the system acted

    def test_grace_lasts_through_its_last_day_and_expires_the_day_after(self):
        end = TODAY - datetime.timedelta(days=30)  # 30 grace days: today is the last day of grace
        member = member_ending(end, status=Status.GRACE)
        membership_expire_lapsed(today=TODAY)
        assert status_of(member) == Status.GRACE
        membership_expire_lapsed(today=TODAY + day)
        member.refresh_from_db()
        assert member.status == Status.EXPIRED
        assert member.status_reason == "The grace period ended on 26 November 2026."
        assert status_audits(member) == [{"from": "grace", "to": "expired"}]

    def test_the_daily_job_takes_a_member_from_active_through_grace_to_expired(self):
        end = datetime.date(2026, 1, 31)
        member = member_ending(end)
        seen = {}
        for offset in range(-2, 35):
            today = end + datetime.timedelta(days=offset)
            membership_lifecycle_run(today=today)
            seen.setdefault(status_of(member), today)
        assert seen == {
            Status.ACTIVE: datetime.date(2026, 1, 29),
            Status.GRACE: datetime.date(2026, 2, 1),
            Status.EXPIRED: datetime.date(2026, 3, 3),  # 30 grace days: 1 Feb to 2 Mar
        }
        assert status_audits(member) == [{"from": "active", "to": "grace"}, {"from": "grace", "to": "expired"}]

    def test_a_category_without_grace_days_expires_directly(self, no_grace):
        member = member_ending(TODAY - day, category="no-grace")
        counts = membership_expire_lapsed(today=TODAY)
        assert (counts.grace, counts.expired) == (0, 1)
        member.refresh_from_db()
        assert member.status == Status.EXPIRED
        assert member.status_reason == "The membership period ended on 25 November 2026."

    def test_an_active_member_the_job_missed_for_the_whole_grace_period_expires_directly(self):
        member = member_ending(TODAY - datetime.timedelta(days=45))
        membership_expire_lapsed(today=TODAY)
        assert status_audits(member) == [{"from": "active", "to": "expired"}]

    def test_life_members_never_lapse(self):
        member = member_ending(None, category="life")
        assert vars(membership_expire_lapsed(today=TODAY + datetime.timedelta(days=3650)))["skipped"] == 0
        assert status_of(member) == Status.ACTIVE

    @pytest.mark.parametrize("status", [Status.SUSPENDED, Status.APPROVED, Status.PENDING, Status.EXPIRED])
    def test_members_in_other_statuses_are_untouched(self, status):
        member = member_ending(TODAY - datetime.timedelta(days=60), status=status)
        membership_expire_lapsed(today=TODAY)
        assert status_of(member) == status
        assert status_audits(member) == []

    def test_running_twice_changes_and_audits_each_member_once(self):
        members = [member_ending(TODAY - day), member_ending(TODAY - datetime.timedelta(days=45))]
        assert vars(membership_expire_lapsed(today=TODAY)) == {"grace": 1, "expired": 1, "skipped": 0}
        assert vars(membership_expire_lapsed(today=TODAY)) == {"grace": 0, "expired": 0, "skipped": 0}
        assert [len(status_audits(m)) for m in members] == [1, 1]

    def test_a_renewal_committed_after_the_job_read_the_member_is_kept(self):
        stale = member_ending(TODAY - day)
        membership_renew(member=Member.objects.get(pk=stale.pk), actor=None, paid_on=TODAY)
        with pytest.raises(MembershipError, match="has changed"):
            member_lapse(member=stale, to=Status.GRACE, reason="The period ended.")
        fresh = Member.objects.get(pk=stale.pk)
        assert fresh.status == Status.ACTIVE
        assert fresh.period_end == period_end_for(TODAY, 12)


# --- Reminders --------------------------------------------------------------------------------------------


def test_the_reminder_windows_are_pinned():
    assert reminder_windows(30) == {
        "due_30": (-30, -23),
        "due_7": (-7, -2),
        "due_1": (-1, -1),
        "ended": (0, 7),
        "grace_ended": (31, 38),
    }
    assert reminder_windows(3)["ended"] == (0, 3)
    assert reminder_windows(0)["ended"] == (0, 0)
    assert reminder_windows(0)["grace_ended"] == (1, 8)


@pytest.mark.django_db
class TestReminders:
    def run_daily(self, start, stop):
        """Run the whole daily job on each day from start to stop; return {day: kinds sent that day}."""
        sent = {}
        today = start
        while today <= stop:
            counts = membership_lifecycle_run(today=today).reminders
            kinds = [kind for kind in Kind.values if getattr(counts, kind)]
            if kinds:
                sent[today] = kinds
            today += day
        return sent

    def test_a_daily_job_sends_each_reminder_on_its_day_and_on_no_other(self):
        end = datetime.date(2027, 3, 1)
        member = member_ending(end)
        sent = self.run_daily(end - datetime.timedelta(days=70), end + datetime.timedelta(days=70))
        assert sent == {
            datetime.date(2027, 1, 30): ["due_30"],
            datetime.date(2027, 2, 22): ["due_7"],
            datetime.date(2027, 2, 28): ["due_1"],
            datetime.date(2027, 3, 1): ["ended"],
            datetime.date(2027, 4, 1): ["grace_ended"],  # grace ran 2 March to 31 March
        }
        assert [kind for _, kind in reminders_of(member)] == ["due_30", "due_7", "due_1", "ended", "grace_ended"]
        assert status_of(member) == Status.EXPIRED

    def test_without_grace_days_the_expiry_notice_goes_the_day_after_the_end_date(self, no_grace):
        end = datetime.date(2027, 3, 1)
        member_ending(end, category="no-grace")
        sent = self.run_daily(end - day, end + datetime.timedelta(days=20))
        assert sent == {
            datetime.date(2027, 2, 28): ["due_1"],
            datetime.date(2027, 3, 1): ["ended"],
            datetime.date(2027, 3, 2): ["grace_ended"],
        }

    @pytest.mark.parametrize(
        ("offset", "status", "kind", "event"),
        [
            (-30, Status.ACTIVE, "due_30", "renewal_due"),
            (-7, Status.ACTIVE, "due_7", "renewal_due"),
            (-1, Status.ACTIVE, "due_1", "renewal_due"),
            (0, Status.ACTIVE, "ended", "renewal_due"),
            (31, Status.EXPIRED, "grace_ended", "expired"),
            (31, Status.GRACE, "grace_ended", "expired"),  # today's lapse did not run
        ],
    )
    def test_each_reminder_logs_once_and_queues_an_email_and_an_sms(self, offset, status, kind, event):
        end = TODAY - datetime.timedelta(days=offset)
        member = member_ending(end, status=status)
        counts = renewal_reminders_send(today=TODAY)
        assert counts.sent == getattr(counts, kind) == 1
        assert reminders_of(member) == [(end, kind)]
        messages = Message.objects.filter(user=member.user)
        assert {(m.event, m.channel, m.dedupe_key) for m in messages} == {
            (event, "email", f"reminder:{member.pk}:{end}:{kind}:email"),
            (event, "sms", f"reminder:{member.pk}:{end}:{kind}:sms"),
        }

    def test_a_second_run_the_same_day_sends_nothing(self):
        member = member_ending(TODAY + datetime.timedelta(days=7))
        assert renewal_reminders_send(today=TODAY).due_7 == 1
        again = renewal_reminders_send(today=TODAY)
        assert again.sent == 0
        assert Message.objects.filter(user=member.user).count() == 2
        assert len(reminders_of(member)) == 1

    def test_a_reminder_logged_by_another_worker_after_the_listing_is_not_sent(self):
        member = member_ending(TODAY + datetime.timedelta(days=7))
        ReminderLog.objects.create(member=member, period_end=member.period_end, kind=Kind.DAYS_7)
        assert lifecycle.reminder_send(member, kind=Kind.DAYS_7, today=TODAY) is False
        assert not Message.objects.filter(user=member.user).exists()

    def test_a_renewal_starts_a_new_period_whose_reminders_go_out_again(self):
        end = TODAY + datetime.timedelta(days=7)
        member = member_ending(end)
        assert renewal_reminders_send(today=TODAY).due_7 == 1
        member = membership_renew(member=member, actor=None, paid_on=TODAY + day)
        new_end = period_end_for(end + day, 12)
        assert member.period_end == new_end
        # The old period's remaining reminders are not due any more.
        assert renewal_reminders_send(today=end - day).sent == 0
        assert renewal_reminders_send(today=end).sent == 0
        assert renewal_reminders_send(today=new_end - datetime.timedelta(days=7)).due_7 == 1
        assert reminders_of(member) == [(end, "due_7"), (new_end, "due_7")]
        assert Message.objects.filter(user=member.user, event="renewal_due").count() == 4

    @pytest.mark.parametrize(
        ("days_left", "expected"),
        [
            (25, "due_30"),  # 5 days late: still the 30-day reminder
            (23, "due_30"),  # 7 days late: the last chance to catch it up
            (22, None),  # 8 days late: too late, and the 7-day one is not due yet
            (3, "due_7"),  # the job was down on the 7th day before
            (-4, "ended"),  # in grace, the end-date notice was missed
            (-8, None),  # more than a week late
        ],
    )
    def test_a_missed_reminder_is_caught_up_for_up_to_a_week(self, days_left, expected):
        end = TODAY + datetime.timedelta(days=days_left)
        member = member_ending(end, status=Status.ACTIVE if days_left >= 0 else Status.GRACE)
        counts = renewal_reminders_send(today=TODAY)
        assert reminders_of(member) == ([(end, expected)] if expected else [])
        assert counts.sent == (1 if expected else 0)

    def test_a_job_down_for_days_sends_only_the_reminder_that_fits_today(self):
        end = TODAY + datetime.timedelta(days=2)
        member = member_ending(end)
        # Nothing ran in the 30 days before: only the 7-day reminder is sent, saying 2 days.
        assert vars(renewal_reminders_send(today=TODAY)) == {
            "due_30": 0,
            "due_7": 1,
            "due_1": 0,
            "ended": 0,
            "grace_ended": 0,
            "skipped": 0,
        }
        sms = Message.objects.get(user=member.user, channel="sms")
        assert "ends in 2 days" in sms.body

    def test_an_expiry_notice_long_after_the_grace_period_is_not_sent(self):
        member_ending(TODAY - datetime.timedelta(days=31 + 8), status=Status.EXPIRED)
        assert renewal_reminders_send(today=TODAY).sent == 0

    @pytest.mark.parametrize("status", [Status.SUSPENDED, Status.PENDING, Status.APPROVED, Status.REJECTED])
    def test_members_not_active_or_lapsed_hear_nothing(self, status):
        for offset in (30, 7, 1, 0):
            member_ending(TODAY + datetime.timedelta(days=offset), status=status)
        member_ending(TODAY - datetime.timedelta(days=31), status=status)
        assert renewal_reminders_send(today=TODAY).sent == 0
        assert not Message.objects.exists()

    def test_life_members_get_no_reminders(self):
        member_ending(None, category="life")
        for offset in range(0, 400, 7):
            assert renewal_reminders_send(today=TODAY + datetime.timedelta(days=offset)).sent == 0

    def test_reminders_go_only_to_the_channels_the_member_chose(self):
        member = member_ending(TODAY + day, notify_by_sms=False)
        renewal_reminders_send(today=TODAY)
        channels = set(Message.objects.filter(user=member.user).values_list("channel", flat=True))
        # Whatever notifications.services decides from the member's choices; never more.
        assert channels == member_channels(member)
        assert "email" in channels

    def test_the_candidates_query_count_does_not_grow_with_members(self, django_assert_max_num_queries):
        for _ in range(3):
            member_ending(TODAY - day)
        # A handful of listing queries, whatever the number of members (each member's own work aside).
        with django_assert_max_num_queries(2):
            list(lifecycle.reminder_candidates("ended", TODAY))
        for _ in range(5):
            member_ending(TODAY - day)
        with django_assert_max_num_queries(2):
            assert len(list(lifecycle.reminder_candidates("ended", TODAY))) == 8


# --- What the member reads ---------------------------------------------------------------------------------


@pytest.fixture
def strict_templates(settings):
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = "INVALID[%s]"
    settings.TEMPLATES = templates


def render(member, kind, today):
    context = event_context(
        member, event=lifecycle.EVENT_FOR_KIND[kind], context=reminder_context(member, kind=kind, today=today)
    )
    event = lifecycle.EVENT_FOR_KIND[kind]
    return message_render(event=event, channel="email", context=context), message_render(
        event=event, channel="sms", context=context
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("strict_templates")
class TestMessages:
    @pytest.mark.parametrize(
        ("days_left", "status", "kind"),
        [
            (30, Status.ACTIVE, "due_30"),
            (7, Status.ACTIVE, "due_7"),
            (1, Status.ACTIVE, "due_1"),
            (0, Status.ACTIVE, "ended"),
            (-5, Status.GRACE, "ended"),
            (-31, Status.EXPIRED, "grace_ended"),
        ],
    )
    def test_every_reminder_renders_completely_and_fits_one_sms(self, days_left, status, kind):
        member = member_ending(TODAY + datetime.timedelta(days=days_left), status=status)
        email, sms = render(member, kind, TODAY)
        for text in (email.subject, email.body, sms.body):
            assert text.strip()
            assert "INVALID" not in text and "{{" not in text and "{%" not in text
        assert "\n" not in email.subject
        assert "https://members.example.org/payments/pay/" in email.body
        assert sms.body.endswith(": https://members.example.org/payments/pay/")
        assert len(sms.body) <= 160, sms.body
        assert set(sms.body) <= GSM_BASIC, set(sms.body) - GSM_BASIC

    def test_the_seven_day_reminder_gives_the_date_and_the_amount(self):
        member = member_ending(datetime.date(2026, 12, 3))
        email, sms = render(member, "due_7", TODAY)
        assert email.subject == "Your Kalda-Tech Society membership ends in 7 days"
        assert "ends in 7 days, on 3 December 2026." in email.body
        assert "renew now by M-Pesa for KES 3,000:" in email.body
        assert (
            "After 3 December 2026 there is a grace period until 2 January 2027; "
            "renewing after that adds a late fee of KES 1,000."
        ) in email.body
        assert sms.body == (
            f"Kalda-Tech Society: your membership {member.membership_number} ends in 7 days, on 3 Dec 2026. "
            "Renew for KES 3,000: https://members.example.org/payments/pay/"
        )

    def test_the_end_date_and_the_day_before_say_today_and_tomorrow(self):
        member = member_ending(TODAY)
        assert render(member, "ended", TODAY)[0].subject == "Your Kalda-Tech Society membership ends today"
        assert render(member, "due_1", TODAY - day)[0].subject == "Your Kalda-Tech Society membership ends tomorrow"

    def test_a_late_end_date_notice_counts_down_the_grace_period(self):
        member = member_ending(TODAY - datetime.timedelta(days=3), status=Status.GRACE)
        email, sms = render(member, "ended", TODAY)
        assert "You are in the grace period until 23 December 2026." in email.body
        assert "Renew by 23 December 2026 to avoid the late fee of KES 1,000." in email.body
        assert "by 23 Dec to avoid a late fee" in sms.body

    def test_without_grace_days_the_messages_mention_no_grace_period(self, no_grace):
        member = member_ending(TODAY + datetime.timedelta(days=7), category="no-grace")
        email, _ = render(member, "due_7", TODAY)
        assert "grace" not in email.body
        assert "Renewing after 3 December 2026 adds a late fee of KES 300." in email.body
        expired = member_ending(TODAY - day, category="no-grace", status=Status.EXPIRED)
        email, sms = render(expired, "grace_ended", TODAY)
        assert "grace" not in email.body
        assert "Your period ended on 25 November 2026." in email.body
        assert "Renew for KES 1,300 incl. late fee:" in sms.body

    def test_the_expiry_notice_includes_the_late_fee(self):
        member = member_ending(TODAY - datetime.timedelta(days=31), status=Status.EXPIRED)
        email, sms = render(member, "grace_ended", TODAY)
        assert email.subject == "Your Kalda-Tech Society membership has expired"
        assert "KES 4,000 (the renewal fee of KES 3,000 plus the late fee of KES 1,000)" in email.body
        assert sms.body == (
            f"Kalda-Tech Society: your membership {member.membership_number} has expired. "
            "Renew for KES 4,000 incl. late fee: https://members.example.org/payments/pay/"
        )


# --- Command, task and schedule ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_command_runs_both_jobs_for_a_date_and_prints_counts():
    on = datetime.date(2026, 3, 10)
    member_ending(on + datetime.timedelta(days=7))
    member_ending(on - day)
    out = StringIO()
    call_command("run_lifecycle_jobs", "--date", "2026-03-10", stdout=out)
    assert out.getvalue().splitlines() == [
        "lifecycle jobs for 2026-03-10",
        "lapsed: 1 to grace, 0 to expired, 0 skipped",
        "reminders: 2 sent (30 days 0, 7 days 1, 1 day 0, end date 1, grace ended 0), 0 already sent",
    ]
    out = StringIO()
    call_command("run_lifecycle_jobs", "--date", "2026-03-10", stdout=out)
    assert "lapsed: 0 to grace, 0 to expired" in out.getvalue()
    assert "reminders: 0 sent" in out.getvalue()


@pytest.mark.django_db
def test_the_command_defaults_to_today():
    member = member_ending(timezone.localdate() + day)
    out = StringIO()
    call_command("run_lifecycle_jobs", stdout=out)
    assert f"lifecycle jobs for {timezone.localdate()}" in out.getvalue()
    assert reminders_of(member) == [(member.period_end, "due_1")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"), [("2026-13-01", "use YYYY-MM-DD"), ("tomorrow", "use YYYY-MM-DD"), ("future", "future")]
)
def test_the_command_refuses_a_bad_or_future_date(value, message):
    if value == "future":
        value = str(timezone.localdate() + day)
    with pytest.raises(CommandError, match=message):
        call_command("run_lifecycle_jobs", "--date", value, stdout=StringIO())


@pytest.mark.django_db
def test_the_task_runs_both_jobs_for_today():
    from members.tasks import run_lifecycle_jobs

    lapsing = member_ending(timezone.localdate() - day)
    result = run_lifecycle_jobs.delay().get()
    assert result["lapsed"]["grace"] == 1
    assert result["reminders"]["ended"] == 1
    assert status_of(lapsing) == Status.GRACE


def test_beat_runs_the_lifecycle_jobs_daily_at_six_nairobi_time(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["run-lifecycle-jobs"]
    assert entry["task"] == "members.run_lifecycle_jobs"
    assert entry["schedule"] == crontab(hour=6, minute=0)
    assert settings.CELERY_TIMEZONE == "Africa/Nairobi"


# --- Concurrency (PostgreSQL) -----------------------------------------------------------------------------


def concurrency_batch(today, no_grace):
    """20 members around `today`: 18 reminders due, 8 status changes due, 2 members to leave alone."""
    plan = [
        *[(today + datetime.timedelta(days=30), Status.ACTIVE, "full")] * 3,  # due_30
        *[(today + datetime.timedelta(days=7), Status.ACTIVE, "full")] * 3,  # due_7
        *[(today + day, Status.ACTIVE, "full")] * 2,  # due_1
        *[(today, Status.ACTIVE, "full")] * 2,  # ended
        *[(today - day, Status.ACTIVE, "full")] * 3,  # -> grace, and ended
        *[(today - datetime.timedelta(days=31), Status.GRACE, "full")] * 3,  # -> expired, and grace_ended
        *[(today - day, Status.ACTIVE, no_grace.code)] * 2,  # -> expired, and grace_ended
        (None, Status.ACTIVE, "life"),
        (today - datetime.timedelta(days=31), Status.SUSPENDED, "full"),
    ]
    return [member_ending(end, status=status, category=category) for end, status, category in plan]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_reminder_once_and_change_each_status_once(monkeypatch):
    """Four workers run both jobs at the same instant, three times over: every reminder is logged, queued
    and handed to notify_member exactly once, and every status change is made and audited exactly once."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "Concurrency needs PostgreSQL row locks: set DATABASE_URL=postgres://... (SQLite serialises writers)."
        )
    load_reference_data()
    no_grace = MembershipCategory.objects.create(
        code="no-grace", name="No grace", registration_fee=1000, renewal_fee=1000, period_months=12, grace_days=0
    )
    notified = []
    lock = threading.Lock()
    real_notify = lifecycle.notify_member

    def counting_notify(member, **kwargs):
        with lock:
            notified.append(kwargs["dedupe_key_base"])
        return real_notify(member, **kwargs)

    monkeypatch.setattr(lifecycle, "notify_member", counting_notify)

    for trial in range(3):
        today = datetime.date(2027, 1, 10) + datetime.timedelta(days=200 * trial)
        batch = concurrency_batch(today, no_grace)
        ids = [m.pk for m in batch]
        notified.clear()
        results = []

        def worker(today=today, results=results):
            lapsed = membership_expire_lapsed(today=today)
            reminders = renewal_reminders_send(today=today)
            with lock:
                results.append((lapsed, reminders))

        assert run_together([worker] * 4) == []

        logs = ReminderLog.objects.filter(member_id__in=ids)
        assert logs.count() == 18
        assert sorted(logs.values_list("kind", flat=True)) == sorted(
            ["due_30"] * 3 + ["due_7"] * 3 + ["due_1"] * 2 + ["ended"] * 5 + ["grace_ended"] * 5
        )
        batch_keys = {f"reminder:{log.member_id}:{log.period_end}:{log.kind}" for log in logs}
        assert sorted(notified) == sorted(batch_keys)  # each handed to notify_member once
        assert sum(reminders.sent for _, reminders in results) == 18
        messages = Message.objects.filter(user__member__in=ids, dedupe_key__startswith="reminder:")
        assert messages.count() == 36  # an email and an SMS each

        audits = AuditLog.objects.filter(
            action=AuditLog.Action.STATUS_CHANGED, target_id__in=[str(pk) for pk in ids]
        ).values_list("target_id", flat=True)
        assert len(audits) == len(set(audits)) == 8
        statuses = sorted(Member.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses == sorted(["active"] * 11 + ["grace"] * 3 + ["expired"] * 5 + ["suspended"])
