"""Parsed YAML → what it describes: the models' attribute values, read through the typed description.

``read_document`` checks the whole file against :class:`~sync.config_schema.document.IntegrationFile`
and reports every problem with its path; the keys that are fine are still read, so that ``load`` can
run the models' own ``full_clean()`` on them and report the rest in the same pass.
"""

from dataclasses import dataclass, field
from functools import cache
from typing import Annotated

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ..config_schema import document as described
from ..config_schema.document import SCHEDULE_BLANK, VERSION, IntegrationFile
from ..config_schema.errors import wrong_type
from ..config_schema.file_errors import explain, path_order
from ..config_schema.values import EnvRef, SecretMarker, file_value
from .problems import Path, Problems

__all__ = ["SCHEDULE_BLANK", "VERSION", "file_value", "path_order"]


@dataclass(frozen=True)
class Key:
    """One key of an object in the file; a secret is read as an ``{env: NAME}`` reference, never as a value."""

    secret: bool = False


def _keys(model: type[BaseModel], leave_out=()) -> dict[str, Key]:
    return {
        name: Key(secret=any(isinstance(item, SecretMarker) for item in info.metadata))
        for name, info in model.model_fields.items()
        if name not in leave_out
    }


INTEGRATION = _keys(IntegrationFile, IntegrationFile.STRUCTURE)
CONNECTION_ROLES = tuple(described.Connections.model_fields)
CONNECTION = _keys(described.ConnectionFile)
TABLE = _keys(described.TableFile, ("mappings",))
MAPPING = _keys(described.MappingFile)
# Each kind of schedule: its keys in the file, and the integration's attribute each one sets.
SCHEDULE_KEYS = {
    model.model_fields["kind"].annotation.__args__[0]: {
        key: described.SCHEDULE_ATTRS[key] for key in model.model_fields if key != "kind"
    }
    for model in described.SCHEDULES
}
# Where the models' attributes are written in the file, when not under their own name.
INTEGRATION_PATHS = {
    "schedule_kind": ("schedule", "kind"),
    **{attr: ("schedule", key) for key, attr in described.SCHEDULE_ATTRS.items()},
}


@dataclass
class Record:
    """One object of the file: where it is, and the model attribute values read from it."""

    path: Path
    attrs: dict
    secrets: dict[str, EnvRef] = field(default_factory=dict)
    children: list["Record"] = field(default_factory=list)


@dataclass
class Document:
    integration: Record
    connections: dict[str, Record]  # by role: "erp", "crm"
    tables: list[Record]  # each with its mappings as children
    custom_fields: list[Record] = field(default_factory=list)  # the CRM fields whose keys are looked up by name


@cache
def _key_type(model: type[BaseModel], key: str) -> TypeAdapter:
    info = model.model_fields[key]
    return TypeAdapter(Annotated[info.annotation, info], config=ConfigDict(strict=True))


def _stored(model: type[BaseModel], key: str, value):
    """The value of one key (already found valid) as the model stores it."""
    return _key_type(model, key).validate_python(value)


def _record(value: dict, model: type[BaseModel], path: Path, problems: Problems, leave_out=()) -> Record:
    """The model attributes and secret references of the keys of ``value`` that have no problem."""
    record = Record(path, {})
    for key, rule in _keys(model, leave_out).items():
        if key not in value or problems.near((*path, key)):
            continue
        try:
            stored = _stored(model, key, value[key])
        except ValidationError:
            continue  # reported with the whole file
        if isinstance(stored, described.ScheduleObject):
            record.attrs.update(stored.attrs())
        elif isinstance(stored, EnvRef):
            record.secrets[key] = stored
        elif not (rule.secret and stored is None):
            record.attrs[key] = stored
    return record


def _objects(value, key: str) -> list[tuple[int, dict]]:
    items = value.get(key) if isinstance(value, dict) else None
    return [(index, item) for index, item in enumerate(items or []) if isinstance(item, dict)]


def read_document(data, problems: Problems) -> Document | None:
    """Check ``data`` (parsed YAML) and return what it describes; ``None`` when it cannot be read at all."""
    if data is None:
        problems.add((), _("the file is empty"))
        return None
    if not isinstance(data, dict):
        problems.add((), wrong_type(_("a mapping of keys to values"), data))
        return None
    if "version" not in data:
        problems.add(("version",), _("required key is missing: write version: %(version)s") % {"version": VERSION})
        return None
    if data["version"] != VERSION or isinstance(data["version"], bool):
        problems.add(
            ("version",),
            _("unsupported version %(found)r (this portal reads version %(version)s)")
            % {"found": data["version"], "version": VERSION},
        )
        return None
    try:
        IntegrationFile.model_validate(data)
    except ValidationError as exc:
        for path, message in explain(exc):
            problems.add(path, message)
    connections = data.get("connections") if isinstance(data.get("connections"), dict) else {}
    tables = []
    for index, table in _objects(data, "tables"):
        path = ("tables", index)
        record = _record(table, described.TableFile, path, problems, ("mappings",))
        record.children = [
            _record(mapping, described.MappingFile, (*path, "mappings", number), problems)
            for number, mapping in _objects(table, "mappings")
        ]
        tables.append(record)
    return Document(
        integration=_record(data, IntegrationFile, (), problems, IntegrationFile.STRUCTURE),
        connections={
            role: _record(connections[role], described.ConnectionFile, ("connections", role), problems)
            for role in CONNECTION_ROLES
            if isinstance(connections.get(role), dict)
        },
        tables=tables,
        custom_fields=[
            _record(item, described.CustomFieldFile, ("custom_fields", index), problems)
            for index, item in _objects(data, "custom_fields")
        ],
    )
