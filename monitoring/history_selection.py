"""What a history export covers: one integration's tables over days of the portal's calendar.

The History tab offers the last :data:`HISTORY_DAYS` days; a selection of up to
:func:`inline_max_rows` rows is written during the request, a larger one in the background
(:mod:`monitoring.exports`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils.text import slugify

from core.local_time import portal_zone
from sync.models import Integration, SyncTable

from .models import RecordEvent, RequestLog

HISTORY_DAYS = 7
DEFAULT_INLINE_MAX_ROWS = 20_000


@dataclass(frozen=True)
class HistorySelection:
    """The tables of one integration and the days (inclusive, in the portal's time zone)."""

    integration: Integration
    tables: tuple[SyncTable, ...]
    start: date
    end: date

    def bounds(self, zone=None) -> tuple[datetime, datetime]:
        """From the start day's midnight up to (not including) the midnight after the end day."""
        zone = zone or portal_zone()
        return (
            datetime.combine(self.start, time.min, tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone),
        )

    @property
    def table_ids(self) -> list[int]:
        return [table.pk for table in self.tables]

    @property
    def filename(self) -> str:
        return history_filename(self.integration, self.start, self.end)


def history_filename(integration: Integration, start: date, end: date) -> str:
    """``history-sankhya-ploomes-2026-11-16_2026-11-23.xlsx``."""
    slug = slugify(integration.name) or f"integration-{integration.pk}"
    return f"history-{slug}-{start.isoformat()}_{end.isoformat()}.xlsx"


def history_starts(now: datetime) -> datetime:
    """The oldest moment the History tab offers: midnight (portal time) of the first of its days."""
    zone = portal_zone()
    today = now.astimezone(zone).date()
    return datetime.combine(today - timedelta(days=HISTORY_DAYS), time.min, tzinfo=zone)


def inline_max_rows() -> int:
    """Up to this many rows, the workbook is written during the request; beyond, in the background."""
    return getattr(settings, "EXPORT_INLINE_MAX_ROWS", DEFAULT_INLINE_MAX_ROWS)


def events_in(table_ids, start: datetime, end: datetime):
    """The record events of ``table_ids`` from ``start`` up to (not including) ``end``."""
    return RecordEvent.objects.filter(table_id__in=table_ids, occurred_at__gte=start, occurred_at__lt=end)


def requests_in(table_ids, start: datetime, end: datetime):
    """The request logs of ``table_ids`` from ``start`` up to (not including) ``end``."""
    return RequestLog.objects.filter(table_id__in=table_ids, started_at__gte=start, started_at__lt=end)


def count_history_rows(selection: HistorySelection) -> int:
    """How many rows the workbook will have (two COUNT queries, whatever the number of tables)."""
    start, end = selection.bounds()
    ids = selection.table_ids
    return events_in(ids, start, end).count() + requests_in(ids, start, end).count()
