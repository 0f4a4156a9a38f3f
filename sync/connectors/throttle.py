"""A connection's limits: at most ``rate_limit_per_minute`` calls a minute, spaced evenly, and a daily quota.

A :class:`Budget` hands out the slots: ``reserve(now)`` books the next one and says how long to
wait for it, ``hold(until)`` makes every later reservation wait until then (the API asked so).
Each reservation also counts one call of the day (the portal's time zone): one that would go past
the daily call limit books nothing and raises :class:`~.base.QuotaReached` until the next midnight,
and so does every reservation once ``spend_day(until)`` says the API's own daily quota is spent.
Times are wall-clock seconds (``time.time()``), so that budgets kept outside the process (in the
database or in Redis, see :mod:`sync.budgets`) compare the same clock in every worker.
:class:`RateLimit` keeps one in the process: the default when no shared budget is given.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Protocol
from zoneinfo import ZoneInfo

from core import stored_messages as stored
from core.local_time import portal_zone

from .base import QuotaReached


class Budget(Protocol):
    """The slots of one connection's calls, GCRA style: a call's slot is ``max(next_at, held_until, now)``."""

    def reserve(self, now: float, *, rebook: bool = False) -> float:
        """Book the next slot; the seconds to wait for it (0: go now).

        Counts one call of the day unless ``rebook`` (the call was counted when it first booked);
        raises :class:`~.base.QuotaReached` when the day's quota is reached or spent.
        """

    def hold(self, until: float) -> None:
        """No slot before ``until`` (the API refused or said its budget is spent until then)."""

    def held_until(self) -> float:
        """Until when the budget is held (0: never held); read again by a caller whose wait is over."""

    def spend_day(self, until: float) -> None:
        """The API said its daily quota is spent: every reservation before ``until`` raises QuotaReached."""


# --- the day -----------------------------------------------------------------------------------------------


def day_of(now: float, zone: ZoneInfo) -> dt.date:
    """The calendar day of the moment ``now`` (epoch seconds) in ``zone``."""
    return dt.datetime.fromtimestamp(now, zone).date()


def next_midnight(now: float, zone: ZoneInfo) -> float:
    """The start of the day after ``now``'s, in ``zone``, as epoch seconds: when a daily quota comes back."""
    tomorrow = day_of(now, zone) + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=zone).timestamp()


def quota_reached(used: int, limit: int, until: float) -> QuotaReached:
    """The daily call limit is reached: no call before ``until``."""
    message = stored.ngettext(
        "daily quota reached (%(used)d of %(limit)d call today)",
        "daily quota reached (%(used)d of %(limit)d calls today)",
        limit,
        used=used,
        limit=limit,
    )
    return QuotaReached(message, until=until)


def quota_spent_by_the_api(until: float) -> QuotaReached:
    """The API said its daily quota is spent: no call before ``until``."""
    return QuotaReached(stored.gettext("the API says its daily quota is spent"), until=until)


# --- in the process ----------------------------------------------------------------------------------------


class RateLimit:
    """Calls start at least 60/rate seconds apart, within one process; no limit when the rate is blank or 0.

    Threads sharing a connector book their slots in turn. Without a rate nothing is ever held
    either: a ``Retry-After`` is then the retry policy's business only. The day's calls are
    counted against ``daily_limit`` (None: no quota), and the API's word that its daily quota is
    spent (:meth:`spend_day`) is kept even without any limit: a connection that has none gets no
    shared budget, so this one, in its connector, is what stops that connector's calls until midnight.
    """

    def __init__(
        self,
        per_minute: int | None,
        *,
        daily_limit: int | None = None,
        zone: ZoneInfo | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60 / per_minute if per_minute else 0.0
        self.daily_limit = daily_limit or None
        self.zone = zone or portal_zone()
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next_call_at = 0.0
        self._held_until = 0.0
        self._spent_until = 0.0
        self._day: dt.date | None = None
        self._day_calls = 0

    def reserve(self, now: float, *, rebook: bool = False) -> float:
        with self._lock:
            if self._spent_until > now:
                raise quota_spent_by_the_api(self._spent_until)
            today = day_of(now, self.zone)
            if today != self._day:
                self._day, self._day_calls = today, 0
            if not rebook:
                if self.daily_limit and self._day_calls >= self.daily_limit:
                    raise quota_reached(self._day_calls, self.daily_limit, next_midnight(now, self.zone))
                self._day_calls += 1
            if not self.interval:
                return 0.0
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

    def spend_day(self, until: float) -> None:
        with self._lock:
            self._spent_until = max(self._spent_until, until)

    def wait_turn(self) -> None:
        """Book the next slot and sleep until it comes."""
        wait = self.reserve(self.clock())
        if wait > 0:
            self.sleep(wait)


# --- what the API says -------------------------------------------------------------------------------------

# Above this, an X-RateLimit-Reset is a moment (epoch seconds), below it a number of seconds from now.
RESET_IS_A_MOMENT_ABOVE = 1_000_000_000


def _lowered(headers) -> dict[str, str]:
    return {str(name).lower(): str(value).strip() for name, value in (headers or {}).items()}


def asked_to_wait(status: int | None, headers, now: float, retry_after: Callable[[str | None], float | None]):
    """Seconds the API asked every caller to wait, from an answer's status and headers; None when it did not.

    A 429 with ``Retry-After`` (read by ``retry_after``), ``X-RateLimit-Remaining: 0`` with
    ``X-RateLimit-Reset`` (seconds from now, or a moment in epoch seconds), or HubSpot's
    ``X-HubSpot-RateLimit-Remaining: 0`` with ``X-HubSpot-RateLimit-Interval-Milliseconds`` (its window).
    """
    if not headers:
        return None
    lowered = _lowered(headers)
    if status == 429:
        wait = retry_after(lowered.get("retry-after"))
        if wait is not None:
            return wait
    if lowered.get("x-ratelimit-remaining") == "0":
        try:
            reset = float(lowered.get("x-ratelimit-reset", ""))
        except ValueError:
            return None
        return max(0.0, reset - now if reset > RESET_IS_A_MOMENT_ABOVE else reset)
    if lowered.get("x-hubspot-ratelimit-remaining") == "0":
        try:
            return max(0.0, float(lowered.get("x-hubspot-ratelimit-interval-milliseconds", "")) / 1000)
        except ValueError:
            return None
    return None


def daily_quota_spent(status: int | None, headers, body: bytes | str | None = None) -> bool:
    """Whether an answer says the API's daily quota is spent.

    HubSpot's ``X-HubSpot-RateLimit-Daily-Remaining: 0`` on any answer, or its 429 whose body names
    the daily policy (``"policyName": "DAILY"``).
    """
    if _lowered(headers).get("x-hubspot-ratelimit-daily-remaining") == "0":
        return True
    if status != 429 or not body:
        return False
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("policyName", "")).upper() == "DAILY"
