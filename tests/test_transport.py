"""The connector transport's policy on its own: retries, waits, Retry-After, jitter, the rate limit.

Pure: the attempts are functions, the sleeps and the random source are injected, so nothing
waits and nothing is left to chance.
"""

import itertools
import random
from datetime import UTC, datetime

import pytest
import requests

from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.connectors.failures import Place, RefusedLocation, describe
from sync.connectors.rest import RestConnector
from sync.connectors.retries import AttemptFailed, RetryPolicy, backoff_seconds, retry_after_seconds, retryable_status
from sync.connectors.soap import SoapConnector
from sync.connectors.throttle import RateLimit
from sync.connectors.transport import Transport
from sync.models import Connection
from tests.servers.nav_soap import NavSoapServer
from tests.servers.rest_api import FakeRestApi


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps, *, retries=3, backoff=1.0, ceiling=60.0, draw=lambda: 0.5) -> RetryPolicy:
    return RetryPolicy(name="CRM", retries=retries, backoff=backoff, ceiling=ceiling, sleep=sleeps, draw=draw)


def failing(*errors, answer="done"):
    """An attempt that fails with ``errors`` in turn (ConnectorError or AttemptFailed), then answers."""
    tried = []

    def attempt(number):
        tried.append(number)
        if len(tried) <= len(errors):
            error = errors[len(tried) - 1]
            raise error if isinstance(error, AttemptFailed) else AttemptFailed(error)
        return answer

    attempt.tried = tried
    return attempt


def status(code: int, words: str = "") -> ConnectorError:
    return ConnectorError(words or f"answered {code}", retryable=retryable_status(code), status_code=code)


# --- what is retried -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429, 408])
def test_5xx_429_and_408_are_retried(code):
    sleeps = Sleeps()
    attempt = failing(status(code), status(code))

    assert policy(sleeps).run(attempt) == "done"
    assert attempt.tried == [1, 2, 3]
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422, 501])
def test_4xx_and_501_are_not_retried(code):
    sleeps = Sleeps()
    attempt = failing(status(code))

    with pytest.raises(ConnectorError) as caught:
        policy(sleeps).run(attempt)

    assert caught.value.status_code == code
    assert attempt.tried == [1] and sleeps == []


def test_connection_errors_and_timeouts_are_retried_as_the_table_words_them():
    place = Place("https://crm.example.test/Contacts")
    refused = requests.ConnectionError("[Errno 111] Connection refused")
    timed_out = requests.ReadTimeout("read timed out")
    errors = [describe(failure, place, timeout_seconds=5, shown=str) for failure in (refused, timed_out)]
    sleeps = Sleeps()
    attempt = failing(*errors)

    assert policy(sleeps).run(attempt) == "done"
    assert [error.message for error in errors] == [
        "Could not connect to https://crm.example.test/Contacts: check the address and that the server is up.",
        "Timed out after 5 s reaching https://crm.example.test/Contacts.",
    ]
    assert attempt.tried == [1, 2, 3]


def test_a_refused_address_is_not_retried():
    error = describe(RefusedLocation("file:///etc/passwd"), Place("x"), timeout_seconds=5, shown=str)
    attempt = failing(error)

    with pytest.raises(ConnectorError) as caught:
        policy(Sleeps()).run(attempt)

    assert caught.value.message.startswith('Refused to load "file:///etc/passwd"')
    assert attempt.tried == [1]


def test_other_exceptions_end_the_call_as_they_are():
    def attempt(number):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        policy(Sleeps()).run(attempt)


def test_giving_up_after_the_configured_attempts_raises_the_last_errors_words():
    sleeps = Sleeps()
    attempt = failing(*(status(503, f"try {n}") for n in range(1, 10)))

    with pytest.raises(ConnectorError) as caught:
        policy(sleeps, retries=2).run(attempt)

    assert str(caught.value) == "try 3"
    assert caught.value.retryable
    assert attempt.tried == [1, 2, 3] and len(sleeps) == 2


def test_retries_zero_is_one_attempt_and_a_call_may_ask_for_fewer():
    attempt = failing(status(503), status(503))
    with pytest.raises(ConnectorError):
        policy(Sleeps(), retries=0).run(attempt)
    assert attempt.tried == [1]

    attempt = failing(status(503))
    with pytest.raises(ConnectorError):
        policy(Sleeps(), retries=3).run(attempt, retries=0)
    assert attempt.tried == [1]


def test_the_hook_runs_before_each_new_attempt_after_the_wait():
    events = []

    def sleep(seconds):
        events.append(("sleep", seconds))

    def attempt(number):
        events.append(("attempt", number))
        if number < 3:
            raise AttemptFailed(status(500, f"failed {number}"), retry_after=number)
        return number

    retry_policy = RetryPolicy(name="CRM", retries=3, backoff=1, ceiling=60, sleep=sleep)
    assert retry_policy.run(attempt, before_retry=lambda error: events.append(("check", error.message))) == 3
    assert events == [
        ("attempt", 1),
        ("sleep", 1),
        ("check", "failed 1"),
        ("attempt", 2),
        ("sleep", 2),
        ("check", "failed 2"),
        ("attempt", 3),
    ]


# --- how long between attempts -------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter():
    for attempt in (1, 2, 3):
        assert 0.5 * 2 ** (attempt - 1) <= backoff_seconds(1.0, attempt) < 2 ** (attempt - 1)


def test_jitter_comes_from_the_injected_random_source():
    assert [backoff_seconds(1.0, 3, draw) for draw in (lambda: 0.0, lambda: 0.5, lambda: 0.999)] == [
        2.0,
        3.0,
        pytest.approx(3.998),
    ]
    seeded = random.Random(7)
    draws = [seeded.random() for _ in range(3)]
    sleeps = Sleeps()
    policy(sleeps, backoff=0.5, draw=random.Random(7).random).run(failing(status(500), status(500), status(500)))

    assert sleeps == [pytest.approx(0.5 * 2**n * (0.5 + draw / 2)) for n, draw in enumerate(draws)]
    assert len(set(sleeps)) == 3 and sleeps != [0.25, 0.5, 1.0]  # not the bare exponential: jittered


def test_two_clients_failing_together_do_not_come_back_together():
    first, second = Sleeps(), Sleeps()
    policy(first, draw=random.Random(1).random).run(failing(status(503), status(503)))
    policy(second, draw=random.Random(2).random).run(failing(status(503), status(503)))

    assert first != second


def test_retry_after_is_honoured_up_to_the_ceiling():
    sleeps = Sleeps()
    attempt = failing(
        AttemptFailed(status(503), retry_after=7.5),
        AttemptFailed(status(429), retry_after=3600),
        AttemptFailed(status(503), retry_after=0),
    )

    policy(sleeps, ceiling=30).run(attempt)

    assert sleeps == [7.5, 30, 0]


def test_backoff_is_capped_by_the_ceiling_too():
    sleeps = Sleeps()
    policy(sleeps, backoff=10, ceiling=15, draw=lambda: 0.999).run(failing(*[status(500)] * 3))

    assert sleeps == [pytest.approx(9.995), 15, 15]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("3", now) == 3
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:07 GMT", now) == 7
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_the_policy_reads_the_connection_settings():
    config = ConnectionConfig(name="NAV", kind="soap", max_retries=4, backoff_seconds=0.25, max_retry_after_seconds=9)
    retry_policy = Transport(config, lambda record: None).retries

    assert (retry_policy.retries, retry_policy.backoff, retry_policy.ceiling) == (4, 0.25, 9)


# --- the rate limit ---------------------------------------------------------------------------------


def test_the_rate_limit_spaces_calls_evenly():
    now = itertools.count(0.0, 0.1)  # each call finds the clock 0.1 s later
    sleeps = Sleeps()
    limit = RateLimit(120, clock=lambda: next(now), sleep=sleeps)  # one call every 0.5 s

    for _ in range(3):
        limit.wait_turn()

    assert sleeps == [pytest.approx(0.4), pytest.approx(0.8)]


def test_no_rate_limit_never_waits():
    sleeps = Sleeps()
    for per_minute in (None, 0):
        limit = RateLimit(per_minute, sleep=sleeps)
        limit.wait_turn()
        limit.wait_turn()

    assert sleeps == []


# --- creates are never sent twice blindly ------------------------------------------------------------


def make_transport(**overrides) -> Transport:
    values = {"name": "CRM", "kind": "rest", "max_retries": 2, "backoff_seconds": 0}
    return Transport(ConnectionConfig(**{**values, **overrides}), lambda record: None)


def test_a_create_is_looked_up_before_it_is_sent_again():
    transport = make_transport()
    looked = []
    attempt = failing(status(500), answer={"Id": 2})

    created = transport.create(attempt, key_field="Code", key_value="A1", find=lambda: looked.append(1))

    assert created == {"Id": 2}
    assert attempt.tried == [1, 2] and looked == [1]


def test_a_create_found_after_a_failure_is_returned_not_sent_again():
    transport = make_transport()
    attempt = failing(status(502))

    created = transport.create(attempt, key_field="Code", key_value="A1", find=lambda: {"Id": 1, "Code": "A1"})

    assert created == {"Id": 1, "Code": "A1"}
    assert attempt.tried == [1]


def test_a_create_refused_with_429_is_sent_again_without_a_lookup():
    transport = make_transport()
    attempt = failing(status(429), answer={"Id": 3})

    assert transport.create(attempt, key_field="", key_value=None, find=None) == {"Id": 3}
    assert attempt.tried == [1, 2]


@pytest.mark.parametrize(
    ("key_value", "find", "words"),
    [
        (None, lambda: None, "without a record key there is no way to check whether it was created."),
        ("A1", None, "there is no operation to look the record up and check whether it was created."),
    ],
)
def test_a_create_that_cannot_be_checked_is_not_sent_again(key_value, find, words):
    transport = make_transport()
    attempt = failing(status(503, "answered 503."))

    with pytest.raises(ConnectorError) as caught:
        transport.create(attempt, key_field="Code", key_value=key_value, find=find)

    assert caught.value.message == f"answered 503. The create was not retried: {words}"
    assert caught.value.retryable and caught.value.status_code == 503
    assert attempt.tried == [1]


def test_a_create_whose_check_fails_says_both():
    transport = make_transport()

    def find():
        raise ConnectorError("the lookup timed out")

    with pytest.raises(ConnectorError) as caught:
        transport.create(failing(status(500, "answered 500.")), key_field="Code", key_value="A1", find=find)

    assert caught.value.message == (
        "answered 500. Checking whether the record was created anyway failed too: the lookup timed out"
    )
    assert caught.value.retryable


# --- both connectors wait the same way ------------------------------------------------------------


@pytest.fixture
def nav():
    soap.clear_caches()
    with NavSoapServer(records=[{"No": str(10000 + n), "Name": f"Customer {n}"} for n in range(3)]) as server:
        yield server
    soap.clear_caches()


@pytest.fixture
def api():
    server = FakeRestApi().start()
    yield server
    server.stop()


def test_both_connectors_back_off_with_jitter_from_the_policys_random_source(nav, api):
    rest_config = ConnectionConfig(
        name="CRM", kind="rest", base_url=api.url, pagination="odata", records_path="value", backoff_seconds=0.5
    )
    soap_config = ConnectionConfig(
        name="NAV", kind="soap", wsdl_url=nav.wsdl_url, pagination="bookmark", page_size=10, backoff_seconds=0.5
    )
    waited = {}
    for name, connector, server, source in (
        ("rest", RestConnector(rest_config), api, "/Contacts"),
        ("soap", SoapConnector(soap_config), nav, "ReadMultiple"),
    ):
        sleeps = Sleeps()
        draw = random.Random(11).random
        connector.transport.retries = RetryPolicy.for_config(connector.config, sleep=sleeps, draw=draw)
        server.fail_next(2, 503)
        connector.read_page(ReadRequest(source_object=source))
        connector.close()
        waited[name] = sleeps

    draws = random.Random(11)
    expected = [0.5 * 2**n * (0.5 + draws.random() / 2) for n in range(2)]
    assert waited["rest"] == waited["soap"] == [pytest.approx(seconds) for seconds in expected]
    assert expected != [0.25, 0.5]


@pytest.mark.django_db
def test_the_longest_wait_set_on_a_connection_cuts_a_long_retry_after(api):
    connection = Connection.objects.create(
        name="CRM", kind="rest", base_url=api.url, pagination="odata", records_path="value", max_retry_after_seconds=7
    )
    connector = RestConnector(ConnectionConfig.from_model(connection))
    sleeps = Sleeps()
    connector.transport.retries = RetryPolicy.for_config(connector.config, sleep=sleeps)
    api.add_contacts(2)
    api.fail_next(1, 429, retry_after="3600")

    page = connector.read_page(ReadRequest(source_object="/Contacts"))
    connector.close()

    assert sleeps == [7]
    assert len(page.records) == 2  # asked again after the connection's longest wait, not after an hour
