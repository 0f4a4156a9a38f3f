"""A table's cursor from the clock: the time its read started, in the source's zone and format, and its checks.

For sources whose lists filter by a change date they do not show (Bling's ``dataAlteracaoInicial``): the
cursor is the time the table's read started, less an overlap, so a change made during a run, or listed late
by the source, is read by the next run (again, and found unchanged).
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _


def clock_cursor(table, now: datetime) -> str:
    """The clock cursor of ``table``'s read starting at ``now``: the overlap earlier, in its zone and format."""
    zone = ZoneInfo(table.cursor_clock_zone) if table.cursor_clock_zone else UTC
    return (now - table.cursor_clock_overlap).astimezone(zone).strftime(table.cursor_clock_format)


def clock_errors(table) -> dict[str, list]:
    """Problems with ``table``'s clock cursor settings, by field."""
    if table.cursor_clock_zone:
        try:
            ZoneInfo(table.cursor_clock_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return {"cursor_clock_zone": [_("Unknown time zone: write one such as America/Sao_Paulo.")]}
    if not table.cursor_clock_format:
        return {}
    errors = {}
    if "%" not in table.cursor_clock_format:
        errors["cursor_clock_format"] = [_("Write the format with codes such as %Y-%m-%d %H:%M:%S.")]
    if table.cursor_field:
        errors["cursor_field"] = [_("Choose one cursor: a record field or the clock, not both.")]
    if "{cursor}" not in table.incremental_filter:
        errors["incremental_filter"] = [
            _("A cursor from the clock needs an incremental filter with {cursor}, or every run reads everything.")
        ]
    if table.cursor_clock_overlap is not None and table.cursor_clock_overlap < timedelta(0):
        errors["cursor_clock_overlap"] = [_("The overlap cannot be negative.")]
    return errors
