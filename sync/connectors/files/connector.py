"""The connector of a file connection: a folder here or on an SFTP server, files read and written.

What the :class:`~sync.connectors.base.Connector` interface asks of it:

- ``read_page`` reads the first waiting file matching the read's source object (a glob such as
  ``NF_*.csv``), one page of its rows, and leaves the file where it is: what samples, the doctor and
  a dry run see. A sync does not read through it: it claims each file once
  (:class:`sync.file_drops.FileDropReader`) using :meth:`waiting`, :meth:`fetch`, :meth:`rows` and
  :meth:`move`.
- ``create`` gathers a record into the run's file for the table's target object, written when the
  page is through, before the records' links are kept (:meth:`finish_writes`); a file holds no record to
  find, update or delete.
- ``test_connection`` reaches the folder (an SFTP server's host key checked), counts the files waiting
  and names the first one's columns.

Every folder operation is reported to the call log as a call (``SFTP`` or ``FILE``, the folder, what was
done), so the request log shows them as it shows HTTP calls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from django.utils import timezone

from core import stored_messages as stored
from core.local_time import portal_zone

from ...choices import FileLocation
from ..base import CallRecord, ConnectionConfig, Connector, ConnectorError, Page, ReadRequest, SampleRead, Verdict
from .folders import Folder, LocalFolder, WaitingFile
from .formats import read_rows
from .limits import DEFAULT_LIMITS, check_size
from .outbox import Outbox
from .rows import Row
from .sftp import SftpFolder

FILE_FIELD, LINE_FIELD = "_file", "_line"  # where a record read from a file keeps the file's name and its line


def row_record(row: Row, name: str) -> dict:
    """The record a file's row becomes: its values, the file's name and the row's line."""
    return {**row.values, FILE_FIELD: name, LINE_FIELD: row.line}


def folder_of(config: ConnectionConfig) -> Folder:
    folders = (config.file_folder, config.file_processed_folder, config.file_failed_folder)
    if config.file_location == FileLocation.SFTP:
        return SftpFolder(config, *folders)
    return LocalFolder(*folders)


class FileConnector(Connector):
    def __init__(self, config: ConnectionConfig, call_log=None, now: datetime | None = None):
        super().__init__(config, call_log)
        self.limits = DEFAULT_LIMITS
        self._folder: Folder | None = None
        self._scratch: str | None = None
        moment = (now or timezone.now()).astimezone(portal_zone())
        self.outbox = Outbox(config, self.folder, self.scratch, moment)

    @property
    def method(self) -> str:
        return "SFTP" if self.config.file_location == FileLocation.SFTP else "FILE"

    def folder(self) -> Folder:
        if self._folder is None:
            self._folder = folder_of(self.config)
        return self._folder

    def scratch(self) -> str:
        """A local folder of this connector's own, for downloaded files and the files being written."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="portal-files-")
        return self._scratch

    def _logged(self, operation: str, name: str, action: Callable):
        """Do ``action``, reporting it to the call log as one call (its failure's words in ``error``)."""
        started = timezone.now()
        record = CallRecord(method=self.method, url=_joined(self.folder().where, name), operation=operation)
        try:
            return action()
        except ConnectorError as error:
            record.error = str(error.message)
            raise
        finally:
            record.started_at, record.finished_at = started, timezone.now()
            self.call_log(record)

    # ------------------------------------------------------------ reading, as a sync does

    def waiting(self, pattern: str) -> list[WaitingFile]:
        """The files waiting in the inbox whose names match ``pattern``, oldest first."""
        return self._logged("list", pattern, lambda: self.folder().waiting(pattern))

    def fetch(self, waiting: WaitingFile) -> str:
        """A local path to read ``waiting`` from; a file over the size limit is refused before it is downloaded.

        ``FileNotFoundError`` when the file is gone (another worker moved it).
        """
        check_size(waiting.size, self.limits)
        return self._logged("download", waiting.name, lambda: self.folder().fetch(waiting.name, self.scratch()))

    def release(self, local_path: str) -> None:
        """Forget the local copy of a file fetched (a file of the local inbox itself is left alone)."""
        if self._scratch and os.path.dirname(local_path) == self._scratch:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(local_path)

    def rows(self, local_path: str, required: Iterable[str] = ()) -> Iterator[Row]:
        return read_rows(self.config, local_path, required, self.limits)

    def move(self, name: str, to: str) -> str:
        return self._logged(f"move to {to}", name, lambda: self.folder().move(name, to))

    def read_page(self, request: ReadRequest) -> Page:
        """One page of the first waiting file's rows (those that read), the file left where it is."""
        files = self.waiting(request.source_object)
        if not files:
            return Page(records=[])
        first = files[0]
        local = self.fetch(first)
        records = []
        try:
            with contextlib.closing(self.rows(local)) as rows:
                for row in rows:
                    if row.ok:
                        records.append(row_record(row, first.name))
                    if len(records) >= self.config.page_size:
                        break
        finally:
            self.release(local)
        return Page(records=records)

    # ------------------------------------------------------------ writing

    def find(self, target_object: str, key_field: str, key_value: str) -> dict | None:
        return None

    def can_find(self, target_object: str, key_field: str) -> bool:
        return False

    def create(self, target_object: str, values: dict, *, key_field: str = "", envelope: dict | None = None) -> dict:
        return self.outbox.add(target_object, values)

    def update(self, target_object: str, key: str, values: dict, *, envelope: dict | None = None) -> dict:
        raise ConnectorError(
            stored.gettext("A file cannot be updated: a table writing files creates records only."), record_level=True
        )

    def delete(self, target_object: str, key: str) -> None:
        raise ConnectorError(stored.gettext("A record written to a file cannot be deleted from it."), record_level=True)

    def finish_writes(self) -> None:
        self.outbox.complete(lambda name, put: self._logged("upload", name, put))

    # ------------------------------------------------------------ test connection

    def test_connection(self, sample: SampleRead | None = None) -> Verdict:
        pattern = sample.request.source_object if sample else "*"
        try:
            files = self.waiting(pattern)
        except ConnectorError as error:
            return Verdict(False, error.message)
        where = self.folder().where
        if self.config.file_location == FileLocation.SFTP:
            reached = stored.gettext("Reached %(folder)s; the server's host key is the pinned one.", folder=where)
        else:
            reached = stored.gettext("Reached %(folder)s.", folder=where)
        if not files:
            return Verdict(
                True, stored.join(reached, stored.gettext("No file matching %(pattern)s is waiting.", pattern=pattern))
            )
        count = stored.ngettext(
            "%(count)d file matching %(pattern)s is waiting.",
            "%(count)d files matching %(pattern)s are waiting.",
            len(files),
            count=len(files),
            pattern=pattern,
        )
        try:
            columns = self.columns_of(files[0])
        except ConnectorError as error:
            problem = stored.gettext(
                "The first, %(file)s, cannot be read: %(reason)s", file=files[0].name, reason=error.message
            )
            return Verdict(False, stored.join(reached, count, problem))
        except FileNotFoundError:
            return Verdict(True, stored.join(reached, count))
        first = stored.gettext(
            "The first, %(file)s, has the columns %(columns)s.", file=files[0].name, columns=", ".join(columns)
        )
        return Verdict(True, stored.join(reached, count, first))

    def columns_of(self, waiting: WaitingFile) -> list[str]:
        """The columns of the file's first record that reads."""
        local = self.fetch(waiting)
        try:
            with contextlib.closing(self.rows(local)) as rows:
                for row in rows:
                    if row.ok:
                        return list(row.values)
            return []
        finally:
            self.release(local)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.close()
            self._folder = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _joined(where: str, name: str) -> str:
    return f"{where.rstrip('/')}/{name}"
