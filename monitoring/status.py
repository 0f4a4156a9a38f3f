"""One status word per integration (or table), the one line that says why, and what a screen shows.

:func:`assess` is pure: the stored facts (:class:`~monitoring.health.HealthFacts`) and ``now``
in, an :class:`Assessment` out. The word comes from :meth:`HealthFacts.get_status` (the
rules and their order are in :mod:`monitoring.health`); the reason is written here, in the
active language, from the same facts — "Failing since 10:02: connection refused", "5 records
in the review queue (Order)", "24 deletes held for approval (Product)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import get_timezone, get_timezone_name
from django.db.models import QuerySet
from django.utils import formats
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from core.durations import human_duration
from core.local_time import portal_zone
from sync.models import Integration, SyncTable

from .choices import HEALTH_STATUS_COLOURS, HealthStatus, RunStatus
from .health import (
    ActiveRun,
    HealthFacts,
    Pending,
    annotate_health,
    annotate_table_health,
    heartbeat_stale_after,
)

ERROR_EXCERPT = 160  # characters of a run's error shown in a reason


@dataclass(frozen=True)
class Assessment:
    status: HealthStatus
    reason: str

    @property
    def colour(self) -> str:
        return HEALTH_STATUS_COLOURS[self.status]


def percent(rate: float | None) -> str:
    """``96.6%``, ``100%``; ``—`` without runs. Rounded down: 99.96 % never reads as 100 %."""
    if rate is None:
        return "—"
    value = math.floor(rate * 1000 + 1e-9) / 10
    decimals = 0 if value == int(value) else 1
    return _("%(value)s%%") % {"value": formats.number_format(value, decimal_pos=decimals)}


def number(value: int) -> str:
    """``1,234`` / ``1.234``: a count, grouped as the active language groups digits."""
    return formats.number_format(value, force_grouping=True)


def relative_text(moment: datetime | None, now: datetime) -> str:
    """ "just now", "28 minutes ago", "in 2 hours": how far a moment is from now, for a person comparing."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        return _("just now")
    if seconds < 0:
        return _("%(time)s ago") % {"time": timesince(moment, now, depth=1)}
    return _("in %(time)s") % {"time": timeuntil(moment, now, depth=1)}


# Django's language → Babel's locale, for the names of time zones.
_BABEL_LOCALES = {"pt-br": "pt_BR", "pt": "pt_BR"}


def zone_in_words(tz: ZoneInfo) -> str:
    """ "Brasília Time (America/Sao_Paulo)", "Horário de Brasília (America/Sao_Paulo)"; "UTC" for UTC."""
    if tz.key in ("UTC", "Etc/UTC"):
        return "UTC"
    locale = _BABEL_LOCALES.get((get_language() or "en").lower(), "en_US")
    try:
        name = get_timezone_name(get_timezone(tz.key), locale=locale)
    except LookupError:
        return tz.key
    return f"{name} ({tz.key})"


def moment_text(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """``10:02`` on the same local day as ``now``, the short date and time otherwise."""
    local = moment.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return formats.time_format(local, "H:i")
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")


def excerpt(text: str) -> str:
    """The first line of an error, cut for one line of a screen."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= ERROR_EXCERPT else line[: ERROR_EXCERPT - 1] + "…"


def _in_tables(pending: Pending, words: str) -> str:
    if pending.table:
        return _("%(words)s (%(table)s)") % {"words": words, "table": pending.table}
    if pending.tables > 1:
        return ngettext("%(words)s in %(count)d table", "%(words)s in %(count)d tables", pending.tables) % {
            "words": words,
            "count": pending.tables,
        }
    return words


def waiting_for_people(facts: HealthFacts) -> list[str]:
    """ "5 records in the review queue (Order)", "24 deletes held for approval (Product)"."""
    parts = []
    if facts.failed_records.count:
        count = facts.failed_records.count
        words = ngettext("%(count)d record in the review queue", "%(count)d records in the review queue", count)
        parts.append(_in_tables(facts.failed_records, words % {"count": count}))
    if facts.held_deletes.count:
        count = facts.held_deletes.count
        words = ngettext("%(count)d delete held for approval", "%(count)d deletes held for approval", count)
        parts.append(_in_tables(facts.held_deletes, words % {"count": count}))
    return parts


def _alert_reason(facts: HealthFacts, now: datetime) -> str:
    if facts.window_exceeded(now):
        start = facts.window_start
        words = {
            "elapsed": human_duration(now - start),
            "max": human_duration(facts.max_time_without_success),
        }
        if facts.last_success is None or facts.last_success < start:
            return _("No success since it was switched on, %(elapsed)s ago (max %(max)s).") % words
        return _("No success for %(elapsed)s (max %(max)s).") % words
    reason = excerpt(facts.newest_alert)
    more = facts.unacknowledged_alerts - 1
    if more > 0:
        reason = ngettext("%(alert)s (and %(count)d more alert)", "%(alert)s (and %(count)d more alerts)", more) % {
            "alert": reason,
            "count": more,
        }
    return reason


def _running_reason(facts: HealthFacts, now: datetime, tz: ZoneInfo) -> str:
    run = facts.active_run
    if run.status == RunStatus.RUNNING:
        return _("Run #%(run)s running since %(time)s.") % {
            "run": run.pk,
            "time": moment_text(run.started_at or run.queued_at, now, tz),
        }
    return _("Run #%(run)s queued at %(time)s, waiting for a worker.") % {
        "run": run.pk,
        "time": moment_text(run.queued_at, now, tz),
    }


def _failing_reason(facts: HealthFacts, now: datetime, tz: ZoneInfo) -> str:
    run = facts.active_run
    if run is not None and run.status == RunStatus.RUNNING:
        return _("Run #%(run)s: no heartbeat since %(time)s (more than %(limit)s): its worker stopped.") % {
            "run": run.pk,
            "time": moment_text(run.last_sign_of_life, now, tz),
            "limit": human_duration(heartbeat_stale_after()),
        }
    if run is not None:
        return _("Run #%(run)s was queued at %(time)s and has not started: are the workers running?") % {
            "run": run.pk,
            "time": moment_text(run.queued_at, now, tz),
        }
    since = moment_text(facts.failing_since, now, tz) if facts.failing_since else ""
    error = excerpt(facts.last_error)
    if since and error:
        return _("Failing since %(time)s: %(error)s") % {"time": since, "error": error}
    return error or _("Failing since %(time)s.") % {"time": since}


def _late_reason(facts: HealthFacts, now: datetime, tz: ZoneInfo) -> str:
    slot, grace = facts.late_slot(now, tz)
    return _("The run due at %(time)s has not started (grace %(grace)s).") % {
        "time": moment_text(slot, now, tz),
        "grace": human_duration(grace),
    }


def _healthy_reason(facts: HealthFacts, now: datetime, tz: ZoneInfo) -> str:
    if facts.last_success is None:
        reason = _("Nothing waits for a person.")
    else:
        reason = _("Last success %(time)s.") % {"time": moment_text(facts.last_success, now, tz)}
    if facts.waiting_records:
        waiting = ngettext(
            "%(count)d record waits for a referenced record.",
            "%(count)d records wait for a referenced record.",
            facts.waiting_records,
        ) % {"count": facts.waiting_records}
        reason = f"{reason} {waiting}"
    return reason


def assess(facts: HealthFacts, now: datetime, tz: ZoneInfo) -> Assessment:
    """The status word and its reason."""
    status = facts.get_status(now, tz)
    if status == HealthStatus.PAUSED and facts.active:
        reason = _("Until %(time)s: %(reason)s") % {
            "time": moment_text(facts.paused_until, now, tz),
            "reason": excerpt(facts.pause_reason),
        }
    elif status == HealthStatus.PAUSED:
        reason = _("Switched off: nothing runs until it is switched on.")
    elif status == HealthStatus.NOT_CONFIGURED:
        reason = _("No active table: there is nothing to sync.")
    elif status == HealthStatus.ALERT:
        reason = _alert_reason(facts, now)
    elif status == HealthStatus.RUNNING:
        reason = _running_reason(facts, now, tz)
    elif status == HealthStatus.FAILING:
        reason = _failing_reason(facts, now, tz)
    elif status == HealthStatus.LATE:
        reason = _late_reason(facts, now, tz)
    elif status == HealthStatus.NEVER_RUN:
        reason = _("No run has finished yet.")
    elif status == HealthStatus.NEEDS_ATTENTION:
        reason = " · ".join(waiting_for_people(facts)) + "."
    else:
        reason = _healthy_reason(facts, now, tz)
    return Assessment(status, reason)


# ---------------------------------------------------------------- what the dashboard shows


@dataclass(frozen=True)
class IntegrationHealth:
    integration: Integration
    status: HealthStatus
    last_success: datetime | None
    next_run: datetime | None
    avg_duration: timedelta | None
    p95_duration: timedelta | None
    success_rate_7d: float | None  # 0…1; None when no run finished in the last 7 days
    open_alerts: int
    running_run: ActiveRun | None
    last_run_status: str | None = None
    alert_after: datetime | None = None
    failure_streak: int = 0
    reason: str = ""  # why the status, in one line (monitoring.status)
    acknowledged_alerts: int = 0
    runs_7d: int = 0  # finished in the last 7 days
    successes_7d: int = 0  # of them, completed (succeeded or partial)
    partial_7d: int = 0  # of them, partial: completed with some records refused
    webhook_events_7d: int = 0  # webhook events whose records were written in the last 7 days
    webhook_p50: timedelta | None = None  # their latency, received → written
    webhook_p95: timedelta | None = None

    @property
    def success_rate_text(self) -> str:
        return percent(self.success_rate_7d)

    @property
    def success_rate_words(self) -> str:
        """ "3 of 4 runs completed in the last 7 days, 1 of them partial": the same words on every page."""
        if not self.runs_7d:
            return _("No run finished in the last 7 days")
        words = ngettext(
            "%(successes)d of %(runs)d run completed in the last 7 days",
            "%(successes)d of %(runs)d runs completed in the last 7 days",
            self.runs_7d,
        ) % {"successes": self.successes_7d, "runs": self.runs_7d}
        if self.partial_7d:
            words += ngettext(
                ", %(count)d of them partial (some records refused)",
                ", %(count)d of them partial (some records refused)",
                self.partial_7d,
            ) % {"count": self.partial_7d}
        return words

    @property
    def colour(self) -> str:
        return HEALTH_STATUS_COLOURS[self.status]

    @property
    def label(self) -> str:
        return self.status.label

    @classmethod
    def from_row(cls, integration, now: datetime, tz: ZoneInfo | None = None) -> IntegrationHealth:
        """Build from an integration annotated by :func:`annotate_health` (no query)."""
        tz = tz or portal_zone()
        facts = HealthFacts.from_row(integration)
        assessment = assess(facts, now, tz)
        runs_7d = integration.health_runs_7d
        return cls(
            integration=integration,
            status=assessment.status,
            reason=assessment.reason,
            acknowledged_alerts=integration.health_open_alerts - facts.unacknowledged_alerts,
            last_success=facts.last_success,
            next_run=facts.next_run_at,
            avg_duration=integration.health_avg_duration,
            p95_duration=integration.health_p95_duration,
            success_rate_7d=integration.health_successes_7d / runs_7d if runs_7d else None,
            open_alerts=integration.health_open_alerts,
            running_run=facts.active_run,
            last_run_status=facts.last_finished_status,
            alert_after=facts.alert_after if facts.active else None,
            failure_streak=facts.failure_streak,
            runs_7d=runs_7d,
            successes_7d=integration.health_successes_7d,
            partial_7d=integration.health_partial_7d,
            webhook_events_7d=integration.health_webhook_events_7d,
            webhook_p50=integration.health_webhook_p50,
            webhook_p95=integration.health_webhook_p95,
        )


def health_of(queryset: QuerySet, now: datetime, tz: ZoneInfo | None = None) -> list[IntegrationHealth]:
    """The health of every integration of ``queryset``, in one query."""
    tz = tz or portal_zone()
    return [IntegrationHealth.from_row(row, now, tz) for row in annotate_health(queryset, now)]


def integration_health(integration, now: datetime, tz: ZoneInfo | None = None) -> IntegrationHealth:
    """The health of one integration (one query)."""
    return health_of(Integration.objects.filter(pk=integration.pk), now, tz)[0]


def table_health(table, now: datetime, tz: ZoneInfo | None = None) -> HealthStatus:
    """The status of one table: the integration's facts with the table's successes and max time."""
    tz = tz or portal_zone()
    integration = annotate_health(Integration.objects.filter(pk=table.integration_id), now).get()
    annotated = annotate_table_health(SyncTable.objects.filter(pk=table.pk)).get()
    return HealthFacts.from_row(integration).for_table(annotated).get_status(now, tz)
