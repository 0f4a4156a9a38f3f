"""The stored state recomputed from the runs: the oracle of ``manage.py rebuild_state``.

:class:`~monitoring.models.IntegrationState` and :class:`~monitoring.models.TableState` are
written as runs queue, start and finish and as the review queue changes. This module computes
the same facts from scratch, as database aggregates over the runs, the table runs, the review
queue and the held deletes: ``rebuild_state`` writes them back, and the tests hold the stored
state against them. ``next_run_at`` is a claim cursor, not a fact of the runs: a rebuild keeps
it, and sets it from the schedule where it is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Count, IntegerField, Min, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from sync.models import Integration, SyncTable

from .choices import (
    ACTIVE_RUN_STATUSES,
    FAILED_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    SUCCESS_RUN_STATUSES,
    ErrorStatus,
    HeldDeleteStatus,
    RunStatus,
)
from .models import HeldDelete, IntegrationState, RecordError, SyncRun, TableRun, TableState, window_end_at

# Before this, no run can have finished: the floor of "failed since the last success".
NO_SUCCESS_YET = datetime(2000, 1, 1, tzinfo=UTC)

INTEGRATION_FACTS = (
    "last_queued_at",
    "active_run_id",
    "last_finished_run_id",
    "last_finished_at",
    "last_finished_status",
    "last_error",
    "paused_run_id",
    "last_success_at",
    "failure_streak",
    "failing_since",
    "review_records",
    "review_tables",
    "review_table_id",
    "held_deletes",
    "held_tables",
    "held_table_id",
    "waiting_records",
    "alert_after",
)
TABLE_FACTS = (
    "last_finished_run_id",
    "last_finished_at",
    "last_finished_status",
    "last_success_at",
    "review_records",
    "waiting_records",
    "held_deletes",
    "alert_after",
)


def aggregated(queryset: QuerySet, aggregate) -> QuerySet:
    """One value aggregated over ``queryset``, usable as a correlated subquery."""
    return queryset.order_by().annotate(_one=Value(1)).values("_one").annotate(value=aggregate).values("value")


def count_of(queryset: QuerySet, aggregate=None):
    aggregate = aggregate or Count("pk")
    return Coalesce(Subquery(aggregated(queryset, aggregate), output_field=IntegerField()), 0)


def _pending(prefix: str, queryset: QuerySet) -> dict:
    """How many rows wait, in how many tables, and the lowest table's id (the table when there is one)."""
    return {
        prefix: count_of(queryset),
        f"{prefix}_tables": count_of(queryset, Count("table", distinct=True)),
        f"{prefix}_first_table_id": Subquery(aggregated(queryset, Min("table"))),
    }


def recomputed_integrations(queryset: QuerySet | None = None) -> dict[int, dict]:
    """The facts of each integration of ``queryset`` (all when None), from the runs and the queue: one query."""
    runs = SyncRun.objects.filter(integration=OuterRef("pk"))
    finished = runs.filter(status__in=FINISHED_RUN_STATUSES, finished_at__isnull=False).order_by("-finished_at", "-pk")
    errors = RecordError.objects.filter(table__integration=OuterRef("pk"))
    held = HeldDelete.objects.filter(table__integration=OuterRef("pk"), status=HeldDeleteStatus.PENDING)
    rows = (queryset if queryset is not None else Integration.objects.all()).annotate(
        fact_last_queued_at=Subquery(runs.order_by("-queued_at", "-pk").values("queued_at")[:1]),
        fact_active_run_id=Subquery(
            runs.filter(status__in=ACTIVE_RUN_STATUSES).order_by("-queued_at", "-pk").values("pk")[:1]
        ),
        fact_last_finished_run_id=Subquery(finished.values("pk")[:1]),
        fact_last_finished_at=Subquery(finished.values("finished_at")[:1]),
        fact_last_finished_status=Subquery(finished.values("status")[:1]),
        fact_last_error=Subquery(finished.values("error")[:1]),
        fact_newest_run=Subquery(runs.exclude(status=RunStatus.SKIPPED).order_by("-queued_at", "-pk").values("pk")[:1]),
        fact_paused_run_id=Subquery(
            runs.filter(status=RunStatus.PAUSED, resume_at__isnull=False).order_by("-queued_at", "-pk").values("pk")[:1]
        ),
        fact_last_success_at=Subquery(
            runs.filter(status__in=SUCCESS_RUN_STATUSES, finished_at__isnull=False)
            .order_by("-finished_at")
            .values("finished_at")[:1]
        ),
        **{
            f"fact_{name}": value
            for name, value in _pending("review_records", errors.filter(status=ErrorStatus.OPEN)).items()
        },
        **{f"fact_{name}": value for name, value in _pending("held_deletes", held).items()},
        fact_waiting_records=count_of(errors.filter(status=ErrorStatus.WAITING)),
    )
    since_success = Coalesce(OuterRef("fact_last_success_at"), Value(NO_SUCCESS_YET))
    failed = runs.filter(status__in=FAILED_RUN_STATUSES, finished_at__gt=since_success)
    rows = rows.annotate(
        fact_failure_streak=count_of(failed),
        fact_failing_since=Subquery(aggregated(failed, Min("finished_at"))),
    )
    facts = {}
    for row in rows:
        review_tables, held_tables = row.fact_review_records_tables, row.fact_held_deletes_tables
        facts[row.pk] = {
            "last_queued_at": row.fact_last_queued_at,
            "active_run_id": row.fact_active_run_id,
            "last_finished_run_id": row.fact_last_finished_run_id,
            "last_finished_at": row.fact_last_finished_at,
            "last_finished_status": row.fact_last_finished_status or "",
            "last_error": str(row.fact_last_error or ""),
            # The newest run (skipped slots aside) is paused and its resume not queued yet.
            "paused_run_id": row.fact_paused_run_id if row.fact_paused_run_id == row.fact_newest_run else None,
            "last_success_at": row.fact_last_success_at,
            "failure_streak": row.fact_failure_streak,
            "failing_since": row.fact_failing_since,
            "review_records": row.fact_review_records,
            "review_tables": review_tables,
            "review_table_id": row.fact_review_records_first_table_id if review_tables == 1 else None,
            "held_deletes": row.fact_held_deletes,
            "held_tables": held_tables,
            "held_table_id": row.fact_held_deletes_first_table_id if held_tables == 1 else None,
            "waiting_records": row.fact_waiting_records,
            "alert_after": window_end_at(row.fact_last_success_at, row.activated_at, row.max_time_without_success),
        }
    return facts


def recomputed_tables(queryset: QuerySet | None = None) -> dict[int, dict]:
    """The facts of each table of ``queryset`` (all when None), from its table runs and the queue: one query."""
    table_runs = TableRun.objects.filter(table=OuterRef("pk"), finished_at__isnull=False)
    finished = table_runs.filter(status__in=FINISHED_RUN_STATUSES).order_by("-finished_at", "-pk")
    errors = RecordError.objects.filter(table=OuterRef("pk"))
    tables = (queryset if queryset is not None else SyncTable.objects.all()).select_related("integration")
    rows = tables.annotate(
        fact_last_finished_run_id=Subquery(finished.values("pk")[:1]),
        fact_last_finished_at=Subquery(finished.values("finished_at")[:1]),
        fact_last_finished_status=Subquery(finished.values("status")[:1]),
        fact_last_success_at=Subquery(
            table_runs.filter(status__in=SUCCESS_RUN_STATUSES).order_by("-finished_at").values("finished_at")[:1]
        ),
        fact_review_records=count_of(errors.filter(status=ErrorStatus.OPEN)),
        fact_waiting_records=count_of(errors.filter(status=ErrorStatus.WAITING)),
        fact_held_deletes=count_of(HeldDelete.objects.filter(table=OuterRef("pk"), status=HeldDeleteStatus.PENDING)),
    )
    facts = {}
    for row in rows:
        integration = row.integration
        max_time = row.max_time_without_success or integration.max_time_without_success
        facts[row.pk] = {
            "integration_id": row.integration_id,
            "last_finished_run_id": row.fact_last_finished_run_id,
            "last_finished_at": row.fact_last_finished_at,
            "last_finished_status": row.fact_last_finished_status or "",
            "last_success_at": row.fact_last_success_at,
            "review_records": row.fact_review_records,
            "waiting_records": row.fact_waiting_records,
            "held_deletes": row.fact_held_deletes,
            "alert_after": window_end_at(row.fact_last_success_at, integration.activated_at, max_time),
        }
    return facts


def stored_integrations(queryset: QuerySet | None = None) -> dict[int, dict]:
    states = IntegrationState.objects.all()
    if queryset is not None:
        states = states.filter(integration__in=queryset)
    return {
        state.integration_id: {
            name: str(getattr(state, name)) if name == "last_error" else getattr(state, name)
            for name in INTEGRATION_FACTS
        }
        for state in states
    }


def stored_tables(queryset: QuerySet | None = None) -> dict[int, dict]:
    states = TableState.objects.all()
    if queryset is not None:
        states = states.filter(table__in=queryset)
    return {
        state.table_id: {"integration_id": state.integration_id, **{name: getattr(state, name) for name in TABLE_FACTS}}
        for state in states
    }


def rebuild(queryset: QuerySet | None = None, first_slot=None) -> int:
    """Write the recomputed facts over the stored state of ``queryset``'s integrations (all when None).

    ``first_slot(integration)`` gives the next run due of a scheduled integration whose state has none.
    Returns how many integrations were rebuilt.
    """
    integrations = queryset if queryset is not None else Integration.objects.all()
    facts = recomputed_integrations(integrations)
    table_facts = recomputed_tables(SyncTable.objects.filter(integration__in=integrations))
    with transaction.atomic():
        for integration in integrations:
            state = IntegrationState.locked(integration.pk)
            for name, value in facts[integration.pk].items():
                setattr(state, name, value)
            if state.next_run_at is None and first_slot is not None:
                state.next_run_at = first_slot(integration)
            state.save()
        for table_id, values in table_facts.items():
            TableState.objects.update_or_create(table_id=table_id, defaults=values)
    return len(facts)


def missing(queryset: QuerySet | None = None) -> QuerySet:
    """Integrations without a stored state (created before it existed)."""
    integrations = queryset if queryset is not None else Integration.objects.all()
    return integrations.filter(state__isnull=True)


def differences(queryset: QuerySet | None = None) -> list[str]:
    """Each stored fact that differs from its recomputed value, in words: ``integration 3 failure_streak: 2 ≠ 1``."""
    lines = []
    pairs = (
        ("integration", stored_integrations(queryset), recomputed_integrations(queryset)),
        (
            "table",
            stored_tables(_tables_of(queryset)),
            recomputed_tables(_tables_of(queryset)),
        ),
    )
    for kind, stored, recomputed in pairs:
        for pk, facts in recomputed.items():
            kept = stored.get(pk)
            if kept is None:
                lines.append(f"{kind} {pk}: no stored state")
                continue
            lines += [
                f"{kind} {pk} {name}: stored {kept.get(name)!r}, recomputed {value!r}"
                for name, value in facts.items()
                if kept.get(name) != value
            ]
    return lines


def _tables_of(integrations: QuerySet | None) -> QuerySet | None:
    return None if integrations is None else SyncTable.objects.filter(integration__in=integrations)
