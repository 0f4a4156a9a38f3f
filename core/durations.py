"""Durations read from people and files, and every way the portal writes one.

:func:`parse_duration` reads ``24h``, ``1d 12h``, ``90 minutes`` or ``1 hora e 30 minutos``: the
units of every language the portal speaks (English and Brazilian Portuguese), whatever the active
language, with parts joined by spaces, commas, "and" or "e".

The portal writes a duration in one of four styles, each made here and nowhere else:

- :func:`format_duration`: the language-neutral text kept in configuration files (``1d 12h``);
- :func:`short_duration`: the abbreviations a person of the active language types (``30m`` /
  ``30min``), and :func:`typed_duration`, the same with whole hours up to a week (``36h``);
- :func:`human_duration`: words, at most two units (``1 hour 30 minutes`` / ``1 hora e 30 minutos``),
  for limits and ages: a max time, a grace, a lockout;
- :func:`elapsed_duration`: a measured time (a run's): ``4.2 s``, ``2 min 5 s``, then words; to the
  second on a run's own page (``1 minute 40 seconds``).
"""

import re
from datetime import timedelta

from django import forms
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

_UNITS = {
    # English
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
    "m": "minutes",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    # Brazilian Portuguese
    "dia": "days",
    "dias": "days",
    "hora": "hours",
    "horas": "hours",
    "minuto": "minutes",
    "minutos": "minutes",
    "seg": "seconds",
    "segundo": "seconds",
    "segundos": "seconds",
}
# Between two parts: spaces, a comma, "and" (English) or "e" (Portuguese).
_JOINER = re.compile(r"\s*(?:,\s*)?(?:(?:and|e)\s+)?")
_PART = re.compile(r"(\d+)\s*([a-z]+)")
_CLOCK = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d))?$")
_SECONDS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def _not_a_duration(text: str) -> ValueError:
    return ValueError(
        gettext('"%(text)s" is not a duration; write it like 24h, 30m, 1d 12h or 90 minutes.') % {"text": text}
    )


def parse_duration(text: str) -> timedelta:
    """Parse ``text`` or raise ``ValueError`` with a message for the user."""
    text = " ".join(str(text).strip().lower().split())
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        try:
            return timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
        except OverflowError:
            raise ValueError(gettext('"%(text)s" is too long a duration.') % {"text": text}) from None
    position, parts = 0, {}
    while position < len(text):
        if parts:
            joiner = _JOINER.match(text, position)
            position = joiner.end()
        match = _PART.match(text, position)
        if not match or match.group(2) not in _UNITS:
            raise _not_a_duration(text)
        unit = _UNITS[match.group(2)]
        parts[unit] = parts.get(unit, 0) + int(match.group(1))
        position = match.end()
    if not parts:
        raise ValueError(gettext("A duration is required, like 24h or 30m."))
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(gettext('"%(text)s" is too long a duration.') % {"text": text}) from None


def _amounts(value: timedelta, largest: str = "days") -> list[tuple[int, str]]:
    """``value`` in whole units from ``largest`` down to seconds, largest first, zero amounts left out."""
    total = int(value.total_seconds())
    amounts = []
    units = list(_SECONDS)
    for unit in units[units.index(largest) :]:
        size = _SECONDS[unit]
        amount, total = divmod(total, size)
        if amount:
            amounts.append((amount, unit))
    return amounts


def _in_words(amount: int, unit: str) -> str:
    """``1 hour``, ``30 minutos``: one amount of one unit, in the active language."""
    if unit == "days":
        return ngettext("%(count)d day", "%(count)d days", amount) % {"count": amount}
    if unit == "hours":
        return ngettext("%(count)d hour", "%(count)d hours", amount) % {"count": amount}
    if unit == "minutes":
        return ngettext("%(count)d minute", "%(count)d minutes", amount) % {"count": amount}
    return ngettext("%(count)d second", "%(count)d seconds", amount) % {"count": amount}


def format_duration(value: timedelta) -> str:
    """The shortest text that ``parse_duration`` reads back as ``value``, the same in every language."""
    letters = {"days": "d", "hours": "h", "minutes": "m", "seconds": "s"}
    return " ".join(f"{amount}{letters[unit]}" for amount, unit in _amounts(value)) or "0m"


def short_duration(value: timedelta, largest: str = "days") -> str:
    """Like :func:`format_duration`, with the abbreviations of the active language (``30m``, ``30min``).

    ``largest="hours"`` writes ``36h`` rather than ``1d 12h``.
    """
    letters = {
        "days": pgettext("abbreviation of days in a duration such as 1d 12h", "d"),
        "hours": pgettext("abbreviation of hours in a duration such as 1d 12h", "h"),
        "minutes": pgettext("abbreviation of minutes in a duration such as 1h 30m", "m"),
        "seconds": pgettext("abbreviation of seconds in a duration such as 1m 30s", "s"),
    }
    amounts = _amounts(value, largest) or [(0, "minutes")]
    return " ".join(f"{amount}{letters[unit]}" for amount, unit in amounts)


def typed_duration(value: timedelta) -> str:
    """How a person would type ``value`` in their language: ``24h`` and ``36h`` rather than ``1d`` and ``1d 12h``."""
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0 and seconds < 7 * 86400:
        return short_duration(value, largest="hours")
    return short_duration(value)


def human_duration(value: timedelta) -> str:
    """``24 hours``, ``1 day 12 hours``, ``30 minutes``: at most two units, for people, in the active language."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return _in_words(seconds, "seconds")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days and not hours and not minutes and days == 1:
        days, hours = 0, 24  # "24 hours" reads better than "1 day" for a max time
    parts = [
        _in_words(amount, unit) for amount, unit in ((days, "days"), (hours, "hours"), (minutes, "minutes")) if amount
    ]
    if len(parts) == 1:
        return parts[0]
    # Two units: "1 hour 30 minutes" in English, "1 hora e 30 minutos" in Portuguese.
    return pgettext("two units of a duration", "%(larger)s %(smaller)s") % {"larger": parts[0], "smaller": parts[1]}


def elapsed_duration(value: timedelta | None, *, to_the_second: bool = False) -> str:
    """A measured time: ``4.2 s``, ``2 min 5 s``, ``1 hour 5 minutes``; ``—`` when there is none.

    ``to_the_second`` keeps every second past the first minute, in words: ``1 minute 40 seconds``,
    ``2 hours 0 minutes 5 seconds`` (a run's own page).
    """
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return gettext("%(seconds)s s") % {"seconds": number_format(seconds, 1)}
    hours, rest = divmod(int(seconds), 3600)
    minutes, rest = divmod(rest, 60)
    if to_the_second:
        amounts = [*([(hours, "hours")] if hours else []), (minutes, "minutes"), (rest, "seconds")]
        return " ".join(_in_words(amount, unit) for amount, unit in amounts)
    if not hours:
        return gettext("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": rest}
    return human_duration(value)


class HumanDurationField(forms.Field):
    """A form field for ``DurationField`` that reads and shows ``24h`` / ``1d 12h`` (``30min`` in Portuguese)."""

    widget = forms.TextInput

    def prepare_value(self, value):
        if isinstance(value, timedelta):
            return short_duration(value)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None

    def __init__(self, **kwargs):
        if not kwargs.get("help_text"):
            kwargs["help_text"] = _("For example 24h, 30m or 1d 12h.")
        super().__init__(**kwargs)
