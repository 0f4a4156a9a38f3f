"""When the background workers die, a person learns it, and their first slot back is not lost.

The workers' minute task writes their heartbeat. When it stops, the web server's watchdog (the
process left alive) opens a *workers not seen* alert on every active integration and sends it;
the dashboard says since when. A run left *running* by a dead worker stops being shown as
running once its own heartbeat is stale, and a trigger or schedule slot that finds it abandons
it instead of being skipped; a slot skipped before the reaper saw the run dead is run once.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.roles import SUPERVISOR
from monitoring.choices import AlertKind, AlertStatus, RunStatus, Trigger
from monitoring.models import Alert, SyncRun, WorkersHeartbeat
from monitoring.reaper import reap
from monitoring.tasks import maintenance
from monitoring.workers import Watchdog, record_beat, watch, workers_state
from sync import tasks
from sync.models import Integration

from .builders import build_integration, finish_runs_at_once, slot_due
from .processes import wait_until

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)  # 10:30 in São Paulo, the portal's zone in the tests


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def integrations(clock, erp_connection, crm_connection):
    def make(name, active=True):
        return build_integration(
            erp_connection,
            crm_connection,
            name=name,
            active=active,
            activated_at=NOW - timedelta(hours=1),
            alert_emails="it@example.com",
            table="Company",
        )

    return make("Orders"), make("Invoices"), make("Paused", active=False)


def down_alerts(**filters):
    return Alert.objects.filter(kind=AlertKind.WORKERS_DOWN, **filters)


def test_the_web_process_alerts_every_active_integration_when_the_workers_stop_beating(integrations, clock, mailoutbox):
    orders, _invoices, paused = integrations
    record_beat(NOW - timedelta(minutes=28))  # the workers' last minute task: 10:02
    clock.shift(timedelta(seconds=1))

    result = watch()  # what the web server's watchdog does every minute

    assert result.down
    opened = down_alerts(status=AlertStatus.OPEN)
    assert sorted(opened.values_list("integration__name", flat=True)) == ["Invoices", "Orders"]
    message = opened.get(integration=orders).message
    assert message == (
        "The background workers have not been seen since 2026-03-10 10:02 (America/Sao_Paulo): no run starts "
        "and no schedule fires until they are back (manage.py qcluster)."
    )
    # Sent by this process: the workers that would send it are the ones missing.
    assert len(mailoutbox) == 2
    assert all("10:02" in mail.body and mail.to == ["it@example.com"] for mail in mailoutbox)

    opened_ids = sorted(opened.values_list("pk", flat=True))
    watch()  # the next minute: still one open alert each, nothing sent twice
    assert down_alerts().count() == 2 and len(mailoutbox) == 2

    # The workers come back: their minute task beats, and their first evaluation resolves the alerts.
    clock.shift(timedelta(minutes=3))
    summary = maintenance()
    assert sorted(summary["workers_alerts_resolved"]) == opened_ids
    resolved = down_alerts(status=AlertStatus.RESOLVED)
    assert resolved.count() == 2
    assert (
        resolved.first().events.last().note
        == "The background workers were seen again at 2026-03-10 10:33 (America/Sao_Paulo)."
    )
    assert not paused.alerts.exists()


def test_workers_seen_within_the_limit_raise_nothing(integrations, clock, settings):
    settings.WORKERS_STALE_AFTER = 180
    record_beat(NOW - timedelta(minutes=2))
    assert not watch().down
    assert not down_alerts().exists()
    clock.shift(timedelta(seconds=61))  # 3 min 1 s without a beat
    assert watch().down and down_alerts().count() == 2


def test_workers_never_seen_count_from_when_the_web_server_started(integrations, clock):
    started = NOW - timedelta(minutes=2)
    assert not watch(watching_since=started).down  # a fresh install: the workers have a moment to start
    assert not workers_state(NOW).down  # and nobody else claims they are down

    clock.shift(timedelta(minutes=5))
    assert watch(watching_since=started).down
    assert (
        down_alerts()
        .first()
        .message.startswith("The background workers have not been seen since the portal started at 2026-03-10 10:28")
    )


def test_the_dashboard_says_since_when_the_workers_are_not_seen(integrations, clock, login_as):
    client = login_as(SUPERVISOR)
    record_beat(NOW - timedelta(seconds=30))
    html = client.get(reverse("admin:index")).content.decode()
    assert re.search(r'<div class="dash-workers" data-field="workers" role="alert" hidden></div>', html)
    assert client.get(reverse("admin:dashboard_data")).json()["workers"] == {"down": False, "text": ""}

    WorkersHeartbeat.objects.update(beat_at=NOW - timedelta(minutes=28))
    html = client.get(reverse("admin:index")).content.decode()
    banner = re.search(r'<div class="dash-workers" data-field="workers" role="alert">(.*?)</div>', html, re.S)
    assert banner, "the banner is shown"
    assert "not been seen since 2026-03-10 10:02" in banner.group(1)
    workers = client.get(reverse("admin:dashboard_data")).json()["workers"]
    assert workers["down"] is True and "10:02" in workers["text"]


def test_the_dashboard_in_portuguese(integrations, clock, login_as):
    client = login_as(SUPERVISOR)
    WorkersHeartbeat.objects.create(host="worker-1", beat_at=NOW - timedelta(minutes=28))
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "não são vistos desde 2026-03-10 10:02" in html


def test_a_running_run_whose_worker_died_is_not_shown_running(integrations, clock, login_as):
    orders = integrations[0]
    run = SyncRun.objects.create(integration=orders, trigger=Trigger.SCHEDULE)
    run.start(now=NOW - timedelta(minutes=10))
    run.beat(now=NOW - timedelta(seconds=20))
    client = login_as(SUPERVISOR)
    payload = client.get(reverse("admin:dashboard_data")).json()
    status = {item["name"]: item["status"]["value"] for item in payload["integrations"]}
    assert status["Orders"] == "running"

    clock.shift(timedelta(minutes=3))  # no beat for 3 min 20 s: its thread beats every 15 s, so it is gone
    payload = client.get(reverse("admin:dashboard_data")).json()
    status = {item["name"]: item["status"]["value"] for item in payload["integrations"]}
    assert status["Orders"] == "failing"


@pytest.fixture
def finishing(monkeypatch):
    finish_runs_at_once(monkeypatch)


def dead_run(integration, last_beat):
    run = SyncRun.objects.create(integration=integration, trigger=Trigger.SCHEDULE)
    run.start(now=last_beat - timedelta(minutes=5))
    run.beat(now=last_beat)
    return run


def test_a_slot_that_finds_its_integration_held_by_a_dead_run_abandons_it_and_runs(integrations, clock, finishing):
    orders = integrations[0]
    dead = dead_run(orders, last_beat=NOW - timedelta(minutes=3))  # the cluster died at 10:27, restarted since
    slot_due(orders, NOW)

    assert tasks.run_scheduled(orders.pk) == RunStatus.SUCCEEDED

    dead.refresh_from_db()
    assert dead.status == RunStatus.ABANDONED and "No heartbeat since" in dead.error
    ran = SyncRun.objects.get(integration=orders, scheduled_for=NOW)
    assert (ran.trigger, ran.status) == (Trigger.SCHEDULE, RunStatus.SUCCEEDED)
    assert not SyncRun.objects.filter(status=RunStatus.SKIPPED).exists()


def test_a_slot_beside_a_living_run_is_still_skipped(integrations, clock, finishing):
    orders = integrations[0]
    living = dead_run(orders, last_beat=NOW - timedelta(seconds=20))
    slot_due(orders, NOW)
    assert tasks.run_scheduled(orders.pk) == RunStatus.SKIPPED
    living.refresh_from_db()
    assert living.status == RunStatus.RUNNING


def test_run_now_on_an_integration_held_by_a_dead_run_runs(integrations, clock, monkeypatch):
    orders = integrations[0]
    dead = dead_run(orders, last_beat=NOW - timedelta(minutes=3))
    sent = []
    monkeypatch.setattr(tasks, "async_task", lambda *args, **kwargs: sent.append(args) or "task-1")
    run = tasks.trigger(orders, Trigger.MANUAL)
    assert (run.status, run.task_id) == (RunStatus.QUEUED, "task-1")
    assert sent == [("sync.tasks.run_queued", run.pk)]
    dead.refresh_from_db()
    assert dead.status == RunStatus.ABANDONED


def test_a_slot_skipped_because_of_a_run_found_dead_later_is_run_once(integrations, clock, settings):
    settings.RUN_HEARTBEAT_STALE_AFTER = 120
    orders = integrations[0]
    dead = dead_run(orders, last_beat=NOW - timedelta(seconds=60))  # looked alive when the slot came
    slot_due(orders, NOW)
    tasks.run_scheduled(orders.pk)
    skipped = SyncRun.objects.get(status=RunStatus.SKIPPED)
    assert skipped.scheduled_for == NOW

    requeued = []
    clock.shift(timedelta(minutes=2))
    result = reap(timezone.now(), requeue=requeued.append)
    assert result.abandoned == [dead.pk]
    again = SyncRun.objects.get(status=RunStatus.QUEUED)
    assert (again.trigger, requeued, result.skipped_slots) == (Trigger.REAPER, [again], [again.pk])

    # The next minute does not queue it twice.
    clock.shift(timedelta(minutes=1))
    assert reap(timezone.now(), requeue=requeued.append).skipped_slots == []
    assert SyncRun.objects.filter(integration=orders, status=RunStatus.QUEUED).count() == 1


def test_the_watchdog_thread_alerts_while_nothing_else_runs(integrations, transactional_db, settings):
    """The web server's thread, on its own database connection, with a short interval."""
    settings.WORKERS_STALE_AFTER = 90
    WorkersHeartbeat.objects.create(host="worker-1", beat_at=timezone.now() - timedelta(minutes=5))
    watchdog = Watchdog(interval=0.1).start()
    try:
        wait_until(lambda: down_alerts().count() == 2, message="the watchdog to open the alerts")
    finally:
        watchdog.stop()
    assert set(down_alerts().values_list("integration__name", flat=True)) == {"Orders", "Invoices"}
    assert Integration.objects.get(name="Paused").alerts.count() == 0
