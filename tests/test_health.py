"""Health: next run across DST changes, each status and its precedence, figures as database aggregates."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.local_time import portal_zone
from monitoring.choices import HEALTH_STATUS_COLOURS, HealthStatus, RunStatus
from monitoring.health import (
    ActiveRun,
    HealthFacts,
    Pending,
    annotate_health,
    average_duration,
    describe_next_run,
    p95_duration,
    succeeded_in_window,
)
from monitoring.models import IntegrationState, TableRun
from monitoring.status import health_of, integration_health, table_health
from sync.choices import ScheduleKind
from sync.models import Integration, SyncTable
from sync.schedules import Timing, grace_for
from tests.builders import build_integration, make_run

NEW_YORK = ZoneInfo("America/New_York")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def scheduled(kind=ScheduleKind.NONE, *, active=True, every=None, daily="", cron="") -> Integration:
    """An unsaved integration with a schedule: next_run needs no database."""
    return Integration(
        name="Sankhya ↔ Ploomes",
        active=active,
        schedule_kind=kind,
        schedule_interval_minutes=every,
        schedule_daily_time=daily,
        schedule_cron=cron,
    )


def next_run(integration, now, tz, last_run_at=None):
    """The first slot of the integration's timing when it is set at ``now``: None when inactive or unscheduled."""
    return Timing.of(integration).first_slot(now, tz, last_run_at) if integration.active else None


def daily(hhmm):
    return scheduled(ScheduleKind.DAILY, daily=hhmm)


def cron(expression):
    return scheduled(ScheduleKind.CRON, cron=expression)


def every(minutes):
    return scheduled(ScheduleKind.INTERVAL, every=minutes)


# ---------------------------------------------------------------- next run: daily


def test_daily_midnight_across_spring_forward_in_new_york():
    # 2026-03-08: at 02:00 EST the clocks jump to 03:00 EDT.
    before = next_run(daily("00:00"), utc(2026, 3, 7, 17, 0), NEW_YORK)
    assert before == local(NEW_YORK, 2026, 3, 8, 0, 0) == utc(2026, 3, 8, 5, 0)
    after = next_run(daily("00:00"), before + timedelta(seconds=1), NEW_YORK)
    assert after == local(NEW_YORK, 2026, 3, 9, 0, 0) == utc(2026, 3, 9, 4, 0)
    assert after - before == timedelta(hours=23)  # the local wall time stays at midnight


def test_daily_time_inside_the_spring_gap_runs_at_the_first_instant_after_the_gap():
    # 02:30 does not exist on 2026-03-08 in New York: 02:00 EST is followed by 03:00 EDT.
    slot = next_run(daily("02:30"), utc(2026, 3, 8, 6, 59, 59), NEW_YORK)
    assert slot == utc(2026, 3, 8, 7, 0)
    assert slot.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"
    following = next_run(daily("02:30"), slot, NEW_YORK)
    assert following.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z") == "2026-03-09 02:30 EDT"


def test_daily_time_in_the_repeated_fall_back_hour_runs_once_at_its_first_occurrence():
    # 2026-11-01: 01:00 to 02:00 happens twice in New York (EDT, then EST).
    first = next_run(daily("01:30"), utc(2026, 10, 31, 12, 0), NEW_YORK)
    assert first == utc(2026, 11, 1, 5, 30)
    assert first.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"
    # Right after it (and during the repeated hour) the next run is the next day, not 01:30 EST.
    for now in (first + timedelta(minutes=1), utc(2026, 11, 1, 6, 15)):
        assert next_run(daily("01:30"), now, NEW_YORK) == local(NEW_YORK, 2026, 11, 2, 1, 30) == utc(2026, 11, 2, 6, 30)


def test_daily_midnight_across_fall_back_keeps_the_wall_time():
    before = next_run(daily("00:00"), utc(2026, 10, 31, 12, 0), NEW_YORK)
    after = next_run(daily("00:00"), before, NEW_YORK)
    assert (before, after) == (utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0))
    assert after - before == timedelta(hours=25)


def test_daily_in_the_default_zone_sao_paulo_which_has_no_dst_any_more():
    assert portal_zone() == SAO_PAULO  # the settings' default, read at call time
    # Brazil dropped DST in 2019: midnight is 03:00 UTC all year, around the old change dates too.
    for now in (utc(2026, 3, 7, 12, 0), utc(2026, 11, 1, 12, 0), utc(2027, 2, 20, 12, 0)):
        slot = next_run(daily("00:00"), now, portal_zone())
        assert slot.hour == 3 and slot.minute == 0
        assert slot.astimezone(SAO_PAULO).strftime("%H:%M") == "00:00"
        assert timedelta(0) < slot - now <= timedelta(days=1)


def test_a_new_time_zone_setting_is_read_at_call_time(settings):
    settings.TIME_ZONE = "America/New_York"
    assert portal_zone() == NEW_YORK


# ---------------------------------------------------------------- next run: every N minutes


def test_interval_is_anchored_on_the_newest_run_in_utc_across_spring_forward():
    last = local(NEW_YORK, 2026, 3, 8, 1, 50)  # EST
    slot = next_run(every(15), utc(2026, 3, 8, 6, 55), NEW_YORK, last_run_at=last)
    assert slot - last == timedelta(minutes=15)
    assert slot.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:05 EDT"


def test_interval_across_fall_back_is_fifteen_real_minutes():
    last = local(NEW_YORK, 2026, 11, 1, 1, 50)  # EDT, first 01:50
    slot = next_run(every(15), last + timedelta(minutes=1), NEW_YORK, last_run_at=last)
    assert slot == utc(2026, 11, 1, 6, 5)
    assert slot.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:05 EST"


def test_interval_never_run_or_overdue_is_due_now():
    now = utc(2026, 3, 10, 12, 0)
    assert next_run(every(15), now, NEW_YORK) == now
    assert next_run(every(15), now, NEW_YORK, last_run_at=now - timedelta(hours=2)) == now
    assert describe_next_run(now, now, NEW_YORK) == "due now"


# ---------------------------------------------------------------- next run: cron


def test_cron_every_half_hour_skips_the_spring_gap():
    slots, now = [], utc(2026, 3, 8, 6, 10)  # 01:10 EST
    for _ in range(3):
        now = next_run(cron("*/30 * * * *"), now, NEW_YORK)
        slots.append(now.astimezone(NEW_YORK).strftime("%H:%M %Z"))
    assert slots == ["01:30 EST", "03:00 EDT", "03:30 EDT"]


def test_cron_every_half_hour_keeps_running_through_the_repeated_hour():
    slots, now = [], utc(2026, 11, 1, 4, 50)  # 00:50 EDT
    for _ in range(6):
        now = next_run(cron("*/30 * * * *"), now, NEW_YORK)
        slots.append(now.astimezone(NEW_YORK).strftime("%H:%M %Z"))
    assert slots == ["01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST", "02:30 EST"]


def test_cron_fixed_time_follows_the_daily_rules():
    assert next_run(cron("30 2 * * *"), utc(2026, 3, 7, 12, 0), NEW_YORK) == utc(2026, 3, 8, 7, 0)
    first = next_run(cron("30 1 * * *"), utc(2026, 10, 31, 12, 0), NEW_YORK)
    assert first == utc(2026, 11, 1, 5, 30)
    assert next_run(cron("30 1 * * *"), first, NEW_YORK) == utc(2026, 11, 2, 6, 30)


def test_cron_weekdays_in_sao_paulo():
    friday_evening = local(SAO_PAULO, 2026, 3, 6, 19, 0)
    slot = next_run(cron("0 8 * * 1-5"), friday_evening, SAO_PAULO)
    assert slot == local(SAO_PAULO, 2026, 3, 9, 8, 0)  # Monday
    assert describe_next_run(slot, friday_evening, SAO_PAULO) == "2026-03-09 08:00 (America/Sao_Paulo)"


# ---------------------------------------------------------------- never an epoch date


@pytest.mark.parametrize(
    "integration",
    [
        scheduled(ScheduleKind.NONE),
        scheduled(ScheduleKind.DAILY, daily="00:00", active=False),
        scheduled(ScheduleKind.INTERVAL, every=15, active=False),
        scheduled(ScheduleKind.CRON, cron="0 * * * *", active=False),
        scheduled(ScheduleKind.DAILY, daily=""),  # incomplete
        scheduled(ScheduleKind.DAILY, daily="25:00"),  # invalid
        scheduled(ScheduleKind.INTERVAL, every=None),
        scheduled(ScheduleKind.CRON, cron="not a cron"),
        scheduled(ScheduleKind.CRON, cron="0 0 31 2 *"),  # 31 February: never
    ],
    ids=[
        "none",
        "daily-off",
        "interval-off",
        "cron-off",
        "daily-blank",
        "daily-bad",
        "interval-blank",
        "cron-bad",
        "cron-never",
    ],
)
def test_unscheduled_or_inactive_integrations_have_no_next_run_and_say_so(integration):
    now = utc(2026, 3, 10, 12, 0)
    assert next_run(integration, now, NEW_YORK, last_run_at=now - timedelta(hours=1)) is None
    words = describe_next_run(next_run(integration, now, NEW_YORK), now, NEW_YORK)
    assert words == "not scheduled"
    assert "1969" not in words and "1970" not in words


def test_the_dashboard_row_of_an_unscheduled_integration_has_no_next_run(erp_connection, crm_connection):
    integration = make_integration(erp_connection, crm_connection, schedule_kind=ScheduleKind.NONE)
    health = integration_health(integration, utc(2026, 3, 10, 12, 0))
    assert health.next_run is None


# ---------------------------------------------------------------- status: pure, from facts

NOW = utc(2026, 3, 10, 12, 0)
DAILY_MIDNIGHT = Timing(ScheduleKind.DAILY, cron="0 0 * * *")
EVERY_15 = Timing(ScheduleKind.INTERVAL, interval=timedelta(minutes=15))


def facts(**overrides) -> HealthFacts:
    """Stored facts; ``alert_after`` is what the state holds for them (the later of last success and activation,
    plus the max time)."""
    values = {
        "active": True,
        "activated_at": NOW - timedelta(days=30),
        "max_time_without_success": timedelta(hours=24),
        "schedule": Timing(),
        "last_success": NOW - timedelta(hours=1),
        "last_finished_status": RunStatus.SUCCEEDED,
        **overrides,
    }
    if "alert_after" not in values:
        start = max(moment for moment in (values["last_success"], values["activated_at"]) if moment is not None)
        values["alert_after"] = start + values["max_time_without_success"]
    return HealthFacts(**values)


def status(tz=NEW_YORK, now=NOW, **overrides) -> HealthStatus:
    return facts(**overrides).get_status(now, tz)


def running_run(minutes_since_beat=1) -> ActiveRun:
    beat = NOW - timedelta(minutes=minutes_since_beat)
    return ActiveRun(pk=1, status=RunStatus.RUNNING, queued_at=beat, started_at=beat, heartbeat_at=beat)


def test_healthy():
    assert status() == HealthStatus.HEALTHY


def test_paused_wins_over_everything():
    assert status(active=False, last_success=NOW - timedelta(days=9), active_run=running_run()) == HealthStatus.PAUSED


def test_alert_when_the_time_without_success_exceeds_the_max():
    assert status(last_success=NOW - timedelta(hours=24, seconds=1)) == HealthStatus.ALERT
    assert status(last_success=NOW - timedelta(hours=24)) == HealthStatus.HEALTHY  # exactly at the limit: not yet


def test_a_running_integration_past_its_window_is_still_alert():
    assert status(last_success=NOW - timedelta(days=2), active_run=running_run()) == HealthStatus.ALERT


def test_never_succeeded_counts_from_the_activation():
    never = {"last_success": None, "last_finished_status": RunStatus.FAILED}
    assert status(activated_at=NOW - timedelta(hours=25), **never) == HealthStatus.ALERT
    assert status(activated_at=NOW - timedelta(hours=23), **never) == HealthStatus.FAILING


def test_switching_on_again_gives_a_fresh_window():
    assert status(last_success=NOW - timedelta(days=10), activated_at=NOW - timedelta(hours=2)) == HealthStatus.HEALTHY
    assert facts(last_success=NOW - timedelta(days=10), activated_at=NOW - timedelta(hours=2)).alert_after == (
        NOW + timedelta(hours=22)
    )


def test_running_wins_over_failing_and_late():
    assert (
        status(last_finished_status=RunStatus.FAILED, schedule=EVERY_15, active_run=running_run())
        == HealthStatus.RUNNING
    )


def test_a_queued_run_counts_as_running():
    queued = ActiveRun(pk=2, status=RunStatus.QUEUED, queued_at=NOW - timedelta(minutes=1))
    assert status(active_run=queued) == HealthStatus.RUNNING


def test_a_stuck_run_is_failing():
    assert status(active_run=running_run(minutes_since_beat=11)) == HealthStatus.FAILING
    never_started = ActiveRun(pk=2, status=RunStatus.QUEUED, queued_at=NOW - timedelta(minutes=11))
    assert status(active_run=never_started) == HealthStatus.FAILING


def test_stuck_after_is_a_setting_read_at_call_time(settings):
    settings.RUN_STUCK_AFTER = 30 * 60
    never_started = ActiveRun(pk=2, status=RunStatus.QUEUED, queued_at=NOW - timedelta(minutes=11))
    assert status(active_run=never_started) == HealthStatus.RUNNING


def test_a_running_run_is_stuck_once_its_heartbeat_is_stale(settings):
    """Its own thread beats every 15 s: a heartbeat older than the stale limit means its worker died."""
    assert status(active_run=running_run(minutes_since_beat=1)) == HealthStatus.RUNNING
    assert status(active_run=running_run(minutes_since_beat=3)) == HealthStatus.FAILING  # > 120 s
    settings.RUN_HEARTBEAT_STALE_AFTER = 5 * 60
    assert status(active_run=running_run(minutes_since_beat=3)) == HealthStatus.RUNNING


@pytest.mark.parametrize("newest", [RunStatus.FAILED, RunStatus.ABANDONED, RunStatus.LOST])
def test_failing_when_the_newest_finished_run_failed_as_a_whole(newest):
    assert status(last_finished_status=newest) == HealthStatus.FAILING


def test_a_partial_run_with_records_in_the_review_queue_needs_attention_not_failing():
    queued = Pending(count=4, tables=1, table="Order")
    assert status(last_finished_status=RunStatus.PARTIAL, failed_records=queued) == HealthStatus.NEEDS_ATTENTION
    assert status(last_finished_status=RunStatus.PARTIAL) == HealthStatus.HEALTHY  # people dealt with them


def test_held_deletes_are_never_healthy():
    held = Pending(count=24, tables=1, table="Product")
    assert status(held_deletes=held) == HealthStatus.NEEDS_ATTENTION
    assert status(held_deletes=held, last_finished_status=RunStatus.FAILED) == HealthStatus.FAILING


def test_an_open_unacknowledged_alert_is_alert_and_an_acknowledged_one_is_not():
    assert status(unacknowledged_alerts=1, newest_alert="Deletes held") == HealthStatus.ALERT
    assert status(unacknowledged_alerts=0) == HealthStatus.HEALTHY  # acknowledged: someone is on it


def test_an_integration_without_an_active_table_is_not_configured():
    assert status(active_tables=0) == HealthStatus.NOT_CONFIGURED
    assert status(active_tables=0, active=False) == HealthStatus.PAUSED


def test_late_when_the_daily_slot_passed_the_grace_without_a_run():
    # Daily at midnight (New York): the grace of a 24 h period is capped at 1 hour.
    assert grace_for(timedelta(days=1)) == timedelta(hours=1)
    midnight = local(NEW_YORK, 2026, 3, 10, 0, 0)
    yesterday = midnight - timedelta(days=1) + timedelta(seconds=31)
    common = {
        "schedule": DAILY_MIDNIGHT,
        "last_success": yesterday + timedelta(minutes=2),
        "max_time_without_success": timedelta(hours=48),
    }
    due = {**common, "next_run_at": midnight}  # nobody claimed the midnight slot
    assert status(now=midnight + timedelta(minutes=59), **due) == HealthStatus.HEALTHY
    assert status(now=midnight + timedelta(minutes=61), **due) == HealthStatus.LATE
    claimed = {**common, "next_run_at": midnight + timedelta(days=1)}
    assert status(now=midnight + timedelta(hours=3), **claimed) == HealthStatus.HEALTHY


def test_late_for_an_interval_uses_a_grace_of_at_least_five_minutes():
    assert grace_for(timedelta(minutes=15)) == timedelta(minutes=5)
    assert grace_for(timedelta(hours=2)) == timedelta(minutes=12)
    common = {"schedule": EVERY_15, "last_success": NOW - timedelta(minutes=19)}
    assert status(next_run_at=NOW - timedelta(minutes=4), **common) == HealthStatus.HEALTHY
    assert status(next_run_at=NOW - timedelta(minutes=6), **common) == HealthStatus.LATE


def test_no_slot_before_the_activation_is_expected():
    switched_on = local(NEW_YORK, 2026, 3, 10, 0, 30)  # after the midnight slot
    first = Timing.first_slot(DAILY_MIDNIGHT, switched_on, NEW_YORK)
    assert first == local(NEW_YORK, 2026, 3, 11, 0, 0)
    never = {"last_success": None, "last_finished_status": None, "schedule": DAILY_MIDNIGHT, "next_run_at": first}
    assert status(now=switched_on + timedelta(hours=3), activated_at=switched_on, **never) == HealthStatus.NEVER_RUN


def test_never_run_then_late_when_its_first_slot_is_missed():
    never = {"schedule": EVERY_15, "last_success": None, "last_finished_status": None}
    # Every 15 minutes is due as soon as it is switched on.
    switched_on = NOW - timedelta(minutes=3)
    assert status(activated_at=switched_on, next_run_at=switched_on, **never) == HealthStatus.NEVER_RUN
    switched_on = NOW - timedelta(minutes=6)
    assert status(activated_at=switched_on, next_run_at=switched_on, **never) == HealthStatus.LATE


def test_failing_wins_over_late():
    assert (
        status(schedule=EVERY_15, next_run_at=NOW - timedelta(hours=1), last_finished_status=RunStatus.FAILED)
        == HealthStatus.FAILING
    )


def test_late_across_spring_forward_uses_the_real_slot():
    # Daily at 02:30 (New York): on 2026-03-08 the slot is 03:00 EDT, and its grace is measured from there.
    timing = Timing(ScheduleKind.DAILY, cron="30 2 * * *")
    slot = utc(2026, 3, 8, 7, 0)
    assert timing.first_slot(utc(2026, 3, 7, 12, 0), NEW_YORK) == slot
    on_time = {"schedule": timing, "last_success": slot - timedelta(hours=22)}
    assert status(now=slot + timedelta(minutes=59), next_run_at=slot, **on_time) == HealthStatus.HEALTHY
    assert status(now=slot + timedelta(minutes=61), next_run_at=slot, **on_time) == HealthStatus.LATE
    claimed = timing.slot_after(slot, slot + timedelta(seconds=31), NEW_YORK)
    assert claimed == local(NEW_YORK, 2026, 3, 9, 2, 30)
    assert status(now=slot + timedelta(hours=2), next_run_at=claimed, **on_time) == HealthStatus.HEALTHY


def test_late_across_fall_back_expects_only_the_first_occurrence():
    # Daily at 01:30 (New York) on 2026-11-01: the slot is 01:30 EDT (05:30Z), not again at 01:30 EST (06:30Z).
    first = utc(2026, 11, 1, 5, 30)
    timing = Timing(ScheduleKind.DAILY, cron="30 1 * * *")
    assert timing.first_slot(utc(2026, 10, 31, 12, 0), NEW_YORK) == first
    following = timing.slot_after(first, first + timedelta(seconds=31), NEW_YORK)
    assert following == utc(2026, 11, 2, 6, 30)
    on_time = {"schedule": timing, "last_success": first + timedelta(minutes=2), "next_run_at": following}
    assert status(now=utc(2026, 11, 1, 7, 45), **on_time) == HealthStatus.HEALTHY


def test_after_downtime_the_slots_that_passed_run_once_named_after_the_newest():
    every_15 = EVERY_15
    due = utc(2026, 3, 10, 10, 0)
    now = utc(2026, 3, 10, 10, 42)
    assert every_15.newest_slot(due, now, NEW_YORK) == utc(2026, 3, 10, 10, 30)
    assert every_15.slot_after(utc(2026, 3, 10, 10, 30), now, NEW_YORK) == utc(2026, 3, 10, 10, 45)
    daily = Timing(ScheduleKind.DAILY, cron="0 2 * * *")
    due, now = local(SAO_PAULO, 2026, 12, 1, 2, 0), local(SAO_PAULO, 2026, 12, 3, 9, 0)
    assert daily.newest_slot(due, now, SAO_PAULO) == local(SAO_PAULO, 2026, 12, 3, 2, 0)
    assert daily.slot_after(local(SAO_PAULO, 2026, 12, 3, 2, 0), now, SAO_PAULO) == local(SAO_PAULO, 2026, 12, 4, 2)
    # A slot due exactly now is the newest.
    assert daily.newest_slot(due, due, SAO_PAULO) == due


def test_every_status_has_a_colour_and_a_label():
    assert set(HEALTH_STATUS_COLOURS) == set(HealthStatus)
    assert HealthStatus.NEVER_RUN.label == "Never run"


# ---------------------------------------------------------------- status from stored runs


def make_integration(erp, crm, name="Sankhya ↔ Ploomes", **fields) -> Integration:
    defaults = {"schedule_kind": ScheduleKind.INTERVAL, "schedule_interval_minutes": 60}
    fields = {"activated_at": NOW - timedelta(days=30), **defaults, **fields}
    return build_integration(erp, crm, name=name, **{"table": "Company", **fields})


@pytest.fixture
def pair(erp_connection, crm_connection):
    return erp_connection, crm_connection


STORED_CASES = {
    "healthy": ([(RunStatus.SUCCEEDED, 30)], {}, HealthStatus.HEALTHY),
    "running": ([(RunStatus.SUCCEEDED, 70), (RunStatus.RUNNING, 5)], {}, HealthStatus.RUNNING),
    "late": ([(RunStatus.SUCCEEDED, 70)], {}, HealthStatus.LATE),  # hourly, 70 min ago, grace 6 min
    "failing": ([(RunStatus.SUCCEEDED, 90), (RunStatus.FAILED, 30)], {}, HealthStatus.FAILING),
    "alert": ([(RunStatus.SUCCEEDED, 25 * 60), (RunStatus.FAILED, 30)], {}, HealthStatus.ALERT),
    "paused": ([(RunStatus.SUCCEEDED, 30)], {"active": False}, HealthStatus.PAUSED),
    "never run": ([], {"activated_at": NOW - timedelta(minutes=2)}, HealthStatus.NEVER_RUN),
    "skipped is not a run": (
        [(RunStatus.SKIPPED, 10)],
        {"activated_at": NOW - timedelta(minutes=20)},
        HealthStatus.NEVER_RUN,
    ),
}


@pytest.mark.parametrize("case", list(STORED_CASES))
def test_each_status_from_stored_runs(pair, case):
    runs, fields, expected = STORED_CASES[case]
    with time_machine.travel(NOW - timedelta(days=40), tick=False):
        integration = make_integration(*pair, **fields)
    queued = [
        make_run(integration, run_status, at=NOW - timedelta(minutes=minutes_ago)) for run_status, minutes_ago in runs
    ]
    # The hourly schedule claimed the slot of its newest run; without runs, it was due at the activation.
    due = queued[-1].queued_at + timedelta(hours=1) if queued else integration.activated_at
    IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=due if integration.active else None)
    health = integration_health(integration, NOW, NEW_YORK)
    assert health.status == expected
    assert health.colour == HEALTH_STATUS_COLOURS[expected]


def test_the_dashboard_row_carries_the_running_run_and_the_next_run(pair):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(minutes=50))
    running = make_run(integration, RunStatus.RUNNING, at=NOW - timedelta(minutes=2))
    IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=running.queued_at + timedelta(hours=1))
    health = integration_health(integration, NOW, NEW_YORK)
    assert health.status == HealthStatus.RUNNING
    assert health.running_run.pk == running.pk and health.running_run.started_at == running.started_at
    assert health.next_run == running.queued_at + timedelta(hours=1)
    assert health.last_success == NOW - timedelta(minutes=49)
    assert health.alert_after == health.last_success + timedelta(hours=24)


def test_a_table_uses_its_own_max_time_without_success(pair):
    integration = make_integration(*pair, table="")
    company = SyncTable.objects.create(
        integration=integration, name="Company", source_object="c", target_object="/c", record_key="CNPJ"
    )
    invoice = SyncTable.objects.create(
        integration=integration,
        name="Invoice",
        source_object="i",
        target_object="/i",
        record_key="No",
        max_time_without_success=timedelta(hours=2),
    )
    old = make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=3))
    new = make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(minutes=30))
    for table, run in ((company, old), (invoice, old), (company, new)):
        TableRun.objects.create(
            run=run, table=table, started_at=run.started_at, finished_at=run.finished_at, status=RunStatus.SUCCEEDED
        )
    # The invoices were not part of the newest run (e.g. switched off then): 3 hours without success.
    assert integration_health(integration, NOW, NEW_YORK).status == HealthStatus.HEALTHY
    assert table_health(company, NOW, NEW_YORK) == HealthStatus.HEALTHY
    assert table_health(invoice, NOW, NEW_YORK) == HealthStatus.ALERT
    SyncTable.objects.filter(pk=invoice.pk).update(active=False)
    invoice.refresh_from_db()
    assert table_health(invoice, NOW, NEW_YORK) == HealthStatus.PAUSED


# ---------------------------------------------------------------- figures


def test_average_and_p95_of_known_durations(pair):
    integration = make_integration(*pair)
    for minutes in range(1, 21):  # 20 succeeded runs of 1…20 minutes in the last 7 days
        make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=minutes), seconds=minutes * 60)
    make_run(integration, RunStatus.FAILED, at=NOW - timedelta(hours=30), seconds=5 * 3600)  # not a success
    make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(days=8), seconds=9 * 3600)  # too old
    make_run(integration, RunStatus.SKIPPED, at=NOW - timedelta(hours=2), seconds=0)  # not an attempt

    runs = succeeded_in_window(integration.runs.all(), NOW)
    with CaptureQueriesContext(connection) as queries:
        assert average_duration(runs) == timedelta(minutes=10, seconds=30)
        assert p95_duration(runs) == timedelta(minutes=19)  # nearest rank: the 19th of 20
    assert len(queries) == 2

    health = integration_health(integration, NOW, NEW_YORK)
    assert health.avg_duration == timedelta(minutes=10, seconds=30)
    assert health.p95_duration == timedelta(minutes=19)
    assert health.success_rate_7d == pytest.approx(20 / 21)
    assert health.last_success == NOW - timedelta(hours=1) + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("seconds", "p95"),
    [([30], 30), ([10, 20, 30], 30), ([5, 5, 5, 7], 7), ([*range(1, 101)], 95), ([50, 40, 30, 20, 10] * 4, 50)],
)
def test_p95_is_the_nearest_rank(pair, seconds, p95):
    integration = make_integration(*pair)
    for index, duration in enumerate(seconds):
        make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(minutes=index + 1), seconds=duration)
    assert p95_duration(integration.runs.all()) == timedelta(seconds=p95)


def test_partial_runs_are_successes_for_the_figures_and_the_window(pair):
    integration = make_integration(*pair)
    make_run(integration, RunStatus.FAILED, at=NOW - timedelta(minutes=100))
    make_run(integration, RunStatus.PARTIAL, at=NOW - timedelta(minutes=40), seconds=120)
    health = integration_health(integration, NOW, NEW_YORK)
    assert health.last_success == NOW - timedelta(minutes=38)
    assert health.success_rate_7d == 0.5
    assert health.avg_duration == health.p95_duration == timedelta(minutes=2)
    assert health.status == HealthStatus.HEALTHY  # its refused records were dealt with: none waits in the queue
    assert health.failure_streak == 0


def test_no_runs_no_figures(pair):
    health = integration_health(make_integration(*pair), NOW, NEW_YORK)
    assert (health.avg_duration, health.p95_duration, health.success_rate_7d, health.last_success) == (
        None,
        None,
        None,
        None,
    )
    assert health.open_alerts == 0 and health.running_run is None


def _many(pair, count, start):
    for number in range(start, start + count):
        integration = make_integration(*pair, name=f"Integration {number}")
        make_run(integration, RunStatus.SUCCEEDED, at=NOW - timedelta(hours=2), seconds=number)
        make_run(integration, RunStatus.FAILED, at=NOW - timedelta(hours=1))
        make_run(integration, RunStatus.RUNNING, at=NOW - timedelta(minutes=1))


def test_annotate_health_uses_the_same_number_of_queries_for_2_and_20_integrations(pair):
    _many(pair, 2, 0)
    with CaptureQueriesContext(connection) as two:
        rows = health_of(Integration.objects.all(), NOW, NEW_YORK)
    assert len(rows) == 2 and {row.status for row in rows} == {HealthStatus.RUNNING}

    _many(pair, 18, 2)
    with CaptureQueriesContext(connection) as twenty:
        rows = health_of(Integration.objects.all(), NOW, NEW_YORK)
    assert len(rows) == 20
    assert len(two) == len(twenty) == 1
    assert all(row.running_run is not None and row.failure_streak == 1 for row in rows)


def test_annotate_health_keeps_the_queryset_lazy_and_filterable(pair):
    _many(pair, 3, 0)
    annotated = annotate_health(Integration.objects.filter(name__endswith="1"), NOW)
    assert [row.name for row in annotated] == ["Integration 1"]
    assert annotated.get().health_avg_duration == timedelta(seconds=1)
