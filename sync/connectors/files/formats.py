"""A file connection's format settings applied: which reader reads its files, which writer writes them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from core import stored_messages as stored

from ...choices import FileDelimiter, FileEncoding, FileFormat
from .csv_reader import read_csv
from .fixed_width import read_fixed_width
from .limits import DEFAULT_LIMITS, Limits
from .rows import FileError, Row
from .writers import write_csv, write_xlsx
from .xlsx_reader import read_xlsx

WRITTEN_FORMATS = (FileFormat.CSV, FileFormat.XLSX)


def declared(value: str, auto: str) -> str | None:
    """A declared encoding or separator; None when the file tells (``auto``)."""
    return None if value in ("", auto) else value


def number_columns(config) -> tuple[str, ...]:
    return tuple(name.strip() for name in config.file_number_columns.split(",") if name.strip())


def decimal_point(config) -> str:
    return "," if config.file_decimal_comma else "."


def read_rows(config, path: str, required: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> Iterator[Row]:
    """The rows of the file at ``path``, read as the connection's settings say."""
    if config.file_format == FileFormat.XLSX:
        return read_xlsx(
            path, sheet=config.file_sheet or None, header_row=config.file_header_row, required=required, limits=limits
        )
    if config.file_format == FileFormat.FIXED_WIDTH:
        return read_fixed_width(
            path,
            config.file_layout,
            encoding=declared(config.file_encoding, FileEncoding.AUTO),
            skip_lines=config.file_skip_lines,
            numbers=number_columns(config),
            decimal_point=decimal_point(config),
            limits=limits,
        )
    return read_csv(
        path,
        encoding=declared(config.file_encoding, FileEncoding.AUTO),
        delimiter=declared(config.file_delimiter, FileDelimiter.AUTO),
        required=required,
        numbers=number_columns(config),
        decimal_point=decimal_point(config),
        limits=limits,
    )


def write_rows(config, path: str, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write ``rows`` under ``header`` at ``path`` in the connection's format; returns how many were written."""
    if config.file_format == FileFormat.XLSX:
        return write_xlsx(path, header, rows, sheet=config.file_sheet or "Sheet1")
    if config.file_format != FileFormat.CSV:
        raise FileError(stored.gettext("The portal writes CSV and XLSX files only, not fixed-width ones."))
    return write_csv(
        path,
        header,
        rows,
        delimiter=declared(config.file_delimiter, FileDelimiter.AUTO) or ";",
        encoding=declared(config.file_encoding, FileEncoding.AUTO) or "utf-8",
        decimal_point=decimal_point(config),
    )
