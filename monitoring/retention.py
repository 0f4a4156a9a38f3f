"""Retention: old record events, request logs and runs are deleted in bounded batches, every minute.

What is kept (the product's promises):

- record events and request logs for ``RETENTION_EVENTS_DAYS`` (7), and never less than the History
  tab can export (:func:`monitoring.history_selection.history_starts`: from midnight of its first day);
- runs and their table runs for ``RETENTION_RUNS_DAYS`` (90), never less than the events (an event
  belongs to its run); older runs too when the stored state or a person still needs them:
  a run still queued or running; the runs :class:`~monitoring.models.IntegrationState` and
  :class:`~monitoring.models.TableState` point at; each integration's newest run, newest finished
  run and newest success, and each table's newest finished and newest succeeded table run (the
  facts ``rebuild_state`` recomputes); the failed runs since an integration's last success (its
  failure streak); the runs a pending review-queue entry or held delete refers to; a run paused
  by a quota whose resume is not queued yet;
- the review queue and the held deletes themselves are never deleted here;
- webhook inbox events as long as record events once they are settled (refused, processed or ignored: a
  refused flood does not grow the inbox for ever); an event still waiting to be processed, or failed and
  waiting for a person, is kept.

A call deletes in rounds; a round deletes at most ``RETENTION_BATCH`` rows of each kind (record
events, request logs, inbox events, runs), each batch in a transaction of its own, so writers wait for one
batch at most. It stops when a round finds nothing more to delete or when
``RETENTION_BUDGET_SECONDS`` have passed: the minute's maintenance is never held for long, and a
large backlog is worked off over the following minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from sync.models import Integration, SyncTable

from .choices import (
    ACTIVE_RUN_STATUSES,
    FAILED_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    PENDING_ERROR_STATUSES,
    SETTLED_WEBHOOK_STATUSES,
    SUCCESS_RUN_STATUSES,
    HeldDeleteStatus,
)
from .history_selection import history_starts
from .models import (
    HeldDelete,
    IntegrationState,
    RecordError,
    RecordEvent,
    RequestLog,
    SyncRun,
    TableRun,
    TableState,
    WebhookEvent,
)
from .state import NO_SUCCESS_YET

DEFAULT_EVENTS_DAYS = 7
DEFAULT_RUNS_DAYS = 90
DEFAULT_BATCH = 5000
DEFAULT_BUDGET_SECONDS = 20


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these go (unless kept for another reason, for runs)."""

    events: datetime
    runs: datetime


def cutoffs(now: datetime) -> Cutoffs:
    events_days = getattr(settings, "RETENTION_EVENTS_DAYS", DEFAULT_EVENTS_DAYS)
    runs_days = getattr(settings, "RETENTION_RUNS_DAYS", DEFAULT_RUNS_DAYS)
    events = min(now - timedelta(days=events_days), history_starts(now))
    return Cutoffs(events=events, runs=min(now - timedelta(days=runs_days), events))


@dataclass
class Pruned:
    """What one call deleted."""

    events: int = 0
    requests: int = 0
    webhooks: int = 0
    runs: int = 0
    rounds: int = 0
    complete: bool = False  # False: stopped by the time budget, more is left for the next call

    def as_dict(self) -> dict:
        return {
            "events": self.events,
            "requests": self.requests,
            "webhooks": self.webhooks,
            "runs": self.runs,
            "rounds": self.rounds,
            "complete": self.complete,
        }


# --------------------------------------------------------------------------- what goes


def _table_ids() -> list[int | None]:
    """Every table, and None for calls tied to no table (reading a WSDL): each walks its own index."""
    return [*SyncTable.objects.order_by("pk").values_list("pk", flat=True), None]


def _delete_old(model, time_field: str, cutoff: datetime, table_ids, limit: int) -> int:
    """Delete at most ``limit`` rows older than ``cutoff``, table by table (the ``(table, time)`` index)."""
    deleted = 0
    for table_id in table_ids:
        if deleted >= limit:
            break
        old = model.objects.filter(table_id=table_id, **{f"{time_field}__lt": cutoff})
        batch = model.objects.filter(pk__in=old.values("pk")[: limit - deleted])
        deleted += batch.delete()[0]
    return deleted


def _delete_settled_webhooks(cutoff: datetime, limit: int) -> int:
    """Delete at most ``limit`` inbox events received before ``cutoff`` that nothing waits on any more."""
    old = WebhookEvent.objects.filter(status__in=SETTLED_WEBHOOK_STATUSES, received_at__lt=cutoff)
    return WebhookEvent.objects.filter(pk__in=old.values("pk")[:limit]).delete()[0]


def kept_runs() -> Q:
    """The runs kept past their retention (see the module's docstring); every subquery leaves out NULLs."""
    runs = SyncRun.objects.filter(integration=OuterRef("pk"))
    finished = runs.filter(status__in=FINISHED_RUN_STATUSES, finished_at__isnull=False).order_by("-finished_at", "-pk")
    succeeded = finished.filter(status__in=SUCCESS_RUN_STATUSES)
    table_runs = TableRun.objects.filter(table=OuterRef("pk"), finished_at__isnull=False)
    table_runs = table_runs.order_by("-finished_at", "-pk")

    def newest(queryset: QuerySet, model=Integration, field="pk") -> QuerySet:
        annotated = model.objects.annotate(kept=Subquery(queryset.values(field)[:1]))
        return annotated.filter(kept__isnull=False).values("kept")

    states = IntegrationState.objects
    last_success = IntegrationState.objects.filter(integration=OuterRef("integration")).values("last_success_at")
    return (
        Q(status__in=ACTIVE_RUN_STATUSES)
        | Q(resume_at__isnull=False)  # paused by a quota, its resume not queued yet
        | Q(pk__in=states.filter(active_run__isnull=False).values("active_run"))
        | Q(pk__in=states.filter(last_finished_run__isnull=False).values("last_finished_run"))
        | Q(
            pk__in=TableRun.objects.filter(
                pk__in=TableState.objects.filter(last_finished_run__isnull=False).values("last_finished_run")
            ).values("run")
        )
        | Q(pk__in=newest(runs.order_by("-queued_at", "-pk")))
        | Q(pk__in=newest(finished))
        | Q(pk__in=newest(succeeded))
        | Q(pk__in=newest(table_runs.filter(status__in=FINISHED_RUN_STATUSES), SyncTable, "run"))
        | Q(pk__in=newest(table_runs.filter(status__in=SUCCESS_RUN_STATUSES), SyncTable, "run"))
        | Q(pk__in=RecordError.objects.filter(status__in=PENDING_ERROR_STATUSES, run__isnull=False).values("run"))
        | Q(pk__in=HeldDelete.objects.filter(status=HeldDeleteStatus.PENDING, run__isnull=False).values("run"))
        | Q(
            status__in=FAILED_RUN_STATUSES,
            finished_at__gt=Coalesce(Subquery(last_success[:1]), NO_SUCCESS_YET),
        )
    )


def old_runs(cutoff: datetime) -> QuerySet:
    """Finished (or skipped) runs queued before ``cutoff`` that nothing keeps."""
    return SyncRun.objects.filter(queued_at__lt=cutoff).exclude(kept_runs())


def _delete_runs(cutoff: datetime, limit: int) -> int:
    """Delete at most ``limit`` old runs with their table runs (and what else cascades: their conflicts)."""
    pks = list(old_runs(cutoff).order_by("queued_at", "pk").values_list("pk", flat=True)[:limit])
    if not pks:
        return 0
    return SyncRun.objects.filter(pk__in=pks).delete()[1].get(SyncRun._meta.label, 0)


# --------------------------------------------------------------------------- the job


def prune(
    now: datetime,
    *,
    batch: int | None = None,
    budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Pruned:
    """Delete what is past its retention, in rounds of at most ``batch`` rows per kind, for at most ``budget``
    seconds (``clock`` is read after each batch)."""
    batch = batch or getattr(settings, "RETENTION_BATCH", DEFAULT_BATCH)
    budget = getattr(settings, "RETENTION_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS) if budget is None else budget
    limits = cutoffs(now)
    table_ids = _table_ids()
    started = clock()
    result = Pruned()

    def out_of_time() -> bool:
        return clock() - started >= budget

    while True:
        result.rounds += 1
        events = _delete_old(RecordEvent, "occurred_at", limits.events, table_ids, batch)
        result.events += events
        if out_of_time():
            return result
        requests = _delete_old(RequestLog, "started_at", limits.events, table_ids, batch)
        result.requests += requests
        if out_of_time():
            return result
        webhooks = _delete_settled_webhooks(limits.events, batch)
        result.webhooks += webhooks
        if out_of_time():
            return result
        runs = _delete_runs(limits.runs, batch)
        result.runs += runs
        if not (events or requests or webhooks or runs):
            result.complete = True
            return result
        if out_of_time():
            return result
