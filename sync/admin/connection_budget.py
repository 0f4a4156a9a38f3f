"""The "Rate budget" panel of a connection's page: its limits, how much of them is used, and what the next
runs would take.

Every figure is a stored fact: today's calls, the hold and the spent quota as the shared budget keeps them
(:func:`sync.budgets.usage`); the calls of the last minute and those of each integration's last successful
run counted in the request logs of this connection. The forecast of a run is its calls ÷ the per-minute
rate; against what remains of today's quota it says whether the run would fit or pause, and after how many
calls. Three queries whatever the number of integrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.durations import human_duration
from core.local_time import moment_text, portal_zone
from monitoring.choices import SUCCESS_RUN_STATUSES
from monitoring.models import RequestLog, SyncRun
from monitoring.status import number

from ..budgets import Usage, usage
from ..models import Connection, Integration

LAST_MINUTE = timedelta(seconds=60)


@dataclass(frozen=True)
class Forecast:
    """The next run of one integration using the connection, at the current budget."""

    integration: Integration
    calls: int | None  # the calls its last successful run made to this connection; None: it never succeeded
    duration: timedelta | None  # those calls at the per-minute rate; None without a rate
    remaining: int | None  # calls left in today's quota; None without a daily limit

    @property
    def pauses_after(self) -> int | None:
        """How many calls it would make before today's quota stops it; None when it fits (or no quota)."""
        if self.calls is None or self.remaining is None or self.calls <= self.remaining:
            return None
        return self.remaining

    @property
    def calls_text(self) -> str:
        if self.calls is None:
            return _("no successful run yet")
        return ngettext("%(count)s call", "%(count)s calls", self.calls) % {"count": number(self.calls)}

    @property
    def duration_text(self) -> str:
        if self.calls is None:
            return "—"
        if self.duration is None:
            return _("no rate limit: as fast as the system answers")
        return _("about %(duration)s") % {"duration": human_duration(max(self.duration, timedelta(minutes=1)))}

    @property
    def quota_text(self) -> str:
        if self.remaining is None:
            return _("no daily limit")
        if self.calls is None:
            return "—"
        if self.calls and not self.remaining:
            return _("today's quota is spent: it would pause at its first call")
        if self.pauses_after is not None:
            return _("would exceed today's quota: pauses after ~%(count)s calls") % {"count": number(self.remaining)}
        return _("fits in what remains of today's quota")


@dataclass(frozen=True)
class BudgetPanel:
    usage: Usage
    last_minute: int
    forecasts: list[Forecast]
    now: datetime

    @property
    def today_text(self) -> str:
        """ "1,204 of 120,000 today"; the calls alone without a daily limit."""
        calls, limit = self.usage.calls_today, self.usage.daily_limit
        if calls is None:
            return _("not counted: this connection has no limit")
        if limit is None:
            return ngettext("%(count)s call today", "%(count)s calls today", calls) % {"count": number(calls)}
        return _("%(calls)s of %(limit)s today") % {"calls": number(calls), "limit": number(limit)}

    @property
    def rate_text(self) -> str:
        per_minute = self.usage.per_minute
        if not per_minute:
            return _("no limit")
        return ngettext("%(count)s call a minute", "%(count)s calls a minute", per_minute) % {
            "count": number(per_minute)
        }

    @property
    def last_minute_text(self) -> str:
        return ngettext("%(count)s call", "%(count)s calls", self.last_minute) % {"count": number(self.last_minute)}

    @property
    def hold_text(self) -> str:
        """Whether calls wait, and until when: the daily quota first (it is the longer wait)."""
        if self.usage.quota_until is not None:
            return _("paused until %(time)s: today's quota is spent") % {"time": self._moment(self.usage.quota_until)}
        if self.usage.held_until is not None:
            return _("held until %(time)s: the system asked to wait") % {"time": self._moment(self.usage.held_until)}
        return _("no: calls go as the rate allows")

    @property
    def is_held(self) -> bool:
        return self.usage.quota_until is not None or self.usage.held_until is not None

    def _moment(self, moment: datetime) -> str:
        return moment_text(moment, tz=portal_zone())


def last_successes(connection: Connection) -> list[Integration]:
    """The integrations using ``connection``, each with the pk of its newest successful run (``last_success_run``)."""
    newest = SyncRun.objects.filter(
        integration=OuterRef("pk"), status__in=SUCCESS_RUN_STATUSES, finished_at__isnull=False
    ).order_by("-finished_at", "-pk")
    using = Integration.objects.filter(Q(erp_connection=connection) | Q(crm_connection=connection))
    return list(using.annotate(last_success_run=Subquery(newest.values("pk")[:1])).order_by("name", "pk"))


def budget_panel(connection: Connection, now: datetime | None = None) -> BudgetPanel:
    """The panel of ``connection`` at ``now``."""
    now = now or timezone.now()
    used = usage(connection, now.timestamp())
    calls = RequestLog.objects.filter(connection=connection)
    last_minute = calls.filter(started_at__gt=now - LAST_MINUTE, started_at__lte=now).count()
    integrations = last_successes(connection)
    runs = [integration.last_success_run for integration in integrations if integration.last_success_run]
    per_run = dict(calls.filter(run__in=runs).values_list("run").annotate(count=Count("pk")).order_by())
    remaining = None if used.daily_limit is None else max(0, used.daily_limit - (used.calls_today or 0))
    if used.quota_until is not None and remaining is not None:
        remaining = 0
    forecasts = []
    for integration in integrations:
        run_calls = per_run.get(integration.last_success_run, 0) if integration.last_success_run else None
        duration = None
        if run_calls is not None and used.per_minute:
            duration = timedelta(minutes=run_calls / used.per_minute)
        forecasts.append(Forecast(integration, run_calls, duration, remaining))
    return BudgetPanel(used, last_minute, forecasts, now)


def panel_of(object_id) -> BudgetPanel | None:
    """The panel of the connection ``object_id`` (an admin change page's id); None when there is none."""
    connection = Connection.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
    return budget_panel(connection) if connection is not None else None
