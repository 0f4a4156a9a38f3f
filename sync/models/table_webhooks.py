"""A table's webhook settings checked: which events it takes, where their records are, and who owns them.

One integration processes a connection's webhooks: a table of another integration naming event types of
the same source connection is refused, so an event is never claimed by one integration and missed by another.
"""

import re

from django.db.models import Q
from django.utils.translation import gettext as _

from ..choices import ConnectionKind, Direction


def reading_webhooks(tables, connection):
    """Those of ``tables`` that take webhooks from ``connection``: they read it and name event types."""
    reads = Q(direction=Direction.ERP_TO_CRM, integration__erp_connection=connection) | Q(
        direction=Direction.CRM_TO_ERP, integration__crm_connection=connection
    )
    return tables.filter(reads).exclude(webhook_event_types="", webhook_delete_types="")


def takes_webhooks(table) -> bool:
    """The table names webhook events: records to write, or deletes."""
    return bool(table.webhook_event_types.strip() or table.webhook_delete_types.strip())


def named_types(text: str) -> set[str]:
    """The event types a list names (separated by spaces or commas)."""
    return {name for name in re.split(r"[\s,]+", text.strip()) if name}


def webhook_errors(table) -> dict[str, list]:
    """Problems with ``table``'s webhook settings, by field."""
    if not takes_webhooks(table):
        if table.webhook_records_path or table.webhook_fetch_object or table.webhook_key_path:
            return {"webhook_event_types": [_("Name the webhook events this table processes, or * for all.")]}
        return {}
    errors = {}
    both = named_types(table.webhook_event_types) & named_types(table.webhook_delete_types)
    if both:
        errors["webhook_delete_types"] = [
            _("%(types)s cannot both write and delete the record: name each event type once.")
            % {"types": ", ".join(sorted(both))}
        ]
    if "*" in named_types(table.webhook_delete_types):
        errors["webhook_delete_types"] = [_("Name the event types that delete: * would delete on every event.")]
    if table.webhook_fetch_object and "{key}" not in table.webhook_fetch_object:
        errors["webhook_fetch_object"] = [_("The path must contain {key}, where the record's key goes.")]
    elif table.webhook_fetch_object and table.integration_id and table.reads_from().kind != ConnectionKind.REST:
        errors["webhook_fetch_object"] = [_("Records are read one by one from a REST connection only.")]
    if table.webhook_key_path and not (table.webhook_fetch_object or table.webhook_delete_types.strip()):
        errors["webhook_key_path"] = [
            _("The key path is read to fetch the record or to delete it: fill in where from, or the delete types.")
        ]
    if table.integration_id:
        errors |= _owner_errors(table)
    return errors


def _owner_errors(table) -> dict[str, list]:
    source = table.reads_from()
    others = reading_webhooks(type(table).objects.exclude(integration_id=table.integration_id), source)
    other = others.select_related("integration").first()
    if other is None:
        return {}
    message = _("Webhooks from %(connection)s already go to the integration %(name)s.") % {
        "connection": source.name,
        "name": other.integration.name,
    }
    return {"webhook_event_types": [message]}
