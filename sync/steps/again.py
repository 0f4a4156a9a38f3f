"""Records sent through again, from their stored payloads: those the review queue holds, those IT re-processes."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from monitoring.choices import ErrorStatus
from monitoring.models import RecordError

from ..choices import Reprocess
from ..mapping import values_hash
from ..models import RecordLink, StagedRecord, SyncTable
from .load import RecordLoader

REPROCESS_BATCH = 200  # staged records gone through again per committed page


def retry_pending(loader: RecordLoader) -> dict[str, str]:
    """The table's records that wait for a referenced one, and its failed ones whose retry is due, go again.

    From their stored payloads, with the table's current configuration: a cursor that moved past a
    failed record (or a mapping fixed since) never leaves it behind. Returns the hash of each retried
    payload by key, so that a page bringing the same record unchanged does not load it twice.
    """
    table = loader.table
    due = Q(status=ErrorStatus.WAITING) | Q(status=ErrorStatus.OPEN, next_retry_at__lte=timezone.now())
    pending = list(RecordError.objects.filter(due, table=table).order_by("first_failed_at", "pk"))
    if not pending:
        return {}
    keys = [error.record_key for error in pending]
    links = {link.source_key: link for link in RecordLink.objects.filter(table=table, source_key__in=keys)}
    retried = {error.record_key: values_hash(error.payload) for error in pending}
    with loader.in_flight():
        for error in pending:
            if isinstance(error.payload, dict):
                key = error.record_key
                waited = error.first_failed_at if error.status == ErrorStatus.WAITING else None
                loader.load(
                    key, error.payload, loader.link_of(key, links.get(key)), find_first=True, waiting_since=waited
                )
    loader.log.flush()
    return retried


def reprocess(loader: RecordLoader) -> None:
    """What IT asked to go through the mapping again: every staged record, or the failed ones (now).

    Nothing is extracted again: the staged payloads are the records as last received.
    """
    table = loader.table
    if table.reprocess == Reprocess.ALL:
        rows = StagedRecord.objects.filter(table=table).order_by("pk")
        fields = ("pk", "source_key", "payload")
    elif table.reprocess == Reprocess.FAILED:
        rows = RecordError.objects.filter(table=table, status=ErrorStatus.OPEN).order_by("pk")
        fields = ("pk", "record_key", "payload")
    else:
        return
    last = 0
    while batch := list(rows.filter(pk__gt=last).values_list(*fields)[:REPROCESS_BATCH]):
        last = batch[-1][0]
        links = RecordLink.objects.filter(table=table, source_key__in=[key for _pk, key, _payload in batch])
        linked = {link.source_key: link for link in links}
        with loader.in_flight():
            for _pk, key, payload in batch:
                if isinstance(payload, dict):
                    loader.still_alive()
                    loader.load(key, payload, loader.link_of(key, linked.get(key)), find_first=True)
        loader.log.flush()
    SyncTable.objects.filter(pk=table.pk).update(reprocess=Reprocess.NOTHING)
    table.reprocess = Reprocess.NOTHING
