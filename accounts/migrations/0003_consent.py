"""Consent, made by privacy 0001, now belongs to accounts: the model is taken over in Django's state only,
over the same privacy_consent table (Meta.db_table), so no row moves. Its content type is relabelled so
permissions and admin history given on consents keep pointing at it."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="accounts", model="consent").exists():
        ContentType.objects.filter(app_label="privacy", model="consent").update(app_label="accounts")


def restore_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="privacy", model="consent").exists():
        ContentType.objects.filter(app_label="accounts", model="consent").update(app_label="privacy")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
        # Privacy gives the model up first, so the two apps never both claim the table.
        ("privacy", "0002_consent_to_accounts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Consent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "purpose",
                            models.CharField(
                                choices=[
                                    ("privacy_notice", "I have read the privacy notice"),
                                    ("news_and_events", "News, events and surveys from the association"),
                                ],
                                max_length=30,
                            ),
                        ),
                        ("version", models.CharField(max_length=20, verbose_name="privacy notice version")),
                        ("given_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "channel",
                            models.CharField(
                                choices=[
                                    ("web", "Web form"),
                                    ("api", "Mobile or partner app (API)"),
                                    ("staff", "Recorded by staff (paper form)"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                        ("withdrawn_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="consents",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "privacy_consent",
                        "ordering": ["-given_at", "-pk"],
                        "indexes": [
                            models.Index(fields=["user", "purpose", "-given_at"], name="privacy_consent_user_idx")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("withdrawn_at__isnull", True)),
                                fields=("user", "purpose", "version"),
                                name="privacy_consent_one_open_per_version",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, restore_content_type),
    ]
