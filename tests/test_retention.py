"""Retention: record events and request logs for the days the History tab exports, runs for 90 days unless the
state or a person still needs them; deleted in bounded batches within a time budget."""

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from monitoring import retention
from monitoring.choices import (
    ErrorStatus,
    HeldDeleteStatus,
    RecordAction,
    RunStatus,
    Trigger,
    WebhookEventStatus,
    WebhookVerdict,
)
from monitoring.history_selection import history_starts
from monitoring.models import (
    HeldDelete,
    IntegrationState,
    RecordError,
    RecordEvent,
    RequestLog,
    SyncRun,
    TableRun,
    TableState,
    WebhookEvent,
)
from monitoring.tasks import maintenance
from sync.choices import IntegrationType, WebhookScheme
from sync.models import Integration, SyncTable, WebhookReceiver

pytestmark = pytest.mark.django_db

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=SAO_PAULO)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def table(integration):
    return integration.tables.get()


def finished_run(integration, table, days_ago, status=RunStatus.SUCCEEDED) -> SyncRun:
    """A run that started ``days_ago`` and finished a minute later, with its table run."""
    started = NOW - timedelta(days=days_ago)
    run = SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.SCHEDULE,
        status=status,
        queued_at=started,
        started_at=started,
        finished_at=started + timedelta(minutes=1),
    )
    TableRun.objects.create(
        run=run, table=table, status=status, started_at=started, finished_at=started + timedelta(minutes=1)
    )
    return run


def event(run, table, when, key="K"):
    return RecordEvent.objects.create(
        run=run, table=table, occurred_at=when, record_key=key, action=RecordAction.CREATED
    )


def call(run, table, when):
    return RequestLog.objects.create(run=run, table=table, started_at=when, method="GET", url="https://crm.example/x")


def exists(obj) -> bool:
    return type(obj).objects.filter(pk=obj.pk).exists()


# --------------------------------------------------------------------------- events and request logs


def test_events_and_calls_stay_as_long_as_the_history_tab_exports_them(integration, table):
    run = finished_run(integration, table, days_ago=10)
    first_day = history_starts(timezone.now())
    assert first_day == datetime(2026, 11, 16, 0, 0, tzinfo=SAO_PAULO)  # the form's first day, from midnight
    kept = [
        event(run, table, NOW - timedelta(hours=1)),
        event(run, table, first_day),
        event(run, table, first_day + timedelta(hours=6)),  # more than 168 hours ago, but still exported
        call(run, table, first_day),
        call(run, None, first_day + timedelta(hours=1)),
    ]
    gone = [
        event(run, table, first_day - timedelta(seconds=1)),
        event(run, table, NOW - timedelta(days=30)),
        call(run, table, first_day - timedelta(seconds=1)),
        call(run, None, NOW - timedelta(days=9)),  # a call tied to no table (reading a WSDL)
    ]

    result = retention.prune(timezone.now())

    assert result.complete and (result.events, result.requests) == (2, 2)
    assert all(exists(row) for row in kept)
    assert not any(exists(row) for row in gone)
    assert exists(run)  # the run is 10 days old: runs are kept for 90


def test_a_longer_event_retention_is_honoured(integration, table, settings):
    settings.RETENTION_EVENTS_DAYS = 30
    run = finished_run(integration, table, days_ago=40)
    stays, goes = event(run, table, NOW - timedelta(days=29)), event(run, table, NOW - timedelta(days=31))
    retention.prune(timezone.now())
    assert exists(stays) and not exists(goes)


# --------------------------------------------------------------------------- runs


def test_runs_stay_for_90_days_then_go_unless_something_still_needs_them(integration, table, erp_connection):
    newest_success = finished_run(integration, table, days_ago=1)
    recent = finished_run(integration, table, days_ago=89)
    old = finished_run(integration, table, days_ago=91)
    old_decided = finished_run(integration, table, days_ago=95)
    old_in_queue = finished_run(integration, table, days_ago=96, status=RunStatus.PARTIAL)
    old_held = finished_run(integration, table, days_ago=97)
    decided = RecordError.objects.create(
        table=table, run=old_decided, record_key="1", payload={}, reason="x", status=ErrorStatus.RESOLVED
    )
    pending = RecordError.objects.create(table=table, run=old_in_queue, record_key="2", payload={"Id": 2}, reason="x")
    held = HeldDelete.objects.create(table=table, run=old_held, source_key="3", target_key="30")
    HeldDelete.objects.create(table=table, run=old, source_key="4", target_key="40", status=HeldDeleteStatus.REJECTED)

    # Another integration whose only run is old: it is its newest finished run, and stays.
    lonely = Integration.objects.create(
        name="Lonely",
        integration_type=IntegrationType.REST,
        erp_name="E",
        crm_name="C",
        erp_connection=erp_connection,
        crm_connection=integration.crm_connection,
    )
    lonely_table = SyncTable.objects.create(
        integration=lonely, name="Product", source_object="/p", target_object="/p", record_key="Id"
    )
    lonely_run = finished_run(lonely, lonely_table, days_ago=200)

    result = retention.prune(timezone.now())

    assert result.complete and result.runs == 2
    assert {run.pk for run in (newest_success, recent, old_in_queue, old_held, lonely_run)} == set(
        SyncRun.objects.values_list("pk", flat=True)
    )
    # A run stays with its table runs; a run that goes takes its table runs along.
    assert set(TableRun.objects.values_list("run_id", flat=True)) == set(SyncRun.objects.values_list("pk", flat=True))
    # The review queue and the held deletes are never deleted; a decided entry only loses its link to the run.
    pending.refresh_from_db()
    held.refresh_from_db()
    decided.refresh_from_db()
    assert pending.run_id == old_in_queue.pk and held.run_id == old_held.pk and decided.run_id is None
    # The stored state still points at what it pointed at.
    assert IntegrationState.objects.get(integration=integration).last_finished_run_id == newest_success.pk
    assert IntegrationState.objects.get(integration=lonely).last_finished_run_id == lonely_run.pk
    assert TableState.objects.get(table=lonely_table).last_finished_run.run_id == lonely_run.pk


def test_the_failed_runs_since_the_last_success_stay_with_it(integration, table):
    """The failure streak and the last success are facts the state is rebuilt from: they survive the pruning."""
    success = finished_run(integration, table, days_ago=200)
    older_failure = finished_run(integration, table, days_ago=210, status=RunStatus.FAILED)
    streak = [finished_run(integration, table, days_ago=days, status=RunStatus.FAILED) for days in (150, 120, 100)]
    state = IntegrationState.objects.get(integration=integration)
    assert state.failure_streak == 3

    retention.prune(timezone.now())

    assert exists(success) and all(exists(run) for run in streak)
    assert not exists(older_failure)
    state.count_failures()
    assert state.failure_streak == 3 and state.failing_since == streak[0].finished_at


def test_a_run_still_active_is_never_deleted(integration, table):
    finished_run(integration, table, days_ago=1)
    stuck = SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.SCHEDULE,
        status=RunStatus.RUNNING,
        queued_at=NOW - timedelta(days=120),
        started_at=NOW - timedelta(days=120),
    )
    retention.prune(timezone.now())
    assert exists(stuck)


# --------------------------------------------------------------------------- bounded batches and time budget


def test_a_round_deletes_at_most_a_batch_of_each_kind(integration, table, monkeypatch):
    run = finished_run(integration, table, days_ago=20)
    other = SyncTable.objects.create(
        integration=integration, name="Contact", source_object="/c", target_object="/c", record_key="Id"
    )
    for number in range(7):
        event(run, table, NOW - timedelta(days=10, minutes=number))
        event(run, other, NOW - timedelta(days=10, minutes=number))
        call(run, table, NOW - timedelta(days=10, minutes=number))
    deleted = []
    delete_old = retention._delete_old

    def counted(model, *args):
        count = delete_old(model, *args)
        deleted.append((model.__name__, count))
        return count

    monkeypatch.setattr(retention, "_delete_old", counted)

    result = retention.prune(timezone.now(), batch=5, budget=60)

    assert (result.events, result.requests, result.complete) == (14, 7, True)
    assert deleted == [
        ("RecordEvent", 5),
        ("RequestLog", 5),
        ("RecordEvent", 5),
        ("RequestLog", 2),
        ("RecordEvent", 4),
        ("RequestLog", 0),
        ("RecordEvent", 0),
        ("RequestLog", 0),
    ]
    assert result.rounds == 4


def test_a_call_stops_at_its_time_budget_and_the_next_goes_on(integration, table):
    run = finished_run(integration, table, days_ago=20)
    for number in range(12):
        event(run, table, NOW - timedelta(days=10, minutes=number))
    ticks = itertools.count(step=10)  # every reading of the clock: 10 seconds later

    result = retention.prune(timezone.now(), batch=5, budget=15, clock=lambda: next(ticks))

    assert (result.events, result.rounds, result.complete) == (5, 1, False)
    assert RecordEvent.objects.count() == 7
    again = retention.prune(timezone.now(), batch=5, budget=60)
    assert again.complete and again.events == 7 and not RecordEvent.objects.exists()


def test_settled_inbox_events_go_with_the_record_events_and_waiting_ones_stay(integration):
    receiver = WebhookReceiver.objects.create(
        connection=integration.crm_connection, scheme=WebhookScheme.SHARED_KEY, signature_header="X-Key", secret="k"
    )

    def inbox(days_ago, status, verdict=WebhookVerdict.ACCEPTED):
        return WebhookEvent.objects.create(
            receiver=receiver,
            received_at=NOW - timedelta(days=days_ago),
            delivery_id=f"{status}-{days_ago}-{verdict}",
            verdict=verdict,
            status=status,
        )

    gone = [
        inbox(10, WebhookEventStatus.IGNORED, WebhookVerdict.REFUSED),  # a refused delivery
        inbox(10, WebhookEventStatus.PROCESSED),
    ]
    kept = [
        inbox(1, WebhookEventStatus.IGNORED, WebhookVerdict.REFUSED),  # within the History tab's week
        inbox(30, WebhookEventStatus.RECEIVED),  # still waiting to be processed
        inbox(30, WebhookEventStatus.FAILED),  # waiting for a person
    ]

    result = retention.prune(timezone.now())

    assert result.complete and result.webhooks == 2
    assert not any(exists(row) for row in gone)
    assert all(exists(row) for row in kept)


def test_the_minute_maintenance_prunes(integration, table):
    run = finished_run(integration, table, days_ago=20)
    event(run, table, NOW - timedelta(days=10))
    summary = maintenance()
    assert summary["pruned"]["events"] == 1 and summary["pruned"]["complete"] is True
