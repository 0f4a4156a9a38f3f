"""Human durations such as ``24h``, ``30m``, ``1d 12h`` or ``90 minutes``."""

import re
from datetime import timedelta

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

_UNITS = {
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "seconds": "seconds",
}
_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
_CLOCK = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d))?$")


def parse_duration(text: str) -> timedelta:
    """Parse ``text`` or raise ``ValueError`` with a message for the user."""
    text = str(text).strip().lower()
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        try:
            return timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
        except OverflowError:
            raise ValueError(gettext('"%(text)s" is too long a duration.') % {"text": text}) from None
    position, parts = 0, {}
    while position < len(text):
        match = _PART.match(text, position)
        if not match or match.group(2) not in _UNITS:
            raise ValueError(
                gettext('"%(text)s" is not a duration; write it like 24h, 30m, 1d 12h or 90 minutes.') % {"text": text}
            )
        unit = _UNITS[match.group(2)]
        parts[unit] = parts.get(unit, 0) + int(match.group(1))
        position = match.end()
    if not parts:
        raise ValueError(gettext("A duration is required, like 24h or 30m."))
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(gettext('"%(text)s" is too long a duration.') % {"text": text}) from None


def format_duration(value: timedelta) -> str:
    """The shortest text that ``parse_duration`` reads back as ``value``."""
    total = int(value.total_seconds())
    if total == 0:
        return "0m"
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)


class HumanDurationField(forms.Field):
    """A form field for ``DurationField`` that reads and shows ``24h`` / ``1d 12h``."""

    widget = forms.TextInput

    def prepare_value(self, value):
        if isinstance(value, timedelta):
            return format_duration(value)
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
