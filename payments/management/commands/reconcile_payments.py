from django.core.management import BaseCommand

from payments.services import reconcile_stale_payments


class Command(BaseCommand):
    help = "Query Daraja for M-Pesa payments still pending and resolve them (what the periodic job does)."

    def handle(self, *args, **options):
        summary = reconcile_stale_payments()
        self.stdout.write(
            f"checked {summary.checked}: completed {summary.completed}, failed {summary.failed}, "
            f"timed out {summary.timed_out}, still pending {summary.still_pending}, errors {summary.errors}"
        )
