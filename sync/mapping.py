"""Filter rules and field mappings applied to one source record: pure functions, no database.

- ``FilterRule.from_json(table.filter_rules)`` and ``first_rejecting_rule(record, rules)``
  decide whether a record moves at all (every rule must accept it).
- ``FieldSpec.from_model(mapping)`` and ``map_record(record, specs)`` build the target's
  values; a field that cannot be mapped gets a message in ``MappingResult.errors`` and
  never an exception.
- ``values_hash(values)`` fingerprints the mapped values to skip unchanged records.

Messages (a rule's explanation, a field's error) are stored messages
(:mod:`sync.stored_messages`): kept untranslated with the record's values as parameters,
shown in the language of whoever reads them.
"""

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from core import stored_messages as stored

from . import paths
from .choices import FieldOwner, FilterOperator, SendOn, Transform, ValueType
from .transforms import (
    MISSING,
    TransformError,
    apply_transform,
    as_value_type,
    display_value,
    get_path,
    to_boolean,
)
from .validators import check_filter_rules

__all__ = [
    "MISSING",
    "FieldSpec",
    "FilterRule",
    "MappingResult",
    "first_rejecting_rule",
    "get_path",
    "is_empty",
    "map_record",
    "values_hash",
]

# Transforms that do not read the source path's value.
_SOURCELESS = frozenset({Transform.CONSTANT, Transform.TEMPLATE})


def is_empty(value) -> bool:
    """Missing, ``None``, blank text, or an empty list or object."""
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


# ---------------------------------------------------------------- filter rules

_PLAIN_NUMBER = re.compile(r"[+-]?\d{1,60}(?:[.,]\d{1,60})?")
# With both separators the last one is the decimal point: 15.000,00 or 15,000.00.
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:(\.)\d{3})+,\d{1,60}|[+-]?\d{1,3}(?:(,)\d{3})+\.\d{1,60}")
_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _as_number(value) -> Decimal | None:
    """Numbers, and text that is a number ("10", "-2.5", "1234,56", "15.000,00"); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text.replace(",", "."))
    grouped = _GROUPED_NUMBER.fullmatch(text)
    if grouped:
        thousands = grouped.group(1) or grouped.group(2)
        return Decimal(text.replace(thousands, "").replace(",", "."))
    return None


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
    left, right = _as_number(actual), _as_number(expected)
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
    for convert in (_as_number, _as_moment, _as_text):
        left, right = convert(actual), convert(expected)
        if left is not None and right is not None:
            return (left > right) - (left < right)
    return None


def _display(value, limit: int = 100) -> str:
    """A value as short JSON for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = display_value(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class FilterRule:
    """One business rule on a source field, e.g. only customers with approved credit.

    Equality ignores surrounding spaces and letter case, compares numbers as numbers
    ("10" equals 10.0) and yes/no values as booleans ("S" equals true). ``gt``/``lt``
    compare numbers, else dates (ISO 8601), else texts. A rule whose value cannot be
    compared with the record's (a list against a text, a text against a number)
    rejects the record.
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
            "%(field)s %(operator)s %(value)s", field=self.field, operator=operator, value=_display(self.value)
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
            actual=_display(actual),
        )


def first_rejecting_rule(record, rules: Iterable[FilterRule]) -> FilterRule | None:
    """The first rule the record fails (rules are combined with AND), or None to let it through."""
    for rule in rules:
        if not rule.accepts(record):
            return rule
    return None


# ---------------------------------------------------------------- field mappings


@dataclass(frozen=True)
class FieldSpec:
    """What one ``FieldMapping`` says, as plain data."""

    source_path: str
    target_field: str
    transform: str = Transform.NONE
    options: Mapping = field(default_factory=dict)
    required: bool = False
    value_type: str = ValueType.AS_IS
    send_on: str = SendOn.BOTH
    owner: str = FieldOwner.SOURCE
    default: Any = MISSING  # used when the source value is missing or empty

    @classmethod
    def from_model(cls, mapping) -> "FieldSpec":
        """Read a ``FieldMapping`` (saved or not) without touching the database."""
        return cls(
            source_path=(mapping.source_path or "").strip(),
            target_field=mapping.target_field.strip(),
            transform=mapping.transform or Transform.NONE,
            options=mapping.transform_options or {},
            required=bool(mapping.required),
            value_type=mapping.value_type or ValueType.AS_IS,
            send_on=mapping.send_on or SendOn.BOTH,
            owner=mapping.owner or FieldOwner.SOURCE,
            default=MISSING if mapping.default_value is None else mapping.default_value,
        )

    @property
    def reads_source(self) -> bool:
        return self.transform not in _SOURCELESS

    @property
    def on_create(self) -> bool:
        return self.send_on in (SendOn.BOTH, SendOn.CREATE)

    @property
    def on_update(self) -> bool:
        """Sent on update: a field the target owns is written on create only, never overwritten."""
        return self.send_on in (SendOn.BOTH, SendOn.UPDATE) and self.owner != FieldOwner.TARGET

    def inside_items(self) -> "FieldSpec":
        """This spec as seen from one item of its sub-list (``lines[].sku`` → ``sku``)."""
        _list, target = paths.split_each(self.target_field)
        source_split = paths.split_each(self.source_path) if self.source_path else None
        source = source_split[1] if source_split else self.source_path
        return replace(self, source_path=source, target_field=target)


@dataclass(frozen=True)
class Waiting:
    """A reference to a record of another table that has not been synced yet: ``Company 40001002``."""

    table: str
    key: str

    def describe(self) -> stored.StoredMessage:
        return stored.gettext("waiting for %(table)s %(key)s", table=self.table, key=self.key)


class LookupFailed(Exception):
    """A lookup that cannot work at all (an unknown table); ``message`` says why."""

    def __init__(self, message: stored.StoredMessage):
        super().__init__(message)
        self.message = message


# (table name, value) -> the other system's key, or None when that record is not linked yet.
Resolver = Callable[[str, Any], "str | None"]


def _no_lookups(table: str, value) -> str | None:
    raise LookupFailed(stored.gettext("a lookup needs the links of another table: it runs only inside a sync"))


@dataclass
class MappingResult:
    """The mapped fields of one record, the target body they make, and what went wrong.

    ``fields`` holds each mapping's value by its target path (a sub-list as one list under
    its path); ``values`` is the whole body (nested for ``Address.City`` and keyed list
    elements); ``errors`` has a message per target path; ``waiting`` lists the records of
    other tables this one refers to that are not synced yet.
    """

    fields: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    errors: dict[str, stored.StoredMessage] = field(default_factory=dict)
    waiting: list[Waiting] = field(default_factory=list)
    create_fields: list[str] = field(default_factory=list)
    update_fields: list[str] = field(default_factory=list)
    built: set[int] = field(default_factory=set, repr=False)  # containers made in ``values`` by the mappings

    @property
    def ok(self) -> bool:
        return not self.errors and not self.waiting

    @property
    def message(self) -> stored.StoredMessage:
        """All errors in one line, for the review queue."""
        return stored.join(
            *(
                stored.gettext("%(field)s: %(error)s", field=target, error=message)
                for target, message in self.errors.items()
            ),
            separator="; ",
        )

    @property
    def waiting_message(self) -> stored.StoredMessage:
        return stored.join(*(waiting.describe() for waiting in self.waiting), separator="; ")

    def errors_for_json(self) -> dict[str, str]:
        """The per-field errors for a JSON column (``RecordError.field_errors``), read back with ``stored.parse``."""
        return {target: stored.for_json(message) for target, message in self.errors.items()}

    def body(self, names) -> dict:
        """The target body made of the fields ``names`` only (an update's body, say)."""
        body: dict = {}
        built: set[int] = set()
        for name in self.fields:
            if name in names:
                paths.put_path(body, name, self.fields[name], built)
        return body

    def create_body(self) -> dict:
        return self.body(set(self.create_fields))

    def update_view(self) -> dict:
        """The fields an update may send, by target path: what is compared to see a change."""
        return {name: self.fields[name] for name in self.update_fields}


def _mapped_value(record, spec: FieldSpec, resolve: Resolver, result: MappingResult):
    """The value of one (non-list) mapping for ``record``, or MISSING when the target is left out."""
    name = spec.source_path or spec.target_field
    raw = get_path(record, spec.source_path) if spec.source_path else MISSING
    if spec.reads_source and is_empty(raw):
        if spec.default is not MISSING:
            return as_value_type(spec.default, spec.value_type)
        if spec.required:
            if raw is MISSING:
                raise TransformError(stored.gettext("%(field)s is required but missing from the record", field=name))
            raise TransformError(stored.gettext("%(field)s is required but empty", field=name))
        if raw is MISSING:
            return MISSING
    if spec.transform == Transform.LOOKUP:
        value = None if is_empty(raw) else _looked_up(raw, spec, resolve, result)
    else:
        value = apply_transform(spec.transform, None if raw is MISSING else raw, spec.options, record)
    if is_empty(value) and spec.default is not MISSING:
        value = spec.default
    if spec.required and is_empty(value) and value is not MISSING:
        raise TransformError(stored.gettext("%(field)s is required but empty", field=name))
    return MISSING if value is MISSING else as_value_type(value, spec.value_type)


def _looked_up(raw, spec: FieldSpec, resolve: Resolver, result: MappingResult):
    table = spec.options.get("table") if isinstance(spec.options, Mapping) else None
    if not isinstance(table, str) or not table:
        raise TransformError(stored.gettext('transform "lookup" needs the option "table"'))
    if isinstance(raw, dict | list):
        raise TransformError(stored.gettext("a lookup needs a key, got %(value)s", value=_display(raw)))
    try:
        found = resolve(table, raw)
    except LookupFailed as exc:
        raise TransformError(exc.message) from None
    if found is None:
        result.waiting.append(Waiting(table, display_value(raw)))
        return MISSING
    return found


def _list_items(record, specs: list[FieldSpec], list_path: str, resolve: Resolver, result: MappingResult):
    """A sub-list (order lines): each item of the source list mapped by the same rules; MISSING to leave it out."""
    sources = {paths.split_each(spec.source_path)[0] for spec in specs if paths.split_each(spec.source_path or "")}
    if len(sources) != 1:
        raise TransformError(
            stored.gettext(
                "the mappings of %(list)s[] must read one source list, e.g. Products[].ProductId", list=list_path
            )
        )
    source_list = sources.pop()
    items = get_path(record, source_list)
    if items is MISSING or items is None:
        if any(spec.required for spec in specs):
            raise TransformError(stored.gettext("%(field)s is required but missing from the record", field=source_list))
        return MISSING if items is MISSING else None
    if not isinstance(items, list | tuple):
        raise TransformError(stored.gettext("expected a list of items, got %(value)s", value=display_value(items)))
    inner = [spec.inside_items() for spec in specs]
    shaped = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise TransformError(stored.gettext("item %(n)d is not an object", n=position))
        mapped = map_record(item, inner, resolve)
        for target, message in mapped.errors.items():
            result.errors[f"{list_path}[{position}].{target}"] = message
        result.waiting.extend(mapped.waiting)
        shaped.append(mapped.values)
    return shaped


def map_record(record, specs: Iterable[FieldSpec], resolve: Resolver | None = None) -> MappingResult:
    """Apply every mapping to one source record.

    A source path absent from the record leaves its target out (so an update does not
    blank a field the source did not send) unless the mapping has a default; ``None`` is
    written as ``None``. A required field that is missing or empty, before or after its
    transform, is an error naming the source path. Mappings whose target goes through
    ``[]`` (``lines[].sku`` from ``Products[].Code``) map each item of a sub-list with the
    same rules. A lookup whose record is not synced yet puts the record on ``waiting``.
    """
    resolve = resolve or _no_lookups
    result = MappingResult()
    specs = list(specs)
    groups: dict[str, list[FieldSpec]] = {}
    for spec in specs:
        split = paths.split_each(spec.target_field)
        if split is not None:
            groups.setdefault(split[0], []).append(spec)
    done_groups: set[str] = set()
    for spec in specs:
        split = paths.split_each(spec.target_field)
        target = split[0] if split else spec.target_field
        if split:
            if target in done_groups:
                continue
            done_groups.add(target)
            members = groups[target]
            on_create, on_update = any(s.on_create for s in members), any(s.on_update for s in members)
        else:
            on_create, on_update = spec.on_create, spec.on_update
        try:
            if split:
                value = _list_items(record, groups[target], target, resolve, result)
            else:
                value = _mapped_value(record, spec, resolve, result)
        except TransformError as exc:
            result.errors[target] = exc.message
            continue
        if value is MISSING:
            continue
        try:
            paths.put_path(result.values, target, value, result.built)
        except (paths.Overlap, paths.PathError):
            result.errors[target] = stored.gettext(
                "the target field %(field)s overlaps another mapping's target", field=target
            )
            continue
        result.fields[target] = value
        if on_create:
            result.create_fields.append(target)
        if on_update:
            result.update_fields.append(target)
    return result


# ---------------------------------------------------------------- hashing


def canonical(value):
    """``value`` as plain JSON types, the same way every time."""
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() < 10_000 else f"int:{value:x}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | bytes):
        return str(value) if isinstance(value, uuid.UUID) else value.hex()
    return str(value)


def values_hash(values) -> str:
    """SHA-256 of the values as canonical JSON: key order does not matter, any change does."""
    text = json.dumps(canonical(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
