"""Which table processes a webhook event: the tables reading its connection that name its event type.

An event's body is one event, or (HubSpot) a JSON list of events, each of its own type. Each event is
routed on its own type (at the receiver's event type path, or the scheme's usual one) to every active
table of the integration that reads the receiver's connection and names that type (``*``: every type).
A table finds its record(s) in the event at its ``webhook_records_path`` (blank: the event itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..models import Integration, SyncTable, WebhookReceiver
from ..models.table_webhooks import named_types, reading_webhooks
from ..paths import MISSING, get_path
from .identity import item_event_type

ANY_EVENT = "*"


class Unreadable(Exception):
    """The event's body cannot be read as JSON: nothing in it can be routed."""


def event_types(table: SyncTable) -> set[str]:
    """The event types whose records a table writes."""
    return named_types(table.webhook_event_types)


def deletes_on(table: SyncTable, event_type: str) -> bool:
    """Events of ``event_type`` say the table's record was deleted in the source."""
    return bool(event_type) and event_type in named_types(table.webhook_delete_types)


def takes(table: SyncTable, event_type: str) -> bool:
    names = event_types(table)
    return ANY_EVENT in names or event_type in names or deletes_on(table, event_type)


def items_of(body: str) -> list:
    """The events a body holds: the items of a JSON list (a batch), else the body itself."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Unreadable from None
    return document if isinstance(document, list) else [document]


def item_type(receiver: WebhookReceiver, item) -> str:
    """The type of one event of a body, as the inbox names it (blank when the event names none)."""
    return item_event_type(receiver.scheme, item, receiver.event_type_path)


def webhook_tables(integration: Integration, receiver: WebhookReceiver) -> list[SyncTable]:
    """The integration's active tables that take webhooks from the receiver's connection, in run order."""
    tables = SyncTable.objects.filter(integration=integration, active=True)
    return list(reading_webhooks(tables, receiver.connection_id).prefetch_related("mappings").order_by("order", "pk"))


def integration_of(receiver: WebhookReceiver) -> Integration | None:
    """The integration whose tables take the receiver's webhooks (one at most: the tables' checks see to it)."""
    table = reading_webhooks(SyncTable.objects.filter(active=True), receiver.connection_id).first()
    return table.integration if table is not None else None


@dataclass
class Routed:
    """One inbox event, split by table: the events of its body each table takes."""

    items: dict[int, list] = field(default_factory=dict)  # table pk -> the events of the body it takes
    types: list[str] = field(default_factory=list)  # the types of the body's events, in order

    @property
    def untaken(self) -> bool:
        return not self.items


def route(receiver: WebhookReceiver, body: str, tables: list[SyncTable]) -> Routed:
    """The events of ``body`` each of ``tables`` takes (``Unreadable`` when the body is no JSON)."""
    routed = Routed()
    for item in items_of(body):
        kind = item_type(receiver, item)
        routed.types.append(kind)
        for table in tables:
            if takes(table, kind):
                routed.items.setdefault(table.pk, []).append(item)
    return routed


def records_in(table: SyncTable, item) -> list | None:
    """The record(s) one event holds for ``table`` (a list at the records path: several); None when absent."""
    found = get_path(item, table.webhook_records_path) if table.webhook_records_path else item
    if found is MISSING or found is None:
        return None
    return found if isinstance(found, list) else [found]
