"""Moments shown to people: in the portal's time zone (``settings.TIME_ZONE``), in the active language's format.

Datetimes are kept aware and in UTC everywhere else; they become local only here, for display.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format, get_format


def portal_zone() -> ZoneInfo:
    """The portal's time zone (``settings.TIME_ZONE``), read at call time."""
    return ZoneInfo(settings.TIME_ZONE)


def format_local(moment: datetime, tz: ZoneInfo, *, with_zone: bool = True) -> str:
    """``2024-11-14 09:04 (America/Sao_Paulo)``: a moment written into a sentence that is stored or sent."""
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} ({tz.key})" if with_zone else f"{local:%Y-%m-%d %H:%M}"


def wall_time(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """An aware datetime as a naive one in ``tz`` (spreadsheets have no time zones); None stays None."""
    return None if moment is None else moment.astimezone(tz).replace(tzinfo=None)


def with_seconds(time_format: str) -> str:
    """The time format with seconds, which Django's formats lack: ``P`` → ``g:i:s a``, ``H:i`` → ``H:i:s``."""
    if "s" in time_format:
        return time_format
    if "P" in time_format:
        return time_format.replace("P", "g:i:s a")
    return time_format.replace("i", "i:s")


def moment_format(*, seconds: bool = False) -> str:
    """The active language's one date-time format: its short date and its time, with seconds if asked."""
    if not seconds:
        return get_format("SHORT_DATETIME_FORMAT")
    return f"{get_format('SHORT_DATE_FORMAT')} {with_seconds(get_format('TIME_FORMAT'))}"


def moment_text(value: datetime, *, seconds: bool = False, tz: ZoneInfo | None = None) -> str:
    """``value`` in the portal's time zone (``tz``, else the active one), in the language's one date-time format."""
    return date_format(timezone.localtime(value, tz), moment_format(seconds=seconds))
