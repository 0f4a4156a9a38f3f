"""One dashboard row: an integration's health figures in words and HTML fragments, and its trend.

The figures come from :mod:`monitoring.health` and :mod:`monitoring.status`; the recent durations
of every integration's trend are one query (:func:`recent_durations`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.durations import elapsed_duration
from monitoring.choices import FINISHED_RUN_STATUSES, HealthStatus, RunStatus
from monitoring.health import describe_next_run, is_overdue
from monitoring.models import SyncRun
from monitoring.status import IntegrationHealth, number, relative_text
from monitoring.templatetags.portal import moment_text, status_badge
from monitoring.templatetags.trend import FAILED, PARTIAL, SUCCEEDED, TrendPoint, describe, sparkline_svg

from .run_progress import Progress

# Problems first, then what needs no attention.
PROBLEMS_FIRST = (
    HealthStatus.ALERT,
    HealthStatus.FAILING,
    HealthStatus.LATE,
    HealthStatus.NEEDS_ATTENTION,
    HealthStatus.RUNNING,
    HealthStatus.NEVER_RUN,
    HealthStatus.NOT_CONFIGURED,
    HealthStatus.HEALTHY,
    HealthStatus.PAUSED,
)
_RANK = {status: rank for rank, status in enumerate(PROBLEMS_FIRST)}

TREND_RUNS = 20  # finished runs drawn in the trend
# The trend looks this far back at most, so that its query reads a bounded slice of the history
# (an integration running every 15 minutes has 2,880 runs in 30 days; the trend needs 20).
TREND_LOOKBACK = timedelta(days=30)
_TREND_OUTCOMES = {RunStatus.SUCCEEDED: SUCCEEDED, RunStatus.PARTIAL: PARTIAL}


# ---------------------------------------------------------------- words for people


def local_datetime(moment: datetime, tz: ZoneInfo) -> str:
    """A moment in the portal's time zone, in the user's language's one date-time format (as on every page)."""
    return moment_text(moment, tz=tz)


def next_run_text(moment: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """``describe_next_run``'s words ("not scheduled", "due now"), "overdue since" or a date in the user's format."""
    if is_overdue(moment, now):
        return _("overdue since %(time)s") % {"time": local_datetime(moment, tz)}
    if moment is None or moment <= now:
        return describe_next_run(moment, now, tz)
    return local_datetime(moment, tz)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


# ---------------------------------------------------------------- trend of recent durations


def recent_durations(integrations: QuerySet, now: datetime) -> dict[int, list[TrendPoint]]:
    """The last :data:`TREND_RUNS` finished runs of every integration, oldest first: one query."""
    newest_first = Window(
        RowNumber(), partition_by=[F("integration_id")], order_by=[F("finished_at").desc(), F("pk").desc()]
    )
    runs = (
        SyncRun.objects.filter(
            integration__in=integrations.values("pk"),
            status__in=FINISHED_RUN_STATUSES,
            started_at__isnull=False,
            finished_at__gt=now - TREND_LOOKBACK,
            finished_at__lte=now,
        )
        .annotate(position=newest_first)
        .filter(position__lte=TREND_RUNS)
        .order_by("integration_id", "finished_at", "pk")
        .values_list("integration_id", "status", "started_at", "finished_at")
    )
    trends: dict[int, list[TrendPoint]] = defaultdict(list)
    # Durations are subtracted here, for the few rows kept, rather than for every row the window ranks.
    for integration_id, status, started_at, finished_at in runs:
        elapsed = max(finished_at - started_at, timedelta(0))
        trends[integration_id].append(
            TrendPoint(elapsed.total_seconds(), _TREND_OUTCOMES.get(status, FAILED), elapsed_duration(elapsed))
        )
    return trends


# ---------------------------------------------------------------- one row, one board


class DashboardRow:
    """One integration as the dashboard shows it: the health figures in words and HTML fragments."""

    def __init__(
        self,
        health: IntegrationHealth,
        *,
        now: datetime,
        tz: ZoneInfo,
        trend: list[TrendPoint],
        progress: Progress | None,
        can_run: bool,
        can_view_alerts: bool,
        can_acknowledge: bool = False,
    ):
        self.health, self.now, self.tz = health, now, tz
        self.integration = health.integration
        self.trend, self.progress = trend, progress
        self.can_run, self.can_view_alerts, self.can_acknowledge = can_run, can_view_alerts, can_acknowledge

    @property
    def pk(self) -> int:
        return self.integration.pk

    @property
    def name(self) -> str:
        return self.integration.name

    @property
    def status(self) -> HealthStatus:
        return self.health.status

    @property
    def sort_key(self):
        return _RANK[self.status], self.name.casefold(), self.pk

    @cached_property
    def url(self) -> str:
        return reverse("admin:integration", args=[self.pk])

    @cached_property
    def status_html(self) -> SafeString:
        return status_badge(self.status)

    # last success, next run
    @cached_property
    def last_success_text(self) -> str:
        moment = self.health.last_success
        return local_datetime(moment, self.tz) if moment else _("never")

    @cached_property
    def last_success_ago(self) -> str:
        return relative_text(self.health.last_success, self.now)

    @cached_property
    def next_run_in(self) -> str:
        moment = self.health.next_run
        return relative_text(moment, self.now) if moment is not None and (moment > self.now or self.overdue) else ""

    @property
    def overdue(self) -> bool:
        return is_overdue(self.health.next_run, self.now)

    @property
    def last_success_iso(self) -> str | None:
        return self._local_iso(self.health.last_success)

    @property
    def next_run_iso(self) -> str | None:
        """The moment of a future or overdue run; none when due now (that moment is "now", new at every render)."""
        moment = self.health.next_run
        return self._local_iso(moment) if moment is not None and (moment > self.now or self.overdue) else None

    def _local_iso(self, moment: datetime | None) -> str | None:
        """For ``<time datetime>``: in the portal's time zone, as every page writes it."""
        return moment.astimezone(self.tz).isoformat() if moment is not None else None

    @cached_property
    def next_run_text(self) -> str:
        return next_run_text(self.health.next_run, self.now, self.tz)

    @cached_property
    def next_run_title(self) -> str:
        """The words of :attr:`next_run_text` with the zone they are in, for the tooltip."""
        if self.next_run_iso is None:
            return describe_next_run(self.health.next_run, self.now, self.tz)
        return f"{self.next_run_text} ({self.tz.key})"

    # durations
    @cached_property
    def avg_duration_text(self) -> str:
        return elapsed_duration(self.health.avg_duration)

    @cached_property
    def p95_duration_text(self) -> str:
        return elapsed_duration(self.health.p95_duration)

    @cached_property
    def duration_title(self) -> str:
        if self.health.avg_duration is None:
            return _("No run completed in the last 7 days")
        return _("Runs that completed in the last 7 days: average %(avg)s, p95 %(p95)s") % {
            "avg": self.avg_duration_text,
            "p95": self.p95_duration_text,
        }

    # webhooks: received → written
    @cached_property
    def webhook_latency_text(self) -> str:
        """``webhooks p50 0.8 s · p95 2.1 s``; blank when no webhook event was written in the last 7 days."""
        if not self.health.webhook_events_7d:
            return ""
        return _("webhooks p50 %(p50)s · p95 %(p95)s") % {
            "p50": elapsed_duration(self.health.webhook_p50),
            "p95": elapsed_duration(self.health.webhook_p95),
        }

    @cached_property
    def webhook_latency_title(self) -> str:
        count = self.health.webhook_events_7d
        return ngettext(
            "From received to written to the target, over %(count)d webhook event of the last 7 days",
            "From received to written to the target, over %(count)d webhook events of the last 7 days",
            count,
        ) % {"count": count}

    # 7-day success rate
    @property
    def runs_7d(self) -> int:
        return self.integration.health_runs_7d

    @property
    def successes_7d(self) -> int:
        return self.integration.health_successes_7d

    @cached_property
    def success_rate_text(self) -> str:
        return self.health.success_rate_text

    @cached_property
    def success_rate_title(self) -> str:
        return self.health.success_rate_words

    # trend
    @cached_property
    def trend_html(self) -> SafeString:
        return sparkline_svg(self.trend, label=self.trend_label)

    @cached_property
    def trend_label(self) -> str:
        return describe(self.trend)

    # open alerts
    @cached_property
    def alerts_url(self) -> str:
        """The alerts section of the integration's General tab, where IT acknowledges them."""
        return f"{self.url}#portal-alerts-title"

    @property
    def unacknowledged_alerts(self) -> int:
        """Open alerts nobody has acknowledged yet (``open_alerts`` counts the acknowledged ones too)."""
        return self.health.open_alerts - self.health.acknowledged_alerts

    @property
    def acknowledge_enabled(self) -> bool:
        """Whether the row offers to acknowledge its alerts: to IT, while some wait for a person."""
        return self.can_acknowledge and self.unacknowledged_alerts > 0

    @cached_property
    def acknowledge_url(self) -> str:
        return reverse("admin:dashboard_acknowledge", args=[self.pk])

    @cached_property
    def alerts_html(self) -> SafeString:
        """ "2 open · 1 acknowledged"; a link to the integration's alerts, where IT acknowledges them."""
        acknowledged = self.health.acknowledged_alerts
        unacknowledged = self.unacknowledged_alerts
        if not self.health.open_alerts:
            return format_html('<span class="dash-alerts-none">{}</span>', _("none"))
        parts = []
        if unacknowledged:
            parts.append(
                ngettext("%(count)s open", "%(count)s open", unacknowledged) % {"count": number(unacknowledged)}
            )
        if acknowledged:
            parts.append(
                ngettext("%(count)s acknowledged", "%(count)s acknowledged", acknowledged)
                % {"count": number(acknowledged)}
            )
        words = " · ".join(parts)
        css = "dash-alerts-open" if unacknowledged else "dash-alerts-acknowledged"
        if not self.can_view_alerts:
            return format_html('<span class="{}">{}</span>', css, words)
        return format_html(
            '<a class="{}" href="{}" title="{}">{}</a>',
            css,
            self.alerts_url,
            _("See and acknowledge the alerts of %(name)s") % {"name": self.name},
            words,
        )

    # progress of the active run
    @cached_property
    def progress_text(self) -> str:
        return self.progress.text if self.progress else ""

    @cached_property
    def progress_html(self) -> SafeString | str:
        return self.progress.html if self.progress else ""

    # run now
    @property
    def run_now_enabled(self) -> bool:
        return self.can_run and self.health.running_run is None

    @property
    def run_now_reason(self) -> str:
        if self.health.running_run is not None:
            return _("%(name)s is already queued or running.") % {"name": self.name}
        return _("Queue a run of %(name)s now") % {"name": self.name}

    def as_json(self) -> dict:
        health = self.health
        return {
            "id": self.pk,
            "name": self.name,
            "url": self.url,
            "erp": self.integration.erp_name,
            "crm": self.integration.crm_name,
            "reason": self.health.reason,
            "status": {
                "value": self.status.value,
                "label": str(health.label),
                "colour": health.colour,
                "html": self.status_html,
            },
            "last_success": {"at": _iso(health.last_success), "text": self.last_success_text},
            "next_run": {"at": _iso(health.next_run), "text": self.next_run_text, "title": self.next_run_title},
            "avg_duration": {
                "seconds": _seconds(health.avg_duration),
                "text": self.avg_duration_text,
                "p95_seconds": _seconds(health.p95_duration),
                "p95_text": self.p95_duration_text,
                "title": self.duration_title,
            },
            "webhook_latency": {
                "events": health.webhook_events_7d,
                "p50_seconds": _seconds(health.webhook_p50),
                "p95_seconds": _seconds(health.webhook_p95),
                "text": self.webhook_latency_text,
            },
            "success_rate_7d": {
                "value": health.success_rate_7d,
                "text": self.success_rate_text,
                "title": self.success_rate_title,
                "runs": self.runs_7d,
                "successes": self.successes_7d,
            },
            "trend": {
                "html": self.trend_html,
                "label": self.trend_label,
                "count": len(self.trend),
            },
            "open_alerts": {
                "count": health.open_alerts,
                "html": self.alerts_html,
                "url": self.alerts_url if self.can_view_alerts else None,
            },
            "progress": self.progress.as_json() if self.progress else None,
            "run_now": {"enabled": self.run_now_enabled, "reason": self.run_now_reason} if self.can_run else None,
        }
