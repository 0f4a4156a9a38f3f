"""Do worker processes sharing one connection stay within its rate limit, and how close to it do they get?

Run by hand: `.venv/bin/python bench/rate_budget.py` (about a minute with the defaults). It makes a
fresh data folder (SQLite), serves a tiny API on a free 127.0.0.1 port that enforces a budget of R
calls a minute (a call sooner than half an interval after the previous accepted one's slot is refused
with 429 and ``Retry-After``), configures one connection with ``rate_limit_per_minute`` R, and starts
W processes that each make N reads through a connector built for that connection as the engine builds
it, from ``--in-flight`` threads at once (as a table's writes in flight). It prints the calls made,
the achieved calls a minute, the 429s, the cost of one reservation and, as its last line,
``floor_ratio: F`` with F = elapsed ÷ (calls ÷ R). Target: F ≤ 1.1 and zero 429s.

``--unshared`` gives each worker a limit of its own instead (what happens without a shared budget);
``--redis`` keeps the budget in a Redis server started for the run (``redis-server`` must be installed)
instead of the database.
"""

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "RESULT-JSON:"

SETUP = """
from sync.models import Connection

shared = Connection.objects.create(
    name="Shared API", kind="rest", base_url=PARAMS["url"], records_path="value",
    rate_limit_per_minute=PARAMS["rate"], max_retries=0, max_in_flight=PARAMS["in_flight"],
)
measured = Connection.objects.create(
    name="Measured", kind="rest", base_url=PARAMS["url"], rate_limit_per_minute=1_000_000,
)
result({"shared": shared.pk, "measured": measured.pk})
"""

WORKER = """
import pathlib
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.engine import connector_for_connection
from sync.models import Connection

connection = Connection.objects.get(pk=PARAMS["connection"])
if PARAMS["shared"]:
    connector = connector_for_connection(connection, lambda record: None)
else:  # each process spacing its own calls, as without a shared budget
    connector = connector_for(ConnectionConfig.from_model(connection))
pathlib.Path(PARAMS["ready"]).touch()
while not pathlib.Path(PARAMS["go"]).exists():
    time.sleep(0.002)


def call(_number):
    try:
        connector.read_page(ReadRequest(source_object="/Contacts"))
    except ConnectorError as error:
        return error.status_code == 429
    finally:
        connections.close_all()  # this thread's database connection (the budget's)
    return False


# As a table's writes in flight: the calls from max_in_flight threads sharing the one connector.
with ThreadPoolExecutor(max_workers=connection.max_in_flight) as pool:
    refused = sum(pool.map(call, range(PARAMS["calls"])))
result({"refused": refused, "finished": time.time()})
"""

COST = """
import time

from sync import budgets
from sync.models import Connection

budget = budgets.for_connection(Connection.objects.get(pk=PARAMS["connection"]))
budget.reserve(time.time())
started = time.perf_counter()
for _ in range(PARAMS["count"]):
    budget.reserve(time.time())
result({"kind": type(budget).__name__, "ms": (time.perf_counter() - started) * 1000 / PARAMS["count"]})
"""


class BudgetedApi(ThreadingHTTPServer):
    """``GET /Contacts`` within R calls a minute, GCRA with half an interval of tolerance; 429 beyond it."""

    def __init__(self, per_minute: int):
        super().__init__(("127.0.0.1", 0), Handler)
        self.interval = 60 / per_minute
        self.lock = threading.Lock()
        self.next_at = 0.0
        self.accepted: list[float] = []
        self.refused: list[float] = []

    def admit(self, now: float) -> bool:
        with self.lock:
            if now < self.next_at - self.interval / 2:
                self.refused.append(now)
                return False
            self.next_at = max(self.next_at, now) + self.interval
            self.accepted.append(now)
            return True


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        if self.server.admit(time.time()):
            status, body, headers = 200, b'{"value": [{"Id": 1}]}', {}
        else:
            status, body = 429, b'{"error": {"message": "Too many requests"}}'
            headers = {"Retry-After": str(max(1, round(self.server.interval)))}
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def script_command(code: str, **params) -> list[str]:
    prologue = (
        f"import json as _json\nPARAMS = _json.loads({json.dumps(params)!r})\n"
        f"def result(value):\n    print({RESULT_MARK!r} + _json.dumps(value))\n"
    )
    return [sys.executable, str(ROOT / "manage.py"), "shell", "--no-imports", "-v0", "-c", prologue + code]


def answer(output: str):
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(f"no result in:\n{output[-2000:]}")
    return json.loads(lines[-1][len(RESULT_MARK) :])


def run_script(env, code: str, **params):
    completed = subprocess.run(script_command(code, **params), env=env, cwd=ROOT, capture_output=True, text=True)
    if completed.returncode:
        raise RuntimeError(completed.stdout + completed.stderr)
    return answer(completed.stdout)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def started(command, env=None, log=None):
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process
    finally:
        stop(process)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=120, help="the connection's (and the API's) calls a minute")
    parser.add_argument("--calls", type=int, default=40, help="reads each worker makes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--in-flight", type=int, default=1, help="calls each worker has in flight (threads sharing its connector)"
    )
    parser.add_argument("--redis", action="store_true", help="keep the budget in Redis instead of the database")
    parser.add_argument(
        "--unshared", action="store_true", help="each worker keeps its own limit (no shared budget), to compare"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder (path printed)")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="portal-bench-budget-"))
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "SANDBOX_ENABLED": "0",
        "OUTBOUND_ALLOW_LOOPBACK": "1",
        "PORTAL_DATA_DIR": str(folder / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    api = BudgetedApi(options.rate)
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: None if options.keep else shutil.rmtree(folder, ignore_errors=True))
        stack.callback(api.shutdown)
        if options.redis:
            port = free_port()
            command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            stack.enter_context(started(command))
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        manage(env, "migrate", "--no-input", "-v0")
        host, port = api.server_address[:2]
        rows = run_script(env, SETUP, url=f"http://{host}:{port}", rate=options.rate, in_flight=options.in_flight)

        go = folder / "go"
        ready = [folder / f"ready-{n}" for n in range(options.workers)]
        logs = [stack.enter_context(open(folder / f"worker-{n}.log", "w+")) for n in range(options.workers)]
        workers = [
            stack.enter_context(
                started(
                    script_command(
                        WORKER,
                        connection=rows["shared"],
                        shared=not options.unshared,
                        calls=options.calls,
                        ready=str(ready[n]),
                        go=str(go),
                    ),
                    env,
                    logs[n],
                )
            )
            for n in range(options.workers)
        ]
        wait_for(lambda: all(path.exists() for path in ready), 120, "the workers' start")
        began = time.time()
        go.touch()
        for process in workers:
            process.wait(timeout=600)
        outcomes = []
        for log in logs:
            log.seek(0)
            outcomes.append(answer(log.read()))
        cost = run_script(env, COST, connection=rows["measured"], count=300)
        if options.keep:
            print(f"data folder: {folder}")

    calls = options.workers * options.calls
    elapsed = max(outcome["finished"] for outcome in outcomes) - began
    floor = calls / options.rate * 60
    gaps = [b - a for a, b in itertools.pairwise(api.accepted)]
    kept = "Redis" if options.redis else "the database (SQLite)"
    print(f"budget: {'one per worker process (unshared)' if options.unshared else 'shared'}, kept in {kept}")
    print(
        f"workers: {options.workers} × {options.in_flight} in flight, calls: {calls} ({options.calls} each), "
        f"rate: {options.rate}/min"
    )
    print(f"elapsed: {elapsed:.2f} s (floor {floor:.2f} s)")
    print(f"achieved: {calls / elapsed * 60:.1f} calls/min")
    print(f"smallest gap between two accepted calls: {min(gaps):.3f} s (interval {60 / options.rate:.3f} s)")
    print(f"429s: {len(api.refused)} (refused by the API), {sum(o['refused'] for o in outcomes)} seen by workers")
    print(f"reservation cost ({cost['kind']}): {cost['ms']:.2f} ms a call")
    print(f"floor_ratio: {elapsed / floor:.3f} (target <= 1.1, zero 429s)")


if __name__ == "__main__":
    main()
