"""Runs whose worker died are found, marked and (once) queued again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from monitoring.reaper import reap
from monitoring.tasks import maintenance

pytestmark = pytest.mark.django_db


def test_a_running_run_with_a_stale_heartbeat_is_abandoned_and_the_lock_released(integration, settings):
    settings.RUN_HEARTBEAT_STALE_AFTER = 300
    now = timezone.now()
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE)
    run.start(now=now - timedelta(minutes=10))
    requeued = []
    result = reap(now, requeue=requeued.append)
    run.refresh_from_db()
    assert run.status == RunStatus.ABANDONED
    assert "No heartbeat since" in run.error
    assert result.abandoned == [run.pk] and requeued == []
    SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)  # the lock is free


def test_a_fresh_heartbeat_keeps_the_run(integration):
    now = timezone.now()
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE)
    run.start(now=now - timedelta(minutes=10))
    run.beat(now=now - timedelta(seconds=20))
    assert reap(now, requeue=lambda r: None).abandoned == []


def test_a_queued_run_that_never_started_is_lost_and_queued_once_more(integration, settings):
    settings.QUEUED_RUN_LOST_AFTER = 600
    now = timezone.now()
    lost = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, queued_at=now - timedelta(hours=1))
    requeued = []
    result = reap(now, requeue=requeued.append)
    lost.refresh_from_db()
    assert lost.status == RunStatus.LOST and "never started" in lost.error
    again = SyncRun.objects.get(status=RunStatus.QUEUED)
    assert again.trigger == Trigger.REAPER and requeued == [again]
    assert result.requeued == [again.pk]

    # the re-queued run is lost too: it is not queued a third time
    later = now + timedelta(hours=1)
    requeued.clear()
    reap(later, requeue=requeued.append)
    again.refresh_from_db()
    assert again.status == RunStatus.LOST and requeued == []
    assert not SyncRun.objects.filter(status=RunStatus.QUEUED).exists()


def test_the_minute_maintenance_reaps_evaluates_alerts_and_cleans_exports(integration, settings):
    settings.RUN_HEARTBEAT_STALE_AFTER = 300
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE)
    run.start(now=timezone.now() - timedelta(minutes=10))
    summary = maintenance()
    assert summary["abandoned"] == [run.pk]
    assert summary["requeued"] == [] and summary["exports_deleted"] == 0
    assert summary["claimed_slots"] == []  # no slot was due (tests/test_slot_claims.py)
    assert "integrations" in summary["alerts"]
