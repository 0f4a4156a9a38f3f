"""The 7-day history workbook: a summary sheet, the reconciliation sheet, then one sheet per table, streamed.

The columns are the resources' (:mod:`monitoring.resources`), but ``Resource.export()`` is
not used: it builds a whole ``tablib.Dataset`` in memory and writes it with a normal openpyxl
workbook. Here each table's record events and request logs are read with
``values_list(...).iterator()`` (no per-row queries), merged in time order, and written row by
row with XlsxWriter in ``constant_memory`` mode, so memory stays flat however many rows there
are. Counts for the summary are taken from the rows as they are written, so they always match
the sheets.

Small exports are written during the request (:func:`write_history` into a temporary file);
larger ones become an :class:`~monitoring.models.ExportJob` built by a django-q2 task
(:func:`request_export`, :func:`build_export`) and kept for a while
(:func:`delete_expired_exports`).

What a background export may take from the portal (the syncs come first):

- the same request while it is queued or being written reuses that job; a user has at most
  ``EXPORT_MAX_ACTIVE_PER_USER`` (2) active jobs, the next one is refused (:class:`TooManyExports`);
- one export is written at a time across the portal (a partial unique constraint on the running
  job): exports run on the sync workers, so with two or more workers at least one is always free
  for syncs. A job whose turn has not come stays queued; its task, if a worker gets it, returns at
  once, and the job is sent again when the export before it ends (:func:`send_next_export`);
- a job being written beats from a thread of its own (:class:`ExportHeartbeat`); the minute's
  maintenance fails a job whose heartbeat is older than ``RUN_HEARTBEAT_STALE_AFTER`` and removes
  its partial file and its scratch folder (:func:`fail_dead_exports`);
- the files and their folder are readable by the portal's user only (0600, 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from pathlib import Path

import xlsxwriter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_q.tasks import async_task

from core import stored_messages as stored
from core.local_time import portal_zone
from sync.models import Integration, RecordLink, SyncTable

from . import reconciliation
from .choices import RecordAction
from .health import heartbeat_stale_after
from .heartbeat import BeatingThread
from .models import ACTIVE_EXPORT_STATUSES, ExportJob, ExportStatus, RecordEvent, RequestLog, TableRun
from .reaper import lost_after
from .resources import CellKind, RecordEventResource, RequestLogResource, request_failed

logger = logging.getLogger(__name__)

HISTORY_DAYS = 7
CHUNK_SIZE = 2000
DEFAULT_INLINE_MAX_ROWS = 20_000
DEFAULT_KEEP_HOURS = 24
DEFAULT_MAX_ACTIVE_PER_USER = 2
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700
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


# --------------------------------------------------------------------------- what is exported


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


def _events(table_ids, start: datetime, end: datetime):
    return RecordEvent.objects.filter(table_id__in=table_ids, occurred_at__gte=start, occurred_at__lt=end)


def _requests(table_ids, start: datetime, end: datetime):
    return RequestLog.objects.filter(table_id__in=table_ids, started_at__gte=start, started_at__lt=end)


def count_history_rows(selection: HistorySelection) -> int:
    """How many rows the workbook will have (two COUNT queries, whatever the number of tables)."""
    start, end = selection.bounds()
    ids = selection.table_ids
    return _events(ids, start, end).count() + _requests(ids, start, end).count()


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
                    _events([table_id], start, end)
                    .order_by("occurred_at", "pk")
                    .values_list(*RecordEventResource.source_fields, named=True)
                )
                requests = (
                    _requests([table_id], start, end)
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


# --------------------------------------------------------------------------- background exports


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def private_exports_dir() -> Path:
    """The exports folder, created if missing, readable by the portal's user only."""
    folder = exports_dir()
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER)  # also when it was made before, or under a looser umask
    return folder


def export_path(job: ExportJob) -> Path | None:
    return exports_dir() / job.file_name if job.file_name else None


def work_paths(job_id: int) -> tuple[Path, Path]:
    """Where a job's workbook is written before it is complete, and its folder of XlsxWriter row files."""
    folder = exports_dir()
    return folder / f"history-{job_id}.xlsx.partial", folder / f"history-{job_id}.scratch"


def keep_for() -> timedelta:
    """How long a background export's file is kept after it is written."""
    return timedelta(hours=getattr(settings, "EXPORT_KEEP_HOURS", DEFAULT_KEEP_HOURS))


def max_active_per_user() -> int:
    """How many exports one user may have queued or being written at once."""
    return getattr(settings, "EXPORT_MAX_ACTIVE_PER_USER", DEFAULT_MAX_ACTIVE_PER_USER)


def job_filename(job: ExportJob) -> str:
    """The name the user downloads."""
    return history_filename(job.integration, job.start_date, job.end_date)


def selection_for(job: ExportJob) -> HistorySelection:
    tables = SyncTable.objects.filter(integration_id=job.integration_id, pk__in=job.table_ids).order_by(
        "order", "name", "pk"
    )
    return HistorySelection(job.integration, tuple(tables), job.start_date, job.end_date)


def selection_key(selection: HistorySelection, language: str) -> str:
    """What makes two requests the same export (the integration and the user are columns of their own)."""
    tables = ",".join(str(pk) for pk in sorted(selection.table_ids))
    text = f"{selection.start.isoformat()}/{selection.end.isoformat()}/{tables}/{language}"
    return hashlib.sha256(text.encode()).hexdigest()


class TooManyExports(Exception):
    """The user already has as many active exports as allowed; nothing was queued."""

    def __init__(self, limit: int):
        self.limit = limit
        self.message = ngettext(
            "You already have %(count)d export queued or being written. Wait until it is ready, then export again.",
            "You already have %(count)d exports queued or being written. Wait until one is ready, then export again.",
            limit,
        ) % {"count": limit}
        super().__init__(self.message)


def _active_twin(selection: HistorySelection, user, key: str) -> ExportJob | None:
    twins = ExportJob.objects.filter(
        integration=selection.integration, requested_by=user, selection_key=key, status__in=ACTIVE_EXPORT_STATUSES
    )
    return twins.first()


def request_export(
    selection: HistorySelection, user, *, rows: int, now: datetime | None = None
) -> tuple[ExportJob, bool]:
    """``(job, True)``: a new job, handed to the workers when its turn comes. ``(job, False)``: the same export
    was already queued or being written for this user, and that job is the answer.

    Raises :class:`TooManyExports` when the user's active jobs fill all their slots. Each active job holds
    one of the user's slot numbers (a partial unique constraint), so two requests at the same instant
    cannot both take the last one.
    """
    now = now or timezone.now()
    language = translation.get_language() or settings.LANGUAGE_CODE
    key = selection_key(selection, language)
    for slot in range(1, max_active_per_user() + 1):
        twin = _active_twin(selection, user, key)
        if twin is not None:
            return twin, False
        try:
            with transaction.atomic():
                job = ExportJob.objects.create(
                    integration=selection.integration,
                    requested_by=user,
                    table_ids=selection.table_ids,
                    start_date=selection.start,
                    end_date=selection.end,
                    language=language,
                    rows=rows,
                    selection_key=key,
                    slot=slot,
                    created_at=now,
                )
        except IntegrityError:
            continue  # the slot is taken, or the same export was asked for meanwhile (found on the next turn)
        send_next_export(now)
        job.refresh_from_db()
        return job, True
    twin = _active_twin(selection, user, key)
    if twin is not None:
        return twin, False
    raise TooManyExports(max_active_per_user())


def send_next_export(now: datetime) -> ExportJob | None:
    """Hand the oldest queued export to the workers (by primary key only), unless one is being written or its
    task is already on its way (sent less than ``QUEUED_RUN_LOST_AFTER`` ago and not consumed)."""
    if ExportJob.objects.filter(status=ExportStatus.RUNNING).exists():
        return None
    job = ExportJob.objects.filter(status=ExportStatus.QUEUED).order_by("created_at", "pk").first()
    if job is None or (job.sent_at is not None and job.sent_at >= now - lost_after()):
        return None
    ExportJob.objects.filter(pk=job.pk).update(sent_at=now)
    task_id = async_task(
        "monitoring.tasks.build_export",
        job.pk,
        task_name=f"export-{job.pk}",
        group=f"integration:{job.integration_id}",
    )
    ExportJob.objects.filter(pk=job.pk).update(task_id=task_id or "")
    return job


class ExportHeartbeat(BeatingThread):
    """``with ExportHeartbeat(job.pk):`` beats on the job while the block runs, from a thread and a database
    connection of its own: every few seconds whatever the writing waits for, and never inside the
    writer's read (:class:`monitoring.heartbeat.Heartbeat` does the same for runs)."""

    what = "export"

    def beat_once(self) -> None:
        ExportJob.objects.filter(pk=self.pk, status=ExportStatus.RUNNING).update(heartbeat_at=timezone.now())


@contextlib.contextmanager
def private_file(path: Path):
    """``path`` opened for writing, readable by the portal's user only from its first byte."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)  # a leftover of an earlier attempt keeps its mode otherwise
    with os.fdopen(descriptor, "w+b") as handle:
        yield handle


def build_export(job_id: int) -> ExportJob | None:
    """Write a queued job's workbook to the exports folder; a failure is stored on the job and re-raised.

    Returns at once, the job still queued, while another export is being written; when this one ends
    (however it ends), the next queued export is sent to the workers.
    """
    job = ExportJob.objects.select_related("integration").filter(pk=job_id).first()
    if job is None:
        return None
    if not job.start():
        # Its task is spent: still queued, it is sent again when the export being written ends.
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.QUEUED).update(sent_at=None)
        return job
    try:
        _write(job)
    finally:
        send_next_export(timezone.now())
    return job


def _write(job: ExportJob) -> None:
    final = exports_dir() / f"history-{job.pk}.xlsx"
    partial, scratch = work_paths(job.pk)
    try:
        private_exports_dir()
        scratch.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        with (
            ExportHeartbeat(job.pk),
            translation.override(job.language or settings.LANGUAGE_CODE),
            private_file(partial) as handle,
        ):
            workbook = write_history(selection_for(job), handle, scratch=scratch)
        os.replace(partial, final)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        job.finish(ExportStatus.FAILED, error=str(exc) or type(exc).__name__)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not job.finish(ExportStatus.DONE, rows=workbook.rows, size_bytes=final.stat().st_size, file_name=final.name):
        final.unlink(missing_ok=True)  # failed meanwhile as dead (its heartbeat could not be written)


def _interrupted():
    return stored.gettext("The export did not finish (its worker stopped). Please export again.")


def remove_work_files(job_id: int) -> None:
    partial, scratch = work_paths(job_id)
    partial.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)


def fail_dead_exports(now: datetime) -> list[int]:
    """Every minute: fail the exports being written whose heartbeat stopped, remove their partial files, and
    send the next queued export when none is being written and its task was not sent (or was lost)."""
    stale = now - heartbeat_stale_after()
    dead = ExportJob.objects.filter(status=ExportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale)
    )
    failed = []
    for job in dead.only("pk"):
        if job.finish(ExportStatus.FAILED, error=_interrupted(), now=now):
            remove_work_files(job.pk)
            failed.append(job.pk)
    send_next_export(now)
    return failed


def delete_expired_exports(now: datetime) -> int:
    """Delete the files of exports older than :func:`keep_for`; returns how many were deleted.

    Also fails jobs whose worker died and were missed (running past the task timeout, or still queued
    after the keeping time), and removes leftover files nobody refers to.
    """
    keep = keep_for()
    folder = exports_dir()
    deleted = 0
    for job in ExportJob.objects.filter(status=ExportStatus.DONE, finished_at__lt=now - keep).only("pk", "file_name"):
        path = export_path(job)
        if path is not None and path.exists():
            path.unlink()
            deleted += 1
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).update(status=ExportStatus.EXPIRED, file_name="")

    task_timeout = timedelta(seconds=settings.Q_CLUSTER.get("timeout") or 3600)
    ExportJob.objects.filter(
        status=ExportStatus.RUNNING, started_at__lt=now - task_timeout - timedelta(minutes=5)
    ).update(status=ExportStatus.FAILED, finished_at=now, error=_interrupted())
    ExportJob.objects.filter(status=ExportStatus.QUEUED, created_at__lt=now - keep).update(
        status=ExportStatus.FAILED, finished_at=now, error=_interrupted()
    )

    if folder.is_dir():
        live = set(
            ExportJob.objects.filter(status__in=(*ACTIVE_EXPORT_STATUSES, ExportStatus.DONE))
            .exclude(file_name="")
            .values_list("file_name", flat=True)
        )
        cutoff = (now - keep).timestamp()
        for path in folder.glob("history-*"):
            if path.name not in live and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
    return deleted
