"""Bulk writing of demo data: reserve ids, generate batches (demo.histories), write them with COPY
(PostgreSQL) or bulk_create, keep the yearly counters ahead of every number used, and on big loads drop and
rebuild the indexes in the same transaction.
"""

from __future__ import annotations

import random
import sys
import time
import zoneinfo
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.roles import MEMBER
from core.models import YearlyCounter
from members.models import Country, Member, MembershipCategory, Region
from members.search import member_search_text
from payments.models import Payment

from .histories import (
    RECEIPT_PREFIX,
    YEARS,
    Batch,
    DemoData,
    Sequences,
    Stats,
    finish_payment,
    first_free,
    generated_batches,
)
from .identifiers import TakenValues
from .reference import reference_data_load

# Every generated member's password. Documented in bench/README.md; demo data only.
DEMO_PASSWORD = "demo-member-2026"  # noqa: S105


# --- Writing -------------------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, total, label, stream=None, enabled=True):
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.started = self.last = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.next_tenth = 1

    def update(self, done, extra=""):
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done >= self.total
        if self.tty:
            if now - self.last < 0.2 and not finished:
                return
        elif not finished and done * 10 < self.next_tenth * self.total:
            return
        self.next_tenth = done * 10 // max(self.total, 1) + 1
        self.last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        fraction = done / self.total if self.total else 1.0
        bar = "#" * int(30 * fraction) + "-" * (30 - int(30 * fraction))
        line = (
            f"{self.label} [{bar}] {fraction:4.0%} {done:,}/{self.total:,} {rate:,.0f}/s "
            f"elapsed {elapsed:,.0f}s ETA {eta:,.0f}s {extra}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _attnames(model):
    return [f.attname for f in model._meta.concrete_fields]


class Writer:
    """Inserts rows (dicts keyed by attname) into a model's table; fields a row lacks take their default."""

    def __init__(self, models):
        self.seconds: dict[str, float] = {}  # time spent writing, per table
        self.columns = {}
        for model in models:
            fields = model._meta.concrete_fields
            defaults = {}
            for f in fields:
                defaults[f.attname] = f.get_default if f.has_default() and callable(f.default) else f.get_default()
            self.columns[model] = ([f.attname for f in fields], [f.column for f in fields], defaults)

    def _layout(self, model, rows):
        """Attnames and columns to write: the primary key is left to the database when rows do not carry it."""
        attnames, columns, defaults = self.columns[model]
        pk = model._meta.pk.attname
        if rows and pk not in rows[0]:
            keep = [i for i, name in enumerate(attnames) if name != pk]
            attnames, columns = [attnames[i] for i in keep], [columns[i] for i in keep]
        return attnames, columns, defaults

    def _values(self, attnames, defaults, rows):
        for row in rows:
            values = []
            for name in attnames:
                if name in row:
                    values.append(row[name])
                else:
                    default = defaults[name]
                    values.append(default() if callable(default) else default)
            yield values

    def write(self, model, rows):
        started = time.monotonic()
        self._write(model, rows)
        self.seconds[model._meta.db_table] = self.seconds.get(model._meta.db_table, 0.0) + time.monotonic() - started

    def _write(self, model, rows):
        raise NotImplementedError


class CopyWriter(Writer):
    """PostgreSQL COPY FROM STDIN (psycopg 3): several times faster than INSERT."""

    def _write(self, model, rows):
        if not rows:
            return
        attnames, columns, defaults = self._layout(model, rows)
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for values in self._values(attnames, defaults, rows):
                copy.write_row(values)


class OrmWriter(Writer):
    """bulk_create, for any database (and for comparing with COPY)."""

    def __init__(self, models, batch_size):
        super().__init__(models)
        self.batch_size = batch_size

    def _write(self, model, rows):
        attnames, _, defaults = self._layout(model, rows)
        objects = [
            model(**dict(zip(attnames, values, strict=True))) for values in self._values(attnames, defaults, rows)
        ]
        model.objects.bulk_create(objects, batch_size=self.batch_size)


@contextmanager
def _explicit_timestamps(*models):
    """bulk_create runs pre_save, which stamps auto_now/auto_now_add fields with the current time; the
    generated history brings its own timestamps, so switch that off while inserting."""
    saved = []
    for model in models:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                saved.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def reserve_ids(model, count: int) -> int:
    """Reserve `count` consecutive primary keys and return the first. On PostgreSQL the sequence is moved
    past them at once, so rows inserted meanwhile by the running site take other ids."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The table name comes from the model.
            sql = (
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
                "GREATEST(nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1, "
                f"(SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}) + %s))"
            )
            cursor.execute(sql, [table, table, count, count])
            return cursor.fetchone()[0] - count + 1
    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


# --- The run -------------------------------------------------------------------------------------------


class ReferenceDataMissing(Exception):
    pass


@dataclass
class Report:
    method: str
    stats: Stats
    elapsed: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    deferred: list[tuple[str, str]] = field(default_factory=list)  # (what, SQL) rebuilt after the load


def resolve_method(method: str) -> str:
    """auto means COPY on PostgreSQL and bulk_create elsewhere."""
    if method == "auto":
        return "copy" if connection.vendor == "postgresql" else "orm"
    return method


def demo_data_generate(
    *,
    count: int,
    seed: int,
    batch_size: int = 10_000,
    method: str = "copy",
    defer_indexes: str = "auto",
    analyze: bool = True,
    verbosity: int = 1,
    log=None,
) -> Report:
    """Add `count` demo members with their histories in one transaction. `log` (a stream with write())
    receives the progress bar and, above verbosity 0, what is being rebuilt."""
    verbose = verbosity > 0
    log = log or sys.stderr
    reference_data_load()
    categories = list(MembershipCategory.objects.order_by("pk"))
    regions = list(Region.objects.all())
    countries = set(Country.objects.values_list("pk", flat=True))
    if "KE" not in countries:
        raise ReferenceDataMissing("Kenya (KE) is missing from the countries reference data.")
    member_group = Group.objects.get_or_create(name=MEMBER)[0]

    started = time.monotonic()
    password_hash = make_password(DEMO_PASSWORD)  # once: hashing is slow by design
    User = get_user_model()
    Through = User.groups.through
    pre_existing = User.objects.exists()
    now = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(settings.TIME_ZONE))
    report = Report(method=method, stats=Stats())
    stats, timings = report.stats, report.timings

    with transaction.atomic():
        seq = _lock_sequences(now)
        # A different stream per run (after the last id), the same for the same seed and database state.
        anchor = (Member.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        rng = random.Random(f"{seed}:{anchor}")  # noqa: S311 - demo data, not secrets
        data = DemoData(
            rng=rng,
            now=now,
            count=count,
            categories=categories,
            regions=regions,
            countries=countries,
            password_hash=password_hash,
            member_group_id=member_group.pk,
            seq=seq,
            taken=None,
        )
        first_user, first_member = reserve_ids(User, count), reserve_ids(Member, count)
        data.taken = _taken_values(first_member, count)
        if connection.vendor == "postgresql":
            # Check foreign keys row by row as they arrive: Django's are DEFERRABLE INITIALLY DEFERRED, and
            # millions of deferred checks queue up in the server's memory (and block CREATE INDEX).
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            if _defer(defer_indexes, count, method):
                report.deferred = _drop_indexes_and_foreign_keys([User, Through, Member, Payment])
        writer = (
            CopyWriter([User, Member, Payment, Through])
            if method == "copy"
            else OrmWriter([User, Member, Payment, Through], batch_size=min(batch_size, 2000))
        )
        progress = Progress(count, "members", stream=getattr(log, "_out", log), enabled=verbose)
        done = 0
        with _explicit_timestamps(User, Member, Payment):
            for batch in generated_batches(data, count, batch_size, first_user, first_member, stats):
                _write_batch(data, writer, batch, User, Through, pre_existing)
                done += len(batch.members)
                progress.update(done, f"payments {stats.payments:,}")
        timings["insert"] = time.monotonic() - started
        timings.update({f"  writing {table}": seconds for table, seconds in writer.seconds.items()})
        _save_sequences(seq)
        if report.deferred:
            rebuild = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                if verbose:
                    log.write(f"Rebuilding {len(report.deferred)} indexes, unique constraints and foreign keys\n")
                for name, definition in report.deferred:
                    if verbosity > 1:
                        log.write(f"  {name}\n")
                    cursor.execute(definition)
            timings["indexes and foreign keys"] = time.monotonic() - rebuild
    timings["commit"] = time.monotonic() - started
    if connection.vendor == "postgresql" and analyze:
        analyse = time.monotonic()
        # VACUUM too (not possible inside a transaction, e.g. a test's): it sets the visibility map, as
        # autovacuum would later, so that counts can use index-only scans from the start.
        statement = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for model in (User, Through, Member, Payment, YearlyCounter):
                cursor.execute(f"{statement} {connection.ops.quote_name(model._meta.db_table)}")
        timings[statement.lower().replace("(", "").replace(")", "")] = time.monotonic() - analyse
    report.elapsed = time.monotonic() - started
    return report


def _defer(choice, count, method):
    if choice == "no" or method != "copy":
        return False
    if choice == "yes":
        return True
    existing = Member.objects.count()
    return count >= 50_000 and count >= existing


def _drop_indexes_and_foreign_keys(models):
    """Drop every index but the primary keys, the unique constraints and the foreign keys of the tables
    being loaded, and return what re-creates them: PostgreSQL's advice for bulk loads ("Populating a
    Database"). Building an index once is much faster than updating it row by row (the unique ones are
    checked when they are built), and re-adding a foreign key checks every row in one join instead of one
    lookup per row. All in the load's transaction: a failure puts everything back as it was."""
    quote = connection.ops.quote_name
    drops, constraints, indexes, foreign_keys = [], [], [], []
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype IN ('f', 'u') AND conrelid = %s::regclass ORDER BY contype, conname",
                [table],
            )
            for name, kind, definition in cursor.fetchall():
                drops.append(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                add = f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}"
                (foreign_keys if kind == "f" else constraints).append((f"constraint {name}", add))
            cursor.execute(
                """
                SELECT c.relname, pg_get_indexdef(i.indexrelid)
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
                ORDER BY c.relname
                """,
                [table],
            )
            for name, definition in cursor.fetchall():
                drops.append(f"DROP INDEX {quote(name)}")
                indexes.append((f"index {name}", definition))
        for statement in drops:
            cursor.execute(statement)
    return constraints + indexes + foreign_keys


def _lock_sequences(now) -> Sequences:
    """Lock the counter rows of every year the history can touch (real approvals wait for the run), and
    continue from the larger of the counter and the largest number already used that year."""
    prefix = settings.MEMBERSHIP_NUMBER_PREFIX
    years = range(now.year - YEARS - 1, now.year + 1)
    seq = Sequences(prefix=prefix)
    for counter_prefix, target, model, column in (
        (prefix, seq.numbers, Member, "membership_number"),
        (RECEIPT_PREFIX, seq.receipts, Payment, "receipt_number"),
    ):
        YearlyCounter.objects.bulk_create(
            [YearlyCounter(prefix=counter_prefix, year=y, last_value=0) for y in years], ignore_conflicts=True
        )
        counters = YearlyCounter.objects.select_for_update().filter(prefix=counter_prefix, year__in=list(years))
        for counter in counters:
            target[counter.year] = counter.last_value
        used = _largest_used(model, column, counter_prefix)
        for year, value in used.items():
            target[year] = max(target.get(year, 0), value)
        for year in years:
            target.setdefault(year, 0)
    return seq


def _largest_used(model, column, prefix) -> dict[int, int]:
    """{year: largest number} among '<prefix>-<year>-<n>' values in the table (normally the counter's)."""
    table, col = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(column)
    start = len(prefix) + 2  # 1-based position of the year
    with connection.cursor() as cursor:
        # Table and column names come from the model.
        sql = (
            f"SELECT SUBSTR({col}, {start}, 4), MAX(CAST(SUBSTR({col}, {start + 5}) AS INTEGER)) "  # noqa: S608
            f"FROM {table} WHERE {col} LIKE %s ESCAPE '\\' GROUP BY SUBSTR({col}, {start}, 4)"
        )
        cursor.execute(sql, [prefix.replace("%", r"\%").replace("_", r"\_") + "-____-%"])
        return {int(year): int(value) for year, value in cursor.fetchall() if year.isdigit() and value is not None}


def _save_sequences(seq: Sequences):
    for counter_prefix, values in ((seq.prefix, seq.numbers), (RECEIPT_PREFIX, seq.receipts)):
        for year, value in values.items():
            YearlyCounter.objects.filter(prefix=counter_prefix, year=year, last_value__lt=value).update(
                last_value=value
            )


def _write_batch(data: DemoData, writer, batch, User, Through, pre_existing):
    if pre_existing:
        _avoid_existing_emails(batch)
    payments = batch.payments
    first_payment = reserve_ids(Payment, len(payments)) if payments else 0
    for offset, payment in enumerate(payments):
        finish_payment(payment, first_payment + offset, data.banks)
    writer.write(User, batch.users)
    writer.write(Through, [{"user_id": u["id"], "group_id": data.member_group_id} for u in batch.users])
    writer.write(Member, batch.members)
    writer.write(Payment, payments)


def _taken_values(first_member, count) -> TakenValues:
    """One pass over the members already there (none on a first run)."""
    taken = TakenValues(first_member, count)
    rows = Member.objects.order_by().values_list("phone_number", "id_type", "id_number")
    for phone, id_type, id_number in rows.iterator(chunk_size=20_000):
        taken.add("phone", phone)
        if id_type in TakenValues.SPACES:
            taken.add(id_type, id_number)
    return taken


def _avoid_existing_emails(batch: Batch):
    """Emails carry the new user's id, so they never repeat generated ones; a hand-made account may
    hold one anyway (the unique index answers quickly)."""
    User = get_user_model()
    emails = [u["email"] for u in batch.users]
    taken = set()
    for start in range(0, len(emails), 2000):
        chunk = emails[start : start + 2000]
        taken.update(User.objects.filter(email__in=chunk).values_list("email", flat=True))
    if not taken:
        return
    members = {m["user_id"]: m for m in batch.members}
    for user in batch.users:
        if user["email"] not in taken:
            continue
        local, domain = user["email"].split("@")
        user["email"] = first_free(
            (f"{local}x{n}@{domain}" for n in range(1, 1000)),
            lambda value: User.objects.filter(email=value).exists(),
        )
        member = members[user["id"]]
        member["search_text"] = member_search_text(
            SimpleNamespace(
                user=SimpleNamespace(first_name=user["first_name"], last_name=user["last_name"], email=user["email"]),
                other_names=member["other_names"],
                membership_number=member["membership_number"],
                id_number=member["id_number"],
                phone_number=member["phone_number"],
            )
        )
