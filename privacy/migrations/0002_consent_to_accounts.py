"""Consent moves to accounts (accounts 0003 takes it over): only Django's idea of the model changes here;
the privacy_consent table, its rows, index and constraint stay exactly as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Consent")],
            database_operations=[],
        ),
    ]
