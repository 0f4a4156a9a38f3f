"""What the portal writes to disk is readable by its owner only: export files (0600) in a 0700 folder, and the
SQLite database with its -wal and -shm files (0600), whatever the process's umask."""

import os
import stat
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper

from integration_portal.database import SQLITE_OPTIONS
from monitoring import exports
from monitoring.choices import RecordAction, RunStatus, Trigger
from monitoring.exports import HistorySelection, request_export
from monitoring.models import ExportStatus, RecordEvent, SyncRun

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask():
    """The umask most systems start processes with: files 0644, folders 0755 unless the portal says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.django_db
def test_a_background_export_is_private_to_the_portals_user(integration, settings, tmp_path, usual_umask):
    settings.DATA_DIR = tmp_path
    table = integration.tables.get()
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SUCCEEDED)
    when = datetime(2026, 11, 21, 9, tzinfo=SAO_PAULO)
    RecordEvent.objects.create(run=run, table=table, occurred_at=when, record_key="K1", action=RecordAction.CREATED)
    (tmp_path / "exports").mkdir(mode=0o755)  # made by an earlier version

    with time_machine.travel(datetime(2026, 11, 23, 12, tzinfo=SAO_PAULO), tick=False):
        selection = HistorySelection(integration, (table,), date(2026, 11, 20), date(2026, 11, 22))
        job, new = request_export(selection, None, rows=1)  # django-q2 in sync mode: written now

    assert new and job.status == ExportStatus.DONE
    assert mode(exports.exports_dir()) == 0o700
    assert mode(exports.export_path(job)) == 0o600


def test_a_file_written_by_the_export_is_private_from_its_first_byte(tmp_path, usual_umask):
    path = tmp_path / "history-1.xlsx.partial"
    path.write_bytes(b"left over by an earlier attempt")
    path.chmod(0o644)
    with exports.private_file(path) as handle:
        assert mode(path) == 0o600
        handle.write(b"PK")
    assert path.read_bytes() == b"PK" and mode(path) == 0o600


def sqlite_connection(path) -> DatabaseWrapper:
    """A connection as the portal makes one to its SQLite file (WAL, by the settings' init command)."""
    settings_dict = {**connection.settings_dict, "NAME": str(path), "OPTIONS": dict(SQLITE_OPTIONS)}
    return DatabaseWrapper(settings_dict, alias="file-modes")


@pytest.fixture
def own_database(django_db_blocker):
    """Connections to a database file of the test's own (not the test database)."""
    with django_db_blocker.unblock():
        yield


def test_the_sqlite_database_and_its_wal_files_are_private(tmp_path, usual_umask, own_database):
    database = tmp_path / "portal.sqlite3"
    wrapper = sqlite_connection(database)
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("CREATE TABLE secrets (value TEXT)")
            cursor.execute("INSERT INTO secrets VALUES ('payload')")
        files = [database, tmp_path / "portal.sqlite3-wal", tmp_path / "portal.sqlite3-shm"]
        assert all(path.exists() for path in files)
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    finally:
        wrapper.close()


def test_a_database_made_by_an_earlier_version_becomes_private(tmp_path, usual_umask, own_database):
    database = tmp_path / "portal.sqlite3"
    database.touch(mode=0o644)
    database.chmod(0o644)
    wrapper = sqlite_connection(database)
    try:
        wrapper.ensure_connection()
        assert mode(database) == 0o600
    finally:
        wrapper.close()
