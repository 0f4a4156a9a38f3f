"""How much a file may hold before it is refused, checked before anything is read.

A reader takes a path or a seekable binary stream (a local file, an SFTP file) and opens it
through :func:`opened`, which refuses a file larger than :attr:`Limits.max_file_bytes`
from its size alone. The other limits bound what one line, one record or an XLSX archive
may make the reader hold in memory.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from core import stored_messages as stored

from .rows import FileError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps a reader keeps; the defaults suit the files ERPs drop (a day or a month of records)."""

    max_file_bytes: int = 500 * MB
    # The longest line (CSV, fixed width) in bytes, and the longest CSV record (a quoted field may span lines).
    max_line_bytes: int = 1 * MB
    # XLSX: the sum of the members' declared uncompressed sizes, the largest compression ratio of one
    # member (sheet XML compresses 10-30 times; a zip bomb of zeros, about 1,000 times), how many members.
    max_unpacked_bytes: int = 1024 * MB
    max_compression_ratio: int = 200
    max_members: int = 10_000


DEFAULT_LIMITS = Limits()


def size_in_words(size: int) -> str:
    """``size`` in bytes as people read it (``1.5 MB``); numbers and units are the same in every language."""
    for unit, scale in (("GB", 1024 * MB), ("MB", MB), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


@contextlib.contextmanager
def opened(source, limits: Limits = DEFAULT_LIMITS) -> Iterator[BinaryIO]:
    """``source`` (a path, or a seekable binary stream left open) as a binary stream at its start.

    Refuses a file larger than ``limits.max_file_bytes`` before reading a byte of it.
    """
    if isinstance(source, str | os.PathLike):
        size = os.stat(source).st_size
        check_size(size, limits)
        with open(source, "rb") as stream:
            yield stream
        return
    if not (hasattr(source, "seekable") and source.seekable()):
        raise TypeError("a file reader needs a path or a seekable binary stream")
    size = source.seek(0, io.SEEK_END)
    check_size(size, limits)
    source.seek(0)
    yield source


def check_size(size: int, limits: Limits = DEFAULT_LIMITS) -> None:
    if size > limits.max_file_bytes:
        raise FileError(
            stored.gettext(
                "The file has %(size)s, more than the %(limit)s a file may have: it was not read.",
                size=size_in_words(size),
                limit=size_in_words(limits.max_file_bytes),
            )
        )
