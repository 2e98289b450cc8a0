import secrets

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import members.models


def fill_tokens(apps, schema_editor):
    Member = apps.get_model("members", "Member")
    for member in Member.objects.filter(verification_token__isnull=True).only("pk"):
        Member.objects.filter(pk=member.pk).update(verification_token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_delete_membershipnumbercounter"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="verification_token",
            field=models.CharField(editable=False, max_length=43, null=True),
        ),
        migrations.RunPython(fill_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="member",
            name="verification_token",
            field=models.CharField(
                default=members.models.new_verification_token, editable=False, max_length=43, unique=True
            ),
        ),
        migrations.AddField(
            model_name="member",
            name="notify_by_email",
            field=models.BooleanField(default=True, verbose_name="email me"),
        ),
        migrations.AddField(
            model_name="member",
            name="notify_by_sms",
            field=models.BooleanField(default=True, verbose_name="text me (SMS)"),
        ),
        migrations.CreateModel(
            name="ReminderLog",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("period_end", models.DateField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("due_30", "30 days before the end date"),
                            ("due_7", "7 days before the end date"),
                            ("due_1", "1 day before the end date"),
                            ("ended", "On the end date"),
                            ("grace_ended", "When the grace period ends"),
                        ],
                        max_length=20,
                    ),
                ),
                ("sent_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "member",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reminders", to="members.member"
                    ),
                ),
            ],
            options={
                "ordering": ["-sent_at"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("member", "period_end", "kind"), name="members_reminder_once_per_period"
                    )
                ],
            },
        ),
    ]
