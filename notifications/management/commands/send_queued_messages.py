import datetime

from django.core.management.base import BaseCommand, CommandError

from notifications.services import messages_redeliver


class Command(BaseCommand):
    help = (
        "Deliver emails and SMS still queued after N minutes (the worker or broker was down), and requeue "
        "those a stopped worker left half-sent. Safe to run from cron while workers run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--minutes", type=int, default=10, help="Only messages idle at least this long. Default: 10"
        )
        parser.add_argument("--limit", type=int, default=500, help="At most this many messages. Default: 500")

    def handle(self, *args, minutes, limit, **options):
        if minutes < 0 or limit < 1:
            raise CommandError("--minutes must be 0 or more and --limit 1 or more.")
        report = messages_redeliver(older_than=datetime.timedelta(minutes=minutes), limit=limit)
        self.stdout.write(
            f"Sent {report.sent}, failed {report.failed}, still queued {report.still_queued}, "
            f"skipped {report.skipped} (another worker had them)."
        )
