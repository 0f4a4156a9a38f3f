"""Filter and map: one source record is staged, judged by the table's rules, mapped, and handed to the writer.

A record the rules skip is logged as skipped, never as a failure; one that cannot be mapped goes to the
review queue with its payload; one that refers to a record not synced yet waits for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

from django.utils import timezone

from core import stored_messages as stored
from core.storable import storable
from monitoring.choices import RecordAction
from monitoring.recorder import PageLog

from ..connectors.base import Connector, ConnectorError
from ..mapping import MappingResult, first_rejecting_rule, map_record, values_hash
from .batch_write import BatchWriter
from .in_flight import InlineWrites, WritePool
from .keys import KEY_LENGTH, bad_record_key, no_key, placeholder_key
from .plan import TablePlan
from .write import TargetWriter


class RecordLoader:
    """Carries one table's source records to its target, noting what happened to each on the page log."""

    def __init__(
        self,
        plan: TablePlan,
        page_log: PageLog,
        target: Connector,
        still_alive: Callable[[], None],
        *,
        one_at_a_time: bool = False,
    ):
        self.plan = plan
        self.one_at_a_time = one_at_a_time  # never in flight nor in batches (a dry run's writer sends nothing)
        self.table = plan.table
        self.log = page_log
        self.still_alive = still_alive
        self.writer = TargetWriter(plan, page_log, target, still_alive)
        self.writes: InlineWrites | WritePool = InlineWrites(page_log)
        self.batch: BatchWriter | None = None  # inside in_flight(), for a table that writes in batches

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Writes of the records loaded inside run up to the target's ``max_in_flight`` at once; all over on exit.

        A table with a batch kind gathers them into batches here (sent when full and at the end).
        """
        size = self.writer.target.max_in_flight
        if self.one_at_a_time:
            yield
            return
        with WritePool(size, self.log) if size > 1 else nullcontext(InlineWrites(self.log)) as writes:
            self.writes = writes
            if self.table.batch_kind:
                self.batch = BatchWriter(self.plan, self.log, self.writer.target, self.still_alive, writes)
            try:
                yield
                if self.batch is not None:
                    self.batch.send_pending()
            finally:
                self.writes, self.batch = InlineWrites(self.log), None

    def link_of(self, key: str, stored_link):
        """The freshest link of ``key``: once its write in flight is over, this page's, else ``stored_link``."""
        if self.batch is not None:
            self.batch.settle(key)
        self.writes.settle(key)
        return self.log.links.get(key) or stored_link

    def fail_unreadable(self, record, key: str = "") -> None:
        """A record that is not an object goes to the review queue with its payload (under ``key`` when retried)."""
        self.log.fail(
            key or bad_record_key(stored.gettext("(unreadable record)").text, record),
            record,
            stored.gettext("The source sent a record that is not an object."),
        )

    def fail_keyless(self, record: dict, key: str = "") -> None:
        """A record without a value in its key field goes to the review queue (under ``key`` when retried)."""
        self.log.fail(
            key or no_key(self.table.record_key, record),
            record,
            stored.gettext('The record has no value in its key field "%(field)s".', field=self.table.record_key),
        )

    def load(self, key: str, record: dict, link, *, find_first=False, waiting_since=None) -> None:
        """Carry one source record to the target and note what happened on the page log.

        ``waiting_since`` is when a record retried from the queue started waiting for a referenced one.
        """
        plan, table, log = self.plan, self.table, self.log
        payload = storable(record)
        if key and len(key) <= KEY_LENGTH:
            log.stage(key, payload, len(json.dumps(payload, ensure_ascii=False, default=str).encode()))
        rule = first_rejecting_rule(record, plan.rules)  # rules first: a record they skip is never a failure
        if rule is not None:
            shown_key = key if key and len(key) <= KEY_LENGTH else placeholder_key(table.record_key, key, record)
            log.outcome(RecordAction.SKIPPED, shown_key, message=rule.explain(record))
            return
        if not key:
            self.fail_keyless(record)
            return
        if len(key) > KEY_LENGTH:
            log.fail(
                placeholder_key(table.record_key, key, record),
                payload,
                stored.gettext(
                    'The value of the key field "%(field)s" is longer than %(limit)d characters: it cannot be a key.',
                    field=table.record_key,
                    limit=KEY_LENGTH,
                ),
            )
            return
        mapped = map_record(record, plan.specs, plan.lookups)
        if mapped.errors:
            log.fail(key, payload, mapped.message, field_errors=mapped.errors_for_json())
            return
        if mapped.waiting:
            self._wait(key, payload, mapped, waiting_since)
            return
        update_view = plan.update_view(mapped)
        digest = values_hash(update_view)
        if link is not None and link.mapped_hash == digest:
            log.outcome(RecordAction.UNCHANGED, key, target_key=link.target_key)
            return
        if self.batch is not None:
            try:
                self.batch.write_record(key, payload, mapped, update_view, digest, link, find_first)
            except ConnectorError as exc:  # a lookup before the batch
                if not exc.record_level:
                    raise
                log.fail(key, payload, exc.message, http_status=exc.status_code)
            return

        def write(noting) -> None:
            try:
                self.writer.noting_on(noting).write(key, mapped, update_view, digest, link, find_first)
            except ConnectorError as exc:
                if not exc.record_level:
                    raise
                noting.fail(key, payload, exc.message, http_status=exc.status_code)

        self.writes.submit((key,), write)

    def _wait(self, key: str, payload, mapped: MappingResult, waiting_since) -> None:
        """A record whose referenced record is not synced yet waits; past the table's limit it fails."""
        waited = timezone.now() - waiting_since if waiting_since is not None else None
        if waited is not None and waited > self.table.max_wait_for_parent:
            self.log.fail(
                key,
                payload,
                stored.gettext(
                    "Still %(waiting)s after %(waited)s: sync that record first, then retry this one.",
                    waiting=mapped.waiting_message,
                    waited=waited,
                ),
            )
            return
        waiting_for = "; ".join(f"{waiting.table} {waiting.key}" for waiting in mapped.waiting)
        self.log.wait(key, payload, mapped.waiting_message, waiting_for)
