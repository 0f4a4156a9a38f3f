"""A table's records read from the webhook events its run claimed, as a connector's ``read_page`` would.

A page holds the records of consecutive events, in the order they were received (at most
:data:`EVENTS_PER_PAGE` events and the connection's page size in records, so that a burst of events is
written with the connection's writes in flight and one flush, not one event at a time). Each event of a
page keeps the keys of its records (:class:`PageEvent`), so that what each record became is counted on the
event that brought it (:meth:`WebhookReader.attribute`). An event either carries its records (at the
table's records path in the event, blank: the event is the record) or names them (``webhook_key_path``),
and each is then read from the source by its key (``webhook_fetch_object``, ``{key}`` in the path), as
:class:`sync.per_link.PerLinkReader` reads one record per link; a delete event names the records gone. An
event whose records are not where the table says is noted as unreadable on the intake, and brings none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core import stored_messages as stored
from monitoring.models import WebhookEvent

from ..connectors.base import Connector, Page, ReadRequest
from ..models import SyncTable
from ..paths import get_path
from ..per_link import read_each
from ..steps.keys import KEY_LENGTH, key_text
from .routing import deletes_on, item_type, records_in

Unreadable = Callable[[WebhookEvent, str], None]


EVENTS_PER_PAGE = 50


@dataclass
class PageEvent:
    """One event of a page: the keys of the records it brought (deletes included), and those without one."""

    event: WebhookEvent
    keys: list[str] = field(default_factory=list)
    unkeyed: int = 0  # records without a usable key: logged under a placeholder, in the order read


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
        self.current: WebhookEvent | None = None  # the event being read
        self.page: list[PageEvent] = []  # the events of the last page read
        self.gone: list[str] = []  # the keys of the records its delete events named
        self.missing: dict[int, list[str]] = {}  # by event: keys it named that the source does not have

    def read_page(self, request: ReadRequest) -> Page:
        position = int(request.page_token or 0)
        self.page, self.gone = [], []
        records: list = []
        size = max(1, self.source.config.page_size)
        while position < len(self.events) and len(self.page) < EVENTS_PER_PAGE and len(records) < size:
            self.current, items = self.events[position]
            position += 1
            read, gone = self.read_event(items)
            self.page.append(self.page_event(self.current, read, gone))
            records += read
            self.gone += gone
        self.current = None
        return Page(records=records, next_token=str(position) if position < len(self.events) else None)

    def read_event(self, items: list) -> tuple[list, list[str]]:
        """The records the current event's items bring, and the keys its delete items name."""
        records, gone = [], []
        for item in items:
            if deletes_on(self.table, item_type(self.current.receiver, item)):
                gone += self.named_keys([item], self.table.webhook_key_path or None)
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
        return records, gone

    def page_event(self, event: WebhookEvent, records: list, gone: list[str]) -> PageEvent:
        page_event = PageEvent(event, keys=list(gone))
        for record in records:
            key = key_text(get_path(record, self.table.record_key)) if isinstance(record, dict) else ""
            if key and len(key) <= KEY_LENGTH:
                page_event.keys.append(key)
            else:
                page_event.unkeyed += 1
        if self.table.webhook_fetch_object:
            page_event.keys += self.missing.pop(event.pk, [])
        return page_event

    def attribute(self, outcomes) -> list[tuple[WebhookEvent, str]]:
        """Which event of the last page each outcome ``(record key, action)`` belongs to, in order.

        By key: a key two events brought counts once on each, in the order they came; an outcome logged
        under a placeholder (a record without a usable key) on the events that brought such records, in
        order; an outcome no event of the page brought (a record retried from the review queue) on none.
        """
        by_key: dict[str, list[WebhookEvent]] = {}
        unkeyed: list[WebhookEvent] = []
        for page_event in self.page:
            for key in page_event.keys:
                by_key.setdefault(key, []).append(page_event.event)
            unkeyed += [page_event.event] * page_event.unkeyed
        attributed = []
        for key, action in outcomes:
            claimants = by_key.get(key)
            if claimants:
                attributed.append((claimants.pop(0) if len(claimants) > 1 else claimants[0], action))
            elif key not in by_key and unkeyed:
                attributed.append((unkeyed.pop(0), action))
        return attributed

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
        found = read_each(
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
        read = {key_text(get_path(record, self.table.record_key)) for record in found if isinstance(record, dict)}
        self.missing.setdefault(self.current.pk, []).extend(key for key in keys if key not in read)
        return found
