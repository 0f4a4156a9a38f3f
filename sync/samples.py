"""A table's source sampled: its first records, read as a sync reads them, and their fields as paths.

The sample is one read of the table's source connection (the ERP's for a table moving ERP → CRM,
the CRM's otherwise): the first page of the table's source object with its read arguments and
incremental filter but no cursor, at most :data:`SAMPLE_SIZE` records, without retries and without
recording the call (no request log; it counts in the connection's rate budget as any call does). A
table read once per link of another asks for the records of that table's first links.

Each field is given as a path :func:`sync.paths.get_path` reads: ``Address.City`` for nested
objects, ``Products[].Code`` for the items of a list of objects (what a sub-list's mappings read;
``Products[0].Code`` reads the first item only), ``OtherProperties[FieldKey=ERP_CODE].StringValue``
for a list of objects told apart by a ``…Key`` field (how CRMs keep custom fields). What is shown is
redacted: secret-looking fields and the connections' secrets are masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from core import json_text
from core.redaction import redact_text
from core.storable import repaired_text

from . import budgets, oauth_tokens
from .choices import Direction
from .connectors import connector_for
from .connectors.base import ConnectionConfig, ReadRequest
from .models import Connection, SyncTable
from .per_link import PerLinkReader

SAMPLE_SIZE = 10
MOST_PATHS = 400  # a record with more fields than this lists the first ones
DEEPEST = 8  # objects nested deeper than this are shown whole
EXAMPLE_LENGTH = 80

KINDS = {
    "text": _("text"),
    "number": _("number"),
    "boolean": _("yes/no"),
    "null": _("null"),
    "list": _("list"),
    "object": _("object"),
}


@dataclass
class SampledField:
    """One path found in the sample: an example value (redacted, as JSON), its kind, how many records hold it."""

    path: str
    example: str
    kind: str
    present_in: int


@dataclass
class Sample:
    """The records read (as read: for the preview only, never shown as they are) and the secrets to mask."""

    records: list
    secrets: list[str]

    def shown(self, record) -> str:
        """A record as indented JSON, redacted."""
        return indented_text(record, self.secrets)

    def fields(self) -> list[SampledField]:
        return sampled_fields([redacted(record, self.secrets) for record in self.records])


def source_connection(table: SyncTable) -> Connection:
    """The connection a sync reads ``table`` from (the other side of :meth:`SyncTable.writes_to`)."""
    integration = table.integration
    return integration.erp_connection if table.direction == Direction.ERP_TO_CRM else integration.crm_connection


def connection_secrets(*connections: Connection) -> list[str]:
    return [secret for connection in connections for secret in ConnectionConfig.from_model(connection).secrets()]


def read_sample(table: SyncTable, size: int = SAMPLE_SIZE) -> Sample:
    """The first ``size`` records of ``table``'s source; ``ConnectorError`` (its message for the user) when it fails."""
    connection = source_connection(table)
    config = ConnectionConfig.from_model(connection, page_size=size, max_retries=0)
    request = ReadRequest.for_table(table)
    tokens = oauth_tokens.for_connection(connection)
    with connector_for(config, budget=budgets.for_connection(connection), tokens=tokens) as source:
        if table.read_per_link_of_id is not None:
            keys = PerLinkReader(table, source, page_log=None).keys(0)[:size]
            records = [record for record in (source.read_one(request, key) for key in keys) if record is not None]
        else:
            records = source.read_page(request).records[:size]
    secrets = connection_secrets(connection, table.writes_to())
    return Sample([repaired_text(record)[0] for record in records], secrets)


def redacted(value, secrets):
    """``value`` with secret-looking fields and the ``secrets`` masked (as :func:`core.redaction.redact_text` does)."""
    text = redact_text(json_text.dumps(value), secrets)
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def indented_text(value, secrets) -> str:
    """``value`` redacted, as indented JSON whose numbers keep their digits (129.90 stays 129.90)."""
    return indented(redacted(value, secrets))


def indented(value, depth: int = 0) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, Mapping) and value:
        items = (f"{inner}{json_text.dumps(str(key))}: {indented(item, depth + 1)}" for key, item in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and value:
        return "[\n" + ",\n".join(f"{inner}{indented(item, depth + 1)}" for item in value) + f"\n{pad}]"
    return json_text.dumps(value)


def sampled_fields(records: list) -> list[SampledField]:
    """Every path of the sampled records, in the order first seen, with the first non-empty example."""
    examples: dict[str, object] = {}
    counts: dict[str, int] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        found: dict[str, object] = {}
        _walk(record, "", found, 0)
        for path, value in found.items():
            if path not in examples and len(examples) >= MOST_PATHS:
                continue
            counts[path] = counts.get(path, 0) + 1
            if path not in examples or (_empty(examples[path]) and not _empty(value)):
                examples[path] = value
    return [SampledField(path, _example(value), _kind(value), counts[path]) for path, value in examples.items()]


def _walk(value, prefix: str, found: dict, depth: int) -> None:
    if isinstance(value, Mapping) and value and depth < DEEPEST:
        for key, item in value.items():
            _walk(item, f"{prefix}.{key}" if prefix else str(key), found, depth + 1)
        return
    if _objects(value) and depth < DEEPEST:
        key_field = _key_field(value)
        if key_field is not None:
            for item in value:
                inside = {name: item[name] for name in item if name != key_field}
                _walk(inside, f"{prefix}[{key_field}={item[key_field]}]", found, depth + 1)
        for item in value:
            _walk(item, f"{prefix}[]", found, depth + 1)
        return
    found.setdefault(prefix, value)


def _objects(value) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _key_field(items) -> str | None:
    """The field that tells the items apart, when its name ends in "key" (``FieldKey``): each item's own text."""
    for name in items[0]:
        if not str(name).lower().endswith("key"):
            continue
        values = [item.get(name) for item in items]
        texts = [str(v) for v in values if isinstance(v, str | int) and not isinstance(v, bool)]
        if len(texts) == len(items) and len(set(texts)) == len(texts) and all(_plain(text) for text in texts):
            return str(name)
    return None


def _plain(text: str) -> bool:
    """Text a ``[Field=value]`` step reads back as it is (no brackets, no quotes, no spaces around)."""
    return bool(text) and text == text.strip() and not any(char in text for char in "[]='\"")


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _kind(value) -> str:
    if value is None:
        return KINDS["null"]
    if isinstance(value, bool):
        return KINDS["boolean"]
    if isinstance(value, int | float | Decimal):
        return KINDS["number"]
    if isinstance(value, list | tuple):
        return KINDS["list"]
    if isinstance(value, Mapping):
        return KINDS["object"]
    return KINDS["text"]


def _example(value) -> str:
    text = json_text.dumps(value)
    return text if len(text) <= EXAMPLE_LENGTH else text[: EXAMPLE_LENGTH - 1] + "…"
