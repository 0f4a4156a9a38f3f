"""What the benches here share: Django on a throwaway SQLite data folder, migrated (``DEBUG=1``, keys
generated in that folder, the demo systems off, never the shell's ``DATABASE_URL`` or ``REDIS_URL``), and
millions of record events made in the database rather than in Python.
"""

import os
from pathlib import Path


def setup_django(data_dir: Path, **environment: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
            "PORTAL_DATA_DIR": str(data_dir),
            "DEBUG": "1",
            "SANDBOX_ENABLED": "0",
            **environment,
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def copy_events(total: int) -> None:
    """Copy the events already stored (INSERT … SELECT, in the database) until there are ``total``.

    Every copy lands on the same runs and tables as its original, with the same record keys: as
    when each run reads the same records again. Python never builds these rows, so two million
    take seconds rather than minutes.
    """
    from django.db import connection, transaction

    from monitoring.models import RecordEvent

    meta = RecordEvent._meta
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    columns = ", ".join(quote(field.column) for field in meta.concrete_fields if not field.primary_key)
    seed = RecordEvent.objects.count()
    stored = seed
    while stored < total:
        block = min(seed, total - stored)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} "  # noqa: S608 (names from _meta)
                f"WHERE {pk} IN (SELECT {pk} FROM {table} ORDER BY {pk} LIMIT %s)",
                [block],
            )
        stored += block
