"""A file's header and the values of one row: names checked, numbers read where the layout says so.

Shared by the CSV, XLSX and fixed-width readers. Values are given as the file writes them
(text for CSV and fixed width; the cell's value for XLSX): typing is the mapping's job. A
column the layout declares a number is read here, with the decimal separator it declares
(``1.234,56`` is 1234.56 when the separator is a comma), as a ``Decimal``; a blank value is
None, and text that is no number is a problem of that row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core import stored_messages as stored
from core.stored_messages import StoredMessage
from sync.numbers import parse_number

from .rows import FileError, InvalidLayout, Row


def header_names(cells: Sequence) -> list[str]:
    """The column names of a header row, trimmed; blank names at its end are dropped.

    A blank name before the last named column, or a name given twice, is a :class:`FileError`.
    """
    names = ["" if cell is None else str(cell).strip() for cell in cells]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise FileError(stored.gettext("The header row names no column."))
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise FileError(stored.gettext("Column %(position)d of the header has no name.", position=position))
        if name in seen:
            raise FileError(
                stored.gettext(
                    'The header names the column "%(name)s" twice (columns %(first)d and %(second)d).',
                    name=name,
                    first=seen[name],
                    second=position,
                )
            )
        seen[name] = position
    return names


def check_required(names: Sequence[str], required: Iterable[str]) -> None:
    """A :class:`FileError` naming every column the layout requires that the header lacks."""
    missing = [name for name in dict.fromkeys(required) if name not in names]
    if missing:
        raise FileError(
            stored.ngettext(
                "The header lacks the column %(missing)s, which the layout requires; it has: %(columns)s.",
                "The header lacks the columns %(missing)s, which the layout requires; it has: %(columns)s.",
                len(missing),
                missing=", ".join(f'"{name}"' for name in missing),
                columns=", ".join(f'"{name}"' for name in names),
            )
        )


def fitted(fields: Sequence, names: Sequence[str]) -> list | None:
    """``fields`` cut to the header's width when all it has beyond it is blank; None when it does not fit.

    Trailing separators (``a;b;``) and empty cells after the last column are common; a row with
    fewer fields, or with text beyond the header, does not fit.
    """
    if len(fields) < len(names):
        return None
    if any(field not in (None, "") and str(field).strip() for field in fields[len(names) :]):
        return None
    return list(fields[: len(names)])


def wrong_width(line: int, count: int, width: int) -> StoredMessage:
    return stored.ngettext(
        "Line %(line)d has %(count)d field where the header has %(width)d.",
        "Line %(line)d has %(count)d fields where the header has %(width)d.",
        count,
        line=line,
        count=count,
        width=width,
    )


def typed_row(line: int, values: dict, numbers: Iterable[str], decimal_point: str, raw: str) -> Row:
    """The row of ``values`` with each column of ``numbers`` read as a number (blank: None)."""
    for column in numbers:
        text = values.get(column)
        if not isinstance(text, str):
            continue
        if not text.strip():
            values[column] = None
            continue
        number = parse_number(text, decimal_point)
        if number is None:
            return Row(
                line,
                problem=stored.gettext(
                    'Line %(line)d: the column "%(column)s" holds "%(value)s", which is not a number.',
                    line=line,
                    column=column,
                    value=text,
                ),
                raw=raw,
            )
        values[column] = number
    return Row(line, values=values, raw=raw)


def check_decimal_point(point: str) -> str:
    if point not in (".", ","):
        raise InvalidLayout(stored.gettext('The decimal separator must be "." or ",", not "%(point)s".', point=point))
    return point
