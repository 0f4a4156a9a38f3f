"""The three batch shapes of the REST connector: what one call sends, and which write each answer is for.

Each shape builds the body of one call from the writes still to send (keyed by their index in the
batch), sends it once through the connector (:func:`post`: one attempt under the transport) and
maps the answer back to those indexes (:data:`Outcomes`); a write the shape cannot send at all is
refused before the call (``refuse``). ``idempotent``: the call may be sent again as it is. A blank
path is the shape's usual one under the target object: ``{collection}/batch/upsert`` (HubSpot),
``$batch`` under the base URL (OData), the collection itself (JSON array).

* **HubSpot** ``batch/upsert`` — ``{"inputs": [{"idProperty", "id", "properties",
  "objectWriteTraceId"}]}``. HubSpot documents per-input errors for inputs that carry a unique
  ``objectWriteTraceId``: a 207 Multi-Status whose ``errors`` name their inputs in
  ``context.objectWriteTraceId`` (duplicate ids are named in ``context.ids``); results are matched by
  their ``objectWriteTraceId`` when they hold one, else by the ``idProperty`` value in their
  ``properties`` (HubSpot does not promise their order). An upsert by ``idProperty`` is idempotent.
* **OData v4 JSON batch** (Business Central) — ``{"requests": [{"id", "method", "url", "headers",
  "body"}]}``, urls relative to the service root: a create POSTs to the collection, an update
  PATCHes ``object(key)`` with ``If-Match: *`` (Business Central requires ``If-Match`` on a PATCH;
  ``*`` matches any version). ``{"responses": [{"id", "status", "body"}]}`` is matched by ``id``; a
  refused request says why in ``body.error.message``.
* **JSON array** — the bodies as one array (an update is sent as its values: the API tells records
  apart by the key they hold), answered by one item per body, in order; an item that holds an error
  and no key is that record's refusal.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from core import stored_messages as stored
from sync import paths

from ..base import BatchOutcome, BatchWrite, ConnectorError
from .batch_words import hubspot_reason, reason_in, refused, unexpected
from .queries import collection_path, record_path, split_method

CREATE, UPDATE = "create", "update"  # BatchWrite.operation; anything else is sent as an upsert
HUBSPOT_LIMIT = 100  # inputs per batch/upsert call
ODATA_LIMIT = 100  # requests per $batch call (Business Central)
KEY_NAMES = ("id", "Id", "ID")  # where a written record keeps its key, besides the write's own key field
ERROR_KEYS = ("error", "errors")
_SIMPLE_KEY = re.compile(r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")

# What a shape answers for the writes it sent: their outcomes by index in the batch.
Outcomes = dict[int, BatchOutcome]


class HubSpotUpsert:
    """HubSpot's ``batch/upsert``: inputs keyed by ``idProperty``, per-input errors in a 207."""

    idempotent = True

    def __init__(self, connector, path: str, target_object: str):
        self.connector = connector
        collection = collection_path(split_method(target_object, "POST")[1]).rstrip("/")
        self.url = connector.listing.absolute(split_method(path, "POST")[1] or f"{collection}/batch/upsert")

    def refuse(self, write: BatchWrite) -> ConnectorError | None:
        if (write.key_field and write.key_value not in (None, "")) or write.target_key:
            return None
        return self.connector.transport.error(
            stored.gettext(
                "The record has no value for its key field %(field)s: it cannot be upserted.",
                field=write.key_field or "?",
            ),
            record_level=True,
        )

    def send(self, writes: dict[int, BatchWrite], exchanges) -> Outcomes:
        inputs = [_hubspot_input(index, write) for index, write in writes.items()]
        data = post(self.connector, self.url, {"inputs": inputs}, exchanges)
        if not isinstance(data, dict):
            raise unexpected(self.connector, data)
        outcomes: Outcomes = {}
        for result in data.get("results") or []:
            index = _hubspot_owner(result, writes)
            if index is not None and isinstance(result, dict):
                outcomes[index] = BatchOutcome(record=result)
        unplaced = []
        for error in data.get("errors") or []:
            indexes = _hubspot_error_owners(error, writes) if isinstance(error, dict) else []
            refusal = refused(self.connector, hubspot_reason(error), status=_status_of(error, 0))
            for index in indexes:
                outcomes[index] = BatchOutcome(error=refusal)
            if not indexes:
                unplaced.append(refusal)
        if unplaced:  # an error naming no input: said for every input left without an answer
            for index in writes:
                outcomes.setdefault(index, BatchOutcome(error=unplaced[0]))
        return outcomes


class ODataBatch:
    """An OData v4 JSON ``$batch`` (Business Central): a POST or a PATCH per write, answers matched by id."""

    idempotent = False

    def __init__(self, connector, path: str, target_object: str):
        self.connector = connector
        self.url = connector.listing.absolute(split_method(path, "POST")[1] or "$batch")
        self.object = split_method(target_object, "POST")[1].lstrip("/")

    def refuse(self, write: BatchWrite) -> ConnectorError | None:
        if write.operation == UPDATE and not write.target_key:
            return self.connector.transport.error(
                stored.gettext("The update has no target key: the record to change is not known."),
                record_level=True,
            )
        return None

    def request(self, number: str, write: BatchWrite) -> dict:
        headers = {"Content-Type": "application/json"}
        if write.operation == UPDATE:
            headers["If-Match"] = "*"  # Business Central refuses a PATCH without If-Match; * matches any version
            return {
                "id": number,
                "method": "PATCH",
                "url": odata_record_url(self.object, write.target_key),
                "headers": headers,
                "body": write.values,
            }
        return {
            "id": number,
            "method": "POST",
            "url": collection_path(self.object),
            "headers": headers,
            "body": write.values,
        }

    def send(self, writes: dict[int, BatchWrite], exchanges) -> Outcomes:
        requests = [self.request(str(index + 1), write) for index, write in writes.items()]
        data = post(self.connector, self.url, {"requests": requests}, exchanges)
        if not isinstance(data, dict) or not isinstance(data.get("responses"), list):
            raise unexpected(self.connector, data)
        outcomes: Outcomes = {}
        for response in data["responses"]:
            if not isinstance(response, dict):
                continue
            index = _number(response.get("id"))
            if index is None or index not in writes:
                continue
            status = _status_of(response, 0)
            body = response.get("body")
            if 200 <= status < 300:
                outcomes[index] = BatchOutcome(record=_written(body, writes[index]))
            else:
                outcomes[index] = BatchOutcome(error=refused(self.connector, reason_in(body), status=status))
        return outcomes


class JsonArray:
    """A POST of the bodies as one JSON array, answered by one item per body, in order."""

    idempotent = False

    def __init__(self, connector, path: str, target_object: str):
        self.connector = connector
        collection = collection_path(split_method(target_object, "POST")[1])
        self.url = connector.listing.absolute(split_method(path, "POST")[1] or collection)

    def refuse(self, write: BatchWrite) -> ConnectorError | None:
        return None

    def send(self, writes: dict[int, BatchWrite], exchanges) -> Outcomes:
        indexes = list(writes)
        data = post(self.connector, self.url, [writes[index].values for index in indexes], exchanges)
        items = data
        records_path = self.connector.config.records_path.strip()
        if isinstance(data, dict) and records_path:
            items = paths.get_path(data, records_path)
        if not isinstance(items, list) or len(items) != len(indexes):
            raise self.connector.transport.error(
                stored.gettext(
                    "The batch answer holds %(answered)s results for %(sent)s records: they cannot be told apart.",
                    answered=len(items) if isinstance(items, list) else 0,
                    sent=len(indexes),
                )
            )
        outcomes: Outcomes = {}
        for index, item in zip(indexes, items, strict=True):
            if isinstance(item, dict) and _is_refusal(item, writes[index].key_field):
                outcomes[index] = BatchOutcome(
                    error=refused(self.connector, reason_in(item), status=_status_of(item, 0))
                )
            elif isinstance(item, dict):
                outcomes[index] = BatchOutcome(record=item)
        return outcomes


def post(connector, url: str, payload, exchanges):
    """One attempt of the batch call through the connector's own attempt (rate budget, call record, words):
    the decoded answer; a failed status raises ``AttemptFailed`` for the retry policy."""
    response = connector._attempt("POST", url, exchanges, body=payload, operation="batch", write=True)
    return connector._json(response)


def odata_record_url(object_path: str, key) -> str:
    """``customers({id})`` with the key; without a template, ``object(key)``: a number or GUID as it is
    (Business Central's ids are GUIDs, unquoted), any other key as a quoted OData string."""
    if "{id}" in object_path:
        return record_path(object_path, key)
    text = str(key)
    literal = text if _SIMPLE_KEY.match(text) else "'" + quote(text.replace("'", "''"), safe="") + "'"
    return f"{object_path.rstrip('/')}({literal})"


def _hubspot_input(index: int, write: BatchWrite) -> dict:
    item: dict = {"properties": write.values, "objectWriteTraceId": str(index)}
    if write.key_field and write.key_value not in (None, ""):
        item["idProperty"] = write.key_field
        item["id"] = str(write.key_value)
    else:
        item["id"] = str(write.target_key)  # HubSpot's own record id
    return item


def _hubspot_owner(result, writes: dict[int, BatchWrite]) -> int | None:
    """Which write a HubSpot result answers: its trace id, else its idProperty value, else its record id."""
    if not isinstance(result, dict):
        return None
    trace = _number(result.get("objectWriteTraceId"), base=0)
    if trace is not None and trace in writes:
        return trace
    properties = result.get("properties") if isinstance(result.get("properties"), dict) else {}
    for index, write in writes.items():
        if write.key_field and write.key_value not in (None, ""):
            value = properties.get(write.key_field)
            if value is not None and str(value).casefold() == str(write.key_value).casefold():
                return index
        elif write.target_key and str(result.get("id")) == str(write.target_key):
            return index
    return None


def _hubspot_error_owners(error: dict, writes: dict[int, BatchWrite]) -> list[int]:
    context = error.get("context") if isinstance(error.get("context"), dict) else {}
    traces = [_number(trace, base=0) for trace in context.get("objectWriteTraceId") or []]
    owners = [trace for trace in traces if trace is not None and trace in writes]
    if owners:
        return owners
    ids = {str(value).casefold() for value in context.get("ids") or []}
    return [
        index
        for index, write in writes.items()
        if str(write.key_value if write.key_value not in (None, "") else write.target_key).casefold() in ids
    ]


def _written(body, write: BatchWrite) -> dict:
    """The record an accepted request answered; an update answered without a body (204) keeps its key."""
    if isinstance(body, dict) and body:
        return body
    return {"id": write.target_key} if write.operation == UPDATE else {}


def _is_refusal(item: dict, key_field: str) -> bool:
    has_key = any(item.get(name) not in (None, "") for name in (*KEY_NAMES, key_field) if name)
    said = any(item.get(name) for name in ERROR_KEYS) or bool(item.get("message"))
    return said and not has_key


def _status_of(item, default: int) -> int:
    status = item.get("status") if isinstance(item, dict) else None
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    return status if isinstance(status, int) and not isinstance(status, bool) else default


def _number(value, base: int = 1) -> int | None:
    """A request id or trace id back to the write's index (ids count from ``base``)."""
    text = str(value) if value is not None else ""
    return int(text) - base if text.isdigit() and int(text) >= base else None
