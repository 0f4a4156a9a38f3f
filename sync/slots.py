"""Schedule slots: stored on the integration's state, claimed by a conditional update.

Each scheduled integration's state holds ``next_run_at``, the slot due next. Whoever moves it
on — ``UPDATE … SET next_run_at = <the slot after> WHERE next_run_at = <the slot>`` — owns
that slot and queues its run in the same transaction; a second claimer updates no row and
runs nothing. So a slot runs once however many wake-ups reach it (django-q2 fires a fixed
time twice the night clocks go back; the ORM broker re-delivers; several clusters race).

django-q2 only wakes the claimer: one ``Schedule`` per integration, named
``integration:<pk>``, calling ``sync.tasks.run_scheduled`` with the primary key only at the
integration's own times (cron in the portal's time zone; every N minutes from the first slot),
and the minute's maintenance claims whatever is overdue (a wake-up whose task was lost, or
workers that were down). After downtime the slots that passed run once, named after the newest.
A slot covered by a run queued since it and over (someone pressed Run now) is moved on without a run.

A slot that comes while the integration is paused by a reached quota (its newest run paused, the
quota back only later) is moved on without a run too, and recorded as a skipped run that says so
("Scheduled run skipped: the integration is paused until 14:02: …"): a run now would stop at its
first call, and the paused run's work resumes by itself when the quota is back (:mod:`sync.resumes`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from core import stored_messages as stored
from core.local_time import portal_zone
from monitoring.models import IntegrationState, SyncRun

from .choices import ScheduleKind
from .engine import until_text
from .models import Integration
from .schedules import Timing

RUN_SCHEDULED = "sync.tasks.run_scheduled"
MAINTENANCE = "monitoring.tasks.maintenance"
MAINTENANCE_NAME = "portal:maintenance"
_NAME_PREFIX = "integration:"

logger = logging.getLogger(__name__)


def schedule_name(integration_id: int) -> str:
    return f"{_NAME_PREFIX}{integration_id}"


def wake_fields(integration: Integration, timing: Timing) -> dict | None:
    """What the integration's wake-up Schedule must hold, or None when it must not exist."""
    if not integration.active or not timing.is_scheduled:
        return None
    fields = {
        "func": RUN_SCHEDULED,
        "args": repr((integration.pk,)),
        "kwargs": "",
        "intended_date_kwarg": None,
        "repeats": -1,
    }
    if timing.interval:
        return {**fields, "schedule_type": Schedule.MINUTES, "minutes": int(timing.interval.total_seconds() // 60)}
    return {**fields, "schedule_type": Schedule.CRON, "cron": timing.cron, "minutes": None}


def keep_in_step(integration: Integration, now: datetime | None = None) -> Schedule | None:
    """After a save: the next run due and the wake-up Schedule follow the configuration (same transaction).

    A new or changed timing starts from its first slot; an unchanged one keeps the slot due.
    """
    now = now or timezone.now()
    timing = Timing.of(integration)
    wanted = wake_fields(integration, timing)
    name = schedule_name(integration.pk)
    with transaction.atomic():
        state = IntegrationState.locked(integration.pk)
        if wanted is None:
            Schedule.objects.filter(name=name).delete()
            IntegrationState.objects.filter(pk=integration.pk).update(next_run_at=None)
            return None
        schedule = Schedule.objects.filter(name=name).first()
        retimed = schedule is None or any(
            getattr(schedule, key) != wanted.get(key) for key in ("schedule_type", "minutes", "cron")
        )
        if retimed or state.next_run_at is None:
            state.next_run_at = timing.first_slot(now, portal_zone(), state.last_queued_at)
            state.save(update_fields=["next_run_at"])
        if schedule is None:
            return Schedule.objects.create(name=name, next_run=state.next_run_at, **wanted)
        for key, value in wanted.items():
            setattr(schedule, key, value)
        if retimed:
            schedule.next_run = state.next_run_at
        schedule.save()
        return schedule


def remove(integration_id: int) -> None:
    Schedule.objects.filter(name=schedule_name(integration_id)).delete()


def ensure_maintenance_schedule() -> Schedule:
    """The minute-by-minute housekeeping (claim overdue slots, reap dead runs, evaluate alerts), as it must be.

    Called after every ``migrate`` and when a web server starts: a schedule stored by an earlier release
    (which called another function, such as ``sync.tasks.maintenance``) is put right.
    """
    schedule, _created = Schedule.objects.update_or_create(
        name=MAINTENANCE_NAME,
        defaults={"func": MAINTENANCE, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1, "args": ""},
    )
    return schedule


def first_slot(integration: Integration, now: datetime | None = None) -> datetime | None:
    """The slot a scheduled, active integration whose state has none starts from (``rebuild_state``)."""
    if not integration.active:
        return None
    last_queued = IntegrationState.objects.filter(pk=integration.pk).values_list("last_queued_at", flat=True).first()
    return Timing.of(integration).first_slot(now or timezone.now(), portal_zone(), last_queued)


@dataclass(frozen=True)
class Claim:
    """A slot won by this claimer: its run is queued in the same transaction, or the slot was covered or skipped."""

    integration: Integration
    slot: datetime
    covered: bool  # a run was queued since the slot: nothing more to run
    skipped: bool = False  # the integration is paused by a quota: the slot was recorded as skipped


def claim_due(integration_id: int, now: datetime) -> Claim | None:
    """Move the integration's due slot on if it is due; the claim when this caller won it, else None.

    Call inside a transaction that also queues the slot's run, so that the slot and its run stand or fall together.
    """
    state = IntegrationState.objects.select_related("integration", "paused_run").filter(pk=integration_id).first()
    if state is None or state.next_run_at is None or state.next_run_at > now or not state.integration.active:
        return None
    timing, tz = Timing.of(state.integration), portal_zone()
    if not timing.is_scheduled:
        return None
    slot = timing.newest_slot(state.next_run_at, now, tz)
    following = timing.slot_after(slot, now, tz)
    won = IntegrationState.objects.filter(pk=integration_id, next_run_at=state.next_run_at).update(
        next_run_at=following
    )
    if not won:
        return None
    paused = state.paused_run
    if paused is not None and paused.resume_at is not None and paused.resume_at > now:
        skip_while_paused(state.integration, slot, paused, now)
        return Claim(state.integration, slot, covered=False, skipped=True)
    # A run queued since the slot and already over (Run now pressed meanwhile) did the slot's work.
    covered = state.active_run_id is None and state.last_queued_at is not None and state.last_queued_at >= slot
    return Claim(state.integration, slot, covered)


def skip_while_paused(integration: Integration, slot: datetime, paused: SyncRun, now: datetime) -> None:
    """Record the slot as a skipped run: the integration is paused by a quota until ``paused.resume_at``."""
    reason = stored.gettext(
        "Scheduled run skipped: the integration is paused until %(time)s: %(reason)s",
        time=until_text(paused.resume_at, now),
        reason=paused.pause_reason,
    )
    SyncRun.skip_slot(integration, slot, reason, now)


def due_integrations(now: datetime) -> list[int]:
    """The integrations whose slot is due (one query on the indexed ``next_run_at``)."""
    due = IntegrationState.objects.filter(next_run_at__lte=now, integration__active=True)
    return list(due.exclude(integration__schedule_kind=ScheduleKind.NONE).values_list("pk", flat=True))
