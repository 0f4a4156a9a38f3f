"""Writes through the target's batch operation: a table's creates and updates sent ``batch_size`` at a time.

The decisions are the one-at-a-time writer's (:class:`.write.TargetWriter`): a linked record is
updated (read first when the conflict journal needs it), an unlinked one is looked up when the
table matches existing records or a run resumes, then created. Only the sending differs: creates
and updates wait in the batch, which goes as one call (:meth:`Connector.write_batch`) when full,
when a record of the same key comes, and at the end of the page. A batch call is one write in
flight like any other (several batches may be in flight at once).

Each record's outcome comes back on its own: written ones are linked and noted as created or
updated; one the target refused goes to the review queue with the target's own reason. A whole
batch refused as bad input (a 4xx the API gives for the batch, e.g. two records with one key) is
split in halves and sent again, down to the record it is about. HubSpot's ``batch/upsert`` needs no
lookup: it creates or updates by the match field; mappings name HubSpot's properties (``email``),
which the call wraps in ``properties`` and HubSpot answers in ``properties``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import stored_messages as stored
from monitoring.choices import RecordAction

from ..choices import BatchKind
from ..connectors.base import BatchOutcome, BatchWrite, ConnectorError
from .write import Create, TargetWriter, Update


@dataclass
class Pending:
    """A record waiting in the batch: its write, and what its link and outcome will be."""

    key: str
    payload: object
    write: BatchWrite
    change: Create | Update


class BatchWriter(TargetWriter):
    """A table's writes gathered into batches of ``batch_size`` and handed to ``writes`` as one job each."""

    def __init__(self, plan, page_log, target, still_alive, writes):
        super().__init__(plan, page_log, target, still_alive)
        self.kind = self.table.batch_kind
        self.size = self.table.batch_size
        self.writes = writes
        self.pending: list[Pending] = []
        self.payload = None

    def write_record(self, key, payload, mapped, update_view, digest, link, find_first) -> None:
        """Decide what ``key`` needs; a create or an update waits in the batch, sent once full."""
        self.payload = payload
        if self.kind == BatchKind.HUBSPOT_UPSERT and link is None:
            self._create(key, mapped, digest)  # an upsert by the match field finds the record itself
        else:
            self.write(key, mapped, update_view, digest, link, find_first)
        if len(self.pending) >= self.size:
            self.send_pending()

    def current_values(self, record: dict | None) -> dict | None:
        if self.kind == BatchKind.HUBSPOT_UPSERT and isinstance(record, dict):
            properties = record.get("properties")
            return properties if isinstance(properties, dict) else record
        return record

    # --- the batch -----------------------------------------------------------------------------

    def send_create(self, create: Create) -> None:
        operation = "upsert" if self.kind == BatchKind.HUBSPOT_UPSERT else "create"
        write = BatchWrite(operation, create.body, key_field=self.plan.key_target_field, key_value=create.key_value)
        self.pending.append(Pending(create.key, self.payload, write, create))

    def send_update(self, update: Update) -> None:
        if self.kind == BatchKind.JSON_ARRAY:
            super().send_update(update)  # a JSON array creates: an update goes on its own
            return
        if self.kind == BatchKind.HUBSPOT_UPSERT:
            write = BatchWrite("upsert", update.body, key_field=self.plan.key_target_field, key_value=update.key_value)
            if update.key_value is None:  # no match value: HubSpot's own id then
                write = BatchWrite("upsert", update.body, target_key=update.target_key)
        else:
            write = BatchWrite("update", update.body, target_key=update.target_key)
        self.pending.append(Pending(update.key, self.payload, write, update))

    def settle(self, key: str) -> None:
        """A record of ``key`` waits in the batch: send it now, so that the next one of that key sees its link."""
        if any(pending.key == key for pending in self.pending):
            self.send_pending()

    def send_pending(self) -> None:
        """The batch as it is, handed to the writes (in flight, or at once)."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        self.writes.submit(tuple(pending.key for pending in batch), lambda noting: self._send(batch, noting))

    def _send(self, batch: list[Pending], noting) -> None:
        """One batch call; each record's outcome noted on ``noting``; a batch refused as a whole split in two."""
        self.still_alive()
        table = self.table
        try:
            outcomes = self.target.write_batch(
                self.kind, table.batch_path, table.target_object, [pending.write for pending in batch]
            )
        except ConnectorError as error:
            if not error.record_level:
                raise
            if len(batch) == 1:
                noting.fail(batch[0].key, batch[0].payload, error.message, http_status=error.status_code)
                return
            half = len(batch) // 2
            self._send(batch[:half], noting)
            self._send(batch[half:], noting)
            return
        writer = self.noting_on(noting)
        for pending, outcome in zip(batch, outcomes, strict=True):
            writer.note_outcome(pending, outcome)

    def note_outcome(self, pending: Pending, outcome: BatchOutcome) -> None:
        if outcome.error is not None or outcome.record is None:
            error = outcome.error or ConnectorError(stored.gettext("The target answered nothing for this record."))
            self.log.fail(pending.key, pending.payload, error.message, http_status=error.status_code)
            return
        if isinstance(pending.change, Update):
            self.note_updated(pending.change)
        elif outcome.record.get("new") is False:  # HubSpot upserted a record that was there already
            matched = stored.gettext("Matched an existing record by its key.")
            self.note_created(pending.change, outcome.record, RecordAction.UPDATED, matched)
        else:
            self.note_created(pending.change, outcome.record)
