"""Health of integrations and tables, in the spirit of healthchecks.io's check states.

The status is computed, never stored: :meth:`HealthFacts.get_status` is a pure function
of stored facts and ``now``. The figures (last success, average and p95 duration, 7-day
success rate) are database aggregates: :func:`annotate_health` adds every fact and figure
to a queryset of integrations as correlated subqueries, so a dashboard needs one query
whatever the number of integrations or runs.

Rules
-----
- **Success** is a run that completed: *succeeded*, or *partial* (it completed and the
  records that failed went to the review queue). ``last_success`` is the finish time of
  the newest such run; it resets the failure streak and counts in the 7-day success rate
  and in the average and p95 durations (durations are ``finished_at - started_at``).
- **Failure** is a *failed*, *abandoned* or *lost* run. *Skipped* runs (a trigger that came
  while a run was active) are neither; they only count as "the scheduler fired" for *late*.
- **Window**: the time without success counts from the later of ``last_success`` and
  ``activated_at`` (never succeeded → from the activation; switching an integration off
  and on again gives it a fresh window). Tables use their own max time when they
  override the integration's.
- **Grace** for *late*: 10 % of the schedule's period, at least 5 minutes, at most 1 hour.

Precedence (first that holds wins; :mod:`monitoring.status` words each with its reason)
-----------------------------------------------------------------------------------------
1. **paused**: the integration (or the table) is switched off.
2. **not configured**: the integration has no active table: nothing would be synced.
3. **alert**: now - the window's start > max time without success (a run in progress does
   not hide it), or an alert is open and nobody acknowledged it yet.
4. **running**: a run is queued or running and not stuck.
5. **failing**: the newest finished run failed as a whole (failed, abandoned or lost: the
   system was unreachable, the credentials refused…); or the active run is stuck: running
   without a heartbeat for ``RUN_HEARTBEAT_STALE_AFTER`` (its worker died), or queued without
   starting for ``RUN_STUCK_AFTER``.
6. **late**: the newest scheduled slot (after the activation) is more than the grace ago
   and no run was queued since it.
7. **never run**: no run has finished yet.
8. **needs attention**: runs complete, but records wait in the review queue or deletes are
   held for approval. A *partial* run is one whose refused records went to the review queue:
   it needs attention while they wait there, and is healthy once people dealt with them.
9. **healthy**. Records waiting for a referenced record (an order for its customer) go
   through by themselves: the reason counts them, the status stays healthy.

Next run
--------
In the portal's time zone and DST-safe. *Daily at HH:MM* is the cron expression
``MM HH * * *``; cron expressions are evaluated by croniter on local wall time. A wall time
that does not exist (spring forward) runs at the first instant after the gap; one that
occurs twice (fall back) runs once, at its first occurrence, when the expression names a
fixed minute and hour (as Vixie cron does); expressions with ``*`` in the minute or hour
field keep running in real time through the repeated hour. *Every N minutes* is anchored
on the newest run: next = its ``queued_at`` + N (arithmetic in UTC), or ``now`` when that
is past or nothing has run ("due now"). Unscheduled or inactive integrations have no next
run (``None``), which :func:`describe_next_run` words as "not scheduled".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.db.models.lookups import LessThan
from django.utils.translation import gettext as _

from sync.choices import ScheduleKind
from sync.durations import human_duration  # noqa: F401 (the screens and tests import it from here)
from sync.models import SyncTable
from sync.validators import DAILY_TIME, check_cron

from .choices import (
    ACTIVE_RUN_STATUSES,
    UNRESOLVED_ALERT_STATUSES,
    AlertStatus,
    ErrorStatus,
    HealthStatus,
    HeldDeleteStatus,
    RunStatus,
)
from .models import Alert, HeldDelete, RecordError, SyncRun, TableRun

SUCCESS_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
FAILED_RUN_STATUSES = (RunStatus.FAILED, RunStatus.ABANDONED, RunStatus.LOST)
# Runs that count as attempts (for "never run", the newest outcome and the success rate).
FINISHED_RUN_STATUSES = (*SUCCESS_RUN_STATUSES, *FAILED_RUN_STATUSES)

FIGURES_WINDOW = timedelta(days=7)
P95 = 95  # percent; nearest-rank: the smallest duration with at least 95 % of the runs at or below it
MIN_GRACE, MAX_GRACE = timedelta(minutes=5), timedelta(hours=1)
# A run queued this little before a slot still counts for it (clocks of several hosts).
SLOT_TOLERANCE = timedelta(minutes=1)
# Before this, no run can have finished: the floor of "failed since the last success".
_NO_SUCCESS_YET = datetime(2000, 1, 1, tzinfo=UTC)

RUN_DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def portal_zone() -> ZoneInfo:
    """The portal's time zone (``settings.TIME_ZONE``), read at call time."""
    return ZoneInfo(settings.TIME_ZONE)


def stuck_after() -> timedelta:
    """How long a queued run may wait without starting (the workers may be busy with other runs)."""
    return timedelta(seconds=getattr(settings, "RUN_STUCK_AFTER", 600))


def heartbeat_stale_after() -> timedelta:
    """How long a running run may go without a heartbeat: its own thread beats every few seconds, so
    a heartbeat this old means its worker died (the reaper abandons the run at the same age)."""
    return timedelta(seconds=getattr(settings, "RUN_HEARTBEAT_STALE_AFTER", 120))


def grace_for(period: timedelta) -> timedelta:
    return min(max(period / 10, MIN_GRACE), MAX_GRACE)


# ---------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """When an integration runs: nothing, every ``interval``, or a cron expression (daily included)."""

    kind: str = ScheduleKind.NONE
    interval: timedelta | None = None
    cron: str = ""

    @classmethod
    def of(cls, integration) -> Schedule:
        """The integration's schedule; an incomplete or invalid one counts as none."""
        kind = integration.schedule_kind
        if kind == ScheduleKind.INTERVAL and integration.schedule_interval_minutes:
            return cls(kind, interval=timedelta(minutes=integration.schedule_interval_minutes))
        if kind == ScheduleKind.DAILY:
            match = DAILY_TIME.match(integration.schedule_daily_time or "")
            if match:
                hour, minute = (int(part) for part in match.groups())
                return cls(kind, cron=f"{minute} {hour} * * *")
        if kind == ScheduleKind.CRON and not check_cron(integration.schedule_cron):
            return cls(kind, cron=integration.schedule_cron.strip())
        return cls()

    @property
    def is_scheduled(self) -> bool:
        return bool(self.interval or self.cron)

    def next_after(self, now: datetime, tz: ZoneInfo, last_run_at: datetime | None = None) -> datetime | None:
        """The next run after ``now`` (UTC), or ``None`` when there is none."""
        if self.interval:
            if last_run_at is None:
                return now
            return max(last_run_at.astimezone(UTC) + self.interval, now)
        if self.cron:
            return _cron_step(self.cron, now, tz, forward=True)
        return None

    def expected_slot(
        self, now: datetime, tz: ZoneInfo, last_run_at: datetime | None, activated_at: datetime | None
    ) -> tuple[datetime, timedelta] | None:
        """The newest slot that should have produced a run by ``now``, and the schedule's period there."""
        if self.interval:
            candidates = [moment for moment in (activated_at,) if moment is not None]
            if last_run_at is not None:
                candidates.append(last_run_at.astimezone(UTC) + self.interval)
            if not candidates:
                return None
            slot = max(candidates)
            return (slot, self.interval) if slot <= now else None
        if self.cron:
            slot = _cron_step(self.cron, now, tz, forward=False)
            if slot is None or (activated_at is not None and slot < activated_at):
                return None
            following = _cron_step(self.cron, slot, tz, forward=True)
            return slot, (following - slot if following else timedelta(days=1))
        return None


def is_fixed_time(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def _cron_step(cron: str, start: datetime, tz: ZoneInfo, *, forward: bool) -> datetime | None:
    """The slot after (or before) ``start``, in UTC, with the fall-back rule of fixed-time expressions."""
    try:
        slots = croniter(cron, start.astimezone(tz))
        skip_repeats = is_fixed_time(cron)
        for _attempt in range(4):
            slot = (slots.get_next if forward else slots.get_prev)(datetime).astimezone(UTC)
            # ``fold`` is 1 only for the second occurrence of a repeated wall time.
            if not (skip_repeats and slot.astimezone(tz).fold == 1):
                return slot
    except (ValueError, KeyError, OverflowError):  # croniter's errors are ValueErrors
        return None
    return None


def next_run(integration, now: datetime, tz: ZoneInfo, last_run_at: datetime | None = None) -> datetime | None:
    """When the integration runs next (UTC), or ``None``: inactive or not scheduled.

    For *every N minutes*, ``last_run_at`` is the newest run's ``queued_at`` (any trigger);
    without it the integration is due ``now``.
    """
    if not integration.active:
        return None
    return Schedule.of(integration).next_after(now, tz, last_run_at)


def format_local(moment: datetime, tz: ZoneInfo, *, with_zone: bool = True) -> str:
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} ({tz.key})" if with_zone else f"{local:%Y-%m-%d %H:%M}"


def describe_next_run(moment: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """Words for a next run: a local date and time, "due now", or "not scheduled" (never an epoch date)."""
    if moment is None:
        return _("not scheduled")
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

    @classmethod
    def of(cls, row, prefix: str) -> Pending:
        tables = getattr(row, f"{prefix}_tables") or 0
        return cls(getattr(row, prefix) or 0, tables, getattr(row, f"{prefix}_table") or "" if tables == 1 else "")


@dataclass(frozen=True)
class HealthFacts:
    """The stored facts a status is computed from."""

    active: bool
    activated_at: datetime | None
    max_time_without_success: timedelta
    schedule: Schedule = Schedule()
    last_success: datetime | None = None
    last_finished_status: str | None = None
    last_run_at: datetime | None = None
    active_run: ActiveRun | None = None
    # What waits for a person, and what explains a status in words.
    active_tables: int = 1
    failed_records: Pending = Pending()  # records in the review queue
    held_deletes: Pending = Pending()  # deletes held for approval
    waiting_records: int = 0  # records waiting for a referenced record (they go through by themselves)
    unacknowledged_alerts: int = 0
    newest_alert: str = ""  # the message of the newest unacknowledged alert
    last_error: str = ""  # the error of the newest finished run
    failing_since: datetime | None = None  # the first failed run since the last success

    @classmethod
    def from_row(cls, integration) -> HealthFacts:
        """Facts of an integration annotated by :func:`annotate_health`."""
        return cls(
            active=integration.active,
            activated_at=integration.activated_at,
            max_time_without_success=integration.max_time_without_success,
            schedule=Schedule.of(integration),
            last_success=integration.health_last_success,
            last_finished_status=integration.health_last_finished_status,
            last_run_at=integration.health_last_run_at,
            active_run=_active_run(integration),
            active_tables=integration.health_active_tables,
            failed_records=Pending.of(integration, "health_failed_records"),
            held_deletes=Pending.of(integration, "health_held_deletes"),
            waiting_records=integration.health_waiting_records,
            unacknowledged_alerts=integration.health_unacknowledged_alerts,
            newest_alert=integration.health_newest_alert or "",
            last_error=integration.health_last_error or "",
            failing_since=integration.health_failing_since,
        )

    def for_table(self, table) -> HealthFacts:
        """The facts of a table annotated by :func:`annotate_table_health`, within this integration's."""
        return replace(
            self,
            active=self.active and table.active,
            max_time_without_success=table.max_time_without_success or self.max_time_without_success,
            last_success=table.health_last_success,
            last_finished_status=table.health_last_finished_status,
            active_tables=1,
            failed_records=Pending(table.open_errors, 1, table.name),
            held_deletes=Pending(table.pending_deletes, 1, table.name),
            waiting_records=table.waiting,
            unacknowledged_alerts=table.unacknowledged_alerts,
            newest_alert=table.newest_alert or "",
        )

    @property
    def window_start(self) -> datetime | None:
        """Where the time without success counts from: the later of last success and activation."""
        moments = [moment for moment in (self.last_success, self.activated_at) if moment is not None]
        return max(moments) if moments else None

    @property
    def alert_after(self) -> datetime | None:
        """When the status turns to *alert* unless a run succeeds (healthchecks' ``going_down_after``)."""
        start = self.window_start
        return None if start is None else start + self.max_time_without_success

    def window_exceeded(self, now: datetime) -> bool:
        alert_after = self.alert_after
        return self.active and alert_after is not None and now > alert_after

    def is_late(self, now: datetime, tz: ZoneInfo) -> bool:
        expected = self.schedule.expected_slot(now, tz, self.last_run_at, self.activated_at)
        if expected is None:
            return False
        slot, period = expected
        ran_since = self.last_run_at is not None and self.last_run_at >= slot - SLOT_TOLERANCE
        return not ran_since and now > slot + grace_for(period)

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
        if run is not None or self.last_finished_status in FAILED_RUN_STATUSES:
            return HealthStatus.FAILING
        if self.is_late(now, tz):
            return HealthStatus.LATE
        if self.last_finished_status is None:
            return HealthStatus.NEVER_RUN
        if self.failed_records.count or self.held_deletes.count:
            return HealthStatus.NEEDS_ATTENTION
        return HealthStatus.HEALTHY


def _active_run(integration) -> ActiveRun | None:
    if integration.health_active_run_id is None:
        return None
    return ActiveRun(
        pk=integration.health_active_run_id,
        status=integration.health_active_run_status,
        queued_at=integration.health_active_run_queued_at,
        started_at=integration.health_active_run_started_at,
        heartbeat_at=integration.health_active_run_heartbeat_at,
    )


# ---------------------------------------------------------------- figures (database aggregates)


def p95_ordering(runs: QuerySet) -> QuerySet:
    """``runs`` ordered so that the first row holds the p95 duration (nearest rank), in one query.

    Window functions rank the durations (``ROW_NUMBER``) and count them (``COUNT(*) OVER ()``);
    rows ranked below ``ceil(0.95 n)`` sort last, the rest by duration: the first row is the
    p95. No LIMIT/OFFSET that depends on the count, so it also works as a correlated subquery
    (SQLite and PostgreSQL).
    """
    rank = Window(RowNumber(), order_by=[RUN_DURATION.asc(), F("pk").asc()])
    total = Window(Count("pk"))
    below_p95 = LessThan(rank * Value(100), total * Value(P95))
    return runs.annotate(duration=RUN_DURATION).order_by(below_p95.asc(), RUN_DURATION.asc())


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
    return p95_ordering(measured).values_list("duration", flat=True).first()


def _aggregate(queryset: QuerySet, aggregate) -> QuerySet:
    """One value aggregated over ``queryset``, usable as a (correlated) subquery."""
    return queryset.order_by().annotate(_one=Value(1)).values("_one").annotate(value=aggregate).values("value")


def annotate_health(queryset: QuerySet, now: datetime) -> QuerySet:
    """Integrations with every fact and figure the dashboard shows, as subqueries: one query in all.

    Adds ``health_last_success``, ``health_last_finished_status``, ``health_last_run_at``,
    ``health_active_run_*`` (id, status, queued_at, started_at, heartbeat_at),
    ``health_avg_duration``, ``health_p95_duration``, ``health_runs_7d``,
    ``health_successes_7d``, ``health_failure_streak`` and ``health_open_alerts``.
    """
    runs = SyncRun.objects.filter(integration=OuterRef("pk"))
    active = runs.filter(status__in=ACTIVE_RUN_STATUSES).order_by("-queued_at", "-pk")
    finished_7d = runs.filter(
        status__in=FINISHED_RUN_STATUSES, finished_at__gt=now - FIGURES_WINDOW, finished_at__lte=now
    )
    succeeded_7d = succeeded_in_window(runs, now)
    annotated = queryset.annotate(
        health_last_success=Subquery(
            runs.filter(status__in=SUCCESS_RUN_STATUSES, finished_at__isnull=False)
            .order_by("-finished_at")
            .values("finished_at")[:1]
        ),
        health_last_finished_status=Subquery(
            runs.filter(status__in=FINISHED_RUN_STATUSES).order_by("-finished_at", "-pk").values("status")[:1]
        ),
        health_last_run_at=Subquery(runs.order_by("-queued_at").values("queued_at")[:1]),
        health_active_run_id=Subquery(active.values("pk")[:1]),
        health_active_run_status=Subquery(active.values("status")[:1]),
        health_active_run_queued_at=Subquery(active.values("queued_at")[:1]),
        health_active_run_started_at=Subquery(active.values("started_at")[:1]),
        health_active_run_heartbeat_at=Subquery(active.values("heartbeat_at")[:1]),
        health_avg_duration=Subquery(_aggregate(succeeded_7d, Avg(RUN_DURATION)), output_field=DurationField()),
        health_p95_duration=Subquery(p95_ordering(succeeded_7d).values("duration")[:1], output_field=DurationField()),
        health_runs_7d=_count(finished_7d),
        health_successes_7d=_count(succeeded_7d),
        health_partial_7d=_count(succeeded_7d.filter(status=RunStatus.PARTIAL)),
        health_open_alerts=_count(
            Alert.objects.filter(integration=OuterRef("pk"), status__in=UNRESOLVED_ALERT_STATUSES)
        ),
    )
    # Failed, abandoned or lost runs since the newest success (all of them if none): the failure streak.
    since_success = Coalesce(OuterRef("health_last_success"), Value(_NO_SUCCESS_YET))
    failed_since_success = runs.filter(status__in=FAILED_RUN_STATUSES, finished_at__gt=since_success)
    return _annotate_pending(
        annotated.annotate(
            health_failure_streak=_count(failed_since_success),
            health_failing_since=Subquery(failed_since_success.order_by("finished_at").values("finished_at")[:1]),
        )
    )


def _count(queryset: QuerySet):
    return Coalesce(Subquery(_aggregate(queryset, Count("pk")), output_field=IntegerField()), 0)


def _pending(prefix: str, queryset: QuerySet) -> dict:
    """How many rows wait, in how many tables, and (for when there is one) the first table's name."""
    return {
        prefix: _count(queryset),
        f"{prefix}_tables": Coalesce(
            Subquery(_aggregate(queryset, Count("table", distinct=True)), output_field=IntegerField()), 0
        ),
        f"{prefix}_table": Subquery(_aggregate(queryset, Min("table__name"))),
    }


def _annotate_pending(queryset: QuerySet) -> QuerySet:
    """What waits for a person, the words that explain a status (``health_failed_records``, ``health_held_deletes``
    with their ``_tables`` and ``_table``; ``health_waiting_records``, ``health_active_tables``,
    ``health_unacknowledged_alerts``, ``health_newest_alert``, ``health_last_error``)."""
    errors = RecordError.objects.filter(table__integration=OuterRef("pk"))
    runs = SyncRun.objects.filter(integration=OuterRef("pk"))
    unacknowledged = Alert.objects.filter(integration=OuterRef("pk"), status=AlertStatus.OPEN)
    return queryset.annotate(
        **_pending("health_failed_records", errors.filter(status=ErrorStatus.OPEN)),
        **_pending(
            "health_held_deletes",
            HeldDelete.objects.filter(table__integration=OuterRef("pk"), status=HeldDeleteStatus.PENDING),
        ),
        health_waiting_records=_count(errors.filter(status=ErrorStatus.WAITING)),
        health_active_tables=_count(SyncTable.objects.filter(integration=OuterRef("pk"), active=True)),
        health_unacknowledged_alerts=_count(unacknowledged),
        health_newest_alert=Subquery(unacknowledged.order_by("-opened_at", "-pk").values("message")[:1]),
        health_last_error=Subquery(
            runs.filter(status__in=FINISHED_RUN_STATUSES).order_by("-finished_at", "-pk").values("error")[:1]
        ),
    )


def annotate_table_health(queryset: QuerySet, now: datetime) -> QuerySet:
    """Tables with ``health_last_success`` and ``health_last_finished_status`` from their table runs, and what
    waits for a person: ``open_errors`` (the review queue), ``pending_deletes``, and ``waiting`` records."""
    table_runs = TableRun.objects.filter(table=OuterRef("pk"), finished_at__isnull=False, finished_at__lte=now)
    errors = RecordError.objects.filter(table=OuterRef("pk"))
    unacknowledged = Alert.objects.filter(table=OuterRef("pk"), status=AlertStatus.OPEN)
    return queryset.annotate(
        unacknowledged_alerts=_count(unacknowledged),
        newest_alert=Subquery(unacknowledged.order_by("-opened_at", "-pk").values("message")[:1]),
        open_errors=_count(errors.filter(status=ErrorStatus.OPEN)),
        waiting=_count(errors.filter(status=ErrorStatus.WAITING)),
        pending_deletes=_count(HeldDelete.objects.filter(table=OuterRef("pk"), status=HeldDeleteStatus.PENDING)),
        health_last_success=Subquery(
            table_runs.filter(status__in=SUCCESS_RUN_STATUSES).order_by("-finished_at").values("finished_at")[:1]
        ),
        health_last_finished_status=Subquery(
            table_runs.filter(status__in=FINISHED_RUN_STATUSES).order_by("-finished_at", "-pk").values("status")[:1]
        ),
    )
