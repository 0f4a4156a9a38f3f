"""Finds runs whose worker died: running with a stale heartbeat, or queued and never started.

The Redis broker drops a task when its worker dies and the ORM broker re-delivers
only after ``retry`` seconds, so the portal's own run records are the truth: a
running run whose heartbeat is older than ``RUN_HEARTBEAT_STALE_AFTER`` becomes
*abandoned*; a queued run not started within ``QUEUED_RUN_LOST_AFTER`` becomes
*lost* and, unless it was itself a re-queue, is queued once more. Both release
the integration's lock (the one-active-run constraint); the next run resumes from
the last committed page.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from sync import stored_messages as stored

from .choices import RunStatus, Trigger
from .models import SyncRun


@dataclass
class ReapResult:
    abandoned: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "RUN_HEARTBEAT_STALE_AFTER", 300))


def lost_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "QUEUED_RUN_LOST_AFTER", 600))


def reap(now, requeue) -> ReapResult:
    """Mark dead runs; ``requeue(run)`` sends a new queued run to the workers."""
    result = ReapResult()
    stale = SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    for run in stale.select_related("integration"):
        reason = stored.gettext(
            "No heartbeat since %(time)s: the worker running it stopped.",
            time=run.heartbeat_at.isoformat(timespec="seconds"),
        )
        if run.finish(RunStatus.ABANDONED, reason, now=now):
            result.abandoned.append(run.pk)
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
