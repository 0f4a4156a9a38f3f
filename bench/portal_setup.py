"""What every bench here does first: Django on a throwaway SQLite data folder, migrated.

``DEBUG=1`` (keys generated in that folder), the demo systems off, and never the shell's
``DATABASE_URL`` or ``REDIS_URL``.
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
