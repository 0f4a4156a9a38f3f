"""The user preference now belongs to the accounts app (``accounts.0001_initial``): its table stays (state only)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0015_export_job_limits"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="UserPreference")],
            database_operations=[],
        ),
    ]
