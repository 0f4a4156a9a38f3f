"""The rate budget a connection's callers share: every worker and every integration using it.

A connection with a ``rate_limit_per_minute`` gets one budget (see :class:`sync.connectors.throttle.Budget`),
kept where every worker process sees it: in Redis when ``REDIS_URL`` is set (the task broker's server),
else in the database (:class:`~sync.models.ConnectionBudget`). A connection without a limit gets none
and its calls make no query at all. Slots are GCRA's: a call's slot is the latest of the budget's
``next_at``, its hold and now, and ``next_at`` moves on to the slot plus 60 / rate. Slots are wall-clock
times: workers on several hosts need their clocks in step (NTP), as the schedules do.
"""

from __future__ import annotations

import datetime as dt
import time
from functools import cache

import redis
from django.conf import settings
from django.db import transaction

from .connectors.throttle import Budget
from .models import Connection, ConnectionBudget

REDIS_KEY = "integration-portal:rate-budget:{pk}"
# A budget idle this long after its last slot or hold is forgotten (Redis expires the key).
REDIS_IDLE_MS = 3_600_000

# KEYS[1] the budget; ARGV now, interval, idle (milliseconds). Returns the milliseconds to wait.
RESERVE_SCRIPT = """
local now = tonumber(ARGV[1])
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local slot = math.max(next_at, held, now)
redis.call('HSET', KEYS[1], 'next', string.format('%d', slot + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], slot - now + tonumber(ARGV[3]))
return slot - now
"""
# KEYS[1] the budget; ARGV until, now, idle (milliseconds).
HOLD_SCRIPT = """
local hold_at = tonumber(ARGV[1])
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
if hold_at > held then
  redis.call('HSET', KEYS[1], 'held', string.format("%d", hold_at))
  redis.call('PEXPIRE', KEYS[1], math.max(0, hold_at - tonumber(ARGV[2])) + tonumber(ARGV[3]))
end
return 0
"""


def for_connection(connection: Connection) -> Budget | None:
    """The shared budget of ``connection``; None without a rate limit (the connector then keeps none)."""
    if not connection.rate_limit_per_minute:
        return None
    if settings.REDIS_URL:
        return RedisBudget(redis_client(settings.REDIS_URL), connection.pk, connection.rate_limit_per_minute)
    return DatabaseBudget(connection.pk, connection.rate_limit_per_minute)


@cache
def redis_client(url: str) -> redis.Redis:
    """One client (one connection pool) per Redis URL in a process."""
    return redis.Redis.from_url(url)


def _moment(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class DatabaseBudget:
    """A connection's budget in its :class:`ConnectionBudget` row.

    Each reservation is one short transaction of its own (durable: never inside the caller's): read
    the row, then a compare-and-swap ``UPDATE … WHERE next_call_at = <read> AND held_until = <read>``,
    read again when another worker booked in between.
    """

    def __init__(self, connection_id: int, per_minute: int, *, using: str = "default"):
        self.connection_id = connection_id
        self.interval = dt.timedelta(seconds=60 / per_minute)
        self.using = using

    def reserve(self, now: float) -> float:
        moment = _moment(now)
        rows = ConnectionBudget.objects.using(self.using).filter(pk=self.connection_id)
        while True:
            with transaction.atomic(using=self.using, durable=True):
                found = rows.values_list("next_call_at", "held_until").first()
                if found is None:
                    self._create(moment)
                    continue
                next_at, held = found
                slot = max(next_at, held or moment, moment)
                booked = rows.filter(next_call_at=next_at, held_until=held).update(
                    next_call_at=slot + self.interval, updated_at=moment
                )
            if booked:
                return (slot - moment).total_seconds()

    def hold(self, until: float) -> None:
        held = _moment(until)
        with transaction.atomic(using=self.using, durable=True):
            self._create(_moment(0))
            rows = ConnectionBudget.objects.using(self.using).filter(pk=self.connection_id)
            rows.exclude(held_until__gte=held).update(held_until=held, updated_at=dt.datetime.now(dt.UTC))

    def held_until(self) -> float:
        held = ConnectionBudget.objects.using(self.using).filter(pk=self.connection_id).values_list("held_until")
        moment = held.first()
        return moment[0].timestamp() if moment and moment[0] else 0.0

    def _create(self, moment: dt.datetime) -> None:
        """The connection's row, unless another worker made it first."""
        ConnectionBudget.objects.using(self.using).bulk_create(
            [ConnectionBudget(connection_id=self.connection_id, next_call_at=moment, updated_at=moment)],
            ignore_conflicts=True,
        )


class RedisBudget:
    """A connection's budget in a Redis hash (``next`` and ``held``, in milliseconds), booked by a Lua script."""

    def __init__(self, client: redis.Redis, connection_id: int, per_minute: int):
        self._client = client
        self.key = REDIS_KEY.format(pk=connection_id)
        self.interval_ms = round(60_000 / per_minute)
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._hold = client.register_script(HOLD_SCRIPT)

    def reserve(self, now: float) -> float:
        wait_ms = self._reserve(keys=[self.key], args=[round(now * 1000), self.interval_ms, REDIS_IDLE_MS])
        return int(wait_ms) / 1000

    def hold(self, until: float) -> None:
        self._hold(keys=[self.key], args=[round(until * 1000), round(time.time() * 1000), REDIS_IDLE_MS])

    def held_until(self) -> float:
        return int(self._client.hget(self.key, "held") or 0) / 1000
