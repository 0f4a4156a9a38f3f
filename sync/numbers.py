"""Numbers written as text, read by one set of rules wherever they come from.

A field of a record, the value of a filter rule, the input of the ``decimal``, ``integer`` and
epoch ``date`` transforms, a target's answer compared with what the portal wrote: each is read
by :func:`parse_number` (text) or :func:`number_value` (any value). Pure: no Django, no I/O.

The rules: spaces anywhere and a leading currency sign (``R$``, ``US$``, ``$``) are ignored;
a sign, digits grouped by three (``1.234.567``) and an exponent (``1e3``) are read; the decimal
separator is ``.`` or ``,`` and the other one groups thousands. When the writer did not say
which one is the decimal separator, the last one written is: ``1.234,56`` and ``1,234.56`` are
both 1234.56, and a single separator is the decimal one (``1,5`` is 1.5, ``1.234`` is 1.234).
"""

import math
import re
from decimal import Decimal

POINTS = (".", ",")

_CURRENCY = re.compile(r"^(?:R\$|US\$|\$)")
_SPACE = re.compile(r"\s")
_DIGIT = re.compile(r"\d")


def _grammar(point: str) -> re.Pattern:
    decimal, thousands = re.escape(point), re.escape(_thousands(point))
    return re.compile(rf"[+-]?(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)?(?:{decimal}\d*)?(?:[eE][+-]?\d{{1,4}})?")


def _thousands(point: str) -> str:
    return "," if point == "." else "."


_NUMBER = {point: _grammar(point) for point in POINTS}


def parse_number(text: str, point: str | None = None) -> Decimal | None:
    """The number ``text`` writes, with the digits it gives; None when it is not a number.

    ``point`` is the decimal separator the writer declared ("." or ","); None: the last one written.
    NaN and infinities are not numbers.
    """
    written = _CURRENCY.sub("", _SPACE.sub("", text))
    if point is None:
        point = "," if written.rfind(",") > written.rfind(".") else "."
    if not _NUMBER[point].fullmatch(written) or not _DIGIT.search(written.split("e")[0].split("E")[0]):
        return None
    return Decimal(written.replace(_thousands(point), "").replace(point, "."))


def number_value(value, point: str | None = None) -> Decimal | None:
    """A number, or text that writes one (see :func:`parse_number`), as a ``Decimal``; None for anything else.

    A yes/no value is not a number, nor are NaN and infinities; a float keeps the digits it shows (0.1 is 0.1).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        return parse_number(value, point)
    return None
