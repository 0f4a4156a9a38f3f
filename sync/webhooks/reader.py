"""A table's records read from the webhook events its run claimed, as a connector's ``read_page`` would.

One page per event, in the order the events were received, so that what each event made is counted on
it. An event either carries its records (at the table's records path in the event, blank: the event is
the record) or names them (``webhook_key_path``), and each is then read from the source by its key
(``webhook_fetch_object``, ``{key}`` in the path), as :class:`sync.per_link.PerLinkReader` reads one
record per link. An event whose records are not where the table says is noted as unreadable on the
intake, and brings no records.
"""

from __future__ import annotations

from collections.abc import Callable

from core import stored_messages as stored
from monitoring.models import WebhookEvent

from ..connectors.base import Connector, Page, ReadRequest
from ..models import SyncTable
from ..paths import get_path
from ..per_link import read_each
from ..steps.keys import key_text
from .routing import deletes_on, item_type, records_in

Unreadable = Callable[[WebhookEvent, str], None]


class WebhookReader:
    """Reads ``table``'s records from ``events``: pairs of an inbox event and the events of its body it takes."""

    def __init__(
        self,
        table: SyncTable,
        events: list[tuple[WebhookEvent, list]],
        source: Connector,
        page_log,
        unreadable: Unreadable,
    ):
        self.table = table
        self.events = events
        self.source = source
        self.page_log = page_log
        self.unreadable = unreadable
        self.current: WebhookEvent | None = None  # the event of the last page read
        self.gone: list[str] = []  # the keys of the records its delete events named

    def read_page(self, request: ReadRequest) -> Page:
        position = int(request.page_token or 0)
        if position >= len(self.events):
            self.current, self.gone = None, []
            return Page(records=[])
        self.current, items = self.events[position]
        self.gone = []
        records = []
        for item in items:
            if deletes_on(self.table, item_type(self.current.receiver, item)):
                self.gone += self.named_keys([item], self.table.webhook_key_path or None)
                continue
            found = records_in(self.table, item)
            if found is None:
                self.unreadable(
                    self.current,
                    stored.gettext(
                        '%(table)s: the event has no record at "%(path)s".',
                        table=self.table.name,
                        path=self.table.webhook_records_path,
                    ),
                )
                continue
            records += self.fetched(found) if self.table.webhook_fetch_object else found
        following = position + 1
        return Page(records=records, next_token=str(following) if following < len(self.events) else None)

    def named_keys(self, named: list, path: str | None) -> list[str]:
        """The keys ``named`` (events, or the records an event holds) give at ``path``; a missing one is noted.

        ``path`` None: a delete event without a key path names its record(s) at the table's records path.
        """
        if path is None:
            found = records_in(self.table, named[0])
            named, path = (found or [{}]), self.table.record_key
        keys = []
        for reference in named:
            key = key_text(get_path(reference, path))
            if key:
                keys.append(key)
            else:
                self.unreadable(
                    self.current,
                    stored.gettext(
                        '%(table)s: the event names no record at "%(path)s".', table=self.table.name, path=path
                    ),
                )
        return keys

    def fetched(self, named: list) -> list:
        """The records the event names, read from the source one by one; one the source does not have is skipped."""
        keys = self.named_keys(named, self.table.webhook_key_path or self.table.record_key)
        request = ReadRequest(source_object=self.table.webhook_fetch_object, records_path=self.table.records_path)
        return read_each(
            self.source,
            request,
            keys,
            self.page_log,
            lambda key: stored.gettext(
                "The webhook named %(table)s %(key)s, but the source has no such record.",
                table=self.table.name,
                key=key,
            ),
        )
