from django.core.management import BaseCommand

from payments.services import callback_recover


class Command(BaseCommand):
    help = (
        "Store and apply the M-Pesa callbacks kept in MPESA_CALLBACK_SPOOL_DIR during a database outage, then "
        "stored callbacks left unprocessed (what the periodic job does; run it on each machine that has a spool)."
    )

    def handle(self, *args, **options):
        summary = callback_recover()
        self.stdout.write(
            f"replayed {summary['replayed']}, already stored {summary['already_stored']}, "
            f"push answers {summary['push_answers']}, C2B confirmations {summary['c2b_replayed']}, "
            f"quarantined {summary['quarantined']}, "
            f"still in the spool {summary['remaining']}; stored callbacks applied {summary['backlog_processed']}, "
            f"stored C2B processed {summary['c2b_backlog_processed']}"
        )
        if summary["remaining"] or summary["quarantined"]:
            self.stderr.write("Some spooled deliveries were not replayed: see the log and /healthz.")
