"""A schedule slot is named on its run, runs once, and is not lost when its task vanishes.

django-q2's own scheduler sends the slots here (``django_q.scheduler.scheduler``), into a
broker that only holds the tasks: delivering one is what a worker does with it, and
dropping one is what Redis does when the cluster that prefetched it is killed.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.brokers import Broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun
from monitoring.reaper import reap
from monitoring.roles import SUPERVISOR
from sync import tasks
from sync.choices import ScheduleKind
from sync.engine import queue_run
from sync.models import Integration
from sync.schedules import schedule_name

from .builders import build_integration, finish_runs_at_once

pytestmark = pytest.mark.django_db
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the portal's time zone in the tests (UTC-3, no DST)
LOST_AFTER = 600


def local(*args):
    return datetime(*args, tzinfo=SAO_PAULO)


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
        """The integrations' slot tasks held (the minute housekeeping is sent here too)."""
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
def worker(monkeypatch, settings):
    """Runs finish at once, as succeeded: these tests are about which runs exist, not what they sync."""
    settings.QUEUED_RUN_LOST_AFTER = LOST_AFTER
    finish_runs_at_once(monkeypatch)


def switch_on(integration, at, **schedule):
    """IT switches the integration on at ``at`` with this schedule (a fresh django-q2 Schedule)."""
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


def reap_at(at, requeue=None):
    requeued = []
    with time_machine.travel(at, tick=False):
        result = reap(at, requeue=requeue or requeued.append)
    return result.lost_slots, requeued


def test_the_slot_time_reaches_the_run(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    assert task["func"] == "sync.tasks.run_scheduled" and task["args"] == (integration.pk,)
    assert task["kwargs"] == {"scheduled_for": "2026-12-02T05:00:00+00:00"}  # django-q2 sends an ISO string

    with time_machine.travel(local(2026, 12, 2, 2, 0, 32), tick=False):
        assert held.deliver(task) == RunStatus.SUCCEEDED
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.scheduled_for) == (
        Trigger.SCHEDULE,
        RunStatus.SUCCEEDED,
        local(2026, 12, 2, 2),
    )


def test_the_same_slot_delivered_twice_runs_once(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
        held.deliver(task)
    # The ORM broker gives the task again (its worker did not acknowledge it), an hour later.
    with time_machine.travel(local(2026, 12, 2, 3, 5), tick=False):
        assert held.deliver(task) == tasks.SLOT_ALREADY_RUN
    assert SyncRun.objects.count() == 1
    # The next day's slot is a new slot.
    [tomorrow] = held.fire(local(2026, 12, 3, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 3, 2, 1), tick=False):
        held.deliver(tomorrow)
    assert sorted(SyncRun.objects.values_list("scheduled_for", flat=True)) == [
        local(2026, 12, 2, 2),
        local(2026, 12, 3, 2),
    ]


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
    running = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL)
    running.start()
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
        assert held.deliver(task) == RunStatus.SKIPPED
        assert held.deliver(task) == tasks.SLOT_ALREADY_RUN
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.scheduled_for == local(2026, 12, 2, 2) and "already queued or running" in skipped.error
    assert SyncRun.objects.count() == 2


def test_a_slot_whose_task_vanished_is_run_once_by_the_reaper(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()  # the cluster that prefetched it was killed: Redis does not give it back

    assert reap_at(local(2026, 12, 2, 2, 5)) == ([], [])  # too early to call it lost
    recovered, requeued = reap_at(local(2026, 12, 2, 2, 11))
    run = SyncRun.objects.get()
    assert recovered == [run.pk] and requeued == [run]
    assert (run.trigger, run.status, run.scheduled_for) == (Trigger.REAPER, RunStatus.QUEUED, local(2026, 12, 2, 2))
    assert reap_at(local(2026, 12, 2, 2, 12)) == ([], [])
    tasks.run_queued(run.pk)
    assert reap_at(local(2026, 12, 2, 3, 0)) == ([], [])
    assert SyncRun.objects.get().status == RunStatus.SUCCEEDED


def test_a_daily_integration_whose_worker_died_before_the_0200_slot_gets_its_run(integration, held, worker, login_as):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()
    with time_machine.travel(local(2026, 12, 2, 2, 11), tick=False):
        summary = tasks.maintenance()  # the minute housekeeping, which queues and runs it
    run = SyncRun.objects.get()
    assert summary["lost_slots"] == [run.pk]
    assert (run.status, run.trigger, run.scheduled_for) == (RunStatus.SUCCEEDED, Trigger.REAPER, local(2026, 12, 2, 2))

    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[run.pk])).content.decode()
    assert "Scheduled for" in page
    assert '<time datetime="2026-12-02T02:00:00-03:00">' in page


def test_a_run_without_a_slot_shows_none(integration, login_as):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, status=RunStatus.SUCCEEDED)
    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[run.pk])).content.decode()
    assert "Scheduled for" not in page and 'data-fact="trigger"' in page


def test_a_slot_covered_by_run_now_is_not_run_again(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()
    with time_machine.travel(local(2026, 12, 2, 2, 3), tick=False):
        tasks.trigger(integration, Trigger.MANUAL)  # someone pressed Run now
    assert reap_at(local(2026, 12, 2, 2, 12)) == ([], [])
    assert list(SyncRun.objects.values_list("trigger", "status")) == [(Trigger.MANUAL, RunStatus.SUCCEEDED)]


def test_a_slot_that_came_during_a_long_run_is_not_run_again(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    long = SyncRun.objects.create(integration=integration, trigger=Trigger.MANUAL, queued_at=local(2026, 12, 2, 1, 30))
    long.start(now=local(2026, 12, 2, 1, 30))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()  # had it arrived, it would have been skipped: a run was active
    long.finish(RunStatus.SUCCEEDED, now=local(2026, 12, 2, 2, 40))
    assert reap_at(local(2026, 12, 2, 2, 45)) == ([], [])
    assert SyncRun.objects.count() == 1


def test_a_late_task_after_the_reaper_stepped_in_runs_the_slot_once(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    [task] = held.fire(local(2026, 12, 2, 2, 0, 31))  # held by a busy worker, not lost
    recovered, _requeued = reap_at(local(2026, 12, 2, 2, 11))
    assert len(recovered) == 1
    with time_machine.travel(local(2026, 12, 2, 2, 15), tick=False):
        assert held.deliver(task) == RunStatus.SUCCEEDED  # it starts the slot's waiting run
        tasks.run_queued(recovered[0])  # the reaper's own task finds it done
    run = SyncRun.objects.get()
    assert (run.pk, run.status, run.scheduled_for) == (recovered[0], RunStatus.SUCCEEDED, local(2026, 12, 2, 2))


def test_nothing_is_queued_for_slots_before_the_schedule_existed(integration, held, worker):
    daily(integration, local(2026, 12, 2, 10, 0))  # switched on after the day's 02:00 slot
    assert reap_at(local(2026, 12, 2, 10, 30)) == ([], [])
    assert reap_at(local(2026, 12, 3, 1, 59)) == ([], [])
    assert not SyncRun.objects.exists()


def test_a_slot_sent_before_the_schedule_changed_is_not_run_again(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()
    with time_machine.travel(local(2026, 12, 2, 2, 5), tick=False):
        integration.schedule_daily_time = "03:00"  # IT moves it before anyone noticed
        integration.save()
    assert Schedule.objects.get(name=schedule_name(integration.pk)).task is None
    assert reap_at(local(2026, 12, 2, 2, 15)) == ([], [])
    # The new time's slots are watched as soon as one is sent.
    held.fire(local(2026, 12, 2, 3, 0, 31))
    held.packs.clear()
    recovered, _requeued = reap_at(local(2026, 12, 2, 3, 11))
    assert SyncRun.objects.get(pk__in=recovered).scheduled_for == local(2026, 12, 2, 3)


def test_a_paused_integration_gets_no_run_for_its_lost_slot(integration, held, worker):
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    held.packs.clear()
    with time_machine.travel(local(2026, 12, 2, 2, 5), tick=False):
        integration.active = False
        integration.save()
    assert reap_at(local(2026, 12, 2, 2, 15)) == ([], [])
    assert not SyncRun.objects.exists()


def test_only_the_newest_lost_slot_of_an_interval_runs(integration, held, worker):
    switch_on(integration, local(2026, 12, 2, 10, 0), schedule_kind=ScheduleKind.INTERVAL, schedule_interval_minutes=15)
    for minute in (0, 15, 30):  # three slots sent and lost while the housekeeping was down too
        assert len(held.fire(local(2026, 12, 2, 10, minute, 31))) == 1
        held.packs.clear()
    recovered, _requeued = reap_at(local(2026, 12, 2, 10, 42))
    assert [run.scheduled_for for run in SyncRun.objects.filter(pk__in=recovered)] == [local(2026, 12, 2, 10, 30)]
    assert SyncRun.objects.count() == 1
    assert reap_at(local(2026, 12, 2, 10, 43)) == ([], [])


def test_a_lost_scheduled_run_is_queued_again_once_not_twice(integration, held, worker):
    """A slot whose run was queued but never started: the lost-run rule re-queues it, the slot rule adds nothing."""
    daily(integration, local(2026, 12, 1, 10, 0))
    held.fire(local(2026, 12, 2, 2, 0, 31))
    with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
        queue_run(integration, Trigger.SCHEDULE, scheduled_for=local(2026, 12, 2, 2))  # then the worker died
    recovered, requeued = reap_at(local(2026, 12, 2, 2, 12))
    assert recovered == [] and len(requeued) == 1 and requeued[0].trigger == Trigger.REAPER
    assert SyncRun.objects.get(status=RunStatus.LOST).scheduled_for == local(2026, 12, 2, 2)


def test_watching_the_slots_costs_the_same_queries_for_many_integrations(
    integration, erp_connection, crm_connection, held, worker, django_assert_max_num_queries
):
    for n in range(1, 10):
        build_integration(erp_connection, crm_connection, name=f"Integration {n}", activated_at=None)
    for each in Integration.objects.all():
        daily(each, local(2026, 12, 1, 10, 0))
    assert len(held.fire(local(2026, 12, 2, 2, 0, 31))) == 10
    for task in held.tasks():
        with time_machine.travel(local(2026, 12, 2, 2, 1), tick=False):
            held.deliver(task)  # every slot ran
    with django_assert_max_num_queries(4):  # stale runs, queued runs, the schedules, the integrations
        assert reap_at(local(2026, 12, 2, 2, 11)) == ([], [])
