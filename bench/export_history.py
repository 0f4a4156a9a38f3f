"""The 7-day history workbook: the portal's export against a hand-written XlsxWriter loop.

    .venv/bin/python bench/export_history.py [--events 200000] [--requests 4000] [--repeat 2] [--keep]

What it does:

1. A temporary data folder (``PORTAL_DATA_DIR``) with its own SQLite database, migrated, in dev
   mode (``DEBUG=1``: throwaway keys in the folder). An integration with 4 tables gets N record
   events and some request logs spread evenly over the last 7 days (``bulk_create`` in batches);
   a few record keys start with ``=`` or ``-`` so the neutralising branch runs too.
2. Each repetition writes the whole 7-day history of the 4 tables twice, each in a fresh child
   process (``multiprocessing`` *spawn*: nothing inherited from this process's memory):

   * **portal**: ``monitoring.exports.write_history`` (resources as column definitions,
     ``values_list().iterator()``, merged events and requests, XlsxWriter ``constant_memory``);
   * **loop**: a hand-written XlsxWriter ``constant_memory`` loop over the same querysets
     (same values, same columns, same cells, same summary counts), no resources.

   Odd repetitions run the portal first, even ones the loop first; the best time of each is kept.
3. Memory: each child reports its own peak resident set size, read after the workbook is
   closed, and its RSS right after ``django.setup()`` (before any export work). RSS is what the
   machine pays (Python objects, SQLite's page cache, XlsxWriter's buffers, the C heap), unlike
   tracemalloc, which sees Python allocations only. The peak is ``VmHWM`` from
   ``/proc/self/status``, not ``getrusage(...).ru_maxrss``: a spawned child is forked from this
   process and then exec'd, and Linux carries the forked copy's high-water mark (this process's
   RSS after seeding, ~110 MB at 200,000 events) into ``ru_maxrss`` across the exec, so both
   ``RUSAGE_SELF`` in the child and ``RUSAGE_CHILDREN`` here would report the seeding process's
   memory, not the export's. ``peak_mb`` is the portal child's whole-process peak, Django included.
4. Checks: both workbooks have the same sheets, the same number of rows per sheet, and the same
   first and last rows of every sheet.

The last lines printed are ``peak_mb: N`` (target ≤ 150) and ``ratio: R`` (portal time ÷ loop
time, target ≤ 1.5). The temporary folder is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = (
    ("Company", "Customers that are companies"),
    ("Contact", "People at the customers"),
    ("Order", "Orders of the last 2 years"),
    ("Invoice", "Invoices of the last 2 years"),
)
BATCH = 5000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="Record events over 7 days (default 200000).")
    parser.add_argument("--requests", type=int, default=None, help="Request logs (default: events / 50).")
    parser.add_argument("--repeat", type=int, default=2, help="Repetitions, alternating which writer goes first.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder (its path is printed).")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    if args.requests is None:
        args.requests = args.events // 50
    return args


def configure_environment(data_dir: Path) -> None:
    """Before ``django.setup()``, here and (inherited) in every spawned child."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
            "PORTAL_DATA_DIR": str(data_dir),
            "DEBUG": "1",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": "",  # always the SQLite file in the temporary data folder
            "REDIS_URL": "",
        }
    )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    import warnings

    import django

    # The settings module keeps a transitional setting that warns on every start.
    warnings.filterwarnings("ignore", message="The FORMS_URLFIELD_ASSUME_HTTPS transitional setting is deprecated")
    django.setup()


# --- data --------------------------------------------------------------------------------


def seed(events: int, requests: int) -> dict:
    """An integration with 4 tables; N events and M requests evenly over the last 7 days."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from core.local_time import portal_zone
    from monitoring.choices import RecordAction, RunStatus, Trigger
    from monitoring.models import RecordEvent, RequestLog, SyncRun
    from sync.choices import ConnectionKind, IntegrationType
    from sync.models import Connection, Integration, SyncTable

    call_command("migrate", interactive=False, verbosity=0)
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url="https://erp.example")
    crm = Connection.objects.create(name="CRM", kind=ConnectionKind.REST, base_url="https://crm.example")
    integration = Integration.objects.create(
        name="Bench ERP ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=crm,
    )
    tables = [
        SyncTable.objects.create(
            integration=integration,
            name=name,
            description=description,
            order=position,
            source_object=f"/{name}s",
            target_object=f"/{name}s",
            record_key="Id",
        )
        for position, (name, description) in enumerate(TABLES)
    ]
    now = timezone.now()
    start = now - timedelta(days=7) + timedelta(minutes=5)
    span = (now - start).total_seconds()
    runs = SyncRun.objects.bulk_create(
        SyncRun(
            integration=integration,
            trigger=Trigger.SCHEDULE,
            status=RunStatus.SUCCEEDED,
            queued_at=start + timedelta(hours=hour),
            started_at=start + timedelta(hours=hour),
            finished_at=start + timedelta(hours=hour, minutes=50),
        )
        for hour in range(7 * 24)
    )
    actions = list(RecordAction.values)

    def moment(i, total):
        return start + timedelta(seconds=span * i / total)

    def event(i):
        when = moment(i, events)
        action = actions[i % len(actions)]
        key = "=1+1" if i % 1000 == 0 else ("-42" if i % 1000 == 1 else f"{10_000_000 + i}")
        return RecordEvent(
            run=runs[min(int((when - start).total_seconds() // 3600), len(runs) - 1)],
            table=tables[i % len(tables)],
            occurred_at=when,
            record_key=key,
            target_key=f"CRM-{i}" if action != RecordAction.FAILED else "",
            action=action,
            message="CNPJ is invalid: check digit" if action == RecordAction.FAILED else "",
            http_status=(422 if action == RecordAction.FAILED else 200),
        )

    def request(i):
        when = moment(i, requests)
        failed = i % 20 == 0
        return RequestLog(
            run=runs[min(int((when - start).total_seconds() // 3600), len(runs) - 1)],
            table=tables[i % len(tables)],
            started_at=when,
            finished_at=when + timedelta(milliseconds=120),
            method="GET" if i % 2 else "POST",
            url=f"https://crm.example/{tables[i % len(tables)].name}s?$skip={i}",
            status_code=503 if failed else 200,
            error="Service unavailable after 3 attempts" if failed else "",
        )

    for first in range(0, events, BATCH):
        RecordEvent.objects.bulk_create([event(i) for i in range(first, min(first + BATCH, events))])
    for first in range(0, requests, BATCH):
        RequestLog.objects.bulk_create([request(i) for i in range(first, min(first + BATCH, requests))])
    today = now.astimezone(portal_zone()).date()
    return {
        "integration_id": integration.pk,
        "table_ids": [table.pk for table in tables],
        "start": today - timedelta(days=7),
        "end": today,
    }


# --- the two writers -----------------------------------------------------------------------


def portal_export(path: str, plan: dict) -> int:
    from monitoring.exports import HistorySelection, write_history
    from sync.models import Integration, SyncTable

    integration = Integration.objects.get(pk=plan["integration_id"])
    tables = tuple(SyncTable.objects.filter(pk__in=plan["table_ids"]).order_by("order", "name", "pk"))
    return write_history(HistorySelection(integration, tables, plan["start"], plan["end"]), path).rows


def raw_loop(path: str, plan: dict) -> int:
    """The same workbook by hand: same querysets and values, same cells, no resources."""
    import heapq
    from collections import Counter
    from datetime import datetime, time, timedelta
    from http import HTTPStatus
    from operator import itemgetter

    import xlsxwriter
    from django.utils import timezone

    from core.local_time import portal_zone
    from monitoring.choices import RecordAction
    from monitoring.models import RecordEvent, RequestLog
    from sync.models import Integration, SyncTable

    zone = portal_zone()
    start = datetime.combine(plan["start"], time.min, tzinfo=zone)
    end = datetime.combine(plan["end"] + timedelta(days=1), time.min, tzinfo=zone)
    integration = Integration.objects.get(pk=plan["integration_id"])
    tables = list(SyncTable.objects.filter(pk__in=plan["table_ids"]).order_by("order", "name", "pk"))
    labels = {action.value: str(action.label) for action in RecordAction}
    triggers = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
    headers = ["Time", "Kind", "Run", "Record key", "Target key", "Action / call", "Status", "Message", "HTTP status"]
    widths = (20, 9, 9, 22, 22, 48, 22, 60, 11)
    written = 0

    with tempfile.TemporaryDirectory() as scratch:
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": scratch})
        header_format = book.add_format({"bold": True, "bg_color": "#E8EEF4", "bottom": 1})
        stamp = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
        summary = book.add_worksheet("Summary")
        counts = []
        for table in tables:
            sheet = book.add_worksheet(table.name)
            for column, (header, width) in enumerate(zip(headers, widths, strict=True)):
                sheet.set_column(column, column, width)
                sheet.write_string(0, column, header, header_format)
            sheet.freeze_panes(1, 0)
            events = (
                RecordEvent.objects.filter(table_id=table.pk, occurred_at__gte=start, occurred_at__lt=end)
                .order_by("occurred_at", "pk")
                .values_list("occurred_at", "run_id", "record_key", "target_key", "action", "message", "http_status")
            )
            calls = (
                RequestLog.objects.filter(table_id=table.pk, started_at__gte=start, started_at__lt=end)
                .order_by("started_at", "pk")
                .values_list("started_at", "run_id", "method", "url", "operation", "status_code", "error")
            )
            actions, requests, failed = Counter(), 0, 0
            merged = heapq.merge(
                ((row[0], False, row) for row in events.iterator(chunk_size=2000)),
                ((row[0], True, row) for row in calls.iterator(chunk_size=2000)),
                key=itemgetter(0),
            )
            ws, wn, wd = sheet.write_string, sheet.write_number, sheet.write_datetime
            r = 1
            for moment, is_call, row in merged:
                wd(r, 0, moment.astimezone(zone).replace(tzinfo=None), stamp)
                if row[1] is not None:
                    ws(r, 2, f"#{row[1]}")
                if is_call:
                    _t, _run, method, url, operation, code, error = row
                    requests += 1
                    ws(r, 1, "request")
                    ws(r, 5, " ".join(part for part in (method, operation, url) if part))
                    if code is not None:
                        try:
                            ws(r, 6, f"{code} {HTTPStatus(code).phrase}")
                        except ValueError:
                            ws(r, 6, str(code))
                        wn(r, 8, code)
                    elif error:
                        ws(r, 6, "No answer")
                    if error:
                        ws(r, 7, "'" + error if error.startswith(triggers) else error)
                    if error or (code is not None and code >= 400):
                        failed += 1
                else:
                    _t, _run, key, target, action, message, http_status = row
                    actions[action] += 1
                    ws(r, 1, "record")
                    if key:
                        ws(r, 3, "'" + key if key.startswith(triggers) else key)
                    if target:
                        ws(r, 4, "'" + target if target.startswith(triggers) else target)
                    ws(r, 5, action)
                    ws(r, 6, labels.get(action, action))
                    if message:
                        ws(r, 7, "'" + message if message.startswith(triggers) else message)
                    if http_status is not None:
                        wn(r, 8, http_status)
                r += 1
            sheet.autofilter(0, 0, max(r - 1, 1), len(headers) - 1)
            written += r - 1
            counts.append((table, actions, requests, failed))

        summary.write_string(0, 0, "Integration history")
        summary.write_string(2, 0, "Integration")
        summary.write_string(2, 1, integration.name)
        summary.write_datetime(3, 1, timezone.now().astimezone(zone).replace(tzinfo=None), stamp)
        row = 5
        for table, actions, requests, failed in counts:
            summary.write_string(row, 0, table.name)
            for offset, figure in enumerate([*(actions[a] for a in labels), sum(actions.values()), requests, failed]):
                summary.write_number(row, 3 + offset, figure)
            row += 1
        book.close()
    return written


WRITERS = {"portal": portal_export, "loop": raw_loop}


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def current_rss_kb() -> int:
    """This process's resident set size now (Linux), in KB; 0 where /proc is missing."""
    return _status_kb("VmRSS") or 0


def peak_rss_kb() -> int:
    """This process image's peak RSS in KB (``VmHWM``; see the module docstring for why not ru_maxrss)."""
    peak = _status_kb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(which: str, path: str, plan: dict, data_dir: str, conn) -> None:
    """Runs in a spawned process: set up Django, write one workbook, report time and memory."""
    configure_environment(Path(data_dir))
    setup_django()
    baseline_kb = current_rss_kb()
    started = time.perf_counter()
    rows = WRITERS[which](path, plan)
    seconds = time.perf_counter() - started
    peak_kb = peak_rss_kb()
    conn.send({"rows": rows, "seconds": seconds, "peak_kb": peak_kb, "baseline_kb": baseline_kb})
    conn.close()


def run_child(context, which: str, path: Path, plan: dict, data_dir: Path) -> dict:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=child, args=(which, str(path), plan, str(data_dir), sender))
    process.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    process.join()
    if process.exitcode != 0 or result is None:
        raise SystemExit(f"the {which} writer failed (exit code {process.exitcode})")
    return result


def compare(portal_path: Path, loop_path: Path) -> dict[str, int]:
    """Same sheets, rows per sheet, and first/last rows of each table sheet."""
    import openpyxl

    portal = openpyxl.load_workbook(portal_path, read_only=True)
    loop = openpyxl.load_workbook(loop_path, read_only=True)
    if portal.sheetnames != loop.sheetnames:
        raise SystemExit(f"different sheets: {portal.sheetnames} != {loop.sheetnames}")
    rows = {}
    for name in portal.sheetnames[1:]:
        mine, theirs = portal[name], loop[name]
        if mine.max_row != theirs.max_row:
            raise SystemExit(f"{name}: {mine.max_row} rows != {theirs.max_row}")
        for row in (1, 2, 3, mine.max_row):
            a = [cell.value for cell in next(mine.iter_rows(min_row=row, max_row=row))]
            b = [cell.value for cell in next(theirs.iter_rows(min_row=row, max_row=row))]
            if a != b:
                raise SystemExit(f"{name} row {row} differs:\n  portal {a}\n  loop   {b}")
        rows[name] = mine.max_row - 1
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    configure_environment(data_dir)
    try:
        setup_django()
        started = time.perf_counter()
        plan = seed(args.events, args.requests)
        print(
            f"seeded {args.events} record events and {args.requests} request logs over 7 days in "
            f"{len(TABLES)} tables ({time.perf_counter() - started:.1f} s); range {plan['start']} to {plan['end']}"
        )
        from django.db import connections

        connections.close_all()
        context = multiprocessing.get_context("spawn")
        best = {"portal": None, "loop": None}
        peak = {"portal": 0, "loop": 0}
        baseline = {"portal": 0, "loop": 0}
        rows = {}
        for repetition in range(args.repeat):
            order = ("portal", "loop") if repetition % 2 == 0 else ("loop", "portal")
            for which in order:
                path = data_dir / f"{which}.xlsx"
                result = run_child(context, which, path, plan, data_dir)
                rows[which] = result["rows"]
                best[which] = min(best[which] or result["seconds"], result["seconds"])
                peak[which] = max(peak[which], result["peak_kb"])
                baseline[which] = max(baseline[which], result["baseline_kb"])
                print(
                    f"  run {repetition + 1} {which:6}: {result['seconds']:6.2f} s, {result['rows']} rows, "
                    f"peak RSS {result['peak_kb'] / 1024:.0f} MB (after django.setup: "
                    f"{result['baseline_kb'] / 1024:.0f} MB), {path.stat().st_size / 1e6:.1f} MB file"
                )
        sheets = compare(data_dir / "portal.xlsx", data_dir / "loop.xlsx")
        if rows["portal"] != rows["loop"] or sum(sheets.values()) != rows["portal"]:
            raise SystemExit(f"row counts differ: {rows} {sheets}")
        print(f"same sheets, rows per sheet and first/last rows in both workbooks: {sheets}")
        print(
            f"portal export: {best['portal']:.2f} s (best of {args.repeat}), "
            f"{rows['portal'] / best['portal']:,.0f} rows/s, peak RSS {peak['portal'] / 1024:.0f} MB"
        )
        print(
            f"raw XlsxWriter loop: {best['loop']:.2f} s (best of {args.repeat}), "
            f"{rows['loop'] / best['loop']:,.0f} rows/s, peak RSS {peak['loop'] / 1024:.0f} MB"
        )
        growth = {which: (peak[which] - baseline[which]) / 1024 for which in peak}
        print(
            f"memory: child RSS after django.setup {baseline['portal'] / 1024:.0f} MB; growth while exporting "
            f"{growth['portal']:.0f} MB (loop: {growth['loop']:.0f} MB)"
        )
        print(f"peak_mb: {peak['portal'] / 1024:.0f}")
        print(f"ratio: {best['portal'] / best['loop']:.2f}")
    finally:
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
