"""What the history workbook's *Reconciliation* sheet holds: each table's ledger, day by day.

One row per (day in the portal's time zone, table) of the chosen range: the source's total and the
count confirmed in the target as the day's newest finished table run that had them saw them (with
the links that count was held against, from the same run), and the sums of what the day's finished
table runs read and did. One query, whatever the number of days: window functions over the table
runs, partitioned by day and table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Case, F, IntegerField, Sum, Value, When, Window
from django.db.models.functions import FirstValue, RowNumber, TruncDate
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .models import TableRun

# The counters summed per day, in the order of the ledger: read, then each outcome.
COUNTERS = ("read", "created", "updated", "unchanged", "skipped", "waiting", "deleted", "held", "failed")
COLUMN_WIDTHS = (12, 24, 16, *(11,) * len(COUNTERS), 16, 16)


@dataclass
class DayRow:
    """One table's ledger on one day."""

    day: date
    table_name: str
    source_total: int | None = None
    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    target_total: int | None = None
    linked_total: int | None = None

    @property
    def figures(self) -> list[int | None]:
        """The row's numbers in the order of :func:`headers`, after the day and the table (None: not known)."""
        return [self.source_total, *(self.sums[name] for name in COUNTERS), self.target_total, self.linked_total]


def headers() -> list[str]:
    return [
        _("Day"),
        _("Table"),
        _("Source total (newest run of the day)"),
        *(str(capfirst(TableRun._meta.get_field(name).verbose_name)) for name in COUNTERS),
        _("Confirmed in the target (newest run of the day)"),
        _("Linked by the portal (same run)"),
    ]


def _day(zone):
    return TruncDate("started_at", tzinfo=zone)


def _partition(zone):
    return [_day(zone), F("table_id")]


def _newest_having(name: str, zone, value: str | None = None) -> Window:
    """The day's newest value of ``value`` (default ``name``) among the table runs where ``name`` is set."""
    unset_last = Case(When(**{f"{name}__isnull": True}, then=Value(1)), default=Value(0), output_field=IntegerField())
    return Window(
        FirstValue(value or name),
        partition_by=_partition(zone),
        order_by=[unset_last.asc(), F("started_at").desc(), F("pk").desc()],
    )


def daily_rows(tables, start_day: date, end_day: date, start, end, zone) -> list[DayRow]:
    """Every (day, table) of the range, in day then table order; days without a run have zeros and blanks."""
    runs = (
        TableRun.objects.filter(table__in=tables, finished_at__isnull=False, started_at__gte=start, started_at__lt=end)
        .annotate(
            day=_day(zone),
            position=Window(RowNumber(), partition_by=_partition(zone), order_by=F("pk").asc()),
            newest_source_total=_newest_having("source_total", zone),
            newest_target_total=_newest_having("target_total", zone),
            newest_linked_total=_newest_having("target_total", zone, "linked_total"),
            **{f"sum_{name}": Window(Sum(name), partition_by=_partition(zone)) for name in COUNTERS},
        )
        .filter(position=1)
        .values(
            "day",
            "table_id",
            "newest_source_total",
            "newest_target_total",
            "newest_linked_total",
            *(f"sum_{name}" for name in COUNTERS),
        )
    )
    found = {(row["day"], row["table_id"]): row for row in runs}
    rows = []
    day = start_day
    while day <= end_day:
        for table in tables:
            row = DayRow(day, table.name)
            figures = found.get((day, table.pk))
            if figures is not None:
                row.source_total = figures["newest_source_total"]
                row.target_total = figures["newest_target_total"]
                row.linked_total = figures["newest_linked_total"]
                row.sums = {name: figures[f"sum_{name}"] or 0 for name in COUNTERS}
            rows.append(row)
        day += timedelta(days=1)
    return rows
