"""The files a run writes for an ERP to import: records gathered on local disk, each file written once complete.

Every record a table creates goes to its file's spool (a local temporary file, so that memory stays
bounded); when a page's records are through, before their links are kept, :meth:`Outbox.complete` writes
each file in the connection's format and hands it to the folder, which makes it appear under its name
complete or not at all. A run whose table writes several pages writes one file per page: the name, then
``-2``, ``-3``… before the extension. The file's name comes from the table's target object, where
``{time}`` is the run's time (``20240510-070000``, the portal's time zone) and ``{date}`` its date
(``20240510``).
"""

from __future__ import annotations

import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from core import stored_messages as stored

from ..base import ConnectorError
from .formats import write_rows

_SAFE_NAME = re.compile(r"^[^/\\\x00]+$")


def file_name(pattern: str, moment: datetime) -> str:
    """The name ``pattern`` gives a file written at ``moment`` (local time)."""
    name = pattern.strip().replace("{time}", f"{moment:%Y%m%d-%H%M%S}").replace("{date}", f"{moment:%Y%m%d}")
    if not _SAFE_NAME.match(name) or name.startswith("."):
        raise ConnectorError(
            stored.gettext(
                'The target object "%(pattern)s" must name a file (no folder, not hidden), e.g. pedidos_{time}.csv.',
                pattern=pattern,
            )
        )
    return name


def part_name(name: str, part: int) -> str:
    """The name of a run's ``part``-th file of one target: the name itself, then ``pedidos_…-2.csv`` and on."""
    if part == 1:
        return name
    stem, dot, extension = name.rpartition(".")
    return f"{stem}-{part}.{extension}" if dot and stem else f"{name}-{part}"


@dataclass
class Spool:
    """The records of one file so far: their columns in the order first seen, and where they wait."""

    name: str
    path: str
    columns: dict[str, None] = field(default_factory=dict)
    count: int = 0

    def records(self) -> Iterator[dict]:
        with open(self.path, "rb") as stream:
            for _ in range(self.count):
                yield pickle.load(stream)  # noqa: S301 - written by this process, in this run, just before


class Outbox:
    """The files one run writes, by target object."""

    def __init__(self, config, folder_for_writes: Callable[[], object], scratch: Callable[[], str], moment: datetime):
        self.config = config
        self.folder = folder_for_writes
        self.scratch = scratch
        self.moment = moment
        self.spools: dict[str, Spool] = {}
        self.parts: dict[str, int] = {}  # files written so far, by target object
        self.lock = threading.Lock()

    def add(self, target_object: str, values: dict) -> dict:
        """Gather one record; returns the answer a create gives (``Id``: the file's name and the record's line)."""
        with self.lock:
            spool = self.spools.get(target_object)
            if spool is None:
                name = part_name(file_name(target_object, self.moment), self.parts.get(target_object, 0) + 1)
                spool = Spool(name, os.path.join(self.scratch(), f"spool-{len(self.spools)}.pickle"))
                self.spools[target_object] = spool
            with open(spool.path, "ab") as stream:
                pickle.dump(values, stream)
            spool.columns.update(dict.fromkeys(values))
            spool.count += 1
            line = spool.count + 1  # the header is line 1
            return {"Id": f"{spool.name}:{line}", "file": spool.name, "line": line}

    def complete(self, log_put: Callable[[str, Callable[[], None]], None]) -> None:
        """Write every gathered file and hand it to the folder; the spools are emptied either way."""
        spools, self.spools = dict(self.spools), {}
        for target_object, spool in spools.items():
            self.parts[target_object] = self.parts.get(target_object, 0) + 1
            header = list(spool.columns)
            rows = ([record.get(column) for column in header] for record in spool.records())
            local = os.path.join(self.scratch(), spool.name)
            write_rows(self.config, local, header, rows)
            log_put(spool.name, lambda local=local, name=spool.name: self.folder().put(local, name))
            os.unlink(local)
            os.unlink(spool.path)
