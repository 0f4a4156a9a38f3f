"""Batch writes of the REST connector: several records in one HTTP call, one outcome per record.

Every call goes through the connector's transport like any other: a rate-budget slot, the retry
policy, one call record per attempt, secrets scrubbed, the outbound policy. The shapes of the calls
(HubSpot ``batch/upsert``, OData ``$batch``, a JSON array) are in :mod:`.batch_shapes`; a batch
larger than its shape allows (100 inputs for HubSpot and Business Central) goes in several calls.

Creates are never sent twice blindly (the rule of :meth:`.transport.Transport.create`): before a
failed call goes again, unless it was refused with 429 (nothing was processed), each create is
looked up by its key (the connector's ``find``); one found is done, its outcome the record found,
and is not sent again; one without a key fails there, with the call's error. Updates and upserts
are sent again. When the attempts run out, the call's error is raised.
"""

from __future__ import annotations

import itertools
import logging

from core import stored_messages as stored
from sync.choices import BatchKind

from ..base import BatchOutcome, BatchWrite, ConnectorError
from .batch_shapes import CREATE, HUBSPOT_LIMIT, ODATA_LIMIT, HubSpotUpsert, JsonArray, ODataBatch, Outcomes
from .batch_words import no_answer

logger = logging.getLogger(__name__)


def write_batch(connector, kind: str, path: str, target_object: str, writes: list[BatchWrite]) -> list[BatchOutcome]:
    """``writes`` through ``connector`` (a :class:`.connector.RestConnector`) in calls of the shape ``kind``."""
    if kind == BatchKind.HUBSPOT_UPSERT:
        shape, limit = HubSpotUpsert(connector, path, target_object), HUBSPOT_LIMIT
    elif kind == BatchKind.ODATA_BATCH:
        shape, limit = ODataBatch(connector, path, target_object), ODATA_LIMIT
    elif kind == BatchKind.JSON_ARRAY:
        shape, limit = JsonArray(connector, path, target_object), len(writes) or 1
    else:
        raise connector.transport.error(stored.gettext("This connection cannot write in batches."))
    outcomes: list[BatchOutcome] = []
    for start in range(0, len(writes), limit):
        chunk = writes[start : start + limit]
        outcomes += Batch(connector, target_object, chunk, shape).send()
    return outcomes


class Batch:
    """One call's writes under the retry policy; creates are looked up before a failed call is resent."""

    def __init__(self, connector, target_object: str, writes: list[BatchWrite], shape):
        self.connector = connector
        self.target_object = target_object
        self.writes = writes
        self.shape = shape
        self.outcomes: Outcomes = {}
        self.pending: list[int] = []
        for index, write in enumerate(writes):
            refusal = shape.refuse(write)
            if refusal is None:
                self.pending.append(index)
            else:
                self.outcomes[index] = BatchOutcome(error=refusal)

    def send(self) -> list[BatchOutcome]:
        exchanges = itertools.count(1)

        def attempt(_number: int) -> Outcomes:
            if not self.pending:
                return {}  # every write was settled by the lookups
            return self.shape.send({index: self.writes[index] for index in self.pending}, exchanges)

        before_retry = None if self.shape.idempotent else self._settle_creates
        if self.pending:
            self.outcomes.update(self.connector.transport.run(attempt, before_retry=before_retry))
        missing = [index for index in range(len(self.writes)) if index not in self.outcomes]
        for index in missing:
            self.outcomes[index] = BatchOutcome(error=no_answer(self.connector))
        return [self.outcomes[index] for index in range(len(self.writes))]

    def _settle_creates(self, error: ConnectorError) -> None:
        """Between two attempts: the creates the failed call may have made are looked up, and not resent."""
        if error.status_code == 429:
            return  # refused before processing: nothing was created
        for index in list(self.pending):
            write = self.writes[index]
            if write.operation != CREATE:
                continue
            outcome = self._look_up(write, error)
            if outcome is not None:
                self.outcomes[index] = outcome
                self.pending.remove(index)

    def _look_up(self, write: BatchWrite, error: ConnectorError) -> BatchOutcome | None:
        """The outcome of a create the failed call may have made; None when it was not made (resend it)."""
        transport = self.connector.transport
        if not write.key_field or write.key_value is None or write.key_value == "":
            message = stored.gettext(
                "%(error)s The create was not retried: without a record key "
                "there is no way to check whether it was created.",
                error=error.message,
            )
            return BatchOutcome(
                error=transport.error(message, retryable=error.retryable, status_code=error.status_code)
            )
        try:
            found = self.connector.find(self.target_object, write.key_field, str(write.key_value))
        except ConnectorError as find_error:
            message = stored.gettext(
                "%(error)s Checking whether the record was created anyway failed too: %(find_error)s",
                error=error.message,
                find_error=find_error.message,
            )
            return BatchOutcome(error=transport.error(message, retryable=True, status_code=error.status_code))
        if found is None:
            return None
        logger.info(
            "%s: the failed batch did create %s=%s", self.connector.config.name, write.key_field, write.key_value
        )
        return BatchOutcome(record=found)
