"""How fast does retention delete old record events, and how long does one batch hold the database?

    .venv/bin/python bench/prune.py [--events 2000000] [--batch 5000] [--budget 20] [--keep]

What it does:

1. A temporary data folder (``PORTAL_DATA_DIR``) with its own SQLite database, migrated; ``DEBUG=1``
   (throwaway keys, generated in that folder), never the ``DATABASE_URL`` of the shell.
2. Ten integrations with three tables each and one run per table and day over the last 14 days, then
   ``--events`` record events (2,000,000 by default) spread over those runs and tables: half older
   than the retention (``RETENTION_EVENTS_DAYS``, and what the History tab exports), half inside it.
   The first 200,000 are made with bulk_create, the rest are copies made in the database
   (``INSERT … SELECT``), as in ``bench/dashboard.py``.
3. Calls :func:`monitoring.retention.prune` as the minute's maintenance does (``--budget`` seconds per
   call, ``--batch`` rows per batch) until it says it is complete, timing every batch of record events.

It prints the events deleted, the calls it took, the pruning rate (rows/s), the time per batch
(median, 95th percentile, max: how long a writer may wait for one batch) and checks that exactly the
old half went. The temporary folder is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.portal_setup import copy_events, setup_django  # noqa: E402 (the repository on the path first)

SEED_EVENTS = 200_000  # made by bulk_create; the rest are copies of these, made in the database
EVENT_BATCH = 50_000  # objects handed to one bulk_create call
INTEGRATIONS = 10
TABLES = ("Company", "Contact", "Order")
DAYS = 14


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="Record events made (half of them old).")
    parser.add_argument("--batch", type=int, default=5_000, help="RETENTION_BATCH: rows per batch.")
    parser.add_argument("--budget", type=float, default=20, help="RETENTION_BUDGET_SECONDS: seconds per call.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder.")
    return parser.parse_args(argv)


def populate(now) -> list[tuple[int, int, object, bool]]:
    """Integrations, tables and one run per table and day; returns (run, table, time, old) slots for events."""
    from django.db import transaction

    from monitoring.choices import RunStatus, Trigger
    from monitoring.models import SyncRun, TableRun
    from monitoring.retention import cutoffs
    from sync.choices import ConnectionKind, IntegrationType
    from sync.models import Connection, Integration, SyncTable

    cutoff = cutoffs(now).events
    slots = []
    with transaction.atomic():
        erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url="http://127.0.0.1:9/erp")
        crm = Connection.objects.create(name="CRM", kind=ConnectionKind.REST, base_url="http://127.0.0.1:9/crm")
        for number in range(INTEGRATIONS):
            integration = Integration.objects.create(
                name=f"Integration {number:02}",
                integration_type=IntegrationType.REST,
                erp_name="Sankhya",
                crm_name="Ploomes",
                erp_connection=erp,
                crm_connection=crm,
            )
            tables = [
                SyncTable.objects.create(
                    integration=integration, name=name, order=order, source_object=f"/{name}",
                    target_object=f"/{name}", record_key="id",
                )
                for order, name in enumerate(TABLES)
            ]  # fmt: skip
            for day in range(DAYS):
                started = now - timedelta(days=day, hours=1)
                run = SyncRun.objects.create(
                    integration=integration,
                    trigger=Trigger.SCHEDULE,
                    status=RunStatus.SUCCEEDED,
                    queued_at=started,
                    started_at=started,
                    finished_at=started + timedelta(minutes=10),
                )
                for table in tables:
                    TableRun.objects.create(
                        run=run,
                        table=table,
                        status=RunStatus.SUCCEEDED,
                        started_at=started,
                        finished_at=started + timedelta(minutes=10),
                    )
                    slots.append((run.pk, table.pk, started, started < cutoff))
    return slots


def add_events(slots, total: int) -> None:
    """``total`` record events, old and recent in turn (half each), in big bulk_create batches."""
    from django.db import transaction

    from monitoring.choices import RecordAction
    from monitoring.models import RecordEvent

    old = [slot for slot in slots if slot[3]]
    recent = [slot for slot in slots if not slot[3]]
    for first in range(0, total, EVENT_BATCH):
        with transaction.atomic():
            rows = []
            for number in range(first, min(first + EVENT_BATCH, total)):
                pool = old if number % 2 else recent
                run_id, table_id, started, _old = pool[number // 2 % len(pool)]
                rows.append(
                    RecordEvent(
                        run_id=run_id,
                        table_id=table_id,
                        occurred_at=started + timedelta(milliseconds=number % 600_000),
                        record_key=f"K{number:08}",
                        target_key=f"T{number:08}",
                        action=RecordAction.CREATED,
                        message="" if number % 4 else "CNPJ is not valid",
                        http_status=200,
                    )
                )
            RecordEvent.objects.bulk_create(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-prune-"))
    try:
        setup_django(data_dir)
        from django.test.utils import override_settings
        from django.utils import timezone

        from monitoring import retention
        from monitoring.models import RecordEvent

        now = timezone.now()
        started = time.perf_counter()
        with override_settings(DEBUG=False):  # no query log of millions of rows
            slots = populate(now)
            add_events(slots, min(args.events, SEED_EVENTS))
            copy_events(args.events)
        cutoff = retention.cutoffs(now).events
        total = RecordEvent.objects.count()
        old = RecordEvent.objects.filter(occurred_at__lt=cutoff).count()
        size = (data_dir / "portal.sqlite3").stat().st_size
        print(
            f"data: {total:,} record events, {old:,} older than the retention ({cutoff:%Y-%m-%d %H:%M %Z}); "
            f"{size / 2**20:,.0f} MB of SQLite in {data_dir} ({time.perf_counter() - started:.1f} s)"
        )

        batches: list[float] = []
        delete_old = retention._delete_old

        def timed(model, *rest):
            began = time.perf_counter()
            count = delete_old(model, *rest)
            if model is RecordEvent and count:
                batches.append(time.perf_counter() - began)
            return count

        retention._delete_old = timed
        calls, deleted = 0, 0
        began = time.perf_counter()
        with override_settings(DEBUG=False, RETENTION_BATCH=args.batch, RETENTION_BUDGET_SECONDS=args.budget):
            while True:
                calls += 1
                result = retention.prune(now)
                deleted += result.events
                if result.complete:
                    break
        elapsed = time.perf_counter() - began

        left = RecordEvent.objects.count()
        assert left == total - old and not RecordEvent.objects.filter(occurred_at__lt=cutoff).exists(), left
        ordered = sorted(batches)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(
            f"pruned {deleted:,} record events in {elapsed:.1f} s over {calls} call(s) of at most {args.budget:g} s; "
            f"{left:,} kept (exactly the recent half)"
        )
        print(
            f"batch of {args.batch:,}: median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} batches)"
        )
        print(f"rate: {deleted / elapsed:,.0f} rows/s")
    finally:
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
