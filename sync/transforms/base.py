"""What every transform shares: its error, and how values are shown and read as text."""

import math
import reprlib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal

from core import stored_messages as stored


class TransformError(ValueError):
    """A value a transform cannot convert; ``message`` is meant for the user (a stored message)."""

    def __init__(self, message: stored.StoredMessage):
        super().__init__(message)
        self.message = message


_SHOWN_LENGTH = 60


def display_value(value) -> str:
    """A short, printable form of ``value`` for a message."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            text = str(value)
        except ValueError:  # an int past Python's 4,300-digit conversion limit
            return stored.gettext("(a number too long to show)")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = reprlib.repr(value)
        except ValueError:
            return stored.gettext("(a value too long to show)")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def type_name(value) -> str:
    """What kind of value ``value`` is, in the reader's words ("a number", "a list")."""
    if isinstance(value, bool):
        return stored.gettext("a yes/no value")
    if isinstance(value, int | float | Decimal):
        return stored.gettext("a number")
    if isinstance(value, Mapping):
        return stored.gettext("an object")
    if isinstance(value, list | tuple | set | frozenset):
        return stored.gettext("a list")
    if isinstance(value, datetime | date):
        return stored.gettext("a date")
    return type(value).__name__


def is_number(value) -> bool:
    """An int, float or Decimal, but not a yes/no value."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def as_text(value) -> str:
    """Text for transforms that read characters: strings, and numbers written out."""
    if isinstance(value, str):
        return value
    if not is_number(value):
        raise TransformError(stored.gettext("expected text, got %(kind)s", kind=type_name(value)))
    if isinstance(value, float | Decimal):
        if not _finite(value):
            raise TransformError(stored.gettext("%(value)s is not a number", value=display_value(value)))
        if abs(value) >= 10**30 or value != round(value):
            return str(value)  # not a whole number: no use to a transform that reads digits
        value = int(value)
    try:
        return str(value)
    except ValueError:
        raise TransformError(stored.gettext("the number is too long")) from None
