#!/usr/bin/env bash
# Back up the database (pg_dump custom format) and the uploaded files (MEDIA_ROOT, PRIVATE_MEDIA_ROOT).
#
#   deploy/backup.sh [DESTINATION]      default DESTINATION: ./backups (or $BACKUP_DIR)
#
# Writes DESTINATION/membership-<UTC time>/ with database.dump, media.tar.gz, private.tar.gz and SHA256SUMS,
# readable by the owner only. Connection and paths come from the app's own settings (the same environment
# or .env as the app: DATABASE_URL or DB_*, MEDIA_ROOT, PRIVATE_MEDIA_ROOT), so run it as the app's user,
# e.g. from cron:  15 2 * * *  cd /srv/membership && deploy/backup.sh /var/backups/membership
# Needs pg_dump of the server's major version (PostgreSQL 15) and tar. Restore with deploy/restore.sh.
# Members' documents are personal data: keep backups encrypted and off the machine, and delete old ones.
# With STORAGE_BACKEND=s3 the documents and exports are in the bucket, not in these archives (they then hold
# only whatever is on the local disk): the bucket is backed up by the provider, i.e. bucket versioning
# (and replication or a lifecycle rule keeping old versions), not by this script.
set -euo pipefail
umask 077

APP_DIR="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$([ -x "$APP_DIR/.venv/bin/python" ] && echo "$APP_DIR/.venv/bin/python" || echo python3)}"
DESTINATION="${1:-${BACKUP_DIR:-$APP_DIR/backups}}"

# PG* variables for pg_dump, and the two file roots, from the app's settings.
settings_env="$(cd "$APP_DIR" && "$PYTHON" manage.py backup_env)"
eval "$settings_env"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
TARGET="$DESTINATION/membership-$STAMP"
mkdir -p "$TARGET"

archive() {  # archive NAME DIRECTORY: a gzipped tar of the directory's contents (empty if it is missing)
  if [ -d "$2" ]; then
    tar -C "$2" -czf "$TARGET/$1.tar.gz" .
  else
    echo "note: $2 does not exist; $1.tar.gz is empty" >&2
    local empty; empty="$(mktemp -d)"
    tar -C "$empty" -czf "$TARGET/$1.tar.gz" .
    rmdir "$empty"
  fi
}

echo "==> database $PGDATABASE -> $TARGET/database.dump"
pg_dump --format=custom --no-owner --no-privileges --file="$TARGET/database.dump"
echo "==> files"
if [ "${BACKUP_STORAGE_BACKEND:-filesystem}" = "s3" ]; then
  echo "note: STORAGE_BACKEND=s3: documents and exports are in the bucket, not in these archives;" \
    "back the bucket up with the provider (bucket versioning)" >&2
fi
archive media "$BACKUP_MEDIA_ROOT"
archive private "$BACKUP_PRIVATE_MEDIA_ROOT"
(cd "$TARGET" && sha256sum database.dump media.tar.gz private.tar.gz > SHA256SUMS)
echo "$TARGET"
