"""XLSX workbooks as rows: one sheet (the first, or a named one), a header row, typed cells.

The archive is checked before openpyxl opens it (:mod:`.archive`: a zip bomb is refused
unread); openpyxl then reads it in read-only mode, streaming the sheet's XML, with the values
a formula last computed. Cells keep their types: numbers as ``int``/``float``, dates as
``datetime``, text as ``str``, blanks as None. Rows with no value are skipped; a row with a
value beyond the header's last column is a problem of that row.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Iterator

import openpyxl
from openpyxl.utils.escape import unescape
from openpyxl.utils.exceptions import InvalidFileException

from core import stored_messages as stored

from .archive import check_archive
from .columns import check_required, header_names
from .limits import DEFAULT_LIMITS, Limits, opened
from .rows import FileError, InvalidLayout, Row

# What openpyxl and the layers under it raise on a damaged workbook (XML syntax errors are SyntaxErrors).
_DAMAGED = (zipfile.BadZipFile, zlib.error, InvalidFileException, OSError, EOFError, KeyError, ValueError, SyntaxError)


def read_xlsx(
    source,
    *,
    sheet: str | None = None,
    header_row: int = 1,
    required: Iterable[str] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Row]:
    """Each row below the header of a sheet of the XLSX file ``source`` (a path or a seekable binary stream).

    ``sheet``: its name, or None for the first sheet. ``header_row``: the sheet row holding the
    column names (rows above it are skipped). A failure of the whole file is a :class:`.FileError`.
    """
    if header_row < 1:
        raise InvalidLayout(stored.gettext("The header row of a sheet is counted from 1."))
    with opened(source, limits) as stream:
        check_archive(stream, limits)
        try:
            workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
        except _DAMAGED as error:
            raise _damaged(error) from None
        try:
            yield from _sheet_rows(_worksheet(workbook, sheet), header_row, tuple(required))
        except _DAMAGED as error:
            raise _damaged(error) from None
        finally:
            workbook.close()


def _worksheet(workbook, name: str | None):
    if name is None:
        if not workbook.worksheets:
            raise FileError(stored.gettext("The workbook has no sheet."))
        worksheet = workbook.worksheets[0]
    elif name in workbook.sheetnames:
        worksheet = workbook[name]
    else:
        raise FileError(
            stored.gettext(
                'The workbook has no sheet named "%(name)s"; its sheets are: %(sheets)s.',
                name=name,
                sheets=", ".join(f'"{title}"' for title in workbook.sheetnames),
            )
        )
    worksheet.reset_dimensions()  # the size a sheet declares is often wrong: read the cells it holds
    return worksheet


def _sheet_rows(worksheet, header_row: int, required: tuple[str, ...]) -> Iterator[Row]:
    cells = worksheet.iter_rows(min_row=1, values_only=True)  # every row from the first, missing ones empty
    header = None
    for number, row in enumerate(cells, start=1):
        if number == header_row:
            header = row
            break
    if header is None or not any(_filled(cell) for cell in header):
        raise FileError(stored.gettext("The sheet is empty: row %(row)d holds no column names.", row=header_row))
    names = header_names(header)
    check_required(names, required)
    for number, row in enumerate(cells, start=header_row + 1):
        if not any(_filled(cell) for cell in row):
            continue
        if any(_filled(cell) for cell in row[len(names) :]):
            width = max(position for position, cell in enumerate(row, start=1) if _filled(cell))
            raw = "\t".join("" if cell is None else str(cell) for cell in row[:width])
            problem = stored.gettext(
                "Row %(row)d has a value in column %(column)d, beyond the %(width)d columns of the header.",
                row=number,
                column=width,
                width=len(names),
            )
            yield Row(number, problem=problem, raw=raw)
            continue
        padded = (*row[: len(names)], *(None,) * (len(names) - len(row)))
        yield Row(number, values={name: _value(cell) for name, cell in zip(names, padded, strict=True)})


def _value(cell):
    """A cell's value; text has the characters XLSX escapes (``_x000D_`` for a carriage return) restored."""
    return unescape(cell) if isinstance(cell, str) and "_x" in cell else cell


def _filled(cell) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _damaged(error: Exception) -> FileError:
    return FileError(
        stored.gettext(
            "The file cannot be read as an XLSX workbook (%(reason)s). Nothing after this point was read.",
            reason=str(error) or type(error).__name__,
        )
    )
