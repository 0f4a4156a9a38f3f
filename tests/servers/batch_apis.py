"""Real batch-write APIs on 127.0.0.1 for connector tests: HubSpot, Business Central and a JSON-array API.

Each is a context manager (a fixture that ``yield``s inside ``with`` stops it on teardown, also when the
test fails), holds its records so that tests read them back as the API keeps them, counts the calls it
received and answers as the real API does, refusals included:

* :class:`FakeHubSpot` — ``POST /crm/v3/objects/{type}/batch/upsert``. More than 100 inputs: 400; the
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

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

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
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


@dataclass
class JsonServer:
    """What the three APIs share: lifecycle, bearer auth, the requests received, the fault queue."""

    token: str = ""
    seed: int = 7  # the order of shuffled answers
    received: list[Received] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self):
        self.random = random.Random(self.seed)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._server.handle_error = lambda request, address: None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

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
    properties: dict[str, str] = field(default_factory=lambda: dict(HUBSPOT_PROPERTIES))
    echo_trace_ids: bool = False  # results carry their input's objectWriteTraceId
    records: dict[str, dict] = field(default_factory=dict)  # id -> {"id", "properties", "createdAt", "updatedAt"}
    _next_id: int = 501

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
        if method == "POST" and self.is_batch(path):
            return self.upsert(body)
        return 404, {"status": "error", "message": f"Unable to find a route for {method} {path}"}

    def upsert(self, body) -> tuple[int, dict]:
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
        problems = [self.invalid(item) for item in inputs]
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        if any(problems) and not traced:
            first = next(problem for problem in problems if problem)
            return 400, _hubspot_error(_invalid_message(first))
        started = _now()
        results, errors = [], []
        for item, problem in zip(inputs, problems, strict=True):
            if problem:
                error = _hubspot_error(
                    _invalid_message(problem), context={"objectWriteTraceId": [item["objectWriteTraceId"]]}
                )
                error.pop("correlationId")
                errors.append(error)
                continue
            result = self.write(item)
            if self.echo_trace_ids and item.get("objectWriteTraceId"):
                result["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(result)
        answer = {"status": "COMPLETE", "results": self.shuffled(results), "startedAt": started, "completedAt": _now()}
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
            return 207, answer
        return 200, answer

    def invalid(self, item: dict) -> list[dict]:
        """What HubSpot would say is wrong with one input: one entry per invalid property."""
        problems = []
        properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
        id_property = item.get("idProperty")
        for name in ([id_property] if id_property else []) + list(properties):
            if name not in self.properties:
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
            if self.properties.get(name) == "number" and not _is_number(value):
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
        if not id_property and str(item.get("id")) not in self.records:
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

    def write(self, item: dict) -> dict:
        id_property, key = item.get("idProperty"), str(item.get("id"))
        values = {name: _hubspot_text(value) for name, value in (item.get("properties") or {}).items()}
        now = _now()
        with self._lock:
            if id_property:
                found = next(
                    (
                        r
                        for r in self.records.values()
                        if str(r["properties"].get(id_property, "")).casefold() == key.casefold()
                    ),
                    None,
                )
            else:
                found = self.records.get(key)
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
                self.records[record_id] = found
            found["properties"].update(values, lastmodifieddate=now)
            found["updatedAt"] = now
            return {
                "id": found["id"],
                "properties": dict(found["properties"]),
                "createdAt": found["createdAt"],
                "updatedAt": now,
                "archived": False,
                "new": new,
            }


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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def _dispatch(self):
        api: JsonServer = self.server.api
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with api._lock:
            api.received.append(Received(self.command, parts.path, query, dict(self.headers), text))
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
