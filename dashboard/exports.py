"""Exports of the staff member list to CSV and Excel, with flat memory at any size.

The pieces are plain functions so the views, the background task and benchmark scripts share them::

    from dashboard.exports import filtered_member_queryset, member_export_rows, stream_csv, write_csv, write_xlsx

    queryset = filtered_member_queryset(request.GET)          # the list's MemberFilter; InvalidExportFilter if bad
    rows = member_export_rows(queryset)                       # tuples of str, one per member, in HEADERS order
    response = StreamingHttpResponse(stream_csv(rows))        # or:
    count = write_csv(rows, open(path, "w", encoding="utf-8-sig", newline=""))
    count = write_xlsx(rows, path)                            # a new sheet every SHEET_MAX_ROWS rows

`member_export_rows` reads only the needed columns (`values_list`) through one server-side cursor,
EXPORT_CHUNK_SIZE rows a round trip, inside one transaction (one consistent snapshot). On PostgreSQL the
server prints the dates as text in the local time zone (Django's per-value Python loader for `timestamptz`
would cost more than the rest of the export together) and a helper thread fetches the next chunk while
Python formats this one; elsewhere (SQLite) Django's iterator reads the rows and Python formats the dates,
with the same result. Every text cell that a spreadsheet would read as a formula (starting with = + - @,
tab or carriage return) gets a leading apostrophe, in both formats. CSV output is exactly what the csv
module writes (`iter_csv_text`).

Measured on 1,000,000 members (PostgreSQL 15, 2 busy shared cores): the CSV took 1.5-2 times as long as
`COPY (the same query) TO STDOUT WITH CSV`; a whole streamed request in a fresh process peaked at about
115 MB RSS (70 MB before it), the same for 375,000 rows as for 1,000,000. Excel is slower (XlsxWriter:
about 3 minutes for 1,000,000 rows on that machine) and always runs in the background at that size.

All values are text: dates and times are ISO 8601 in TIME_ZONE (Africa/Nairobi), e.g.
2026-01-15T10:30:00+03:00 and 2026-01-15; empty cells are "".
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
import os
import queue
import tempfile
import threading
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

import xlsxwriter
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connections, transaction
from django.db.models import CharField, F, Func, Q, QuerySet
from django.http import QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.transitions import TransitionTable
from members.filters import MemberFilter, member_list_queryset
from members.models import Member
from notifications.models import Message
from notifications.services import message_queue, notification_create

from .models import EXPORTS_DIRECTORY, ExportJob

# --- Columns ------------------------------------------------------------------------------------------------

HEADERS: tuple[str, ...] = (
    "Membership number",
    "First name",
    "Other names",
    "Last name",
    "Email",
    "Phone",
    "ID type",
    "ID number",
    "Category",
    "Status",
    "Country",
    "Region",
    "Applied at",
    "Approved at",
    "Period start",
    "Period end",
    "Registration paid at",
)
# The Member lookups read for HEADERS, in the same order (`_format_rows` unpacks them by position).
FIELDS: tuple[str, ...] = (
    "membership_number",
    "user__first_name",
    "other_names",
    "user__last_name",
    "user__email",
    "phone_number",
    "id_type",
    "id_number",
    "category__name",
    "status",
    "country__name",
    "region__name",
    "applied_at",
    "approved_at",
    "period_start",
    "period_end",
    "registration_paid_at",
)
DATETIME_FIELDS = ("applied_at", "approved_at", "registration_paid_at")
DATE_FIELDS = ("period_start", "period_end")
# Excel column widths (characters), one per header.
COLUMN_WIDTHS = (18, 14, 14, 14, 28, 14, 12, 14, 18, 16, 12, 16, 26, 26, 12, 12, 26)

# Rows fetched per round trip (server-side cursor), and CSV rows per streamed chunk.
EXPORT_CHUNK_SIZE = 2000
# Excel's limit, header row included. Module-level so tests can patch it small to prove the split.
SHEET_MAX_ROWS = 1_048_576
SHEET_NAME = "Members"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel reads a UTF-8 CSV as UTF-8 (names like Wanjirũ) only when it starts with a byte order mark.
UTF8_BOM = "\ufeff"

# --- Formula (CSV) injection ------------------------------------------------------------------------------

# OWASP's list: a cell starting with one of these may be run as a formula by Excel, LibreOffice or Sheets.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
_FORMULA_TRIGGER_CHARS = "".join(sorted(FORMULA_TRIGGERS))


def neutralise_formula(value: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would treat as a formula; anything else is unchanged."""
    return "'" + value if value[:1] in FORMULA_TRIGGERS else value


# --- Which members ----------------------------------------------------------------------------------------


class InvalidExportFilter(ValueError):
    """The list's filters do not validate (a bad date, an unknown category): nothing may be exported."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


def filtered_member_queryset(params: Mapping) -> QuerySet[Member]:
    """The members the staff list shows for these GET parameters: exactly `MemberFilter(params,
    queryset=member_list_queryset()).qs`, in the list's order. Unknown parameters (format, page) are
    ignored. Raises InvalidExportFilter, with one message per problem, when a filter does not validate:
    an export of everything is never the answer to a mistyped filter."""
    filterset = MemberFilter(params, queryset=member_list_queryset())
    if not filterset.is_valid():
        form = filterset.form
        messages = []
        for name, errors in form.errors.items():
            field = form.fields.get(name)
            label = field.label if field is not None and field.label else name.replace("_", " ").capitalize()
            messages.extend(str(error) if name == "__all__" else f"{label}: {error}" for error in errors)
        raise InvalidExportFilter(messages)
    return filterset.qs


def count_up_to(queryset: QuerySet, limit: int) -> int:
    """The number of rows, counting no further than `limit` + 1 (a LIMITed subquery, never a full count)."""
    return queryset.order_by().values("pk")[: limit + 1].count()


# --- Rows -------------------------------------------------------------------------------------------------


def member_export_rows(queryset: QuerySet[Member], *, chunk_size: int | None = None) -> Iterator[tuple[str, ...]]:
    """One tuple of strings per member of `queryset`, in its order, columns as HEADERS.

    A generator: nothing is read until it is iterated. It reads `values_list` of the HEADERS columns over
    one server-side cursor, `chunk_size` rows (default EXPORT_CHUNK_SIZE) a round trip, so memory stays
    flat and the number of queries does not grow with the rows. The whole read is one transaction: one
    snapshot. Iterate it to the end, or close it (a streamed response does), in the thread that started it.

    On PostgreSQL the server prints the dates as text in TIME_ZONE and a helper thread fetches the next
    chunk while this one is formatted (the server and Python work at the same time); elsewhere Django's
    iterator reads the rows and Python formats the dates. The output is the same.
    """
    chunk_size = chunk_size or EXPORT_CHUNK_SIZE
    connection = connections[queryset.db]
    tz_name = settings.TIME_ZONE if settings.USE_TZ else None
    with transaction.atomic(using=queryset.db):
        if connection.vendor == "postgresql" and tz_name:
            yield from _postgresql_rows(queryset, connection, tz_name, chunk_size)
        else:
            rows = queryset.values_list(*FIELDS).iterator(chunk_size=chunk_size)
            try:
                yield from _format_rows(_localise(rows, tz_name))
            finally:
                rows.close()


# PostgreSQL prints a timestamp, truncated to the second, in the session's TimeZone (set to TIME_ZONE for the
# read, with DateStyle ISO) as 2026-01-15 10:30:00+03, and a date as 2026-01-15. Text: psycopg hands over a
# str with no Python loader (Django's timestamptz loader would cost more than all the rest of the export),
# and the casts cost the server far less than to_char.
_TIMESTAMP_TEXT = "(date_trunc('second', %(expressions)s))::text"
_DATE_TEXT = "(%(expressions)s)::text"


def _postgresql_columns() -> list:
    columns = []
    for name in FIELDS:
        if name in DATETIME_FIELDS:
            columns.append(Func(F(name), template=_TIMESTAMP_TEXT, output_field=CharField()))
        elif name in DATE_FIELDS:
            columns.append(Func(F(name), template=_DATE_TEXT, output_field=CharField()))
        else:
            columns.append(name)
    return columns


def _postgresql_rows(queryset: QuerySet, connection, tz_name: str, chunk_size: int) -> Iterator[tuple[str, ...]]:
    sql, params = queryset.values_list(*_postgresql_columns()).query.sql_with_params()
    local_settings = {"TimeZone": tz_name, "DateStyle": "ISO, YMD", "cursor_tuple_fraction": "1"}
    with _postgresql_local_settings(connection, local_settings):
        # Django's server-side cursor (DECLARE ... CURSOR, without hold inside this transaction): the
        # statement is executed, logged and counted by Django here, in this thread; the helper thread only
        # fetches. Every column is text, so no converters apply.
        cursor = connection.chunked_cursor()
        try:
            cursor.execute(sql, params)
            fetched = _prefetched(cursor.fetchmany, chunk_size)
            try:
                yield from _format_postgresql_rows(fetched)
            finally:
                fetched.close()  # the helper thread has stopped before the cursor closes
        finally:
            cursor.close()  # before the transaction ends, also when the caller stops early


@contextmanager
def _postgresql_local_settings(connection, values: dict[str, str]):
    """Set PostgreSQL settings for the current transaction only (set_config(..., true), i.e. SET LOCAL) and
    put them back afterwards, in case that transaction is a caller's that goes on. After an error the
    rollback puts them back."""
    names = list(values)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        previous = cursor.fetchone()
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
            [item for name in names for item in (name, values[name])],
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
            [item for name, value in zip(names, previous, strict=True) for item in (name, value)],
        )


# Chunks fetched ahead of the one being formatted: the memory of (PREFETCH_CHUNKS + 1) chunks at most.
PREFETCH_CHUNKS = 2


def _prefetched(fetchmany, size: int) -> Iterator[Sequence]:
    """The rows of repeated `fetchmany(size)` calls, the next chunks fetched by a helper thread while the
    caller works on this one. While psycopg waits for the server it releases the GIL, so the database
    prepares the next rows as Python formats these. The thread stops when the caller stops (end, error, or
    the generator closed early), before the caller goes on to close the cursor."""
    chunks: queue.Queue = queue.Queue(maxsize=PREFETCH_CHUNKS)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def fetch():
        try:
            while not stop.is_set():
                rows = fetchmany(size)
                if not put(rows) or not rows:
                    return
        except BaseException as error:  # handed to the caller's thread, raised there
            put(error)

    thread = threading.Thread(target=fetch, name="member-export-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            rows = chunks.get()
            if isinstance(rows, BaseException):
                raise rows
            if not rows:
                return
            yield from rows
    finally:
        stop.set()
        thread.join()


def _format_postgresql_rows(rows: Iterable[Sequence]) -> Iterator[tuple[str, ...]]:
    """`_format_rows` for PostgreSQL's rows, whose timestamps are still 2026-01-15 10:30:00+03: the same
    work in one loop, because an extra generator per row costs as much as the formatting itself."""
    t = _FORMULA_TRIGGER_CHARS  # `c in str` is faster than a set lookup here
    id_types = dict(Member.IdType.choices)
    statuses = dict(Member.Status.choices)
    iso = _iso_from_postgresql
    for (
        number,
        first,
        other,
        last,
        email,
        phone,
        id_type,
        id_number,
        category,
        status,
        country,
        region,
        applied,
        approved,
        start,
        end,
        paid,
    ) in rows:
        yield (
            "" if number is None else ("'" + number if number and number[0] in t else number),
            "'" + first if first and first[0] in t else first,
            "'" + other if other and other[0] in t else other,
            "'" + last if last and last[0] in t else last,
            "'" + email if email and email[0] in t else email,
            "'" + phone if phone and phone[0] in t else phone,
            id_types.get(id_type) or neutralise_formula(id_type),
            "'" + id_number if id_number and id_number[0] in t else id_number,
            "'" + category if category and category[0] in t else category,
            statuses.get(status) or neutralise_formula(status),
            "'" + country if country and country[0] in t else country,
            "" if region is None else ("'" + region if region and region[0] in t else region),
            # A whole-hour offset (22 characters) is the common case, done inline.
            applied.replace(" ", "T") + ":00" if len(applied) == 22 else iso(applied),
            "" if approved is None else (approved.replace(" ", "T") + ":00" if len(approved) == 22 else iso(approved)),
            start or "",
            end or "",
            "" if paid is None else (paid.replace(" ", "T") + ":00" if len(paid) == 22 else iso(paid)),
        )


def _iso_from_postgresql(text: str) -> str:
    """'2026-01-15 10:30:00+03' -> '2026-01-15T10:30:00+03:00', as Python's isoformat writes it. The offset
    may also be +05:30, or +02:27:16 for dates before standard time; those are written in full."""
    offset = text[19:]
    return f"{text[:10]}T{text[11:19]}{offset}:00" if len(offset) == 3 else f"{text[:10]}T{text[11:19]}{offset}"


def _localise(rows: Iterable[Sequence], tz_name: str | None) -> Iterator[list]:
    """Rows read by Django (aware datetimes, dates) with their dates as ISO 8601 text in `tz_name`."""
    tz = zoneinfo.ZoneInfo(tz_name) if tz_name else None
    datetime_positions = [FIELDS.index(name) for name in DATETIME_FIELDS]
    date_positions = [FIELDS.index(name) for name in DATE_FIELDS]
    for row in rows:
        row = list(row)
        for i in datetime_positions:
            value = row[i]
            if value is not None:
                if tz is not None:
                    value = value.astimezone(tz) if timezone.is_aware(value) else value.replace(tzinfo=tz)
                row[i] = value.isoformat(timespec="seconds")
        for i in date_positions:
            if row[i] is not None:
                row[i] = row[i].isoformat()
        yield row


def _format_rows(rows: Iterable[Sequence]) -> Iterator[tuple[str, ...]]:
    """Turn value rows (dates already text) into output rows: labels for codes, "" for NULL, formulas
    neutralised. Written out column by column because it runs once per member: a million times."""
    t = _FORMULA_TRIGGER_CHARS  # `c in str` is faster than a set lookup here
    id_types = dict(Member.IdType.choices)
    statuses = dict(Member.Status.choices)
    for (
        number,
        first,
        other,
        last,
        email,
        phone,
        id_type,
        id_number,
        category,
        status,
        country,
        region,
        applied,
        approved,
        start,
        end,
        paid,
    ) in rows:
        yield (
            "" if number is None else ("'" + number if number and number[0] in t else number),
            "'" + first if first and first[0] in t else first,
            "'" + other if other and other[0] in t else other,
            "'" + last if last and last[0] in t else last,
            "'" + email if email and email[0] in t else email,
            "'" + phone if phone and phone[0] in t else phone,
            id_types.get(id_type) or neutralise_formula(id_type),
            "'" + id_number if id_number and id_number[0] in t else id_number,
            "'" + category if category and category[0] in t else category,
            statuses.get(status) or neutralise_formula(status),
            "'" + country if country and country[0] in t else country,
            "" if region is None else ("'" + region if region and region[0] in t else region),
            applied or "",
            approved or "",
            start or "",
            end or "",
            paid or "",
        )


# --- CSV --------------------------------------------------------------------------------------------------


def iter_csv_text(
    rows: Iterable[Sequence], *, headers: Sequence[str] | None = HEADERS, chunk_rows: int | None = None, stats=None
) -> Iterator[str]:
    """CSV text (Excel dialect: comma, double quotes when needed, CRLF), in chunks of `chunk_rows` rows.

    The output is exactly what `csv.writer(file).writerows(rows)` writes. The csv module copies every
    character one by one, which was most of the time of a large export; so a row of plain strings that needs
    no quoting (no comma, double quote, CR or LF: checked on the joined line) is joined directly, and every
    other row, with anything to quote or any value that is not a str, goes through the csv writer.
    `stats`, if given, is a dict whose "rows" is set to the number of rows written.
    """
    chunk_rows = chunk_rows or EXPORT_CHUNK_SIZE
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # lineterminator "\r\n"

    def with_csv_module(row) -> str:
        writer.writerow(row)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text[:-2]

    lines: list[str] = []
    append = lines.append
    if headers is not None:
        append(with_csv_module(headers))
    written = 0
    for row in rows:
        try:
            line = ",".join(row)
        except TypeError:  # None, numbers, ...: the csv module knows how to write them
            append(with_csv_module(row))
        else:
            if '"' in line or "\r" in line or "\n" in line or line.count(",") != len(row) - 1 or not line:
                line = with_csv_module(row)
            append(line)
        if len(lines) >= chunk_rows:
            written += len(lines)
            yield "\r\n".join(lines) + "\r\n"
            lines.clear()
    written += len(lines)
    if stats is not None:
        stats["rows"] = written - (headers is not None)
    if lines:
        yield "\r\n".join(lines) + "\r\n"


def stream_csv(
    rows: Iterable[Sequence],
    *,
    headers: Sequence[str] | None = HEADERS,
    bom: bool = True,
    chunk_rows: int | None = None,
) -> Iterator[bytes]:
    """UTF-8 CSV bytes for a StreamingHttpResponse: a byte order mark (for Excel, unless `bom=False`), the
    header row, then the rows, a chunk of `chunk_rows` rows at a time. Memory stays flat."""
    if bom:
        yield UTF8_BOM.encode()
    for text in iter_csv_text(rows, headers=headers, chunk_rows=chunk_rows):
        yield text.encode()


def write_csv(
    rows: Iterable[Sequence], file: TextIO, *, headers: Sequence[str] | None = HEADERS, chunk_rows: int | None = None
) -> int:
    """Write the header row and `rows` as CSV to a text file opened with newline="" (use
    encoding="utf-8-sig" for Excel) and return the number of rows written, the header not counted."""
    stats: dict[str, int] = {}
    for text in iter_csv_text(rows, headers=headers, chunk_rows=chunk_rows, stats=stats):
        file.write(text)
    return stats["rows"]


# --- Excel ------------------------------------------------------------------------------------------------


def write_xlsx(
    rows: Iterable[Sequence[str]],
    path: str | os.PathLike | BinaryIO,
    headers: Sequence[str] = HEADERS,
    *,
    sheet_name: str = SHEET_NAME,
    column_widths: Sequence[int] | None = COLUMN_WIDTHS,
) -> int:
    """Write an .xlsx workbook to `path` (a file name, or a binary file opened for writing, e.g. a
    tempfile.TemporaryFile) and return the number of rows written (headers not counted).

    XlsxWriter in constant_memory mode: each row goes to a temporary file (beside `path`, or in the system's
    temporary directory) as soon as the next one starts, so memory stays flat. Every value is written as
    text (never a formula, URL or number), empty values as empty cells. When a sheet reaches SHEET_MAX_ROWS
    rows (its header row included) the rows go on in a new sheet, "Members 2", "Members 3", ..., each with
    the header row.
    """
    if isinstance(path, (str, os.PathLike)):
        target, tmpdir = str(path), str(Path(path).parent)
    else:
        target, tmpdir = path, tempfile.gettempdir()
    max_rows = SHEET_MAX_ROWS  # read at call time: tests patch it
    if max_rows < 2:
        raise ValueError("SHEET_MAX_ROWS must leave room for the header row and at least one row.")
    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "tmpdir": tmpdir,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        header_format = workbook.add_format({"bold": True})
        sheets = 0
        sheet = None
        r = max_rows  # no sheet yet: the first row starts one
        count = 0

        def new_sheet():
            nonlocal sheets
            sheets += 1
            ws = workbook.add_worksheet(sheet_name if sheets == 1 else f"{sheet_name[:25]} {sheets}")
            if column_widths:
                for c, width in enumerate(column_widths):
                    ws.set_column(c, c, width)
            for c, header in enumerate(headers):
                ws.write_string(0, c, header, header_format)
            ws.freeze_panes(1, 0)
            return ws

        for row in rows:
            if r >= max_rows:
                sheet = new_sheet()
                write = sheet.write_string
                r = 1
            for c, value in enumerate(row):
                if value is not None and value != "":
                    write(r, c, value if isinstance(value, str) else str(value))
            r += 1
            count += 1
        if sheet is None:
            new_sheet()  # headers only: an empty result is still a valid workbook
    finally:
        workbook.close()
    return count


# --- File names -------------------------------------------------------------------------------------------


def export_filename(file_format: str, when=None) -> str:
    """members-20260115-1030.csv: the download name, in local time."""
    return f"members-{timezone.localtime(when or timezone.now()):%Y%m%d-%H%M}.{file_format}"


# --- Background exports (the dashboard.export_members task) ----------------------------------------------
# The request records an ExportJob; a worker claims it, writes the file to private storage under exports/,
# records the row count, audits it and tells the user (in-app notification and email) with a download
# link. An hourly sweep deletes files older than EXPORT_RETENTION_HOURS.

logger = logging.getLogger("dashboard.exports")

Status = ExportJob.Status
# A job still "running" this long after it started belongs to a worker that died: another delivery of the
# task (acks_late) may take it over.
STALE_RUNNING_AFTER = datetime.timedelta(hours=2)
ERROR_MAX = 1000

# to-status -> the statuses it may be entered from. A running job may be claimed again only when its
# worker is presumed dead (STALE_RUNNING_AFTER, checked by `run_export_job`).
EXPORT_TRANSITIONS = TransitionTable(
    {
        Status.QUEUED: set(),
        Status.RUNNING: {Status.QUEUED, Status.RUNNING},
        Status.DONE: {Status.RUNNING},
        Status.FAILED: {Status.QUEUED, Status.RUNNING},
        Status.EXPIRED: {Status.DONE},
    }
)


def run_export_job(job_id: int) -> ExportJob | None:
    """Write the file of a queued export, once. Returns the job, or None when another worker has it."""
    now = timezone.now()
    waiting = ExportJob.objects.filter(Q(status=Status.QUEUED) | Q(started_at__lt=now - STALE_RUNNING_AFTER))
    if not EXPORT_TRANSITIONS.apply(waiting, job_id, to=Status.RUNNING, started_at=now, error=""):
        logger.info("Export %s is not waiting to run; nothing to do.", job_id)
        return None
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    try:
        row_count = _write_export(job)
    except InvalidExportFilter as error:
        return _fail(job, f"The filters are no longer valid: {error}")
    except Exception:
        logger.exception("Export %s failed.", job.pk)
        return _fail(job, "The file could not be written. Please try again, or narrow the filters.")
    finished_at = timezone.now()
    if not EXPORT_TRANSITIONS.apply(
        ExportJob, job.pk, to=Status.DONE, row_count=row_count, file=job.file.name, finished_at=finished_at
    ):
        # Given up on by the retention sweep, or finished by a worker that took it over: that outcome
        # stands, and the file written here is an orphan the sweep deletes.
        logger.warning("Export %s finished but is no longer running; its outcome stands.", job.pk)
        job.refresh_from_db()
        return job
    job.status, job.row_count, job.finished_at = Status.DONE, row_count, finished_at
    audit_log(
        action=AuditLog.Action.EXPORTED,
        actor=job.user,
        target=job,
        data={"what": "members", "format": job.format, "filter": job.query_string, "rows": row_count, "job": job.pk},
    )
    _tell_user(job, "export_ready")
    logger.info("Export %s done: %s rows.", job.pk, row_count)
    return job


def _write_export(job: ExportJob) -> int:
    queryset = filtered_member_queryset(QueryDict(job.query_string))
    with tempfile.TemporaryDirectory(prefix="member-export-") as directory:
        path = Path(directory) / f"members.{job.format}"
        rows = member_export_rows(queryset)
        if job.format == ExportJob.Format.XLSX:
            row_count = write_xlsx(rows, path)
        else:
            with open(path, "w", encoding="utf-8-sig", newline="") as file:
                row_count = write_csv(rows, file)
        with open(path, "rb") as file:
            job.file.save(path.name, File(file), save=False)
    return row_count


def _fail(job: ExportJob, error: str) -> ExportJob:
    error, finished_at = error[:ERROR_MAX], timezone.now()
    if not EXPORT_TRANSITIONS.apply(ExportJob, job.pk, to=Status.FAILED, error=error, finished_at=finished_at):
        job.refresh_from_db()  # given up on or finished meanwhile: that outcome stands
        return job
    job.status, job.error, job.finished_at = Status.FAILED, error, finished_at
    _tell_user(job, "export_failed")
    return job


def _tell_user(job: ExportJob, event: str) -> None:
    """An in-app notification and an email to whoever asked for the export. Staff need no Member row for
    either, so this uses the notification building blocks rather than notify_member. Never raises: the
    export stands whatever happens to the message."""
    user = job.user
    download_path = reverse("dashboard:export_download", args=[job.pk])
    exports_path = reverse("dashboard:exports")
    site_url = settings.SITE_URL.rstrip("/")
    context = {
        "job": job,
        "first_name": user.first_name,
        "download_url": site_url + download_path,
        "exports_url": site_url + exports_path,
        "retention_hours": settings.EXPORT_RETENTION_HOURS,
        "organisation_name": settings.ORGANISATION_NAME,
    }
    if event == "export_ready":
        title = f"Your member export is ready ({job.row_count:,} rows)"
        body = f"The {job.get_format_display()} file can be downloaded for {settings.EXPORT_RETENTION_HOURS} hours."
        link = download_path
    else:
        title = "Your member export failed"
        body = job.error
        link = exports_path
    try:
        notification_create(user=user, event=event, title=title, body=body, link=link, dedupe_key=f"{event}:{job.pk}")
    except Exception:
        logger.exception("Could not record the in-app %s notification for export %s.", event, job.pk)
    try:
        message_queue(
            user=user,
            channel=Message.Channel.EMAIL,
            recipient=user.email,
            subject=title,
            body=render_to_string(f"dashboard/email/{event}.txt", context),
            event=event,
            dedupe_key=f"{event}:{job.pk}:email",
        )
    except Exception:
        logger.exception("Could not queue the %s email for export %s.", event, job.pk)


def delete_expired_exports(*, now: datetime.datetime | None = None) -> dict:
    """Delete export files older than EXPORT_RETENTION_HOURS and mark their jobs expired; delete files
    under exports/ that no current job owns once they are that old; mark jobs that never finished in that
    time failed. Returns counts."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    storage = storages["private"]
    report = {"expired": 0, "orphans": 0, "abandoned": 0}

    for job in ExportJob.objects.filter(status=Status.DONE, finished_at__lt=cutoff).iterator():
        if job.file:
            storage.delete(job.file.name)
        EXPORT_TRANSITIONS.apply(ExportJob, job.pk, to=Status.EXPIRED, file="")
        report["expired"] += 1

    # Many rows at once, so the table's condition rather than the one-row compare-and-set.
    report["abandoned"] = ExportJob.objects.filter(
        EXPORT_TRANSITIONS.condition(Status.FAILED), created_at__lt=cutoff
    ).update(status=Status.FAILED, error="The export did not finish. Please ask for it again.", finished_at=now)

    # Files a crashed worker left behind, or whose job row is gone.
    try:
        _, names = storage.listdir(EXPORTS_DIRECTORY)
    except FileNotFoundError:
        names = []
    owned = set(ExportJob.objects.exclude(file="").values_list("file", flat=True))
    for name in names:
        path = f"{EXPORTS_DIRECTORY}/{name}"
        if path in owned:
            continue
        try:
            if storage.get_modified_time(path) < cutoff:
                storage.delete(path)
                report["orphans"] += 1
        except FileNotFoundError:
            continue
    if any(report.values()):
        logger.info("Export clean-up: %s", report)
    return report
