"""A whole portal in a temporary folder, for tests that start real processes.

``Portal`` owns one data folder (its own SQLite file, WAL mode as the settings
say), runs ``manage.py`` commands in it, serves it (the demo ERP and CRM live
under ``/sandbox/``) and starts ``qcluster`` processes on its ORM broker. Every
long-running process gets its own process group and a log file (a pipe nobody
reads would fill up and block it); leaving the ``with`` block stops them all,
also when the test failed, and then prints the end of each log.
"""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from .processes import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 15
RESULT_MARK = "RESULT-JSON:"


class Portal:
    def __init__(self, folder: Path, **environment):
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.database = self.data / "portal.sqlite3"
        self.env = {
            "PATH": os.environ["PATH"],
            "DEBUG": "1",  # turns the sandbox (demo ERP and CRM) on
            "PORTAL_DATA_DIR": str(self.data),
            "PYTHONUNBUFFERED": "1",
            **{name: str(value) for name, value in environment.items()},
        }
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.origin = ""

    def _environment(self, extra) -> dict:
        return {**self.env, **{name: str(value) for name, value in (extra or {}).items()}}

    # ------------------------------------------------------------ one-shot commands

    def manage(self, *args, env=None, timeout=120) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self._environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if completed.returncode != 0:
            raise AssertionError(
                f"manage.py {args[0]} exited with {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
            )
        return completed

    def script(self, code: str, *, env=None, timeout=120, **params):
        """Run ``code`` in ``manage.py shell``; it sees ``PARAMS`` and calls ``result(value)`` to answer."""
        prologue = (
            "import json as _json\n"
            f"PARAMS = _json.loads({json.dumps(params, default=str)!r})\n"
            f"def result(value):\n    print({RESULT_MARK!r} + _json.dumps(value, default=str))\n"
        )
        completed = self.manage("shell", "--no-imports", "-v0", "-c", prologue + code, env=env, timeout=timeout)
        lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
        return json.loads(lines[-1][len(RESULT_MARK) :]) if lines else None

    def sql(self, query: str, params=()) -> list[tuple]:
        """Read the portal's database directly (fast enough to poll every few milliseconds)."""
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return connection.execute(query, params).fetchall()
        finally:
            connection.close()

    def value(self, query: str, params=()):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    # ------------------------------------------------------------ long-running processes

    def start(self, name: str, *args, env=None) -> subprocess.Popen:
        """``manage.py <args>`` in its own process group, its output in ``<folder>/<name>.log``."""
        log_path = self.folder / f"{name}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=self._environment(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = (process, log_path)
        return process

    def log(self, name: str) -> str:
        return self.processes[name][1].read_text(errors="replace")

    def serve(self) -> str:
        """Migrate, serve on a free port and configure the demo integration against it; returns the origin."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.manage("migrate", "--no-input", "-v0")
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        web = self.start("web", "runserver", f"127.0.0.1:{port}", "--noreload")
        wait_until(
            lambda: web.poll() is None and requests.get(f"{self.origin}/login/", timeout=2).status_code == 200,
            timeout=60,
            message="the portal to answer",
        )
        self.manage("demo", "--origin", self.origin)
        return self.origin

    def start_cluster(self, name: str, env=None) -> subprocess.Popen:
        """A ``qcluster`` on the ORM broker, returned once it says it is running."""
        cluster = self.start(name, "qcluster", env=env)

        def running():
            if cluster.poll() is not None:
                raise AssertionError(f"{name} exited with {cluster.returncode}:\n{self.log(name)}")
            return "running." in self.log(name)

        wait_until(running, timeout=60, interval=0.1, message=f"{name} to start")
        return cluster

    def kill(self, name: str) -> float:
        """SIGKILL the whole process group (a cluster forks its workers); returns the monotonic time of the kill."""
        process = self.processes[name][0]
        os.killpg(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=10)
        return killed_at

    def stop_all(self) -> None:
        """Ask every main process to stop (a qcluster stops its own workers), then kill what is left."""
        live = [process for process, _log in self.processes.values() if process.poll() is None]
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process, _log in self.processes.values():
            with contextlib.suppress(ProcessLookupError):  # also the children of a main process already gone
                os.killpg(process.pid, signal.SIGKILL)
            if process.poll() is None:
                process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        self.stop_all()
        if exc_type is not None:
            for name, (_process, log_path) in self.processes.items():
                tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
                print(f"----- end of {name}.log -----\n{tail}")
        return False
