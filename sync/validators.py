"""Pure checks of configuration values.

Each function returns a list of messages (empty when the value is fine), so the
same rules serve the admin forms (through the models' ``clean()``) and the YAML
import (which prefixes each message with its path inside the file). The range validators
below keep the numbers people set within sane ends, for the same two paths (``full_clean()``).
How a table maps records (transforms, filter rules, paths) is checked by :mod:`sync.mapping.checks`.
"""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from croniter import CroniterError, croniter
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator, validate_email
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import outbound
from core.durations import human_duration

from .choices import COUNTING_CONNECTION_KINDS, ConnectionKind

DAILY_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_daily_time(value: str) -> list[str]:
    if not DAILY_TIME.match(value or ""):
        return [
            _('"%(value)s" is not a valid time: use HH:MM on a 24-hour clock, e.g. 00:00 or 18:30.') % {"value": value}
        ]
    return []


# A cron expression must name a time within this many years of any date (Feb 29 comes every 4 to 8).
CRON_HORIZON_YEARS = 8


def check_cron(value: str) -> list[str]:
    value = (value or "").strip()
    if len(value.split()) != 5 or not croniter.is_valid(value):
        return [
            _(
                '"%(value)s" is not a valid cron expression: use five fields '
                '(minute hour day-of-month month day-of-week), e.g. "*/15 8-18 * * 1-5".'
            )
            % {"value": value}
        ]
    if not _cron_fires(value):
        return [
            _('"%(value)s" never runs: no date matches it (e.g. the 31st of February).') % {"value": value},
        ]
    return []


@lru_cache(maxsize=256)
def _cron_fires(value: str) -> bool:
    """Whether a valid cron expression names some time (from a fixed date: the answer is the same from any)."""
    try:
        croniter(value, datetime(2000, 1, 1, tzinfo=UTC), max_years_between_matches=CRON_HORIZON_YEARS).get_next(
            datetime
        )
    except CroniterError:
        return False
    return True


# Ranges of the numbers people set ------------------------------------------------------------------------------


class _RangeEnd:
    """One end of a range, refused in words that give both ends.

    A ``MinValueValidator`` / ``MaxValueValidator`` (see :class:`NotBelow`, :class:`NotAbove`), so
    Django adds no limit of its own (a column's range) with a second message.
    """

    message = gettext_lazy("Enter a whole number from %(low)s to %(high)s.")
    code = "out_of_range"

    def __init__(self, limit_value, *, low, high):
        super().__init__(limit_value)
        self.low, self.high = low, high

    def __call__(self, value):
        if self.compare(self.clean(value), self.limit_value):
            raise ValidationError(self.message, code=self.code, params=self.params(value))

    def params(self, value) -> dict:
        return {"low": self.low, "high": self.high, "value": value}

    def __eq__(self, other):
        return super().__eq__(other) and (self.low, self.high) == (other.low, other.high)

    __hash__ = None


class NotBelow(_RangeEnd, MinValueValidator):
    pass


class NotAbove(_RangeEnd, MaxValueValidator):
    pass


class IntervalNotAbove(NotAbove):
    """The most minutes between two runs of an interval schedule."""

    message = gettext_lazy(
        "Enter from %(low)s to %(high)s minutes (%(span)s); to run less often, choose a daily or a cron schedule."
    )

    def params(self, value) -> dict:
        return {**super().params(value), "span": human_duration(timedelta(minutes=self.high))}


class DurationNotAbove(NotAbove):
    """The longest a duration may be (its lower end is the model's own check)."""

    message = gettext_lazy("Enter at most %(high)s.")

    def __init__(self, high: timedelta):
        super().__init__(high, low=None, high=high)

    def params(self, value) -> dict:
        return {"high": human_duration(self.high), "value": value}


def number_range(low: int, high: int) -> list:
    """Validators that keep a whole number from ``low`` to ``high``."""
    return [NotBelow(low, low=low, high=high), NotAbove(high, low=low, high=high)]


def check_email_list(text: str) -> list[str]:
    errors = []
    for address in split_list(text):
        try:
            validate_email(address)
        except ValidationError:
            errors.append(_('"%(address)s" is not a valid email address') % {"address": address})
    return errors


def check_outbound_url(value: str, field_label: str) -> list[str]:
    """A URL the portal will call: http(s), well formed, and an address the outbound policy allows.

    Judged from the text alone (names are resolved, and checked again, when the call is made).
    """
    if not value:
        return []
    words = {"field": capfirst(field_label), "url": value}
    reason = outbound.scheme_refusal(value)
    if reason is None:
        try:
            URLValidator(schemes=outbound.ALLOWED_SCHEMES)(value)
        except ValidationError:
            return [_('%(field)s: "%(url)s" is not a valid URL.') % words]
        reason = outbound.url_refusal(value)
    if reason:
        return [_('%(field)s: "%(url)s" is refused: %(reason)s.') % {**words, "reason": reason}]
    return []


def check_relative_query(value: str, example: str = "Contacts?$count=true&$top=0") -> list[str]:
    """A read asked of a connection (a count query, a test path): a path under its base URL, never an
    address of its own."""
    if value and outbound.names_a_server(value):
        return [
            _(
                '"%(value)s" is an address of its own: write it relative to the connection\'s base URL, '
                "e.g. %(example)s (the connection's credentials go only to its own server)."
            )
            % {"value": value, "example": example}
        ]
    return []


def check_count_connection(query: str, kind: str, name: str) -> list[str]:
    """A count query needs a target connection of a kind that can count (REST; SOAP cannot)."""
    if not query.strip() or kind in COUNTING_CONNECTION_KINDS:
        return []
    label = ConnectionKind(kind).label if kind in ConnectionKind.values else kind
    return [
        _("The connection %(name)s (%(kind)s) cannot count records: leave the count query blank.")
        % {"name": name, "kind": label}
    ]


def check_call_worst_case(timeout_seconds, retries, longest_wait, task_timeout_seconds: int) -> list[str]:
    """One call with every attempt timing out and the longest wait between them must end within a
    background task's time limit: past it django-q2 stops the worker in the middle of the run."""
    if not isinstance(timeout_seconds, int) or not isinstance(retries, int) or timeout_seconds < 1 or retries < 0:
        return []  # the fields' own checks speak first
    attempts = retries + 1
    worst = timeout_seconds * attempts + longest_wait * retries
    if worst <= task_timeout_seconds:
        return []
    return [
        _(
            "One call could take up to %(worst)s (%(timeout)s s × %(attempts)s attempts, and up to %(wait)s s "
            "between them), longer than a background run may last (%(limit)s, SYNC_TASK_TIMEOUT): the worker "
            "would be stopped in the middle of it. Lower the timeout or the retries."
        )
        % {
            "worst": human_duration(timedelta(seconds=worst)),
            "timeout": timeout_seconds,
            "attempts": attempts,
            "wait": longest_wait,
            "limit": human_duration(timedelta(seconds=task_timeout_seconds)),
        }
    ]


def split_list(text: str) -> list[str]:
    """Split comma- or line-separated text into its non-blank items."""
    return [item.strip() for item in re.split(r"[,\n;]", text or "") if item.strip()]
