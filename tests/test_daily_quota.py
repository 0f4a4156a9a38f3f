"""A connection's daily call limit and the API's own word on its quotas (:mod:`sync.budgets`, :mod:`.throttle`).

A connection with ``daily_call_limit`` N makes N calls a day (the portal's time zone), counted by every
worker sharing its budget (the database row or Redis); the next one is not sent and raises
``QuotaReached`` until the next midnight. HubSpot's rate headers spend the day or hold every caller.
One connector shared by several threads fetches an expired or refused OAuth2 token once, and its
session keeps a connection per call in flight.
"""

import datetime as dt
import json
import logging
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine

from sync import budgets
from sync.budgets import DatabaseBudget, RedisBudget
from sync.choices import AuthKind, ConnectionKind
from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, QuotaReached, ReadRequest
from sync.connectors.transport import Transport
from sync.models import Connection, ConnectionBudget

from .processes import free_port, running, wait_until
from .servers.rest_api import FakeRestApi

ZONE = ZoneInfo("America/Sao_Paulo")
EVENING = dt.datetime(2026, 3, 10, 23, 50, tzinfo=ZONE)  # ten minutes before the quota comes back
MIDNIGHT = dt.datetime(2026, 3, 11, 0, 0, tzinfo=ZONE)
T = EVENING.timestamp()


@pytest.fixture(autouse=True)
def portal_in_sao_paulo(settings):
    """Budgets in the test database whatever the environment says, days in the portal's zone."""
    settings.REDIS_URL = ""
    settings.TIME_ZONE = "America/Sao_Paulo"


def new_connection(base_url="http://127.0.0.1:9", **fields) -> Connection:
    fields = {"name": "Bling", "kind": ConnectionKind.REST, "records_path": "value", "max_retries": 0, **fields}
    return Connection.objects.create(base_url=base_url, **fields)


def worker_connector(connection: Connection):
    """A connector as a worker builds it: the connection's shared budget, if it has one."""
    config = ConnectionConfig.from_model(connection)
    return connector_for(config, lambda record: None, budget=budgets.for_connection(connection))


def read(connector):
    return connector.read_page(ReadRequest(source_object="/Contacts")).records


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


@pytest.fixture(params=["database", "redis"])
def where(request, db, settings):
    """Budgets kept in the database, or in a real Redis server."""
    if request.param == "redis":
        settings.REDIS_URL = request.getfixturevalue("redis_url")
    return request.param


# --- the daily call limit ------------------------------------------------------------------------------------


def test_a_connection_makes_its_daily_calls_then_stops_until_midnight_in_the_portal_zone(db):
    with FakeRestApi() as api:
        api.add_contact(Name="ACME")
        connection = new_connection(base_url=api.url, daily_call_limit=3)
        connector = worker_connector(connection)

        with time_machine.travel(EVENING, tick=True):
            answers = [read(connector) for _ in range(3)]
            with pytest.raises(QuotaReached) as reached:
                read(connector)
        sent_that_day = len(api.requests_to("/Contacts"))
        with time_machine.travel(MIDNIGHT + dt.timedelta(seconds=5), tick=True):
            next_day = read(connector)

    assert [[record["Name"] for record in records] for records in answers] == [["ACME"]] * 3
    assert sent_that_day == 3  # the fourth call was never sent
    assert reached.value.until == MIDNIGHT.timestamp()
    assert str(reached.value) == "daily quota reached (3 of 3 calls today)"
    assert reached.value.retryable
    assert [record["Name"] for record in next_day] == ["ACME"]  # a new day, a new quota


def test_the_day_count_is_shared_by_every_worker_and_starts_over_the_next_day(where):
    connection = new_connection(daily_call_limit=4)
    first, second = budgets.for_connection(connection), budgets.for_connection(connection)

    waits = [first.reserve(T), second.reserve(T + 1), first.reserve(T + 2), second.reserve(T + 3)]
    with pytest.raises(QuotaReached) as reached:
        first.reserve(T + 4)
    with pytest.raises(QuotaReached):
        second.reserve(T + 5)
    late_that_day = budgets.usage(connection, now=T + 6)
    after_midnight = second.reserve(MIDNIGHT.timestamp() + 1)

    assert waits == [0.0] * 4  # no rate: the quota alone
    assert reached.value.until == MIDNIGHT.timestamp()
    assert str(reached.value) == "daily quota reached (4 of 4 calls today)"
    assert late_that_day == budgets.Usage(
        per_minute=None,
        daily_limit=4,
        calls_today=4,
        held_until=None,
        quota_until=MIDNIGHT.astimezone(dt.UTC),
    )
    assert after_midnight == 0.0
    assert budgets.usage(connection, now=MIDNIGHT.timestamp() + 2).calls_today == 1


def test_a_quota_and_a_rate_book_together_and_a_refused_call_books_no_slot(where):
    connection = new_connection(daily_call_limit=2, rate_limit_per_minute=60)  # one call a second
    first, second = budgets.for_connection(connection), budgets.for_connection(connection)

    waits = [first.reserve(T), second.reserve(T)]
    with pytest.raises(QuotaReached):
        first.reserve(T)

    assert waits == pytest.approx([0.0, 1.0])
    assert budgets.usage(connection, now=T).calls_today == 2
    # The refused call took no slot: a caller booking again (counted already) gets the one after the second.
    assert second.reserve(T, rebook=True) == pytest.approx(2.0)


def test_a_call_that_waited_out_a_hold_is_counted_once(db):
    connection = new_connection(daily_call_limit=5, rate_limit_per_minute=6000)
    budget = budgets.for_connection(connection)

    budget.reserve(T)
    budget.hold(T + 1)
    budget.reserve(T + 0.5, rebook=True)  # a caller whose slot came during the hold books again

    assert budgets.usage(connection, now=T + 2).calls_today == 1
    assert ConnectionBudget.objects.get(pk=connection.pk).day == EVENING.date()


def test_a_connection_without_limits_shows_no_count(db):
    connection = new_connection()

    assert budgets.for_connection(connection) is None
    assert budgets.usage(connection, now=T) == budgets.Usage(None, None, None)


def test_a_day_count_in_redis_lives_until_midnight_at_least(redis_url):
    client = redis.Redis.from_url(redis_url)
    budget = RedisBudget(client, 7, None, daily_limit=10, zone=ZONE)

    budget.reserve(T)
    budget.hold(T + 1)  # a short hold never shortens the key's life

    assert client.pttl(budget.key) >= (MIDNIGHT.timestamp() - T) * 1000 + budgets.REDIS_IDLE_MS - 60_000


# --- what the API says about its quotas ----------------------------------------------------------------------


@dataclass
class HubSpotLike:
    """A real HTTP server listing contacts as HubSpot does, answering the rate headers it is given."""

    answers: list[tuple[int, dict, object]] = field(default_factory=list)  # (status, headers, body), in turn
    arrivals: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                with api.lock:
                    api.arrivals.append(dt.datetime.now(dt.UTC).timestamp())
                    status, headers, body = api.answers.pop(0) if api.answers else (200, {}, None)
                if body is None:
                    body = {"results": [{"id": "101", "properties": {"email": "ana@acme.example"}}]}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def hubspot_connection(url, **fields) -> Connection:
    return new_connection(base_url=url, name="HubSpot", records_path="results", **fields)


def emails(connector) -> list[str]:
    page = connector.read_page(ReadRequest(source_object="/crm/v3/objects/contacts"))
    return [record["properties"]["email"] for record in page.records]


@pytest.mark.parametrize("limits", [{}, {"daily_call_limit": 250_000}], ids=["no limits", "a shared budget"])
def test_daily_remaining_zero_stops_the_next_call_before_it_is_sent(db, limits):
    with HubSpotLike() as api, time_machine.travel(EVENING, tick=True):
        api.answers.append((200, {"X-HubSpot-RateLimit-Daily-Remaining": "0"}, None))
        connection = hubspot_connection(api.url, **limits)
        connector = worker_connector(connection)

        last = emails(connector)  # the day's last call still answers
        with pytest.raises(QuotaReached) as spent:
            emails(connector)

        assert last == ["ana@acme.example"]
        assert len(api.arrivals) == 1
        assert str(spent.value) == "the API says its daily quota is spent"
        assert spent.value.until == MIDNIGHT.timestamp()
        if limits:  # another worker of the same connection is stopped too
            with pytest.raises(QuotaReached):
                emails(worker_connector(connection))
            assert len(api.arrivals) == 1
            assert budgets.usage(connection).quota_until == MIDNIGHT.astimezone(dt.UTC)


def test_a_429_naming_the_daily_policy_spends_the_day(db):
    body = {"status": "error", "message": "You have reached your daily limit.", "policyName": "DAILY"}
    connection = hubspot_connection("http://127.0.0.1:9", daily_call_limit=250_000)
    transport = Transport(
        ConnectionConfig.from_model(connection), lambda record: None, budgets.for_connection(connection)
    )
    other = budgets.for_connection(connection)

    with time_machine.travel(EVENING, tick=False):
        transport.heard(429, {"Content-Type": "application/json"}, json.dumps(body))
        with pytest.raises(QuotaReached) as spent:
            transport.wait_turn()

    assert spent.value.until == MIDNIGHT.timestamp()
    with pytest.raises(QuotaReached):
        other.reserve(T + 60)
    assert other.reserve(MIDNIGHT.timestamp() + 1) == 0.0  # back the next day


def test_a_429_of_another_policy_does_not_spend_the_day(db):
    body = {"status": "error", "message": "You have reached your secondly limit.", "policyName": "SECONDLY"}
    connection = hubspot_connection("http://127.0.0.1:9", daily_call_limit=250_000)
    transport = Transport(
        ConnectionConfig.from_model(connection), lambda record: None, budgets.for_connection(connection)
    )

    transport.heard(429, {}, json.dumps(body))
    transport.wait_turn()

    assert budgets.usage(connection).quota_until is None


def test_remaining_zero_with_an_interval_holds_every_worker_for_that_interval(where):
    with HubSpotLike() as api:
        api.answers.append(
            (200, {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "1500"}, None)
        )
        connection = hubspot_connection(api.url, rate_limit_per_minute=6000)
        emails(worker_connector(connection))  # told to wait 1.5 s

        answers = [emails(worker_connector(connection)) for _ in range(2)]  # two other workers

    first, *later = api.arrivals
    assert answers == [["ana@acme.example"]] * 2
    assert len(later) == 2
    assert min(later) - first >= 1.5 - 0.05, later  # nobody called during HubSpot's interval


# --- one connector, many threads -----------------------------------------------------------------------------


def oauth_connector(api: FakeRestApi):
    connection = new_connection(
        base_url=api.url,
        auth_kind=AuthKind.OAUTH2,
        oauth_token_url=f"{api.url}/oauth/token",
        client_id="portal",
        client_secret="s3cret-client",
        max_in_flight=8,
    )
    return worker_connector(connection)


@pytest.mark.parametrize(("how", "lifetime"), [("expired", 1), ("revoked", 3600)])
def test_eight_threads_whose_token_is_no_longer_good_fetch_one_new_token(db, how, lifetime):
    with FakeRestApi(auth="oauth2", client_id="portal", client_secret="s3cret-client", token_lifetime=lifetime) as api:
        api.add_contact(Name="ACME")
        connector = oauth_connector(api)
        read(connector)  # the first token
        (first_token,) = api.all_tokens
        if how == "expired":
            api.token_lifetime = 3600  # the next one lasts
            wait_until(lambda: not api.authorized({"Authorization": f"Bearer {first_token}"}), timeout=5)
        else:
            api.revoke_tokens()  # still good for the portal: the API answers 401
        start = threading.Barrier(8)

        def together(_):
            start.wait(timeout=10)
            return read(connector)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(together, range(8)))

        assert [[record["Name"] for record in records] for records in answers] == [["ACME"]] * 8
        assert len(api.requests_to("/oauth/token")) == 2  # the first token, and one new one
        assert len(api.all_tokens) == 2


def test_a_session_keeps_a_connection_for_each_call_in_flight(db, caplog):
    in_flight = 16  # more than requests keeps by default
    with FakeRestApi() as api:
        api.add_contact(Name="ACME")
        api.delay_next(count=in_flight, seconds=0.3, path="/Contacts")  # all of them open at once
        config = ConnectionConfig.from_model(new_connection(base_url=api.url, max_in_flight=in_flight))
        session = Transport(config, lambda record: None).session()

        with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"), ThreadPoolExecutor(in_flight) as pool:
            statuses = list(pool.map(lambda _: session.get(f"{api.url}/Contacts", timeout=10).status_code, range(32)))
        session.close()

    assert statuses == [200] * 32
    assert not [record for record in caplog.records if "pool is full" in record.getMessage()]


def test_the_database_budget_counts_in_the_same_compare_and_swap(db):
    connection = new_connection(daily_call_limit=10)
    budget = DatabaseBudget(connection.pk, None, daily_limit=10, zone=ZONE)

    for offset in range(3):
        budget.reserve(T + offset)

    row = ConnectionBudget.objects.get(pk=connection.pk)
    assert (row.day, row.day_calls, row.next_call_at) == (EVENING.date(), 3, dt.datetime.fromtimestamp(T + 2, dt.UTC))
