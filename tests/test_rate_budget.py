"""A connection's rate budget, shared by every worker and integration using it (:mod:`sync.budgets`).

Unit tests of the reservation on the database and on a real Redis server, the rate headers that hold
the budget, and the budget as real worker processes see it: two processes making calls through
connectors built for the same connection never call the API faster than its rate, and a 429 with
``Retry-After`` that one of them receives makes the other wait too.
"""

import datetime as dt
import itertools
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.db import connection as database
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from sync import budgets
from sync.budgets import DatabaseBudget, RedisBudget
from sync.choices import ConnectionKind
from sync.connectors.base import ConnectorError, ReadRequest
from sync.connectors.retries import retry_after_seconds
from sync.connectors.throttle import RateLimit, asked_to_wait
from sync.engine import connector_for_connection
from sync.models import Connection, ConnectionBudget

from .cluster_harness import Portal
from .processes import free_port, running, wait_until
from .servers.rest_api import FakeRestApi

T = 1_800_000_000.0  # a fixed wall-clock moment, in seconds


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def new_connection(name="Ploomes", base_url="http://127.0.0.1:9", **fields) -> Connection:
    return Connection.objects.create(
        name=name, kind=ConnectionKind.REST, base_url=base_url, records_path="value", **fields
    )


@pytest.fixture(autouse=True)
def budgets_in_the_database(settings):
    """Budgets in the test database whatever the environment says; the Redis tests start their own server."""
    settings.REDIS_URL = ""


@pytest.fixture
def limited(db):
    return new_connection(rate_limit_per_minute=120)  # one call every 0.5 s


# --- the reservation in the database -------------------------------------------------------------


def test_two_budgets_over_one_row_interleave_their_slots(limited):
    first, second = DatabaseBudget(limited.pk, 120), DatabaseBudget(limited.pk, 120)

    waits = [first.reserve(T), second.reserve(T), first.reserve(T + 0.2), second.reserve(T + 0.2)]

    assert waits == pytest.approx([0.0, 0.5, 0.8, 1.3])
    assert ConnectionBudget.objects.get(pk=limited.pk).next_call_at == at(T + 2.0)


def test_a_slot_taken_by_another_worker_between_read_and_write_is_booked_again(limited):
    mine = DatabaseBudget(limited.pk, 120)
    mine.reserve(T)  # the row exists; the next slot is T + 0.5
    updates = []

    def another_worker_books_first(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and ConnectionBudget._meta.db_table in sql:
            updates.append(sql)
            if len(updates) == 1:  # between this worker's read and its write, another one books T + 0.5
                ConnectionBudget.objects.filter(pk=limited.pk).update(
                    next_call_at=F("next_call_at") + dt.timedelta(seconds=0.5)
                )
        return execute(sql, params, many, context)

    with database.execute_wrapper(another_worker_books_first):
        wait = mine.reserve(T)

    assert wait == pytest.approx(1.0)  # not the slot the other worker took
    assert len(updates) == 3  # the other worker's, the write that lost, the one that won
    assert ConnectionBudget.objects.get(pk=limited.pk).next_call_at == at(T + 1.5)


def test_a_hold_pushes_every_reservation(limited):
    refused, other = DatabaseBudget(limited.pk, 120), DatabaseBudget(limited.pk, 120)

    refused.hold(T + 10)
    refused.hold(T + 5)  # a shorter hold never shortens one in force

    assert other.held_until() == pytest.approx(T + 10)
    assert [other.reserve(T), refused.reserve(T + 1), other.reserve(T + 1)] == pytest.approx([10.0, 9.5, 10.0])


def test_a_connection_without_a_limit_has_no_budget_and_makes_no_query(db, django_assert_num_queries):
    connection = new_connection(rate_limit_per_minute=None)
    connector = connector_for_connection(connection, lambda record: None)

    assert budgets.for_connection(connection) is None
    with django_assert_num_queries(0):
        for _ in range(3):
            connector.transport.wait_turn()
            connector.transport.heard(429, {"Retry-After": "30"})
    assert not ConnectionBudget.objects.exists()


def budget_statements(queries) -> list[str]:
    """The statements on the budget's table (savepoints and transaction control left out)."""
    return [query["sql"].split()[0] for query in queries if ConnectionBudget._meta.db_table in query["sql"]]


def test_a_connection_with_a_limit_books_each_call_in_one_short_transaction(limited):
    connector = connector_for_connection(limited, lambda record: None)  # built as the engine builds it
    connector.transport.wait_turn()  # makes the row
    time.sleep(0.5)

    with CaptureQueriesContext(database) as on_time:
        connector.transport.wait_turn()  # its slot has come: no wait
    with CaptureQueriesContext(database) as waited:
        connector.transport.wait_turn()  # half a second to wait

    assert isinstance(connector.transport.budget, DatabaseBudget)
    assert budget_statements(on_time) == ["SELECT", "UPDATE"]  # the read and the compare-and-swap
    assert budget_statements(waited) == ["SELECT", "UPDATE", "SELECT"]  # and a look at the hold once it is over


# --- the reservation in Redis --------------------------------------------------------------------


@pytest.fixture
def redis_url():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with running(command):
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: redis.Redis.from_url(url).ping(), timeout=20, message="redis-server to answer")
        yield url


def test_two_redis_budgets_interleave_their_slots_and_share_a_hold(redis_url):
    client = redis.Redis.from_url(redis_url)
    first, second = RedisBudget(client, 7, 120), RedisBudget(client, 7, 120)

    waits = [first.reserve(T), second.reserve(T), first.reserve(T + 0.2)]
    first.hold(T + 10)
    first.hold(T + 5)

    assert waits == pytest.approx([0.0, 0.5, 0.8])
    assert second.held_until() == pytest.approx(T + 10)
    assert [second.reserve(T + 1), first.reserve(T + 1)] == pytest.approx([9.0, 9.5])
    assert RedisBudget(client, 8, 120).reserve(T) == 0  # another connection, another budget


def test_with_redis_configured_the_budget_is_kept_there(limited, redis_url, settings, django_assert_num_queries):
    settings.REDIS_URL = redis_url

    budget = budgets.for_connection(limited)
    with django_assert_num_queries(0):
        waits = [budget.reserve(T), budgets.for_connection(limited).reserve(T)]

    assert isinstance(budget, RedisBudget)
    assert waits == pytest.approx([0.0, 0.5])


# --- what the API says ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"Retry-After": "3"}, 3.0),
        (429, {"retry-after": "0"}, 0.0),
        (429, {}, None),
        (503, {"Retry-After": "3"}, None),  # the retry policy's business only
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}, 7.0),
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T) + 4)}, 4.0),
        (200, {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "7"}, None),
        (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, None),
        (None, None, None),
    ],
)
def test_the_answers_that_ask_every_caller_to_wait(status, headers, expected):
    assert asked_to_wait(status, headers, T, retry_after_seconds) == expected


def test_the_in_process_limit_honours_a_hold_only_with_a_rate():
    limited, unlimited = RateLimit(120), RateLimit(None)
    for limit in (limited, unlimited):
        limit.hold(T + 3)

    assert limited.reserve(T) == pytest.approx(3.0)
    assert unlimited.reserve(T) == 0 and unlimited.held_until() == 0


def test_a_429_one_connector_receives_holds_the_budget_for_every_other(db):
    with FakeRestApi() as api:
        connection = new_connection(base_url=api.url, rate_limit_per_minute=600, max_retries=0)
        api.fail_next(status=429, retry_after="2")
        refused = connector_for_connection(connection, lambda record: None)

        with pytest.raises(ConnectorError):
            refused.read_page(ReadRequest(source_object="/Contacts"))

    other = DatabaseBudget(connection.pk, 600)
    assert other.reserve(time.time()) == pytest.approx(2.0, abs=0.3)


def test_a_long_retry_after_holds_no_longer_than_the_connection_waits_between_attempts(db):
    with FakeRestApi() as api:
        connection = new_connection(
            base_url=api.url, rate_limit_per_minute=600, max_retries=0, max_retry_after_seconds=5
        )
        api.fail_next(status=429, retry_after="3600")
        with pytest.raises(ConnectorError):
            connector_for_connection(connection, lambda record: None).read_page(ReadRequest(source_object="/Contacts"))

    assert DatabaseBudget(connection.pk, 600).reserve(time.time()) == pytest.approx(5.0, abs=0.3)


# --- real worker processes -----------------------------------------------------------------------

SETUP = """
from sync.models import Connection

connection = Connection.objects.create(
    name=PARAMS["name"],
    kind="rest",
    base_url=PARAMS["url"],
    records_path="value",
    rate_limit_per_minute=PARAMS["rate"],
    max_retries=PARAMS["retries"],
    max_in_flight=PARAMS.get("in_flight", 1),
)
result(connection.pk)
"""

WORKER = """
import pathlib
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

from sync.connectors.base import ConnectorError, ReadRequest
from sync.engine import connector_for_connection
from sync.models import Connection

connection = Connection.objects.get(pk=PARAMS["connection"])
connector = connector_for_connection(connection, lambda record: None)
pathlib.Path(PARAMS["ready"]).touch()
while not pathlib.Path(PARAMS["go"]).exists():
    time.sleep(0.005)


def read(_number):
    try:
        connector.read_page(ReadRequest(source_object="/Contacts"))
    except ConnectorError as error:
        return str(error)
    finally:
        connections.close_all()  # this thread's own (the budget's)


# The calls from the connection's calls in flight, as a table's writes go: threads sharing one connector.
with ThreadPoolExecutor(connection.max_in_flight) as pool:
    failures = [failure for failure in pool.map(read, range(PARAMS["calls"])) if failure]
result(failures)
"""


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    with Portal(tmp_path_factory.mktemp("budget")) as portal:
        portal.data.mkdir(parents=True, exist_ok=True)
        portal.manage("migrate", "--no-input", "-v0")
        yield portal


def run_workers(portal, folder, connection: int, calls: int, workers=2) -> list[list[str]]:
    """``workers`` processes, each making ``calls`` reads through a connector of ``connection``, started together."""
    go = folder / "go"
    ready = [folder / f"ready-{n}" for n in range(workers)]

    def worker(n):
        return portal.script(WORKER, timeout=120, connection=connection, calls=calls, ready=str(ready[n]), go=str(go))

    with ThreadPoolExecutor(workers) as pool:
        results = [pool.submit(worker, n) for n in range(workers)]
        try:
            wait_until(lambda: all(path.exists() for path in ready), timeout=60, message="the workers to start")
        finally:
            go.touch()  # also on failure: the workers end instead of waiting for their timeout
        return [result.result() for result in results]


def arrivals(api: FakeRestApi) -> list[dt.datetime]:
    return sorted(request.at for request in api.requests_to("/Contacts"))


@pytest.mark.slow
@pytest.mark.parametrize("in_flight", [1, 4])
def test_two_worker_processes_sharing_a_connection_never_exceed_its_rate(portal, tmp_path, in_flight):
    rate, calls = 240, 8  # one call every 0.25 s; 16 calls in all
    interval = 60 / rate
    with FakeRestApi() as api:
        api.add_contacts(1)
        name = f"Shared, {in_flight} in flight"
        connection = portal.script(SETUP, name=name, url=api.url, rate=rate, retries=0, in_flight=in_flight)

        failures = run_workers(portal, tmp_path, connection, calls)
        seen = arrivals(api)

    assert failures == [[], []]
    assert len(seen) == 2 * calls
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= interval - 0.1, gaps  # a little for the way from a slot to the server (busy machines)
    elapsed = (seen[-1] - seen[0]).total_seconds()
    assert (2 * calls - 1) * interval - 0.1 <= elapsed <= 1.2 * (2 * calls) / (rate / 60), elapsed
    print(json.dumps({"calls": len(seen), "elapsed": round(elapsed, 3), "smallest_gap": round(min(gaps), 3)}))


@pytest.mark.slow
def test_a_429_with_retry_after_one_process_receives_makes_the_other_wait_too(portal, tmp_path):
    rate, calls, retry_after = 600, 4, 2  # one call every 0.1 s
    with FakeRestApi() as api:
        api.add_contacts(1)
        connection = portal.script(SETUP, name="Refusing", url=api.url, rate=rate, retries=1)
        api.fail_next(status=429, retry_after=str(retry_after), path="/Contacts")

        failures = run_workers(portal, tmp_path, connection, calls)
        seen = arrivals(api)

    assert failures == [[], []]  # the refused read was tried again, after the wait
    assert len(seen) == 2 * calls + 1
    after = [(moment - seen[0]).total_seconds() for moment in seen[1:]]  # the first call was refused
    assert min(after) >= retry_after - 0.15, after  # nobody called while the API asked to wait
    assert max(after) <= retry_after + 2 * calls * 0.1 + 1.0, after
