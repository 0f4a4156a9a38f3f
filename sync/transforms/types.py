"""A mapped value as the type its target expects (``sync.choices.ValueType``)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from core import stored_messages as stored

from .base import TransformError, as_text, display_value, type_name
from .numbers import read_decimal, to_integer
from .values import to_boolean


def as_value_type(value, value_type: str):
    """``value`` as the mapping's output type (``sync.choices.ValueType``); ``None`` stays ``None``.

    Text, integer, decimal and boolean convert what can be converted exactly (an integer
    refuses 1.5; a decimal keeps its digits). Date and date-time write date objects as
    ISO 8601 and keep text as the ``date``/``datetime`` transform wrote it (its
    ``output_format`` and ``timezone`` are how an API's own format is met).
    """
    if value_type == "null" or value is None:
        return None
    if not value_type:
        return value
    if value_type == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return as_text(value)
    if value_type == "integer":
        if isinstance(value, bool):
            raise TransformError(stored.gettext("%(value)s is not a whole number", value=display_value(value)))
        return to_integer(value, {})
    if value_type == "decimal":
        return read_decimal(value, ".")
    if value_type == "boolean":
        return to_boolean(value, {})
    if value_type in ("date", "datetime"):
        if isinstance(value, datetime):
            moment = value.astimezone(UTC) if value.utcoffset() is not None else value
            return moment.date().isoformat() if value_type == "date" else moment.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            return value
        raise TransformError(stored.gettext("expected a date, got %(kind)s", kind=type_name(value)))
    raise TransformError(stored.gettext('unknown type "%(name)s"', name=display_value(value_type)))
