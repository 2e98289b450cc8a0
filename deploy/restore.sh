#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh into an EMPTY database and EMPTY file directories.
#
#   deploy/restore.sh [--create-database] BACKUP_DIRECTORY
#
# The target is what the app's settings name (DATABASE_URL or DB_*, MEDIA_ROOT, PRIVATE_MEDIA_ROOT: set
# them to the new database and directories first). --create-database runs createdb for it first. The
# script refuses a database that already has tables and directories that already hold files, so it never
# mixes a backup into live data. Checks SHA256SUMS before touching anything. Needs pg_restore (PostgreSQL 15).
set -euo pipefail
umask 027

CREATE_DATABASE=0
if [ "${1:-}" = "--create-database" ]; then CREATE_DATABASE=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--create-database] BACKUP_DIRECTORY" >&2; exit 2; }
SOURCE="$(cd "$1" && pwd)"

APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$([ -x "$APP_DIR/.venv/bin/python" ] && echo "$APP_DIR/.venv/bin/python" || echo python3)}"
settings_env="$(cd "$APP_DIR" && "$PYTHON" manage.py backup_env)"
eval "$settings_env"

echo "==> checking $SOURCE"
(cd "$SOURCE" && sha256sum --check --quiet SHA256SUMS)

if [ "$CREATE_DATABASE" = 1 ]; then
  echo "==> creating database $PGDATABASE"
  createdb "$PGDATABASE"
fi
tables="$(psql --no-psqlrc --tuples-only --no-align --command \
  "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
if [ "$tables" != "0" ]; then
  echo "refusing: database $PGDATABASE already has $tables table(s); restore into a new, empty database" >&2
  exit 1
fi
for directory in "$BACKUP_MEDIA_ROOT" "$BACKUP_PRIVATE_MEDIA_ROOT"; do
  if [ -d "$directory" ] && [ -n "$(ls -A "$directory")" ]; then
    echo "refusing: $directory is not empty; restore into new, empty directories" >&2
    exit 1
  fi
done

echo "==> database -> $PGDATABASE"
pg_restore --exit-on-error --no-owner --no-privileges --dbname="$PGDATABASE" "$SOURCE/database.dump"
echo "==> files -> $BACKUP_MEDIA_ROOT, $BACKUP_PRIVATE_MEDIA_ROOT"
mkdir -p "$BACKUP_MEDIA_ROOT" "$BACKUP_PRIVATE_MEDIA_ROOT"
chmod 750 "$BACKUP_PRIVATE_MEDIA_ROOT"
tar -C "$BACKUP_MEDIA_ROOT" -xzf "$SOURCE/media.tar.gz"
tar -C "$BACKUP_PRIVATE_MEDIA_ROOT" -xzf "$SOURCE/private.tar.gz"
if [ "${BACKUP_STORAGE_BACKEND:-filesystem}" = "s3" ]; then
  echo "note: STORAGE_BACKEND=s3: documents and exports come back from the bucket's versions, not from here" >&2
fi
echo "==> restored; now run: python manage.py migrate (a no-op unless the code is newer than the backup)"
