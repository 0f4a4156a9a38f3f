"""A connection's rate limit: at most ``rate_limit_per_minute`` calls a minute, spaced evenly.

A :class:`Budget` hands out the slots: ``reserve(now)`` books the next one and says how long to
wait for it, ``hold(until)`` makes every later reservation wait until then (the API asked so).
Times are wall-clock seconds (``time.time()``), so that budgets kept outside the process (in the
database or in Redis, see :mod:`sync.budgets`) compare the same clock in every worker.
:class:`RateLimit` keeps one in the process: the default when no shared budget is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Budget(Protocol):
    """The slots of one connection's calls, GCRA style: a call's slot is ``max(next_at, held_until, now)``."""

    def reserve(self, now: float) -> float:
        """Book the next slot; the seconds to wait for it (0: go now)."""

    def hold(self, until: float) -> None:
        """No slot before ``until`` (the API refused or said its budget is spent until then)."""

    def held_until(self) -> float:
        """Until when the budget is held (0: never held); read again by a caller whose wait is over."""


class RateLimit:
    """Calls start at least 60/rate seconds apart, within one process; no limit when the rate is blank or 0.

    Threads sharing a connector book their slots in turn. Without a limit nothing is ever held
    either: a ``Retry-After`` is then the retry policy's business only.
    """

    def __init__(
        self,
        per_minute: int | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60 / per_minute if per_minute else 0.0
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_call_at = 0.0
        self._held_until = 0.0

    def reserve(self, now: float) -> float:
        if not self.interval:
            return 0.0
        with self._lock:
            slot = max(self._next_call_at, now)
            self._next_call_at = slot + self.interval
        return slot - now

    def hold(self, until: float) -> None:
        if not self.interval:
            return
        with self._lock:
            self._next_call_at = max(self._next_call_at, until)
            self._held_until = max(self._held_until, until)

    def held_until(self) -> float:
        return self._held_until

    def wait_turn(self) -> None:
        """Book the next slot and sleep until it comes."""
        wait = self.reserve(self.clock())
        if wait > 0:
            self.sleep(wait)


# Above this, an X-RateLimit-Reset is a moment (epoch seconds), below it a number of seconds from now.
RESET_IS_A_MOMENT_ABOVE = 1_000_000_000


def asked_to_wait(status: int | None, headers, now: float, retry_after: Callable[[str | None], float | None]):
    """Seconds the API asked every caller to wait, from an answer's status and headers; None when it did not.

    A 429 with ``Retry-After`` (read by ``retry_after``), or ``X-RateLimit-Remaining: 0`` with
    ``X-RateLimit-Reset`` (seconds from now, or a moment in epoch seconds).
    """
    if not headers:
        return None
    lowered = {str(name).lower(): value for name, value in headers.items()}
    if status == 429:
        wait = retry_after(lowered.get("retry-after"))
        if wait is not None:
            return wait
    if str(lowered.get("x-ratelimit-remaining", "")).strip() == "0":
        try:
            reset = float(str(lowered.get("x-ratelimit-reset", "")).strip())
        except ValueError:
            return None
        return max(0.0, reset - now if reset > RESET_IS_A_MOMENT_ABOVE else reset)
    return None
