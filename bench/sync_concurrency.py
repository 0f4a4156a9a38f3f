"""Writes in flight against a distant CRM: the engine one call at a time, then with several in flight.

    .venv/bin/python bench/sync_concurrency.py [--records 5000] [--latency-ms 100] [--in-flight 8]

What it does (bench/README.md explains the choices):

1. The two installations of ``bench/sync_throughput.py``: the portal, whose engine runs in this
   process on a temporary SQLite database, and the demo ERP/CRM, served by gunicorn (gthread,
   enough threads for every call in flight) on a free 127.0.0.1 port. The ERP holds N active
   products; the CRM starts empty; only the demo integration's *Product* table is active (ERP
   ``ListProducts`` over SOAP → CRM ``/Products`` over REST, ``match_existing`` on: a lookup and a
   create per record).
2. The demo CRM answers every call ``--latency-ms`` late (its ``latency_ms`` knob), as a CRM on the
   other side of the internet does; the ERP answers at once.
3. Two phases, the CRM emptied and the table made new before each: the CRM connection with
   ``max_in_flight`` 1 (one call at a time), then with ``--in-flight``. Each checks that the run
   succeeded, that TableRun counted N created, and that the CRM holds each product code exactly once.

It prints each phase's time and records/s, the time a first load of 100,000 records would take at
each rate (100,000 ÷ the measured rate), and as its last line ``speedup: S`` = sequential time ÷
time in flight (target S ≥ 6 at 8 in flight and 100 ms). Every process started here is stopped, also
on Ctrl-C or failure, and the temporary folders removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import sync_throughput as throughput

ROOT = throughput.ROOT
from tests.processes import free_port, wait_until  # noqa: E402

FIRST_LOAD = 100_000  # records of the first load the report extrapolates to

SET_CRM_LATENCY = """
import json
from demo.choices import SandboxSystem
from demo.models import SandboxKnobs
SandboxKnobs.objects.filter(system=SandboxSystem.CRM).update(latency_ms={latency_ms})
print(json.dumps(True))
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="ERP products to sync (default 5000).")
    parser.add_argument("--latency-ms", type=int, default=100, help="Added to every CRM answer (default 100).")
    parser.add_argument("--in-flight", type=int, default=8, help="Calls in flight in the second phase (default 8).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folders (paths printed).")
    args = parser.parse_args(argv)
    if args.records < 1 or not 2 <= args.in_flight <= 32 or args.latency_ms < 0:
        parser.error("--records ≥ 1, --in-flight between 2 and 32, --latency-ms ≥ 0")
    return args


def start_server(env: dict[str, str], port: int, threads: int, log_path: Path) -> subprocess.Popen:
    """gunicorn as in production (gthread, keep-alive), with a thread for every call in flight and the ERP's."""
    command = [
        sys.executable, "-m", "gunicorn", "integration_portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--worker-class", "gthread", "--workers", "2", "--threads", str(threads), "--keep-alive", "5",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def set_in_flight(setup: throughput.Setup, in_flight: int) -> None:
    from sync.models import Connection, Integration

    integration = Integration.objects.get(pk=setup.integration_id)
    Connection.objects.filter(pk=integration.crm_connection_id).update(max_in_flight=in_flight)


def phase(setup: throughput.Setup, records: int, in_flight: int) -> throughput.EngineResult:
    """One engine run with ``in_flight`` calls at once; checked like the throughput bench's, codes each once."""
    throughput.fresh_table(setup)
    set_in_flight(setup, in_flight)
    result = throughput.engine_run(setup)
    codes = throughput.take_crm_codes(setup)
    throughput.check_engine(setup, result, records, codes)
    twice = [code for code, seen in Counter(codes).items() if seen > 1]
    throughput.check(not twice, f"the CRM holds {len(twice)} product codes more than once: {twice[:5]}")
    return result


def duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def report(args, sequential: throughput.EngineResult, in_flight: throughput.EngineResult) -> None:
    calls = sum(sequential.calls.values())
    print(f"\ncalls per phase: {calls} ({dict(sorted((f'{m} {o}', n) for (m, o), n in sequential.calls.items()))})")
    for name, result in (("one at a time", sequential), (f"{args.in_flight} in flight", in_flight)):
        rate = args.records / result.seconds
        print(
            f"{name:>14}: {result.seconds:7.1f} s, {rate:6.1f} records/s; "
            f"a first load of {FIRST_LOAD:,} records: {duration(FIRST_LOAD / rate)}"
        )
    print(f"each record written exactly once in both phases ({args.records} codes, no duplicates)")
    print(f"speedup: {sequential.seconds / in_flight.seconds:.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    throughput.check_server_available("gunicorn")
    previous_sigterm = signal.signal(signal.SIGTERM, throughput._raise_interrupt)
    folders: list[Path] = []
    server = keeper = None
    try:
        data_dir = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
        folders.append(data_dir)
        systems_dir = Path(tempfile.mkdtemp(prefix="bench-systems-", dir=throughput.memory_folder()))
        folders.append(systems_dir)
        systems_env = throughput.portal_environment(systems_dir)
        os.environ.update(throughput.portal_environment(data_dir))
        import django

        django.setup()
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        print(f"records: {args.records} · CRM latency {args.latency_ms} ms · {args.in_flight} in flight", flush=True)
        print(f"load average before the run: {os.getloadavg()[0]:.2f} (others' work on these cores adds noise)")
        setup = throughput.prepare(origin, args.records, systems_env)
        throughput.in_systems(systems_env, SET_CRM_LATENCY.format(latency_ms=args.latency_ms))
        keeper = throughput.keep_wal(systems_dir)
        server = start_server(systems_env, port, args.in_flight + 2, data_dir / "server.log")
        wait_until(lambda: throughput._server_up(server, setup, data_dir), timeout=60, message="the portal server")
        throughput.warm_up(setup)

        sequential = phase(setup, args.records, 1)
        print(f"one at a time: {sequential.seconds:.1f} s", flush=True)
        concurrent = phase(setup, args.records, args.in_flight)
        print(f"{args.in_flight} in flight: {concurrent.seconds:.1f} s", flush=True)
        report(args, sequential, concurrent)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        throughput.tear_down(server, keeper, folders, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
