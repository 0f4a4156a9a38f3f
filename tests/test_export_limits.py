"""What a history export may take from the portal: the same request reuses its job, a user has at most N active
jobs, exports are written one at a time (the syncs keep their workers), a dead export is failed within minutes;
and the Excessive-deletes export neutralises formula-like cells as the history workbook does."""

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ONBOARDING
from monitoring import exports
from monitoring.choices import RecordAction, RunStatus, Trigger
from monitoring.exports import fail_dead_exports
from monitoring.models import ExportJob, ExportStatus, HeldDelete, RecordEvent, SyncRun
from monitoring.tasks import maintenance
from sync.models import SyncTable

pytestmark = pytest.mark.django_db

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=SAO_PAULO)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def background(settings, tmp_path):
    """Every export goes to the background, in a folder of the test's own."""
    settings.DATA_DIR = tmp_path
    settings.EXPORT_INLINE_MAX_ROWS = -1  # even an empty one
    settings.EXPORT_MAX_ACTIVE_PER_USER = 2


class Broker:
    """django-q2's broker as the workers see it: tasks wait in ``tasks`` until a "worker" runs one."""

    def __init__(self):
        self.tasks: list[int] = []

    def async_task(self, func, job_id, **options):
        assert func == "monitoring.tasks.build_export"
        self.tasks.append(job_id)
        return f"task-{len(self.tasks)}"

    def run_next(self):
        return exports.build_export(self.tasks.pop(0))


@pytest.fixture
def broker(monkeypatch):
    broker = Broker()
    monkeypatch.setattr(exports, "async_task", broker.async_task)
    return broker


@pytest.fixture
def company(integration):
    table = integration.tables.get(name="Company")
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SUCCEEDED)
    for hour in range(3):
        RecordEvent.objects.create(
            run=run,
            table=table,
            occurred_at=datetime(2026, 11, 21, 9 + hour, tzinfo=SAO_PAULO),
            record_key=f"K{hour}",
            action=RecordAction.CREATED,
        )
    return table


def ask(client, integration, tables, start=date(2026, 11, 20), end=date(2026, 11, 22)):
    return client.post(
        reverse("admin:integration_history", args=[integration.pk]),
        {"start": start.isoformat(), "end": end.isoformat(), "tables": [table.pk for table in tables]},
    )


def texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


# --------------------------------------------------------------------------- the same request twice


def test_the_same_request_while_queued_reuses_its_job(login_as, integration, company, broker):
    client = login_as(ONBOARDING)
    first = ask(client, integration, [company])
    job = ExportJob.objects.get()
    assert first.status_code == 302 and job.status == ExportStatus.QUEUED

    again = ask(client, integration, [company])
    assert ExportJob.objects.count() == 1 and broker.tasks == [job.pk]
    assert again.status_code == 302 and again["Location"] == reverse("admin:export", args=[job.pk])
    assert texts(again) == ["The same export is already queued or being written: here it is."]

    # Other days are another export; so is the same one once the first is done.
    ask(client, integration, [company], start=date(2026, 11, 21))
    assert ExportJob.objects.count() == 2
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.DONE)
    ask(client, integration, [company])
    assert ExportJob.objects.count() == 3


# --------------------------------------------------------------------------- N active exports per user


def test_a_user_has_at_most_two_active_exports_the_third_is_refused(
    login_as, django_user_model, integration, company, broker
):
    onboarding = login_as(ONBOARDING)
    ask(onboarding, integration, [company], start=date(2026, 11, 20))
    ask(onboarding, integration, [company], start=date(2026, 11, 21))
    refused = ask(onboarding, integration, [company], start=date(2026, 11, 22))

    assert ExportJob.objects.count() == 2 and len(broker.tasks) == 1  # nothing more queued
    assert refused.status_code == 200
    message = "You already have 2 exports queued or being written. Wait until one is ready, then export again."
    assert message in refused.content.decode()  # on the History tab, shown with the form as it was filled

    # A colleague is not held back by these two.
    colleague = django_user_model.objects.create_user(username="other", password="pw", is_staff=True)
    colleague.groups.add(Group.objects.get(name=ONBOARDING))
    other = Client()
    other.force_login(colleague)
    assert ask(other, integration, [company], start=date(2026, 11, 22)).status_code == 302
    assert ExportJob.objects.filter(requested_by=colleague).count() == 1

    # Once one of the user's exports has ended, the next is accepted.
    broker.run_next()
    assert ask(onboarding, integration, [company], start=date(2026, 11, 22)).status_code == 302
    assert ExportJob.objects.filter(requested_by__username="onboarding").count() == 3


def test_the_limit_is_a_setting(login_as, integration, company, broker, settings):
    settings.EXPORT_MAX_ACTIVE_PER_USER = 1
    client = login_as(ONBOARDING)
    ask(client, integration, [company], start=date(2026, 11, 20))
    refused = ask(client, integration, [company], start=date(2026, 11, 21))
    assert ExportJob.objects.count() == 1
    message = "You already have 1 export queued or being written. Wait until it is ready, then export again."
    assert message in refused.content.decode()


# --------------------------------------------------------------------------- one export at a time


def test_two_queued_exports_never_take_two_workers(login_as, integration, company, broker, monkeypatch):
    """With two workers, the second export waits while the first is written: one worker stays free for syncs."""
    client = login_as(ONBOARDING)
    ask(client, integration, [company], start=date(2026, 11, 20))
    ask(client, integration, [company], start=date(2026, 11, 21))
    first, second = ExportJob.objects.order_by("pk")
    assert broker.tasks == [first.pk]  # the second is not handed to the workers while the first is pending

    seen = []
    write = exports.write_history

    def writing(selection, target, **options):
        # Meanwhile the other worker gets the second export's task (a lost task sent again, say): it
        # returns at once, and the export stays queued.
        seen.append(exports.build_export(second.pk).status)
        seen.append(ExportJob.objects.get(pk=first.pk).status)
        page = client.get(reverse("admin:export", args=[second.pk])).content.decode()
        seen.append("Exports are written one at a time" in page)
        return write(selection, target, **options)

    monkeypatch.setattr(exports, "write_history", writing)
    broker.run_next()
    assert seen == [ExportStatus.QUEUED, ExportStatus.RUNNING, True]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ExportStatus.DONE and second.status == ExportStatus.QUEUED
    assert broker.tasks == [second.pk]  # sent when the first ended

    monkeypatch.setattr(exports, "write_history", write)
    broker.run_next()
    second.refresh_from_db()
    assert second.status == ExportStatus.DONE


def test_the_database_refuses_a_second_export_being_written(integration, company):
    jobs = [
        ExportJob.objects.create(
            integration=integration,
            table_ids=[company.pk],
            start_date=date(2026, 11, 20),
            end_date=date(2026, 11, 22),
            selection_key=str(day),
        )
        for day in range(2)
    ]
    assert jobs[0].start() is True
    assert jobs[1].start() is False
    assert ExportJob.objects.filter(status=ExportStatus.RUNNING).count() == 1


# --------------------------------------------------------------------------- a dead export


def test_an_export_whose_worker_died_is_failed_within_minutes_and_its_files_removed(
    login_as, integration, company, broker
):
    client = login_as(ONBOARDING)
    ask(client, integration, [company], start=date(2026, 11, 20))
    ask(client, integration, [company], start=date(2026, 11, 21))
    dead, waiting = ExportJob.objects.order_by("pk")
    assert dead.start()  # its worker starts writing, then dies
    partial, scratch = exports.work_paths(dead.pk)
    exports.private_exports_dir()
    partial.write_bytes(b"PK half a workbook")
    scratch.mkdir()
    (scratch / "rows.tmp").write_bytes(b"rows")

    assert fail_dead_exports(timezone.now() + timedelta(seconds=60)) == []  # its heartbeat is still fresh
    assert fail_dead_exports(timezone.now() + timedelta(minutes=3)) == [dead.pk]

    dead.refresh_from_db()
    assert dead.status == ExportStatus.FAILED and "did not finish" in dead.error
    assert not partial.exists() and not scratch.exists()
    page = client.get(reverse("admin:export", args=[dead.pk])).content.decode()
    assert "The export failed:" in page and "Please export again." in page
    # The export waiting behind it is handed to the workers.
    assert broker.tasks[-1] == waiting.pk


def test_an_export_being_written_keeps_its_heartbeat(integration, company):
    job = ExportJob.objects.create(
        integration=integration, table_ids=[company.pk], start_date=date(2026, 11, 20), end_date=date(2026, 11, 22)
    )
    job.start(now=timezone.now() - timedelta(minutes=10))
    exports.ExportHeartbeat(job.pk).beat_once()
    assert fail_dead_exports(timezone.now() + timedelta(seconds=30)) == []
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and job.heartbeat_at == timezone.now()


def test_the_minute_maintenance_fails_dead_exports(integration, company):
    job = ExportJob.objects.create(
        integration=integration, table_ids=[company.pk], start_date=date(2026, 11, 20), end_date=date(2026, 11, 22)
    )
    job.start(now=timezone.now() - timedelta(minutes=5))
    assert maintenance()["exports_failed"] == [job.pk]


# --------------------------------------------------------------------------- the Excessive-deletes export


def test_the_held_deletes_export_neutralises_formula_like_cells(login_as, integration):
    table = integration.tables.get()
    dangerous = ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    for number, key in enumerate(dangerous):
        HeldDelete.objects.create(table=table, source_key=key, target_key=f"={number}")
    SyncTable.objects.filter(pk=table.pk).update(name="=Company")

    response = login_as(ONBOARDING).get(reverse("admin:integration_deletes", args=[integration.pk]), {"export": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(book.active.iter_rows(min_row=2))
    assert len(rows) == len(dangerous)
    for row in rows:
        table_cell, source, target = row[0], row[1], row[2]
        assert table_cell.value == "'=Company"
        assert source.data_type == "s" and source.value.startswith("'")
        assert target.value.startswith("'=")
    keys = {row[1].value for row in rows}
    assert keys == {"'" + key.replace("\r", "_x000D_") for key in dangerous}
