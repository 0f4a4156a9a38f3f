"""What a file reader gives back: rows, each with its line number, and the failure of a whole file.

A reader yields one :class:`Row` per record: its values, or the problem that kept them from
being read (wrong number of fields, a line shorter than the layout, a value that is not a
number), with the raw text of the line so nothing is lost. A failure of the file as a whole
(too large, not decodable, no header, a zip bomb) is a :class:`FileError` raised where it is
found: the rows yielded before it stay with the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.stored_messages import StoredMessage

from ..base import ConnectorError


@dataclass(frozen=True)
class Row:
    """One record of a file: ``values`` by column name, or a ``problem`` and the ``raw`` text.

    ``line`` is where the record starts, counted from 1 as a text editor counts lines (for an
    XLSX sheet: the sheet's row number).
    """

    line: int
    values: dict = field(default_factory=dict)
    problem: StoredMessage | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


class FileError(ConnectorError):
    """A file the portal cannot read or write as a whole; ``message`` says why, in words."""


class InvalidLayout(FileError):
    """A fixed-width layout (or another declared shape) that cannot describe any file."""
