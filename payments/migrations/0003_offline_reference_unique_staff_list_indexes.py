"""Offline payments recorded once, and the indexes behind the Finance payments list (/staff/payments/).

Written as SQL rather than Meta constraints/indexes so that PostgreSQL builds them CONCURRENTLY: the
payments table holds millions of rows and takes callbacks all day, and a plain CREATE INDEX would block
every payment write for the length of the build. The state Django keeps of the model does not list them.

- payments_offline_reference_uniq: one cash receipt, cheque or bank reference per method, ever (the
  backstop of payments.services.payment_record_offline; M-Pesa rows leave external_reference blank).
  The reference comes first, so the list's search by reference alone uses it too.
- payments_offline_created_idx: the few offline payments (a method filter) in date order. The list's
  default order, -created_at, is served by the created_at index.
- payments_status_created_idx: a status filter in date order.
- payments_amount_id_idx: the list sorted by amount.
- payments_phone_idx: search by the paying phone number.
"""

from django.db import migrations

INDEXES = [
    (
        "payments_offline_reference_uniq",
        "CREATE UNIQUE INDEX {concurrently} IF NOT EXISTS payments_offline_reference_uniq "
        "ON payments_payment (external_reference, method) WHERE method <> 'mpesa'",
    ),
    (
        "payments_offline_created_idx",
        "CREATE INDEX {concurrently} IF NOT EXISTS payments_offline_created_idx "
        "ON payments_payment (created_at) WHERE method <> 'mpesa'",
    ),
    (
        "payments_status_created_idx",
        "CREATE INDEX {concurrently} IF NOT EXISTS payments_status_created_idx ON payments_payment (status, created_at)",
    ),
    (
        "payments_amount_id_idx",
        "CREATE INDEX {concurrently} IF NOT EXISTS payments_amount_id_idx ON payments_payment (amount, id)",
    ),
    (
        "payments_phone_idx",
        "CREATE INDEX {concurrently} IF NOT EXISTS payments_phone_idx ON payments_payment (phone_number)",
    ),
]


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def create_indexes(apps, schema_editor):
    concurrently = _concurrently(schema_editor)
    for _name, sql in INDEXES:
        schema_editor.execute(sql.format(concurrently=concurrently))


def drop_indexes(apps, schema_editor):
    concurrently = _concurrently(schema_editor)
    for name, _sql in reversed(INDEXES):
        schema_editor.execute(f"DROP INDEX {concurrently} IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("payments", "0002_completed_index_export_permission"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
    ]
