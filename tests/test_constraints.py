"""Rules the database itself enforces, whatever the code above it does."""

import pytest
from django.db import IntegrityError, transaction

from monitoring.choices import AlertKind, AlertStatus, RunStatus, Trigger
from monitoring.models import Alert, SyncRun, TableRun
from sync.models import RecordLink

pytestmark = pytest.mark.django_db


def test_a_second_running_run_of_an_integration_is_refused(integration):
    SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=RunStatus.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.QUEUED)


def test_runs_that_ended_do_not_block_a_new_one(integration):
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ABANDONED):
        SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status=status)
    SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE)
    assert SyncRun.objects.filter(integration=integration).count() == 4


def test_a_run_is_claimed_once_and_finished_once(integration):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)
    other_worker_copy = SyncRun.objects.get(pk=run.pk)
    assert run.start() is True
    assert other_worker_copy.start() is False
    assert run.finish(RunStatus.SUCCEEDED) is True
    assert other_worker_copy.finish(RunStatus.FAILED, "late") is False
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.duration is not None and run.duration.total_seconds() >= 0
    SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)  # the lock is released


def test_a_second_open_alert_is_refused_for_the_integration(integration):
    Alert.objects.create(integration=integration, kind=AlertKind.NO_SUCCESS, message="late")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            integration=integration, kind=AlertKind.NO_SUCCESS, status=AlertStatus.ACKNOWLEDGED, message="again"
        )


def test_a_second_open_alert_is_refused_for_a_table(integration):
    table = integration.tables.get()
    Alert.objects.create(integration=integration, table=table, kind=AlertKind.DELETES_HELD, message="held")
    Alert.objects.create(integration=integration, kind=AlertKind.DELETES_HELD, message="integration-wide")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(integration=integration, table=table, kind=AlertKind.DELETES_HELD, message="again")


def test_a_resolved_alert_lets_a_new_one_open(integration):
    Alert.objects.create(integration=integration, kind=AlertKind.RUN_STUCK, status=AlertStatus.RESOLVED, message="x")
    Alert.objects.create(integration=integration, kind=AlertKind.RUN_STUCK, message="y")
    assert Alert.objects.filter(kind=AlertKind.RUN_STUCK).count() == 2


def test_one_record_link_per_table_and_source_key(integration):
    table = integration.tables.get()
    RecordLink.objects.create(table=table, source_key="11222333000181", target_key="1", mapped_hash="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        RecordLink.objects.create(table=table, source_key="11222333000181", target_key="2", mapped_hash="b")


def test_table_run_counts_must_add_up(integration):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)
    table = integration.tables.get()
    TableRun.objects.create(run=run, table=table, read=5, created=2, updated=1, unchanged=1, failed=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        TableRun.objects.filter(run=run).update(read=6)
