"""A notification's failure (``AlertEvent.last_error``) becomes a stored message.

The column stays a text column, as in ``0007_stored_messages``: only Django's idea of the field
changes, so no table is rebuilt and the rows written before stay plain text, shown as they are.
"""

from django.db import migrations

import core.stored_messages


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0007_stored_messages"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="alertevent",
                    name="last_error",
                    field=core.stored_messages.StoredMessageField(blank=True, verbose_name="last error"),
                ),
            ],
        )
    ]
