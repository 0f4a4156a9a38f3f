"""A receiver of webhooks on 127.0.0.1: it notes every delivery and answers the statuses it is told to, then 200."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.servers.local_http import LocalHandler, Received, ServedLocally


@dataclass
class WebhookCatcher(ServedLocally):
    statuses: list[int] = field(default_factory=list)  # the answers to the next deliveries, in order
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self):
        return self.serve(_Handler)

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self.statuses.extend(statuses)

    def next_status(self) -> int:
        with self._lock:
            return self.statuses.pop(0) if self.statuses else 200

    def deliveries(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(self, count: int, seconds: float = 10) -> list[Received]:
        """The deliveries once there are ``count`` of them (AssertionError past the deadline)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.deliveries()) >= count:
                return self.deliveries()
            time.sleep(0.01)
        raise AssertionError(f"{len(self.deliveries())} deliveries, expected {count}")


class _Handler(LocalHandler):
    def _dispatch(self):
        self.read_request()
        status = self.server.api.next_status()
        body = b'{"received": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
