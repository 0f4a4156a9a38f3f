"""The rate budget and daily quota a connection's callers share: every worker and every integration using it.

A connection with a ``rate_limit_per_minute`` or a ``daily_call_limit`` gets one budget (see
:class:`sync.connectors.throttle.Budget`), kept where every worker process sees it: in Redis when
``REDIS_URL`` is set (the task broker's server), else in the database (:class:`~sync.models.ConnectionBudget`).
A connection with neither gets none and its calls make no query at all (its connector keeps an
in-process budget, which an API saying its daily quota is spent still stops until midnight).
Slots are GCRA's: a call's slot is the latest of the budget's ``next_at``, its hold and now, and
``next_at`` moves on to the slot plus 60 / rate. Each reservation counts one call of the day (the
portal's time zone) in the same compare-and-swap or script; one that would pass the daily limit books
nothing and raises :class:`~sync.connectors.base.QuotaReached` until the next midnight. Slots are
wall-clock times: workers on several hosts need their clocks in step (NTP), as the schedules do.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.db import transaction

from core.local_time import portal_zone

from .connectors.throttle import Budget, day_of, next_midnight, quota_reached, quota_spent_by_the_api
from .models import Connection, ConnectionBudget

REDIS_KEY = "integration-portal:rate-budget:{pk}"
# A budget idle this long after its last slot, hold or day is forgotten (Redis expires the key).
REDIS_IDLE_MS = 3_600_000

# Redis keeps the key at least ``ttl`` milliseconds more (never shortens it).
_EXTEND = """
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""
# KEYS[1] the budget; ARGV now, interval, idle, today, daily limit (0: none), calls counted (0 or 1),
# milliseconds to the next midnight. Returns {0, milliseconds to wait}, {1, spent until} or {2, calls today}.
RESERVE_SCRIPT = (
    _EXTEND
    + """
local now = tonumber(ARGV[1])
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
if spent > now then return {1, spent} end
local calls = 0
if redis.call('HGET', KEYS[1], 'day') == ARGV[4] then
  calls = tonumber(redis.call('HGET', KEYS[1], 'calls') or '0')
end
local limit = tonumber(ARGV[5])
local counted = tonumber(ARGV[6])
if limit > 0 and calls + counted > limit then return {2, calls} end
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local slot = math.max(next_at, held, now)
redis.call('HSET', KEYS[1], 'next', string.format('%d', slot + tonumber(ARGV[2])),
  'day', ARGV[4], 'calls', string.format('%d', calls + counted))
extend(KEYS[1], math.max(slot - now, tonumber(ARGV[7])) + tonumber(ARGV[3]))
return {0, slot - now}
"""
)
# KEYS[1] the budget; ARGV until, now, idle (milliseconds), the field (held or spent).
HOLD_SCRIPT = (
    _EXTEND
    + """
local hold_at = tonumber(ARGV[1])
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[4]) or '0')
if hold_at > held then
  redis.call('HSET', KEYS[1], ARGV[4], string.format("%d", hold_at))
  extend(KEYS[1], math.max(0, hold_at - tonumber(ARGV[2])) + tonumber(ARGV[3]))
end
return 0
"""
)


def for_connection(connection: Connection) -> Budget | None:
    """The shared budget of ``connection``; None without a rate or a daily limit (the connector keeps its own)."""
    per_minute, daily = connection.rate_limit_per_minute, connection.daily_call_limit
    if not (per_minute or daily):
        return None
    if settings.REDIS_URL:
        return RedisBudget(redis_client(settings.REDIS_URL), connection.pk, per_minute, daily_limit=daily)
    return DatabaseBudget(connection.pk, per_minute, daily_limit=daily)


@cache
def redis_client(url: str) -> redis.Redis:
    """One client (one connection pool) per Redis URL in a process."""
    return redis.Redis.from_url(url)


def _moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class DatabaseBudget:
    """A connection's budget in its :class:`ConnectionBudget` row.

    Each reservation is one short transaction of its own (durable: never inside the caller's): read
    the row, then a compare-and-swap ``UPDATE … WHERE next_call_at = <read> AND held_until = <read>
    AND day = <read> AND day_calls = <read>`` that books the slot and counts the call, read again
    when another worker booked in between. Threads of one process sharing the budget (writes in
    flight) book in turn, so they never contend for the row among themselves.
    """

    def __init__(
        self,
        connection_id: int,
        per_minute: int | None,
        *,
        daily_limit: int | None = None,
        zone: ZoneInfo | None = None,
        using: str = "default",
    ):
        self.connection_id = connection_id
        self.interval = dt.timedelta(seconds=60 / per_minute if per_minute else 0)
        self.daily_limit = daily_limit or None
        self.zone = zone or portal_zone()
        self.using = using
        self._turn = threading.Lock()

    def _rows(self):
        return ConnectionBudget.objects.using(self.using).filter(pk=self.connection_id)

    def reserve(self, now: float, *, rebook: bool = False) -> float:
        with self._turn:
            return self._reserve(now, rebook)

    def _reserve(self, now: float, rebook: bool) -> float:
        moment, today, counted = _moment(now), day_of(now, self.zone), 0 if rebook else 1
        rows = self._rows()
        while True:
            with transaction.atomic(using=self.using, durable=True):
                found = rows.values_list("next_call_at", "held_until", "day", "day_calls", "spent_until").first()
                if found is None:
                    self._create(moment)
                    continue
                next_at, held, day, calls, spent = found
                if spent and spent > moment:
                    raise quota_spent_by_the_api(spent.timestamp())
                used = calls if day == today else 0
                if self.daily_limit and used + counted > self.daily_limit:
                    raise quota_reached(used, self.daily_limit, next_midnight(now, self.zone))
                slot = max(next_at, held or moment, moment)
                booked = rows.filter(next_call_at=next_at, held_until=held, day=day, day_calls=calls).update(
                    next_call_at=slot + self.interval, day=today, day_calls=used + counted, updated_at=moment
                )
            if booked:
                return (slot - moment).total_seconds()

    def hold(self, until: float) -> None:
        self._raise_to("held_until", _moment(until))

    def spend_day(self, until: float) -> None:
        self._raise_to("spent_until", _moment(until))

    def _raise_to(self, field: str, moment: dt.datetime) -> None:
        """Set ``field`` to ``moment`` unless it is already as late (a shorter hold never shortens one in force)."""
        with self._turn, transaction.atomic(using=self.using, durable=True):
            self._create(_moment(0))
            later = {f"{field}__gte": moment}
            self._rows().exclude(**later).update(**{field: moment, "updated_at": dt.datetime.now(dt.UTC)})

    def held_until(self) -> float:
        with self._turn:
            moment = self._rows().values_list("held_until").first()
        return moment[0].timestamp() if moment and moment[0] else 0.0

    def _create(self, moment: dt.datetime) -> None:
        """The connection's row, unless another worker made it first."""
        ConnectionBudget.objects.using(self.using).bulk_create(
            [ConnectionBudget(connection_id=self.connection_id, next_call_at=moment, updated_at=moment)],
            ignore_conflicts=True,
        )


class RedisBudget:
    """A connection's budget in a Redis hash, booked by a Lua script.

    Fields: ``next``, ``held`` and ``spent`` (milliseconds), ``day`` (ISO date) and ``calls`` that day.
    The key lives until the day's end at least, so that its count is never forgotten before midnight.
    """

    def __init__(
        self,
        client: redis.Redis,
        connection_id: int,
        per_minute: int | None,
        *,
        daily_limit: int | None = None,
        zone: ZoneInfo | None = None,
    ):
        self._client = client
        self.key = REDIS_KEY.format(pk=connection_id)
        self.interval_ms = round(60_000 / per_minute) if per_minute else 0
        self.daily_limit = daily_limit or None
        self.zone = zone or portal_zone()
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._hold = client.register_script(HOLD_SCRIPT)

    def reserve(self, now: float, *, rebook: bool = False) -> float:
        midnight = next_midnight(now, self.zone)
        outcome, value = self._reserve(
            keys=[self.key],
            args=[
                round(now * 1000),
                self.interval_ms,
                REDIS_IDLE_MS,
                day_of(now, self.zone).isoformat(),
                self.daily_limit or 0,
                0 if rebook else 1,
                round((midnight - now) * 1000),
            ],
        )
        if int(outcome) == 1:
            raise quota_spent_by_the_api(int(value) / 1000)
        if int(outcome) == 2:
            raise quota_reached(int(value), self.daily_limit, midnight)
        return int(value) / 1000

    def hold(self, until: float) -> None:
        self._hold(keys=[self.key], args=[round(until * 1000), round(time.time() * 1000), REDIS_IDLE_MS, "held"])

    def spend_day(self, until: float) -> None:
        self._hold(keys=[self.key], args=[round(until * 1000), round(time.time() * 1000), REDIS_IDLE_MS, "spent"])

    def held_until(self) -> float:
        return int(self._client.hget(self.key, "held") or 0) / 1000


# --- what a person sees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """A connection's limits and how much of them is used, as its budget holds them.

    ``calls_today`` is None when the connection has no budget (neither limit): its calls are not booked.
    ``quota_until``: when the daily quota comes back, if it is reached (the limit counted, or the API
    said so); ``held_until``: when the calls may go on, if the API asked every caller to wait.
    """

    per_minute: int | None
    daily_limit: int | None
    calls_today: int | None
    held_until: dt.datetime | None = None
    quota_until: dt.datetime | None = None


def usage(connection: Connection, now: float | None = None) -> Usage:
    """Today's calls of ``connection`` against its limits, read from its budget (the database row or Redis)."""
    now = time.time() if now is None else now
    per_minute, daily = connection.rate_limit_per_minute, connection.daily_call_limit
    if not (per_minute or daily):
        return Usage(per_minute, daily, None)
    zone = portal_zone()
    today = day_of(now, zone)
    if settings.REDIS_URL:
        stored = {
            name.decode(): value.decode()
            for name, value in redis_client(settings.REDIS_URL).hgetall(REDIS_KEY.format(pk=connection.pk)).items()
        }
        calls = int(stored.get("calls", 0)) if stored.get("day") == today.isoformat() else 0
        held, spent = (_moment(int(stored.get(name, 0)) / 1000) for name in ("held", "spent"))
    else:
        row = ConnectionBudget.objects.filter(pk=connection.pk).values("day", "day_calls", "held_until", "spent_until")
        found = row.first() or {}
        calls = found["day_calls"] if found.get("day") == today else 0
        held, spent = found.get("held_until"), found.get("spent_until")
    moment = _moment(now)
    quota_until = spent if spent and spent > moment else None
    if quota_until is None and daily and calls >= daily:
        quota_until = _moment(next_midnight(now, zone))
    return Usage(per_minute, daily, calls, held if held and held > moment else None, quota_until)
