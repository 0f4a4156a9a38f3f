"""A local HTTP server that answers with hostile content, for the bad-input tests.

Each path answers what the test put there with :meth:`HostileServer.answer` (GET and POST
alike): a status, a content type, a body given as a *function returning chunks* (so a
200 MB answer is generated while it is sent, never held in memory) and a Content-Length
that may be right, absent (the body ends when the connection closes) or a lie. Every
request is recorded, so a test can show that a document was never fetched.

The module also builds the hostile documents themselves: SOAP answers in the shape of a
Dynamics NAV ``ReadMultiple`` (billion laughs, XXE, external DTDs, a text node over 10 MB,
a 200 MB body) and WSDLs (the real NAV Customer page WSDL with a hostile import or
prologue).

Usage::

    with HostileServer() as server:
        server.answer("/contacts", json_body({"value": "oops"}))
        ...  # connect to server.url("/contacts")
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .nav_soap import SOAP_NS, customer_wsdl_text, page_namespace

CHUNK = 64 * 1024
NAV = page_namespace("Customer")
RIGHT_LENGTH = "right"  # Content-Length: the real length


@dataclass
class Answer:
    chunks: Callable[[], Iterable[bytes]]
    status: int = 200
    content_type: str = "application/json"
    content_length: int | str | None = RIGHT_LENGTH  # "right", None (absent) or a number (maybe a lie)
    headers: dict[str, str] = field(default_factory=dict)


def body(content: bytes | str, content_type: str = "application/json", **options) -> Answer:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return Answer(lambda: [data], content_type=content_type, **options)


def json_body(data, **options) -> Answer:
    return body(json.dumps(data), **options)


def xml_body(content: bytes | str, **options) -> Answer:
    return body(content, "text/xml; charset=utf-8", **options)


def redirect(location: str) -> Answer:
    return Answer(lambda: [], status=302, content_type="text/plain", headers={"Location": location})


def streamed(head: bytes, filler: bytes, size: int, tail: bytes, content_type: str, **options) -> Answer:
    """``head``, then ``filler`` repeated up to ``size`` bytes in all, then ``tail``: generated while sent."""
    block = (filler * (CHUNK // len(filler) + 1))[:CHUNK]

    def chunks():
        yield head
        remaining = size - len(head) - len(tail)
        while remaining > 0:
            piece = block[: min(CHUNK, remaining)]
            remaining -= len(piece)
            yield piece
        yield tail

    options.setdefault("content_length", None)
    if options["content_length"] == RIGHT_LENGTH:
        options["content_length"] = size
    return Answer(chunks, content_type=content_type, **options)


def huge_json(size: int, **options) -> Answer:
    """``{"value": [{"Id": 1, "Name": "xxxx…"}]}`` of ``size`` bytes."""
    return streamed(b'{"value": [{"Id": 1, "Name": "', b"x", size, b'"}]}', "application/json", **options)


def gzip_bomb_json(inflated_size: int) -> Answer:
    """``huge_json(inflated_size)`` gzip-compressed while sent (a few hundred KB on the wire)."""
    plain = huge_json(inflated_size)

    def chunks():
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
        for chunk in plain.chunks():
            compressed = compressor.compress(chunk)
            if compressed:
                yield compressed
        yield compressor.flush()

    return Answer(chunks, content_type="application/json", content_length=None, headers={"Content-Encoding": "gzip"})


# ---------------------------------------------------------------- SOAP documents


def read_multiple_envelope(customers_xml: str, prologue: str = "") -> str:
    """A NAV ``ReadMultiple`` answer holding ``customers_xml``, after an optional prologue (a DOCTYPE)."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{prologue}'
        f'<Soap:Envelope xmlns:Soap="{SOAP_NS}"><Soap:Body>'
        f'<ReadMultiple_Result xmlns="{NAV}"><ReadMultiple_Result>{customers_xml}</ReadMultiple_Result>'
        "</ReadMultiple_Result></Soap:Body></Soap:Envelope>"
    )


def customer(no: str, name: str) -> str:
    return f"<Customer><Key>1;{no};</Key><No>{no}</No><Name>{name}</Name></Customer>"


def billion_laughs_prologue(root: str = "Soap:Envelope") -> str:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{"".join(f"&lol{n - 1};" for _ in range(10))}">' for n in range(1, 10)
    ]
    return f"<!DOCTYPE {root} [{''.join(levels)}]>\n"


def xxe_prologue(path: str, root: str = "Soap:Envelope") -> str:
    return f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file://{path}">]>\n'


def external_dtd_prologue(dtd_url: str, root: str = "Soap:Envelope") -> str:
    return f'<!DOCTYPE {root} SYSTEM "{dtd_url}">\n'


def parameter_entity_prologue(dtd_url: str, root: str = "Soap:Envelope") -> str:
    return f'<!DOCTYPE {root} [<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>\n'


def _one_customer_answer(name_filler: bytes, text_bytes: int, **options) -> Answer:
    """A ReadMultiple answer: one customer whose Name is ``name_filler`` repeated to ``text_bytes`` bytes."""
    head, tail = read_multiple_envelope("\0").split("\0")
    head_bytes = (head + "<Customer><Key>1;C1;</Key><No>C1</No><Name>").encode()
    tail_bytes = ("</Name></Customer>" + tail).encode()
    size = len(head_bytes) + text_bytes + len(tail_bytes)
    return streamed(head_bytes, name_filler, size, tail_bytes, "text/xml; charset=utf-8", **options)


def huge_text_answer(text_bytes: int) -> Answer:
    """A well-formed answer, with its Content-Length, whose one text node is ``text_bytes`` long."""
    return _one_customer_answer(b"A", text_bytes, content_length=RIGHT_LENGTH)


def huge_soap_answer(size: int, **options) -> Answer:
    """A ReadMultiple answer of about ``size`` bytes, without a Content-Length unless one is given."""
    return _one_customer_answer(b"B", size, **options)


def wsdl_with(location: str, *, prologue: str = "", schema_import: str = "", text: str = "") -> str:
    """The real NAV Customer WSDL (``soap:address`` = ``location``) with a prologue, an XSD import or a text."""
    wsdl = customer_wsdl_text(location)
    if prologue:
        wsdl = wsdl.replace("<definitions", prologue + "<definitions", 1)
    if text:
        opening = wsdl.index(">", wsdl.index("<definitions")) + 1
        wsdl = f"{wsdl[:opening]}<documentation>{text}</documentation>{wsdl[opening:]}"
    if schema_import:
        opening = wsdl.index(">", wsdl.index("<xsd:schema")) + 1
        wsdl = wsdl[:opening] + schema_import + wsdl[opening:]
    return wsdl


def huge_schema(size: int) -> Answer:
    head = b'<?xml version="1.0"?><schema xmlns="http://www.w3.org/2001/XMLSchema"><annotation><documentation>'
    tail = b"</documentation></annotation></schema>"
    return streamed(head, b"S", size, tail, "text/xml; charset=utf-8")


# ---------------------------------------------------------------- the server


@dataclass
class Seen:
    method: str
    path: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._serve("POST")

    def _serve(self, method: str):
        hostile = self.server.hostile
        path = self.path.split("?", 1)[0]
        hostile.record(method, self.path)
        answer = hostile.answers.get(path)
        if answer is None:
            answer = body(b"not found", "text/plain", status=404)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            chunks = answer.chunks()
            if answer.content_length == RIGHT_LENGTH:
                chunks = list(chunks)
                self.send_header("Content-Length", str(sum(map(len, chunks))))
            elif answer.content_length is not None:
                self.send_header("Content-Length", str(answer.content_length))
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                if hostile.stopping.is_set():
                    return
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: as it should
            hostile.record("CLOSED", self.path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hostile: HostileServer

    def handle_error(self, request, client_address):  # a client that hung up is not an error here
        pass


class HostileServer:
    """Serves the answers put at each path; a context manager that starts and stops it."""

    def __init__(self):
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HostileServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.hostile = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile-server", daemon=True
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

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def answer(self, path: str, answer: Answer) -> str:
        """Answer ``path`` with ``answer`` from now on; returns its URL."""
        self.answers[path] = answer
        return self.url(path)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.seen.append(Seen(method, path))

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path.split("?", 1)[0] == path]
