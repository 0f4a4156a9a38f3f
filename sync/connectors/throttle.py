"""A connection's rate limit: at most ``rate_limit_per_minute`` calls a minute, spaced evenly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimit:
    """Calls start at least 60/rate seconds apart; no limit when the rate is blank or 0.

    ``wait_turn`` is called right before each call goes out (each attempt counts); threads
    sharing a connector queue behind one another.
    """

    def __init__(
        self,
        per_minute: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60 / per_minute if per_minute else 0.0
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_call_at = 0.0

    def wait_turn(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            if self._next_call_at > now:
                self.sleep(self._next_call_at - now)
                now = self._next_call_at
            self._next_call_at = now + self.interval
