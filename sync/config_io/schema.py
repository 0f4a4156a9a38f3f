"""The shape of an integration file and its checks: keys, types and choices.

``read_document`` turns parsed YAML into model attribute values, reporting
every problem with its path. Rules that belong to the models (a REST
connection needs a base URL, a cron expression must be valid…) are not
repeated here: ``load`` runs the models' own ``full_clean()``.
"""

import difflib
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from ..choices import (
    AuthKind,
    ConnectionKind,
    DeletePolicy,
    DeploymentStatus,
    Direction,
    FieldOwner,
    IntegrationType,
    Pagination,
    ScheduleKind,
    SendOn,
    Transform,
    ValueType,
    WriteMode,
)
from .problems import Path, Problems
from .readers import (
    INVALID,
    Fields,
    Reader,
    boolean,
    choice,
    duration,
    integer,
    is_mapping,
    json_list,
    json_mapping,
    json_value,
    text,
    text_list,
    wrong_type,
)
from .secrets import EnvRef, read_reference

VERSION = 1


@dataclass(frozen=True)
class Key:
    """One key of an object in the file: how its value is read, and whether it must be there."""

    read: Reader
    required: bool = False
    secret: bool = False  # read as an {env: NAME} reference, never as a value
    clearable: bool = False  # a secret that '' removes (an optional one, such as the alert webhook)


# Objects ---------------------------------------------------------------------------------------------------------


def _unknown_key(problems: Problems, path: Path, key, known) -> None:
    message = _("unknown key")
    close = difflib.get_close_matches(str(key), list(known), n=1)
    if close:
        message += _(' (did you mean "%(close)s"?)') % {"close": close[0]}
    else:
        message += _("; known keys: %(known)s") % {"known": ", ".join(known)}
    problems.add((*path, str(key)), message)


def read_object(value: dict, spec: dict[str, Key], path: Path, problems: Problems, *, extra=()):
    """Model attributes and secret references of one object; ``extra`` keys are read by the caller."""
    attrs, secrets = {}, {}
    known = [*spec, *extra]
    for key in value:
        if key not in known:
            _unknown_key(problems, path, key, known)
    for key, rule in spec.items():
        if key not in value:
            if rule.required:
                problems.add((*path, key), _("required key is missing"))
            continue
        if rule.secret:
            if value[key] is None:
                continue
            if rule.clearable and value[key] == "":
                attrs[key] = ""
                continue
            reference = read_reference(value[key])
            if isinstance(reference, EnvRef):
                secrets[key] = reference
            else:
                problems.add((*path, key), reference)
            continue
        result = rule.read(value[key], (*path, key), problems)
        if isinstance(result, Fields):
            attrs.update(result)
        elif result is not INVALID:
            attrs[key] = result
    return attrs, secrets


# The schedule: {kind: daily, at: "00:00"} and friends ---------------------------------------------------------------

SCHEDULE_KEYS = {
    ScheduleKind.NONE: {},
    ScheduleKind.INTERVAL: {"every_minutes": ("schedule_interval_minutes", integer())},
    ScheduleKind.DAILY: {"at": ("schedule_daily_time", text())},
    ScheduleKind.CRON: {"cron": ("schedule_cron", text())},
}
SCHEDULE_BLANK = {"schedule_interval_minutes": None, "schedule_daily_time": "", "schedule_cron": ""}


def schedule(value, path, problems):
    if not is_mapping(value, path, problems):
        return INVALID
    if "kind" not in value:
        problems.add((*path, "kind"), _("required key is missing"))
        return INVALID
    kind = choice(ScheduleKind)(value["kind"], (*path, "kind"), problems)
    if kind is INVALID:
        return INVALID
    keys = SCHEDULE_KEYS[ScheduleKind(kind)]
    for key in value:
        if key != "kind" and key not in keys:
            problems.add(
                (*path, str(key)),
                _('unknown key for a "%(kind)s" schedule; known keys: %(known)s')
                % {"kind": kind, "known": ", ".join(["kind", *keys])},
            )
    result = Fields(schedule_kind=kind, **SCHEDULE_BLANK)
    for key, (attr, reader) in keys.items():
        if key not in value:
            problems.add((*path, key), _('required key for a "%(kind)s" schedule is missing') % {"kind": kind})
            continue
        read = reader(value[key], (*path, key), problems)
        if read is not INVALID:
            result[attr] = read
    return result


# Where the models' attributes are written in the file, when not under their own name.
INTEGRATION_PATHS = {
    "schedule_kind": ("schedule", "kind"),
    "schedule_interval_minutes": ("schedule", "every_minutes"),
    "schedule_daily_time": ("schedule", "at"),
    "schedule_cron": ("schedule", "cron"),
}

INTEGRATION = {
    "name": Key(text(blank=False), required=True),
    "description": Key(text()),
    "integration_type": Key(choice(IntegrationType), required=True),
    "erp_name": Key(text(blank=False), required=True),
    "erp_version": Key(text()),
    "crm_name": Key(text(blank=False), required=True),
    "deployment_status": Key(choice(DeploymentStatus)),
    "active": Key(boolean()),
    "business_rule": Key(text()),
    "schedule": Key(schedule),
    "max_time_without_success": Key(duration()),
    "alert_emails": Key(text_list()),
    "alert_webhook_url": Key(text(), secret=True, clearable=True),
}
CONNECTION_ROLES = ("erp", "crm")
CONNECTION = {
    "name": Key(text(blank=False), required=True),
    "kind": Key(choice(ConnectionKind), required=True),
    "base_url": Key(text()),
    "wsdl_url": Key(text()),
    "wsdl_document": Key(text()),
    "soap_service": Key(text()),
    "soap_port": Key(text()),
    "endpoint_url": Key(text()),
    "auth_kind": Key(choice(AuthKind)),
    "username": Key(text()),
    "password": Key(text(), secret=True),
    "token": Key(text(), secret=True),
    "api_key_header": Key(text()),
    "api_key": Key(text(), secret=True),
    "oauth_token_url": Key(text()),
    "client_id": Key(text()),
    "client_secret": Key(text(), secret=True),
    "oauth_scope": Key(text()),
    "pagination": Key(choice(Pagination)),
    "page_size": Key(integer()),
    "records_path": Key(text()),
    "test_path": Key(text()),
    "timeout_seconds": Key(integer()),
    "max_retries": Key(integer()),
    "max_retry_after_seconds": Key(integer()),
    "rate_limit_per_minute": Key(integer(null=True)),
    "verify_tls": Key(boolean()),
}
TABLE = {
    "name": Key(text(blank=False), required=True),
    "description": Key(text()),
    "direction": Key(choice(Direction)),
    "order": Key(integer()),
    "active": Key(boolean()),
    "source_object": Key(text(blank=False), required=True),
    "read_arguments": Key(json_mapping()),
    "target_object": Key(text(blank=False), required=True),
    "update_object": Key(text()),
    "write_mode": Key(choice(WriteMode)),
    "match_existing": Key(boolean()),
    "match_field": Key(text()),
    "update_changed_fields_only": Key(boolean()),
    "read_per_link_of": Key(text()),
    "record_key": Key(text(blank=False), required=True),
    "target_key": Key(text()),
    "cursor_field": Key(text()),
    "incremental_filter": Key(text()),
    "filter_rules": Key(json_list()),
    "delete_policy": Key(choice(DeletePolicy)),
    "delete_threshold": Key(integer()),
    "max_time_without_success": Key(duration(null=True)),
    "max_wait_for_parent": Key(duration()),
    "target_count_query": Key(text()),
}
MAPPING = {
    "source_path": Key(text()),
    "target_field": Key(text(blank=False), required=True),
    "transform": Key(choice(Transform)),
    "transform_options": Key(json_mapping()),
    "required": Key(boolean()),
    "value_type": Key(choice(ValueType)),
    "send_on": Key(choice(SendOn)),
    "default_value": Key(json_value()),
    "owner": Key(choice(FieldOwner)),
}
TOP_LEVEL = ("version", *INTEGRATION, "connections", "tables")
# Under which key which keys follow, in the order they are written: to list problems in file order.
_KEYS_UNDER = {
    "connections": CONNECTION_ROLES,
    "erp": tuple(CONNECTION),
    "crm": tuple(CONNECTION),
    "tables": (*TABLE, "mappings"),
    "mappings": tuple(MAPPING),
    "schedule": ("kind", "every_minutes", "at", "cron"),
}


def path_order(path: Path) -> tuple:
    """A sort key that puts paths in the order they are written in an exported file."""
    order, keys = [], TOP_LEVEL
    for part in path:
        if isinstance(part, int):
            order.append((part, ""))
            continue
        order.append((keys.index(part) if part in keys else len(keys), part))
        keys = _KEYS_UNDER.get(part, ())
    return tuple(order)


# The document ----------------------------------------------------------------------------------------------------


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


def read_document(data, problems: Problems) -> Document | None:
    """Check ``data`` (parsed YAML) and return what it describes; ``None`` when it cannot be read at all."""
    if data is None:
        problems.add((), _("the file is empty"))
        return None
    if not is_mapping(data, (), problems):
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
    attrs, secrets = read_object(data, INTEGRATION, (), problems, extra=("version", "connections", "tables"))
    return Document(
        integration=Record((), attrs, secrets),
        connections=_read_connections(data, problems),
        tables=_read_tables(data, problems),
    )


def _read_connections(data: dict, problems: Problems) -> dict[str, Record]:
    path = ("connections",)
    if "connections" not in data:
        problems.add(path, _("required key is missing"))
        return {}
    value = data["connections"]
    if not is_mapping(value, path, problems):
        return {}
    for role in value:
        if role not in CONNECTION_ROLES:
            _unknown_key(problems, path, role, CONNECTION_ROLES)
    connections = {}
    for role in CONNECTION_ROLES:
        where = (*path, role)
        if role not in value:
            problems.add(where, _("required key is missing"))
        elif is_mapping(value[role], where, problems):
            attrs, secrets = read_object(value[role], CONNECTION, where, problems)
            connections[role] = Record(where, attrs, secrets)
    return connections


def _read_list(data: dict, key: str, path: Path, problems: Problems) -> list:
    where = (*path, key)
    if key not in data:
        problems.add(where, _("required key is missing"))
        return []
    if data[key] is None:
        return []
    if not isinstance(data[key], list):
        wrong_type(problems, where, _("a list"), data[key])
        return []
    return [
        ((*where, index), item) for index, item in enumerate(data[key]) if is_mapping(item, (*where, index), problems)
    ]


def _read_tables(data: dict, problems: Problems) -> list[Record]:
    tables = []
    for path, item in _read_list(data, "tables", (), problems):
        attrs, _secrets = read_object(item, TABLE, path, problems, extra=("mappings",))
        mappings = [
            Record(where, read_object(mapping, MAPPING, where, problems)[0])
            for where, mapping in _read_list(item, "mappings", path, problems)
        ]
        tables.append(Record(path, attrs, children=mappings))
    return tables
