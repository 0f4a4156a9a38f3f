"""Real batch-write APIs on 127.0.0.1 for connector tests: HubSpot, Business Central and a JSON-array API.

Each is a context manager (a fixture that ``yield``s inside ``with`` stops it on teardown, also when the
test fails), holds its records so that tests read them back as the API keeps them, counts the calls it
received and answers as the real API does, refusals included:

* :class:`FakeHubSpot` — ``POST /crm/v3/objects/{type}/batch/upsert`` on contacts, companies and products
  (the reading routes, list, one object and search, are listed on the class). More than 100 inputs: 400; the
  same id twice: 400 "Duplicate IDs found in batch input: [...]. IDs must be unique" with
  ``context.ids``; an unknown property or a value of the wrong type fails that input: with an
  ``objectWriteTraceId`` on every input, a 207 whose ``errors`` name the input in
  ``context.objectWriteTraceId`` while the others are written, else a 400 for the whole batch and
  nothing written. Property values are kept as HubSpot keeps them: text. Results come back shuffled.
* :class:`FakeBusinessCentral` — ``POST /api/v2.0/$batch`` (JSON batch, at most 100 requests, else
  400), ``POST companies({company})/customers`` → 201 with ``id`` and the fields, ``PATCH
  customers({id})`` (``If-Match`` required) → 200, an unknown id → 404 in that response, a property
  unknown or of the wrong type → 400 in that response with BC's error body; responses shuffled.
  ``GET /api/v2.0/companies({company})/customers?$filter=number eq 'X'`` finds a customer.
* :class:`FakeArrayApi` — ``POST /bulk/contacts`` with an array of records → an array of results in
  order (``{"error": …}`` for a record refused); ``GET /bulk/contacts?Code=X``.

Fault knobs apply to the next batch call: :meth:`fail_next` (a status before any work, with
``Retry-After`` and the API's own body), :meth:`fail_after_next` (the batch is processed, then the
answer is a status, or the connection is dropped with status 0).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlencode

from tests.servers.local_http import LocalHandler, Received, ServedLocally

HUBSPOT_LIMIT = 100
BC_LIMIT = 100
HUBSPOT_PROPERTIES = {
    "email": "string",
    "firstname": "string",
    "lastname": "string",
    "company": "string",
    "erp_code": "string",
    "annualrevenue": "number",
    "numemployees": "number",
}
HUBSPOT_COMPANY_PROPERTIES = {
    "name": "string",
    "domain": "string",
    "cnpj": "string",
    "phone": "string",
    "city": "string",
    "state": "string",
    "erp_code": "string",
    "numberofemployees": "number",
    "annualrevenue": "number",
}
HUBSPOT_PRODUCT_PROPERTIES = {
    "name": "string",
    "hs_sku": "string",
    "price": "number",
    "description": "string",
}
HUBSPOT_LIST_LIMIT = 100
HUBSPOT_SEARCH_LIMIT = 200
HUBSPOT_SEARCH_CAP = 10_000
HUBSPOT_FILTER_GROUPS, HUBSPOT_GROUP_FILTERS, HUBSPOT_FILTERS = 5, 10, 25
# Properties every object answers with when none are asked for; the modified date is
# ``lastmodifieddate`` on contacts and ``hs_lastmodifieddate`` on every other object.
HUBSPOT_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
}
HUBSPOT_OBJECT_PATH = re.compile(r"^/crm/v3/objects/(?P<type>[^/]+)(?:/(?P<rest>.+))?$")
HUBSPOT_CLOCK_START = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
BC_CUSTOMER = {
    "number": "string",
    "displayName": "string",
    "email": "string",
    "creditLimit": "decimal",
    "taxLiable": "boolean",
}


@dataclass
class Fault:
    kind: str  # before | after
    status: int
    retry_after: str | None = None
    body: object = None


@dataclass
class JsonServer(ServedLocally):
    """What the three APIs share: lifecycle, bearer auth, the requests received, the fault queue."""

    token: str = ""
    seed: int = 7  # the order of shuffled answers
    received: list[Received] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self):
        self.random = random.Random(self.seed)
        return self.serve(_Handler)

    def fail_next(self, status: int, *, retry_after: str | None = None, body=None) -> None:
        """The next batch call is refused with ``status`` before any work."""
        with self._lock:
            self.faults.append(Fault("before", status, retry_after, body))

    def fail_after_next(self, status: int = 500) -> None:
        """The next batch call is processed, then answered ``status`` (0: the connection is dropped)."""
        with self._lock:
            self.faults.append(Fault("after", status))

    def batch_calls(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and self.is_batch(r.path)]

    def take_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def shuffled(self, items: list) -> list:
        with self._lock:
            items = list(items)
            self.random.shuffle(items)
            return items

    def authorized(self, headers) -> bool:
        return not self.token or headers.get("Authorization") == f"Bearer {self.token}"

    # What each API defines.
    def is_batch(self, path: str) -> bool:
        raise NotImplementedError

    def refused_fault(self, fault: Fault) -> dict:
        raise NotImplementedError

    def unauthorized(self) -> dict:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict, body) -> tuple[int, object]:
        raise NotImplementedError


# --- HubSpot ---------------------------------------------------------------------------------------------


@dataclass
class FakeHubSpot(JsonServer):
    """HubSpot CRM v3 objects (contacts, companies, products): ``batch/upsert``, the list, one object, search.

    The reading routes copy the real API's behaviour (HubSpot's CRM objects and search guides):

    * ``GET /crm/v3/objects/{type}?limit=&after=&properties=a,b``: ``limit`` 10 by default, at most 100
      (more: 400 VALIDATION_ERROR); objects by id; ``paging.next`` carries an opaque ``after`` and a
      ``link``, and is absent on the last page. Asked properties the object has no value for come back as
      ``null``, unknown ones are left out; ``hs_object_id``, ``createdate`` and the modified date always
      come back; without ``properties`` the object's default set does.
    * ``GET /crm/v3/objects/{type}/{id}``: one object, or 404 OBJECT_NOT_FOUND.
    * ``POST /crm/v3/objects/{type}/search``: filter groups ORed, the filters of a group ANDed (at most 5
      groups, 10 filters a group, 25 in all, as HubSpot's August 2024 changelog says); ``limit`` at most 200;
      ``after`` is an offset; ``total`` counts every match. Paging offers the next offset even where it
      reaches :attr:`search_cap` (10,000, "the search endpoints are limited to 10,000 total results"), and
      asking for it answers 400. Dates filter by epoch milliseconds or ISO 8601. Without ``sorts``, objects
      come in the order they were created.
    * The modified date is ``lastmodifieddate`` on contacts and ``hs_lastmodifieddate`` on companies and
      products, as HubSpot names them; every stamp is ISO 8601 with milliseconds, read from :attr:`clock`.
    * An object type HubSpot would not know: 400 "Unable to infer object type from: …".
    """

    properties: dict[str, str] = field(default_factory=lambda: dict(HUBSPOT_PROPERTIES))  # contacts' typing
    schemas: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "companies": dict(HUBSPOT_COMPANY_PROPERTIES),
            "products": dict(HUBSPOT_PRODUCT_PROPERTIES),
        }
    )  # the other objects' typing; contacts' is ``properties``
    echo_trace_ids: bool = False  # results carry their input's objectWriteTraceId
    records: dict[str, dict] = field(default_factory=dict)  # contacts: id -> {"id", "properties", "createdAt"…}
    objects: dict[str, dict[str, dict]] = field(default_factory=dict)  # object type -> id -> record
    clock: datetime = HUBSPOT_CLOCK_START  # what every stamp reads; move it with advance()
    search_cap: int = HUBSPOT_SEARCH_CAP
    _next_id: int = 501

    def __post_init__(self) -> None:
        self.schemas["contacts"] = self.properties
        self.objects["contacts"] = self.records
        for object_type in self.schemas:
            self.objects.setdefault(object_type, {})

    def is_batch(self, path: str) -> bool:
        return path.endswith("/batch/upsert")

    def unauthorized(self) -> dict:
        return {
            "status": "error",
            "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            "correlationId": str(uuid.uuid4()),
            "category": "INVALID_AUTHENTICATION",
        }

    def refused_fault(self, fault: Fault) -> dict:
        if fault.body is not None:
            return fault.body
        if fault.status == 429:
            return {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            }
        return {"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())}

    def contacts(self) -> list[dict]:
        """The records held, oldest first: ``{"id", **properties}`` with HubSpot's text values."""
        with self._lock:
            return [{"id": record["id"], **record["properties"]} for record in self.records.values()]

    def contact(self, prop: str, value: str) -> dict | None:
        return next((c for c in self.contacts() if str(c.get(prop, "")).casefold() == value.casefold()), None)

    def route(self, method, path, query, body):
        match = HUBSPOT_OBJECT_PATH.match(path)
        if match and match["type"] not in self.schemas:
            return 400, _hubspot_error(f"Unable to infer object type from: {match['type']}")
        object_type, rest = (match["type"], match["rest"]) if match else (None, None)
        if method == "POST" and match and rest == "batch/upsert":
            return self.upsert(body, object_type)
        if method == "POST" and match and rest == "search":
            return self.search(object_type, body)
        if method == "GET" and match and rest is None:
            return self.list_objects(object_type, query)
        if method == "GET" and match and "/" not in rest:
            return self.read_one(object_type, rest, query)
        return 404, {"status": "error", "message": f"Unable to find a route for {method} {path}"}

    def upsert(self, body, object_type: str = "contacts") -> tuple[int, dict]:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            return 400, _hubspot_error("Invalid input JSON: inputs must be a list")
        if len(inputs) > HUBSPOT_LIMIT:
            return 400, _hubspot_error(
                f"The maximum number of inputs supported in a batch request is {HUBSPOT_LIMIT}. "
                "Please reduce the number of items and try again"
            )
        ids = [str(item.get("id")) for item in inputs]
        duplicates = sorted({value for value in ids if ids.count(value) > 1})
        if duplicates:
            return 400, _hubspot_error(
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
                context={"ids": duplicates},
            )
        problems = [self.invalid(item, object_type) for item in inputs]
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        if any(problems) and not traced:
            first = next(problem for problem in problems if problem)
            return 400, _hubspot_error(_invalid_message(first))
        started = self.stamp()
        results, errors = [], []
        for item, problem in zip(inputs, problems, strict=True):
            if problem:
                error = _hubspot_error(
                    _invalid_message(problem), context={"objectWriteTraceId": [item["objectWriteTraceId"]]}
                )
                error.pop("correlationId")
                errors.append(error)
                continue
            result = self.write(item, object_type)
            if self.echo_trace_ids and item.get("objectWriteTraceId"):
                result["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(result)
        answer = {
            "status": "COMPLETE",
            "results": self.shuffled(results),
            "startedAt": started,
            "completedAt": self.stamp(),
        }
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
            return 207, answer
        return 200, answer

    def invalid(self, item: dict, object_type: str = "contacts") -> list[dict]:
        """What HubSpot would say is wrong with one input: one entry per invalid property."""
        schema = self.schemas[object_type]
        problems = []
        properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
        id_property = item.get("idProperty")
        for name in ([id_property] if id_property else []) + list(properties):
            if name not in schema:
                text = f'Property "{name}" does not exist'
                problems.append(
                    {
                        "isValid": False,
                        "message": text,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": text,
                    }
                )
        for name, value in properties.items():
            if schema.get(name) == "number" and not _is_number(value):
                text = f"{value} was not a valid number."
                problems.append(
                    {
                        "isValid": False,
                        "message": text,
                        "error": "INVALID_FLOAT",
                        "name": name,
                        "localizedErrorMessage": text,
                    }
                )
        if not id_property and str(item.get("id")) not in self.objects[object_type]:
            problems.append(
                {
                    "isValid": False,
                    "message": f"Object {item.get('id')} was not found",
                    "error": "OBJECT_NOT_FOUND",
                    "name": "hs_object_id",
                    "localizedErrorMessage": "Object not found",
                }
            )
        return problems

    def write(self, item: dict, object_type: str = "contacts") -> dict:
        id_property, key = item.get("idProperty"), str(item.get("id"))
        values = {name: _hubspot_text(value) for name, value in (item.get("properties") or {}).items()}
        records, modified = self.objects[object_type], _modified_property(object_type)
        now = self.stamp()
        with self._lock:
            if id_property:
                found = next(
                    (
                        r
                        for r in records.values()
                        if str(r["properties"].get(id_property, "")).casefold() == key.casefold()
                    ),
                    None,
                )
            else:
                found = records.get(key)
            new = found is None
            if new:
                record_id = str(self._next_id)
                self._next_id += 1
                found = {
                    "id": record_id,
                    "properties": {"hs_object_id": record_id, "createdate": now},
                    "createdAt": now,
                }
                if id_property:
                    found["properties"][id_property] = key
                records[record_id] = found
            found["properties"].update(values, **{modified: now})
            found["updatedAt"] = now
            return {
                "id": found["id"],
                "properties": dict(found["properties"]),
                "createdAt": found["createdAt"],
                "updatedAt": now,
                "archived": False,
                "new": new,
            }

    # Clock, seeding and reading back.

    def advance(self, seconds: float) -> None:
        """Move the clock every stamp reads."""
        with self._lock:
            self.clock += timedelta(seconds=seconds)

    def stamp(self) -> str:
        return _iso_ms(self.clock)

    def seed_object(
        self,
        object_type: str,
        properties: dict,
        *,
        created: datetime | None = None,
        modified: datetime | None = None,
    ) -> str:
        """Hold one object as HubSpot would (values as text), stamped by the clock unless told; its id."""
        unknown = sorted(set(properties) - set(self.schemas[object_type]))
        if unknown:
            raise ValueError(f"{object_type} have no properties {unknown}")
        created = created or self.clock
        modified = modified or created
        with self._lock:
            record_id = str(self._next_id)
            self._next_id += 1
            self.objects[object_type][record_id] = {
                "id": record_id,
                "properties": {
                    **{name: _hubspot_text(value) for name, value in properties.items()},
                    "hs_object_id": record_id,
                    "createdate": _iso_ms(created),
                    _modified_property(object_type): _iso_ms(modified),
                },
                "createdAt": _iso_ms(created),
                "updatedAt": _iso_ms(modified),
            }
        return record_id

    def edit_object(self, object_type: str, record_id: str, properties: dict) -> None:
        """Someone edits one object in HubSpot's screens: its properties change, stamped by the clock."""
        with self._lock:
            record = self.objects[object_type][record_id]
            record["properties"].update({name: _hubspot_text(value) for name, value in properties.items()})
            record["properties"][_modified_property(object_type)] = record["updatedAt"] = _iso_ms(self.clock)

    def held(self, object_type: str) -> list[dict]:
        """The objects of one type, oldest first: ``{"id", **properties}`` with HubSpot's text values."""
        with self._lock:
            return [{"id": r["id"], **r["properties"]} for r in self.objects[object_type].values()]

    # Reading routes.

    def list_objects(self, object_type: str, query: dict) -> tuple[int, dict]:
        limit = _whole(query.get("limit", "10"))
        if limit is None or not 1 <= limit <= HUBSPOT_LIST_LIMIT:
            return 400, _hubspot_error(f"limit must be between 1 and {HUBSPOT_LIST_LIMIT}, got {query.get('limit')}")
        start = 0
        if query.get("after"):
            start = _decode_after(query["after"])
            if start is None:
                return 400, _hubspot_error(f"Invalid after: {query['after']}")
        asked = _asked(query.get("properties"))
        with self._lock:
            records = sorted(self.objects[object_type].values(), key=lambda r: int(r["id"]))
            records = [r for r in records if int(r["id"]) >= start]
            answer = {"results": [self.shown(object_type, r, asked) for r in records[:limit]]}
        if len(records) > limit:
            after = _encode_after(records[limit]["id"])
            link = f"{self.url}/crm/v3/objects/{object_type}?{urlencode({**query, 'after': after})}"
            answer["paging"] = {"next": {"after": after, "link": link}}
        return 200, answer

    def read_one(self, object_type: str, record_id: str, query: dict) -> tuple[int, dict]:
        with self._lock:
            record = self.objects[object_type].get(record_id)
            if record is not None:
                return 200, self.shown(object_type, record, _asked(query.get("properties")))
        error = _hubspot_error("Object not found.  objectId are usually numeric.", context={"id": [record_id]})
        error["category"] = "OBJECT_NOT_FOUND"
        return 404, error

    def search(self, object_type: str, body) -> tuple[int, dict]:
        if not isinstance(body, dict):
            return 400, _hubspot_error("Invalid input JSON on line 1, column 1: the body must be an object")
        limit = _whole(body.get("limit", 10))
        if limit is None or not 1 <= limit <= HUBSPOT_SEARCH_LIMIT:
            return 400, _hubspot_error(f"limit must be between 1 and {HUBSPOT_SEARCH_LIMIT}, got {body.get('limit')}")
        offset = _whole(body.get("after") or 0)
        if offset is None or offset < 0:
            return 400, _hubspot_error(f"Invalid after: {body.get('after')}")
        if offset >= self.search_cap:
            return 400, _hubspot_error(
                f"The search API cannot page past {self.search_cap} results: after={offset}. "
                "Narrow the query with filters to read the rest"
            )
        try:
            rows = self.matching(object_type, body)
        except _SearchRefusal as refusal:
            return 400, _hubspot_error(str(refusal))
        page = rows[offset : min(offset + limit, self.search_cap)]
        asked = [str(name) for name in body.get("properties") or []]
        with self._lock:
            answer = {"total": len(rows), "results": [self.shown(object_type, r, asked) for r in page]}
        if offset + len(page) < len(rows):
            answer["paging"] = {"next": {"after": str(offset + len(page))}}
        return 200, answer

    def matching(self, object_type: str, body: dict) -> list[dict]:
        """The objects a search's filter groups select, in its sort order (creation order by default)."""
        groups = body.get("filterGroups") or []
        filters = [f for group in groups for f in (group.get("filters") or [])]
        if len(groups) > HUBSPOT_FILTER_GROUPS:
            raise _SearchRefusal(f"Too many filter groups: {len(groups)}. The maximum is {HUBSPOT_FILTER_GROUPS}")
        if any(len(group.get("filters") or []) > HUBSPOT_GROUP_FILTERS for group in groups):
            raise _SearchRefusal(f"Too many filters in a filter group. The maximum is {HUBSPOT_GROUP_FILTERS}")
        if len(filters) > HUBSPOT_FILTERS:
            raise _SearchRefusal(f"Too many filters: {len(filters)}. The maximum is {HUBSPOT_FILTERS}")
        for condition in filters:
            self.kind(object_type, condition.get("propertyName"))
        with self._lock:
            rows = sorted(self.objects[object_type].values(), key=lambda r: int(r["id"]))
        rows = [
            r
            for r in rows
            if not groups or any(all(self.matches(object_type, r, f) for f in g.get("filters") or []) for g in groups)
        ]
        for sort in (body.get("sorts") or [])[:1]:
            name, descending = _sort_of(sort)
            kind = self.kind(object_type, name)
            with_value = [r for r in rows if r["properties"].get(name) not in (None, "")]
            without = [r for r in rows if r["properties"].get(name) in (None, "")]
            with_value.sort(key=lambda r: _comparable(kind, r["properties"][name]), reverse=descending)
            rows = with_value + without
        return rows

    def matches(self, object_type: str, record: dict, condition: dict) -> bool:
        name, operator = condition.get("propertyName"), str(condition.get("operator", "")).upper()
        kind = self.kind(object_type, name)
        held = record["properties"].get(name)
        present = held not in (None, "")
        if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            return present == (operator == "HAS_PROPERTY")
        if operator in ("IN", "NOT_IN"):
            values = condition.get("values")
            if not isinstance(values, list):
                raise _SearchRefusal(f"Operator {operator} requires values")
            hit = present and _comparable(kind, held) in [_comparable(kind, value) for value in values]
            return hit == (operator == "IN")
        if "value" not in condition:
            raise _SearchRefusal(f"Operator {operator} requires a value")
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            hit = present and _contains_token(str(held), str(condition["value"]))
            return hit == (operator == "CONTAINS_TOKEN")
        if not present:
            return operator == "NEQ"
        left, right = _comparable(kind, held), _comparable(kind, condition["value"])
        if operator == "BETWEEN":
            return right <= left <= _comparable(kind, condition.get("highValue"))
        compare = {
            "EQ": left == right,
            "NEQ": left != right,
            "LT": left < right,
            "LTE": left <= right,
            "GT": left > right,
            "GTE": left >= right,
        }
        if operator not in compare:
            raise _SearchRefusal(f"Unknown operator: {operator}")
        return compare[operator]

    def kind(self, object_type: str, name) -> str:
        """How HubSpot compares a property: as a date, a number or text; an unknown property is refused."""
        if name in ("createdate", _modified_property(object_type)):
            return "datetime"
        if name == "hs_object_id":
            return "number"
        if name not in self.schemas[object_type]:
            raise _SearchRefusal(f'Property "{name}" does not exist on {object_type}')
        return self.schemas[object_type][name]

    def shown(self, object_type: str, record: dict, asked: list[str]) -> dict:
        """An object as the reading routes answer it: the asked properties (or the defaults), as text."""
        held = record["properties"]
        if asked:
            known = set(self.schemas[object_type]) | {"hs_object_id", "createdate", _modified_property(object_type)}
            names = [name for name in asked if name in known]
            names += [n for n in ("createdate", _modified_property(object_type), "hs_object_id") if n not in names]
        else:
            names = list(HUBSPOT_DEFAULT_PROPERTIES[object_type])
        return {
            "id": record["id"],
            "properties": {name: held.get(name) for name in names},
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": False,
        }


class _SearchRefusal(ValueError):
    """A search HubSpot refuses with 400 VALIDATION_ERROR."""


def _modified_property(object_type: str) -> str:
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _whole(value) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _asked(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _encode_after(record_id: str) -> str:
    return base64.urlsafe_b64encode(f"{record_id}\n".encode()).decode()


def _decode_after(token: str) -> int | None:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().strip())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _sort_of(sort) -> tuple[str, bool]:
    """``{"propertyName", "direction"}`` or ``"-name"``: the property and whether it sorts descending."""
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    return sort.get("propertyName"), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"


def _comparable(kind: str, value):
    """A property or filter value as HubSpot compares it; dates as epoch milliseconds or ISO 8601."""
    if kind == "datetime":
        text = str(value).strip()
        try:
            if text.lstrip("-").isdigit():
                return datetime.fromtimestamp(int(text) / 1000, UTC)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, OverflowError) as error:
            raise _SearchRefusal(f"{value} is not a valid date: use epoch milliseconds or ISO 8601") from error
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if kind == "number":
        if not _is_number(value):
            raise _SearchRefusal(f"{value} was not a valid number.")
        return float(value)
    return str(value).casefold()


def _contains_token(held: str, pattern: str) -> bool:
    tokens = re.split(r"[\s@.,;:/_-]+", held.casefold())
    return fnmatch.fnmatchcase(held.casefold(), pattern.casefold()) or any(
        fnmatch.fnmatchcase(token, pattern.casefold()) for token in tokens
    )


def _hubspot_error(message: str, *, context: dict | None = None) -> dict:
    error = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": "VALIDATION_ERROR"}
    if context:
        error["context"] = context
    return error


def _invalid_message(problems: list[dict]) -> str:
    return "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _hubspot_text(value) -> str:
    """HubSpot keeps every property value as text: numbers as written, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# --- Business Central --------------------------------------------------------------------------------------


@dataclass
class FakeBusinessCentral(JsonServer):
    company: str = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"
    fields: dict[str, str] = field(default_factory=lambda: dict(BC_CUSTOMER))
    records: dict[str, dict] = field(default_factory=dict)  # id -> customer

    root = "/api/v2.0"

    def is_batch(self, path: str) -> bool:
        return path == f"{self.root}/$batch"

    def unauthorized(self) -> dict:
        return _bc_error("Authentication_InvalidCredentials", "The credentials provided are incorrect")

    def refused_fault(self, fault: Fault) -> dict:
        if fault.body is not None:
            return fault.body
        if fault.status == 429:
            return _bc_error(
                "Application_TooManyRequests", "Too Many Requests - Reached the limit of 6000 requests per 5 minutes."
            )
        return _bc_error("Internal_ServerError", "An unexpected error occurred.")

    def customers(self) -> list[dict]:
        with self._lock:
            return [dict(record) for record in self.records.values()]

    def customer(self, number: str) -> dict | None:
        return next((c for c in self.customers() if c.get("number") == number), None)

    def route(self, method, path, query, body):
        if method == "POST" and self.is_batch(path):
            return self.batch(body)
        if method == "GET" and path.startswith(self.root + "/"):
            return self.read(path[len(self.root) + 1 :], query)
        return 404, _bc_error(
            "BadRequest_NotFound", f"No HTTP resource was found that matches the request URI '{path}'."
        )

    def batch(self, body) -> tuple[int, dict]:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list):
            return 400, _bc_error("BadRequest", "The batch request body is not valid JSON batch content.")
        if len(requests) > BC_LIMIT:
            return 400, _bc_error(
                "BadRequest",
                f"The current batch message contains too many parts. Only batch messages with a maximum number of "
                f"'{BC_LIMIT}' query operations and change sets are allowed.",
            )
        responses = []
        for request in requests:
            status, answer = self.one(request)
            headers = {"content-type": "application/json; odata.metadata=minimal", "odata-version": "4.0"}
            responses.append({"id": request.get("id"), "status": status, "headers": headers, "body": answer})
        return 200, {"responses": self.shuffled(responses)}

    def one(self, request: dict) -> tuple[int, dict]:
        method, url = str(request.get("method", "")).upper(), unquote(str(request.get("url", "")))
        headers = {name.lower(): value for name, value in (request.get("headers") or {}).items()}
        collection = f"companies({self.company})/customers"
        if method == "POST" and url == collection:
            return self.create(request.get("body"))
        if method == "PATCH" and url.startswith(collection + "(") and url.endswith(")"):
            if "if-match" not in headers:
                return 428, _bc_error("BadRequest", "An If-Match header is required to modify a customer.")
            return self.update(url[len(collection) + 1 : -1], request.get("body"))
        return 404, _bc_error(
            "BadRequest_NotFound", f"No HTTP resource was found that matches the request URI '{url}'."
        )

    def invalid(self, body) -> tuple[int, dict] | None:
        if not isinstance(body, dict):
            return 400, _bc_error("BadRequest", "Invalid Request Body")
        for name, value in body.items():
            kind = self.fields.get(name)
            if kind is None:
                return 400, _bc_error(
                    "BadRequest",
                    f"The property '{name}' does not exist on type 'Microsoft.NAV.customer'. Make sure to only use "
                    "property names that are defined by the type.",
                )
            if not _bc_typed(kind, value):
                edm = {"string": "Edm.String", "decimal": "Edm.Decimal", "boolean": "Edm.Boolean"}[kind]
                return 400, _bc_error(
                    "BadRequest",
                    f"Cannot convert a primitive value to the expected type '{edm}'. See the inner exception for "
                    "more details",
                )
        return None

    def create(self, body) -> tuple[int, dict]:
        refusal = self.invalid(body)
        if refusal:
            return refusal
        with self._lock:
            if any(r.get("number") == body.get("number") for r in self.records.values() if body.get("number")):
                return 400, _bc_error(
                    "Internal_EntityWithSameKeyExists",
                    f"The record in table Customer already exists. Identification fields and values: "
                    f"No.='{body['number']}'",
                )
            record = {"id": str(uuid.uuid4()), **{name: _bc_default(kind) for name, kind in self.fields.items()}}
            record.update(body, lastModifiedDateTime=_now())
            self.records[record["id"]] = record
            return 201, self.shown(record)

    def update(self, key: str, body) -> tuple[int, dict]:
        refusal = self.invalid(body)
        if refusal:
            return refusal
        with self._lock:
            record = self.records.get(key)
            if record is None:
                return 404, _bc_error(
                    "BadRequest_NotFound",
                    f"The Customer does not exist. Identification fields and values: Id='{{{key.upper()}}}'",
                )
            record.update(body, lastModifiedDateTime=_now())
            return 200, self.shown(record)

    def read(self, path: str, query: dict) -> tuple[int, dict]:
        if path != f"companies({self.company})/customers":
            return 404, _bc_error("BadRequest_NotFound", f"No HTTP resource was found that matches '{path}'.")
        rows = self.customers()
        expression = query.get("$filter", "")
        if expression:
            name, _eq, literal = expression.partition(" eq ")
            value = literal.strip().strip("'").replace("''", "'")
            rows = [r for r in rows if str(r.get(name.strip())) == value]
        top = int(query.get("$top", len(rows) or 1))
        return 200, {"@odata.context": f"{self.url}{self.root}/$metadata#companies/customers", "value": rows[:top]}

    def shown(self, record: dict) -> dict:
        return {
            "@odata.context": f"{self.url}{self.root}/$metadata#companies({self.company})/customers/$entity",
            "@odata.etag": f'W/"{uuid.uuid4().hex}"',
            **record,
        }


def _bc_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}


def _bc_not_found(path: str) -> dict:
    return _bc_error("BadRequest_NotFound", f"No HTTP resource was found that matches the request URI '{path}'.")


def _bc_typed(kind: str, value) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, bool)


def _bc_default(kind: str):
    return {"string": "", "decimal": 0, "boolean": False}[kind]


# --- a JSON-array API -----------------------------------------------------------------------------------------


@dataclass
class FakeArrayApi(JsonServer):
    records: list[dict] = field(default_factory=list)

    def is_batch(self, path: str) -> bool:
        return path == "/bulk/contacts"

    def unauthorized(self) -> dict:
        return {"message": "Unauthorized"}

    def refused_fault(self, fault: Fault) -> dict:
        return fault.body if fault.body is not None else {"message": f"Failure {fault.status}"}

    def contacts(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.records]

    def route(self, method, path, query, body):
        if path != "/bulk/contacts":
            return 404, {"message": "Not found"}
        if method == "GET":
            return 200, [r for r in self.contacts() if all(str(r.get(k)) == v for k, v in query.items())]
        if not isinstance(body, list):
            return 400, {"message": "The body must be an array of contacts"}
        answers = []
        for item in body:
            if not isinstance(item, dict) or not item.get("Name"):
                answers.append({"error": "Name is required", "field": "Name"})
                continue
            with self._lock:
                record = {"id": len(self.records) + 1, **item}
                self.records.append(record)
            answers.append(dict(record))
        return 200, answers


# --- HTTP ---------------------------------------------------------------------------------------------------


class _Handler(LocalHandler):
    def do_PATCH(self):
        self._dispatch()

    def _dispatch(self):
        api: JsonServer = self.server.api
        parts, query, text = self.read_request()
        if not api.authorized(self.headers):
            self._send(401, api.unauthorized())
            return
        fault = api.take_fault() if self.command == "POST" and api.is_batch(parts.path) else None
        if fault and fault.kind == "before":
            self._send(
                fault.status,
                api.refused_fault(fault),
                {"Retry-After": fault.retry_after} if fault.retry_after else None,
            )
            return
        try:
            body = json.loads(text) if text else None
        except ValueError:
            self._send(400, {"message": "Invalid JSON"})
            return
        status, payload = api.route(self.command, parts.path, query, body)
        if fault and fault.kind == "after":
            if fault.status == 0:
                self.close_connection = True
                return
            status, payload = fault.status, api.refused_fault(fault)
        self._send(status, payload)

    def _send(self, status: int, payload, headers=None):
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
