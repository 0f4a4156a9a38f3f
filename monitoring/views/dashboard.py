"""The dashboard: the admin's home page, and the JSON that refreshes it in place.

Every figure comes from :mod:`monitoring.health` (status, last success, next run, average and
p95 duration, 7-day success rate, open alerts, the active run); this module only adds what a
screen needs around them: the recent durations for the trend, the per-table progress of the
running syncs, the order (problems first) and the words.

Queries: a constant number, whatever the number of integrations, runs and record events:

1. the health of every integration, as one annotated query (:func:`monitoring.status.health_of`);
2. the durations of the last :data:`TREND_RUNS` finished runs of every integration, as one query
   (``ROW_NUMBER() OVER (PARTITION BY integration_id ORDER BY finished_at DESC)`` filtered ≤ N);
3. the per-table progress of every running sync, as one query (only when a sync is running).

The page and the JSON are built from the same :class:`DashboardRow` objects, so the refresh
shows exactly what a reload would. IT acknowledges a row's open alerts in place
(:func:`acknowledge_alerts`); the row's digest changes with its alerts, so the refresh replaces it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from core.local_time import portal_zone
from monitoring.alerts import acknowledge
from monitoring.choices import FINISHED_RUN_STATUSES, AlertStatus, HealthStatus, RunStatus
from monitoring.health import describe_next_run, is_overdue
from monitoring.models import SyncRun, TableRun
from monitoring.status import IntegrationHealth, health_of, relative_text, zone_in_words
from monitoring.templatetags.portal import duration, moment_text, status_badge
from monitoring.templatetags.trend import FAILED, PARTIAL, SUCCEEDED, TrendPoint, describe, sparkline_svg
from monitoring.workers import workers_notice
from sync.models import Integration, SyncTable

from .access import ACKNOWLEDGE_ALERTS, VIEW_INTEGRATION, require

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
REFRESH_SECONDS = 3

WAITING = "waiting"  # a table of a running sync that has not started yet
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


def number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


# ---------------------------------------------------------------- progress of a running sync


@dataclass(frozen=True)
class TableProgress:
    """One table of a running sync: records done so far (read = the sum of the outcomes)."""

    table: str
    done: int
    failed: int
    state: str  # WAITING, RunStatus.RUNNING, or the table's terminal status

    @property
    def text(self) -> str:
        values = {"table": self.table, "done": number(self.done), "failed": number(self.failed)}
        if self.state == RunStatus.RUNNING:
            if self.failed:
                return _("%(table)s %(done)s (%(failed)s failed)…") % values
            return _("%(table)s %(done)s…") % values
        if self.failed:
            return _("%(table)s %(done)s (%(failed)s failed)") % values
        return _("%(table)s %(done)s") % values

    @property
    def state_words(self) -> str:
        if self.state == RunStatus.RUNNING:
            return _("in progress")
        return _("done") if self.state in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) else RunStatus(self.state).label

    def as_json(self) -> dict:
        return {"table": self.table, "done": self.done, "failed": self.failed, "state": self.state}


@dataclass(frozen=True)
class Progress:
    """What the active run of an integration has done so far."""

    run_id: int
    run_status: str  # queued or running
    tables: tuple[TableProgress, ...] = ()

    @property
    def started(self) -> list[TableProgress]:
        return [table for table in self.tables if table.state != WAITING]

    @property
    def waiting(self) -> int:
        return sum(1 for table in self.tables if table.state == WAITING)

    @property
    def text(self) -> str:
        if self.run_status == RunStatus.QUEUED:
            return _("Queued, waiting for a worker")
        parts = [table.text for table in self.started] or [_("Starting…")]
        if self.waiting:
            parts.append(
                ngettext("%(count)d table waiting", "%(count)d tables waiting", self.waiting) % {"count": self.waiting}
            )
        return " · ".join(parts)

    @property
    def html(self) -> SafeString:
        """The same words as :attr:`text`, each table in its own element with its state in words."""
        if self.run_status == RunStatus.QUEUED or not self.started:
            return format_html('<span class="dash-progress-note">{}</span>', self.text)
        items = format_html_join(
            "",
            '<li class="dash-table-{}" data-table="{}" title="{}">{}</li>',
            ((table.state, table.table, table.state_words, table.text) for table in self.started),
        )
        waiting = ""
        if self.waiting:
            waiting = format_html(
                '<li class="dash-table-waiting">{}</li>',
                ngettext("%(count)d table waiting", "%(count)d tables waiting", self.waiting) % {"count": self.waiting},
            )
        return format_html(
            '<ol class="dash-progress-list" aria-label="{}">{}{}</ol>', _("Records done per table"), items, waiting
        )

    def as_json(self) -> dict:
        return {
            "run": self.run_id,
            "state": self.run_status,
            "text": self.text,
            "html": self.html,
            "tables": [table.as_json() for table in self.tables],
        }


def progress_of(rows: list[IntegrationHealth]) -> dict[int, Progress]:
    """The progress of every active run of ``rows``: one query for all the running ones (none if none runs)."""
    active = {row.integration.pk: row.running_run for row in rows if row.running_run is not None}
    running = [pk for pk, run in active.items() if run.status == RunStatus.RUNNING]
    tables: dict[int, list[TableProgress]] = defaultdict(list)
    if running:
        # The table's part of its integration's running run (at most one: one active run per integration).
        current = TableRun.objects.filter(table=OuterRef("pk"), run__status=RunStatus.RUNNING).order_by("-pk")
        table_rows = (
            SyncTable.objects.filter(integration_id__in=running)
            .annotate(
                progress_read=Subquery(current.values("read")[:1]),
                progress_failed=Subquery(current.values("failed")[:1]),
                progress_status=Subquery(current.values("status")[:1]),
            )
            .filter(Q(active=True) | Q(progress_status__isnull=False))
            .order_by("integration_id", "order", "pk")
            .values_list("integration_id", "name", "progress_read", "progress_failed", "progress_status")
        )
        for integration_id, name, done, failed, state in table_rows:
            tables[integration_id].append(TableProgress(name, done or 0, failed or 0, state or WAITING))
    return {pk: Progress(run.pk, run.status, tuple(tables.get(pk, ()))) for pk, run in active.items()}


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
            TrendPoint(elapsed.total_seconds(), _TREND_OUTCOMES.get(status, FAILED), duration(elapsed))
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
        return duration(self.health.avg_duration)

    @cached_property
    def p95_duration_text(self) -> str:
        return duration(self.health.p95_duration)

    @cached_property
    def duration_title(self) -> str:
        if self.health.avg_duration is None:
            return _("No run completed in the last 7 days")
        return _("Runs that completed in the last 7 days: average %(avg)s, p95 %(p95)s") % {
            "avg": self.avg_duration_text,
            "p95": self.p95_duration_text,
        }

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


@dataclass
class Board:
    """Every integration the user may see, problems first, with the summary line."""

    rows: list[DashboardRow]
    now: datetime
    tz: ZoneInfo
    can_view: bool
    can_run: bool
    workers_notice: str = ""  # set while the background workers are not seen

    @classmethod
    def build(cls, request, now: datetime, tz: ZoneInfo) -> Board:
        user = request.user
        can_view = user.has_perm("sync.view_integration")
        can_run = user.has_perm("sync.run_integration")
        can_view_alerts = user.has_perm("monitoring.view_alert")
        can_acknowledge = user.has_perm(ACKNOWLEDGE_ALERTS)
        integrations = Integration.objects.all() if can_view else Integration.objects.none()
        healths = health_of(integrations, now, tz) if can_view else []
        trends = recent_durations(integrations, now) if healths else {}
        progress = progress_of(healths)
        rows = [
            DashboardRow(
                health,
                now=now,
                tz=tz,
                trend=trends.get(health.integration.pk, []),
                progress=progress.get(health.integration.pk),
                can_run=can_run,
                can_view_alerts=can_view_alerts,
                can_acknowledge=can_acknowledge,
            )
            for health in healths
        ]
        rows.sort(key=lambda row: row.sort_key)
        return cls(rows, now, tz, can_view, can_run, workers_notice(now) if can_view else "")

    @cached_property
    def counts(self) -> list[tuple[HealthStatus, int]]:
        counted = Counter(row.status for row in self.rows)
        return [(status, counted[status]) for status in PROBLEMS_FIRST if counted[status]]

    def _summary_item(self, status: HealthStatus, count: int) -> str:
        return _("%(count)s %(status)s") % {"count": number(count), "status": str(status.label).lower()}

    @cached_property
    def summary_text(self) -> str:
        if not self.rows:
            return _("No integrations")
        return " · ".join(self._summary_item(status, count) for status, count in self.counts)

    @cached_property
    def summary_html(self) -> SafeString:
        if not self.rows:
            return format_html("{}", self.summary_text)
        separator = mark_safe('<span class="dash-sep" aria-hidden="true"> · </span>')
        return format_html_join(
            separator,
            "{}",
            ((status_badge(status, self._summary_item(status, count)),) for status, count in self.counts),
        )

    @cached_property
    def generated_at_text(self) -> str:
        return formats.time_format(self.now.astimezone(self.tz), "H:i:s")

    def as_json(self) -> dict:
        return {
            "generated_at": self.now.isoformat(),
            "generated_at_text": self.generated_at_text,
            "refresh_seconds": REFRESH_SECONDS,
            "workers": {"down": bool(self.workers_notice), "text": self.workers_notice},
            "summary": {
                "text": self.summary_text,
                "html": self.summary_html,
                "counts": {status.value: count for status, count in self.counts},
            },
            "integrations": [row.as_json() for row in self.rows],
        }


# ---------------------------------------------------------------- views (wrapped by the admin site's admin_view)


def dashboard(request, site, extra_context=None):
    """The admin's home page: every integration's health, problems first, and the admin's apps."""
    now, tz = timezone.now(), portal_zone()
    board = Board.build(request, now, tz)
    dashboard_url = reverse("admin:index", current_app=site.name)
    context = {
        **site.each_context(request),
        "title": _("Dashboard"),
        "subtitle": None,
        "board": board,
        "rows": board.rows,
        "rendered_rows": render_rows(request, board, dashboard_url),
        "zone": zone_in_words(tz),
        "dashboard_url": dashboard_url,
        "refresh_url": reverse("admin:dashboard_rows", current_app=site.name),
        "refresh_seconds": REFRESH_SECONDS,
        **(extra_context or {}),
    }
    request.current_app = site.name
    return TemplateResponse(request, "monitoring/dashboard.html", context)


@require_GET
def dashboard_data(request):
    """The dashboard's figures as JSON (for scripts and monitors; the page refreshes from :func:`dashboard_rows`)."""
    board = Board.build(request, timezone.now(), portal_zone())
    return JsonResponse(board.as_json())


# ---------------------------------------------------------------- the refresh in place: changed rows only

# The CSRF token in a row's form is masked anew at every render: it must not count as a change.
_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')
_DIGEST_PLACEHOLDER = "digest-of-this-row"
KNOWN_ROWS_HEADER = "X-Dashboard-Rows"  # "pk:digest,pk:digest…": the rows the page holds


@dataclass(frozen=True)
class RenderedRow:
    pk: int
    html: SafeString
    digest: str


def render_rows(request, board: Board, dashboard_url: str) -> list[RenderedRow]:
    """Every row as the page shows it, each marked with a digest of its content."""
    rendered = []
    for row in board.rows:
        context = {"row": row, "dashboard_url": dashboard_url, "digest_placeholder": _DIGEST_PLACEHOLDER}
        html = render_to_string("monitoring/dashboard/row.html", context, request=request)
        digest = hashlib.blake2b(_CSRF_INPUT.sub("", html).encode(), digest_size=8).hexdigest()
        html = html.replace(f'data-digest="{_DIGEST_PLACEHOLDER}"', f'data-digest="{digest}"', 1)
        rendered.append(RenderedRow(row.pk, mark_safe(html), digest))  # noqa: S308 (rendered by our template)
    return rendered


def known_rows(request) -> dict[int, str]:
    known = {}
    for pair in request.headers.get(KNOWN_ROWS_HEADER, "").split(","):
        pk, _sep, digest = pair.strip().partition(":")
        if pk.isdigit() and digest:
            known[int(pk)] = digest
    return known


@require_GET
def dashboard_rows(request):
    """The rows that changed since the page's (``X-Dashboard-Rows``), server-rendered, with the summary.

    A poll when nothing changed answers a few hundred bytes, whatever the number of integrations.
    """
    now, tz = timezone.now(), portal_zone()
    board = Board.build(request, now, tz)
    known = known_rows(request)
    rows = render_rows(request, board, reverse("admin:index"))
    context = {
        "board": board,
        "ids": ",".join(str(row.pk) for row in rows),
        "changed": [row for row in rows if known.get(row.pk) != row.digest],
    }
    return TemplateResponse(request, "monitoring/dashboard/rows.html", context)


# ---------------------------------------------------------------- acknowledging from the dashboard


@require_POST
def acknowledge_alerts(request, pk):
    """Acknowledge every open alert of integration ``pk`` with the note, by the user, now; back to the dashboard."""
    require(request, VIEW_INTEGRATION, ACKNOWLEDGE_ALERTS)
    integration = get_object_or_404(Integration, pk=pk)
    note = request.POST.get("note", "")
    now = timezone.now()
    waiting = integration.alerts.filter(status=AlertStatus.OPEN).order_by("pk")
    acknowledged = sum(acknowledge(alert, request.user, note, now) for alert in waiting)
    if acknowledged:
        words = ngettext(
            "%(name)s: %(count)d alert acknowledged.", "%(name)s: %(count)d alerts acknowledged.", acknowledged
        )
        messages.success(request, words % {"name": integration.name, "count": acknowledged})
    else:
        messages.warning(request, _("%(name)s has no open alert any more.") % {"name": integration.name})
    return HttpResponseRedirect(reverse("admin:index"))
