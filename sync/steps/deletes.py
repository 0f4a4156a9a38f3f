"""Deletes: records gone from the source are deleted in the target, or held for approval past the threshold."""

from __future__ import annotations

from core import stored_messages as stored
from monitoring.alerts import open_alert
from monitoring.choices import AlertKind, HeldDeleteStatus, RecordAction
from monitoring.models import HeldDelete
from monitoring.recorder import PageLog

from ..choices import DeletePolicy
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
    delete_links(table, list(gone_links(table, seen_keys)), target, log)


def apply_named_deletes(table: SyncTable, keys: list[str], target: Connector, log: PageLog) -> None:
    """Records a webhook said were deleted in the source (``keys``): the table's delete policy applies.

    Deleted in the target (held past the threshold) when the table deletes; otherwise, or when the record
    never reached the target, or IT rejected deleting it before, it stays, and says why.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    if table.delete_policy != DeletePolicy.DELETE:
        for key in keys:
            log.outcome(
                RecordAction.UNCHANGED,
                key,
                message=stored.gettext("Deleted in the source; this table leaves deletes alone (its delete policy)."),
            )
        return
    links = {link.source_key: link for link in RecordLink.objects.filter(table=table, source_key__in=keys)}
    rejected = set(
        HeldDelete.objects.filter(table=table, status=HeldDeleteStatus.REJECTED, source_key__in=keys).values_list(
            "source_key", flat=True
        )
    )
    for key in keys:
        if key not in links:
            message = stored.gettext("Deleted in the source before it reached the target: nothing to delete.")
        elif key in rejected:
            message = stored.gettext("Deleted in the source; deleting it in the target was rejected before.")
        else:
            continue
        log.outcome(RecordAction.UNCHANGED, key, message=message)
    delete_links(table, [links[key] for key in keys if key in links and key not in rejected], target, log)


def delete_links(table: SyncTable, gone: list[RecordLink], target: Connector, log: PageLog) -> None:
    """Delete the target's records of the links ``gone``; more than the table's threshold are held, with an alert."""
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
