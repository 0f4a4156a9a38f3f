"""A real REST API on 127.0.0.1 for connector tests: Ploomes-shaped, with fault knobs.

Use it as a context manager (a pytest fixture that ``yield``s inside ``with`` stops it on
teardown, also when the test fails)::

    with FakeRestApi(auth="api_key", api_key="k") as api:
        api.add_contacts(5)
        ...  # connect to api.url

Routes (every one checks the configured auth, except the token endpoint):

* ``GET /Contacts?$top=&$skip=&$filter=`` → ``{"value": [...]}`` (OData, Ploomes); with
  ``odata_max_top`` the server pages by itself and adds ``@odata.nextLink``; with ``page_cap`` the
  OData, page and offset lists answer at most that many records per call, silently (as Ploomes does).
  ``POST /Contacts`` → ``{"value": [record]}``; ``PATCH``/``PUT``/``DELETE /Contacts(5)``.
* ``GET /Contacts/$count?$filter=`` → how many contacts match, as ``text/plain`` (OData's plain count).
* ``GET /paged/contacts?page=&size=`` → ``{"data": {"items": [...]}}``
* ``GET /offset/contacts?offset=&limit=`` → ``[...]``
* ``GET /linked/contacts?after=&limit=`` → ``{"results": [...], "next": "/linked/…" | null}``
* ``GET /cursor/contacts?cursor=&limit=`` → ``{"items": [...], "next_cursor": "…" | ""}``
* ``GET /plain/contacts`` → ``{"data": {"items": [...]}}``; ``POST /plain/contacts``,
  ``PATCH``/``PUT``/``DELETE /plain/contacts/5`` answer the plain record.
* Other query parameters of a list route filter by equality (``?Email=a@b.c``).
* ``GET|POST /echo`` → the request's headers and body, as a careless API would.
* ``POST /oauth/token`` → client-credentials tokens that expire after ``token_lifetime``.
* ``GET /login`` → an HTML sign-in form (no auth asked), where a gateway sends a caller it does not know.

Fault knobs apply to the next matching requests: :meth:`fail_next` (a status, with
``Retry-After``, and the error body an API of another shape would answer: an RFC 7807
problem, OData details…), :meth:`redirect_next` (a 302 elsewhere, e.g. to ``/login``),
:meth:`delay_next`, :meth:`drop_next`, :meth:`malformed_next`, :meth:`fail_after_next`
(a POST creates the record, then fails).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

ODATA_CLAUSE = re.compile(r"^\(*\s*([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*\)*$", re.IGNORECASE)
RESERVED_PARAMS = {"$top", "$skip", "$filter", "$count", "page", "size", "offset", "limit", "after", "cursor"}


class PlainText(str):
    """An answer sent as ``text/plain`` rather than JSON."""


class HtmlPage(str):
    """An answer sent as ``text/html``."""


LOGIN_PAGE = HtmlPage(
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form method=post action=/login>"
    '<input name="username"><input name="password" type="password"><button>Sign in</button></form></body></html>'
)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    at: datetime


@dataclass
class Fault:
    kind: str  # status | delay | drop | malformed | after
    count: int
    method: str | None = None
    path: str | None = None  # a path prefix
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    body: object = None  # the error body (JSON-encoded unless a str); None: {"error": {"message": …}}
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and (self.method is None or self.method == method)
            and (self.path is None or path.startswith(self.path))
        )


@dataclass
class FakeRestApi:
    auth: str = "none"  # none | basic | bearer | api_key | oauth2
    username: str = ""
    password: str = ""
    token: str = ""
    api_key_header: str = "User-Key"
    api_key: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_lifetime: int = 3600
    odata_max_top: int | None = None
    page_cap: int | None = None  # at most this many records per call whatever is asked, silently (as Ploomes)
    lose_page_at_skip: int | None = None  # the OData page starting there comes back empty (a page lost on the way)
    latency: float = 0.0  # seconds added to every answer (a distant API)
    clock_offset: float = 0.0  # seconds its Date header is ahead of the real time (a server with a wrong clock)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every answer (rate-limit headers, say)
    most_in_flight: int = 0  # the most requests it was answering at the same time
    records: dict[int, dict] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    issued_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.monotonic)
    all_tokens: list[str] = field(default_factory=list)  # every token ever issued, revoked ones included
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _next_id: int = 1
    _in_flight: int = 0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeRestApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._server.handle_error = lambda request, address: None  # clients that timed out: not our problem
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeRestApi:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- data ------------------------------------------------------------------------------

    def add_contact(self, **values) -> dict:
        with self._lock:
            record = {"Id": self._next_id, **values}
            self.records[self._next_id] = record
            self._next_id += 1
            return dict(record)

    def add_contacts(self, count: int) -> list[dict]:
        return [
            self.add_contact(
                Name=f"Contact {n}", Email=f"c{n}@example.com", LastUpdateDate=f"2024-01-{n % 28 + 1:02d}T10:00:00Z"
            )
            for n in range(1, count + 1)
        ]

    def contacts(self, **equal) -> list[dict]:
        with self._lock:
            rows = [dict(r) for _, r in sorted(self.records.items())]
        return [r for r in rows if all(str(r.get(k)) == str(v) for k, v in equal.items())]

    def requests_to(self, path: str, method: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path and (method is None or r.method == method)]

    # --- faults ----------------------------------------------------------------------------

    def fail_next(
        self, count=1, status=500, *, retry_after=None, method=None, path=None, body=None, content_type=None
    ) -> None:
        """The next requests answer ``status``; with ``body`` (an object sent as JSON, or a str sent as is)."""
        content_type = content_type or "application/json"
        self._add_fault(Fault("status", count, method, path, status, retry_after, body=body, content_type=content_type))

    def redirect_next(self, location: str, count=1, status=302, *, method=None, path=None) -> None:
        """The next requests are redirected to ``location`` (``/login``: the sign-in page), with an empty body."""
        fault = Fault("status", count, method, path, status, body="", content_type="text/plain")
        fault.headers["Location"] = location
        self._add_fault(fault)

    def delay_next(self, count=1, seconds=2.0, *, method=None, path=None) -> None:
        self._add_fault(Fault("delay", count, method, path, seconds=seconds))

    def drop_next(self, count=1, *, method=None, path=None) -> None:
        self._add_fault(Fault("drop", count, method, path))

    def malformed_next(self, count=1, *, method=None, path=None) -> None:
        self._add_fault(Fault("malformed", count, method, path))

    def fail_after_next(self, count=1, status=500, *, method="POST", path=None) -> None:
        """The next requests do their work (a POST creates its record), then answer ``status`` (0: drop)."""
        self._add_fault(Fault("after", count, method, path, status=status))

    def revoke_tokens(self) -> None:
        with self._lock:
            self.issued_tokens.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    return fault
        return None

    # --- auth ------------------------------------------------------------------------------

    def authorized(self, headers) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "api_key":
            return headers.get(self.api_key_header) == self.api_key
        authorization = headers.get("Authorization", "")
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return authorization == f"Basic {expected}"
        if self.auth == "bearer":
            return authorization == f"Bearer {self.token}"
        if self.auth == "oauth2":
            token = authorization.removeprefix("Bearer ")
            with self._lock:
                expiry = self.issued_tokens.get(token)
            return expiry is not None and time.monotonic() < expiry
        return False

    def issue_token(self, form: dict, headers) -> tuple[int, dict]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client", "error_description": f"Unknown client {client_id}"}
        token = f"tok-{uuid.uuid4().hex}"
        with self._lock:
            self.issued_tokens[token] = time.monotonic() + self.token_lifetime
            self.all_tokens.append(token)
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}

    # --- collections -----------------------------------------------------------------------

    def list_records(self, query: dict[str, str]) -> list[dict]:
        rows = self.contacts()
        rows = [r for r in rows if _odata_filter(r, query.get("$filter", ""))]
        equal = {k: v for k, v in query.items() if k not in RESERVED_PARAMS}
        return [r for r in rows if all(str(r.get(k)) == v for k, v in equal.items())]

    def create(self, values: dict) -> dict:
        return self.add_contact(**{k: v for k, v in values.items() if k != "Id"})

    def change(self, record_id: int, values: dict, *, replace: bool) -> dict | None:
        with self._lock:
            if record_id not in self.records:
                return None
            base = {"Id": record_id} if replace else self.records[record_id]
            self.records[record_id] = {**base, **{k: v for k, v in values.items() if k != "Id"}}
            return dict(self.records[record_id])

    def remove(self, record_id: int) -> bool:
        with self._lock:
            return self.records.pop(record_id, None) is not None


def _odata_filter(record: dict, expression: str) -> bool:
    if not expression:
        return True
    for clause in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        match = ODATA_CLAUSE.match(clause.strip())
        if not match:
            raise ValueError(f"Cannot parse the filter clause {clause!r}")
        name, op, literal = match.groups()
        if not _compare(record.get(name), op.lower(), _odata_literal(literal)):
            return False
    return True


def _odata_literal(literal: str):
    if literal.startswith("'") and literal.endswith("'"):
        return literal[1:-1].replace("''", "'")
    try:
        return int(literal)
    except ValueError:
        return literal


def _compare(value, op: str, literal) -> bool:
    if value is None:
        return op == "ne"
    if not (isinstance(value, int) and isinstance(literal, int)):
        value, literal = str(value), str(literal)
    return {
        "eq": value == literal,
        "ne": value != literal,
        "gt": value > literal,
        "ge": value >= literal,
        "lt": value < literal,
        "le": value <= literal,
    }[op]


def _page(rows: list[dict], start: int, size: int) -> list[dict]:
    return rows[start : start + size]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed-ACK stalls
    server_version = "FakeCRM/1.0"

    def log_message(self, format, *args):  # quiet
        pass

    def date_time_string(self, timestamp=None):
        return super().date_time_string((timestamp or time.time()) + self.server.api.clock_offset)

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    # --- plumbing --------------------------------------------------------------------------

    @property
    def api(self) -> FakeRestApi:
        return self.server.api

    def _dispatch(self):
        parts = urlsplit(self.path)
        self.route = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        with self.api._lock:
            self.api.received.append(
                Received(self.command, self.route, self.query, dict(self.headers), self.body, datetime.now(UTC))
            )
        with self.api._lock:
            self.api._in_flight += 1
            self.api.most_in_flight = max(self.api.most_in_flight, self.api._in_flight)
        try:
            if self.api.latency:
                self.api._stopping.wait(self.api.latency)
            self._answer_with_faults()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)
        finally:
            with self.api._lock:
                self.api._in_flight -= 1

    def _answer_with_faults(self):
        fault = self.api._take_fault(self.command, self.route)
        if fault and fault.kind == "delay":
            self.api._stopping.wait(fault.seconds)
        elif fault and fault.kind == "drop":
            self.close_connection = True
            return
        elif fault and fault.kind == "status":
            headers = {**fault.headers, **({"Retry-After": fault.retry_after} if fault.retry_after else {})}
            body = {"error": {"message": f"Injected failure {fault.status}"}} if fault.body is None else fault.body
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self._send_raw(fault.status, raw, fault.content_type, headers)
            return
        elif fault and fault.kind == "malformed":
            self._send_raw(200, b'{"value": [{"Id": 1, "Name": ', "application/json")
            return
        status, payload = self._route()
        if fault and fault.kind == "after":
            if fault.status == 0:
                self.close_connection = True
                return
            status, payload = fault.status, {"error": {"message": "Injected failure after the work was done"}}
        self._send(status, payload)

    def _send(self, status: int, payload, headers=None):
        if isinstance(payload, PlainText):
            self._send_raw(status, payload.encode(), "text/plain; charset=utf-8", headers)
            return
        if isinstance(payload, HtmlPage):
            self._send_raw(status, payload.encode(), "text/html; charset=utf-8", headers)
            return
        body = b"" if payload is None else json.dumps(payload).encode()
        self._send_raw(status, body, "application/json", headers)

    def _send_raw(self, status: int, body: bytes, content_type: str, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.api.headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json_body(self) -> dict:
        return json.loads(self.body) if self.body else {}

    # --- routes ----------------------------------------------------------------------------

    def _route(self):
        if self.route == "/oauth/token" and self.command == "POST":
            return self.api.issue_token(dict(parse_qsl(self.body)), self.headers)
        if self.route == "/login":
            return 200, LOGIN_PAGE
        if not self.api.authorized(self.headers):
            presented = self.headers.get(self.api.api_key_header) or self.headers.get("Authorization", "")
            # Like some real APIs, echo what was presented: the connector must redact it.
            return 401, {"error": {"message": f"Invalid credentials: {presented}"}}
        if self.route == "/":
            return 200, {"service": "fake CRM"}
        if self.route == "/echo":
            return 200, {"headers": dict(self.headers), "body": self.body}
        try:
            return self._collections()
        except ValueError as exc:
            return 400, {"error": {"message": str(exc)}}

    def _collections(self):
        if self.route == "/Contacts/$count" and self.command == "GET":
            return 200, PlainText(len(self.api.list_records(self.query)))
        match = re.fullmatch(r"/Contacts(?:\((\d+)\))?", self.route)
        if match:
            return self._odata(match.group(1))
        match = re.fullmatch(r"/(paged|offset|linked|cursor|plain)/contacts(?:/(\d+))?", self.route)
        if match and match.group(2):
            return self._plain_record(int(match.group(2)))
        if match and self.command == "POST":
            return 201, self.api.create(self._json_body())
        if match and self.command == "GET":
            return getattr(self, f"_list_{match.group(1)}")(self.api.list_records(self.query))
        return 404, {"error": {"message": f"No route for {self.command} {self.route}"}}

    def _odata(self, record_id):
        if record_id is None and self.command == "GET":
            return self._list_odata(self.api.list_records(self.query))
        if record_id is None and self.command == "POST":
            return 200, {"value": [self.api.create(self._json_body())]}
        record = self._plain_record(int(record_id))
        if record[0] >= 400 or self.command == "DELETE":
            return record
        return record[0], {"value": [record[1]]}

    def _plain_record(self, record_id: int):
        if self.command == "DELETE":
            return (204, None) if self.api.remove(record_id) else (404, {"error": {"message": "No such record"}})
        if self.command in ("PATCH", "PUT"):
            record = self.api.change(record_id, self._json_body(), replace=self.command == "PUT")
            return (200, record) if record else (404, {"error": {"message": "No such record"}})
        record = self.api.contacts(Id=record_id)
        return (200, record[0]) if record else (404, {"error": {"message": "No such record"}})

    def _list_odata(self, rows):
        top = int(self.query.get("$top", len(rows) or 1))
        skip = int(self.query.get("$skip", 0))
        limit = min(top, self.api.odata_max_top or top)
        capped = min(limit, self.api.page_cap or limit)
        page = [] if skip == self.api.lose_page_at_skip else _page(rows, skip, capped)
        payload = {"@odata.context": f"{self.api.url}/$metadata#Contacts", "value": page}
        if self.query.get("$count") == "true":
            payload["@odata.count"] = len(rows)
        if limit < top and skip + limit < len(rows):
            rest = {k: v for k, v in self.query.items() if k not in ("$top", "$skip")}
            query = "&".join(f"{k}={v}" for k, v in rest.items())
            payload["@odata.nextLink"] = (
                f"{self.api.url}/Contacts?$top={top - limit}&$skip={skip + limit}" + (f"&{query}" if query else "")
            ).replace(" ", "%20")
        return 200, payload

    def _list_paged(self, rows):
        page, size = int(self.query.get("page", 1)), int(self.query.get("size", 10))
        size = min(size, self.api.page_cap or size)
        return 200, {"data": {"items": _page(rows, (page - 1) * size, size)}, "page": page}

    def _list_offset(self, rows):
        limit = int(self.query.get("limit", 10))
        return 200, _page(rows, int(self.query.get("offset", 0)), min(limit, self.api.page_cap or limit))

    def _list_linked(self, rows):
        after, limit = int(self.query.get("after", 0)), int(self.query.get("limit", 3))
        items = [r for r in rows if r["Id"] > after][:limit]
        more = items and any(r["Id"] > items[-1]["Id"] for r in rows)
        link = f"/linked/contacts?after={items[-1]['Id']}&limit={limit}" if more else None
        return 200, {"results": items, "next": link}

    def _list_cursor(self, rows):
        cursor = self.query.get("cursor", "")
        start = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
        limit = int(self.query.get("limit", 3))
        end = start + limit
        next_cursor = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else ""
        return 200, {"items": rows[start:end], "next_cursor": next_cursor}

    def _list_plain(self, rows):
        return 200, {"data": {"items": rows}}
