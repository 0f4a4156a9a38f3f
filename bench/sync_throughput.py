"""Engine throughput against a hand-written requests loop making the very same HTTP calls.

    .venv/bin/python bench/sync_throughput.py [--records 5000] [--repeat 2] [--profile engine.prof]

What it does (bench/README.md explains the choices):

1. A temporary data folder (``PORTAL_DATA_DIR``) with its own SQLite database, migrated; the
   portal runs production-like (``DEBUG`` off, throwaway keys, ``SANDBOX_ENABLED=1``).
2. The demo ERP gets N products, all active; the demo CRM starts empty. The demo integration
   is configured (``configure_demo``) with only its *Product* table active (ERP
   ``ListProducts`` over SOAP → CRM ``/Products`` over REST, four field mappings, one filter
   rule, ``match_existing`` on): every record is read, looked up in the CRM and created.
3. gunicorn (gthread workers, keep-alive) serves the portal, hence the demo ERP and CRM, on a
   free 127.0.0.1 port in its own process group.
4. Each repetition times two phases against that server, the CRM emptied before each:

   * **loop**: plain ``requests``. GET the WSDL once (the engine's zeep client downloads it
     once per run), POST a hand-built SOAP envelope per ERP page and read it with lxml, then
     for each record the CRM calls the engine makes (``GET /Products?$filter=Code eq '…'``,
     then ``POST /Products``); one ``Session`` per system, as the engine has.
   * **engine**: ``queue_run`` + ``execute_run`` in this process with a cold SOAP client (as a
     fresh ``manage.py sync_now`` has), recording everything it records in production
     (staged payloads, links, record events, request logs, counters).

   Odd repetitions run the loop first, even ones the engine first; the best time of each side
   is kept. Time spent inside ``requests.Session.send`` (wire + server) is clocked for both
   sides, so the report also shows each side's client-side work per record.
5. Checks: the engine's run succeeded with TableRun read == created == N; after each phase the
   CRM holds exactly the N product codes; the engine's RequestLog rows equal the loop's calls
   kind by kind; the first lookup URL and the first create body of both sides are identical.

The last line printed is ``ratio: R``, R = engine time ÷ loop time (target R ≤ 1.1). Every
process started here is stopped, also on Ctrl-C or failure, and the temporary folder removed
(unless ``--keep``).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import free_port, stop, wait_until  # noqa: E402

TABLE = "Product"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
ERP_NS = "urn:demo-erp:v1"
# Kinds of HTTP calls, named as the engine's RequestLog names them: (method, operation).
WSDL, READ, FIND, CREATE = ("GET", "WSDL"), ("SOAP", "ListProducts"), ("GET", "find"), ("POST", "create")
JSON = {"Content-Type": "application/json"}
KIND_NAMES = {WSDL: "GET ?wsdl", READ: "SOAP ListProducts", FIND: "GET /Products?$filter", CREATE: "POST /Products"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="How many ERP products to sync (default 5000).")
    parser.add_argument(
        "--repeat", type=int, default=2, help="Repetitions, alternating which phase goes first; best of each kept."
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="After the timed repetitions, run the engine once more under cProfile, save the stats to FILE "
        "and print the top functions (that run is not part of the figures).",
    )
    parser.add_argument(
        "--server", choices=("gunicorn", "runserver"), default="gunicorn", help="What serves the demo ERP and CRM."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder (its path is printed).")
    args = parser.parse_args(argv)
    if args.records < 1 or args.repeat < 1:
        parser.error("--records and --repeat must be at least 1")
    return args


# --- environment and server -----------------------------------------------------------------


def portal_environment(data_dir: Path) -> dict[str, str]:
    """One installation: production-like (DEBUG off: no query logging), the sandbox on, throwaway keys."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "integration_portal.settings",
        "PORTAL_DATA_DIR": str(data_dir),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SANDBOX_ENABLED": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": "",  # always the SQLite file in the temporary data folder
        "REDIS_URL": "",
    }


SERVERS = {
    # Production's server (integration_portal/wsgi.py): threads, keep-alive, TCP_NODELAY.
    "gunicorn": lambda port: [
        sys.executable, "-m", "gunicorn", "integration_portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--keep-alive", "5",
    ],
    # Threaded, but its keep-alive answers go out in two small writes without TCP_NODELAY: Nagle's
    # algorithm meets the client's delayed ACK and every call waits ~40 ms (see bench/README.md).
    "runserver": lambda port: [
        sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks",
    ],
}  # fmt: skip


SERVER_NAMES = {
    "gunicorn": "gunicorn gthread, 2 workers x 4 threads, keep-alive",
    "runserver": "manage.py runserver --noreload (threaded; ~40 ms Nagle/delayed-ACK stall per call)",
}


def start_server(kind: str, env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    # The server's output goes to a file: an unread pipe would fill up and stall the server.
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            SERVERS[kind](port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches this script only; it stops the server's whole group
        )


def check_server_available(kind: str) -> None:
    if kind == "gunicorn" and importlib.util.find_spec("gunicorn") is None:
        raise SystemExit(
            "gunicorn is not installed in this environment: `.venv/bin/pip install gunicorn`, "
            "or run with --server runserver (whose ~40 ms stalls per call make the figures meaningless)."
        )


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


# --- the demo systems: a second installation, served by the server process --------------------

SEED_SYSTEMS = """
import json
from django.utils import timezone
from demo import seed
from demo.choices import SandboxSystem
from demo.models import ErpProduct
seed.populate(seed.SeedSizes(customers=0, contacts=0, products={records}, orders=0, crm_companies=0,
                             crm_people=0, crm_products=0, crm_orders=0), timezone.now())
ErpProduct.objects.update(active=True)  # every product passes the table's "active products" rule
knobs = seed.ensure_knobs()
erp, crm = knobs[SandboxSystem.ERP], knobs[SandboxSystem.CRM]
print(json.dumps({{"erp_auth": [erp.username, erp.password], "crm_key": crm.api_key,
                  "codes": list(ErpProduct.objects.values_list("code", flat=True))}}))
"""
# What the CRM holds after a phase, then empty it for the next one.
TAKE_CRM_CODES = """
import json
from demo.models import CrmProduct
print(json.dumps(list(CrmProduct.objects.values_list("code", flat=True))))
CrmProduct.objects.all().delete()
"""


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def in_systems(env: dict[str, str], code: str):
    """Run ``code`` in the demo systems' installation; it prints one JSON value as its last line."""
    return json.loads(manage(env, "shell", "-v", "0", "-c", code).strip().splitlines()[-1])


# --- the portal running the engine: this process -----------------------------------------------


@dataclass
class Setup:
    systems_env: dict[str, str]
    integration_id: int
    table_id: int
    erp_url: str
    wsdl_url: str
    crm_url: str
    erp_auth: tuple[str, str]
    crm_key_header: str
    crm_key: str
    page_size: int
    codes: set[str]


def prepare(origin: str, records: int, systems_env: dict[str, str]) -> Setup:
    """Both installations migrated; N active ERP products, an empty CRM; only the Product table active."""
    from django.core.management import call_command

    from demo.integration import configure_demo
    from sync.models import SyncTable

    manage(systems_env, "migrate", "--no-input", "-v", "0")
    systems = in_systems(systems_env, SEED_SYSTEMS.format(records=records))
    call_command("migrate", interactive=False, verbosity=0)
    integration = configure_demo(origin)
    integration.tables.exclude(name=TABLE).update(active=False)
    erp, crm = integration.erp_connection, integration.crm_connection
    erp.username, erp.password = systems["erp_auth"]  # the served systems' credentials
    crm.api_key = systems["crm_key"]
    erp.save()
    crm.save()
    return Setup(
        systems_env=systems_env,
        integration_id=integration.pk,
        table_id=SyncTable.objects.get(integration=integration, name=TABLE).pk,
        erp_url=f"{origin}/sandbox/erp/soap",
        wsdl_url=erp.wsdl_url,
        crm_url=crm.base_url.rstrip("/"),
        erp_auth=tuple(systems["erp_auth"]),
        crm_key_header=crm.api_key_header,
        crm_key=systems["crm_key"],
        page_size=erp.page_size,
        codes=set(systems["codes"]),
    )


def fresh_table(setup: Setup) -> None:
    """A table that never ran: no links, no staged records, no cursor (untimed)."""
    from monitoring.models import RecordError
    from sync.models import RecordLink, StagedRecord, SyncTable

    RecordLink.objects.filter(table_id=setup.table_id).delete()
    StagedRecord.objects.filter(table_id=setup.table_id).delete()
    RecordError.objects.filter(table_id=setup.table_id).delete()
    SyncTable.objects.filter(pk=setup.table_id).update(cursor_value="", resume_token="", resume_cursor="")


def take_crm_codes(setup: Setup) -> list[str]:
    """The product codes the CRM holds; the CRM is empty afterwards (untimed)."""
    return in_systems(setup.systems_env, TAKE_CRM_CODES)


def warm_up(setup: Setup) -> None:
    """First requests import views, compile templates and open files: not part of either phase."""
    import requests

    with requests.Session() as session:
        session.get(setup.wsdl_url, timeout=30).raise_for_status()
        session.post(
            setup.erp_url, data=list_envelope(1, 1), headers=soap_headers(), auth=setup.erp_auth, timeout=30
        ).raise_for_status()
        session.get(
            f"{setup.crm_url}/Products?$top=1", headers={setup.crm_key_header: setup.crm_key}, timeout=30
        ).raise_for_status()


class HttpClock:
    """Wall time spent inside ``requests.Session.send`` (the wire and the server), the same way for both sides.

    The engine's connectors (zeep's transport and the REST connector) and the loop all send
    through ``Session.send``; what is left of a phase's time is the client's own work.
    """

    def __init__(self):
        self.seconds = 0.0
        self._inside = False

    def __enter__(self):
        import requests

        self._original = original = requests.Session.send

        def timed_send(session, request, **kwargs):
            if self._inside:  # a redirect sends again from inside send
                return original(session, request, **kwargs)
            self._inside, started = True, time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self._inside = False

        requests.Session.send = timed_send
        return self

    def __exit__(self, *exc_info):
        import requests

        requests.Session.send = self._original


# --- the hand-written loop -------------------------------------------------------------------


def list_envelope(page: int, page_size: int) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:erp="{ERP_NS}"><soap:Body>'
        f"<erp:ListProducts><erp:page>{page}</erp:page><erp:page_size>{page_size}</erp:page_size></erp:ListProducts>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def soap_headers() -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ERP_NS}#ListProducts"'}


@dataclass
class LoopResult:
    seconds: float
    http_seconds: float
    calls: Counter
    created: int
    first_find_url: str = ""
    first_create_body: str = ""
    client_cpu: float = 0.0
    server_cpu: float | None = None


def hand_written_loop(setup: Setup) -> LoopResult:
    """The same calls as the engine, written out by hand: what an integration script would do."""
    import requests
    from lxml import etree

    from core import json_text

    records_tag, cents = f"{{{ERP_NS}}}records", Decimal("0.01")
    calls, created = Counter(), 0
    first_find_url, first_body = "", ""
    started = time.perf_counter()
    with HttpClock() as http, requests.Session() as erp, requests.Session() as crm:
        erp.auth = setup.erp_auth
        crm.headers.update({"Accept": "application/json", setup.crm_key_header: setup.crm_key})
        erp.get(setup.wsdl_url, timeout=30).raise_for_status()
        calls[WSDL] += 1
        page = 1
        while True:
            response = erp.post(
                setup.erp_url, data=list_envelope(page, setup.page_size), headers=soap_headers(), timeout=30
            )
            response.raise_for_status()
            calls[READ] += 1
            root = etree.fromstring(response.content)
            records = [
                {etree.QName(child).localname: child.text for child in element} for element in root.iter(records_tag)
            ]
            for record in records:
                if record.get("active") != "true":
                    continue
                code = record["code"].strip()
                body = {
                    "Code": code,
                    "Name": record["description"].strip(),
                    "Price": Decimal(record["unit_price"]).quantize(cents),  # a JSON number, as the CRM requires
                    "Active": True,
                }
                url = f"{setup.crm_url}/Products?$filter=Code%20eq%20'{quote(code, safe='')}'&$top=2"
                found = crm.get(url, timeout=30)
                found.raise_for_status()
                calls[FIND] += 1
                if found.json()["value"]:
                    raise AssertionError(f"{code} is already in the CRM: the loop must start from an empty CRM")
                data = json_text.dumps(body, spaced=True)
                answer = crm.post(f"{setup.crm_url}/Products", data=data.encode(), headers=JSON, timeout=30)
                answer.raise_for_status()
                calls[CREATE] += 1
                if not answer.json()["value"][0]["Id"]:
                    raise AssertionError(f"the CRM created {code} without an Id")
                created += 1
                if not first_find_url:
                    first_find_url, first_body = url, data
            if len(records) < setup.page_size:
                break
            page += 1
    return LoopResult(time.perf_counter() - started, http.seconds, calls, created, first_find_url, first_body)


# --- the engine ------------------------------------------------------------------------------


@dataclass
class EngineResult:
    seconds: float
    http_seconds: float
    run_seconds: float
    calls: Counter
    counts: dict
    status: str
    error: str
    first_find_url: str
    first_create_body: str
    failed_calls: int
    retried_calls: int
    wsdl_ms: float
    client_cpu: float = 0.0
    server_cpu: float | None = None


def engine_run(setup: Setup, profiler: cProfile.Profile | None = None) -> EngineResult:
    from django.db.models import Count

    from monitoring.choices import Trigger
    from monitoring.models import RequestLog, TableRun
    from sync.connectors import soap
    from sync.engine import execute_run, queue_run
    from sync.models import Integration

    soap.clear_caches()  # a cold zeep client, as a fresh `manage.py sync_now` process has
    integration = Integration.objects.get(pk=setup.integration_id)
    with HttpClock() as http:
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        run = execute_run(queue_run(integration, Trigger.COMMAND).pk)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started

    logs = RequestLog.objects.filter(run=run)
    per_kind = logs.values("method", "operation").annotate(n=Count("pk"))
    calls = Counter({(row["method"], row["operation"]): row["n"] for row in per_kind})
    table_run = TableRun.objects.get(run=run, table_id=setup.table_id)
    counts = {
        name: getattr(table_run, name)
        for name in ("read", "created", "updated", "unchanged", "skipped", "deleted", "held", "failed")
    }
    first_find = logs.filter(operation="find").order_by("pk").first()
    first_create = logs.filter(operation="create").order_by("pk").first()
    wsdl = logs.filter(operation="WSDL").first()
    return EngineResult(
        seconds=seconds,
        http_seconds=http.seconds,
        run_seconds=(run.finished_at - run.started_at).total_seconds(),
        calls=calls,
        counts=counts,
        status=run.status,
        error=run.error,
        first_find_url=first_find.url if first_find else "",
        first_create_body=first_create.request_body if first_create else "",
        failed_calls=logs.filter(status_code__gte=400).count() + logs.filter(status_code__isnull=True).count(),
        retried_calls=logs.filter(attempt__gt=1).count(),
        wsdl_ms=(wsdl.finished_at - wsdl.started_at).total_seconds() * 1000 if wsdl and wsdl.finished_at else 0.0,
    )


# --- checks and report -----------------------------------------------------------------------


def check(condition: bool, message) -> None:
    """A failed check stops the benchmark (not an ``assert``: ``python -O`` would skip it)."""
    if not condition:
        raise AssertionError(message)


def check_loop(setup: Setup, result: LoopResult, records: int, codes: list[str]) -> None:
    check(result.created == records, f"the loop created {result.created} records, not {records}")
    check(len(codes) == records and set(codes) == setup.codes, "after the loop the CRM does not hold the N products")


def check_engine(setup: Setup, result: EngineResult, records: int, codes: list[str]) -> None:
    check(result.status == "succeeded", f"the engine run ended {result.status}: {result.error}")
    counts = result.counts
    check(counts["read"] == counts["created"] == records, f"TableRun counts are {counts}, expected {records} created")
    check(len(codes) == records and set(codes) == setup.codes, "after the engine the CRM does not hold the N products")
    check(result.failed_calls == 0 and result.retried_calls == 0, "the engine's calls failed or were retried")


def check_same_calls(loop: LoopResult, engine: EngineResult) -> None:
    check(loop.calls == engine.calls, f"different calls: loop {dict(loop.calls)}, engine {dict(engine.calls)}")
    check(loop.first_find_url == engine.first_find_url, (loop.first_find_url, engine.first_find_url))
    check(loop.first_create_body == engine.first_create_body, (loop.first_create_body, engine.first_create_body))


def report(args, loops: list[LoopResult], engines: list[EngineResult]) -> None:
    """The figures of the best repetition of each side; the last line is ``ratio: R``."""
    loop = min(loops, key=lambda result: result.seconds)
    engine = min(engines, key=lambda result: result.seconds)
    n = args.records
    best = f"best of {args.repeat} each" if args.repeat > 1 else "one run each"
    print()
    print(f"table:   {TABLE} (ERP ListProducts over SOAP -> CRM /Products over REST), every record a create")
    print(f"server:  {SERVER_NAMES[args.server]}; DEBUG off; SQLite (WAL); 127.0.0.1")
    print(f"records: {n} (engine TableRun read {engine.counts['read']} = created {engine.counts['created']})")
    print(f"HTTP calls per side: {sum(engine.calls.values())} (engine RequestLog rows == loop calls, kind by kind)")
    for kind in (WSDL, READ, FIND, CREATE):
        print(f"  {KIND_NAMES[kind]:<24} {engine.calls[kind]:>7}")
    print()
    print(f"hand-written loop: {loop.seconds:8.2f} s {n / loop.seconds:8.1f} records/s  ({best})")
    print(f"engine:            {engine.seconds:8.2f} s {n / engine.seconds:8.1f} records/s  ({best})")
    print(f"  (engine run's stored duration {engine.run_seconds:.2f} s; its WSDL download {engine.wsdl_ms:.0f} ms)")
    print()
    print(f"{'ms per record':<18} {'wall':>7} {'in HTTP':>8} {'client work':>12} {'client CPU':>11} {'server CPU':>11}")
    for name, result in (("hand-written loop", loop), ("engine", engine)):
        per = 1000 / n
        server = f"{result.server_cpu * per:>11.3f}" if result.server_cpu is not None else f"{'n/a':>11}"
        print(
            f"{name:<18} {result.seconds * per:>7.3f} {result.http_seconds * per:>8.3f} "
            f"{(result.seconds - result.http_seconds) * per:>12.3f} {result.client_cpu * per:>11.3f} {server}"
        )
    if loop.server_cpu and engine.server_cpu is not None:
        cpu_ratio = (engine.client_cpu + engine.server_cpu) / (loop.client_cpu + loop.server_cpu)
        print(f"CPU-time ratio (client + server CPU, engine / loop): {cpu_ratio:.2f}")
    print(f"engine overhead per record: {(engine.seconds - loop.seconds) / n * 1000:.3f} ms (engine - loop) / N")
    print(f"ratio: {engine.seconds / loop.seconds:.2f}")


def server_cpu_seconds(server: subprocess.Popen) -> float | None:
    """CPU time (user + system) used so far by the server's process group; None where /proc is missing."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == server.pid:  # fields after the name: state ppid pgrp … utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / ticks if total else None


def print_profile(profiler: cProfile.Profile, path: str, seconds: float) -> None:
    profiler.dump_stats(path)
    for order in ("tottime", "cumulative"):
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).strip_dirs().sort_stats(order).print_stats(30)
        print(f"\n--- engine under cProfile ({seconds:.2f} s, inflated by profiling), top 30 by {order} ---")
        print(buffer.getvalue().split("\n\n", 1)[-1].rstrip())
    print(f"\nprofile saved to {path} (python -m pstats {path}; or snakeviz)")


# --- main ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    check_server_available(args.server)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)
    folders: list[Path] = []
    server = keeper = None
    try:
        # Two installations, as in the field: the portal, whose engine runs in this process, and the
        # demo ERP/CRM it talks to, served by the server process; each has its own database.
        data_dir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
        folders.append(data_dir)
        systems_dir = Path(tempfile.mkdtemp(prefix="bench-systems-", dir=memory_folder()))
        folders.append(systems_dir)
        portal_env = portal_environment(data_dir)
        systems_env = portal_environment(systems_dir)
        os.environ.update(portal_env)
        import django

        django.setup()
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        clock = time.perf_counter()
        print(f"records: {args.records} · portal data {data_dir} · demo systems' data {systems_dir}", flush=True)
        print(f"load average before the run: {os.getloadavg()[0]:.2f} (others' work on these cores adds noise)")
        setup = prepare(origin, args.records, systems_env)
        print(f"migrated, seeded and configured in {time.perf_counter() - clock:.1f} s", flush=True)
        keeper = keep_wal(systems_dir)
        clock = time.perf_counter()
        server = start_server(args.server, systems_env, port, data_dir / "server.log")
        wait_until(lambda: _server_up(server, setup, data_dir), timeout=60, message="the portal server")
        warm_up(setup)
        print(f"server up on {origin} in {time.perf_counter() - clock:.1f} s", flush=True)

        loops, engines = [], []
        for repetition in range(1, args.repeat + 1):
            order = ("loop", "engine") if repetition % 2 else ("engine", "loop")
            for phase in order:
                fresh_table(setup)
                cpu, server_cpu = time.process_time(), server_cpu_seconds(server)
                result = hand_written_loop(setup) if phase == "loop" else engine_run(setup)
                result.client_cpu = time.process_time() - cpu
                if server_cpu is not None:
                    result.server_cpu = server_cpu_seconds(server) - server_cpu
                if phase == "loop":
                    check_loop(setup, result, args.records, take_crm_codes(setup))
                    loops.append(result)
                else:
                    check_engine(setup, result, args.records, take_crm_codes(setup))
                    engines.append(result)
            check_same_calls(loops[-1], engines[-1])
            print(
                f"repetition {repetition} ({order[0]} first): loop {loops[-1].seconds:.2f} s "
                f"(HTTP {loops[-1].http_seconds:.2f} s), engine {engines[-1].seconds:.2f} s "
                f"(HTTP {engines[-1].http_seconds:.2f} s), ratio {engines[-1].seconds / loops[-1].seconds:.2f}",
                flush=True,
            )

        if args.profile:
            fresh_table(setup)
            profiler = cProfile.Profile()
            profiled = engine_run(setup, profiler)
            check_engine(setup, profiled, args.records, take_crm_codes(setup))
            print_profile(profiler, args.profile, profiled.seconds)

        report(args, loops, engines)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception:
        log = folders[0] / "server.log" if folders else None
        if log is not None and log.exists():
            tail = log.read_text(errors="replace").splitlines()[-20:]
            print("--- last lines of the server's log ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        tear_down(server, keeper, folders, keep=args.keep)


def tear_down(server: subprocess.Popen | None, keeper: sqlite3.Connection | None, folders: list[Path], *, keep: bool):
    """Stop the server's process group, close the databases and remove the temporary folders (unless ``keep``)."""
    if server is not None:
        stop(server)
    if keeper is not None:
        keeper.close()
    if "django.db" in sys.modules:
        sys.modules["django.db"].connections.close_all()
    for folder in folders:
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def memory_folder() -> str | None:
    """tmpfs when there is one: the demo systems' own disk writes are not what is measured here."""
    shm = Path("/dev/shm")  # noqa: S108 - only mkdtemp's private folder is made in it
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def keep_wal(systems_dir: Path) -> sqlite3.Connection:
    """An idle connection to the demo systems' database for the whole run.

    The server opens and closes a connection per request (``CONN_MAX_AGE`` 0); when the last
    connection to a WAL database closes, SQLite checkpoints and deletes the WAL, so every request
    would pay a checkpoint and re-create the WAL. In a live deployment other connections are
    open (workers, other threads); this one stands in for them.
    """
    keeper = sqlite3.connect(systems_dir / "portal.sqlite3")
    keeper.execute("PRAGMA journal_mode").fetchall()
    return keeper


def _server_up(server: subprocess.Popen, setup: Setup, data_dir: Path) -> bool:
    import requests

    if server.poll() is not None:
        log = (data_dir / "server.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"the portal server stopped while starting:\n{log}")  # not retried by wait_until
    return requests.get(setup.erp_url, timeout=2).ok


if __name__ == "__main__":
    sys.exit(main())
