"""A run paused by a reached quota: its resume moment and why, the paused status and the resume trigger."""

import core.stored_messages
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0016_userpreference_moved_to_accounts'),
    ]

    operations = [
        migrations.AddField(
            model_name='integrationstate',
            name='paused_run',
            field=models.ForeignKey(blank=True, help_text='The newest run, paused by a quota until its resume is queued', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='monitoring.syncrun', verbose_name='paused run'),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='pause_reason',
            field=core.stored_messages.StoredMessageField(blank=True, verbose_name='why it paused'),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='resume_at',
            field=models.DateTimeField(blank=True, help_text='A paused run: when its quota is back and a run resumes its work (cleared once queued)', null=True, verbose_name='resume at'),
        ),
        migrations.AlterField(
            model_name='integrationstate',
            name='last_finished_status',
            field=models.CharField(blank=True, choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('partial', 'Partial'), ('failed', 'Failed'), ('abandoned', 'Abandoned'), ('lost', 'Lost'), ('skipped', 'Skipped'), ('paused', 'Paused')], max_length=10, verbose_name='last finished status'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('partial', 'Partial'), ('failed', 'Failed'), ('abandoned', 'Abandoned'), ('lost', 'Lost'), ('skipped', 'Skipped'), ('paused', 'Paused')], default='queued', max_length=10, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='syncrun',
            name='trigger',
            field=models.CharField(choices=[('schedule', 'Schedule'), ('manual', 'Run now'), ('command', 'Command line'), ('retry', 'Retry'), ('reaper', 'Re-queued after a lost run'), ('resume', 'Resumed after a pause')], max_length=10, verbose_name='trigger'),
        ),
        migrations.AlterField(
            model_name='tablerun',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('partial', 'Partial'), ('failed', 'Failed'), ('abandoned', 'Abandoned'), ('lost', 'Lost'), ('skipped', 'Skipped'), ('paused', 'Paused')], default='running', max_length=10, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='tablestate',
            name='last_finished_status',
            field=models.CharField(blank=True, choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('partial', 'Partial'), ('failed', 'Failed'), ('abandoned', 'Abandoned'), ('lost', 'Lost'), ('skipped', 'Skipped'), ('paused', 'Paused')], max_length=10, verbose_name='last finished status'),
        ),
        migrations.AddIndex(
            model_name='syncrun',
            index=models.Index(condition=models.Q(('resume_at__isnull', False)), fields=['resume_at'], name='sync_run_resume_due'),
        ),
    ]
