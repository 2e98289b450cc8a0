"""The index behind Finance's "not applied" list and count (payments.models.Payment.unapplied_at): a partial
index holding only the few unapplied payments. Built CONCURRENTLY on PostgreSQL (as 0003 and 0004 do), so
the build does not block payment writes on a table of millions of rows; the model's state declares it."""

from django.db import migrations, models

NAME = "payments_unapplied_idx"


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def create_index(apps, schema_editor):
    schema_editor.execute(
        f"CREATE INDEX {_concurrently(schema_editor)} IF NOT EXISTS {NAME} "
        "ON payments_payment (created_at) WHERE unapplied_at IS NOT NULL"
    )


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)} IF EXISTS {NAME}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("payments", "0008_unapplied_payments"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_index, drop_index)],
            state_operations=[
                migrations.AddIndex(
                    model_name="payment",
                    index=models.Index(
                        condition=models.Q(unapplied_at__isnull=False), fields=["created_at"], name=NAME
                    ),
                ),
            ],
        ),
    ]
