"""The stored state equals the state recomputed from the runs, whatever the history; ``rebuild_state`` restores it."""

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import state
from monitoring.choices import ErrorStatus, HeldDeleteStatus, RunStatus, Trigger
from monitoring.models import HeldDelete, IntegrationState, RecordError, SyncRun, TableRun, TableState
from sync.choices import ScheduleKind
from sync.engine import AlreadyRunning, queue_run
from sync.models import Integration, SyncTable

from .builders import build_integration

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENDINGS = [RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.ABANDONED, RunStatus.LOST]

# One step of an integration's history: what the engine, the reaper, the screens and people do.
steps = st.one_of(
    st.tuples(st.just("queue"), st.sampled_from([Trigger.SCHEDULE, Trigger.MANUAL, Trigger.RETRY])),
    st.tuples(st.just("start")),
    st.tuples(st.just("finish"), st.sampled_from(ENDINGS)),
    st.tuples(st.just("skip")),
    st.tuples(st.just("recorded"), st.sampled_from(ENDINGS), st.integers(1, 600)),  # a run inserted finished, late
    st.tuples(st.just("table run"), st.integers(0, 1), st.sampled_from(ENDINGS)),
    st.tuples(st.just("record fails"), st.integers(0, 1), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("queue change"), st.integers(0, 1), st.sampled_from(list(ErrorStatus))),
    st.tuples(st.just("delete held"), st.integers(0, 1), st.integers(0, 5)),
    st.tuples(st.just("delete decided"), st.integers(0, 1), st.sampled_from(list(HeldDeleteStatus))),
    st.tuples(st.just("reconfigured"), st.integers(1, 72), st.booleans()),
)


class Rollback(Exception):
    """Undo one example's history: the next starts from the same integration."""


def active_run(integration):
    return SyncRun.objects.filter(integration=integration, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).first()


def apply(step, integration, tables, now):
    kind, *args = step
    run = active_run(integration)
    if kind == "queue":
        with contextlib.suppress(AlreadyRunning):
            queue_run(integration, args[0])
    elif kind == "start" and run is not None:
        run.start(now=now)
    elif kind == "finish" and run is not None:
        run.finish(args[0], error=f"step at {now:%H:%M:%S}", now=now)
    elif kind == "skip":
        SyncRun.objects.create(
            integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.SKIPPED, queued_at=now, finished_at=now
        )
    elif kind == "recorded":
        at = now - timedelta(minutes=args[1])
        SyncRun.objects.create(
            integration=integration,
            trigger=Trigger.COMMAND,
            status=args[0],
            queued_at=at,
            started_at=at,
            finished_at=at + timedelta(seconds=30),
            error="recorded",
        )
    elif kind == "table run":
        newest = SyncRun.objects.filter(integration=integration).order_by("-pk").first()
        table = tables[args[0]]
        if newest is not None and not TableRun.objects.filter(run=newest, table=table).exists():
            TableRun.objects.create(run=newest, table=table, started_at=now, finished_at=now, status=args[1])
    elif kind == "record fails":
        table, key, waiting = tables[args[0]], f"R{args[1]}", args[2]
        pending = RecordError.objects.filter(table=table, record_key=key, status__in=("open", "waiting"))
        if not pending.exists():
            status = ErrorStatus.WAITING if waiting else ErrorStatus.OPEN
            RecordError.objects.create(
                table=table, record_key=key, payload={"key": key}, reason="refused", status=status
            )
    elif kind == "queue change":
        table, status = tables[args[0]], args[1]
        first = RecordError.objects.filter(table=table).order_by("pk").first()
        clashes = (
            status in ("open", "waiting")
            and first is not None
            and (
                RecordError.objects.filter(table=table, record_key=first.record_key, status__in=("open", "waiting"))
                .exclude(pk=first.pk)
                .exists()
            )
        )
        if first is not None and not clashes:
            RecordError.objects.filter(pk=first.pk).change(status=status)
    elif kind == "delete held":
        table, key = tables[args[0]], f"D{args[1]}"
        if not HeldDelete.objects.filter(table=table, source_key=key, status=HeldDeleteStatus.PENDING).exists():
            HeldDelete.objects.create(table=table, source_key=key, target_key=key)
    elif kind == "delete decided":
        pending = HeldDelete.objects.filter(table=tables[args[0]], status=HeldDeleteStatus.PENDING).first()
        if pending is not None and args[1] != HeldDeleteStatus.PENDING:
            HeldDelete.objects.filter(pk=pending.pk).change(status=args[1], decided_at=now)
    elif kind == "reconfigured":
        integration.max_time_without_success = timedelta(hours=args[0])
        tables[1].max_time_without_success = timedelta(hours=args[0] + 1) if args[1] else None
        integration.save()
        tables[1].save()


def assert_stored_equals_recomputed():
    assert state.stored_integrations() == state.recomputed_integrations()
    assert state.stored_tables() == state.recomputed_tables()


@pytest.fixture
def watched(erp_connection, crm_connection):
    with time_machine.travel(START - timedelta(days=1), tick=False):
        integration = build_integration(
            erp_connection,
            crm_connection,
            activated_at=None,
            table="Company",
            schedule_kind=ScheduleKind.DAILY,
            schedule_daily_time="00:00",
        )
        contact = SyncTable.objects.create(
            integration=integration, name="Contact", source_object="c", target_object="/c", record_key="Id", order=2
        )
    return integration, [integration.tables.get(name="Company"), contact]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(st.tuples(steps, st.integers(0, 900)), max_size=30))
def test_the_stored_state_equals_the_state_recomputed_from_any_history(watched, history):
    integration, tables = watched
    try:
        with transaction.atomic(), time_machine.travel(START, tick=False) as clock:
            for step, seconds in history:
                clock.shift(timedelta(seconds=seconds))
                apply(step, Integration.objects.get(pk=integration.pk), tables, datetime.now(UTC))
                assert_stored_equals_recomputed()
            raise Rollback
    except Rollback:
        pass


def test_rebuild_state_restores_what_was_lost_and_check_says_what_differs(watched, capsys):
    integration, tables = watched
    with time_machine.travel(START, tick=False):
        SyncRun.objects.create(
            integration=integration, trigger=Trigger.MANUAL, status=RunStatus.FAILED, finished_at=START, error="down"
        )
        RecordError.objects.create(table=tables[0], record_key="R1", payload={}, reason="refused")
    IntegrationState.objects.filter(pk=integration.pk).update(failure_streak=0, review_records=0, last_error="")
    TableState.objects.filter(pk=tables[0].pk).update(review_records=0)

    with pytest.raises(CommandError, match="4 stored facts differ"):
        call_command("rebuild_state", "--check")
    assert "failure_streak: stored 0, recomputed 1" in capsys.readouterr().out

    call_command("rebuild_state")
    assert_stored_equals_recomputed()
    stored = IntegrationState.objects.get(pk=integration.pk)
    assert (stored.failure_streak, stored.review_records, str(stored.last_error)) == (1, 1, "down")
    call_command("rebuild_state", "--check")
    assert "matches the runs" in capsys.readouterr().out


def test_rebuild_keeps_the_slot_due_and_sets_a_missing_one(watched):
    integration, _tables = watched
    IntegrationState.objects.all().delete()
    with time_machine.travel(START, tick=False):
        call_command("rebuild_state")
    assert IntegrationState.objects.get(pk=integration.pk).next_run_at == datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
    IntegrationState.objects.update(next_run_at=START)
    call_command("rebuild_state")
    assert IntegrationState.objects.get(pk=integration.pk).next_run_at == START


def test_a_deleted_table_leaves_the_integration_counts(watched):
    integration, tables = watched
    RecordError.objects.create(table=tables[1], record_key="R1", payload={}, reason="refused")
    HeldDelete.objects.create(table=tables[1], source_key="D1", target_key="D1")
    assert IntegrationState.objects.get(pk=integration.pk).review_records == 1
    tables[1].delete()
    stored = IntegrationState.objects.get(pk=integration.pk)
    assert (stored.review_records, stored.held_deletes, stored.review_table_id) == (0, 0, None)
    assert_stored_equals_recomputed()
