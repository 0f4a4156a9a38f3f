"""Custom fields named in a file by a stand-in key, their real keys looked up by name in the CRM on import.

Ploomes gives every account's custom fields keys of their own (``contact_4F1E2A…``), listed at ``/Fields``
with their name and entity. A file shared between accounts (a preset) writes a stand-in key wherever a
field is used (``OtherProperties[FieldKey=contact_ERP_CODE].StringValue``, a count query, a filter) and
names the field in ``custom_fields``; the import reads the connection's ``/Fields`` of that entity, finds
the field by its name (spaces and letter case aside) and writes its key in place of the stand-in
everywhere in the tables. A field that is missing, or named twice, is a problem of the file: nothing is saved.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator

from django.utils.translation import gettext as _

from ..choices import AuthKind, ConnectionKind
from ..connectors import connector_for
from ..connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from ..models import Connection
from .problems import Problems
from .schema import Record

FIELDS_PATH = "/Fields"
MOST_FIELDS = 2000  # an entity with more custom fields than this is read no further
SHOWN_NAMES = 12  # names listed in the message of a field not found


def field_keys(records: list[Record], connections: dict[str, Connection], problems: Problems) -> dict[str, str]:
    """``{stand-in key: the CRM's key}`` of each custom field; a problem for each one not found once."""
    keys: dict[str, str] = {}
    listed: dict[tuple[str, int], list[dict] | None] = {}
    for record in records:
        role, entity = record.attrs.get("connection") or "crm", record.attrs["entity"]
        connection = connections.get(role)
        if connection is None:
            continue  # the connection has problems of its own
        if connection.kind != ConnectionKind.REST or connection.auth_kind == AuthKind.OAUTH2_CODE:
            problems.add(
                record.path,
                _(
                    "custom fields are looked up on a REST connection whose credentials are in the file "
                    "(not one authorized with the Authorize button): write the keys themselves instead"
                ),
            )
            continue
        if any(fields is None for (other, _entity), fields in listed.items() if other == role):
            continue  # the connection could not be read: said once
        if (role, entity) not in listed:
            listed[role, entity] = _listed(connection, entity, record, problems)
        fields = listed[role, entity]
        if fields is None:
            continue
        name = record.attrs["name"]
        found = [item for item in fields if _same_name(item.get("Name"), name)]
        if len(found) == 1 and isinstance(found[0].get("Key"), str) and found[0]["Key"]:
            keys[record.attrs["key"]] = found[0]["Key"]
        elif found:
            problems.add(
                (*record.path, "name"),
                _(
                    '%(connection)s has %(count)d custom fields called "%(name)s" on entity %(entity)d: '
                    "rename all but one"
                )
                % {"connection": connection.name, "count": len(found), "name": name, "entity": entity},
            )
        else:
            names = sorted(str(item.get("Name")) for item in fields if item.get("Name"))
            problems.add(
                (*record.path, "name"),
                _(
                    '%(connection)s has no custom field called "%(name)s" on entity %(entity)d: create it there, '
                    "or write the name it has (it has: %(names)s)"
                )
                % {
                    "connection": connection.name,
                    "name": name,
                    "entity": entity,
                    "names": ", ".join(names[:SHOWN_NAMES]) + (" …" if len(names) > SHOWN_NAMES else "")
                    if names
                    else _("none"),
                },
            )
    return keys


def with_keys(data: dict, keys: dict[str, str]) -> dict:
    """A copy of the parsed file whose tables hold the CRM's keys in place of the stand-ins (whole words only)."""
    if not keys:
        return data
    pattern = re.compile(
        r"(?<![\w])(" + "|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True)) + r")(?![\w])"
    )
    replaced = copy.deepcopy(data)
    replaced["tables"] = _replace(replaced.get("tables"), lambda text: pattern.sub(lambda m: keys[m.group(1)], text))
    return replaced


def _replace(value, change):
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_replace(item, change) for item in value]
    if isinstance(value, dict):
        return {_replace(key, change): _replace(item, change) for key, item in value.items()}
    return value


def _listed(connection: Connection, entity: int, record: Record, problems: Problems) -> list[dict] | None:
    """The custom fields of ``entity`` the connection lists; None (and a problem) when they cannot be read."""
    config = ConnectionConfig.from_model(connection, max_retries=1)
    try:
        with connector_for(config) as source:
            return list(_pages(source, entity))
    except ConnectorError as error:
        problems.add(
            record.path,
            _("the custom fields of entity %(entity)d could not be read from %(connection)s: %(error)s")
            % {"entity": entity, "connection": connection.name, "error": error.message},
        )
        return None


def _pages(source, entity: int) -> Iterator[dict]:
    request = ReadRequest(source_object=FIELDS_PATH, arguments={"$filter": f"EntityId eq {entity}"})
    token, count = None, 0
    while True:
        page = source.read_page(dataclasses.replace(request, page_token=token))
        for item in page.records:
            if isinstance(item, dict):
                count += 1
                yield item
        token = page.next_token
        if token is None or count >= MOST_FIELDS:
            return


def _same_name(left, right) -> bool:
    return isinstance(left, str) and left.strip().casefold() == str(right).strip().casefold()
