"""A real local SOAP server that answers like a Dynamics NAV 2016 page web service.

It serves a real NAV 2016 page WSDL (Customer by default, or Vendor: pages keyed by ``No``),
its ``soap:address`` rewritten to the local URL, and answers SOAP 1.1 envelopes per that
WSDL: ``Read``, ``ReadMultiple`` (``filter`` elements, ``bookmarkKey``, ``setSize``),
``Create``, ``Update`` (requires the record's current ``Key``; a stale one is a fault) and
``Delete``. Faults have NAV's shape (HTTP 500, ``faultcode``
``a:Microsoft.Dynamics.Nav.Types.Exceptions.…``; the exception names are modelled on NAV's).
Records live in memory.

Knobs for the tests: HTTP basic or WS-Security credentials, "the next N calls answer
HTTP 500", "the next N calls wait this long", "the next call answers this fault", extra
documents served at given paths; every request is counted.

Usage::

    with NavSoapServer(records=[{"No": "10000", "Name": "Adatum"}]) as server:
        server.wsdl_url  # http://127.0.0.1:<port>/Page/Customer?wsdl
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NAV_ERROR_NS = "urn:microsoft-dynamics-schemas/error"
NAV_EXCEPTIONS = "Microsoft.Dynamics.Nav.Types.Exceptions."

# The real NAV 2016 page WSDLs (MIT, see LICENSE.Kencert-Batch-Upload next to them).
WSDL_DIR = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "wsdl"


def page_namespace(page: str) -> str:
    return f"urn:microsoft-dynamics-schemas/page/{page.lower()}"


def page_wsdl_text(page: str = "Customer", location: str | None = None) -> str:
    """The real NAV page WSDL, its soap:address optionally pointed at ``location``."""
    text = (WSDL_DIR / f"nav2016_{page}_Kencert.wsdl").read_text(encoding="utf-8")
    if location:
        text = re.sub(r'(<address location=")[^"]*(")', rf"\g<1>{location}\g<2>", text)
    return text


def _safe_parser() -> etree.XMLParser:
    """No entities, no DTD, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )


def customer_wsdl_text(location: str | None = None) -> str:
    return page_wsdl_text("Customer", location)


def _record_schema(wsdl_text: str, page: str) -> list[tuple[str, str]]:
    """(field name, xsd type) of the page's record complexType, in sequence order."""
    root = etree.fromstring(wsdl_text.encode("utf-8"), _safe_parser())
    path = f".//{{{XSD_NS}}}complexType[@name='{page}']/{{{XSD_NS}}}sequence/{{{XSD_NS}}}element"
    return [(element.get("name"), element.get("type").split(":")[-1]) for element in root.iterfind(path)]


class NavFault(Exception):
    def __init__(self, exception_name: str, message: str, *, code: str = "", detail: str | None = None):
        super().__init__(message)
        self.code = code or f"a:{NAV_EXCEPTIONS}{exception_name}"
        self.message = message
        self.detail = detail


def not_found(page: str, no: str) -> NavFault:
    return NavFault(
        "NavCSideRecordNotFoundException",
        f"The {page} does not exist. Identification fields and values: No.='{no}'",
    )


# ---------------------------------------------------------------------------------------
# NAV filter criteria (a subset): '' (all), value, =value, <>value, >value, >=value,
# <value, <=value, a..b, prefix* / *infix*, 'quoted literal', alternatives a|b.


def _split_alternatives(criteria: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in criteria:
        if char == "'":
            quoted = not quoted
        if char == "|" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _unquote(text: str) -> tuple[str, bool]:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'"), True
    return text, False


class _Comparable:
    """Compares a stored string value with a filter operand by the field's xsd type."""

    def __init__(self, xsd_type: str):
        self.numeric = xsd_type in ("decimal", "int")

    def key(self, value: str):
        if self.numeric:
            try:
                return Decimal(value or "0")
            except InvalidOperation:
                return Decimal(0)
        return value or ""


def _matches_one(value: str, criterion: str, comparable: _Comparable) -> bool:
    criterion = criterion.strip()
    for operator in ("<>", ">=", "<=", "=", ">", "<"):
        if criterion.startswith(operator):
            operand, _ = _unquote(criterion[len(operator) :])
            return _compare(comparable.key(value), operator, comparable.key(operand))
    if ".." in criterion and not criterion.startswith("'"):
        low, high = (_unquote(part)[0] for part in criterion.split("..", 1))
        key = comparable.key(value)
        return (not low or key >= comparable.key(low)) and (not high or key <= comparable.key(high))
    operand, quoted = _unquote(criterion)
    if "*" in operand and not quoted:
        pattern = ".*".join(re.escape(part) for part in operand.split("*"))
        return re.fullmatch(pattern, value or "", re.DOTALL) is not None
    return comparable.key(value) == comparable.key(operand)


def _compare(left, operator: str, right) -> bool:
    return {
        "=": left == right,
        "<>": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }[operator]


def matches(value: str | None, criteria: str, xsd_type: str = "string") -> bool:
    if not criteria.strip():
        return True
    comparable = _Comparable(xsd_type)
    return any(_matches_one(value or "", part, comparable) for part in _split_alternatives(criteria))


# ---------------------------------------------------------------------------------------
# The page: customers in memory, NAV's operations.


def make_key(no: str, version: int) -> str:
    """A NAV-like bookmark Key: it names the record and changes on every modification."""
    return f"12;{base64.b64encode(no.encode()).decode()};{version};"


def key_to_no(key: str) -> str:
    try:
        return base64.b64decode(key.split(";")[1], validate=True).decode()
    except (IndexError, ValueError) as exc:
        raise NavFault("NavCSideException", f"The key '{key}' is not valid.") from exc


@dataclass
class NavPage:
    name: str
    fields: list[tuple[str, str]]
    today: date = field(default_factory=date.today)
    records: dict[str, dict[str, str]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    next_number: int = 90000
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def field_type(self, name: str) -> str:
        return dict(self.fields).get(name, "string")

    def add(self, values: dict) -> dict[str, str]:
        record = {name: _text(value) for name, value in values.items() if value is not None and name != "Key"}
        record.setdefault("Last_Date_Modified", self.today.isoformat())
        self.records[record["No"]] = record
        self.versions[record["No"]] = self.versions.get(record["No"], 0) + 1
        return self.view(record["No"])

    def view(self, no: str) -> dict[str, str]:
        return {"Key": make_key(no, self.versions[no]), **self.records[no]}

    def sorted_numbers(self) -> list[str]:
        return sorted(self.records)

    # Operations -------------------------------------------------------------------------

    def read(self, no: str) -> dict | None:
        with self.lock:
            return self.view(no) if no in self.records else None

    def read_multiple(self, filters: list[tuple[str, str]], bookmark: str | None, set_size: int) -> list[dict]:
        for name, _criteria in filters:
            if name not in self.field_names:
                raise NavFault("NavCSideException", f"The field {name} of the {self.name} page does not exist.")
        with self.lock:
            numbers = self.sorted_numbers()
            if bookmark:
                after = key_to_no(bookmark)
                numbers = [no for no in numbers if no > after]
            selected = [
                no
                for no in numbers
                if all(matches(self.records[no].get(name), crit, self.field_type(name)) for name, crit in filters)
            ]
            if set_size > 0:
                selected = selected[:set_size]
            return [self.view(no) for no in selected]

    def create(self, values: dict) -> dict:
        with self.lock:
            no = values.get("No") or self._next_no()
            if no in self.records:
                raise NavFault(
                    "NavCSideRecordExistsException",
                    f"The {self.name} already exists. Identification fields and values: No.='{no}'",
                )
            return self.add({**values, "No": no, "Last_Date_Modified": self.today.isoformat()})

    def update(self, values: dict) -> dict:
        with self.lock:
            no = self._current(values.get("Key"))
            changes = {name: _text(value) for name, value in values.items() if name not in ("Key", "No")}
            self.records[no].update(changes, Last_Date_Modified=self.today.isoformat())
            self.versions[no] += 1
            return self.view(no)

    def delete(self, key: str) -> bool:
        with self.lock:
            no = self._current(key)
            del self.records[no]
            return True

    def _current(self, key: str | None) -> str:
        if not key:
            raise NavFault("NavNCLDialogException", f"The Key field must have a value to change a {self.name}.")
        no = key_to_no(key)
        if no not in self.records:
            raise not_found(self.name, no)
        if make_key(no, self.versions[no]) != key:
            raise NavFault(
                "NavCSideConcurrencyViolationException",
                f"Other user has modified {self.name} after you retrieved it from the database. "
                f"Identification fields and values: No.='{no}'",
            )
        return no

    def _next_no(self) -> str:
        self.next_number += 10
        return f"C{self.next_number}"


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------
# SOAP envelopes.


def envelope(body_child: etree._Element) -> bytes:
    root = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"Soap": SOAP_NS})
    etree.SubElement(root, f"{{{SOAP_NS}}}Body").append(body_child)
    return etree.tostring(root, xml_declaration=False, encoding="utf-8")


def fault_envelope(code: str, message: str, detail: str | None = None) -> bytes:
    """A fault in NAV's shape; ``detail`` (an XML fragment) replaces what NAV puts there, the message again."""
    nsmap = {"s": SOAP_NS}
    root = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap=nsmap)
    fault = etree.SubElement(etree.SubElement(root, f"{{{SOAP_NS}}}Body"), f"{{{SOAP_NS}}}Fault")
    code_element = etree.SubElement(fault, "faultcode", nsmap={"a": NAV_ERROR_NS, "soap11env": SOAP_NS})
    code_element.text = code
    string_element = etree.SubElement(fault, "faultstring")
    string_element.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    string_element.text = message
    detail_element = etree.SubElement(fault, "detail")
    if detail is None:
        etree.SubElement(detail_element, "{http://schemas.microsoft.com/2003/10/Serialization/}string").text = message
    else:
        wrapper = etree.fromstring(f"<detail>{detail}</detail>", _safe_parser())
        detail_element.text = wrapper.text
        detail_element.extend(list(wrapper))
    return etree.tostring(root, encoding="utf-8")


def record_values(element: etree._Element | None) -> dict[str, str]:
    if element is None:
        return {}
    return {etree.QName(child).localname: child.text or "" for child in element if isinstance(child.tag, str)}


class SoapDispatcher:
    """Turns a parsed request body element into a response body element (or a NavFault)."""

    def __init__(self, page: NavPage):
        self.page = page
        self.namespace = page_namespace(page.name)

    def __call__(self, request: etree._Element) -> etree._Element:
        operation = etree.QName(request).localname
        handler = getattr(self, f"op_{operation}", None)
        if etree.QName(request).namespace != self.namespace or handler is None:
            raise NavFault(
                "NavCSideException", f"The operation {operation} is not supported by the {self.page.name} page."
            )
        return handler(request)

    def _tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def _element(self, name: str) -> etree._Element:
        return etree.Element(self._tag(name), nsmap={None: self.namespace})

    def _record_element(self, record: dict) -> etree._Element:
        element = self._element(self.page.name)
        for name in self.page.field_names:  # the WSDL's sequence order (Key first)
            if name in record:
                etree.SubElement(element, self._tag(name)).text = record[name]
        return element

    def _child_text(self, request, name: str) -> str | None:
        child = request.find(self._tag(name))
        return None if child is None else (child.text or "")

    def _record_argument(self, request) -> dict[str, str]:
        return record_values(request.find(self._tag(self.page.name)))

    def op_Read(self, request):
        result = self._element("Read_Result")
        record = self.page.read(self._child_text(request, "No") or "")
        if record is not None:
            result.append(self._record_element(record))
        return result

    def op_ReadMultiple(self, request):
        filters = [
            (self._child_text(f, "Field") or "", self._child_text(f, "Criteria") or "")
            for f in request.iterfind(self._tag("filter"))
        ]
        set_size = int(self._child_text(request, "setSize") or 0)
        records = self.page.read_multiple(filters, self._child_text(request, "bookmarkKey"), set_size)
        result = self._element("ReadMultiple_Result")
        if records:
            inner = etree.SubElement(result, self._tag("ReadMultiple_Result"))
            for record in records:
                inner.append(self._record_element(record))
        return result

    def op_Create(self, request):
        result = self._element("Create_Result")
        result.append(self._record_element(self.page.create(self._record_argument(request))))
        return result

    def op_Update(self, request):
        result = self._element("Update_Result")
        result.append(self._record_element(self.page.update(self._record_argument(request))))
        return result

    def op_Delete(self, request):
        deleted = self.page.delete(self._child_text(request, "Key") or "")
        result = self._element("Delete_Result")
        etree.SubElement(result, self._tag("Delete_Result")).text = "true" if deleted else "false"
        return result


# ---------------------------------------------------------------------------------------
# HTTP.


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        nav = self.server.nav
        nav.record_request("GET", self.path)
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0]
        if path == nav.service_path:
            nav.wsdl_gets += 1
            self._send(200, nav.wsdl_text.encode("utf-8"))
        elif path in nav.documents:
            self._send(200, nav.documents[path])
        elif path in nav.redirects:
            self.send_response(302)
            self.send_header("Location", nav.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"Not found", "text/plain")

    def do_POST(self):
        nav = self.server.nav
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        operation = self._operation_name(body)
        nav.record_request("POST", self.path, operation, body)
        if not self._authorized():
            return
        delay = nav.take_delay()
        if delay and nav.stopping.wait(delay):
            return
        failure = nav.take_failure()
        if failure and not failure.after_processing:
            self._send_failure(failure)
            return
        answer = nav.answer(body)
        if failure:  # the work is done, the answer is lost
            self._send_failure(failure)
            return
        self._send(*answer)

    def _send_failure(self, failure: Failure):
        headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
        self._send(failure.status, b"<html><body>Service unavailable</body></html>", "text/html", headers)

    def _operation_name(self, body: bytes) -> str:
        try:
            root = etree.fromstring(body, _safe_parser())
            child = root.find(f"{{{SOAP_NS}}}Body/*")
            return etree.QName(child).localname if child is not None else ""
        except etree.XMLSyntaxError:
            return ""

    def _authorized(self) -> bool:
        expected = self.server.nav.basic_auth
        if not expected:
            return True
        token = base64.b64encode(f"{expected[0]}:{expected[1]}".encode()).decode()
        if self.headers.get("Authorization") == f"Basic {token}":
            return True
        self.server.nav.rejected_auth += 1
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="NAV"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8", headers=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    nav: NavSoapServer

    def handle_error(self, request, client_address):  # a client that hung up is not an error here
        pass


@dataclass
class Failure:
    status: int
    after_processing: bool
    retry_after: str | None = None


@dataclass
class Request:
    method: str
    path: str
    operation: str = ""
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


class NavSoapServer:
    """The local NAV page web service; a context manager that starts and stops it."""

    def __init__(
        self,
        records: list[dict] | None = None,
        *,
        page: str = "Customer",
        basic_auth: tuple[str, str] | None = None,
        wsse_auth: tuple[str, str] | None = None,
        today: date | None = None,
    ):
        self.basic_auth = basic_auth
        self.wsse_auth = wsse_auth
        self.page = NavPage(name=page, fields=_record_schema(page_wsdl_text(page), page), today=today or date.today())
        self.service_path = f"/Page/{page}"
        for record in records or []:
            self.page.add(record)
        self.dispatch = SoapDispatcher(self.page)
        self.documents: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[Request] = []
        self.wsdl_gets = 0
        self.rejected_auth = 0
        self.stopping = threading.Event()
        self._knobs_lock = threading.Lock()
        self._failures: list[Failure] = []
        self._delays: list[float] = []
        self._faults: list[tuple[str, str, str | None]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.wsdl_text = ""

    # Lifecycle ----------------------------------------------------------------------------

    def start(self) -> NavSoapServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.nav = self
        self.wsdl_text = page_wsdl_text(self.page.name, self.endpoint_url)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="nav-soap-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # Addresses ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def endpoint_url(self) -> str:
        return f"{self.base_url}{self.service_path}"

    @property
    def wsdl_url(self) -> str:
        return f"{self.endpoint_url}?wsdl"

    def serve(self, path: str, content: bytes | str) -> str:
        """Serve ``content`` at ``path`` (GET); returns its URL."""
        self.documents[path] = content.encode("utf-8") if isinstance(content, str) else content
        return f"{self.base_url}{path}"

    def redirect(self, path: str, location: str) -> str:
        """Answer GET ``path`` with a 302 to ``location``; returns the URL of ``path``."""
        self.redirects[path] = location
        return f"{self.base_url}{path}"

    # Knobs ------------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 500, *, after_processing: bool = False, retry_after: str | None = None
    ):
        """The next ``count`` calls answer ``status`` (an HTML page), before or after doing the work,
        with a ``Retry-After`` header when ``retry_after`` is given."""
        with self._knobs_lock:
            self._failures.extend([Failure(status, after_processing, retry_after)] * count)

    def delay_next(self, count: int, seconds: float):
        """The next ``count`` calls wait ``seconds`` before answering (cut short when the server stops)."""
        with self._knobs_lock:
            self._delays.extend([seconds] * count)

    def fault_next(self, code: str, message: str, *, detail: str | None = None):
        """The next call answers this SOAP fault (HTTP 500), e.g. ``soap11env:Client.UnknownCustomer``.

        ``detail`` is the XML put in the fault's ``detail`` element (e.g. ``<errors><error>…</error></errors>``);
        without it the element repeats the message, as NAV does.
        """
        with self._knobs_lock:
            self._faults.append((code, message, detail))

    def take_failure(self) -> Failure | None:
        with self._knobs_lock:
            return self._failures.pop(0) if self._failures else None

    def take_delay(self) -> float:
        with self._knobs_lock:
            return self._delays.pop(0) if self._delays else 0.0

    def take_fault(self) -> tuple[str, str, str | None] | None:
        with self._knobs_lock:
            return self._faults.pop(0) if self._faults else None

    # Observations -----------------------------------------------------------------------

    def record_request(self, method: str, path: str, operation: str = "", body: bytes = b""):
        with self._knobs_lock:
            self.requests.append(Request(method, path, operation, body))

    @property
    def record_count(self) -> int:
        return len(self.page.records)

    def calls(self, operation: str) -> int:
        with self._knobs_lock:
            return sum(1 for request in self.requests if request.operation == operation)

    def call_times(self, operation: str) -> list[float]:
        """When each call of ``operation`` arrived (``time.monotonic``), in order."""
        with self._knobs_lock:
            return [request.at for request in self.requests if request.operation == operation]

    # SOAP -------------------------------------------------------------------------------

    def answer(self, body: bytes) -> tuple[int, bytes]:
        try:
            request = self._body_child(body)
            self._check_wsse(body)
            injected = self.take_fault()
            if injected:
                raise NavFault("", injected[1], code=injected[0], detail=injected[2])
            return 200, envelope(self.dispatch(request))
        except NavFault as fault:
            return 500, fault_envelope(fault.code, fault.message, fault.detail)

    def _body_child(self, body: bytes) -> etree._Element:
        try:
            root = etree.fromstring(body, _safe_parser())
        except etree.XMLSyntaxError as exc:
            raise NavFault("NavCSideException", f"The request is not valid XML: {exc}") from exc
        if root.getroottree().docinfo.doctype:
            raise NavFault("NavCSideException", "DTDs are not allowed.")
        child = root.find(f"{{{SOAP_NS}}}Body/*")
        if child is None:
            raise NavFault("NavCSideException", "The SOAP body is empty.")
        return child

    def _check_wsse(self, body: bytes):
        if not self.wsse_auth:
            return
        root = etree.fromstring(body, _safe_parser())
        token = root.find(f"{{{SOAP_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        username = token.findtext(f"{{{WSSE_NS}}}Username") if token is not None else None
        password = token.findtext(f"{{{WSSE_NS}}}Password") if token is not None else None
        if (username, password) != self.wsse_auth:
            self.rejected_auth += 1
            raise NavFault("", "The security token could not be authenticated.", code="a:FailedAuthentication")
