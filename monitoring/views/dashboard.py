"""The dashboard: the admin's home page, and the JSON that refreshes it in place.

Every figure comes from :mod:`monitoring.health` (status, last success, next run, average and
p95 duration, 7-day success rate, open alerts, the active run); the rows
(:mod:`monitoring.views.dashboard_row`) add what a screen needs around them: the recent durations
for the trend, the per-table progress of the running syncs (:mod:`monitoring.views.run_progress`)
and the words. This module puts the rows in order (problems first) and serves them.

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
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from django.contrib import messages
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
from monitoring.choices import AlertStatus, HealthStatus
from monitoring.status import health_of, number, zone_in_words
from monitoring.templatetags.portal import status_badge
from monitoring.workers import workers_notice
from sync.models import Integration

from .access import ACKNOWLEDGE_ALERTS, VIEW_INTEGRATION, require
from .dashboard_row import PROBLEMS_FIRST, DashboardRow, recent_durations
from .run_progress import progress_of

REFRESH_SECONDS = 3


# ---------------------------------------------------------------- the board


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
