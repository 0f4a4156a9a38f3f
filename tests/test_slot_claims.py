"""A schedule slot is claimed once, named on its run, and never lost when its wake-up vanishes.

django-q2's own scheduler sends the wake-ups here (``django_q.scheduler.scheduler``), into a
broker that only holds the tasks: delivering one is what a worker does with it, and
dropping one is what Redis does when the cluster that prefetched it is killed. The slot
itself lives on the integration's state (``next_run_at``): whoever moves it on runs it.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management.sql import emit_post_migrate_signal
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.brokers import Broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from accounts.roles import SUPERVISOR
from monitoring.choices import HealthStatus, RunStatus, Trigger
from monitoring.models import IntegrationState, SyncRun
from monitoring.status import integration_health
from monitoring.tasks import maintenance
from sync import tasks
from sync.choices import ScheduleKind
from sync.engine import queue_run
from sync.models import Integration
from sync.slots import MAINTENANCE, MAINTENANCE_NAME, claim_due, schedule_name

from .builders import build_integration, finish_runs_at_once

pytestmark = pytest.mark.django_db
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the portal's time zone in the tests (UTC-3, no DST)
NEW_YORK = ZoneInfo("America/New_York")


def local(*args, tz=SAO_PAULO, fold=0):
    return datetime(*args, tzinfo=tz, fold=fold)


class HeldTasks(Broker):
    """A broker whose tasks wait until the test delivers them, as if no worker had taken them yet."""

    def __init__(self):
        super().__init__(list_key="held")
        self.packs = []

    def enqueue(self, task):
        self.packs.append(task)
        return len(self.packs)

    def queue_size(self):
        return len(self.packs)

    def tasks(self) -> list[dict]:
        """The integrations' wake-ups held (the minute housekeeping is sent here too)."""
        return [task for task in map(SignedPackage.loads, self.packs) if task["func"] == "sync.tasks.run_scheduled"]

    @staticmethod
    def deliver(task: dict):
        """What a worker does with a task: call its function with its arguments."""
        return import_string(task["func"])(*task["args"], **task["kwargs"])


@pytest.fixture
def held(monkeypatch):
    """django-q2's scheduler, sending into :class:`HeldTasks` (the test settings run tasks inline)."""
    broker = HeldTasks()

    def fire(at):
        with time_machine.travel(at, tick=False), monkeypatch.context() as patch:
            patch.setattr(Conf, "SYNC", False)
            # The scheduler closes "old" connections first: on PostgreSQL (CONN_MAX_AGE) that would be the test's own.
            patch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
            before = len(broker.tasks())
            scheduler(broker=broker)
        return broker.tasks()[before:]

    broker.fire = fire
    return broker


@pytest.fixture
def worker(monkeypatch):
    """Runs finish at once, as succeeded: these tests are about which runs exist, not what they sync."""
    finish_runs_at_once(monkeypatch)


def switch_on(integration, at, **schedule):
    """IT switches the integration on at ``at`` with this schedule."""
    with time_machine.travel(at, tick=False):
        integration.active = False
        integration.save()
        for key, value in schedule.items():
            setattr(integration, key, value)
        integration.active = True
        integration.save()
    return integration


def daily(integration, at, time="02:00"):
    return switch_on(integration, at, schedule_kind=ScheduleKind.DAILY, schedule_daily_time=time)


def due(integration):
    return IntegrationState.objects.get(pk=integration.pk).next_run_at


def minute_at(at) -> dict:
    """The minute's housekeeping at ``at``."""
    with time_machine.travel(at, tick=False):
        return maintenance()


def test_switching_on_stores_the_first_slot_and_the_wake_up_at_it(integration):
    daily(integration, local(2026, 12, 1, 10, 0))
    assert due(integration) == local(2026, 12, 2, 2, 0)
    wake = Schedule.objects.get(name=schedule_name(integration.pk))
    assert (wake.func, wake.args, wake.cron, wake.next_run) == (
        "sync.tasks.run_scheduled",
        f"({integration.pk},)",
        "0 2 * * *",
        local(2026, 12, 2, 2, 0),
    )
    assert not wake.intended_date_kwarg  # the slot is on the state, not in the task


def test_the_wake_up_claims_the_slot_and_names_it_on_the_run(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    assert task["args"] == (integration.pk,) and task["kwargs"] == {}
    with time_machine.travel(local(2026, 12, 2, 2, 0, 32), tick=False):
        assert held.deliver(task) == RunStatus.SUCCEEDED
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.scheduled_for) == (
        Trigger.SCHEDULE,
        RunStatus.SUCCEEDED,
        local(2026, 12, 2, 2),
    )
    assert due(integration) == local(2026, 12, 3, 2, 0)


def test_the_same_wake_up_delivered_twice_runs_once(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
        held.deliver(task)
    # The ORM broker gives the task again (its worker did not acknowledge it), an hour later.
    with time_machine.travel(local(2026, 12, 2, 3, 5), tick=False):
        assert held.deliver(task) == tasks.NOTHING_DUE
    assert SyncRun.objects.count() == 1
    [tomorrow] = held.fire(local(2026, 12, 3, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 3, 2, 1), tick=False):
        held.deliver(tomorrow)
    assert sorted(SyncRun.objects.values_list("scheduled_for", flat=True)) == [
        local(2026, 12, 2, 2),
        local(2026, 12, 3, 2),
    ]


def test_two_claimers_of_one_slot_one_wins(integration):
    daily(integration, local(2026, 12, 1, 10, 0))
    now = local(2026, 12, 2, 2, 0, 5)
    with transaction.atomic():
        first = claim_due(integration.pk, now)
        second = claim_due(integration.pk, now)  # reads the slot already moved on: nothing due
    assert first is not None and first.slot == local(2026, 12, 2, 2) and second is None
    # A claimer that read the old slot before the other moved it updates no row.
    IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=local(2026, 12, 2, 2))
    state = IntegrationState.objects.get(pk=integration.pk)
    assert IntegrationState.objects.filter(pk=integration.pk, next_run_at=state.next_run_at).update(
        next_run_at=local(2026, 12, 3, 2)
    )
    assert not IntegrationState.objects.filter(pk=integration.pk, next_run_at=state.next_run_at).update(
        next_run_at=local(2026, 12, 3, 2)
    )


def test_the_database_refuses_a_slot_twice(integration):
    slot = local(2026, 12, 2, 2)
    SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE, status="succeeded", scheduled_for=slot)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(integration=integration, trigger=Trigger.REAPER, status="failed", scheduled_for=slot)
    # Runs without a slot (run now, command line) are not limited by it.
    SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status="succeeded")
    SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status="succeeded")


def test_a_slot_that_comes_while_a_run_is_active_is_skipped_once(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 1, 59), tick=False):
        running = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)
        running.start()
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
        assert held.deliver(task) == RunStatus.SKIPPED
        assert held.deliver(task) == tasks.NOTHING_DUE
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.scheduled_for == local(2026, 12, 2, 2) and "already queued or running" in skipped.error
    assert SyncRun.objects.count() == 2


def test_a_slot_whose_wake_up_vanished_runs_at_the_next_minute(integration, held, worker, login_as):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()  # the cluster that prefetched it was killed: Redis does not give it back
    summary = minute_at(local(2026, 12, 2, 2, 1, 10))
    run = SyncRun.objects.get()
    assert summary["claimed_slots"] == [run.pk]
    assert (run.status, run.trigger, run.scheduled_for) == (
        RunStatus.SUCCEEDED,
        Trigger.SCHEDULE,
        local(2026, 12, 2, 2),
    )
    assert minute_at(local(2026, 12, 2, 2, 2, 10))["claimed_slots"] == []
    assert SyncRun.objects.count() == 1

    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[run.pk])).content.decode()
    assert "Scheduled for" in page
    assert 'datetime="2026-12-02T02:00:00-03:00"' in page


def test_a_late_wake_up_after_the_minute_stepped_in_runs_nothing(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))  # held by a busy worker, not lost
    minute_at(local(2026, 12, 2, 2, 1, 10))
    with time_machine.travel(local(2026, 12, 2, 2, 15), tick=False):
        assert held.deliver(task) == tasks.NOTHING_DUE
    assert SyncRun.objects.get().scheduled_for == local(2026, 12, 2, 2)


def test_a_run_without_a_slot_shows_none(integration, login_as):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.SUCCEEDED)
    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[run.pk])).content.decode()
    assert "Scheduled for" not in page and 'data-fact="trigger"' in page


def test_a_slot_covered_by_run_now_is_not_run_again(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()
    with time_machine.travel(local(2026, 12, 2, 2, 0, 50), tick=False):
        tasks.trigger(integration, Trigger.MANUAL)  # someone pressed Run now
    assert minute_at(local(2026, 12, 2, 2, 1, 10))["claimed_slots"] == []
    assert list(SyncRun.objects.values_list("trigger", "status")) == [(Trigger.MANUAL, RunStatus.SUCCEEDED)]
    assert due(integration) == local(2026, 12, 3, 2, 0)  # the slot was moved on all the same


def test_nothing_runs_for_slots_before_the_schedule_existed(integration, held, worker):
    daily(integration, local(2026, 12, 2, 10, 0))  # switched on after the day's 02:00 slot
    assert minute_at(local(2026, 12, 2, 10, 30))["claimed_slots"] == []
    assert minute_at(local(2026, 12, 3, 1, 59))["claimed_slots"] == []
    assert not SyncRun.objects.exists()


def test_a_new_time_moves_the_slot_due(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 1, 30), tick=False):
        integration.schedule_daily_time = "03:00"  # IT moves it before the 02:00 slot
        integration.save()
    assert due(integration) == local(2026, 12, 2, 3, 0)
    assert Schedule.objects.get(name=schedule_name(integration.pk)).next_run == local(2026, 12, 2, 3, 0)
    assert minute_at(local(2026, 12, 2, 2, 5))["claimed_slots"] == []
    [run_pk] = minute_at(local(2026, 12, 2, 3, 0, 40))["claimed_slots"]
    assert SyncRun.objects.get(pk=run_pk).scheduled_for == local(2026, 12, 2, 3)


def test_saving_without_changing_the_timing_keeps_the_slot_due(integration):
    daily(integration, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 1, 0), tick=False):
        integration.business_rule = "only approved customers"
        integration.save()
    assert due(integration) == local(2026, 12, 2, 2, 0)


def test_a_paused_integration_has_no_slot_due(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 1, 55), tick=False):
        integration.active = False
        integration.save()
    assert due(integration) is None
    assert not Schedule.objects.filter(name=schedule_name(integration.pk)).exists()
    assert minute_at(local(2026, 12, 2, 2, 15))["claimed_slots"] == []
    assert not SyncRun.objects.exists()


def test_after_downtime_an_interval_runs_once_for_the_newest_slot(integration, held, worker):
    switch_on(integration, local(2026, 12, 2, 10, 0), schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=15)
    assert due(integration) == local(2026, 12, 2, 10, 0)  # every N minutes is due as soon as it is on
    # Nobody claimed anything for 42 minutes (the workers were down).
    [run_pk] = minute_at(local(2026, 12, 2, 10, 42))["claimed_slots"]
    assert SyncRun.objects.get(pk=run_pk).scheduled_for == local(2026, 12, 2, 10, 30)
    assert due(integration) == local(2026, 12, 2, 10, 45)
    assert minute_at(local(2026, 12, 2, 10, 43))["claimed_slots"] == []
    assert SyncRun.objects.count() == 1


def test_an_interval_wake_up_keeps_the_phase_of_its_slots(integration, held, worker):
    switch_on(integration, local(2026, 12, 2, 10, 0), schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=15)
    for minute in (0, 15, 30):
        [task] = held.fire(local(2026, 12, 2, 10, minute, 31))
        with time_machine.travel(local(2026, 12, 2, 10, minute, 32), tick=False):
            assert held.deliver(task) == RunStatus.SUCCEEDED
    assert [run.scheduled_for for run in SyncRun.objects.order_by("pk")] == [
        local(2026, 12, 2, 10, 0),
        local(2026, 12, 2, 10, 15),
        local(2026, 12, 2, 10, 30),
    ]


def test_a_lost_scheduled_run_is_queued_again_once(integration, held, worker, settings):
    """A slot whose run was queued but never started: the lost-run rule re-queues it, the slot is not claimed again."""
    settings.QUEUED_RUN_LOST_AFTER = 600
    daily(integration, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 2, 0, 31), tick=False), transaction.atomic():
        claim = claim_due(integration.pk, local(2026, 12, 2, 2, 0, 31))
        queue_run(integration, Trigger.SCHEDULE, scheduled_for=claim.slot)  # then the worker died
    assert minute_at(local(2026, 12, 2, 2, 5))["requeued"] == []
    summary = minute_at(local(2026, 12, 2, 2, 12))
    assert len(summary["requeued"]) == 1 and summary["claimed_slots"] == []
    assert SyncRun.objects.get(status=RunStatus.LOST).scheduled_for == local(2026, 12, 2, 2)
    assert SyncRun.objects.get(pk=summary["requeued"][0]).status == RunStatus.SUCCEEDED


def test_a_daily_slot_fired_twice_when_clocks_go_back_runs_once(integration, held, worker, settings):
    settings.TIME_ZONE = "America/New_York"
    daily(integration, local(2026, 10, 31, 12, 0, tz=NEW_YORK), time="01:30")
    first_0130 = local(2026, 11, 1, 1, 30, tz=NEW_YORK)  # EDT
    with time_machine.travel(first_0130 + timedelta(seconds=31), tick=False):
        assert tasks.run_scheduled(integration.pk) == RunStatus.SUCCEEDED
    second_0130 = local(2026, 11, 1, 1, 30, tz=NEW_YORK, fold=1)  # EST, one hour later
    with time_machine.travel(second_0130 + timedelta(seconds=31), tick=False):
        assert tasks.run_scheduled(integration.pk) == tasks.NOTHING_DUE
    assert minute_at(second_0130 + timedelta(minutes=1))["claimed_slots"] == []
    assert SyncRun.objects.count() == 1
    with time_machine.travel(local(2026, 11, 2, 1, 30, 31, tz=NEW_YORK), tick=False):
        assert tasks.run_scheduled(integration.pk) == RunStatus.SUCCEEDED
    assert SyncRun.objects.count() == 2


def test_late_until_the_slot_is_claimed(integration, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    SyncRun.objects.create(
        integration=integration,
        trigger=Trigger.MANUAL,
        status=RunStatus.SUCCEEDED,
        queued_at=local(2026, 12, 1, 10, 5),
        started_at=local(2026, 12, 1, 10, 5),
        finished_at=local(2026, 12, 1, 10, 6),
    )
    # The workers are down: nobody claims the 02:00 slot. Its grace is an hour (a 24 h period).
    assert integration_health(integration, local(2026, 12, 2, 2, 59)).status == HealthStatus.HEALTHY
    health = integration_health(integration, local(2026, 12, 2, 3, 1))
    assert health.status == HealthStatus.LATE and "02:00" in health.reason
    minute_at(local(2026, 12, 2, 3, 2))  # back: the minute claims it and runs it
    assert integration_health(integration, local(2026, 12, 2, 3, 5)).status == HealthStatus.HEALTHY


def test_claiming_costs_the_same_queries_for_many_integrations_when_nothing_is_due(
    integration, erp_connection, crm_connection, worker, django_assert_max_num_queries
):
    for n in range(1, 10):
        build_integration(erp_connection, crm_connection, name=f"Integration {n}", activated_at=None)
    for each in Integration.objects.all():
        daily(each, local(2026, 12, 1, 10, 0))
    with time_machine.travel(local(2026, 12, 2, 1, 0), tick=False), django_assert_max_num_queries(1):
        assert tasks.claim_overdue_slots(local(2026, 12, 2, 1, 0)) == []
    assert len(tasks.claim_overdue_slots(local(2026, 12, 2, 2, 0, 40))) == 10


# ---------------------------------------------------------------- the minute's housekeeping schedule

STORED_BY_AN_EARLIER_RELEASE = "sync.tasks.maintenance"


def test_the_maintenance_schedule_calls_the_monitoring_task():
    schedule = Schedule.objects.get(name=MAINTENANCE_NAME)
    assert schedule.func == MAINTENANCE == "monitoring.tasks.maintenance"
    assert import_string(schedule.func) is maintenance


def test_migrate_points_a_maintenance_schedule_stored_by_an_earlier_release_at_the_task():
    Schedule.objects.filter(name=MAINTENANCE_NAME).update(func=STORED_BY_AN_EARLIER_RELEASE, minutes=5)

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")  # what every `migrate` ends with

    schedule = Schedule.objects.get(name=MAINTENANCE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (MAINTENANCE, Schedule.MINUTES, 1)
    assert Schedule.objects.filter(name=MAINTENANCE_NAME).count() == 1
