"""The history workbook: a summary sheet, the reconciliation sheet, then one sheet per table, streamed.

The columns are the resources' (:mod:`monitoring.resources`), but ``Resource.export()`` is
not used: it builds a whole ``tablib.Dataset`` in memory and writes it with a normal openpyxl
workbook. Here each table's record events and request logs are read with
``values_list(...).iterator()`` (no per-row queries), merged in time order, and written row by
row with XlsxWriter in ``constant_memory`` mode, so memory stays flat however many rows there
are. Counts for the summary are taken from the rows as they are written, so they always match
the sheets.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path

import xlsxwriter
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.local_time import portal_zone
from sync.models import RecordLink, SyncTable

from . import reconciliation
from .choices import RecordAction
from .history_selection import HistorySelection, events_in, requests_in
from .models import TableRun
from .resources import CellKind, RecordEventResource, RequestLogResource, request_failed

CHUNK_SIZE = 2000
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

DATETIME_FORMAT = "dd/mm/yyyy hh:mm:ss"
DATE_FORMAT = "dd/mm/yyyy"
EXCEL_MAX_ROWS = 1_048_576
COLUMN_WIDTHS = (20, 9, 9, 22, 22, 48, 22, 60, 11)
SUMMARY_FIGURES = 5  # the summary's first column of figures added up in its Total row

# CWE-1236 (OWASP "CSV injection"): text from outside data starting with one of these is a
# formula to a spreadsheet once edited or saved as CSV. The full-width forms are read as
# formulas by Excel with some input methods.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
NEUTRALISING_PREFIX = "'"


def neutralise(text: str) -> str:
    """Prefix text that a spreadsheet would run as a formula with a single quote (OWASP)."""
    return NEUTRALISING_PREFIX + text if text.startswith(FORMULA_TRIGGERS) else text


# --------------------------------------------------------------------------- sheet names


INVALID_SHEET_CHARACTERS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
SHEET_NAME_MAX = 31
RESERVED_SHEET_NAMES = {"history"}  # Excel keeps "History" for itself


def sheet_name(wanted: str, taken: set[str]) -> str:
    """An Excel-safe sheet name (≤ 31 characters, no ``[]:*?/\\``), unique among ``taken`` (lower-cased)."""
    base = INVALID_SHEET_CHARACTERS.sub(" ", wanted).strip().strip("'").strip() or _("Table")
    base = base[:SHEET_NAME_MAX].rstrip("'")
    candidate, number = base, 2
    while candidate.lower() in taken or candidate.lower() in RESERVED_SHEET_NAMES:
        suffix = f" ({number})"
        candidate = base[: SHEET_NAME_MAX - len(suffix)].rstrip().rstrip("'") + suffix
        number += 1
    taken.add(candidate.lower())
    return candidate


# --------------------------------------------------------------------------- writing


@dataclass
class TableSummary:
    """What one table's sheet holds; counted from the rows as they were written."""

    table: SyncTable
    sheets: list[str] = field(default_factory=list)
    actions: Counter = field(default_factory=Counter)
    requests: int = 0
    failed_requests: int = 0
    source_total: int | None = None  # what the source reported at the newest run in the range, when it does
    target_total: int | None = None  # what the target's count query answered at the newest run that counted
    linked: int = 0  # records the portal holds links for: what it believes is in the target

    @property
    def events(self) -> int:
        return sum(self.actions.values())

    @property
    def rows(self) -> int:
        return self.events + self.requests


@dataclass
class HistoryWorkbook:
    """What :func:`write_history` wrote."""

    selection: HistorySelection
    generated_at: datetime
    tables: list[TableSummary]

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


def _event_rows(queryset, resource: RecordEventResource, summary: TableSummary):
    """(UTC time, cell values) per record event, counting actions."""
    values, actions = resource.row_values, summary.actions
    for row in queryset.iterator(chunk_size=CHUNK_SIZE):
        actions[row.action] += 1
        yield row[0], values(row)


def _request_rows(queryset, resource: RequestLogResource, summary: TableSummary):
    """(UTC time, cell values) per request log, counting calls and failed calls."""
    values = resource.row_values
    requests = failed = 0
    try:
        for row in queryset.iterator(chunk_size=CHUNK_SIZE):
            requests += 1
            if request_failed(row.status_code, row.error):
                failed += 1
            yield row[0], values(row)
    finally:
        summary.requests, summary.failed_requests = requests, failed


class _Writer:
    """One workbook being streamed: formats, sheet names, and the row loop."""

    def __init__(self, workbook: xlsxwriter.Workbook, headers: list[str], kinds: tuple[CellKind, ...]):
        self.workbook = workbook
        self.headers, self.kinds = headers, kinds
        self.taken: set[str] = set()
        self.bold = workbook.add_format({"bold": True})
        self.header = workbook.add_format({"bold": True, "bg_color": "#E8EEF4", "bottom": 1})
        self.datetime = workbook.add_format({"num_format": DATETIME_FORMAT})
        self.date = workbook.add_format({"num_format": DATE_FORMAT})

    def add_sheet(self, wanted: str):
        return self.workbook.add_worksheet(sheet_name(wanted, self.taken))

    def table_sheet(self, wanted: str):
        sheet = self.add_sheet(wanted)
        for column, (header, width) in enumerate(zip(self.headers, COLUMN_WIDTHS, strict=True)):
            sheet.set_column(column, column, width)
            sheet.write_string(0, column, header, self.header)
        sheet.freeze_panes(1, 0)
        return sheet

    def write_table(self, table: SyncTable, rows, summary: TableSummary) -> None:
        """Write ``rows`` (cell value lists) under a header; past Excel's last row, on a continuation sheet."""
        sheet = self.table_sheet(table.name)
        summary.sheets.append(sheet.name)
        plan = tuple(enumerate(self.kinds))
        text, number, moment = CellKind.TEXT, CellKind.NUMBER, CellKind.DATETIME
        datetime_format, triggers, prefix = self.datetime, FORMULA_TRIGGERS, NEUTRALISING_PREFIX
        write_string, write_number, write_datetime = sheet.write_string, sheet.write_number, sheet.write_datetime
        row_number = 1
        for values in rows:
            if row_number == EXCEL_MAX_ROWS:
                self._finish_sheet(sheet, row_number)
                sheet = self.table_sheet(table.name)
                summary.sheets.append(sheet.name)
                write_string, write_number, write_datetime = (
                    sheet.write_string,
                    sheet.write_number,
                    sheet.write_datetime,
                )
                row_number = 1
            for column, kind in plan:
                value = values[column]
                if value is None or value == "":
                    continue
                if kind is text:
                    # Always a string cell (never a formula), and neutralised for when it is edited or saved as CSV.
                    write_string(row_number, column, prefix + value if value.startswith(triggers) else value)
                elif kind is moment:
                    write_datetime(row_number, column, value, datetime_format)
                elif kind is number:
                    write_number(row_number, column, value)
            row_number += 1
        self._finish_sheet(sheet, row_number)

    def _finish_sheet(self, sheet, rows: int) -> None:
        sheet.autofilter(0, 0, max(rows - 1, 1), len(self.headers) - 1)

    def write_summary(self, sheet, workbook: HistoryWorkbook, zone) -> None:
        selection = workbook.selection
        integration = selection.integration
        text = self._text(sheet)
        sheet.set_column(0, 0, 24)
        sheet.set_column(1, 1, 36)
        sheet.set_column(2, 2, 24)
        sheet.set_column(3, SUMMARY_FIGURES + len(RecordAction) + 3, 14)
        sheet.write_string(0, 0, _("Integration history"), self.bold)
        facts = [
            (_("Integration"), integration.name),
            (_("ERP"), integration.erp_name),
            (_("CRM"), integration.crm_name),
            (_("From"), selection.start),
            (_("To"), selection.end),
            (_("Time zone"), str(zone)),
            (_("Generated at"), workbook.generated_at.astimezone(zone).replace(tzinfo=None)),
        ]
        row = 2
        for label, value in facts:
            sheet.write_string(row, 0, label, self.bold)
            if isinstance(value, datetime):
                sheet.write_datetime(row, 1, value, self.datetime)
            elif isinstance(value, date):
                sheet.write_datetime(row, 1, value, self.date)
            else:
                text(row, 1, value)
            row += 1

        self._reconcile(workbook)
        row += 1
        headers = [
            _("Table"),
            _("Description"),
            _("Sheet"),
            _("Source total (newest run)"),
            _("Confirmed in the target (newest run)"),
            *(str(action.label) for action in RecordAction),
            _("Record events"),
            _("Requests"),
            _("Failed requests"),
            _("Linked in the target (now)"),
        ]
        for column, header in enumerate(headers):
            sheet.write_string(row, column, header, self.header)
        totals = Counter()
        for summary in workbook.tables:
            row += 1
            text(row, 0, summary.table.name)
            text(row, 1, summary.table.description)
            text(row, 2, ", ".join(summary.sheets))
            # The newest run's figures are facts of one moment: shown per table, never added up.
            for column, newest in enumerate((summary.source_total, summary.target_total), start=3):
                if newest is not None:
                    sheet.write_number(row, column, newest)
            figures = [
                *(summary.actions[action] for action in RecordAction.values),
                summary.events,
                summary.requests,
                summary.failed_requests,
                summary.linked,
            ]
            for offset, figure in enumerate(figures):
                sheet.write_number(row, SUMMARY_FIGURES + offset, figure)
                totals[offset] += figure
        row += 1
        sheet.write_string(row, 0, _("Total"), self.bold)
        for offset in range(len(headers) - SUMMARY_FIGURES):
            sheet.write_number(row, SUMMARY_FIGURES + offset, totals[offset], self.bold)
        sheet.write_string(
            row + 2, 0, _("Calls not tied to a table (such as reading a WSDL) are not listed in this workbook.")
        )

    def write_reconciliation(self, sheet, rows: list[reconciliation.DayRow]) -> None:
        """Each table's ledger day by day: a header, then one row per (day, table); unknown figures stay blank."""
        titles = reconciliation.headers()
        for column, (title, width) in enumerate(zip(titles, reconciliation.COLUMN_WIDTHS, strict=True)):
            sheet.set_column(column, column, width)
            sheet.write_string(0, column, title, self.header)
        sheet.freeze_panes(1, 2)
        for number, row in enumerate(rows, start=1):
            sheet.write_datetime(number, 0, row.day, self.date)
            sheet.write_string(number, 1, neutralise(row.table_name))
            for column, figure in enumerate(row.figures, start=2):
                if figure is not None:
                    sheet.write_number(number, column, figure)
        sheet.autofilter(0, 0, max(len(rows), 1), len(titles) - 1)

    @staticmethod
    def _reconcile(workbook: HistoryWorkbook) -> None:
        """The ledger's ends per table: the newest totals of the source and the target in the range, and what
        the portal links in the target now (2 queries)."""
        start, end = workbook.selection.bounds()
        by_table = {summary.table.pk: summary for summary in workbook.tables}
        runs = TableRun.objects.filter(table_id__in=by_table, started_at__gte=start, started_at__lt=end).filter(
            Q(source_total__isnull=False) | Q(target_total__isnull=False)
        )
        newest_first = runs.order_by("table_id", "-started_at", "-pk")
        for table_id, source_total, target_total in newest_first.values_list(
            "table_id", "source_total", "target_total"
        ):
            summary = by_table[table_id]
            if summary.source_total is None:
                summary.source_total = source_total
            if summary.target_total is None:
                summary.target_total = target_total
        links = RecordLink.objects.filter(table_id__in=by_table).values("table_id").annotate(n=Count("pk"))
        for row in links.values_list("table_id", "n"):
            by_table[row[0]].linked = row[1]

    @staticmethod
    def _text(sheet):
        def write(row, column, value):
            if value:
                sheet.write_string(row, column, neutralise(value))

        return write


def write_history(
    selection: HistorySelection, target, *, now: datetime | None = None, scratch: Path | None = None
) -> HistoryWorkbook:
    """Write the workbook of ``selection`` to ``target`` (a path or a seekable binary file).

    Memory stays flat: rows are read in chunks and XlsxWriter keeps one row at a time
    (``constant_memory``); its temporary row files live in a folder removed afterwards (inside
    ``scratch`` when given, so that whoever cleans up after a dead worker knows where they are).
    Queries: two per table (events, requests), one for the reconciliation sheet (whatever the number of
    days, see :mod:`monitoring.reconciliation`), two for the summary; none per row.
    """
    now = now or timezone.now()
    zone = portal_zone()
    start, end = selection.bounds(zone)
    events_resource, requests_resource = RecordEventResource(), RequestLogResource()
    headers = events_resource.get_export_headers()  # the same columns as requests_resource's
    result = HistoryWorkbook(selection, now, [TableSummary(table) for table in selection.tables])
    target = os.fspath(target) if isinstance(target, os.PathLike) else target

    with tempfile.TemporaryDirectory(prefix="history-export-", dir=scratch) as rows_folder:
        workbook = xlsxwriter.Workbook(target, {"constant_memory": True, "tmpdir": rows_folder})
        try:
            writer = _Writer(workbook, headers, events_resource.cell_kinds)
            # The summary is the first sheet but is filled last, from what the table sheets counted.
            summary_sheet = writer.add_sheet(_("Summary"))
            rows = reconciliation.daily_rows(selection.tables, selection.start, selection.end, start, end, zone)
            writer.write_reconciliation(writer.add_sheet(_("Reconciliation")), rows)
            for summary in result.tables:
                table_id = summary.table.pk
                events = (
                    events_in([table_id], start, end)
                    .order_by("occurred_at", "pk")
                    .values_list(*RecordEventResource.source_fields, named=True)
                )
                requests = (
                    requests_in([table_id], start, end)
                    .order_by("started_at", "pk")
                    .values_list(*RequestLogResource.source_fields, named=True)
                )
                merged = heapq.merge(
                    _event_rows(events, events_resource, summary),
                    _request_rows(requests, requests_resource, summary),
                    key=itemgetter(0),
                )
                writer.write_table(summary.table, (values for _time, values in merged), summary)
            writer.write_summary(summary_sheet, result, zone)
            workbook.set_properties({"title": selection.filename})
        except BaseException:
            with contextlib.suppress(Exception):
                workbook.close()  # releases XlsxWriter's row files; the caller discards the target
            raise
        workbook.close()
    return result
