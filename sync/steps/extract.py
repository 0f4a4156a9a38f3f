"""Extract and stage: a table's source read page by page, and each page's records made ready to load."""

from __future__ import annotations

from collections.abc import Iterator

from core import stored_messages as stored
from core.storable import repaired_text, storable
from monitoring.choices import ErrorStatus, RecordAction
from monitoring.models import RecordError

from ..connectors.base import Page, ReadRequest
from ..mapping import get_path, values_hash
from ..models import RecordLink, SyncTable
from .keys import key_text, later
from .load import RecordLoader

IGNORED_NOTE = stored.gettext_noop("Ignored in the review queue: it comes back when its data changes.")


def read_request(table: SyncTable, page_token: str | None) -> ReadRequest:
    """What the table asks its source for: the page at ``page_token`` of what changed since its cursor."""
    return ReadRequest.for_table(table, cursor=table.cursor_value or None, page_token=page_token)


def pages(table: SyncTable, reader, page_token: str | None) -> Iterator[Page]:
    """The source's pages from ``page_token`` on (None: the first), until a page says no other follows."""
    while True:
        page = reader.read_page(read_request(table, page_token))
        yield page
        page_token = page.next_token
        if page_token is None:
            return


def load_page(
    loader: RecordLoader,
    records: list,
    cursor: str | None,
    *,
    resuming: bool,
    seen_keys: set[str] | None,
    retried: dict[str, str],
) -> str | None:
    """Stage and load the records of one page; returns the cursor they reach.

    Their text is made storable first (keys included). A record the queue retried at the start of this
    table (``retried``: its payload's hash by key), or one IT chose to ignore, is not loaded again as it is.
    ``seen_keys`` collects the keys read (for deletes); ``resuming`` looks records up in the target before
    creating them.
    """
    table, log = loader.table, loader.log
    records = [repaired_text(record) for record in records]
    keys = [key_text(get_path(record, table.record_key)) for record, _ in records if isinstance(record, dict)]
    links = {link.source_key: link for link in RecordLink.objects.filter(table=table, source_key__in=keys)}
    ignored = {
        error.record_key: values_hash(error.payload)
        for error in RecordError.objects.filter(table=table, status=ErrorStatus.IGNORED, record_key__in=keys)
    }
    with loader.in_flight():
        for record, repaired in records:
            if not isinstance(record, dict):
                loader.fail_unreadable(record)
                continue
            key = key_text(get_path(record, table.record_key))
            if repaired:
                log.repaired(key)
            if seen_keys is not None and key:
                seen_keys.add(key)
            if table.cursor_field:
                cursor = later(cursor, get_path(record, table.cursor_field))
            loader.still_alive()
            if key in retried and retried[key] == values_hash(storable(record)):
                continue  # retried from the queue at the start of this table, as it is: not twice in one run
            if key in ignored and ignored[key] == values_hash(storable(record)):
                log.outcome(RecordAction.SKIPPED, key, message=IGNORED_NOTE)
                continue
            loader.load(key, record, loader.link_of(key, links.get(key)), find_first=resuming)
    return cursor
