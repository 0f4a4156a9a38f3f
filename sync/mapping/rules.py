"""Filter rules: whether a source record moves at all (every rule must accept it).

Text is compared as a number when :func:`sync.numbers.number_value` reads one ("15.000,00", "1,500.00", "10"),
else as a date when it is ISO 8601, else as text.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from core import stored_messages as stored

from ..choices import FilterOperator
from ..numbers import number_value
from ..paths import MISSING, get_path
from ..transforms import TransformError, to_boolean
from .checks import check_filter_rules
from .values import is_empty, shown

_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _as_moment(value) -> datetime | None:
    """Dates, datetimes and ISO 8601 text as aware datetimes (naive ones read as UTC); else None."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 40 or not _ISO_DATE_START.match(text):
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    return None


def _as_bool(value) -> bool | None:
    try:
        return to_boolean(value, {})
    except TransformError:
        return None


def _as_text(value) -> str | None:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value.strip()).casefold()
    return None


def _equal(actual, expected) -> bool | None:
    """Whether two values are equal; None when they cannot be compared (e.g. a list and a text)."""
    if actual is MISSING:
        actual = None
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        left, right = _as_bool(actual), _as_bool(expected)
        return None if left is None or right is None else left == right
    left, right = number_value(actual), number_value(expected)
    if left is not None and right is not None:
        return left == right
    left, right = _as_moment(actual), _as_moment(expected)
    if left is not None and right is not None:
        return left == right
    left, right = _as_text(actual), _as_text(expected)
    if left is not None and right is not None:
        return left == right
    if type(actual) is type(expected) and isinstance(actual, list | dict):
        return actual == expected
    return None


def _order(actual, expected) -> int | None:
    """-1, 0 or 1 comparing numbers, else dates, else texts; None when they cannot be compared."""
    if is_empty(actual) or is_empty(expected) or isinstance(actual, bool) or isinstance(expected, bool):
        return None
    for convert in (number_value, _as_moment, _as_text):
        left, right = convert(actual), convert(expected)
        if left is not None and right is not None:
            return (left > right) - (left < right)
    return None


def _matches(actual, pattern: str) -> bool:
    """Whether the pattern is found in the value as text (a missing or null value is the empty text).

    Numbers are matched as written (``12345678000195``); lists and objects never match.
    """
    if actual is MISSING or actual is None:
        actual = ""
    if isinstance(actual, bool | list | dict) or not isinstance(pattern, str):
        return False
    try:
        return re.search(pattern, str(actual)) is not None
    except re.error:  # a rule built without its checks: it rejects, as an uncomparable value does
        return False


@dataclass(frozen=True)
class FilterRule:
    """One business rule on a source field, e.g. only customers with approved credit.

    Equality ignores surrounding spaces and letter case, compares numbers as numbers
    ("10" equals 10.0) and yes/no values as booleans ("S" equals true). ``gt``/``lt``
    compare numbers, else dates (ISO 8601), else texts. ``matches`` searches the value,
    as text, for a regular expression (``^\\d{14}$``: fourteen digits and nothing else).
    A rule whose value cannot be compared with the record's (a list against a text, a
    text against a number) rejects the record.
    """

    name: str
    field: str
    op: str
    value: Any = None

    @classmethod
    def from_json(cls, rules) -> list["FilterRule"]:
        """The rules stored on ``SyncTable.filter_rules``; ``ValueError`` if they are invalid."""
        errors = check_filter_rules(rules)
        if errors:
            raise ValueError("; ".join(errors))
        return [
            cls(name=str(rule.get("name") or ""), field=rule["field"].strip(), op=rule["op"], value=rule.get("value"))
            for rule in rules or []
        ]

    @property
    def label(self) -> str:
        """The rule's name, or what it tests: ``CreditStatus equals "A"`` (the operator in the reader's words)."""
        if self.name:
            return self.name
        operator = FilterOperator(self.op)
        if self.op in (FilterOperator.EMPTY, FilterOperator.NOT_EMPTY):
            return stored.gettext("%(field)s %(operator)s", field=self.field, operator=operator)
        return stored.gettext(
            "%(field)s %(operator)s %(value)s", field=self.field, operator=operator, value=shown(self.value)
        )

    def accepts(self, record) -> bool:
        actual = get_path(record, self.field)
        match self.op:
            case FilterOperator.EMPTY:
                return is_empty(actual)
            case FilterOperator.NOT_EMPTY:
                return not is_empty(actual)
            case FilterOperator.EQUALS:
                return _equal(actual, self.value) is True
            case FilterOperator.NOT_EQUALS:
                return _equal(actual, self.value) is False
            case FilterOperator.IN:
                values = self.value if isinstance(self.value, list | tuple) else [self.value]
                return any(_equal(actual, item) is True for item in values)
            case FilterOperator.GREATER_THAN:
                return _order(actual, self.value) == 1
            case FilterOperator.LESS_THAN:
                return _order(actual, self.value) == -1
            case FilterOperator.MATCHES:
                return _matches(actual, self.value)
        return False

    def explain(self, record) -> stored.StoredMessage:
        """Why the record was skipped, for the run log."""
        actual = get_path(record, self.field)
        if actual is MISSING:
            return stored.gettext(
                'skipped by the rule "%(rule)s": %(field)s is missing', rule=self.label, field=self.field
            )
        return stored.gettext(
            'skipped by the rule "%(rule)s": %(field)s is %(actual)s',
            rule=self.label,
            field=self.field,
            actual=shown(actual),
        )


def first_rejecting_rule(record, rules: Iterable[FilterRule]) -> FilterRule | None:
    """The first rule the record fails (rules are combined with AND), or None to let it through."""
    for rule in rules:
        if not rule.accepts(record):
            return rule
    return None
