"""A run names the schedule slot it is for (``SyncRun.scheduled_for``); a slot runs once.

The integrations' existing django-q2 schedules start sending their slot (``intended_date_kwarg``)
here, as :func:`sync.schedules.schedule_fields` makes new ones do; their ``task`` is cleared, so
the reaper watches only slots sent from now on.
"""

from django.conf import settings
from django.db import migrations, models

RUN_SCHEDULED = "sync.tasks.run_scheduled"


def send_the_slot(apps, schema_editor):
    schedules = apps.get_model("django_q", "Schedule").objects.using(schema_editor.connection.alias)
    schedules.filter(func=RUN_SCHEDULED).update(intended_date_kwarg="scheduled_for", task=None)


def send_no_slot(apps, schema_editor):
    schedules = apps.get_model("django_q", "Schedule").objects.using(schema_editor.connection.alias)
    schedules.filter(func=RUN_SCHEDULED).update(intended_date_kwarg=None)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0008_alert_event_last_error_stored_message"),
        ("sync", "0005_encrypt_alert_webhook_url"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="scheduled_for",
            field=models.DateTimeField(
                blank=True, help_text="The schedule slot this run is for", null=True, verbose_name="scheduled for"
            ),
        ),
        migrations.AddConstraint(
            model_name="syncrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("scheduled_for__isnull", False)),
                fields=("integration", "scheduled_for"),
                name="sync_run_one_per_schedule_slot",
                violation_error_message="This schedule slot already has a run.",
            ),
        ),
        migrations.RunPython(send_the_slot, send_no_slot),
    ]
