"""Finds runs whose worker died: running with a stale heartbeat, or queued and never started.

A running run's own thread beats every ``RUN_HEARTBEAT_INTERVAL`` seconds (:mod:`.heartbeat`),
so a heartbeat older than ``RUN_HEARTBEAT_STALE_AFTER`` means its worker is gone. Besides the
minute's reaping, a trigger or a schedule slot that finds its integration held by such a run
abandons it on the spot (:func:`abandon_if_dead`) instead of being skipped; and a slot that was
skipped because of a run the reaper later finds dead is run once, when that run is abandoned
(the first slot after the workers come back is not lost).

The Redis broker drops a task when its worker dies and the ORM broker re-delivers
only after ``retry`` seconds, so the portal's own run records are the truth: a
running run whose heartbeat is older than ``RUN_HEARTBEAT_STALE_AFTER`` becomes
*abandoned*; a queued run not started within ``QUEUED_RUN_LOST_AFTER`` becomes
*lost* and, unless it was itself a re-queue, is queued once more. Both release
the integration's lock (the one-active-run constraint); the next run resumes from
the last committed page.

A schedule slot whose wake-up vanished is not the reaper's business: the slot stays due on
the integration's state until a claimer takes it (:mod:`sync.slots`).
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from core import stored_messages as stored

from .choices import RunStatus, Trigger
from .health import heartbeat_stale_after
from .models import SyncRun


@dataclass
class ReapResult:
    abandoned: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    skipped_slots: list[int] = field(default_factory=list)  # runs queued for slots skipped because of a dead run


def stale_after() -> timedelta:
    return heartbeat_stale_after()


def lost_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "QUEUED_RUN_LOST_AFTER", 600))


def reap(now, requeue) -> ReapResult:
    """Mark dead runs; ``requeue(run)`` sends a new queued run to the workers."""
    result = ReapResult()
    stale = SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    for run in stale.select_related("integration"):
        if _abandon(run, now):
            result.abandoned.append(run.pk)
            again = rerun_skipped_slot(run, now, requeue)
            if again is not None:
                result.skipped_slots.append(again.pk)
    never_started = SyncRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=now - lost_after())
    for run in never_started.select_related("integration"):
        reason = stored.gettext(
            "Queued at %(time)s but never started: its task was lost.",
            time=run.queued_at.isoformat(timespec="seconds"),
        )
        if not run.finish(RunStatus.LOST, reason, now=now):
            continue
        result.lost.append(run.pk)
        if run.trigger == Trigger.REAPER:
            continue  # queued once more already; the schedule takes over from here
        try:
            with transaction.atomic():
                again = SyncRun.objects.create(integration=run.integration, trigger=Trigger.REAPER, queued_at=now)
        except IntegrityError:
            continue  # something else queued it meanwhile
        requeue(again)
        result.requeued.append(again.pk)
    return result


def _abandon(run: SyncRun, now) -> bool:
    reason = stored.gettext(
        "No heartbeat since %(time)s: the worker running it stopped.",
        time=run.heartbeat_at.isoformat(timespec="seconds"),
    )
    return run.finish(RunStatus.ABANDONED, reason, now=now)


def abandon_if_dead(integration, now) -> SyncRun | None:
    """The integration's running run, abandoned now if its heartbeat is stale; None when none was."""
    stale = SyncRun.objects.filter(
        integration=integration, status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after()
    ).first()
    return stale if stale is not None and _abandon(stale, now) else None


def rerun_skipped_slot(dead: SyncRun, now, requeue) -> SyncRun | None:
    """Queue once the newest schedule slot that was skipped because ``dead`` held the integration.

    Only when nothing was queued since that slot; the skipped run stays in the history as it was.
    """
    since = dead.heartbeat_at or dead.started_at or dead.queued_at
    runs = SyncRun.objects.filter(integration_id=dead.integration_id)
    skipped = (
        runs.filter(status=RunStatus.SKIPPED, scheduled_for__isnull=False, queued_at__gte=since)
        .order_by("-queued_at", "-pk")
        .first()
    )
    if skipped is None or runs.filter(queued_at__gt=skipped.queued_at).exclude(status=RunStatus.SKIPPED).exists():
        return None
    try:
        with transaction.atomic():
            again = SyncRun.objects.create(integration_id=dead.integration_id, trigger=Trigger.REAPER, queued_at=now)
    except IntegrityError:
        return None  # something else queued a run meanwhile
    requeue(again)
    return again
