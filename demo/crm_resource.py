"""A resource of the demo CRM: its JSON fields and columns, how a row is written out, how a body is read.

Each :class:`Resource` says which JSON field maps to which column, how a row is
written out, and how a request body becomes column values (checked whole, see
:mod:`demo.crm_values`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .crm_properties import clean_other_properties, merge_other_properties
from .crm_values import (
    INVALID_TYPE,
    READ_ONLY_FIELD,
    REFUSED,
    REQUIRED,
    UNKNOWN_FIELD,
    Problems,
    Violation,
    as_bool,
    as_decimal,
    as_integer,
    as_objects,
    as_text,
    validation_failed,
)
from .models import CrmField
from .odata import FieldSpec


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment, e.g. "Contacts"
    model: type
    fields: dict[str, FieldSpec]
    writable: frozenset[str]
    required: frozenset[str]
    to_json: Callable
    validate: Callable  # (values, instance | None, problems) -> dict of extra column values
    select_related: tuple[str, ...] = field(default=())
    fixed: frozenset[str] = frozenset()  # set at creation, refused in a PATCH
    entity: int | None = None  # the CRM entity whose custom fields go in OtherProperties
    read_only: bool = False  # GET only

    def serialize(self, obj, select: list[str] | None = None) -> dict:
        data = self.to_json(obj)
        return {name: data[name] for name in select} if select else data

    def custom_fields(self) -> dict[str, str]:
        """``{FieldKey: value key}`` of this resource's custom fields (one query)."""
        return CrmField.value_keys(self.entity) if self.entity is not None else {}

    def clean(self, body, instance=None) -> dict:
        """Column values from a JSON body; ``instance`` is None for a create. Raises a 422 :class:`BodyError`."""
        if not isinstance(body, dict):
            raise validation_failed([Violation(INVALID_TYPE, "", _("The body must be a JSON object."))])
        problems = Problems()
        values, refused = {}, set()
        for name, value in body.items():
            if name in self.fields and name not in self.writable:
                continue  # read-only fields a client echoes back are ignored
            if name not in self.writable:
                problems.add(
                    UNKNOWN_FIELD,
                    name,
                    _("%(field)s is not a field of %(resource)s.") % {"field": name, "resource": self.name},
                )
                continue
            if instance is not None and name in self.fixed:
                problems.add(READ_ONLY_FIELD, name, _("%(field)s cannot be changed after creation.") % {"field": name})
                continue
            converted = self._convert(name, value, problems)
            if converted is REFUSED:
                refused.add(name)
            else:
                values[name] = converted
        self._check_required(values, refused, instance, problems)
        if "OtherProperties" in values:
            sent = clean_other_properties(values["OtherProperties"], self.entity, self.name, problems)
            values["OtherProperties"] = merge_other_properties(instance.other_properties, sent) if instance else sent
        columns = {self.fields[name].lookup: value for name, value in values.items()}
        columns.update(self.validate(values, instance, problems))
        self._check_lengths(columns, problems)
        problems.raise_if_any()
        return columns

    def _convert(self, name: str, value, problems: Problems):
        spec = self.fields[name]
        if spec.kind == "str":
            return as_text(value, name, problems)
        if spec.kind == "int":
            return as_integer(value, name, problems)
        if spec.kind == "decimal":
            column = self.model._meta.get_field(spec.lookup)
            return as_decimal(value, name, problems, max_digits=column.max_digits)
        if spec.kind == "bool":
            return as_bool(value, name, problems)
        if spec.kind in ("json", "properties"):
            return as_objects(value, name, problems)
        raise AssertionError(f"{self.name}.{name} has no converter for {spec.kind!r}")

    def _check_required(self, values: dict, refused: set, instance, problems: Problems) -> None:
        for name in sorted(self.required - refused):
            if instance is None and values.get(name) in (None, ""):
                problems.add(REQUIRED, name, _("%(field)s is required.") % {"field": name})
            elif instance is not None and name in values and values[name] in (None, ""):
                problems.add(REQUIRED, name, _("%(field)s cannot be empty.") % {"field": name})
        if instance is not None:  # null cannot clear a column that always has a value (e.g. OrderNumber)
            for name, value in values.items():
                column = self.model._meta.get_field(self.fields[name].lookup)
                if value is None and name not in self.required and not column.null:
                    problems.add(REQUIRED, name, _("%(field)s cannot be empty.") % {"field": name})

    def _check_lengths(self, columns: dict, problems: Problems) -> None:
        """After normalisation (a formatted CNPJ is stored as its 14 digits)."""
        names = {spec.lookup: name for name, spec in self.fields.items()}
        for column, value in columns.items():
            max_length = getattr(self.model._meta.get_field(column), "max_length", None)
            if isinstance(value, str) and max_length and len(value) > max_length:
                name = names.get(column, column)
                problems.invalid(
                    name, _("%(field)s is longer than %(max)d characters.") % {"field": name, "max": max_length}
                )
