"""Reading a table from a file connection: each file waiting in the inbox claimed once, read page by page.

:class:`FileDropReader` gives the engine pages as a connector's ``read_page`` would. It takes the files
matching the table's source object (a glob, e.g. ``NF_*.csv``), oldest first; each one's SHA-256 is
claimed in the ledger (:class:`monitoring.models.ProcessedFile`): a file another run is reading, or whose
bytes were processed before under any name, is not read again (a copy already processed is moved to the
processed folder). A claimed file's rows are records — the file's name and the row's line in ``_file``
and ``_line``, and in the words of each record's event — read ``page_size`` at a time, so a large file
never sits in memory. A row that cannot be read (too few fields, a bad number) goes to the review queue
with its line and the reader's reason, the others go through.

When a file's rows went through (its last page loaded: the read after it settles the file) it goes to the
processed folder; a file that fails as a whole (a missing column, an encoding error, too large, a zip
bomb) goes to the failed folder, its reason on the ledger row and among the run's problems, the rows read
before the failure having gone through. The page token is the
file's checksum and the last line read: a run that resumes a file left by a dead run skips those lines.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field

from core import stored_messages as stored
from monitoring.choices import FileStatus
from monitoring.models import ProcessedFile, SyncRun

from .connectors.base import ConnectorError, Page, ReadRequest
from .connectors.files import FileError, Row, sha256_of
from .connectors.files.connector import FileConnector, row_record
from .connectors.files.folders import FAILED, PROCESSED, WaitingFile
from .connectors.files.formats import number_columns
from .mapping import get_path
from .models import SyncTable
from .steps.keys import bad_record_key, key_text

NEXT_FILE = "next"


@dataclass
class OpenFile:
    """The file being read: its ledger row, where it was fetched to, its rows, how far they went."""

    ledger: ProcessedFile
    waiting: WaitingFile
    local: str
    rows: object  # the reader's generator of Row
    skip_through: int = 0  # lines a dead run already read (resuming)
    read: int = 0
    last_line: int = 0
    failure: stored.StoredMessage | None = None
    through: bool = False  # its last page was handed over: it is settled once that page went through


@dataclass
class FileDropReader:
    """Reads ``table``'s records from the files waiting on its file connection, for the run ``run``."""

    table: SyncTable
    source: FileConnector
    page_log: object
    run: SyncRun
    problems: list = field(default_factory=list)  # each file that failed as a whole, in words
    current: OpenFile | None = None
    seen: set = field(default_factory=set)

    @property
    def connection_id(self) -> int:
        return self.table.reads_from().pk

    def read_page(self, request: ReadRequest) -> Page:
        if self.current is not None and self.current.through:
            self._settle()  # its last page went through (the engine asks for the next one only then)
        if self.current is None and not self._open_next(request):
            return Page(records=[])
        records, self.current.through = self._take_page()
        if self.current.through:
            return Page(records=records, next_token=NEXT_FILE)
        return Page(records=records, next_token=f"{self.current.ledger.checksum}:{self.current.last_line}")

    # ------------------------------------------------------------ picking a file

    def _open_next(self, request: ReadRequest) -> bool:
        for waiting in self.source.waiting(request.source_object):
            if waiting.name in self.seen:
                continue
            self.seen.add(waiting.name)
            if self._open(waiting, request.page_token or ""):
                return True
        return False

    def _open(self, waiting: WaitingFile, token: str) -> bool:
        try:
            local = self.source.fetch(waiting)
        except FileNotFoundError:
            return False  # another worker moved it
        except FileError as error:  # too large to fetch: known by its name, size and time
            ledger = self._claim(unread_checksum(waiting), waiting)
            if ledger is not None:
                self._fail_unread(ledger, waiting, error.message)
            return False
        try:
            checksum = sha256_of(local)
        except FileNotFoundError:
            return False
        ledger = self._claim(checksum, waiting)
        if ledger is None:
            self.source.release(local)
            self._set_aside_copy(waiting, checksum)
            return False
        skip = int(token.rsplit(":", 1)[1]) if token.startswith(f"{checksum}:") else 0
        rows = self.source.rows(local, required=self._required())
        self.current = OpenFile(ledger, waiting, local, rows, skip_through=skip)
        return True

    def _claim(self, checksum: str, waiting: WaitingFile) -> ProcessedFile | None:
        return ProcessedFile.claim(self.connection_id, checksum, waiting.name, waiting.size, self.run)

    def _required(self) -> tuple[str, ...]:
        """The columns a file must have: the record key's, and those the connection reads as numbers."""
        key_column = self.table.record_key.split(".", 1)[0].split("[", 1)[0]
        return tuple(dict.fromkeys((key_column, *number_columns(self.source.config))))

    def _set_aside_copy(self, waiting: WaitingFile, checksum: str) -> None:
        """A file whose bytes were processed (or failed) before goes to the processed folder, unread."""
        done = ProcessedFile.objects.filter(connection_id=self.connection_id, checksum=checksum).exclude(
            status=FileStatus.PROCESSING
        )
        if not done.exists():
            return  # another run is reading it: it stays
        with contextlib.suppress(ConnectorError):  # gone already (another worker set it aside): nothing to do
            self.source.move(waiting.name, PROCESSED)

    def _fail_unread(self, ledger: ProcessedFile, waiting: WaitingFile, reason) -> None:
        ledger.finish(FileStatus.FAILED, 0, reason=reason)
        self._note_failure(waiting.name, reason)
        ledger.moved_to = self.source.move(waiting.name, FAILED)
        ledger.save(update_fields=["moved_to"])

    # ------------------------------------------------------------ reading it

    def _take_page(self) -> tuple[list[dict], bool]:
        """The next page of the open file's records; True when the file is through (read or failed)."""
        current, size = self.current, self.source.config.page_size
        records: list[dict] = []
        taken = 0
        try:
            for row in current.rows:
                current.last_line = row.line
                if row.line <= current.skip_through:
                    continue
                current.read += 1
                taken += 1
                if row.ok:
                    records.append(self._record(row))
                else:
                    self._fail_row(row)
                if taken >= size:
                    return records, False
        except FileError as error:
            current.failure = error.message
        return records, True

    def _record(self, row: Row) -> dict:
        name = self.current.waiting.name
        record = row_record(row, name)
        key = key_text(get_path(record, self.table.record_key))
        if key:
            self.page_log.origin(key, from_line(name, row.line))
        return record

    def _fail_row(self, row: Row) -> None:
        name = self.current.waiting.name
        payload = {"_file": name, "_line": row.line, "_raw": row.raw.rstrip("\r\n")}
        key = bad_record_key(stored.gettext("(%(file)s, line %(line)d)", file=name, line=row.line).text, payload)
        self.page_log.origin(key, from_line(name, row.line))
        self.page_log.fail(key, payload, row.problem)

    def _settle(self) -> None:
        """The open file is through: the ledger says what became of it, and it goes to its folder."""
        current, self.current = self.current, None
        current.rows.close()
        self.source.release(current.local)
        name = current.waiting.name
        if current.failure is None:
            current.ledger.finish(FileStatus.PROCESSED, current.read)
            moved = self.source.move(name, PROCESSED)
        else:
            current.ledger.finish(FileStatus.FAILED, current.read, reason=current.failure)
            self._note_failure(name, current.failure)
            moved = self.source.move(name, FAILED)
        current.ledger.moved_to = moved
        current.ledger.save(update_fields=["moved_to"])

    def _note_failure(self, name: str, reason) -> None:
        self.problems.append(stored.gettext("%(file)s went to the failed folder: %(reason)s", file=name, reason=reason))


def from_line(name: str, line: int) -> stored.StoredMessage:
    return stored.gettext("Read from %(file)s, line %(line)d.", file=name, line=line)


def unread_checksum(waiting: WaitingFile) -> str:
    """What identifies a file refused before it was read (too large to fetch): its name, size and time."""
    return hashlib.sha256(f"{waiting.name}\0{waiting.size}\0{waiting.modified}".encode()).hexdigest()
