"""The ledger's last figure: how many records the target holds for a table, against the links the portal holds.

A table with a count query (``SyncTable.target_count_query``, e.g.
``Contacts?$filter=TypeId eq 1&$count=true&$top=0``) asks its target, once the run's read and
writes of the table are done, how many records it holds (:meth:`Connector.count`), and counts its
own record links at that moment. Both figures go on the table run: *confirmed in the target* and
*linked by the portal*. When they differ, an alert of kind *target count* is opened (or kept) for
the table, naming both; once they agree again it is resolved with a note.

A target that cannot be counted (unreachable, an answer without a count, a connection that cannot
count) leaves its reason on the table run; the table and the run do not fail for it (the writes
happened, only the check did not), and an open alert stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import stored_messages as stored
from monitoring.alerts import open_alert, resolve_alert
from monitoring.choices import AlertKind
from monitoring.models import TableRun

from .choices import Direction
from .connectors.base import Connector, ConnectorError
from .models import Integration, RecordLink, SyncTable


@dataclass(frozen=True)
class TargetCount:
    """What one count found: both figures, or why the target was not counted."""

    target_total: int | None = None
    linked_total: int | None = None
    error: str = ""

    @property
    def differs(self) -> bool:
        return self.target_total is not None and self.target_total != self.linked_total

    def store_on(self, table_run: TableRun) -> list[str]:
        """Set the figures on ``table_run``; returns the fields to save (with the run's other final fields)."""
        table_run.target_total, table_run.linked_total = self.target_total, self.linked_total
        table_run.target_count_error = self.error
        return ["target_total", "linked_total", "target_count_error"]


def count_target(table: SyncTable, target: Connector) -> TargetCount:
    """The table's links now, and what its count query answers on ``target``."""
    linked = RecordLink.objects.filter(table=table).count()
    try:
        total = target.count(table.target_count_query.strip())
    except ConnectorError as exc:
        return TargetCount(error=exc.message)
    return TargetCount(total, linked)


def target_system(integration: Integration, table: SyncTable) -> str:
    """The name of the system a table writes to: the CRM for ERP → CRM, else the ERP."""
    return integration.crm_name if table.direction == Direction.ERP_TO_CRM else integration.erp_name


def follow_up(integration: Integration, table: SyncTable, counted: TargetCount, now=None) -> None:
    """Open (or keep) the table's *target count* alert when the figures differ; resolve it when they agree."""
    if counted.target_total is None:
        return  # not counted: nothing is known either way
    system = target_system(integration, table)
    if counted.differs:
        message = stored.ngettext(
            "%(table)s: %(system)s answers %(target)d record and the portal links %(linked)d.",
            "%(table)s: %(system)s answers %(target)d records and the portal links %(linked)d.",
            counted.target_total,
            table=table.name,
            system=system,
            target=counted.target_total,
            linked=counted.linked_total,
        )
        open_alert(integration, AlertKind.TARGET_COUNT, message, table=table, now=now)
        return
    note = stored.ngettext(
        "%(system)s answers %(target)d record, as many as the portal links.",
        "%(system)s answers %(target)d records, as many as the portal links.",
        counted.target_total,
        system=system,
        target=counted.target_total,
    )
    resolve_alert(integration, AlertKind.TARGET_COUNT, table=table, now=now, note=note)
