"""Dates and instants: ISO 8601, Microsoft JSON dates, seconds since 1970, or a ``strftime`` format."""

import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, timezone

from core import stored_messages as stored

from ..choices import Transform
from ..numbers import parse_number
from .base import TransformError, as_text, display_value, is_blank, is_number, type_name
from .options import option

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Microsoft JSON dates: /Date(1700000000000)/ or /Date(1700000000000-0300)/, slashes maybe escaped.
_MS_DATE = re.compile(r"\\?/Date\((-?\d{1,18})(?:([+-])(\d{2})(\d{2}))?\)\\?/")
_ZERO_DATE = re.compile(
    r"0{4}-?0{2}-?0{2}(?:[ T]0{2}:0{2}(?::0{2}(?:\.0+)?)?)?|0{2}/0{2}/0{4}(?: 0{2}:0{2}(?::0{2})?)?"
)
_EPOCH_FORMATS = {"epoch": "seconds", "epoch_ms": "milliseconds"}
_UNIT_WORDS = {"seconds": stored.gettext_noop("seconds"), "milliseconds": stored.gettext_noop("milliseconds")}
_DATE_ERRORS = (ValueError, OverflowError, TypeError, re.error)


def _time_zone(options) -> zoneinfo.ZoneInfo:
    name = option(options, Transform.DATETIME, "timezone", "UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise TransformError(stored.gettext('unknown time zone "%(value)s"', value=display_value(name))) from None


def _from_epoch(value, unit: str, original) -> datetime:
    if isinstance(value, str):
        value = parse_number(value, ".")
    if not is_number(value):
        raise TransformError(
            stored.gettext(
                "%(value)s is not a number of %(unit)s since 1970",
                value=display_value(original),
                unit=_UNIT_WORDS[unit],
            )
        )
    try:
        return _EPOCH + timedelta(**{unit: float(value)})
    except _DATE_ERRORS:
        raise TransformError(
            stored.gettext("%(value)s is out of the date range", value=display_value(original))
        ) from None


def _parse_moment(value, options, transform: str) -> datetime | None:
    """A datetime (aware when the input says its offset), or None for a blank/zero date."""
    input_format = option(options, transform, "input_format")
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if input_format in _EPOCH_FORMATS:
        return _from_epoch(value, _EPOCH_FORMATS[input_format], value)
    if is_number(value) and input_format:
        value = as_text(value)
    if not isinstance(value, str):
        raise TransformError(stored.gettext("expected a date, got %(kind)s", kind=type_name(value)))
    text = value.strip()
    if _ZERO_DATE.fullmatch(text):
        return None
    try:
        if input_format:
            return datetime.strptime(text, input_format)
        ms_date = _MS_DATE.fullmatch(text)
        if ms_date:
            millis, sign, hours, minutes = ms_date.groups()
            moment = _EPOCH + timedelta(milliseconds=int(millis))
            if sign:
                offset = timedelta(hours=int(hours), minutes=int(minutes))
                moment = moment.astimezone(timezone(-offset if sign == "-" else offset))
            return moment
        return datetime.fromisoformat(text)
    except _DATE_ERRORS:
        pass
    if input_format:
        raise TransformError(
            stored.gettext(
                '"%(value)s" does not match the format "%(format)s"',
                value=display_value(value),
                format=display_value(input_format),
            )
        )
    raise TransformError(
        stored.gettext(
            '"%(value)s" is not a date; use ISO 8601 (2023-11-14T10:30:00-03:00) or set "input_format"',
            value=display_value(value),
        )
    )


def _render(moment: date, output_format: str) -> str:
    try:
        return moment.strftime(output_format)
    except _DATE_ERRORS:
        raise TransformError(
            stored.gettext('cannot write the date with the format "%(format)s"', format=display_value(output_format))
        ) from None


def to_date(value, options):
    """A calendar date: ``2023-11-14`` (an input with an offset keeps its own local date)."""
    output_format = option(options, Transform.DATE, "output_format")
    if is_blank(value):
        return None
    moment = _parse_moment(value, options, Transform.DATE)
    if moment is None:
        return None
    day = moment.date()
    return _render(day, output_format) if output_format else day.isoformat()


def to_datetime(value, options):
    """An instant: naive inputs are read in ``timezone`` (default UTC); output in UTC ISO 8601.

    Local times that a DST change skips or repeats follow PEP 495 with ``fold=0``: an
    ambiguous time is its first occurrence, a skipped time uses the offset before the change.
    With ``output_format`` the instant is written in the ``timezone``'s local time.
    """
    output_format = option(options, Transform.DATETIME, "output_format")
    zone = _time_zone(options)
    if is_blank(value):
        return None
    moment = _parse_moment(value, options, Transform.DATETIME)
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(zone if output_format else UTC)
    except _DATE_ERRORS:
        raise TransformError(stored.gettext("%(value)s is out of the date range", value=display_value(value))) from None
    return _render(moment, output_format) if output_format else moment.isoformat()
