"""deploy/backup.sh and deploy/restore.sh: a backup restored into a fresh database and fresh directories has
the same members, payments, receipt numbers and document files."""

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from members.models import Document, Member
from payments.models import Payment
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[2]
BACKUP, RESTORE = ROOT / "deploy" / "backup.sh", ROOT / "deploy" / "restore.sh"
PAYMENT_COLUMNS = ("reference", "receipt_number", "mpesa_receipt_number", "amount")

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _require_tools():
    if connection.vendor != "postgresql":
        pytest.skip("Backups are of PostgreSQL: set DATABASE_URL=postgres://... to run this test.")
    missing = [tool for tool in ("pg_dump", "pg_restore", "psql", "createdb", "tar") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def _url(name):
    params = connection.settings_dict
    auth = params["USER"] or ""
    if params.get("PASSWORD"):
        auth += f":{params['PASSWORD']}"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{name}"


def _env(database, media, private):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DATABASE_URL": _url(database), "MEDIA_ROOT": str(media), "PRIVATE_MEDIA_ROOT": str(private)})
    env.pop("SQLITE_PATH", None)
    return env


def _run(args, env):
    completed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # noqa: S603
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.fixture
def restore_database():
    """A database name derived from the test database's, dropped before and after."""
    name = f"{connection.settings_dict['NAME']}_restore"

    def drop():
        with psycopg.connect(_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    yield name
    drop()


def test_backup_and_restore_into_a_fresh_database_and_directories(tmp_path, settings, reference_data, restore_database):
    _require_tools()
    members = [MemberFactory(status=Member.Status.ACTIVE, membership_number=f"KTS-2026-{n:04d}") for n in (1, 2, 3)]
    for number, member in enumerate(members, start=1):
        Payment.objects.create(
            member=member,
            payment_type="registration",
            amount=1000,
            status="completed",
            mpesa_receipt_number=f"TST{number:07d}",
            receipt_number=f"RCP-2026-{number:04d}",
            completed_at=timezone.now(),
        )
    public_file = Path(settings.MEDIA_ROOT) / "logo.txt"
    public_file.parent.mkdir(parents=True, exist_ok=True)
    public_file.write_text("public media")
    documents = {
        d.file.name: Path(settings.PRIVATE_MEDIA_ROOT, d.file.name).read_bytes() for d in Document.objects.all()
    }
    assert documents, "the factory gives members documents"
    expected_members = sorted(Member.objects.values_list("membership_number", "id_number", "phone_number"))
    expected_payments = sorted(
        Payment.objects.values_list("reference", "receipt_number", "mpesa_receipt_number", "amount")
    )

    source_db = connection.settings_dict["NAME"]
    backups = tmp_path / "backups"
    out = _run([str(BACKUP), str(backups)], _env(source_db, settings.MEDIA_ROOT, settings.PRIVATE_MEDIA_ROOT))
    backup_dir = Path(out.strip().splitlines()[-1])
    assert {p.name for p in backup_dir.iterdir()} == {"database.dump", "media.tar.gz", "private.tar.gz", "SHA256SUMS"}
    assert oct(backup_dir.stat().st_mode & 0o777) == "0o700"

    media, private = tmp_path / "restored-media", tmp_path / "restored-private"
    restore_env = _env(restore_database, media, private)
    _run([str(RESTORE), "--create-database", str(backup_dir)], restore_env)

    with psycopg.connect(_url(restore_database)) as restored:
        members_after = sorted(
            restored.execute("SELECT membership_number, id_number, phone_number FROM members_member").fetchall()
        )
        payments_after = sorted(
            restored.execute(
                "SELECT reference, receipt_number, mpesa_receipt_number, amount FROM payments_payment"
            ).fetchall()
        )
        files_after = [row[0] for row in restored.execute("SELECT file FROM members_document").fetchall()]
    assert members_after == expected_members
    assert [(*row[:3], int(row[3])) for row in payments_after] == [(*row[:3], int(row[3])) for row in expected_payments]
    assert {row[1] for row in payments_after} == {"RCP-2026-0001", "RCP-2026-0002", "RCP-2026-0003"}
    assert sorted(files_after) == sorted(documents)
    for name, content in documents.items():
        assert (private / name).read_bytes() == content
    assert (media / "logo.txt").read_text() == "public media"

    # Restoring again over the now-filled database is refused, and so is a tampered backup.
    refused = subprocess.run(  # noqa: S603
        [str(RESTORE), str(backup_dir)], cwd=ROOT, env=restore_env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "refusing" in refused.stderr
    with open(backup_dir / "media.tar.gz", "ab") as archive:
        archive.write(b"tampered")
    tampered = subprocess.run(  # noqa: S603
        [str(RESTORE), str(backup_dir)], cwd=ROOT, env=restore_env, capture_output=True, text=True
    )
    assert tampered.returncode != 0
