"""Does the dashboard stay as fast with 2,000,000 record events as with 1,000?

    .venv/bin/python bench/dashboard.py [--integrations 100] [--runs 30] [--events 2000000] [--repeat 5] [--keep]

What it does:

1. A temporary data folder (``PORTAL_DATA_DIR``) with its own SQLite database, migrated; ``DEBUG=1``
   (throwaway keys, generated in that folder), never the ``DATABASE_URL`` of the shell.
2. Bulk-creates N integrations (default 100) with three tables each and R runs each (default 30)
   spread over the last 7 days: mostly succeeded, some partial and failed, the newest run of every
   tenth integration still running with its per-table counts; a few paused, a few open alerts;
   a TableRun per finished run and table; then the stored state is rebuilt from those runs
   (``manage.py rebuild_state``'s work), as their bulk inserts did not write it.
3. Adds 1,000 record events, then renders the dashboard (the admin's home page, through the real
   admin site and middleware with the test client, as a staff superuser) and its JSON refresh:
   best of ``--repeat`` after one warm-up, and the number of queries of each.
4. Adds record events up to ``--events`` (2,000,000 by default) and measures again: the first
   200,000 with bulk_create in batches of 50,000, spread over every run and table; the rest are
   copies of those made in the database (``INSERT … SELECT``): the same runs, tables and record
   keys again, as each run reads the same records again; seconds instead of minutes.

Then the page's refresh: the rows the page holds are sent with the poll, as its script does, and
``poll_bytes: N`` is the size of the answer when nothing changed (target ≤ 20,000 for 100
integrations; the JSON the page used to poll was ~388 KB).

It also times reading every integration's health facts from the stored state against recomputing
them from the runs (what every poll did before the state was stored).

The last line printed is ``ratio: R``, R = dashboard time with the many events ÷ time with 1,000
(target R ≤ 1.5: no figure of the dashboard reads the record events). The temporary folder is
removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.portal_setup import copy_events, setup_django  # noqa: E402 (the repository on the path first)

FEW_EVENTS = 1_000
EVENT_BATCH = 50_000  # objects handed to one bulk_create call
SEED_EVENTS = 200_000  # made by bulk_create; the rest are copies of these, made in the database
TABLES = ("Company", "Contact", "Order")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--integrations", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30, help="Runs per integration over the last 7 days.")
    parser.add_argument("--events", type=int, default=2_000_000, help="Record events in the second measure.")
    parser.add_argument("--repeat", type=int, default=5, help="Renders per measure; the best is kept.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder.")
    return parser.parse_args(argv)


def populate(integrations: int, runs_each: int, now) -> list[tuple[int, int, object]]:
    """The integrations, tables, runs, table runs and alerts; returns (run, table, time) slots for events."""
    from django.db import transaction

    from monitoring import state
    from monitoring.choices import AlertKind, RunStatus, Trigger
    from monitoring.models import Alert, SyncRun, TableRun
    from sync.choices import ConnectionKind, IntegrationType, ScheduleKind
    from sync.models import Connection, Integration, SyncTable

    rng = random.Random(7)
    with transaction.atomic():
        erp = Connection.objects.create(name="ERP", kind=ConnectionKind.REST, base_url="http://127.0.0.1:9/erp")
        crm = Connection.objects.create(name="CRM", kind=ConnectionKind.REST, base_url="http://127.0.0.1:9/crm")
        every = int(7 * 24 * 60 / runs_each)  # minutes between runs: R runs in 7 days
        Integration.objects.bulk_create(
            Integration(
                name=f"Integration {number:03}",
                integration_type=IntegrationType.REST,
                erp_name=("Sankhya", "TOTVS", "SAP B1", "Dynamics NAV")[number % 4],
                crm_name=("Ploomes", "HubSpot")[number % 2],
                erp_connection=erp,
                crm_connection=crm,
                active=number % 25 != 24,
                activated_at=None if number % 25 == 24 else now - timedelta(days=60),
                schedule_kind=ScheduleKind.INTERVAL if number % 3 else ScheduleKind.NONE,
                schedule_interval_minutes=every if number % 3 else None,
                max_time_without_success=timedelta(hours=24),
            )
            for number in range(integrations)
        )
        integration_ids = list(Integration.objects.order_by("pk").values_list("pk", flat=True))
        SyncTable.objects.bulk_create(
            SyncTable(
                integration_id=pk, name=name, order=order, source_object=f"/{name}", target_object=f"/{name}",
                record_key="id",
            )
            for pk in integration_ids
            for order, name in enumerate(TABLES)
        )  # fmt: skip
        tables = {}
        for pk, integration_id in SyncTable.objects.order_by("pk").values_list("pk", "integration_id"):
            tables.setdefault(integration_id, []).append(pk)

        runs = []
        for index, pk in enumerate(integration_ids):
            running = index % 10 == 3
            for number in range(runs_each):
                queued = now - timedelta(minutes=every * (runs_each - number) - rng.randint(0, 5))
                seconds = rng.uniform(20, 600)
                newest = number == runs_each - 1
                if newest and running:
                    status = RunStatus.RUNNING
                else:
                    roll = rng.random()
                    status = RunStatus.SUCCEEDED
                    if roll < 0.15:
                        status = RunStatus.FAILED if roll < 0.08 else RunStatus.PARTIAL
                active = status == RunStatus.RUNNING
                runs.append(
                    SyncRun(
                        integration_id=pk,
                        trigger=Trigger.SCHEDULE,
                        status=status,
                        queued_at=queued,
                        started_at=queued + timedelta(seconds=2),
                        heartbeat_at=now - timedelta(seconds=20) if active else None,
                        finished_at=None if active else queued + timedelta(seconds=2 + seconds),
                    )
                )
        SyncRun.objects.bulk_create(runs, batch_size=5_000)

        table_runs, slots = [], []
        stored = SyncRun.objects.order_by("pk").values_list(
            "pk", "integration_id", "status", "started_at", "finished_at"
        )
        for run_id, integration_id, status, started_at, finished_at in stored:
            for position, table_id in enumerate(tables[integration_id]):
                if status == RunStatus.RUNNING and position == 2:
                    continue  # the third table has not started yet
                done = rng.randint(0, 400)
                failed = rng.randint(1, 5) if status in (RunStatus.PARTIAL, RunStatus.FAILED) else 0
                table_runs.append(
                    TableRun(
                        run_id=run_id,
                        table_id=table_id,
                        status=RunStatus.RUNNING if status == RunStatus.RUNNING and position == 1 else status,
                        started_at=started_at,
                        finished_at=None if status == RunStatus.RUNNING and position == 1 else finished_at or now,
                        read=done + failed,
                        created=done // 2,
                        updated=done - done // 2,
                        failed=failed,
                    )
                )
                slots.append((run_id, table_id, started_at))
        TableRun.objects.bulk_create(table_runs, batch_size=5_000)
        Alert.objects.bulk_create(
            Alert(integration_id=pk, kind=AlertKind.CONSECUTIVE_FAILURES, message="3 failed runs in a row")
            for pk in integration_ids[5::10]
        )
    # Bulk inserts skip what a run's transactions write: the stored state is recomputed from the runs once.
    state.rebuild(Integration.objects.filter(pk__in=integration_ids))
    return slots


def add_events(slots, start: int, stop: int) -> None:
    """Record events ``start`` … ``stop - 1``, spread over the runs and tables, in big bulk_create batches."""
    from django.db import transaction
    from django.test.utils import override_settings

    from monitoring.choices import RecordAction
    from monitoring.models import RecordEvent

    actions = (RecordAction.CREATED, RecordAction.UPDATED, RecordAction.UNCHANGED, RecordAction.FAILED)
    with override_settings(DEBUG=False):  # no query log of millions of rows
        for first in range(start, stop, EVENT_BATCH):
            last = min(first + EVENT_BATCH, stop)
            with transaction.atomic():
                RecordEvent.objects.bulk_create(
                    RecordEvent(
                        run_id=slots[number % len(slots)][0],
                        table_id=slots[number % len(slots)][1],
                        occurred_at=slots[number % len(slots)][2] + timedelta(milliseconds=number % 1000),
                        record_key=f"K{number:08}",
                        target_key=f"T{number:08}",
                        action=actions[number % 4],
                        message="" if number % 4 != 3 else "CNPJ is not valid",
                        http_status=200,
                    )
                    for number in range(first, last)
                )


def measure(client, url: str, repeat: int) -> tuple[float, int, int]:
    """Best time in seconds over ``repeat`` renders after a warm-up, the queries of one, the response size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    gc.collect()  # the garbage of the setup is not the render's
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    connection.queries_log.clear()  # a full log (DEBUG keeps the last 9,000) would capture nothing
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    best = float("inf")
    for _attempt in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 200
    return best, len(queries), len(response.content)


def measure_poll(client, repeat: int) -> tuple[int, float, int]:
    """What the page's script receives every few seconds when nothing changed: bytes, best ms, rows sent."""
    import re

    from django.urls import reverse

    page = client.get(reverse("admin:index")).content.decode()
    pairs = re.findall(r'data-integration="(\d+)" data-status="\w+" data-digest="(\w+)"', page)
    known = ",".join(f"{pk}:{digest}" for pk, digest in pairs)
    url = reverse("admin:dashboard_rows")
    best, response = float("inf"), None
    for _attempt in range(max(repeat, 1)):
        started = time.perf_counter()
        response = client.get(url, HTTP_X_DASHBOARD_ROWS=known)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return len(response.content), best * 1000, response.content.decode().count('<tr class="dash-row"')


def measure_facts(repeat: int) -> tuple[float, float]:
    """Best milliseconds to get every integration's health facts: from the stored state, and recomputed."""
    from monitoring import state
    from monitoring.health import with_state
    from sync.models import Integration

    def best(read) -> float:
        times = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            read()
            times.append(time.perf_counter() - started)
        return min(times[1:]) * 1000

    return best(lambda: list(with_state(Integration.objects.all()))), best(state.recomputed_integrations)


def main(argv=None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="portal-bench-dashboard-"))
    try:
        setup_django(data_dir, ALLOWED_HOSTS="testserver")
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import override_settings
        from django.urls import reverse
        from django.utils import timezone

        from monitoring.models import RecordEvent

        started = time.perf_counter()
        with override_settings(DEBUG=False):  # no query log of the setup
            slots = populate(args.integrations, args.runs, timezone.now())
        add_events(slots, 0, FEW_EVENTS)
        print(
            f"data: {args.integrations} integrations × {args.runs} runs, {len(slots)} table runs with events "
            f"({time.perf_counter() - started:.1f} s); SQLite in {data_dir}"
        )
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-1")
        client = Client()
        client.force_login(user)
        pages = (("dashboard", reverse("admin:index")), ("json", reverse("admin:dashboard_data")))

        results = {}
        for label, total in (("few", FEW_EVENTS), ("many", args.events)):
            if total > RecordEvent.objects.count():
                started = time.perf_counter()
                add_events(slots, FEW_EVENTS, min(total, SEED_EVENTS))
                copy_events(total)
                print(
                    f"added {total - FEW_EVENTS:,} record events ({min(total, SEED_EVENTS) - FEW_EVENTS:,} with "
                    f"bulk_create, the rest copied in the database) in {time.perf_counter() - started:.1f} s"
                )
            events = RecordEvent.objects.count()
            for name, url in pages:
                best, queries, size = measure(client, url, args.repeat)
                results[label, name] = best
                print(
                    f"{name:9} with {events:>9,} record events: {best * 1000:7.1f} ms "
                    f"(best of {args.repeat}), {queries} queries, {size:,} bytes"
                )
        print(f"json ratio: {results['many', 'json'] / results['few', 'json']:.2f}")
        poll_bytes, poll_ms, rows_sent = measure_poll(client, args.repeat)
        print(
            f"refresh of the page (the rows it holds sent with the poll, nothing changed): {poll_ms:.1f} ms, "
            f"{rows_sent} rows sent back"
        )
        print(f"poll_bytes: {poll_bytes}")
        stored_ms, recomputed_ms = measure_facts(args.repeat)
        print(
            f"facts of {args.integrations} integrations: read from the stored state {stored_ms:.1f} ms, "
            f"recomputed from the runs (rebuild_state's oracle) {recomputed_ms:.1f} ms "
            f"(×{recomputed_ms / stored_ms:.1f})"
        )
        print(f"ratio: {results['many', 'dashboard'] / results['few', 'dashboard']:.2f}")
    finally:
        if args.keep:
            print(f"kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
