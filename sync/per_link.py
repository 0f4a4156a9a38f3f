"""Reading a table one record per link of another table: an order's status by its ERP number.

Some systems answer one record at a time (``GetOrderStatus(number)``); the records to ask
for are the ones another table of the integration has linked. :class:`PerLinkReader` turns
those links into pages, as a connector's ``read_page`` would: each page asks the source for
up to ``PAGE_SIZE`` linked records, and its token is the position reached, so that an
interrupted run resumes where it was.
"""

from __future__ import annotations

from core import stored_messages as stored
from monitoring.choices import RecordAction

from .connectors.base import Connector, Page, ReadRequest
from .lookups import reads_target_keys
from .models import RecordLink, SyncTable

PAGE_SIZE = 50


class PerLinkReader:
    """Reads ``table``'s source once per link of ``table.read_per_link_of``, in the order the links were made."""

    def __init__(self, table: SyncTable, source: Connector, page_log):
        self.table = table
        self.source = source
        self.page_log = page_log
        self.referenced = table.read_per_link_of

    def keys(self, position: int) -> list[str]:
        """The keys to ask the source for, in the source system's terms, from ``position`` on."""
        links = RecordLink.objects.filter(table=self.referenced).order_by("pk")
        field = "target_key" if reads_target_keys(self.table, self.referenced) else "source_key"
        return list(links.values_list(field, flat=True)[position : position + PAGE_SIZE])

    def read_page(self, request: ReadRequest) -> Page:
        position = int(request.page_token or 0)
        keys = self.keys(position)
        records = read_each(
            self.source,
            request,
            keys,
            self.page_log,
            lambda key: stored.gettext(
                "%(table)s %(key)s is linked, but the source has no such record.", table=self.referenced.name, key=key
            ),
        )
        return Page(records=records, next_token=str(position + len(keys)) if len(keys) == PAGE_SIZE else None)


def read_each(source: Connector, request: ReadRequest, keys, page_log, missing) -> list[dict]:
    """The records of ``keys`` read one by one; one the source lacks is noted *skipped*, saying ``missing(key)``."""
    records = []
    for key in keys:
        record = source.read_one(request, key)
        if record is None:
            page_log.outcome(RecordAction.SKIPPED, key, message=missing(key))
        else:
            records.append(record)
    return records
