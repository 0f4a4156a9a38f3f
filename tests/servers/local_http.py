"""What the local API servers share: serving on a free 127.0.0.1 port in a thread, and reading a request.

A server class mixes in :class:`ServedLocally` and starts with ``self.serve(<its handler class>)``; its
handler derives from :class:`LocalHandler`, whose ``do_GET``/``do_POST`` call the handler's ``_dispatch``
and whose :meth:`LocalHandler.read_request` reads the body and notes the request in the server's
``received`` list (under its ``_lock``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import SplitResult, parse_qsl, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


class ServedLocally:
    """Lifecycle of a server on 127.0.0.1: a context manager; ``url`` once started."""

    def serve(self, handler: type[BaseHTTPRequestHandler]):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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


class LocalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def _dispatch(self):
        raise NotImplementedError

    def read_request(self) -> tuple[SplitResult, dict[str, str], str]:
        """The request's URL parts, query and body text, noted in the server's ``received``."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        api = self.server.api
        with api._lock:
            api.received.append(Received(self.command, parts.path, query, dict(self.headers), text))
        return parts, query, text
