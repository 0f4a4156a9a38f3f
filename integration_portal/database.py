"""Database and task-broker settings from ``DATABASE_URL`` and ``REDIS_URL``.

A SQLite database holds everything the portal keeps (request bodies, payloads, encrypted secrets):
its file and its ``-wal``/``-shm`` files are made readable by their owner only (0600) as soon as a
connection opens them (:func:`private_sqlite_files`, on ``connection_created``).
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from core.stored_messages import gettext_noop

SQLITE_OPTIONS = {
    # Several writers (web + qcluster workers): take the write lock at BEGIN and
    # wait for it instead of failing with "database is locked".
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

SUPPORTED_ENGINES = ("django.db.backends.sqlite3", "django.db.backends.postgresql")
PRIVATE_FILE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def database_settings(database_url: str | None, data_dir: Path) -> dict:
    """The ``default`` database: SQLite in the data folder unless ``DATABASE_URL`` says otherwise."""
    if not database_url:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(data_dir) / "portal.sqlite3")}
    else:
        try:
            config = dj_database_url.parse(database_url, conn_max_age=60, conn_health_checks=True)
        except ValueError as exc:
            raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
        if config["ENGINE"] not in SUPPORTED_ENGINES:
            raise ImproperlyConfigured(
                f"DATABASE_URL must be a sqlite:/// or postgres:// URL; got an engine of {config['ENGINE']!r}."
            )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        config["CONN_MAX_AGE"] = 0
    return config


def q_cluster_settings(redis_url: str | None, workers: int, task_timeout: int) -> dict:
    """django-q2 configured on purpose; see FACTS.md for why each value is what it is.

    - ``max_attempts`` 1: retries belong to the connectors, never to the queue
      (django-q2's default 0 means *retry forever*).
    - ``retry`` greater than ``timeout``: otherwise a long task is delivered twice.
    - ``ack_failures``: a failed task is acknowledged, not re-delivered.
    - ``catch_up`` off: after downtime an integration runs once, not once per missed slot.
    """
    config = {
        "name": "integration-portal",
        "workers": workers,
        "timeout": task_timeout,
        "retry": task_timeout + 120,
        "max_attempts": 1,
        "ack_failures": True,
        "catch_up": False,
        "save_limit": 500,
        # django-q2's section of the admin, in the reader's language (and still plain text for JSON).
        "label": gettext_noop("Background tasks"),
    }
    if redis_url:
        config["redis"] = redis_url
    else:
        config["orm"] = "default"
        config["poll"] = 1
    return config


@receiver(connection_created, dispatch_uid="integration_portal.private_sqlite_files")
def private_sqlite_files(sender, connection, **kwargs) -> None:
    """Make a SQLite database file and its companions readable by their owner only (0600).

    SQLite creates a new database file (and its ``-wal``/``-shm`` files, which take the database
    file's mode) under the process's umask, usually 0644. Called as each connection opens (after the
    ``init_command`` switched to WAL), so a file made now, or by an earlier version, is private
    before anything is written to it.
    """
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    database = str(connection.settings_dict["NAME"])
    for suffix in SQLITE_COMPANIONS:
        path = database + suffix
        try:
            if os.stat(path).st_mode & 0o777 != PRIVATE_FILE:
                os.chmod(path, PRIVATE_FILE)
        except (FileNotFoundError, PermissionError):
            continue  # not there (yet), or another user's file: its owner's connections make it private
