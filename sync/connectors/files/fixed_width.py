"""Fixed-width text files read through a declared layout, as ERP manuals describe them.

A layout is a list of fields ``{"name", "start", "length"}`` or ``{"name", "start", "end"}``,
columns counted from 1 and ``end`` included, as the manuals write them ("CNPJ: columns 11 to
24"). Columns count characters of the decoded line (in Windows-1252 a character is a byte).
The file's encoding is told as for CSV (:mod:`.encodings`). Spaces around a value are
trimmed; text beyond the layout's last column is ignored; blank lines are skipped. A line
shorter than the layout is a problem of that row, named by its line number.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from core import stored_messages as stored

from .columns import check_decimal_point, typed_row
from .encodings import canonical, decoded_lines, detect_encoding
from .limits import DEFAULT_LIMITS, Limits, opened
from .rows import FileError, InvalidLayout, Row


@dataclass(frozen=True)
class Field:
    """One field of a layout: columns ``start`` to ``end``, counted from 1, both included."""

    name: str
    start: int
    end: int


def parse_layout(spec: Iterable[Mapping]) -> tuple[Field, ...]:
    """The fields a declared layout describes; an :class:`.InvalidLayout` saying what is wrong with it."""
    fields: list[Field] = []
    for position, item in enumerate(spec, start=1):
        fields.append(_field(position, item))
    if not fields:
        raise InvalidLayout(stored.gettext("The layout declares no field."))
    names = [field.name for field in fields]
    for name in names:
        if names.count(name) > 1:
            raise InvalidLayout(stored.gettext('The layout declares the field "%(name)s" twice.', name=name))
    ordered = sorted(fields, key=lambda field: field.start)
    for before, after in itertools.pairwise(ordered):
        if after.start <= before.end:
            raise InvalidLayout(
                stored.gettext(
                    'The fields "%(first)s" (columns %(first_start)d to %(first_end)d) and "%(second)s" (columns '
                    "%(second_start)d to %(second_end)d) of the layout overlap.",
                    first=before.name,
                    first_start=before.start,
                    first_end=before.end,
                    second=after.name,
                    second_start=after.start,
                    second_end=after.end,
                )
            )
    return tuple(fields)


def _field(position: int, item: Mapping) -> Field:
    if not isinstance(item, Mapping):
        raise InvalidLayout(stored.gettext("Field %(position)d of the layout is not a field.", position=position))
    name = str(item.get("name") or "").strip()
    if not name:
        raise InvalidLayout(stored.gettext("Field %(position)d of the layout has no name.", position=position))
    start = _whole(item.get("start"))
    if start is None or start < 1:
        raise InvalidLayout(
            stored.gettext('The field "%(name)s" of the layout needs a start column of 1 or more.', name=name)
        )
    if ("length" in item) == ("end" in item):
        raise InvalidLayout(
            stored.gettext('The field "%(name)s" of the layout needs either a length or an end column.', name=name)
        )
    length = _whole(item["length"]) if "length" in item else None
    end = start + length - 1 if length is not None else _whole(item["end"])
    if end is None or end < start:
        raise InvalidLayout(
            stored.gettext(
                'The field "%(name)s" of the layout must end at or after its start column (%(start)d).',
                name=name,
                start=start,
            )
        )
    return Field(name, start, end)


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def read_fixed_width(
    source,
    layout: Iterable[Mapping] | Iterable[Field],
    *,
    encoding: str | None = None,
    skip_lines: int = 0,
    numbers: Iterable[str] = (),
    decimal_point: str = ",",
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Row]:
    """Each line of the fixed-width file ``source`` (a path or a seekable binary stream) as a row.

    ``skip_lines``: lines at the top that are no records (a heading). ``numbers``: fields read as
    numbers with ``decimal_point``. A failure of the whole file is a :class:`.FileError`.
    """
    layout = tuple(layout)
    fields = layout if all(isinstance(field, Field) for field in layout) else parse_layout(layout)
    numbers = tuple(numbers)
    check_decimal_point(decimal_point)
    unknown = [name for name in numbers if name not in {field.name for field in fields}]
    if unknown:
        raise InvalidLayout(stored.gettext('The layout has no field "%(name)s" to read as a number.', name=unknown[0]))
    width = max(field.end for field in fields)
    with opened(source, limits) as stream:
        detected = encoding is None
        codec = detect_encoding(stream, limits) if detected else canonical(encoding)
        read_any = False
        for number, text in decoded_lines(stream, codec, limits, detected=detected):
            line = text.rstrip("\r\n")
            if number <= skip_lines or not line.strip():
                continue
            read_any = True
            if len(line) < width:
                yield Row(number, problem=_short(number, len(line), width), raw=line)
                continue
            values = {field.name: line[field.start - 1 : field.end].strip() for field in fields}
            yield typed_row(number, values, numbers, decimal_point, line)
        if not read_any:
            raise FileError(stored.gettext("The file is empty: it has no line to read."))


def _short(line: int, length: int, width: int):
    return stored.ngettext(
        "Line %(line)d has %(count)d character, but the layout reads up to column %(width)d.",
        "Line %(line)d has %(count)d characters, but the layout reads up to column %(width)d.",
        length,
        line=line,
        count=length,
        width=width,
    )
