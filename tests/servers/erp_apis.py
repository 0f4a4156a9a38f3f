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

from tests.servers.local_http import LocalHandler, Received, ServedLocally

DEFAULT_NOW = datetime(2026, 12, 5, 10, 0, 0)


@dataclass
class Reply:
    status: int
    payload: object
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ErpApiServer(ServedLocally):
    """Lifecycle, received requests and clock; subclasses answer in :meth:`answer`."""

    now: datetime | Callable[[], datetime] = DEFAULT_NOW
    received: list[Received] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def start(self):
        return self.serve(_Handler)

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


class _Handler(LocalHandler):
    def _dispatch(self):
        api: ErpApiServer = self.server.api
        parts, query, text = self.read_request()
        headers = dict(self.headers)
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
