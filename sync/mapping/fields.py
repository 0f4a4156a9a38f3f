"""A field mapping as plain data, and what mapping one record gives: values, body, errors, waits."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core import stored_messages as stored

from .. import paths
from ..choices import FieldOwner, SendOn, Transform, ValueType
from ..paths import MISSING

# Transforms that do not read the source path's value.
_SOURCELESS = frozenset({Transform.CONSTANT, Transform.TEMPLATE})


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
    omit_empty: bool = False  # an empty value leaves the target out (no list element made for it alone)

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
            omit_empty=bool(getattr(mapping, "omit_empty", False)),
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
