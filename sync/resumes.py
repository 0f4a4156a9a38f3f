"""Runs paused by a reached quota, resumed once the quota is back.

A paused run keeps ``resume_at``. The minute's maintenance finds those whose moment has passed and
claims each by a conditional update — ``UPDATE … SET resume_at = NULL WHERE pk = <run> AND resume_at
= <read>`` — in the transaction that queues its resume run: a second claimer (two maintenance ticks
racing) updates no row and queues nothing, so a pause is resumed exactly once. The resume run is an
ordinary run (trigger *resume*): each table starts from its resume point and cursor and looks records
up before creating them, as any run after an interruption does.

A run queued since the pause (someone pressed Run now) covers it: the claim clears ``resume_at`` and
queues nothing. While the integration is paused, its schedule slots are claimed without a run and
recorded as skipped with the reason (:func:`sync.slots.claim_due`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from monitoring.choices import RunStatus, Trigger
from monitoring.models import SyncRun

from .engine import AlreadyRunning, queue_run


def due_pauses(now: datetime) -> list[int]:
    """The paused runs whose resume moment has passed (the partial index on ``resume_at``)."""
    due = SyncRun.objects.filter(status=RunStatus.PAUSED, resume_at__lte=now, integration__active=True)
    return list(due.order_by("resume_at", "pk").values_list("pk", flat=True))


def resume(run_id: int, now: datetime) -> SyncRun | None:
    """Claim the paused run ``run_id`` if its moment has passed and queue the run that resumes it.

    None when another claimer won, it is not due, or a run queued since the pause covers it.
    """
    with transaction.atomic():
        paused = SyncRun.objects.select_related("integration").filter(pk=run_id, status=RunStatus.PAUSED).first()
        if paused is None or paused.resume_at is None or paused.resume_at > now:
            return None
        won = SyncRun.objects.filter(pk=run_id, resume_at=paused.resume_at).update(resume_at=None)
        if not won:
            return None
        later = SyncRun.objects.filter(integration_id=paused.integration_id, queued_at__gt=paused.queued_at)
        if later.exclude(status=RunStatus.SKIPPED).exists():
            return None
        try:
            return queue_run(paused.integration, Trigger.RESUME)
        except AlreadyRunning:
            return None  # a run started meanwhile carries on from the same resume point


def resume_due(now: datetime) -> list[SyncRun]:
    """Queue the resume of every paused run whose moment has passed; the runs queued."""
    resumed = (resume(run_id, now) for run_id in due_pauses(now))
    return [run for run in resumed if run is not None]
