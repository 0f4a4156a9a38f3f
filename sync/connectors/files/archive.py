"""An XLSX file is a zip archive: its members' sizes checked before any of them is inflated.

A zip bomb (a member of gigabytes of zeros compressed to kilobytes) would make openpyxl
inflate it while parsing. The central directory declares each member's compressed and
uncompressed size, and :mod:`zipfile` never inflates a member beyond its declared size, so
the declared sizes are checked here against :class:`.Limits`: the sum of uncompressed sizes,
each large member's compression ratio, and how many members there are.
"""

from __future__ import annotations

import zipfile
from typing import BinaryIO

from core import stored_messages as stored

from .limits import MB, Limits, size_in_words
from .rows import FileError

# A member smaller than this is never a bomb, whatever its ratio (a few repeated XML tags compress a lot).
RATIO_CHECKED_FROM = 1 * MB


def check_archive(stream: BinaryIO, limits: Limits) -> None:
    """A :class:`.FileError` when ``stream`` is no zip archive or would inflate past ``limits``.

    Reads only the central directory; leaves the stream at its start.
    """
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise FileError(stored.gettext("The file is not an XLSX workbook: it is not a zip archive.")) from None
    with archive:
        members = archive.infolist()
    stream.seek(0)
    if len(members) > limits.max_members:
        raise FileError(
            stored.gettext(
                "The workbook holds %(count)d parts, more than the %(limit)d a workbook may have: it was not read.",
                count=len(members),
                limit=limits.max_members,
            )
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= RATIO_CHECKED_FROM and ratio > limits.max_compression_ratio:
            raise FileError(
                stored.gettext(
                    'The workbook\'s part "%(part)s" would inflate from %(packed)s to %(size)s (%(ratio)d times, '
                    "more than the %(limit)d times a workbook may): it looks like a zip bomb and was not read.",
                    part=member.filename,
                    packed=size_in_words(member.compress_size),
                    size=size_in_words(member.file_size),
                    ratio=int(ratio),
                    limit=limits.max_compression_ratio,
                )
            )
    total = sum(member.file_size for member in members)
    if total > limits.max_unpacked_bytes:
        raise FileError(
            stored.gettext(
                "The workbook would inflate to %(size)s, more than the %(limit)s a workbook may: it was not read.",
                size=size_in_words(total),
                limit=size_in_words(limits.max_unpacked_bytes),
            )
        )
