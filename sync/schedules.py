"""Schedule arithmetic: when an integration runs, in the portal's time zone and DST-safe. Pure.

*Daily at HH:MM* is the cron expression ``MM HH * * *``; cron expressions are evaluated by
croniter on local wall time. A wall time that does not exist (spring forward) runs at the
first instant after the gap; one that occurs twice (fall back) runs once, at its first
occurrence, when the expression names a fixed minute and hour (as Vixie cron does);
expressions with ``*`` in the minute or hour field keep running in real time through the
repeated hour. *Every N minutes* counts from its first slot (when it was switched on or
rescheduled), arithmetic in UTC.

The slot due next is stored on the integration's state and claimed by whoever moves it on
(:mod:`sync.slots`); this module only says which slot follows which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from .choices import ScheduleKind
from .validators import DAILY_TIME, check_cron

MIN_GRACE, MAX_GRACE = timedelta(minutes=5), timedelta(hours=1)
# An interval stored before intervals had a range (up to 10^12 minutes): past a century, slot
# arithmetic would leave the calendar (OverflowError), so such an interval counts as no schedule.
LONGEST_USABLE_INTERVAL_MINUTES = 100 * 366 * 24 * 60


def grace_for(period: timedelta) -> timedelta:
    """How long a due slot may wait before the integration is *late*: 10 % of the period, 5 min to 1 h."""
    return min(max(period / 10, MIN_GRACE), MAX_GRACE)


def is_fixed_time(cron: str) -> bool:
    minute, hour = cron.split()[:2]
    return not minute.startswith("*") and not hour.startswith("*")


def _cron_step(cron: str, start: datetime, tz: ZoneInfo, *, forward: bool) -> datetime | None:
    """The slot after (or before) ``start``, in UTC, with the fall-back rule of fixed-time expressions."""
    try:
        slots = croniter(cron, start.astimezone(tz))
        skip_repeats = is_fixed_time(cron)
        for _attempt in range(4):
            slot = (slots.get_next if forward else slots.get_prev)(datetime).astimezone(UTC)
            # ``fold`` is 1 only for the second occurrence of a repeated wall time.
            if not (skip_repeats and slot.astimezone(tz).fold == 1):
                return slot
    except (ValueError, KeyError, OverflowError):  # croniter's errors are ValueErrors
        return None
    return None


@dataclass(frozen=True)
class Timing:
    """When an integration runs: nothing, every ``interval``, or a cron expression (daily included)."""

    kind: str = ScheduleKind.NONE
    interval: timedelta | None = None
    cron: str = ""

    @classmethod
    def of(cls, integration) -> Timing:
        """The integration's timing; an incomplete or invalid one counts as none."""
        kind = integration.schedule_kind
        minutes = integration.schedule_interval_minutes
        if kind == ScheduleKind.INTERVAL and minutes and minutes <= LONGEST_USABLE_INTERVAL_MINUTES:
            return cls(kind, interval=timedelta(minutes=minutes))
        if kind == ScheduleKind.DAILY:
            match = DAILY_TIME.match(integration.schedule_daily_time or "")
            if match:
                hour, minute = (int(part) for part in match.groups())
                return cls(kind, cron=f"{minute} {hour} * * *")
        if kind == ScheduleKind.CRON and not check_cron(integration.schedule_cron):
            return cls(kind, cron=integration.schedule_cron.strip())
        return cls()

    @property
    def is_scheduled(self) -> bool:
        return bool(self.interval or self.cron)

    def first_slot(self, now: datetime, tz: ZoneInfo, last_queued_at: datetime | None = None) -> datetime | None:
        """The first slot of a timing set now: the next cron slot; for an interval, now, or one
        interval after the newest run when that is later. ``None`` when not scheduled."""
        if self.interval:
            if last_queued_at is None:
                return now
            return max(last_queued_at.astimezone(UTC) + self.interval, now)
        if self.cron:
            return _cron_step(self.cron, now, tz, forward=True)
        return None

    def newest_slot(self, due: datetime, now: datetime, tz: ZoneInfo) -> datetime:
        """The newest slot at or before ``now``, counting from ``due`` (the slot not claimed yet, ``due <= now``).

        After downtime several slots have passed: they run once, named after the newest.
        """
        if self.interval:
            return due + self.interval * ((now - due) // self.interval)
        if self.cron:
            newest = _cron_step(self.cron, now + timedelta(seconds=1), tz, forward=False)
            return max(newest, due) if newest is not None else due
        return due

    def slot_after(self, slot: datetime, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The slot due once ``slot`` is claimed at ``now``: the first one after both."""
        if self.interval:
            return slot + self.interval * ((max(now, slot) - slot) // self.interval + 1)
        if self.cron:
            return _cron_step(self.cron, max(now, slot), tz, forward=True)
        return None

    def period_at(self, slot: datetime, tz: ZoneInfo) -> timedelta:
        """The time from ``slot`` to the slot after it: what the grace of a late run is measured on."""
        if self.interval:
            return self.interval
        following = _cron_step(self.cron, slot, tz, forward=True) if self.cron else None
        return following - slot if following is not None else timedelta(days=1)
