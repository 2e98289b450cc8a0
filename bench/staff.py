#!/usr/bin/env python3
"""Bench: the staff pages on a million members, each figure beside a baseline measured in the same run.

    .venv/bin/python bench/staff.py [--database membership_bench_staff] [--members 1000000]

On PostgreSQL (default postgres://postgres@127.0.0.1:5432, --server to change) it creates the database if
it is missing, migrates it, and fills it with `generate_demo_data` up to --members members (about three
payments each) unless it has them already; the data are kept for the next run. Then it prints:

  a) member search: our staff list `GET /staff/members/?q=...` against Django admin's default changelist
     search (a throwaway AdminSite registered here: `search_fields` as icontains, full COUNT(*)) on the same
     queries, p50/p95 of full responses through django.test.Client, logged in as an Admin;
  b) the list with status + category + region + period-end filters, ours against admin's list_filter;
  c) the staff home `GET /staff/`, with its figure cache off and on;
  d) CSV export of every member: rows/s and peak RSS of ours (dashboard.exports, in a child process)
     against PostgreSQL's `COPY (SELECT the same columns ...) TO STDOUT`;
  e) Excel export of 200,000 rows (dashboard.exports.write_xlsx): time and peak RSS.

Each line says PASS or MISS against its target; the exit status is 0 either way (a report, not a test).
Pieces that are not in the code base yet are reported as "not available". It runs with DEBUG=False (no
query log, no debug toolbar) and persistent connections, as production does. `--explain` adds EXPLAIN
(ANALYZE, BUFFERS) of the slowest SQL statement behind each of our requests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_EMAIL = "bench-admin@bench.invalid"
SEARCH_FIELDS = [
    "user__first_name",
    "user__last_name",
    "other_names",
    "user__email",
    "membership_number",
    "id_number",
    "phone_number",
]
# The columns of dashboard.exports.HEADERS, as SQL, for the COPY baseline (dates formatted the same way).
COPY_SQL = """
COPY (
    SELECT m.membership_number, u.first_name, m.other_names, u.last_name, u.email, m.phone_number,
           m.id_type, m.id_number, c.name, m.status, k.name, r.name,
           to_char(m.applied_at, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'),
           to_char(m.approved_at, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM'),
           to_char(m.period_start, 'YYYY-MM-DD'), to_char(m.period_end, 'YYYY-MM-DD'),
           to_char(m.registration_paid_at, 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM')
    FROM members_member m
    JOIN accounts_user u ON u.id = m.user_id
    JOIN members_membershipcategory c ON c.id = m.category_id
    JOIN members_country k ON k.code = m.country_id
    LEFT JOIN members_region r ON r.id = m.region_id
    ORDER BY m.applied_at DESC, m.id DESC
) TO STDOUT WITH (FORMAT csv, HEADER)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--database", default="membership_bench_staff", help="database to use (created, kept)")
    parser.add_argument("--members", type=int, default=1_000_000, help="members the database should hold")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per query and side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests before them")
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--sections", default="abcde", help="which sections to run, e.g. ad")
    parser.add_argument("--seed", type=int, default=7, help="picks the sample members the queries use")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE our slowest statements")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()

    database_url = f"{args.server.rstrip('/')}/{args.database}"
    configure_environment(database_url)
    if args.child:
        return child(args.child, args, database_url)

    create_database(args.server, args.database)
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("setup_demo", "--no-demo", verbosity=0)
    ensure_data(args.members)
    print_header(args)
    report = Report()
    bench = Bench(args, report)
    for section in "abcde":
        if section in args.sections:
            try:
                getattr(bench, f"section_{section}")()
            except Exception as error:  # a report, not a test: say what broke and go on
                import traceback

                traceback.print_exc()
                report.line(f"section {section}", "error", f"{type(error).__name__}: {error}")
    report.footer()


def configure_environment(database_url):
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "False",
            "SECRET_KEY": "bench-only-" + "x" * 50,
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "False",
            "SESSION_COOKIE_SECURE": "False",
            "CSRF_COOKIE_SECURE": "False",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "CONN_MAX_AGE": "600",  # persistent connections, as under gunicorn in production
            "CELERY_TASK_ALWAYS_EAGER": "True",
            "CELERY_BROKER_URL": "",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "SMS_BACKEND": "notifications.sms.LocmemSmsBackend",
        }
    )


def setup_django():
    import warnings

    import django
    from django.conf import settings
    from django.test import override_settings

    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collectstatic here
    django.setup()
    # DEBUG=False selects the manifest storage, which needs collectstatic; plain static URLs cost the same.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=storages).enable()


def create_database(server, name):
    import psycopg

    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def ensure_data(target):
    from django.core.management import call_command

    from members.models import Member
    from payments.models import Payment

    have = Member.objects.count()
    if have < target * 0.99:
        print(f"the database has {have:,} members; generating {target - have:,} more (a few minutes per million)")
        started = time.monotonic()
        call_command("generate_demo_data", members=target - have, force=True)
        print(f"generated in {time.monotonic() - started:,.0f}s")
    print(f"data: {Member.objects.count():,} members, {Payment.objects.count():,} payments")


def print_header(args):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(",")[0]
    print(f"{version}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; {args.runs} timed runs each")
    print()


# --- Reporting ---------------------------------------------------------------------------------------------


class Report:
    WIDTH = 44

    def __init__(self):
        self.verdicts = []

    def title(self, text):
        print()
        print(text)
        print("-" * len(text))

    def line(self, label, ours, baseline="", ratio="", target="", verdict=None):
        mark = "" if verdict is None else ("PASS" if verdict else "MISS")
        if verdict is not None:
            self.verdicts.append((label, verdict))
        print(f"{label:<{self.WIDTH}} {ours:>16} {baseline:>16} {ratio:>9}  {target:<32} {mark}".rstrip())
        sys.stdout.flush()

    def columns(self, ours="ours", baseline="baseline"):
        print(f"{'':<{self.WIDTH}} {ours:>16} {baseline:>16} {'ratio':>9}  {'target':<32}")

    def footer(self):
        print()
        passed = sum(1 for _, v in self.verdicts if v)
        print(f"{passed} of {len(self.verdicts)} targets met" + ("" if passed == len(self.verdicts) else ": "), end="")
        print(", ".join(label.strip() for label, v in self.verdicts if not v))


def ms(value):
    return f"{value:,.1f} ms" if value is not None else "-"


def p95(samples):
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


# --- The bench ------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, report):
        from tests.clients import Client  # force_login also passes the second step (two-factor), as staff must

        self.args, self.report = args, report
        self.user = admin_user()
        self.client = Client()
        self.client.force_login(self.user)
        install_baseline_admin()

    # availability

    def url(self, name):
        from django.urls import NoReverseMatch, reverse

        try:
            return reverse(name)
        except NoReverseMatch:
            return None

    def timed(self, url, runs=None, warmup=None):
        """Full-response times in ms (content consumed) and the last response."""
        runs = self.args.runs if runs is None else runs
        warmup = self.args.warmup if warmup is None else warmup
        samples, response = [], None
        for i in range(warmup + runs):
            started = time.perf_counter()
            response = self.client.get(url)
            if response.streaming:
                for _ in response.streaming_content:
                    pass
            else:
                _ = response.content
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}")
            if i >= warmup:
                samples.append(elapsed)
        return samples, response

    # a) search

    def search_queries(self):
        from django.db import connection

        from members.models import Member

        rng = random.Random(self.args.seed)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT last_name, count(*) FROM accounts_user u JOIN members_member m ON m.user_id = u.id "
                "GROUP BY last_name ORDER BY count(*) DESC, last_name"
            )
            surnames = cursor.fetchall()
        common, rare = surnames[0][0], next((name for name, n in reversed(surnames) if n >= 2), surnames[-1][0])
        sample = list(
            Member.objects.filter(status="active", id_type="national_id")
            .select_related("user")
            .order_by("pk")[rng.randrange(1000, 100_000) :][:5]
        )
        a, b, c, d, e = sample
        local_email = b.user.email.split("@")[0]
        return [
            ("common surname", common.lower()),
            ("full name", f"{a.user.first_name} {a.user.last_name}"),
            ("part of an email", local_email[: max(8, len(local_email) - 3)]),
            ("membership number", c.membership_number),
            ("phone, local form", "0" + d.phone_number[3:]),
            ("ID number", e.id_number),
            ("rare surname", rare),
        ]

    def section_a(self):
        from urllib.parse import urlencode

        report = self.report
        report.title("a) Member search: our staff list against Django admin's changelist search (full responses)")
        ours_url, admin_url = self.url("dashboard:members"), "/bench-admin/members/member/"
        if ours_url is None:
            report.line("our staff member list", "not available", "", "", "dashboard:members does not resolve")
            return
        report.columns("ours p50/p95", "admin p50/p95")
        pooled_ours, pooled_admin = [], []
        for label, query in self.search_queries():
            q = urlencode({"q": query})
            ours, _ = self.timed(f"{ours_url}?{q}")
            hits_ours = count_ours({"q": query})
            self.explain(f"{ours_url}?{q}", label)
            admin, _ = self.timed(f"{admin_url}?{q}")
            hits_admin = count_admin(query)
            pooled_ours += ours
            pooled_admin += admin
            report.line(
                f"  {label}: {query!r}"[: report.WIDTH],
                f"{statistics.median(ours):,.0f}/{p95(ours):,.0f} ms",
                f"{statistics.median(admin):,.0f}/{p95(admin):,.0f} ms",
                f"{p95(admin) / p95(ours):,.1f}x",
                f"hits: ours {hits_ours:,}, admin {hits_admin:,}",
            )
        ratio = p95(pooled_admin) / p95(pooled_ours)
        report.line(
            "search p95, all queries",
            ms(p95(pooled_ours)),
            ms(p95(pooled_admin)),
            f"{ratio:,.1f}x",
            ">= 10x faster and < 100 ms",
            ratio >= 10 and p95(pooled_ours) < 100,
        )
        report.line("search p50, all queries", ms(statistics.median(pooled_ours)), ms(statistics.median(pooled_admin)))

    # b) filters

    def section_b(self):
        import datetime
        from urllib.parse import urlencode

        from django.utils import timezone

        from members.filters import MemberFilter
        from members.models import MembershipCategory, Region

        report = self.report
        report.title("b) Member list with filters: status + category + region + period end, ours against admin")
        ours_url = self.url("dashboard:members")
        if ours_url is None:
            report.line("our staff member list", "not available")
            return
        today = timezone.localdate()
        until = today + datetime.timedelta(days=90)
        category = MembershipCategory.objects.get(code="full")
        region = Region.objects.get(country="KE", code="047")
        suffixes = getattr(MemberFilter().form.fields["expires"].widget, "suffixes", ["after", "before"])
        ours_params = {
            "status": "active",
            "category": category.code,
            "region": region.pk,
            f"expires_{suffixes[0]}": today.isoformat(),
            f"expires_{suffixes[1]}": until.isoformat(),
        }
        admin_params = {
            "status__exact": "active",
            "category__id__exact": category.pk,
            "region__id__exact": region.pk,
            "period_end__gte": today.isoformat(),
            "period_end__lt": (until + datetime.timedelta(days=1)).isoformat(),
        }
        report.columns("ours p50/p95", "admin p50/p95")
        cases = [
            ("status=active", {"status": "active"}, {"status__exact": "active"}),
            ("all four filters", ours_params, admin_params),
            ("no filter (first page)", {}, {}),
        ]
        for label, ours_query, admin_query in cases:
            ours_full = f"{ours_url}?{urlencode(ours_query)}" if ours_query else ours_url
            ours, _ = self.timed(ours_full)
            self.explain(ours_full, label)
            admin_full = "/bench-admin/members/member/" + (f"?{urlencode(admin_query)}" if admin_query else "")
            admin, _ = self.timed(admin_full)
            report.line(
                f"  {label}",
                f"{statistics.median(ours):,.0f}/{p95(ours):,.0f} ms",
                f"{statistics.median(admin):,.0f}/{p95(admin):,.0f} ms",
                f"{p95(admin) / p95(ours):,.1f}x",
                f"rows: {count_ours(ours_query):,}",
            )

    # c) staff home

    def section_c(self):
        from django.test import override_settings

        report = self.report
        report.title("c) Staff home GET /staff/")
        url = self.url("dashboard:home")
        if url is None:
            report.line("staff home", "not available")
            return
        response = self.client.get(url)
        if response.status_code != 200:
            report.line("staff home", "not available", "", "", f"answers {response.status_code}")
            return
        report.columns("p50", "p95")
        # As served: Celery beat's dashboard.refresh_home_figures counts the figures every minute, inside the
        # two-minute cache, so a page view reads kept figures. Between timed views the task runs again, so
        # every view reads figures counted moments earlier, as in production.
        from dashboard.tasks import refresh_home_figures

        refresh_seconds = []
        for _ in range(3):
            started = time.perf_counter()
            refresh_home_figures()
            refresh_seconds.append(time.perf_counter() - started)
        served, _ = self.timed(url)
        report.line(
            "staff home as served (figures kept by beat)",
            ms(statistics.median(served)),
            ms(p95(served)),
            "",
            "p95 < 300 ms",
            p95(served) < 300,
        )
        report.line("  beat task counting the figures (background)", ms(statistics.median(refresh_seconds) * 1000), "")
        with override_settings(DASHBOARD_HOME_CACHE_SECONDS=0):
            cold, _ = self.timed(url)
            self.explain(url, "staff home")
        report.line("  staff home, figure cache off (cold)", ms(statistics.median(cold)), ms(p95(cold)))

    # d) CSV export

    def section_d(self):
        report = self.report
        report.title(
            "d) CSV export of every member: ours against COPY ... TO STDOUT (each in a child process, best of 2)"
        )
        if not exports_available("member_export_rows", "write_csv", "filtered_member_queryset"):
            report.line("our CSV export", "not available", "", "", "dashboard.exports is not there yet")
            return
        copy = best_of("csv-copy", self.args)
        ours = best_of("csv-ours", self.args)
        report.columns("ours", "COPY")
        report.line("rows", f"{ours['rows']:,}", f"{copy['rows']:,}")
        report.line("seconds", f"{ours['seconds']:,.1f} s", f"{copy['seconds']:,.1f} s")
        ratio = ours["rate"] / copy["rate"]
        report.line(
            "rows/s",
            f"{ours['rate']:,.0f}",
            f"{copy['rate']:,.0f}",
            f"{ratio:.2f}",
            ">= 0.5 of COPY's rows/s",
            ratio >= 0.5,
        )
        report.line(
            "peak RSS",
            f"{ours['maxrss_mb']:,.0f} MB",
            f"{copy['maxrss_mb']:,.0f} MB",
            "",
            "< 150 MB",
            ours["maxrss_mb"] < 150,
        )
        report.line("file size", f"{ours['bytes'] / 1e6:,.0f} MB", f"{copy['bytes'] / 1e6:,.0f} MB")
        view = best_of("csv-view", self.args)
        if view.get("available"):
            report.line(
                "ours via the streaming view (Client)",
                f"{view['rate']:,.0f} rows/s",
                "",
                f"{view['rate'] / copy['rate']:.2f}",
                f"peak RSS {view['maxrss_mb']:,.0f} MB",
            )
        else:
            report.line("ours via the streaming view (Client)", "not available", "", "", view.get("why", ""))

    # e) Excel export

    def section_e(self):
        report = self.report
        report.title(f"e) Excel export of {self.args.xlsx_rows:,} rows (dashboard.exports.write_xlsx, child process)")
        if not exports_available("member_export_rows", "write_xlsx", "filtered_member_queryset"):
            report.line("our Excel export", "not available")
            return
        result = best_of("xlsx", self.args, times=1)
        report.columns("", "")
        report.line("rows", f"{result['rows']:,}")
        report.line("seconds", f"{result['seconds']:,.1f} s", "", "", f"{result['rate']:,.0f} rows/s")
        report.line("peak RSS", f"{result['maxrss_mb']:,.0f} MB")
        report.line("file size", f"{result['bytes'] / 1e6:,.1f} MB")

    # EXPLAIN

    def explain(self, url, label):
        """With --explain: EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of one request to `url`."""
        if not self.args.explain:
            return
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            self.client.get(url)
        statements = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)
        print(f"\n    EXPLAIN for {label} ({len(statements)} statements; slowest {statements[0]['time']} s):")
        for query in statements[:2]:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            print(f"    -- {float(query['time']) * 1000:.1f} ms: {sql[:300]}{'...' if len(sql) > 300 else ''}")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                for (line,) in cursor.fetchall():
                    print("    " + line)
        print()


def count_ours(params):
    from members.filters import MemberFilter, member_list_queryset

    return MemberFilter(params, queryset=member_list_queryset()).qs.count()


def count_admin(query):
    from django.db.models import Q

    from members.models import Member

    condition = Q()
    for term in query.split():
        any_field = Q()
        for field in SEARCH_FIELDS:
            any_field |= Q(**{f"{field}__icontains": term})
        condition &= any_field
    return Member.objects.filter(condition).count()


def exports_available(*names):
    import importlib

    try:
        module = importlib.import_module("dashboard.exports")
    except ImportError:
        return False
    return all(hasattr(module, name) for name in names)


def admin_user():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import ADMIN

    User = get_user_model()
    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            email=ADMIN_EMAIL, password=None, first_name="Bench", last_name="Admin", is_staff=True
        )
    user.groups.add(Group.objects.get(name=ADMIN))
    return user


def install_baseline_admin():
    """Django admin's defaults on the same model: icontains search over the same identifiers, the default
    paginator (COUNT(*) of the result and of the table), list_filter on the fields section b filters."""
    from django.conf import settings
    from django.contrib import admin
    from django.urls import clear_url_caches, include, path, set_urlconf

    from members.models import Member

    class BaselineMemberAdmin(admin.ModelAdmin):
        search_fields = SEARCH_FIELDS
        list_filter = ["status", "category", "region", "period_end"]
        list_display = ["__str__", "membership_number", "status", "category", "region", "period_end", "applied_at"]
        list_select_related = ["user", "category", "country", "region"]  # as our list's queryset
        list_per_page = 25  # as our list's first page

    site = admin.AdminSite(name="baseline")
    site.register(Member, BaselineMemberAdmin)
    module = types.ModuleType("bench_staff_urls")
    module.urlpatterns = [path("bench-admin/", site.urls), path("", include("config.urls"))]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()
    set_urlconf(None)


# --- Child processes: each export runs alone, so its peak RSS is its own ---------------------------------------


def run_child(kind, args):
    with tempfile.NamedTemporaryFile(prefix=f"bench-{kind}-", suffix=".json", delete=False) as out:
        output = out.name
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--server",
        args.server,
        "--database",
        args.database,
        "--xlsx-rows",
        str(args.xlsx_rows),
        "--output",
        output,
    ]
    process = subprocess.run(command, cwd=ROOT, check=False)
    try:
        result = json.loads(Path(output).read_text() or "{}")
    finally:
        os.unlink(output)
    if process.returncode != 0:
        raise RuntimeError(f"child {kind} failed with exit status {process.returncode}")
    result["maxrss_mb"] = result["vmhwm_kb"] / 1024
    return result


def best_of(kind, args, times=2):
    """The faster of `times` runs (other work on the machine only ever slows a run down)."""
    results = [run_child(kind, args) for _ in range(times)]
    return max(results, key=lambda r: r.get("rate", 0))


def child(kind, args, database_url):
    result = {"available": True}
    directory = tempfile.mkdtemp(prefix="bench-staff-")
    path = os.path.join(directory, "export")
    try:
        started = time.perf_counter()
        if kind == "csv-copy":
            import psycopg

            with psycopg.connect(database_url) as conn, conn.cursor() as cursor:
                cursor.execute("SET TimeZone = 'Africa/Nairobi'")
                with open(path, "wb") as file, cursor.copy(COPY_SQL) as copy:
                    for data in copy:
                        file.write(data)
            rows = None  # counted below, off the clock
        else:
            setup_django()
            from dashboard import exports

            if kind == "csv-ours":
                queryset = exports.filtered_member_queryset({})
                with open(path, "w", encoding="utf-8-sig", newline="") as file:
                    rows = exports.write_csv(exports.member_export_rows(queryset), file)
            elif kind == "xlsx":
                queryset = exports.filtered_member_queryset({})[: args.xlsx_rows]
                rows = exports.write_xlsx(exports.member_export_rows(queryset), path)
            elif kind == "csv-view":
                rows = csv_through_view(path)
                if rows is None:
                    result = {"available": False, "why": "no streaming CSV at dashboard:member_export"}
            else:
                raise SystemExit(f"unknown child {kind}")
        seconds = time.perf_counter() - started
        if rows is None:
            rows = count_lines(path) - 1  # the header
        if result.get("available"):
            result.update(rows=rows, seconds=seconds, rate=rows / seconds, bytes=os.path.getsize(path))
    finally:
        if os.path.exists(path):
            os.unlink(path)
        os.rmdir(directory)
    result["vmhwm_kb"] = peak_rss_kb()
    Path(args.output).write_text(json.dumps(result))


def peak_rss_kb():
    """This process's peak resident set since it started (VmHWM). Not getrusage: Linux carries ru_maxrss over
    exec, so a child would report the size of the bench process it was forked from."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def count_lines(path):
    lines = 0
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            lines += block.count(b"\n")
    return lines


def csv_through_view(path):
    """Every member through GET /staff/members/export/?format=csv, consuming streaming_content. The view
    streams up to EXPORT_SYNC_MAX_ROWS rows (more go to a background task), so the limit is raised here."""
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    from tests.clients import Client  # force_login also passes the second step (two-factor), as staff must

    try:
        url = reverse("dashboard:member_export")
    except NoReverseMatch:
        return None
    settings.EXPORT_SYNC_MAX_ROWS = 10**9
    client = Client()
    client.force_login(admin_user())
    response = client.get(url, {"format": "csv"})
    if response.status_code != 200 or not response.streaming:
        return None
    lines = 0
    with open(path, "wb") as file:
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            file.write(chunk)
    response.close()
    return lines - 1


if __name__ == "__main__":
    main()
