"""CSV files as rows: encoding and separator told apart, a header row, quoted fields across lines.

The separator is ``;``, ``,``, a tab or ``|``: the one the header row uses outside quotes; when
it uses more than one, :class:`csv.Sniffer` picks among them from the first lines (a bounded
sample); when it uses none, the file has one column. A declared separator skips all of this.
Quotes are ``"``, doubled inside a quoted field; a quoted field may hold separators and line
breaks; lines end in ``\\n`` or ``\\r\\n``. Blank lines are skipped.

Values are text as written (a column the layout declares a number is read as one: see
:mod:`.columns`). A record with more or fewer fields than the header is a :class:`.Row`
problem naming its line; the rows around it are read.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator

from core import stored_messages as stored

from .columns import check_decimal_point, check_required, fitted, header_names, typed_row, wrong_width
from .encodings import canonical, decoded_lines, detect_encoding
from .limits import DEFAULT_LIMITS, Limits, opened, size_in_words
from .rows import FileError, InvalidLayout, Row

SEPARATORS = (";", ",", "\t", "|")
SAMPLE_CHARS = 16 * 1024  # the most text csv.Sniffer is given
_QUOTED = re.compile(r'"[^"]*"')


def read_csv(
    source,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    required: Iterable[str] = (),
    numbers: Iterable[str] = (),
    decimal_point: str = ",",
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Row]:
    """Each record of the CSV file ``source`` (a path or a seekable binary stream) after its header.

    ``encoding``/``delimiter``: declared, or None to tell them from the file. ``required``: columns
    the header must have. ``numbers``: columns read as numbers with ``decimal_point``. A failure of
    the whole file is a :class:`.FileError`, raised where it is found.
    """
    numbers = tuple(numbers)
    check_decimal_point(decimal_point)
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise InvalidLayout(
            stored.gettext('"%(separator)s" cannot separate the fields of a CSV file.', separator=delimiter)
        )
    with opened(source, limits) as stream:
        detected = encoding is None
        codec = detect_encoding(stream, limits) if detected else canonical(encoding)
        feed = _Feed(decoded_lines(stream, codec, limits, detected=detected), limits)
        sample = feed.sample(SAMPLE_CHARS)
        if not sample:
            next(feed, None)  # a failure met reading ahead says more than "empty"
            raise FileError(stored.gettext("The file is empty: it has no header row."))
        reader = csv.reader(feed, delimiter=delimiter or detect_delimiter(sample), quotechar='"', strict=False)
        records = _records(reader, feed, limits)
        _line, header, _raw = next(records)
        names = header_names(header)
        check_required(names, (*required, *numbers))
        for line, fields, raw in records:
            values = fitted(fields, names)
            if values is None:
                yield Row(line, problem=wrong_width(line, len(fields), len(names)), raw=raw)
            else:
                yield typed_row(line, dict(zip(names, values, strict=True)), numbers, decimal_point, raw)


def detect_delimiter(lines: list[str]) -> str:
    """The separator of a file whose first non-blank lines are ``lines`` (the first one its header)."""
    header = _QUOTED.sub("", lines[0])
    present = [separator for separator in SEPARATORS if separator in header]
    if not present:
        return SEPARATORS[0]  # one column: no separator to find
    if len(present) > 1:
        try:
            sniffed = csv.Sniffer().sniff("".join(lines)[:SAMPLE_CHARS], delimiters="".join(present)).delimiter
        except csv.Error:
            sniffed = ""
        if sniffed in present:
            return sniffed
    return max(present, key=header.count)


def _records(reader, feed: _Feed, limits: Limits) -> Iterator[tuple[int, list[str], str]]:
    """``(first line, fields, raw text)`` of each non-blank record; CSV errors in words."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _unreadable(feed.start, str(error), limits) from None
        line, raw = feed.take()
        if len(fields) > 1 or (fields and fields[0].strip()):
            yield line, fields, raw


def _unreadable(line: int, reason: str, limits: Limits) -> FileError:
    if "field larger than field limit" in reason:
        return FileError(
            stored.gettext(
                "A field starting at line %(line)d is longer than %(limit)d characters: is a quote left open? "
                "Nothing after it was read.",
                line=line,
                limit=csv.field_size_limit(),
            )
        )
    if "new-line character seen in unquoted field" in reason:
        return FileError(
            stored.gettext(
                "Line %(line)d ends with a carriage return alone; lines must end with a line feed (\\n or "
                "\\r\\n). Nothing after it was read.",
                line=line,
            )
        )
    return FileError(
        stored.gettext(
            "Line %(line)d cannot be read as CSV (%(reason)s). Nothing after it was read.", line=line, reason=reason
        )
    )


class _Feed:
    """The decoded lines handed to :func:`csv.reader`, remembering where each record starts and its text.

    A record (its lines put together) longer than ``limits.max_line_bytes`` characters is refused:
    a quote left open would otherwise make the rest of the file one field.
    """

    def __init__(self, lines: Iterator[tuple[int, str]], limits: Limits):
        self._lines = lines
        self._limit = limits.max_line_bytes
        self._ahead: deque[tuple[int, str]] = deque()
        self._taken: list[str] = []
        self._size = 0
        self._failure: FileError | None = None
        self.start = 1

    def sample(self, chars: int) -> list[str]:
        """The first non-blank lines, about ``chars`` characters (at least one line), read ahead.

        A failure met while reading ahead is kept and raised when the reader gets there, so the
        records before it are read first.
        """
        size = 0
        try:
            for number, text in self._lines:
                self._ahead.append((number, text))
                if text.strip():
                    size += len(text)
                    if size >= chars:
                        break
        except FileError as error:
            self._failure = error
        return [text for _number, text in self._ahead if text.strip()]

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._ahead:
            number, text = self._ahead.popleft()
        elif self._failure is not None:
            raise self._failure
        else:
            number, text = next(self._lines)
        if not self._taken:
            self.start = number
        self._taken.append(text)
        self._size += len(text)
        if self._size > self._limit:
            raise FileError(
                stored.gettext(
                    "The record starting at line %(line)d is longer than %(limit)s: is a quote left open? "
                    "Nothing after it was read.",
                    line=self.start,
                    limit=size_in_words(self._limit),
                )
            )
        return text

    def take(self) -> tuple[int, str]:
        """Where the record just read started, and its text as written; the next record starts afresh."""
        raw = "".join(self._taken)
        self._taken.clear()
        self._size = 0
        return self.start, raw
