"""What the Sankhya and Omie test servers share: an HTTP server on 127.0.0.1, the requests received and a clock.

The servers themselves are :class:`tests.servers.sankhya_api.FakeSankhya` and
:class:`tests.servers.omie_api.FakeOmie`. Each is a context manager (a fixture that ``yield``s inside ``with``
stops it on teardown, also when the test fails), keeps its records in plain dicts behind one lock, appends
every request to ``received`` and stamps change dates with its own clock: ``now`` is a naive datetime (the
ERP's wall clock; both APIs speak local time without a zone) or a callable returning one, so a test never
depends on today's date.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.servers.batch_apis import Received

DEFAULT_NOW = datetime(2026, 12, 5, 10, 0, 0)


@dataclass
class Reply:
    status: int
    payload: object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ErpApiServer:
    """Lifecycle, received requests and clock; subclasses answer in :meth:`answer`."""

    now: datetime | Callable[[], datetime] = DEFAULT_NOW
    received: list[Received] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
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

    def clock(self) -> datetime:
        """The server's current time, to the second (both APIs keep no fractions)."""
        value = self.now() if callable(self.now) else self.now
        return value.replace(microsecond=0)

    def advance(self, **delta) -> None:
        """Move a fixed clock forward: ``server.advance(minutes=6)``."""
        if callable(self.now):
            raise TypeError("advance() moves a fixed clock; this server reads a callable")
        self.now = self.now + timedelta(**delta)

    def calls(self, marker: str) -> list[Received]:
        """The requests whose path or body mention ``marker`` (a service or method name)."""
        with self._lock:
            return [r for r in self.received if marker in r.path or marker in r.body]

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], text: str) -> Reply:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        api: ErpApiServer = self.server.api
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = dict(self.headers)
        with api._lock:
            api.received.append(Received(self.command, parts.path, query, headers, text))
        reply = api.answer(self.command, parts.path, query, headers, text)
        body = json.dumps(reply.payload, ensure_ascii=False).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
