"""Health of integrations and tables, in the spirit of healthchecks.io's check states.

The status is computed, never stored: :meth:`HealthFacts.get_status` is a pure function of
the stored state (:class:`~monitoring.models.IntegrationState`, :class:`~monitoring.models.TableState`)
and ``now``. The state is written as runs queue, start and finish and as the review queue
changes; reading it is one row per integration. The figures (average and p95 duration, 7-day
success rate) are aggregates over the runs of the last 7 days: :func:`annotate_health` adds the
state and the figures to a queryset of integrations, so a dashboard needs one query whatever
the number of integrations or runs.

Rules
-----
- **Success** is a run that completed: *succeeded*, or *partial* (it completed and the
  records that failed went to the review queue). ``last_success`` is the finish time of
  the newest such run; it resets the failure streak and counts in the 7-day success rate
  and in the average and p95 durations (durations are ``finished_at - started_at``).
- **Failure** is a *failed*, *abandoned* or *lost* run. *Skipped* runs (a trigger that came
  while a run was active) are neither.
- **Window**: the time without success counts from the later of ``last_success`` and
  ``activated_at`` (never succeeded → from the activation; switching an integration off
  and on again gives it a fresh window); it runs out at the stored ``alert_after``. Tables
  use their own max time when they override the integration's.
- **Grace** for *late*: 10 % of the schedule's period, at least 5 minutes, at most 1 hour.

Precedence (first that holds wins; :mod:`monitoring.status` words each with its reason)
-----------------------------------------------------------------------------------------
1. **paused**: the integration (or the table) is switched off.
2. **not configured**: the integration has no active table: nothing would be synced.
3. **alert**: now > ``alert_after`` (a run in progress does not hide it; nor does a pause: a
   quota does not excuse the time without success), or an alert is open and nobody
   acknowledged it yet.
4. **running**: a run is queued or running and not stuck.
5. **paused** (by a quota): the newest run stopped because a connection's quota was reached,
   until ``paused_until``, when its resume is queued; the reason says until when and why.
6. **failing**: the newest finished run failed as a whole (failed, abandoned or lost: the
   system was unreachable, the credentials refused…); or the active run is stuck: running
   without a heartbeat for ``RUN_HEARTBEAT_STALE_AFTER`` (its worker died), or queued without
   starting for ``RUN_STUCK_AFTER``.
7. **late**: the slot due next (``next_run_at``) has not been claimed within its grace: no run
   started for it (the workers are down, or their wake-up was lost and not yet made up).
8. **never run**: no run has finished yet.
9. **needs attention**: runs complete, but records wait in the review queue or deletes are
   held for approval. A *partial* run is one whose refused records went to the review queue:
   it needs attention while they wait there, and is healthy once people dealt with them.
10. **healthy**. Records waiting for a referenced record (an order for its customer) go
   through by themselves: the reason counts them, the status stays healthy.

Next run: the stored ``next_run_at`` (:mod:`sync.schedules` says which slot follows which);
``None`` for unscheduled or inactive integrations, which :func:`describe_next_run` words as
"not scheduled".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.db.models.lookups import LessThan
from django.utils.translation import gettext as _

from core.local_time import format_local
from sync.models import SyncTable
from sync.schedules import Timing, grace_for

from .choices import (
    FAILED_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    SUCCESS_RUN_STATUSES,
    UNRESOLVED_ALERT_STATUSES,
    AlertStatus,
    HealthStatus,
    RunStatus,
    Trigger,
)
from .models import Alert, IntegrationState, SyncRun, TableState, WebhookEvent
from .state import aggregated, count_of

FIGURES_WINDOW = timedelta(days=7)
P95 = 95  # percent; nearest-rank: the smallest duration with at least 95 % of the runs at or below it
P50 = 50

RUN_DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
# A webhook event's latency: from received by the portal to its records written to the target.
WEBHOOK_LATENCY = ExpressionWrapper(F("written_at") - F("received_at"), output_field=DurationField())


def stuck_after() -> timedelta:
    """How long a queued run may wait without starting (the workers may be busy with other runs)."""
    return timedelta(seconds=getattr(settings, "RUN_STUCK_AFTER", 600))


def heartbeat_stale_after() -> timedelta:
    """How long a running run may go without a heartbeat: its own thread beats every few seconds, so
    a heartbeat this old means its worker died (the reaper abandons the run at the same age)."""
    return timedelta(seconds=getattr(settings, "RUN_HEARTBEAT_STALE_AFTER", 120))


# A slot due this recently waits for its claimer (its wake-up, or the next minute's housekeeping).
DUE_NOW = timedelta(minutes=2)


def is_overdue(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and now - moment > DUE_NOW


def describe_next_run(moment: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """Words for a next run: a local date and time, "due now", "overdue since …" or "not scheduled" (never an
    epoch date)."""
    if moment is None:
        return _("not scheduled")
    if is_overdue(moment, now):
        return _("overdue since %(time)s") % {"time": format_local(moment, tz)}
    if moment <= now:
        return _("due now")
    return format_local(moment, tz)


# ---------------------------------------------------------------- status


@dataclass(frozen=True)
class ActiveRun:
    """The queued or running run of an integration, as the dashboard needs it."""

    pk: int
    status: str
    queued_at: datetime
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None

    @classmethod
    def of(cls, run) -> ActiveRun | None:
        if run is None:
            return None
        return cls(run.pk, run.status, run.queued_at, run.started_at, run.heartbeat_at)

    @property
    def last_sign_of_life(self) -> datetime:
        if self.status == RunStatus.RUNNING:
            return self.heartbeat_at or self.started_at or self.queued_at
        return self.queued_at

    def is_stuck(self, now: datetime, after: timedelta | None = None, heartbeat_after: timedelta | None = None) -> bool:
        """Queued without starting for longer than ``after``, or running without a heartbeat for longer
        than ``heartbeat_after`` (the heartbeat's stale limit: its worker is gone)."""
        if self.status == RunStatus.RUNNING:
            limit = heartbeat_after if heartbeat_after is not None else heartbeat_stale_after()
        else:
            limit = after if after is not None else stuck_after()
        return now - self.last_sign_of_life > limit


@dataclass(frozen=True)
class Pending:
    """Records (or deletes) waiting for a person: how many, in how many tables, and the table when one."""

    count: int = 0
    tables: int = 0
    table: str = ""  # the table's name when they are all in one


@dataclass(frozen=True)
class HealthFacts:
    """The stored facts a status is computed from."""

    active: bool
    activated_at: datetime | None
    max_time_without_success: timedelta
    schedule: Timing = field(default_factory=Timing)
    next_run_at: datetime | None = None  # the slot due next, not claimed yet
    last_success: datetime | None = None
    last_finished_status: str | None = None
    active_run: ActiveRun | None = None
    alert_after: datetime | None = None  # when the time without success runs out
    # What waits for a person, and what explains a status in words.
    active_tables: int = 1
    failed_records: Pending = Pending()  # records in the review queue
    held_deletes: Pending = Pending()  # deletes held for approval
    waiting_records: int = 0  # records waiting for a referenced record (they go through by themselves)
    unacknowledged_alerts: int = 0
    newest_alert: str = ""  # the message of the newest unacknowledged alert
    last_error: str = ""  # the error of the newest finished run
    failing_since: datetime | None = None  # the first failed run since the last success
    failure_streak: int = 0  # failed, abandoned or lost runs since the last success
    paused_until: datetime | None = None  # the newest run is paused by a quota until then
    pause_reason: str = ""  # the quota's words: "daily quota reached (120000 of 120000 calls today)"

    @classmethod
    def from_row(cls, integration) -> HealthFacts:
        """Facts of an integration annotated by :func:`annotate_health` (its state read along)."""
        state = getattr(integration, "state", None) or IntegrationState(integration=integration)
        paused = state.paused_run if state.paused_run_id else None
        return cls(
            active=integration.active,
            activated_at=integration.activated_at,
            max_time_without_success=integration.max_time_without_success,
            schedule=Timing.of(integration),
            next_run_at=state.next_run_at if integration.active else None,
            last_success=state.last_success_at,
            last_finished_status=state.last_finished_status or None,
            active_run=ActiveRun.of(state.active_run),
            alert_after=state.alert_after,
            active_tables=integration.health_active_tables,
            failed_records=Pending(state.review_records, state.review_tables, _name(state.review_table)),
            held_deletes=Pending(state.held_deletes, state.held_tables, _name(state.held_table)),
            waiting_records=state.waiting_records,
            unacknowledged_alerts=integration.health_unacknowledged_alerts,
            newest_alert=integration.health_newest_alert or "",
            last_error=str(state.last_error or ""),
            failing_since=state.failing_since,
            failure_streak=state.failure_streak,
            paused_until=paused.resume_at if paused is not None else None,
            pause_reason=str(paused.pause_reason) if paused is not None else "",
        )

    def for_table(self, table) -> HealthFacts:
        """The facts of a table annotated by :func:`annotate_table_health`, within this integration's."""
        state = getattr(table, "state", None) or TableState(table=table)
        return replace(
            self,
            active=self.active and table.active,
            max_time_without_success=table.max_time_without_success or self.max_time_without_success,
            last_success=state.last_success_at,
            last_finished_status=state.last_finished_status or None,
            alert_after=state.alert_after,
            active_tables=1,
            failed_records=Pending(state.review_records, 1, table.name),
            held_deletes=Pending(state.held_deletes, 1, table.name),
            waiting_records=state.waiting_records,
            unacknowledged_alerts=table.unacknowledged_alerts,
            newest_alert=table.newest_alert or "",
        )

    @property
    def window_start(self) -> datetime | None:
        """Where the time without success counts from: the later of last success and activation."""
        moments = [moment for moment in (self.last_success, self.activated_at) if moment is not None]
        return max(moments) if moments else None

    def window_exceeded(self, now: datetime) -> bool:
        return self.active and self.alert_after is not None and now > self.alert_after

    def late_slot(self, now: datetime, tz: ZoneInfo) -> tuple[datetime, timedelta] | None:
        """The slot due and not started past its grace, with that grace; None when not late."""
        due = self.next_run_at
        if due is None or not self.schedule.is_scheduled:
            return None
        grace = grace_for(self.schedule.period_at(due, tz))
        return (due, grace) if now > due + grace else None

    def get_status(self, now: datetime, tz: ZoneInfo, stuck: timedelta | None = None) -> HealthStatus:
        """The first status that holds, in the order of the module's rules (:func:`monitoring.status.assess`
        gives it with its reason)."""
        if not self.active:
            return HealthStatus.PAUSED
        if not self.active_tables:
            return HealthStatus.NOT_CONFIGURED
        if self.window_exceeded(now) or self.unacknowledged_alerts:
            return HealthStatus.ALERT
        run = self.active_run
        if run is not None and not run.is_stuck(now, stuck):
            return HealthStatus.RUNNING
        if run is None and self.paused_until is not None:
            return HealthStatus.PAUSED
        if run is not None or self.last_finished_status in FAILED_RUN_STATUSES:
            return HealthStatus.FAILING
        if self.late_slot(now, tz) is not None:
            return HealthStatus.LATE
        if self.last_finished_status is None:
            return HealthStatus.NEVER_RUN
        if self.failed_records.count or self.held_deletes.count:
            return HealthStatus.NEEDS_ATTENTION
        return HealthStatus.HEALTHY


def _name(table) -> str:
    return table.name if table is not None else ""


# ---------------------------------------------------------------- figures (database aggregates)


def percentile_ordering(rows: QuerySet, measure, percent: int) -> QuerySet:
    """``rows`` ordered so that the first one holds the ``percent`` percentile of ``measure`` (nearest rank),
    annotated as ``measured``, in one query.

    Window functions rank the values (``ROW_NUMBER``) and count them (``COUNT(*) OVER ()``);
    rows ranked below ``ceil(percent/100 n)`` sort last, the rest by value: the first row is the
    percentile. No LIMIT/OFFSET that depends on the count, so it also works as a correlated subquery
    (SQLite and PostgreSQL).
    """
    rank = Window(RowNumber(), order_by=[measure.asc(), F("pk").asc()])
    total = Window(Count("pk"))
    below = LessThan(rank * Value(100), total * Value(percent))
    return rows.annotate(measured=measure).order_by(below.asc(), measure.asc())


def p95_ordering(runs: QuerySet) -> QuerySet:
    """``runs`` ordered so that the first row holds the p95 duration (``measured``), in one query."""
    return percentile_ordering(runs, RUN_DURATION, P95)


def written_webhook_events(events: QuerySet, now: datetime) -> QuerySet:
    """Events whose records were written in the 7 days before ``now``: the latency figures' population."""
    return events.filter(written_at__gt=now - FIGURES_WINDOW, written_at__lte=now)


def webhook_latency(events: QuerySet, percent: int) -> timedelta | None:
    """The ``percent`` percentile of received → written over ``events`` (nearest rank, one query)."""
    measured = events.filter(written_at__isnull=False)
    return percentile_ordering(measured, WEBHOOK_LATENCY, percent).values_list("measured", flat=True).first()


def succeeded_in_window(runs: QuerySet, now: datetime) -> QuerySet:
    """Runs that completed in the 7 days before ``now``, with a duration."""
    return runs.filter(
        status__in=SUCCESS_RUN_STATUSES,
        started_at__isnull=False,
        finished_at__gt=now - FIGURES_WINDOW,
        finished_at__lte=now,
    )


def average_duration(runs: QuerySet) -> timedelta | None:
    """Mean duration of ``runs`` (one query), e.g. ``succeeded_in_window(integration.runs.all(), now)``."""
    return runs.filter(started_at__isnull=False, finished_at__isnull=False).aggregate(value=Avg(RUN_DURATION))["value"]


def p95_duration(runs: QuerySet) -> timedelta | None:
    """The p95 duration of ``runs`` (nearest rank, one query)."""
    measured = runs.filter(started_at__isnull=False, finished_at__isnull=False)
    return p95_ordering(measured).values_list("measured", flat=True).first()


def with_state(queryset: QuerySet) -> QuerySet:
    """Integrations with their stored state (its active run and the tables it names), their alerts not yet
    resolved (``health_open_alerts``; ``health_unacknowledged_alerts`` and the ``health_newest_alert``'s
    message of those nobody acknowledged) and ``health_active_tables``: what a status needs, in one query."""
    unacknowledged = Alert.objects.filter(integration=OuterRef("pk"), status=AlertStatus.OPEN)
    return queryset.select_related(
        "state__active_run", "state__paused_run", "state__review_table", "state__held_table"
    ).annotate(
        health_open_alerts=count_of(
            Alert.objects.filter(integration=OuterRef("pk"), status__in=UNRESOLVED_ALERT_STATUSES)
        ),
        health_unacknowledged_alerts=count_of(unacknowledged),
        health_newest_alert=Subquery(unacknowledged.order_by("-opened_at", "-pk").values("message")[:1]),
        health_active_tables=count_of(SyncTable.objects.filter(integration=OuterRef("pk"), active=True)),
    )


def annotate_health(queryset: QuerySet, now: datetime) -> QuerySet:
    """:func:`with_state`, and the figures of the 7 days before ``now``: one query in all.

    Adds ``health_avg_duration``, ``health_p95_duration`` (of the polls: a webhook run's few records are
    measured by their latency), ``health_runs_7d``, ``health_successes_7d``, ``health_partial_7d``, and the
    webhooks' ``health_webhook_events_7d``, ``health_webhook_p50`` and ``health_webhook_p95`` (received →
    written).
    """
    runs = SyncRun.objects.filter(integration=OuterRef("pk"))
    finished_7d = runs.filter(
        status__in=FINISHED_RUN_STATUSES, finished_at__gt=now - FIGURES_WINDOW, finished_at__lte=now
    )
    succeeded_7d = succeeded_in_window(runs, now)
    polls_7d = succeeded_7d.exclude(trigger=Trigger.WEBHOOK)
    written_7d = written_webhook_events(WebhookEvent.objects.filter(run__integration=OuterRef("pk")), now)
    return with_state(queryset).annotate(
        health_avg_duration=Subquery(aggregated(polls_7d, Avg(RUN_DURATION)), output_field=DurationField()),
        health_p95_duration=Subquery(p95_ordering(polls_7d).values("measured")[:1], output_field=DurationField()),
        health_runs_7d=count_of(finished_7d),
        health_successes_7d=count_of(succeeded_7d),
        health_partial_7d=count_of(succeeded_7d.filter(status=RunStatus.PARTIAL)),
        health_webhook_events_7d=count_of(written_7d),
        health_webhook_p50=latency_subquery(written_7d, P50),
        health_webhook_p95=latency_subquery(written_7d, P95),
    )


def latency_subquery(events: QuerySet, percent: int) -> Subquery:
    return Subquery(
        percentile_ordering(events, WEBHOOK_LATENCY, percent).values("measured")[:1], output_field=DurationField()
    )


def annotate_table_health(queryset: QuerySet) -> QuerySet:
    """Tables with their stored state, its figures by the names the screens use (``health_last_success``,
    ``open_errors``, ``waiting``, ``pending_deletes``) and their alerts nobody acknowledged
    (``unacknowledged_alerts``, ``newest_alert``)."""
    unacknowledged = Alert.objects.filter(table=OuterRef("pk"), status=AlertStatus.OPEN)
    return queryset.select_related("state").annotate(
        health_last_success=F("state__last_success_at"),
        open_errors=Coalesce(F("state__review_records"), 0),
        waiting=Coalesce(F("state__waiting_records"), 0),
        pending_deletes=Coalesce(F("state__held_deletes"), 0),
        unacknowledged_alerts=count_of(unacknowledged),
        newest_alert=Subquery(unacknowledged.order_by("-opened_at", "-pk").values("message")[:1]),
    )
