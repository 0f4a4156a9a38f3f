"""Text transforms: as is, trim, upper, lower, digits only, and a template filled from the record."""

import re
import string
from collections.abc import Callable
from decimal import Decimal, DecimalException

from core import stored_messages as stored

from ..choices import Transform
from ..paths import MISSING, get_path
from .base import TransformError, as_text, display_value, type_name
from .options import option


def as_is(value, options):
    return value


def _text_transform(value, transform: str, operation: Callable[[str], str]):
    """Text changed by ``operation``; numbers, yes/no values and ``None`` are left as they are."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if not isinstance(value, str):
        raise TransformError(
            stored.gettext(
                'transform "%(name)s" expects text, got %(kind)s', name=str(transform), kind=type_name(value)
            )
        )
    return operation(value)


def trim(value, options):
    return _text_transform(value, Transform.TRIM, str.strip)


def upper(value, options):
    return _text_transform(value, Transform.UPPER, str.upper)


def lower(value, options):
    return _text_transform(value, Transform.LOWER, str.lower)


NOT_DIGITS = re.compile(r"[^0-9]")


def digits(value, options):
    if value is None:
        return None
    return NOT_DIGITS.sub("", as_text(value))


_FORMAT_WIDTH = re.compile(r"\d+")
_MAX_FORMAT_WIDTH = 1000


def template(value, options, record=None):
    """Fill ``{FirstName} {LastName}`` or ``{Address.City}`` from the whole source record.

    Without a record, the value itself is the record. A missing field is an error; a
    ``None`` field is written as nothing. Format specs (``{Total:.2f}``) work as in ``str.format``.
    """
    text = option(options, Transform.TEMPLATE, "template")
    source = record if record is not None else value
    formatter = string.Formatter()
    parts = []
    try:
        for literal, field, spec, conversion in formatter.parse(text):
            parts.append(literal)
            if field is None:
                continue
            if not field:
                raise TransformError(stored.gettext("template placeholders must name a source field, e.g. {FirstName}"))
            found = get_path(source, field)
            if found is MISSING:
                raise TransformError(
                    stored.gettext("the template needs %(field)s, which the record lacks", field=display_value(field))
                )
            if found is None:
                continue
            if any(int(width) > _MAX_FORMAT_WIDTH for width in _FORMAT_WIDTH.findall(spec or "")):
                raise TransformError(
                    stored.gettext("the template's format for %(field)s is too wide", field=display_value(field))
                )
            parts.append(format(formatter.convert_field(found, conversion), spec or ""))
    except (ValueError, TypeError, OverflowError, DecimalException) as exc:
        if isinstance(exc, TransformError):
            raise
        raise TransformError(
            stored.gettext("cannot fill the template: %(error)s", error=display_value(str(exc)))
        ) from None
    return "".join(parts)
