"""The alert webhook URL is a credential: store it encrypted, like a connection's secrets.

The column becomes text (an encrypted URL is longer than 200 characters), the stored URLs are
encrypted in place, then the field is declared encrypted. Backwards: decrypted, then a URL
column again.
"""

from django.db import migrations, models

import core.fields

FIELD = "alert_webhook_url"
VERBOSE_NAME = "alert webhook URL"
HELP_TEXT = "Receives JSON with a Slack-compatible text"


def _rewrite(apps, change):
    # Here the field is a plain TextField: values are read and written as stored.
    Integration = apps.get_model("sync", "Integration")
    for pk, value in Integration.objects.exclude(**{FIELD: ""}).values_list("pk", FIELD):
        Integration.objects.filter(pk=pk).update(**{FIELD: change(value)})


def encrypt_urls(apps, schema_editor):
    _rewrite(apps, core.fields.encrypt)


def decrypt_urls(apps, schema_editor):
    _rewrite(apps, lambda token: core.fields.decrypt(token, label=f"Integration.{FIELD}"))


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0004_write_mode_list_transforms"),
    ]

    operations = [
        migrations.AlterField(
            model_name="integration",
            name=FIELD,
            field=models.TextField(blank=True, help_text=HELP_TEXT, verbose_name=VERBOSE_NAME),
        ),
        migrations.RunPython(encrypt_urls, decrypt_urls),
        migrations.AlterField(
            model_name="integration",
            name=FIELD,
            field=core.fields.EncryptedTextField(blank=True, help_text=HELP_TEXT, verbose_name=VERBOSE_NAME),
        ),
    ]
