"""The sweep: the poll of a table that takes webhooks counts the changes it found that no webhook had brought.

A record a webhook delivered was written then; the poll finds it unchanged. What the poll creates, updates
or deletes is a change no webhook delivered (lost by the sender, or not sent at all): the measure of how
reliable the sender is, kept on the table's run (``TableRun.missed_by_webhooks``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from monitoring.choices import RecordAction
from monitoring.models import TableRun

from ..models import SyncTable, WebhookReceiver, table_webhooks

CHANGES = (RecordAction.CREATED, RecordAction.UPDATED, RecordAction.DELETED)


def takes_webhooks(table: SyncTable) -> bool:
    """The table names webhook events, and its source connection has an active receiver to bring them."""
    if not table_webhooks.takes_webhooks(table):
        return False
    return WebhookReceiver.objects.filter(connection=table.reads_from(), active=True).exists()


class SweepCount:
    """The changes a poll of ``table`` wrote, counted page by page on ``page_log`` (records retried from the
    review queue are not the sweep's finds); nothing is counted for a table that takes no webhooks."""

    def __init__(self, table: SyncTable, page_log):
        self.counting = takes_webhooks(table)
        self.page_log = page_log
        self.found = 0

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Count the changes written inside (a page loaded, the deletes judged)."""
        before = Counter(self.page_log.counts)
        yield
        if self.counting:
            self.found += sum(max(0, self.page_log.counts[action] - before[action]) for action in CHANGES)

    def store_on(self, table_run: TableRun) -> list[str]:
        """Set the count on ``table_run``; the fields to save."""
        if not self.counting:
            return []
        table_run.missed_by_webhooks = self.found
        return ["missed_by_webhooks"]
