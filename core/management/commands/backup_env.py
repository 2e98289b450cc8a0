"""Print the database connection and file roots of these settings as shell assignments, for
deploy/backup.sh and deploy/restore.sh (eval'd there): PG* variables for pg_dump/pg_restore/psql,
BACKUP_MEDIA_ROOT and BACKUP_PRIVATE_MEDIA_ROOT, and BACKUP_STORAGE_BACKEND (filesystem or s3: with s3 the
documents are in the bucket, not under the roots). The password goes in PGPASSWORD, never on a command line."""

import shlex

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Shell assignments of the database connection and media roots, for deploy/backup.sh and restore.sh."

    def handle(self, *args, **options):
        database = settings.DATABASES["default"]
        if "postgresql" not in database["ENGINE"]:
            raise CommandError("Backups need PostgreSQL (DATABASE_URL or DB_NAME); this is " + database["ENGINE"])
        values = {
            "PGDATABASE": database.get("NAME") or "",
            "PGUSER": database.get("USER") or "",
            "PGPASSWORD": database.get("PASSWORD") or "",
            "PGHOST": database.get("HOST") or "",
            "PGPORT": str(database.get("PORT") or ""),
            "BACKUP_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "BACKUP_PRIVATE_MEDIA_ROOT": str(settings.PRIVATE_MEDIA_ROOT),
            "BACKUP_STORAGE_BACKEND": settings.STORAGE_BACKEND,
        }
        for name, value in values.items():
            if value or not name.startswith("PG"):
                self.stdout.write(f"export {name}={shlex.quote(value)}")
