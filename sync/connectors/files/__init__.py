"""The file-drop port's readers and writers: pure modules over paths and binary streams, no models.

Readers (:func:`read_csv`, :func:`read_xlsx`, :func:`read_fixed_width`) are generators of
:class:`Row` (values or a problem, with the line number); a failure of a whole file is a
:class:`FileError` raised where it is found. Writers (:func:`write_csv`, :func:`write_xlsx`)
make a file appear complete or not at all. :func:`sha256_of` keys a file processed once.
"""

from .checksum import sha256_of
from .csv_reader import detect_delimiter, read_csv
from .encodings import detect_encoding
from .fixed_width import Field, parse_layout, read_fixed_width
from .limits import DEFAULT_LIMITS, Limits
from .rows import FileError, InvalidLayout, Row
from .writers import write_csv, write_xlsx
from .xlsx_reader import read_xlsx

__all__ = [
    "DEFAULT_LIMITS",
    "Field",
    "FileError",
    "InvalidLayout",
    "Limits",
    "Row",
    "detect_delimiter",
    "detect_encoding",
    "parse_layout",
    "read_csv",
    "read_fixed_width",
    "read_xlsx",
    "sha256_of",
    "write_csv",
    "write_xlsx",
]
