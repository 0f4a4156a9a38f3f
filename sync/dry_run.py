"""A dry run: what the next run would do, table by table, without writing anything.

The source is read as the next run would read it (from each table's cursor, page by page, up to
``limit`` records a table), and each record goes through the same steps: rules, mapping, lookups
through other tables' links, and the match in the target (reads of the target are real: a table that
matches existing records looks them up). Where a run would write, the dry run notes what it would
send instead (:mod:`.steps.dry_write`). Nothing is written anywhere: no run is recorded, no link,
event, staged record or request log is stored, no cursor or resume point moves, and the target
receives no create, update or delete. Deletes are reported (would delete, or would hold for approval
past the table's threshold) only when the whole source was read.

Records a real run would also retry from the review queue are not part of it: it shows what the
source sends now. A record whose parent this run would create first shows as waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import stored_messages as stored
from monitoring.choices import RecordAction

from .choices import DeletePolicy, Direction
from .connectors.base import Connector, ConnectorError
from .engine import connector_for_connection
from .models import Integration, SyncTable
from .per_link import PerLinkReader
from .steps.deletes import gone_links
from .steps.dry_write import WOULD_CREATE, WOULD_DELETE, WOULD_HOLD, WOULD_UPDATE, DryLog, DryWriter, Planned
from .steps.extract import load_page, pages
from .steps.keys import cursor_at_start
from .steps.load import RecordLoader
from .steps.plan import TablePlan

DEFAULT_LIMIT = 100  # records read per table when no limit is given
LISTED = 200  # records listed per table in the report (all are counted)


@dataclass
class TablePreview:
    """What the next run would do to one table's records."""

    table: SyncTable
    read: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    planned: list[Planned] = field(default_factory=list)
    cursor_after: str = ""  # where the table's cursor would move (it does not)
    whole_source: bool = False  # every page was read: deletes could be judged
    error: str = ""  # the source or the target failed: the dry run stops at this table, as a run would
    calls: int = 0


@dataclass
class DryRunReport:
    integration: Integration
    limit: int
    tables: list[TablePreview]

    @property
    def error(self) -> str:
        return next((table.error for table in self.tables if table.error), "")


def dry_run(
    integration: Integration, limit: int = DEFAULT_LIMIT, connectors: Callable[..., Connector] | None = None
) -> DryRunReport:
    """The report of what a run of ``integration`` would do now, reading at most ``limit`` records a table."""
    make = connectors or connector_for_connection
    previews: list[TablePreview] = []
    logs: list[DryLog] = []  # the table being previewed last: its calls are counted on it

    def call_log(call):
        if logs:
            logs[-1].call(None, call)

    with ExitStack() as stack:
        erp = stack.enter_context(make(integration.erp_connection, call_log))
        crm = stack.enter_context(make(integration.crm_connection, call_log))
        for table in integration.tables.filter(active=True).prefetch_related("mappings"):
            source, target = (erp, crm) if table.direction == Direction.ERP_TO_CRM else (crm, erp)
            logs.append(DryLog(table, LISTED))
            preview = preview_table(table, source, target, logs[-1], limit)
            previews.append(preview)
            if preview.error:
                break
    return DryRunReport(integration, limit, previews)


def preview_table(table: SyncTable, source: Connector, target: Connector, log: DryLog, limit: int) -> TablePreview:
    plan = TablePlan.load(table)
    loader = RecordLoader(plan, log, target, still_alive=lambda: None, one_at_a_time=True)
    loader.writer = DryWriter(plan, log, target, loader.still_alive)
    preview = TablePreview(table)
    per_link = table.read_per_link_of_id is not None
    reader = PerLinkReader(table, source, log) if per_link else source
    seen: set[str] | None = None if (table.reads_changes_only or per_link) else set()
    cursor = cursor_at_start(table, timezone.now()) or None
    try:
        for page in pages(table, reader, None):
            records = page.records[: max(0, limit - preview.read)]
            preview.read += len(records)
            cursor = load_page(loader, records, cursor, resuming=False, seen_keys=seen, retried={})
            if len(records) < len(page.records) or (preview.read >= limit and page.next_token is not None):
                break
        else:
            preview.whole_source = True
        if preview.whole_source and seen is not None and table.delete_policy == DeletePolicy.DELETE:
            plan_deletes(table, seen, log)
    except ConnectorError as exc:
        preview.error = str(stored.gettext("%(table)s: %(error)s", table=table.name, error=exc.message))
    preview.counts = dict(log.counts)
    preview.planned = log.planned
    preview.cursor_after = cursor or ""
    preview.calls = log.calls
    return preview


def plan_deletes(table: SyncTable, seen_keys: set[str], log: DryLog) -> None:
    """The deletes a run would make (or hold for approval past the threshold), as :func:`.steps.deletes` decides."""
    gone = gone_links(table, seen_keys)
    action = WOULD_HOLD if gone.count() > table.delete_threshold else WOULD_DELETE
    for link in gone.order_by("source_key"):
        log.note(Planned(link.source_key, action, target_key=link.target_key))


# What each fate is called in the report, in the order the report lists them.
FATES = {
    WOULD_CREATE: _("would create"),
    WOULD_UPDATE: _("would update"),
    str(RecordAction.UNCHANGED): _("unchanged"),
    str(RecordAction.SKIPPED): _("skipped"),
    str(RecordAction.WAITING): _("would wait"),
    str(RecordAction.FAILED): _("would fail"),
    WOULD_DELETE: _("would delete"),
    WOULD_HOLD: _("would hold for approval"),
}
