"""Model → document: one integration with its connections, tables and mappings.

The document is deterministic (keys in the schema's order, tables by order
then name, mappings by position, JSON keys sorted), so exporting, importing
into an empty database and exporting again gives the same text.
"""

from dataclasses import dataclass

from django.db import models
from django.db.models import Prefetch

from core.durations import format_duration

from ..config_schema.values import file_value
from ..models import AUTH_REQUIREMENTS, SECRET_FIELDS, Connection, FieldMapping, Integration, SyncTable
from ..validators import split_list
from . import schema
from .problems import Path, format_path
from .secrets import EnvRef, env_var_name
from .text import Inline

FILTER_RULE_KEYS = ("name", "field", "op", "value")
WEBHOOK = "alert_webhook_url"


@dataclass(frozen=True)
class EnvVar:
    """An environment variable the import of this document will read."""

    name: str
    path: str


def canonical(value, first: tuple[str, ...] = ()):
    """JSON with its mapping keys in a stable order: ``first`` ones, then the rest sorted."""
    if isinstance(value, dict):
        keys = [key for key in first if key in value] + sorted(key for key in value if key not in first)
        return {key: canonical(value[key]) for key in keys}
    if isinstance(value, list):
        return [canonical(item, first) for item in value]
    return value


def _plain(instance: models.Model, spec: dict, special: dict | None = None) -> dict:
    """The keys of ``spec`` in order, each from the model attribute of that name (or a ``special`` writer)."""
    special = special or {}
    document = {}
    for key, rule in spec.items():
        if rule.secret:
            continue
        if key in special:
            document[key] = special[key](instance)
            continue
        model_field = instance._meta.get_field(key)
        value = getattr(instance, key)
        if model_field.choices:
            value = file_value(value)
        elif isinstance(model_field, models.JSONField):
            value = canonical(value, FILTER_RULE_KEYS if key == "filter_rules" else ())
        elif isinstance(model_field, models.DurationField):
            value = None if value is None else format_duration(value)
        document[key] = value
    return document


def _schedule(integration: Integration) -> Inline:
    document = Inline(kind=integration.schedule_kind)
    for key, attr in schema.SCHEDULE_KEYS[integration.schedule_kind].items():
        document[key] = getattr(integration, attr)
    return document


def dump_connection(
    connection: Connection, path: Path, *, secrets_from_env: bool, taken: frozenset[str] = frozenset()
) -> tuple[dict, list[EnvVar]]:
    document = _plain(connection, schema.CONNECTION)
    if not secrets_from_env:
        return document, []
    env_vars = []
    needed = [name for name in AUTH_REQUIREMENTS.get(connection.auth_kind, ()) if name in SECRET_FIELDS]
    with_secrets = {}
    for key in schema.CONNECTION:  # keep the schema's key order, secrets in their place
        if key in needed:
            reference = EnvRef(env_var_name(connection.name, key))
            if reference.name in taken:  # two connection names that read alike: tell them apart by role
                reference = EnvRef(f"{reference.name}_{path[-1]}".upper())
            with_secrets[key] = Inline(reference.as_document())
            env_vars.append(EnvVar(reference.name, format_path((*path, key))))
        elif key in document:
            with_secrets[key] = document[key]
    return with_secrets, env_vars


def _linked_table_name(table: SyncTable) -> str:
    return table.read_per_link_of.name if table.read_per_link_of_id else ""


def dump_table(table: SyncTable) -> dict:
    document = _plain(table, schema.TABLE, {"read_per_link_of": _linked_table_name})
    document["mappings"] = [_plain(mapping, schema.MAPPING) for mapping in table.mappings.all()]
    return document


def _webhook(integration: Integration, *, secrets_from_env: bool, taken: frozenset[str]):
    """The alert webhook's entry: ``''`` when none is set, else a reference (or nothing: left out)."""
    if not integration.alert_webhook_url:
        return "", None
    if not secrets_from_env:
        return None, None
    reference = EnvRef(env_var_name(integration.name, WEBHOOK))
    if reference.name in taken:  # a connection's name reads alike
        reference = EnvRef(f"{reference.name}_INTEGRATION")
    return Inline(reference.as_document()), EnvVar(reference.name, WEBHOOK)


def dump_integration(integration: Integration, *, secrets_from_env: bool = False) -> tuple[dict, list[EnvVar]]:
    """The document of ``integration`` and the environment variables it references."""
    values = _plain(
        integration,
        schema.INTEGRATION,
        {
            "schedule": _schedule,
            "alert_emails": lambda instance: split_list(instance.alert_emails),
        },
    )
    env_vars = []
    connections = {}
    for role in schema.CONNECTION_ROLES:
        connection = getattr(integration, f"{role}_connection")
        connections[role], needed = dump_connection(
            connection,
            ("connections", role),
            secrets_from_env=secrets_from_env,
            taken=frozenset(env_var.name for env_var in env_vars),
        )
        env_vars += needed
    webhook, webhook_var = _webhook(
        integration, secrets_from_env=secrets_from_env, taken=frozenset(env_var.name for env_var in env_vars)
    )
    if webhook is not None:
        values[WEBHOOK] = webhook
    if webhook_var is not None:
        env_vars.insert(0, webhook_var)  # in the order of the file: the webhook comes before the connections
    document = {"version": schema.VERSION}
    document |= {key: values[key] for key in schema.INTEGRATION if key in values}
    document["connections"] = connections
    mappings = Prefetch("mappings", queryset=FieldMapping.objects.order_by("position", "pk"))
    tables = integration.tables.select_related("read_per_link_of").prefetch_related(mappings).order_by("order", "name")
    document["tables"] = [dump_table(table) for table in tables]
    return document, env_vars
