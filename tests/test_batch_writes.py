"""Batch writes of the REST connector against real local servers that answer as HubSpot and Business Central do."""

import dataclasses
import json
import uuid

import pytest
import requests

from core.redaction import MASK
from sync.choices import BatchKind
from sync.connectors.base import BatchWrite, ConnectionConfig, ConnectorError
from sync.connectors.rest import RestConnector
from tests.servers.batch_apis import FakeArrayApi, FakeBusinessCentral, FakeHubSpot

TOKEN = "pat-na1-7c41e2d9-batch"
HUBSPOT_PATH = "/crm/v3/objects/contacts/batch/upsert"
COMPANY = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"
CUSTOMERS = f"companies({COMPANY})/customers"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def serve():
    """Start fake APIs; every one is stopped on teardown, also when the test fails."""
    servers = []

    def start(kind, **options):
        server = kind(token=TOKEN, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def calls():
    return []


@pytest.fixture
def connect(calls):
    made = []

    def build(base_url, **overrides):
        values = {
            "name": "CRM",
            "kind": "rest",
            "base_url": base_url,
            "auth_kind": "bearer",
            "token": TOKEN,
            "timeout_seconds": 2,
            "max_retries": 2,
            "backoff_seconds": 0.01,
            "max_retry_after_seconds": 5,
        }
        connector = RestConnector(ConnectionConfig(**{**values, **overrides}), calls.append)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def upsert(email, **properties):
    return BatchWrite("upsert", {"email": email, **properties}, key_field="email", key_value=email)


def customer(number, **fields):
    return BatchWrite("create", {"number": number, **fields}, key_field="number", key_value=number)


def everything_logged(calls) -> str:
    return "\n".join(repr(dataclasses.asdict(call)) for call in calls)


# --- HubSpot batch/upsert -------------------------------------------------------------------------------


def test_hubspot_upsert_creates_and_updates_and_answers_in_input_order(serve, connect, calls):
    api = serve(FakeHubSpot)
    connector = connect(api.url)
    connector.write_batch(
        BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", [upsert("ana@acme.example", firstname="Ana")]
    )
    existing = api.contact("email", "ana@acme.example")

    writes = [
        upsert("bea@acme.example", firstname="Bea", annualrevenue=1500.5, numemployees=12),
        upsert("ana@acme.example", lastname="Silva"),
        upsert("caio@acme.example", firstname="Caio", company="Acme"),
    ]
    outcomes = connector.write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", writes)

    assert [outcome.error for outcome in outcomes] == [None, None, None]
    assert [outcome.record["properties"]["email"] for outcome in outcomes] == [w.key_value for w in writes]
    assert [outcome.record["new"] for outcome in outcomes] == [True, False, True]
    assert outcomes[1].record["id"] == existing["id"]
    bea = api.contact("email", "bea@acme.example")
    assert outcomes[0].record["id"] == bea["id"]
    # HubSpot keeps every property as text, numbers as they were sent.
    assert (bea["firstname"], bea["annualrevenue"], bea["numemployees"]) == ("Bea", "1500.5", "12")
    ana = api.contact("email", "ana@acme.example")
    assert (ana["firstname"], ana["lastname"]) == ("Ana", "Silva")
    assert len(api.contacts()) == 3
    sent = json.loads(api.batch_calls()[-1].body)["inputs"]
    assert sent[0] == {
        "properties": {"email": "bea@acme.example", "firstname": "Bea", "annualrevenue": 1500.5, "numemployees": 12},
        "objectWriteTraceId": "0",
        "idProperty": "email",
        "id": "bea@acme.example",
    }
    assert [call.operation for call in calls] == ["batch", "batch"]


def test_hubspot_results_are_matched_by_trace_id_when_echoed(serve, connect):
    api = serve(FakeHubSpot, echo_trace_ids=True)
    writes = [upsert(f"p{n}@acme.example", firstname=f"P{n}") for n in range(6)]

    # A blank path: HubSpot's batch/upsert under the target object.
    outcomes = connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, "", "/crm/v3/objects/contacts", writes)

    assert [o.record["properties"]["firstname"] for o in outcomes] == [f"P{n}" for n in range(6)]
    assert [call.path for call in api.batch_calls()] == [HUBSPOT_PATH]


def test_hubspot_207_fails_only_the_refused_inputs_with_hubspots_words(serve, connect):
    api = serve(FakeHubSpot)
    writes = [
        upsert("ok1@acme.example", firstname="Ok"),
        upsert("bad@acme.example", annualrevenue="lots"),
        upsert("fax@acme.example", fax="555-0101"),
        upsert("ok2@acme.example", numemployees=3),
    ]

    outcomes = connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", writes)

    assert outcomes[0].error is None and outcomes[3].error is None
    assert outcomes[1].record is None and outcomes[2].record is None
    assert "annualrevenue: lots was not a valid number." in outcomes[1].error.message
    assert 'fax: Property "fax" does not exist' in outcomes[2].error.message
    assert outcomes[1].error.message.startswith("CRM refused the record")
    assert outcomes[1].error.record_level and not outcomes[1].error.retryable
    assert sorted(c["email"] for c in api.contacts()) == ["ok1@acme.example", "ok2@acme.example"]
    assert api.contact("email", "ok2@acme.example")["numemployees"] == "3"


def test_hubspot_duplicate_ids_refuse_the_whole_batch(serve, connect):
    api = serve(FakeHubSpot)
    writes = [upsert("dup@acme.example", firstname="One"), upsert("dup@acme.example", firstname="Two")]

    with pytest.raises(ConnectorError) as caught:
        connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", writes)

    assert "Duplicate IDs found in batch input: [dup@acme.example]. IDs must be unique" in caught.value.message
    assert caught.value.status_code == 400 and not caught.value.retryable
    assert api.contacts() == []
    assert len(api.batch_calls()) == 1


def test_hubspot_calls_hold_at_most_100_inputs(serve, connect):
    api = serve(FakeHubSpot)
    writes = [upsert(f"c{n}@acme.example", numemployees=n) for n in range(150)]

    outcomes = connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", writes)

    assert [len(json.loads(call.body)["inputs"]) for call in api.batch_calls()] == [100, 50]
    assert [o.record["properties"]["numemployees"] for o in outcomes] == [str(n) for n in range(150)]
    assert len(api.contacts()) == 150


def test_the_fake_hubspot_refuses_more_than_100_inputs(serve):
    api = serve(FakeHubSpot)
    inputs = [{"idProperty": "email", "id": f"x{n}@a.example", "properties": {}} for n in range(101)]

    answer = requests.post(api.url + HUBSPOT_PATH, json={"inputs": inputs}, headers=AUTHORIZED, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["message"].startswith("The maximum number of inputs supported in a batch request is 100.")
    assert answer.json()["category"] == "VALIDATION_ERROR"


def test_hubspot_batch_failing_after_processing_is_resent_and_writes_each_record_once(serve, connect, calls):
    api = serve(FakeHubSpot)
    api.fail_after_next(500)
    writes = [upsert(f"r{n}@acme.example", firstname=f"R{n}") for n in range(3)]

    outcomes = connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", writes)

    assert [o.record["properties"]["firstname"] for o in outcomes] == ["R0", "R1", "R2"]
    assert [o.record["new"] for o in outcomes] == [False, False, False]  # the first call had created them
    assert sorted(c["firstname"] for c in api.contacts()) == ["R0", "R1", "R2"]
    assert len(api.batch_calls()) == 2
    assert [(c.attempt, c.status_code) for c in calls] == [(1, 500), (2, 200)]


def test_hubspot_429_is_retried_after_retry_after(serve, connect, calls):
    api = serve(FakeHubSpot)
    api.fail_next(429, retry_after="1")

    outcomes = connect(api.url).write_batch(BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", [upsert("w@a.example")])

    first, second = api.batch_calls()
    assert second.at - first.at >= 0.9
    assert outcomes[0].record["properties"]["email"] == "w@a.example"
    assert [c.status_code for c in calls] == [429, 200]
    assert "secondly limit" in calls[0].response_body


def test_hubspot_refused_credentials_stop_the_batch(serve, connect):
    api = serve(FakeHubSpot)

    with pytest.raises(ConnectorError) as caught:
        connect(api.url, token="wrong-token").write_batch(
            BatchKind.HUBSPOT_UPSERT, HUBSPOT_PATH, "contacts", [upsert("x@a.example")]
        )

    assert caught.value.status_code == 401 and not caught.value.record_level
    assert api.contacts() == []


# --- Business Central $batch ----------------------------------------------------------------------------


def bc(serve, connect, **overrides):
    api = serve(FakeBusinessCentral)
    options = {"pagination": "odata", "records_path": "value", **overrides}
    return api, connect(api.url + "/api/v2.0", **options)


def test_odata_batch_creates_and_updates_with_the_fields_typed(serve, connect, calls):
    api, connector = bc(serve, connect)
    [first] = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, [customer("C-1", displayName="Old")])
    writes = [
        customer("C-2", displayName="Bolt Ltda", creditLimit=2500.5, taxLiable=True),
        BatchWrite("update", {"displayName": "Acme SA", "creditLimit": 10}, target_key=first.record["id"]),
        customer("C-3", displayName="Coral", email="coral@c.example"),
    ]

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, writes)

    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.record["number"] for o in outcomes] == ["C-2", "C-1", "C-3"]
    bolt = api.customer("C-2")
    assert outcomes[0].record["id"] == bolt["id"]
    assert (bolt["displayName"], bolt["creditLimit"], bolt["taxLiable"]) == ("Bolt Ltda", 2500.5, True)
    acme = api.customer("C-1")
    assert (acme["id"], acme["displayName"], acme["creditLimit"]) == (first.record["id"], "Acme SA", 10)
    assert len(api.customers()) == 3
    call = api.batch_calls()[-1]
    assert call.path == "/api/v2.0/$batch"
    requests_sent = json.loads(call.body)["requests"]
    assert requests_sent[1] == {
        "id": "2",
        "method": "PATCH",
        "url": f"{CUSTOMERS}({first.record['id']})",
        "headers": {"Content-Type": "application/json", "If-Match": "*"},
        "body": {"displayName": "Acme SA", "creditLimit": 10},
    }
    assert requests_sent[0]["method"] == "POST" and requests_sent[0]["url"] == CUSTOMERS
    assert len(calls) == 2


def test_odata_batch_refusals_carry_business_centrals_message(serve, connect):
    api, connector = bc(serve, connect)
    unknown = str(uuid.uuid4())
    writes = [
        customer("C-1", displayName="Fine"),
        customer("C-2", creditLimit="lots"),
        BatchWrite("update", {"displayName": "Ghost"}, target_key=unknown),
        customer("C-3", phone="555"),
    ]

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, writes)

    assert outcomes[0].record["number"] == "C-1"
    assert "(400): Cannot convert a primitive value to the expected type 'Edm.Decimal'" in outcomes[1].error.message
    assert "(404): The Customer does not exist" in outcomes[2].error.message
    assert unknown.upper() in outcomes[2].error.message
    assert "The property 'phone' does not exist on type 'Microsoft.NAV.customer'" in outcomes[3].error.message
    assert all(o.error.record_level for o in outcomes[1:])
    assert [c["number"] for c in api.customers()] == ["C-1"]


def test_odata_batch_failing_after_processing_looks_creates_up_and_never_creates_twice(serve, connect, calls):
    api, connector = bc(serve, connect)
    [first] = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, [customer("C-1", displayName="Old")])
    api.fail_after_next(500)
    writes = [
        customer("C-2", displayName="Bolt"),
        BatchWrite("update", {"displayName": "New"}, target_key=first.record["id"]),
        customer("C-3", displayName="Coral"),
        BatchWrite("create", {"displayName": "No key"}),
    ]

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, writes)

    assert sorted(c["number"] for c in api.customers()) == ["", "C-1", "C-2", "C-3"]  # each once
    assert outcomes[0].record["id"] == api.customer("C-2")["id"]
    assert outcomes[2].record["id"] == api.customer("C-3")["id"]
    assert outcomes[1].record["displayName"] == "New"
    assert outcomes[3].record is None
    assert "The create was not retried: without a record key" in outcomes[3].error.message
    resent = json.loads(api.batch_calls()[-1].body)["requests"]
    assert [(r["id"], r["method"]) for r in resent] == [("2", "PATCH")]  # only the update went again
    assert [c.operation for c in calls[1:]] == ["batch", "find", "find", "batch"]
    assert [r.query["$filter"] for r in api.received if r.method == "GET"] == ["number eq 'C-2'", "number eq 'C-3'"]


def test_odata_batch_dropped_connection_resends_only_creates_not_made(serve, connect):
    api, connector = bc(serve, connect)
    api.fail_after_next(0)  # processed, then the connection drops: no answer at all

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, [customer("C-7", displayName="Seven")])

    assert outcomes[0].record["number"] == "C-7"
    assert [c["number"] for c in api.customers()] == ["C-7"]
    assert len(api.batch_calls()) == 1  # found by the lookup: nothing left to send


def test_odata_batch_429_resends_everything_after_retry_after_without_lookups(serve, connect, calls):
    api, connector = bc(serve, connect)
    api.fail_next(429, retry_after="1")

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, [customer("C-1"), customer("C-2")])

    first, second = api.batch_calls()
    assert second.at - first.at >= 0.9
    assert [o.record["number"] for o in outcomes] == ["C-1", "C-2"]
    assert [c.operation for c in calls] == ["batch", "batch"]
    assert not [r for r in api.received if r.method == "GET"]


def test_odata_batch_calls_hold_at_most_100_requests(serve, connect):
    api, connector = bc(serve, connect)
    writes = [customer(f"C-{n:03d}") for n in range(120)]

    outcomes = connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, writes)

    assert [len(json.loads(c.body)["requests"]) for c in api.batch_calls()] == [100, 20]
    assert [o.record["number"] for o in outcomes] == [f"C-{n:03d}" for n in range(120)]


def test_the_fake_business_central_refuses_more_than_100_requests(serve):
    api = serve(FakeBusinessCentral)
    body = {"requests": [{"id": str(n), "method": "POST", "url": CUSTOMERS, "body": {}} for n in range(101)]}

    answer = requests.post(f"{api.url}/api/v2.0/$batch", json=body, headers=AUTHORIZED, timeout=5)

    assert answer.status_code == 400
    assert "contains too many parts" in answer.json()["error"]["message"]
    assert api.customers() == []


# --- JSON array -------------------------------------------------------------------------------------------


def test_json_array_answers_in_order_and_refusals_keep_the_apis_words(serve, connect):
    api = serve(FakeArrayApi)
    writes = [
        BatchWrite("create", {"Code": "A", "Name": "Alpha", "Score": 1.5}, key_field="Code", key_value="A"),
        BatchWrite("create", {"Code": "B"}, key_field="Code", key_value="B"),
        BatchWrite("create", {"Code": "C", "Name": "Gamma", "Active": False}, key_field="Code", key_value="C"),
    ]

    outcomes = connect(api.url).write_batch(BatchKind.JSON_ARRAY, "/bulk/contacts", "/bulk/contacts", writes)

    assert outcomes[0].record == {"id": 1, "Code": "A", "Name": "Alpha", "Score": 1.5}
    assert outcomes[1].error.message == "CRM refused the record: Name is required"
    assert outcomes[1].error.record_level
    assert outcomes[2].record["id"] == 2
    assert api.contacts() == [
        {"id": 1, "Code": "A", "Name": "Alpha", "Score": 1.5},
        {"id": 2, "Code": "C", "Name": "Gamma", "Active": False},
    ]


def test_json_array_failing_after_processing_never_creates_twice(serve, connect):
    api = serve(FakeArrayApi)
    api.fail_after_next(502)
    writes = [BatchWrite("create", {"Code": c, "Name": c * 2}, key_field="Code", key_value=c) for c in "XY"]

    outcomes = connect(api.url).write_batch(BatchKind.JSON_ARRAY, "/bulk/contacts", "/bulk/contacts", writes)

    assert [o.record["Name"] for o in outcomes] == ["XX", "YY"]
    assert [c["Code"] for c in api.contacts()] == ["X", "Y"]
    assert len(api.batch_calls()) == 1


# --- records of the calls -----------------------------------------------------------------------------------


def test_each_attempt_is_one_request_log_without_secrets(serve, connect, calls):
    api, connector = bc(serve, connect)
    api.fail_next(503)
    api.fail_after_next(500)

    connector.write_batch(BatchKind.ODATA_BATCH, "", CUSTOMERS, [customer("C-1", displayName="One")])

    assert [(c.method, c.operation, c.attempt, c.status_code) for c in calls] == [
        ("POST", "batch", 1, 503),
        ("GET", "find", 1, 200),  # refused before processing? a 503 does not say: looked up
        ("POST", "batch", 2, 500),
        ("GET", "find", 1, 200),  # found: not sent a third time
    ]
    assert len(api.received) == 4
    assert calls[0].request_headers["Authorization"] == MASK
    assert TOKEN not in everything_logged(calls)
    assert '"number": "C-1"' in calls[0].request_body
    assert [c["number"] for c in api.customers()] == ["C-1"]
