"""What the active run of each integration has done so far, table by table (the dashboard's progress column).

One query for every running sync (none when none runs): each table's part of its integration's
running run, read = the sum of the outcomes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from monitoring.choices import RunStatus
from monitoring.models import TableRun
from monitoring.status import IntegrationHealth, number
from sync.models import SyncTable

WAITING = "waiting"  # a table of a running sync that has not started yet


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
