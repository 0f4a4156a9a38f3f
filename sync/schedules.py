"""Keeps each integration's django-q2 ``Schedule`` in step with its configuration.

One schedule per integration, named ``integration:<pk>``, calling
``sync.tasks.run_scheduled`` with the integration's primary key only. Daily
runs are cron schedules (``MM HH * * *``), evaluated by django-q2 in the portal's
time zone, so they stay at the same wall-clock time across DST changes. An
inactive or unscheduled integration has no schedule. Missed slots are not
replayed (``catch_up`` is off): after downtime an integration runs once.

Each task names its slot: django-q2 passes the schedule's ``next_run`` at the moment it
sends the task as ``scheduled_for`` (``intended_date_kwarg``), an ISO 8601 string, and
the run keeps it. A schedule's ``task`` (the last task django-q2 sent from it) is cleared
whenever the schedule is made or its timing changes, so :func:`sent_slot` knows whether a
slot has been sent since, and which.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule

from .choices import ScheduleKind
from .validators import check_cron, check_daily_time

RUN_SCHEDULED = "sync.tasks.run_scheduled"
MAINTENANCE = "sync.tasks.maintenance"
MAINTENANCE_NAME = "portal:maintenance"
SLOT_KWARG = "scheduled_for"
_NAME_PREFIX = "integration:"


def schedule_name(integration_id: int) -> str:
    return f"{_NAME_PREFIX}{integration_id}"


def integration_id_of(name: str) -> int | None:
    """The integration a schedule name belongs to, or None for any other schedule."""
    prefix, _sep, pk = name.partition(_NAME_PREFIX)
    return int(pk) if not prefix and pk.isdigit() else None


def schedule_fields(integration) -> dict | None:
    """What the integration's Schedule must hold, or None when it must not exist."""
    if not integration.active or integration.schedule_kind == ScheduleKind.NONE:
        return None
    if integration.schedule_kind == ScheduleKind.CRON and check_cron(integration.schedule_cron):
        return None  # an invalid expression (saved around the form's validation) schedules nothing
    if integration.schedule_kind == ScheduleKind.DAILY and check_daily_time(integration.schedule_daily_time):
        return None
    fields = {
        "func": RUN_SCHEDULED,
        "args": repr((integration.pk,)),
        "kwargs": "",
        "intended_date_kwarg": SLOT_KWARG,
        "repeats": -1,
        "minutes": None,
    }
    if integration.schedule_kind == ScheduleKind.INTERVAL:
        fields.update(schedule_type=Schedule.MINUTES, minutes=integration.schedule_interval_minutes, cron=None)
    elif integration.schedule_kind == ScheduleKind.DAILY:
        hours, minutes = integration.schedule_daily_time.split(":")
        fields.update(schedule_type=Schedule.CRON, cron=f"{int(minutes)} {int(hours)} * * *")
    else:
        fields.update(schedule_type=Schedule.CRON, cron=integration.schedule_cron.strip())
    return fields


def first_run(integration, now=None):
    from monitoring.health import next_run

    now = now or timezone.now()
    return next_run(integration, now, ZoneInfo(settings.TIME_ZONE)) or now


def keep_in_step(integration, now=None) -> Schedule | None:
    """Create, change or remove the integration's Schedule; returns it (None when removed)."""
    name = schedule_name(integration.pk)
    wanted = schedule_fields(integration)
    if wanted is None:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is None:
        return Schedule.objects.create(name=name, next_run=first_run(integration, now), **wanted)
    timing_changed = any(getattr(schedule, key) != wanted[key] for key in ("schedule_type", "minutes", "cron"))
    for key, value in wanted.items():
        setattr(schedule, key, value)
    if timing_changed:
        schedule.next_run = first_run(integration, now)
        schedule.task = None  # no slot of the new timing has been sent yet
    schedule.save()
    return schedule


def slot_of(value) -> datetime | None:
    """The slot a scheduled task names (django-q2 sends an ISO 8601 string), aware; None when it names none."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else parse_datetime(value)
    if moment is None:
        raise ValueError(f"not a schedule slot: {value!r}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, ZoneInfo(settings.TIME_ZONE))


def sent_slot(schedule: Schedule, tz: ZoneInfo) -> datetime | None:
    """The newest slot django-q2 has sent a task for since the schedule was made or retimed (UTC), or None.

    When it sends a slot's task, django-q2 records the task on the schedule and moves
    ``next_run`` past the present (``catch_up`` is off), so the slot before ``next_run`` is the
    one it sent or, after downtime, a later one it skipped on purpose: either way the run it
    sent is queued after that slot.
    """
    from monitoring.health import Schedule as Timing

    if not schedule.task or schedule.next_run is None:
        return None
    if schedule.schedule_type == Schedule.MINUTES:
        return schedule.next_run - timedelta(minutes=schedule.minutes or 1)
    if schedule.schedule_type == Schedule.CRON and schedule.cron:
        before = Timing(ScheduleKind.CRON, cron=schedule.cron).expected_slot(schedule.next_run, tz, None, None)
        return before[0] if before else None
    return None


def remove(integration_id: int) -> None:
    Schedule.objects.filter(name=schedule_name(integration_id)).delete()


def ensure_maintenance_schedule() -> Schedule:
    """The minute-by-minute housekeeping: reap dead runs, evaluate alerts."""
    schedule, _created = Schedule.objects.update_or_create(
        name=MAINTENANCE_NAME,
        defaults={"func": MAINTENANCE, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1, "args": ""},
    )
    return schedule
