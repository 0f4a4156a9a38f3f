"""The user preference moves here from the monitoring app: its table stays as it is (state only)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """The preference's content type (and so its permissions) follows it, on a database that had it."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label="accounts", model="userpreference").exists():
        types.filter(app_label="monitoring", model="userpreference").update(app_label="accounts")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    if not types.filter(app_label="monitoring", model="userpreference").exists():
        types.filter(app_label="accounts", model="userpreference").update(app_label="monitoring")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("monitoring", "0015_export_job_limits"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UserPreference",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("language", models.CharField(blank=True, max_length=15, verbose_name="language")),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="portal_preference",
                                to=settings.AUTH_USER_MODEL,
                                verbose_name="user",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "user preference",
                        "verbose_name_plural": "user preferences",
                        "db_table": "monitoring_userpreference",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
