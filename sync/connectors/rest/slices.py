"""Reading past a result cap: a query an API pages no deeper than ``result_cap`` results, read in slices.

HubSpot's search answers at most 10,000 results of one query (an ``after`` at or past it is refused with
a 400). A connection with a ``result_cap`` reads a table in *slices*: each slice is the table's read with
its incremental filter's ``{cursor}`` set to the slice's start value (the first slice: the table's cursor,
or no filter at all on a first run). The read must sort by the table's cursor field, ascending. After each
page the next slice starts from the cursor value of the last record read (the newest, by the sort), and
leaves out the records of that exact value it already delivered, by their record key: keyset paging, so a
record changed during the read (it moves to the end of the sort) never shifts an unread one past an
offset, and the depth of one query never grows. Only while every record of a slice shares its start value
does the slice page on by the server's own token, each page asking no more than the results left under
the cap. Nothing is lost and nothing is delivered twice.

The page token carries the slice (its start value, the results it returned so far, the server's own token,
and the keys read at the newest value), so an interrupted run resumes inside the slice it was reading.

When more than ``result_cap`` records share one cursor value, a slice starting from that value is filled
by it alone and cannot advance: the read stops with an error naming the value rather than loop.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from core import stored_messages as stored
from sync import paths
from sync.choices import Pagination

from ..base import Page, ReadRequest
from ..transport import Transport

# Paginations whose page size may shrink from one page to the next (the next page starts where this one ended).
SHRINKABLE = (Pagination.OFFSET, Pagination.CURSOR)


@dataclass
class Slice:
    """One query of a read in slices, and where it stands."""

    number: int = 1  # 1 for the first slice
    start: object = None  # the cursor value the slice reads from; None: the table's own filter (its cursor)
    returned: int = 0  # results the slice's query returned so far (the depth reached under the cap)
    token: str | None = None  # the server's token of the slice's next page
    skip: list[str] = field(default_factory=list)  # keys at ``start`` delivered by the slices before
    newest: object = None  # the cursor value of the last record read
    newest_keys: list[str] = field(default_factory=list)  # the keys read at ``newest``

    def encoded(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decoded(cls, token: str) -> Slice | None:
        try:
            values = json.loads(token)
        except ValueError:
            return None
        if not isinstance(values, dict) or set(values) != {f.name for f in dataclasses.fields(cls)}:
            return None
        return cls(**values)

    def follower(self) -> Slice:
        """The next slice: from the newest value read, leaving out the keys read at it."""
        return Slice(
            number=self.number + 1,
            start=self.newest,
            skip=list(self.newest_keys),
            newest=self.newest,
            newest_keys=list(self.newest_keys),
        )

    def note(self, value, key: str) -> None:
        """A record read at ``value`` (ascending): the newest value and the keys read at it."""
        if _same(value, self.newest):
            if key not in self.newest_keys:
                self.newest_keys.append(key)
        else:
            self.newest, self.newest_keys = value, [key]

    def delivered(self, value, key: str) -> bool:
        """Whether a slice before this one delivered the record already (one of the start value's keys)."""
        return self.start is not None and _same(value, self.start) and key in self.skip


class SlicedRead:
    """Reads a table's pages in slices of at most ``result_cap`` results each."""

    def __init__(self, transport: Transport, read: Callable[[ReadRequest, int], Page]):
        self.transport = transport
        self.config = transport.config
        self.read = read  # one page of one query: (request, size) -> Page

    def read_page(self, request: ReadRequest) -> Page:
        self.check(request)
        current = self.slice_of(request)
        cap, size = self.config.result_cap, self.config.page_size
        if self.config.pagination in SHRINKABLE:
            size = min(size, cap - current.returned)
        cursor = request.cursor if current.start is None else str(current.start)
        page = self.read(dataclasses.replace(request, cursor=cursor, page_token=current.token), size)
        records = []
        for record in page.records:
            if not isinstance(record, dict):
                records.append(record)  # the engine queues it with its payload
                continue
            value, key = self.value(record, request.cursor_field), self.value(record, request.record_key)
            key = "" if key is None else str(key)
            if not current.delivered(value, key):
                records.append(record)
            current.note(value, key)
        current.returned += len(page.records)
        total = page.total if current.number == 1 else None  # the first query counts every record read
        if page.next_token is None:
            return Page(records=records, total=total)
        if current.newest is not None and not _same(current.newest, current.start):
            # Keyset paging: the next page is a new query from the newest value read, so a record changed
            # during the read (it moves to the end of the sort) never shifts another past a page boundary.
            return Page(records=records, next_token=current.follower().encoded(), total=total)
        room = cap - current.returned
        if room <= 0 or (self.config.pagination not in SHRINKABLE and room < self.config.page_size):
            return Page(records=records, next_token=self.next_slice(current, request).encoded(), total=total)
        current.token = page.next_token
        return Page(records=records, next_token=current.encoded(), total=total)

    def check(self, request: ReadRequest) -> None:
        """A read in slices needs the fields it slices by and the filter each slice starts from."""
        if not (request.cursor_field and request.record_key and request.incremental_filter.strip()):
            raise self.transport.error(
                stored.gettext(
                    "This connection pages no deeper than %(cap)d results of one query, so a table reads in "
                    "slices: it needs a cursor field, a record key and an incremental filter with {cursor}, "
                    "and its read must sort by the cursor field, ascending.",
                    cap=self.config.result_cap,
                )
            )

    def slice_of(self, request: ReadRequest) -> Slice:
        if request.page_token is None:
            return Slice()
        current = Slice.decoded(request.page_token)
        if current is None:
            raise self.transport.error(
                stored.gettext(
                    "The page to resume from was saved before this connection read in slices: clear the "
                    "table's resume point and run it again."
                )
            )
        return current

    def next_slice(self, current: Slice, request: ReadRequest) -> Slice:
        """The slice after ``current``, refused when it could not advance."""
        if current.newest is None:
            raise self.transport.error(
                stored.gettext(
                    "The read reached %(cap)d results of one query and its last record has no %(field)s: the "
                    "read must sort by %(field)s, ascending, for the next query to start where it stopped.",
                    cap=self.config.result_cap,
                    field=request.cursor_field,
                )
            )
        if current.start is not None and _same(current.newest, current.start):
            raise self.transport.error(
                stored.gettext(
                    "More than %(cap)d records have %(field)s = %(value)s: a query cannot page past them, so "
                    "the read cannot advance. Narrow the read with a filter, or sort by a field that tells "
                    "them apart.",
                    cap=self.config.result_cap,
                    field=request.cursor_field,
                    value=str(current.start),
                )
            )
        return current.follower()

    @staticmethod
    def value(record: dict, path: str):
        value = paths.get_path(record, path)
        return None if value is paths.MISSING or value in ("", None) else value


def _same(left, right) -> bool:
    return left is not None and right is not None and str(left) == str(right)
