"""Document → models: everything is validated first, then saved in one transaction.

Objects are matched by name: an existing integration, connection or table is
updated in place (tables keep their primary keys, so their record links
survive); a table missing from the file is deactivated, never deleted; the
mappings of each table in the file are replaced by the file's.
"""

import os
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from core.fields import SecretDecryptionError

from .. import validators
from ..choices import Direction
from ..forms import hide_webhook
from ..models import AUTH_REQUIREMENTS, SECRET_FIELDS, Connection, FieldMapping, Integration, SyncTable
from ..models.integration_ports import type_errors
from ..models.tables import batch_target_errors
from . import schema
from .custom_fields import field_keys, with_keys
from .problems import ConfigError, Path, Problems, format_path
from .secrets import env_var_name, resolve
from .text import from_yaml

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
DEACTIVATED = "deactivated"  # in the database but not in the file: switched off, kept with its links
LEFT_INACTIVE = "left_inactive"  # in the database but not in the file, and already inactive


@dataclass(frozen=True)
class Outcome:
    """What the import did to one object."""

    kind: str  # the model's verbose name: integration, connection, table
    name: str
    action: str  # CREATED, UPDATED, UNCHANGED, DEACTIVATED or LEFT_INACTIVE


@dataclass
class _Planned:
    instance: models.Model
    existed: bool
    before: dict  # attribute values before the file was applied (empty when new)
    children: list = field(default_factory=list)  # a table's new mappings
    children_before: list = field(default_factory=list)
    linked_name: str = ""  # a table's read_per_link_of, by name in the file
    linked_name_before: str = ""

    def changed(self, attrs) -> bool:
        return not self.existed or self.before != _snapshot(self.instance, attrs)


@dataclass
class _Plan:
    integration: _Planned
    connections: dict[str, _Planned]
    tables: list[_Planned]
    missing_tables: list[SyncTable]


def import_text(text: str, source: str, *, environ=None, dry_run: bool = False) -> list[Outcome]:
    """Validate the whole file, then save it; raise :class:`ConfigError` listing every problem."""
    data = from_yaml(text, source)
    problems = Problems(order=schema.path_order)
    document = schema.read_document(data, problems)
    if document is None:
        problems.raise_if_any()
    environ = os.environ if environ is None else environ
    with transaction.atomic():
        plan = _plan(document, problems, environ)
        problems.raise_if_any()
        if document.custom_fields:
            connections = {role: planned.instance for role, planned in plan.connections.items()}
            data = with_keys(data, field_keys(document.custom_fields, connections, problems))
            problems.raise_if_any()
            document = schema.read_document(data, problems)
            plan = _plan(document, problems, environ)
            problems.raise_if_any()
        try:
            outcomes = _save(plan)
        except IntegrityError as exc:
            raise ConfigError([_("the database refused the change: %(error)s") % {"error": exc}]) from exc
        if dry_run:
            transaction.set_rollback(True)
    return outcomes


# Which model attributes the file governs -------------------------------------------------------------------------


# A table read once per link of another table names it: resolved once every table is saved.
LINKED_TABLE = "read_per_link_of"


def _governed(spec: dict[str, schema.Key]) -> list[str]:
    attrs = []
    for key, rule in spec.items():
        if rule.secret or key == LINKED_TABLE:
            continue
        if key == "schedule":
            attrs += ["schedule_kind", *schema.SCHEDULE_BLANK]
        else:
            attrs.append(key)
    return attrs


WEBHOOK = "alert_webhook_url"  # a secret of the integration itself
INTEGRATION_ATTRS = [*_governed(schema.INTEGRATION), WEBHOOK]
CONNECTION_ATTRS = _governed(schema.CONNECTION) + list(SECRET_FIELDS)
TABLE_ATTRS = _governed(schema.TABLE)
MAPPING_ATTRS = _governed(schema.MAPPING)


def _snapshot(instance: models.Model, attrs) -> dict:
    return {attr: getattr(instance, attr) for attr in attrs}


def _apply(instance: models.Model, record: schema.Record, spec) -> None:
    """Set every attribute the file governs: the file's value, or the field's default when the key is absent."""
    for attr in _governed(spec):
        if attr in record.attrs:
            setattr(instance, attr, record.attrs[attr])
        else:
            setattr(instance, attr, instance._meta.get_field(attr).get_default())


def _validate(
    instance: models.Model, path: Path, problems: Problems, *, exclude=(), paths=None, hide=lambda text: text
) -> None:
    """Run the model's own ``full_clean()`` and file each message (``hide`` takes secrets out) under its path."""
    paths = paths or {}
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        for attr, messages in exc.message_dict.items():
            where = path if attr == NON_FIELD_ERRORS else (*path, *paths.get(attr, (attr,)))
            if problems.near(where):
                continue  # the file's own check already said what is wrong there
            for message in messages:
                problems.add(where, hide(message))


# Planning: build and check every object without saving -----------------------------------------------------------


def _plan(document: schema.Document, problems: Problems, environ) -> _Plan:
    connections = {}
    for role, record in document.connections.items():
        planned = _plan_connection(record, problems, environ)
        if planned:
            connections[role] = planned
    erp, crm = (document.connections.get(role) for role in schema.CONNECTION_ROLES)
    if erp and crm and erp.attrs.get("name") and erp.attrs.get("name") == crm.attrs.get("name"):
        problems.add((*crm.path, "name"), _("the ERP and the CRM need different connections"))

    integration = _plan_integration(document.integration, problems, environ)
    existing_tables = {}
    if integration.existed:
        existing_tables = {table.name: table for table in integration.instance.tables.all()}
    tables, first_index = [], {}
    for record in document.tables:
        name = record.attrs.get("name")
        if name in first_index:
            problems.add(
                (*record.path, "name"),
                _('two tables cannot share a name: "%(name)s" is already used by %(other)s')
                % {"name": name, "other": format_path(first_index[name])},
            )
            existing = None
        else:
            if name:
                first_index[name] = record.path
            existing = existing_tables.get(name)
        tables.append(_plan_table(record, existing, problems))
    for record, planned in zip(document.tables, tables, strict=True):
        if planned.linked_name and planned.linked_name not in first_index:
            problems.add(
                (*record.path, LINKED_TABLE),
                _('no table named "%(name)s" in this file') % {"name": planned.linked_name},
            )
        elif planned.linked_name and planned.linked_name == record.attrs.get("name"):
            problems.add((*record.path, LINKED_TABLE), _("a table cannot read one record per link of itself"))
    _check_count_queries(document.tables, tables, connections, problems)
    _check_batch_targets(document.tables, tables, connections, problems)
    _check_ports(document.integration, integration, connections, tables, problems)
    missing = [table for name, table in sorted(existing_tables.items()) if name not in first_index]
    return _Plan(integration, connections, tables, missing)


def _check_ports(record, integration: _Planned, connections: dict[str, _Planned], tables: list[_Planned], problems):
    """The integration's type is a port one of the file's connections speaks (no label without a connector)."""
    where = (*record.path, "integration_type")
    if problems.near(where) or len(connections) < 2:
        return
    planned = [connections[role].instance for role in schema.CONNECTION_ROLES if role in connections]
    for message in type_errors(integration.instance.integration_type, planned, [t.instance for t in tables]):
        problems.add(where, message)


def _check_count_queries(records, tables: list[_Planned], connections: dict[str, _Planned], problems) -> None:
    """A table's count query must be one the file's connection it writes to can answer."""
    for record, planned in zip(records, tables, strict=True):
        table = planned.instance
        role = "crm" if table.direction == Direction.ERP_TO_CRM else "erp"
        where = (*record.path, "target_count_query")
        if role not in connections or problems.near(where):
            continue
        writes_to = connections[role].instance
        for message in validators.check_count_connection(table.target_count_query, writes_to.kind, writes_to.name):
            problems.add(where, message)


def _check_batch_targets(records, tables: list[_Planned], connections: dict[str, _Planned], problems) -> None:
    """A table that writes in batches writes to a REST connection of the file."""
    for record, planned in zip(records, tables, strict=True):
        table = planned.instance
        role = "crm" if table.direction == Direction.ERP_TO_CRM else "erp"
        where = (*record.path, "batch_kind")
        if role not in connections or problems.near(where):
            continue
        for message in batch_target_errors(table.batch_kind, connections[role].instance):
            problems.add(where, message)


def _plan_connection(record: schema.Record, problems: Problems, environ) -> _Planned | None:
    name = record.attrs.get("name")
    try:
        existing = Connection.objects.filter(name=name).first() if name else None
    except SecretDecryptionError as exc:
        problems.add(record.path, str(exc))
        return None
    connection = existing or Connection()
    before = _snapshot(connection, CONNECTION_ATTRS) if existing else {}
    _apply(connection, record, schema.CONNECTION)
    for attr, reference in record.secrets.items():
        value = resolve(reference, environ)
        if value is None:
            problems.add(
                (*record.path, attr),
                _("the environment variable %(variable)s is not set (or is empty)") % {"variable": reference.name},
            )
        else:
            setattr(connection, attr, value)
    for attr in AUTH_REQUIREMENTS.get(connection.auth_kind, ()):
        if attr in SECRET_FIELDS and attr not in record.secrets and not getattr(connection, attr):
            _missing_secret(connection, attr, record.path, problems, new=existing is None)
    _validate(connection, record.path, problems)
    return _Planned(connection, existing is not None, before)


def _missing_secret(connection: Connection, attr: str, path: Path, problems: Problems, *, new: bool) -> None:
    values = {
        "auth": connection.get_auth_kind_display(),
        "field": connection._meta.get_field(attr).verbose_name,
        "example": f"{attr}: {{env: {env_var_name(connection.name or 'connection', attr)}}}",
    }
    if new:
        message = _(
            "%(auth)s authentication needs the %(field)s, and the file does not provide it: "
            "reference an environment variable, e.g. %(example)s"
        )
    else:
        message = _(
            "%(auth)s authentication needs the %(field)s: none is stored and the file does not provide it; "
            "reference an environment variable, e.g. %(example)s"
        )
    problems.add((*path, attr), message % values)


def _plan_integration(record: schema.Record, problems: Problems, environ) -> _Planned:
    name = record.attrs.get("name")
    try:
        existing = Integration.objects.select_for_update().filter(name=name).first() if name else None
    except SecretDecryptionError as exc:
        problems.add(record.path, str(exc))
        existing = None
    integration = existing or Integration()
    before = _snapshot(integration, INTEGRATION_ATTRS) if existing else {}
    _apply(integration, record, schema.INTEGRATION)
    _apply_webhook(integration, record, problems, environ)
    _validate(
        integration,
        record.path,
        problems,
        exclude=["erp_connection", "crm_connection"],  # checked by name above; new ones have no key yet
        paths=schema.INTEGRATION_PATHS,
        hide=lambda text: hide_webhook(text, integration.alert_webhook_url),
    )
    return _Planned(integration, existing is not None, before)


def _apply_webhook(integration: Integration, record: schema.Record, problems: Problems, environ) -> None:
    """``''`` removes the webhook, a reference sets it; left out, the stored one is kept."""
    if WEBHOOK in record.attrs:
        integration.alert_webhook_url = record.attrs[WEBHOOK]
    elif WEBHOOK in record.secrets:
        reference = record.secrets[WEBHOOK]
        value = resolve(reference, environ)
        if value is None:
            problems.add(
                (*record.path, WEBHOOK),
                _("the environment variable %(variable)s is not set (or is empty)") % {"variable": reference.name},
            )
        else:
            integration.alert_webhook_url = value


def _plan_table(record: schema.Record, existing: SyncTable | None, problems: Problems) -> _Planned:
    table = existing or SyncTable()
    before = _snapshot(table, TABLE_ATTRS) if existing else {}
    children_before = [_snapshot(mapping, MAPPING_ATTRS) for mapping in existing.mappings.all()] if existing else []
    _apply(table, record, schema.TABLE)
    _validate(table, record.path, problems, exclude=["integration"])  # unique names are checked above
    mappings = []
    for position, mapping_record in enumerate(record.children):
        mapping = FieldMapping(position=position)
        _apply(mapping, mapping_record, schema.MAPPING)
        _validate(mapping, mapping_record.path, problems, exclude=["table"])
        mappings.append(mapping)
    key_path = (*record.path, "record_key")
    if not problems.near(key_path):
        for message in table.record_key_errors(mapping.source_path for mapping in mappings):
            problems.add(key_path, message)
    linked_before = existing.read_per_link_of.name if existing and existing.read_per_link_of_id else ""
    linked = record.attrs.get(LINKED_TABLE) or ""
    return _Planned(table, existing is not None, before, mappings, children_before, linked, linked_before)


# Saving ----------------------------------------------------------------------------------------------------------


def _action(planned: _Planned, changed: bool) -> str:
    if not planned.existed:
        return CREATED
    return UPDATED if changed else UNCHANGED


def _save(plan: _Plan) -> list[Outcome]:
    outcomes = []
    for role in schema.CONNECTION_ROLES:
        planned = plan.connections[role]
        action = _action(planned, planned.changed(CONNECTION_ATTRS))
        if action != UNCHANGED:
            planned.instance.save()
        outcomes.append(Outcome(str(Connection._meta.verbose_name), planned.instance.name, action))

    integration = plan.integration.instance
    old_links = (integration.erp_connection_id, integration.crm_connection_id)
    integration.erp_connection = plan.connections["erp"].instance
    integration.crm_connection = plan.connections["crm"].instance
    relinked = old_links != (integration.erp_connection_id, integration.crm_connection_id)
    action = _action(plan.integration, plan.integration.changed(INTEGRATION_ATTRS) or relinked)
    if action != UNCHANGED:
        integration.save()
    outcomes.append(Outcome(str(Integration._meta.verbose_name), integration.name, action))

    for planned in plan.tables:
        table = planned.instance
        table.integration = integration
        new_mappings = [_snapshot(mapping, MAPPING_ATTRS) for mapping in planned.children]
        mappings_changed = new_mappings != planned.children_before
        relinked_table = planned.linked_name != planned.linked_name_before
        action = _action(planned, planned.changed(TABLE_ATTRS) or mappings_changed or relinked_table)
        if action != UNCHANGED:
            table.save()
        if action == CREATED or mappings_changed:
            table.mappings.all().delete()
            for mapping in planned.children:
                mapping.table = table
            FieldMapping.objects.bulk_create(planned.children)
        outcomes.append(Outcome(str(SyncTable._meta.verbose_name), table.name, action))

    saved = {planned.instance.name: planned.instance for planned in plan.tables}
    for planned in plan.tables:
        linked = saved.get(planned.linked_name)
        if (linked.pk if linked else None) != planned.instance.read_per_link_of_id:
            planned.instance.read_per_link_of = linked
            planned.instance.save(update_fields=["read_per_link_of"])

    for table in plan.missing_tables:
        action = DEACTIVATED if table.active else LEFT_INACTIVE
        if table.active:
            table.active = False
            table.save(update_fields=["active"])
        outcomes.append(Outcome(str(SyncTable._meta.verbose_name), table.name, action))
    return outcomes
