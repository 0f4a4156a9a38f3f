"""A whole portal in a temporary folder, for tests that start real processes.

``Portal`` owns one data folder, runs ``manage.py`` commands in it, serves it
(the demo ERP and CRM live under ``/sandbox/``) and starts ``qcluster``
processes. Every long-running process gets its own process group and a log
file (a pipe nobody reads would fill up and block it); leaving the ``with``
block stops them all, also when the test failed, and then prints the end of
each log.

Where it keeps its data follows the test run's environment:

- by default, the embedded set-up: its own SQLite file (WAL, as the settings
  say) and the ORM broker;
- with ``DATABASE_URL`` pointing at PostgreSQL, a fresh database of its own on
  that server, dropped when the portal stops;
- with ``REDIS_URL``, the Redis broker on a database number of its own on that
  server (django-q2's queue is one list per cluster name, and every portal has
  the same name), flushed when the portal stops.

``.ci/with-services`` starts a throwaway PostgreSQL and Redis and sets both.
"""

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
import requests
from psycopg import sql as pg_sql

from integration_portal.database import q_cluster_settings

from .processes import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 15
RESULT_MARK = "RESULT-JSON:"
# django-q2's Redis broker keeps the cluster's tasks in the list ``django_q:<cluster name>:q``.
REDIS_QUEUE_KEY = f"django_q:{q_cluster_settings(None, workers=1, task_timeout=1)['name']}:q"


def uses_postgresql(database_url: str | None) -> bool:
    return urlsplit(database_url or "").scheme in ("postgres", "postgresql")


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


# ---------------------------------------------------------------- where a portal keeps its data


class SqliteDatabase:
    """The embedded default: a SQLite file in the portal's data folder."""

    kind = "SQLite"

    def __init__(self, path: Path):
        self.path = path

    def environment(self) -> dict:
        return {}  # no DATABASE_URL: the settings put the file in PORTAL_DATA_DIR

    def create(self) -> None:
        pass  # migrate creates the file

    def query(self, query: str, params=()) -> list[tuple]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            return connection.execute(query, params).fetchall()
        finally:
            connection.close()

    def drop(self) -> None:
        pass  # the file goes with the temporary folder


class PostgresDatabase:
    """A database of its own, ``portal_<random>``, on the PostgreSQL server ``server_url`` reaches."""

    kind = "PostgreSQL"

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.name = f"portal_{secrets.token_hex(6)}"
        self.url = _with_path(server_url, f"/{self.name}")
        self.reader: psycopg.Connection | None = None

    def environment(self) -> dict:
        return {"DATABASE_URL": self.url}

    def create(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as server:
            server.execute(pg_sql.SQL("CREATE DATABASE {}").format(pg_sql.Identifier(self.name)))

    def query(self, query: str, params=()) -> list[tuple]:
        """One query on a kept connection (autocommit: each sees the latest commits); ``?`` placeholders."""
        if self.reader is None or self.reader.closed:
            self.reader = psycopg.connect(self.url, autocommit=True)
        if params:
            query = query.replace("%", "%%").replace("?", "%s")
        return self.reader.execute(query, params or None).fetchall()

    def drop(self) -> None:
        """Close every connection to the database (ours and the portal's), then drop it."""
        if self.reader is not None:
            self.reader.close()
        with psycopg.connect(self.server_url, autocommit=True) as server:
            server.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            server.execute(pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pg_sql.Identifier(self.name)))


class OrmBroker:
    """django-q2's ORM broker: the queue is the ``django_q_ormq`` table of the portal's database."""

    kind = "ORM broker"

    def __init__(self, database):
        self.database = database

    def environment(self) -> dict:
        return {}  # no REDIS_URL: the settings choose the ORM broker

    def claim(self) -> None:
        pass

    def queued_tasks(self) -> int:
        return self.database.query("SELECT COUNT(*) FROM django_q_ormq")[0][0]

    def release(self) -> None:
        pass


class RedisBroker:
    """django-q2's Redis broker on a database number no other portal uses, flushed at release."""

    kind = "Redis"
    CLAIM_KEY = "integration-portal-tests:claimed-by"
    CLAIM_SECONDS = 6 * 3600  # a claim left by a crashed test run expires

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.url = ""
        self.client: redis.Redis | None = None

    def environment(self) -> dict:
        return {"REDIS_URL": self.url}

    def claim(self) -> None:
        """Take the first database number that is empty, atomically (``SET NX``), skipping the server URL's own."""
        token = secrets.token_hex(8)
        server = redis.Redis.from_url(self.server_url)
        try:
            count = int(server.config_get("databases").get("databases", 16))
            own = server.connection_pool.connection_kwargs.get("db", 0)
        finally:
            server.close()
        for number in range(count):
            if number == own:
                continue
            url = _with_path(self.server_url, f"/{number}")
            client = redis.Redis.from_url(url)
            if client.set(self.CLAIM_KEY, token, nx=True, ex=self.CLAIM_SECONDS) and client.dbsize() == 1:
                self.url, self.client = url, client
                return
            if client.get(self.CLAIM_KEY) == token.encode():
                client.delete(self.CLAIM_KEY)  # ours, but the database held something else
            client.close()
        raise RuntimeError(f"no free Redis database on {self.server_url} ({count} databases)")

    def queued_tasks(self) -> int:
        """Tasks waiting in Redis (a cluster's pusher may already hold a few it has not started)."""
        return self.client.llen(REDIS_QUEUE_KEY)

    def release(self) -> None:
        if self.client is not None:
            self.client.flushdb()
            self.client.close()


class Portal:
    def __init__(self, folder: Path, **environment):
        self.folder = Path(folder)
        self.data = self.folder / "data"
        database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
        if uses_postgresql(database_url):
            self.database = PostgresDatabase(database_url)
        else:
            self.database = SqliteDatabase(self.data / "portal.sqlite3")
        self.broker = RedisBroker(redis_url) if redis_url else OrmBroker(self.database)
        self.env = {
            "PATH": os.environ["PATH"],
            "DEBUG": "1",  # turns the sandbox (demo ERP and CRM) on
            "PORTAL_DATA_DIR": str(self.data),
            "PYTHONUNBUFFERED": "1",
            **{name: str(value) for name, value in environment.items()},
        }
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.origin = ""

    @property
    def backends(self) -> str:
        """Where this portal keeps its data and its queue, e.g. "PostgreSQL + Redis"."""
        return f"{self.database.kind} + {self.broker.kind}"

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
        """Read the portal's database directly (fast enough to poll every few milliseconds).

        Placeholders are ``?`` whatever the database; literal ``?`` are not supported.
        """
        return self.database.query(query, params)

    def value(self, query: str, params=()):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def queued_tasks(self) -> int:
        """Tasks waiting in the broker, whichever it is."""
        return self.broker.queued_tasks()

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
        """A ``qcluster`` on the portal's broker, returned once it says it is running."""
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

    def release(self) -> None:
        """Give back the database and the Redis namespace (the processes are stopped first)."""
        try:
            self.database.drop()
        finally:
            self.broker.release()

    def __enter__(self):
        try:
            self.database.create()
            self.broker.claim()
        except BaseException:
            self.release()
            raise
        self.env.update(self.database.environment())
        self.env.update(self.broker.environment())
        return self

    def __exit__(self, exc_type, exc, traceback):
        try:
            self.stop_all()
            if exc_type is not None:
                for name, (_process, log_path) in self.processes.items():
                    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
                    print(f"----- end of {name}.log -----\n{tail}")
        finally:
            self.release()
        return False
