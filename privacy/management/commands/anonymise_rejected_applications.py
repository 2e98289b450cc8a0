from django.conf import settings
from django.core.management.base import BaseCommand

from privacy.erasure import anonymise_rejected_applications, rejected_applications_due


class Command(BaseCommand):
    help = (
        "Anonymise rejected applications older than REJECTED_APPLICATION_RETENTION_DAYS (what the daily "
        "Celery beat job does). Safe to run while the job runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the applications that are due.")

    def handle(self, *args, dry_run=False, **options):
        days = settings.REJECTED_APPLICATION_RETENTION_DAYS
        if dry_run:
            count = rejected_applications_due().count()
            self.stdout.write(f"{count} rejected application(s) older than {days} days would be anonymised.")
            return
        summary = anonymise_rejected_applications()
        self.stdout.write(
            self.style.SUCCESS(f"Anonymised {summary.anonymised} rejected application(s) older than {days} days.")
        )
        if summary.waiting_for_payment:
            self.stdout.write(
                f"{summary.waiting_for_payment} left for the next run: "
                "an M-Pesa payment is still waiting for its answer."
            )
