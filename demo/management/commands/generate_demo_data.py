"""Realistic demo members, periods and payments in bulk: `python manage.py generate_demo_data --members N`.

For trying the staff pages and for the benchmarks (bench/staff.py): a million members and about three
million payments take a few minutes on PostgreSQL (COPY), small numbers work anywhere (bulk_create).

What it makes, as the services would have left it:

- users with Kenyan names (Kikuyu, Luhya, Kalenjin, Luo, Kamba, Kisii, Meru, coastal/Swahili and Somali
  names, mostly with an English/Christian first name), mostly in the county their name is common in; a
  small share from other East African countries; all in the Member group, all with the password
  DEMO_PASSWORD (hashed once, the hash reused);
- applications spread over the last five years (more recently than long ago), decided 1-90 days later:
  pending, approved (fee unpaid), rejected, or approved and paid, i.e. active; active members renew on
  time, late (in grace, or after it with the late fee) or stop, so today they are active, in grace or
  expired exactly as `run_lifecycle_jobs` would have left them; a few are suspended;
- membership numbers <PREFIX>-<YEAR>-<NNNN> (roughly in approval order: members are made in order of
  application), receipt numbers RCT-<YEAR>-<NNNNNN> (gapless per year, but in the order members are made,
  not strictly by payment date), and core's YearlyCounter rows advanced past both, so real approvals and
  payments made afterwards continue the sequences;
- payments: a completed registration payment for every member whose fee is paid, one renewal payment per
  renewal, mostly M-Pesa (unique 10-character M-Pesa receipts) and some cash, cheque and bank transfers
  (unique external references); failed, cancelled and timed-out attempts before some of them, and a few
  still pending;
- `search_text` computed with members.search.member_search_text.

Not made: documents (there are no files to point at), audit-trail entries, notifications, reminders.

Unique values (email, phone, ID number, M-Pesa receipt, CheckoutRequestID, cash/cheque/bank references) are
derived from the row's primary key through bijections, and the run reserves its keys from the sequences
first, so a second run never collides with the first; phones, ID numbers and emails that hand-made rows
already hold are skipped. Tokens are random (the random stream differs per run). Deterministic for a given
--seed and database state (and today's date). Refuses to run when DEBUG is off unless --force: demo data.

The work is in the demo package (see demo/__init__.py for its parts); this command reads the options.
"""

from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.db import connection

from demo.generate import DEMO_PASSWORD, ReferenceDataMissing, Report, demo_data_generate, resolve_method


class Command(BaseCommand):
    help = (
        "Add N realistic demo members with their periods and payments (bulk: COPY on PostgreSQL). "
        f"Every generated account's password is {DEMO_PASSWORD!r}."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1000, help="How many members to add (default 1000).")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")
        parser.add_argument("--batch-size", type=int, default=10_000, help="Members per insert batch.")
        parser.add_argument(
            "--method",
            choices=["auto", "copy", "orm"],
            default="auto",
            help="copy: PostgreSQL COPY; orm: bulk_create; auto: copy on PostgreSQL, else orm.",
        )
        parser.add_argument(
            "--defer-indexes",
            choices=["auto", "yes", "no"],
            default="auto",
            help="Drop the non-unique indexes of the three big tables during the load and rebuild them after, "
            "in the same transaction (PostgreSQL; auto: when the load at least doubles the members table "
            "and adds 50,000 or more).",
        )
        parser.add_argument("--no-analyze", action="store_true", help="Skip VACUUM ANALYZE afterwards.")
        parser.add_argument("--force", action="store_true", help="Run even when DEBUG is off.")

    def handle(self, *args, **options):
        count = options["members"]
        if count < 1:
            raise CommandError("--members must be at least 1.")
        if not settings.DEBUG and not options["force"]:
            raise CommandError("This adds demo members and payments; DEBUG is off. Add --force if you mean it.")
        method = resolve_method(options["method"])
        if method == "copy" and connection.vendor != "postgresql":
            raise CommandError("--method copy needs PostgreSQL.")
        try:
            report = demo_data_generate(
                count=count,
                seed=options["seed"],
                batch_size=max(1, options["batch_size"]),
                method=method,
                defer_indexes=options["defer_indexes"],
                analyze=not options["no_analyze"],
                verbosity=options["verbosity"],
                log=self.stderr,
            )
        except ReferenceDataMissing as error:
            raise CommandError(str(error)) from error
        if options["verbosity"] > 0:
            self._report(report)

    def _report(self, report: Report):
        out, stats, elapsed, deferred = self.stdout, report.stats, report.elapsed, report.deferred
        out.write(
            f"Added {stats.members:,} members and {stats.payments:,} payments in {elapsed:,.1f}s "
            f"({stats.members / elapsed:,.0f} members/s; method {report.method}"
            + (f", {len(deferred)} indexes, unique constraints and foreign keys rebuilt" if deferred else "")
            + ")."
        )
        out.write("  " + ", ".join(f"{k} {v:,.1f}s" for k, v in report.timings.items()))
        out.write(
            "  members: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.statuses.items(), key=lambda kv: -kv[1]))
        )
        out.write(
            "  payments: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.payment_statuses.items(), key=lambda kv: -kv[1]))
        )
        out.write(self.style.SUCCESS(f"Every generated member can log in with the password {DEMO_PASSWORD!r}."))
