"""Texts that workers store become stored messages (``core.stored_messages.StoredMessageField``).

The column stays a text column: a stored message is kept there as JSON, and the rows written
before stay plain text, shown as they are. Only Django's idea of the field changes, so no table
is rebuilt (on SQLite an ``AlterField`` would copy every row of the record events).
"""

from django.db import migrations

import core.stored_messages

CHANGED = [
    ("alert", "message", {"verbose_name": "message"}),
    ("alertevent", "note", {"blank": True, "verbose_name": "note"}),
    ("exportjob", "error", {"blank": True, "verbose_name": "error"}),
    ("recorderror", "reason", {"verbose_name": "reason"}),
    ("recordevent", "message", {"blank": True, "verbose_name": "message"}),
    ("requestlog", "error", {"blank": True, "verbose_name": "error"}),
    ("syncrun", "error", {"blank": True, "verbose_name": "error"}),
]


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0006_userpreference"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name=model,
                    name=name,
                    field=core.stored_messages.StoredMessageField(**options),
                )
                for model, name, options in CHANGED
            ],
        )
    ]
