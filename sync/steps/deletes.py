"""Deletes: records gone from the source are deleted in the target, or held for approval past the threshold."""

from __future__ import annotations

from core import stored_messages as stored
from monitoring.alerts import open_alert
from monitoring.choices import AlertKind, HeldDeleteStatus, RecordAction
from monitoring.models import HeldDelete
from monitoring.recorder import PageLog

from ..connectors.base import Connector, ConnectorError
from ..models import RecordLink, SyncTable


def gone_links(table: SyncTable, seen_keys: set[str]):
    """The links of records the source no longer sent (``seen_keys``), but for deletes IT rejected before."""
    rejected = HeldDelete.objects.filter(table=table, status=HeldDeleteStatus.REJECTED).values("source_key")
    return RecordLink.objects.filter(table=table).exclude(source_key__in=seen_keys).exclude(source_key__in=rejected)


def apply_deletes(table: SyncTable, seen_keys: set[str], target: Connector, log: PageLog) -> None:
    """Delete in the target the linked records whose keys the source no longer sent (``seen_keys``).

    More than the table's threshold in one run are held for approval, with an alert; a delete IT
    rejected before is never tried again.
    """
    gone = list(gone_links(table, seen_keys))
    if not gone:
        return
    if len(gone) > table.delete_threshold:
        for link in gone:
            log.hold(link.source_key, link.target_key)
        open_alert(
            table.integration,
            AlertKind.DELETES_HELD,
            stored.ngettext(
                "%(count)d delete in %(table)s exceeds the threshold of %(threshold)d and waits for approval.",
                "%(count)d deletes in %(table)s exceed the threshold of %(threshold)d and wait for approval.",
                len(gone),
                count=len(gone),
                table=table.name,
                threshold=table.delete_threshold,
            ),
            table=table,
        )
        return
    for link in gone:
        try:
            target.delete(table.update_object or table.target_object, link.target_key)
        except ConnectorError as exc:
            if not exc.record_level:
                raise
            log.fail(link.source_key, {"target_key": link.target_key}, exc.message, http_status=exc.status_code)
            continue
        log.unlink(link.source_key)
        log.outcome(RecordAction.DELETED, link.source_key, target_key=link.target_key)
