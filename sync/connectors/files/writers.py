"""CSV and XLSX files for ERPs that import them, never half-visible (:mod:`.atomic`).

Both writers take a header and rows (sequences in the header's order) and return how many
rows they wrote. Values: None is blank; numbers (``int``, ``Decimal``, ``float``) are written
without thousands separators, with the decimal separator asked for (CSV); dates and datetimes
with the format asked for (an aware datetime is written as its wall-clock time: convert it to
the ERP's time zone first); ``True``/``False`` as ``1``/``0`` (CSV); text as it is. XLSX cells
keep their types, and text is always written as text (never read as a formula or a link).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter

from core import stored_messages as stored

from .atomic import atomic_file
from .columns import check_decimal_point
from .encodings import canonical, name_in_words
from .rows import FileError

XLSX_CELL_CHARS = 32_767


def write_csv(
    path,
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    delimiter: str = ";",
    encoding: str = "utf-8",
    decimal_point: str = ",",
    date_format: str = "%d/%m/%Y",
    datetime_format: str = "%d/%m/%Y %H:%M:%S",
    line_ending: str = "\r\n",
) -> int:
    """Write a CSV file at ``path``; ``encoding`` ``utf-8-sig`` starts it with a byte order mark."""
    codec = canonical(encoding)
    check_decimal_point(decimal_point)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_ending)
    count = 0
    with atomic_file(path) as stream:
        if codec == "utf-8-sig":
            stream.write(codecs.BOM_UTF8)
            codec = "utf-8"
        writer.writerow([str(name) for name in header])
        stream.write(_encoded(buffer, codec, 0))
        for number, row in enumerate(_checked(rows, header), start=1):
            writer.writerow([_text(value, decimal_point, date_format, datetime_format) for value in row])
            stream.write(_encoded(buffer, codec, number))
            count = number
    return count


def _encoded(buffer: io.StringIO, codec: str, row: int) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    try:
        return text.encode(codec)
    except UnicodeEncodeError as error:
        character, encoding = error.object[error.start : error.end], name_in_words(codec)
        if not row:
            message = stored.gettext(
                'The header holds "%(character)s", which %(encoding)s cannot write: the file was not written.',
                character=character,
                encoding=encoding,
            )
        else:
            message = stored.gettext(
                'Row %(row)d holds "%(character)s", which %(encoding)s cannot write: the file was not written.',
                row=row,
                character=character,
                encoding=encoding,
            )
        raise FileError(message) from None


def _text(value, point: str, date_format: str, datetime_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise FileError(stored.gettext('"%(value)s" is not a number a file can hold.', value=str(value)))
        return format(number, "f").replace(".", point)
    if isinstance(value, datetime):
        return value.strftime(datetime_format)
    if isinstance(value, date):
        return value.strftime(date_format)
    return str(value)


def _checked(rows: Iterable[Sequence], header: Sequence[str]) -> Iterable[Sequence]:
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise FileError(
                stored.gettext(
                    "Row %(row)d has %(count)d values where the header has %(width)d: the file was not written.",
                    row=number,
                    count=len(row),
                    width=len(header),
                )
            )
        yield row


def write_xlsx(
    path,
    header: Sequence[str],
    rows: Iterable[Sequence],
    *,
    sheet: str = "Sheet1",
    date_format: str = "dd/mm/yyyy",
    datetime_format: str = "dd/mm/yyyy hh:mm:ss",
) -> int:
    """Write an XLSX workbook of one sheet at ``path``, streamed (XlsxWriter's constant-memory mode)."""
    count = 0
    with atomic_file(path) as stream:
        workbook = xlsxwriter.Workbook(
            stream,
            {
                "constant_memory": True,
                "remove_timezone": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        try:
            worksheet = workbook.add_worksheet(sheet)
            formats = {
                datetime: workbook.add_format({"num_format": datetime_format}),
                date: workbook.add_format({"num_format": date_format}),
            }
            for column, name in enumerate(header):
                worksheet.write_string(0, column, str(name))
            for number, row in enumerate(_checked(rows, header), start=1):
                for column, value in enumerate(row):
                    _write_cell(worksheet, number, column, value, formats)
                count = number
        finally:
            workbook.close()
    return count


def _write_cell(worksheet, row: int, column: int, value, formats: dict) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        result = worksheet.write_boolean(row, column, value)
    elif isinstance(value, int | float | Decimal):
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            raise FileError(stored.gettext('"%(value)s" is not a number a file can hold.', value=str(value)))
        result = worksheet.write_number(row, column, float(value))
    elif isinstance(value, datetime):
        result = worksheet.write_datetime(row, column, value, formats[datetime])
    elif isinstance(value, date):
        result = worksheet.write_datetime(row, column, value, formats[date])
    else:
        text = str(value)
        if len(text) > XLSX_CELL_CHARS:
            raise FileError(
                stored.gettext(
                    "Row %(row)d, column %(column)d holds %(count)d characters, more than the %(limit)d a cell "
                    "holds: the file was not written.",
                    row=row,
                    column=column + 1,
                    count=len(text),
                    limit=XLSX_CELL_CHARS,
                )
            )
        result = worksheet.write_string(row, column, text)
    if result == -1:
        raise FileError(
            stored.gettext("Row %(row)d is beyond the last row a sheet holds: the file was not written.", row=row)
        )
