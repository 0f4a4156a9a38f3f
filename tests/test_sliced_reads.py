"""A connection whose queries page no deeper than a result cap reads every record in slices (HubSpot's search).

The reads go to a local server that answers as HubSpot's ``POST /crm/v3/objects/{type}/search`` does,
refusing any ``after`` at or past its cap (10,000 in HubSpot, a few dozen here). Each slice starts from
the modified date of the last record read; the records of that exact date already delivered are left out.
"""

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from sync.choices import AuthKind, ConnectionKind, Pagination
from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.models import Connection
from tests.servers.batch_apis import FakeHubSpot

TOKEN = "pat-na1-sliced-reads"
MOMENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MODIFIED = "hs_lastmodifieddate"
SEARCH = {
    "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
    "properties": ["name"],
    "limit": "{page_size}",
    "after": "{page_token}",
}
SINCE = json.dumps(
    {"filterGroups": [{"filters": [{"propertyName": MODIFIED, "operator": "GTE", "value": "{cursor}"}]}]}
)


@pytest.fixture
def hubspot():
    with FakeHubSpot(token=TOKEN, search_cap=25) as server:
        yield server


def connector(server, **overrides):
    values = {
        "name": "HubSpot",
        "kind": "rest",
        "base_url": server.url,
        "auth_kind": AuthKind.BEARER,
        "token": TOKEN,
        "pagination": Pagination.CURSOR,
        "next_path": "paging.next.after",
        "page_size": 10,
        "result_cap": server.search_cap,
        "max_retries": 0,
        "backoff_seconds": 0,
    }
    return connector_for(ConnectionConfig(**{**values, **overrides}))


def request(cursor=None, **overrides):
    values = {
        "source_object": "POST /crm/v3/objects/companies/search",
        "cursor": cursor,
        "arguments": SEARCH,
        "incremental_filter": SINCE,
        "cursor_field": f"properties.{MODIFIED}",
        "record_key": "id",
        "records_path": "results",
    }
    return ReadRequest(**{**values, **overrides})


def read_all(source, read: ReadRequest) -> tuple[list[dict], list]:
    """Every page from the first, as the engine reads them; the records and each page's total."""
    records, totals, token = [], [], None
    while True:
        page = source.read_page(dataclasses.replace(read, page_token=token))
        records += page.records
        totals.append(page.total)
        token = page.next_token
        if token is None:
            return records, totals


def searches(server) -> list[tuple]:
    """Each search sent: the modified date it starts from (None: no filter), its after and its limit."""
    sent = []
    for call in server.received:
        if not call.path.endswith("/search"):
            continue
        body = json.loads(call.body)
        filters = [f for group in body.get("filterGroups", []) for f in group["filters"]]
        since = next((f["value"] for f in filters if f["propertyName"] == MODIFIED), None)
        sent.append((since, body.get("after"), body["limit"]))
    return sent


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def seed(server, count: int, shared: range) -> list[str]:
    """``count`` companies a second apart, except those at the positions in ``shared``, which share one date."""
    ids = []
    for number in range(count):
        second = shared.start if number in shared else number
        modified = MOMENT + timedelta(seconds=second)
        ids.append(server.seed_object("companies", {"name": f"Company {number:02d}"}, modified=modified))
    return ids


def at(second: int) -> str:
    return stamp(MOMENT + timedelta(seconds=second))


def test_a_first_read_gets_every_record_once_each_page_a_query_from_the_newest_date_read(hubspot):
    ids = seed(hubspot, 30, shared=range(8, 12))  # four companies share a date across the first page's end
    with connector(hubspot) as source:
        records, totals = read_all(source, request())

    assert [record["id"] for record in records] == ids  # each once, oldest change first
    assert [record["properties"]["name"] for record in records][6:13] == [f"Company {n:02d}" for n in range(6, 13)]
    assert searches(hubspot) == [
        (None, None, 10),  # no filter on a first read
        (at(8), None, 10),  # from the newest date read; its two companies already read are left out
        (at(17), None, 10),
        (at(26), None, 10),  # four left: the page says no other follows
    ]
    assert totals[0] == 30 and set(totals[1:]) == {None}  # the first query's total counts every record


def test_a_record_changed_during_the_read_never_hides_an_unread_one(hubspot):
    """Paged by offset, the change would move it to the end and shift an unread company before the offset."""
    ids = seed(hubspot, 25, shared=range(0, 0))
    with connector(hubspot) as source:
        first = source.read_page(request())
        hubspot.advance(3600)
        hubspot.edit_object("companies", ids[0], {"name": "Company 00 (renamed)"})
        rest, _totals = read_all(source, request(page_token=first.next_token))

    names = [record["properties"]["name"] for record in first.records + rest]
    assert sorted(set(ids)) == sorted({record["id"] for record in first.records + rest})  # none lost
    assert names[-1] == "Company 00 (renamed)"  # read again at its new date, for the next run to update


def test_more_records_at_one_date_than_a_page_are_paged_within_their_date(hubspot):
    ids = seed(hubspot, 30, shared=range(5, 18))  # thirteen companies share one date
    with connector(hubspot) as source:
        records, _totals = read_all(source, request())

    assert [record["id"] for record in records] == ids
    assert searches(hubspot) == [
        (None, None, 10),
        (at(5), None, 10),  # only companies of that date: the five read are left out…
        (at(5), "10", 10),  # …and the query pages on, under the cap
        (at(24), None, 10),
    ]


def test_a_read_since_a_cursor_slices_from_it(hubspot):
    ids = seed(hubspot, 40, shared=range(0, 0))
    since = stamp(MOMENT + timedelta(seconds=5))
    with connector(hubspot, page_size=25) as source:
        records, _totals = read_all(source, request(cursor=since))

    assert [record["id"] for record in records] == ids[5:]
    assert searches(hubspot) == [(since, None, 25), (stamp(MOMENT + timedelta(seconds=29)), None, 25)]


def test_more_records_at_one_date_than_the_cap_stop_the_read_in_words(hubspot):
    seed(hubspot, 8, shared=range(0, 8))
    with connector(hubspot, page_size=5, result_cap=5) as source:
        first = source.read_page(request())
        assert len(first.records) == 5
        with pytest.raises(ConnectorError) as raised:
            source.read_page(request(page_token=first.next_token))

    assert raised.value.message == (
        f"More than 5 records have properties.{MODIFIED} = {stamp(MOMENT)}: a query cannot page past them, "
        "so the read cannot advance. Narrow the read with a filter, or sort by a field that tells them apart."
    )
    assert len(searches(hubspot)) == 2  # it stops instead of asking again and again


def test_a_capped_read_without_an_incremental_filter_is_refused_before_any_call(hubspot):
    with connector(hubspot) as source, pytest.raises(ConnectorError) as raised:
        source.read_page(request(incremental_filter=""))

    assert "needs a cursor field, a record key and an incremental filter with {cursor}" in raised.value.message
    assert searches(hubspot) == []


@pytest.mark.django_db
def test_a_result_cap_is_refused_on_a_connection_that_does_not_page():
    connection = Connection(name="HubSpot", kind=ConnectionKind.REST, base_url="https://api.hubapi.com")
    connection.result_cap = 10_000
    with pytest.raises(ValidationError) as raised:
        connection.clean()

    assert raised.value.message_dict["result_cap"] == [
        "A deepest result applies to a read that pages: choose a pagination."
    ]
    connection.pagination = Pagination.CURSOR
    connection.clean()
