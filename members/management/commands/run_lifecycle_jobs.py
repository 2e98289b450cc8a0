import argparse
import datetime

from django.core.management import BaseCommand, CommandError
from django.utils import timezone

from members.lifecycle import membership_lifecycle_run


class Command(BaseCommand):
    help = (
        "Lapse members past their end date or grace period, then send renewal reminders: what the daily "
        "job does. Safe to run again; days the job missed are caught up without --date."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            type=_parse_date,
            help="Act as if today were this day (YYYY-MM-DD), e.g. on a copy of the data. Not in the future.",
        )

    def handle(self, *args, date=None, **options):
        today = timezone.localdate()
        if date is not None and date > today:
            # Members would lapse, and be told they had, before their time.
            raise CommandError(f"--date {date} is in the future (today is {today}).")
        report = membership_lifecycle_run(today=date or today)
        lapsed, reminders = report.lapsed, report.reminders
        self.stdout.write(f"lifecycle jobs for {report.today}")
        self.stdout.write(f"lapsed: {lapsed.grace} to grace, {lapsed.expired} to expired, {lapsed.skipped} skipped")
        self.stdout.write(
            f"reminders: {reminders.sent} sent (30 days {reminders.due_30}, 7 days {reminders.due_7}, "
            f"1 day {reminders.due_1}, end date {reminders.ended}, grace ended {reminders.grace_ended}), "
            f"{reminders.skipped} already sent"
        )


def _parse_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"use YYYY-MM-DD, not {value!r}") from None
