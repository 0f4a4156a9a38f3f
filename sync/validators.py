"""Pure checks of configuration values.

Each function returns a list of messages (empty when the value is fine), so the
same rules serve the admin forms (through the models' ``clean()``) and the YAML
import (which prefixes each message with its path inside the file). The range validators
below keep the numbers people set within sane ends, for the same two paths (``full_clean()``).
"""

import re
import string
import zoneinfo
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

from . import paths
from .choices import COUNTING_CONNECTION_KINDS, UNARY_FILTER_OPERATORS, ConnectionKind, FilterOperator, Transform
from .connectors.base import LONGEST_RETRY_WAIT

DAILY_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

# Options each transform accepts: name -> (required?, python types allowed).
TRANSFORM_OPTIONS = {
    Transform.NONE: {},
    Transform.TRIM: {},
    Transform.UPPER: {},
    Transform.LOWER: {},
    Transform.DIGITS: {},
    Transform.CNPJ: {},
    Transform.CPF: {},
    Transform.CNPJ_CPF: {},
    Transform.PHONE: {"default_country_code": (False, (str,))},
    Transform.DATE: {"input_format": (False, (str,)), "output_format": (False, (str,))},
    Transform.DATETIME: {
        "input_format": (False, (str,)),
        "output_format": (False, (str,)),
        "timezone": (False, (str,)),
    },
    Transform.DECIMAL: {"places": (False, (int,)), "decimal_separator": (False, (str,))},
    Transform.INTEGER: {},
    Transform.BOOLEAN: {"true_values": (False, (list,)), "false_values": (False, (list,))},
    Transform.VALUE_MAP: {"map": (True, (dict,)), "default": (False, (str, int, float, bool, type(None)))},
    Transform.CONSTANT: {"value": (True, (str, int, float, bool, type(None)))},
    Transform.TEMPLATE: {"template": (True, (str,))},
    Transform.LIST_MAP: {"fields": (True, (dict,))},
    Transform.LOOKUP: {"table": (True, (str,))},
}


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


def check_time_zone(value: str) -> list[str]:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return [_('unknown time zone "%(value)s"') % {"value": value}]
    return []


def check_transform(transform: str, options) -> list[str]:
    """Check a mapping's transform name and its options."""
    if transform not in Transform.values:
        return [_('unknown transform "%(name)s"') % {"name": transform}]
    if options is None:
        options = {}
    if not isinstance(options, dict):
        return [_("options must be a mapping of option names to values")]
    allowed = TRANSFORM_OPTIONS[Transform(transform)]
    errors = []
    for name in sorted(set(options) - set(allowed)):
        known = ", ".join(sorted(allowed)) or "none"
        errors.append(
            _('unknown option "%(option)s" for transform "%(name)s" (known: %(known)s)')
            % {"option": name, "name": transform or "none", "known": known}
        )
    for name, (required, types) in allowed.items():
        if name not in options:
            if required:
                errors.append(
                    _('transform "%(name)s" needs the option "%(option)s"') % {"name": transform, "option": name}
                )
            continue
        if not isinstance(options[name], types) or (bool not in types and isinstance(options[name], bool)):
            errors.append(
                _('option "%(option)s" of transform "%(name)s" has the wrong type')
                % {"option": name, "name": transform}
            )
    if errors:
        return errors
    if transform == Transform.VALUE_MAP:
        errors += _check_value_map(options["map"])
    elif transform == Transform.TEMPLATE:
        errors += _check_template(options["template"])
    elif transform == Transform.LIST_MAP:
        fields = options["fields"]
        if not fields or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in fields.items()):
            errors.append(
                _('a list map needs "fields": item field → source path, e.g. {"product_code": "ProductCode"}')
            )
    elif transform == Transform.DATETIME and "timezone" in options:
        errors += check_time_zone(options["timezone"])
    elif transform == Transform.DECIMAL:
        if not 0 <= options.get("places", 0) <= 20:
            errors.append(_('option "places" must be between 0 and 20'))
        if options.get("decimal_separator", ".") not in (".", ","):
            errors.append(_('option "decimal_separator" must be "." or ","'))
    elif transform == Transform.PHONE and not re.fullmatch(r"\+?\d{1,3}", options.get("default_country_code", "55")):
        errors.append(_('option "default_country_code" must be 1 to 3 digits, e.g. 55'))
    return errors


def _check_value_map(mapping: dict) -> list[str]:
    if not mapping:
        return [_('a value map needs at least one entry, e.g. {"CA": "California"}')]
    scalar = (str, int, float, bool)
    bad = [str(key) for key, value in mapping.items() if not isinstance(key, str) or not isinstance(value, scalar)]
    if bad:
        return [
            _("value map entries must map text to a text or number value; check %(keys)s") % {"keys": ", ".join(bad)}
        ]
    return []


def _check_template(template: str) -> list[str]:
    if not template.strip():
        return [_("a template cannot be empty")]
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        return [_("template is not valid: %(error)s") % {"error": exc}]
    if any(not name for name in names):
        return [_("template placeholders must name a source field, e.g. {FirstName}")]
    return []


def check_filter_rules(rules) -> list[str]:
    """Rules are a list of ``{"name", "field", "op", "value"}`` combined with AND."""
    if rules in (None, ""):
        return []
    if not isinstance(rules, list):
        return [_("filter rules must be a list")]
    errors = []
    for index, rule in enumerate(rules):
        where = _("rule %(number)d") % {"number": index + 1}
        if not isinstance(rule, dict):
            errors.append(_("%(where)s: must be a mapping with field, op and value") % {"where": where})
            continue
        unknown = sorted(set(rule) - {"name", "field", "op", "value"})
        if unknown:
            errors.append(_("%(where)s: unknown key %(keys)s") % {"where": where, "keys": ", ".join(unknown)})
        if not isinstance(rule.get("field"), str) or not rule.get("field", "").strip():
            errors.append(_("%(where)s: needs the source field to test") % {"where": where})
        op = rule.get("op")
        if op not in FilterOperator.values:
            errors.append(
                _('%(where)s: unknown operator "%(op)s" (known: %(known)s)')
                % {"where": where, "op": op, "known": ", ".join(FilterOperator.values)}
            )
            continue
        if op in UNARY_FILTER_OPERATORS:
            continue
        if "value" not in rule:
            errors.append(_('%(where)s: operator "%(op)s" needs a value') % {"where": where, "op": op})
        elif op == FilterOperator.IN and not isinstance(rule["value"], list):
            errors.append(_('%(where)s: operator "in" needs a list of values') % {"where": where})
    return errors


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


def check_call_worst_case(timeout_seconds, retries, task_timeout_seconds: int) -> list[str]:
    """One call with every attempt timing out and the longest wait between them must end within a
    background task's time limit: past it django-q2 stops the worker in the middle of the run."""
    if not isinstance(timeout_seconds, int) or not isinstance(retries, int) or timeout_seconds < 1 or retries < 0:
        return []  # the fields' own checks speak first
    attempts = retries + 1
    worst = timeout_seconds * attempts + LONGEST_RETRY_WAIT * retries
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
            "wait": LONGEST_RETRY_WAIT,
            "limit": human_duration(timedelta(seconds=task_timeout_seconds)),
        }
    ]


def split_list(text: str) -> list[str]:
    """Split comma- or line-separated text into its non-blank items."""
    return [item.strip() for item in re.split(r"[,\n;]", text or "") if item.strip()]


def missing_record_key(record_key: str, mapped_source_paths) -> list[str]:
    if record_key and record_key not in set(mapped_source_paths):
        return [
            _('the record key "%(key)s" must be mapped: add a field mapping whose source is "%(key)s"')
            % {"key": record_key}
        ]
    return []


def check_mapping_paths(source_path: str, target_field: str) -> dict[str, list[str]]:
    """Problems of a mapping's paths by field name: syntax, a keyed element written whole, ``[]`` on one side only."""
    errors: dict[str, list[str]] = {}
    for name, path in (("source_path", source_path), ("target_field", target_field)):
        if not path:
            continue
        try:
            steps = paths.parse(path)
        except paths.PathError as exc:
            errors[name] = [_("%(path)s is not a valid path: %(reason)s") % {"path": path, "reason": exc}]
            continue
        if name == "target_field" and isinstance(steps[-1], paths.Match | paths.Each):
            errors[name] = [
                _("Write a keyed list element through one of its fields, e.g. %(example)s.")
                % {"example": "OtherProperties[FieldKey=ERP_CODE].StringValue"}
            ]
    if errors:
        return errors
    target_each, source_each = paths.has_each(target_field or ""), paths.has_each(source_path or "")
    if source_each and not target_each:
        errors["target_field"] = [
            _("A source path with [] maps each item of a list: the target needs [] too, e.g. lines[].sku.")
        ]
    elif target_each and source_path and not source_each:
        errors["source_path"] = [
            _("A target with [] is filled item by item: read each item with [], e.g. Products[].ProductId.")
        ]
    return errors
