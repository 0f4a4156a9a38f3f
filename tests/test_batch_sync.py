"""Tables that write through the target's batch operation, end to end: the engine against real local servers.

The source is a ``FakeRestApi``; the targets answer as HubSpot's ``batch/upsert`` and Business Central's
``$batch`` do (``tests/servers/batch_apis.py``), refusals included. What a user notices is asserted: the
records the target holds, field by field with their types, the links, the outcomes, the review queue
with the target's own words, and how many calls it took.
"""

import json

import pytest

from monitoring.choices import ErrorStatus, RecordAction, RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, TableRun
from sync.choices import BatchKind, IntegrationType
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration, RecordLink, SyncTable
from tests.servers.batch_apis import FakeBusinessCentral, FakeHubSpot
from tests.servers.rest_api import FakeRestApi

KEY = "batch-source-key-77a1"
TOKEN = "pat-na1-batch-sync-4f0e"
COMPANY = "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"
CUSTOMERS = f"companies({COMPANY})/customers"

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    with FakeRestApi(auth="api_key", api_key=KEY) as api:
        yield api


@pytest.fixture
def hubspot():
    server = FakeHubSpot(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def central():
    server = FakeBusinessCentral(token=TOKEN).start()
    yield server
    server.stop()


def integration_to(source, target_url: str, *, in_flight=1, base_path="", records_path="") -> Integration:
    erp = Connection.objects.create(
        name="ERP",
        kind="rest",
        base_url=source.url,
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=KEY,
        pagination="odata",
        records_path="value",
        page_size=500,
        timeout_seconds=5,
    )
    crm = Connection.objects.create(
        name="CRM",
        kind="rest",
        base_url=target_url + base_path,
        auth_kind="bearer",
        token=TOKEN,
        timeout_seconds=5,
        max_retries=2,
        max_in_flight=in_flight,
        records_path=records_path,
    )
    return Integration.objects.create(
        name="ERP ↔ CRM",
        integration_type=IntegrationType.REST,
        erp_name="ERP",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=crm,
    )


def hubspot_table(integration) -> SyncTable:
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        source_object="/Contacts",
        target_object="/crm/v3/objects/contacts",
        record_key="Email",
        target_key="id",
        match_field="email",
        batch_kind=BatchKind.HUBSPOT_UPSERT,
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Email", target_field="email")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="firstname")
    FieldMapping.objects.create(table=table, position=3, source_path="Revenue", target_field="annualrevenue")
    return table


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def batch_calls(integration, sync_run):
    return RequestLog.objects.filter(run=sync_run, connection_id=integration.crm_connection_id, operation="batch")


@pytest.mark.parametrize("in_flight", [1, 4])
def test_hubspot_upserts_in_batches_of_100_and_a_refused_input_goes_to_the_queue_with_hubspots_words(
    source, hubspot, in_flight
):
    people = [
        source.add_contact(Email=f"pessoa{number:03d}@example.com", Name=f"Pessoa {number}", Revenue=1000.5 + number)
        for number in range(250)
    ]
    source.add_contact(Email="bad@example.com", Name="Receita ruim", Revenue="muito")
    integration = integration_to(source, hubspot.url, in_flight=in_flight)
    hubspot_table(integration)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.PARTIAL, sync_run.error
    assert batch_calls(integration, sync_run).count() == 3  # 251 records: 100 + 100 + 51
    assert len(hubspot.batch_calls()) == 3
    held = {contact["email"]: contact for contact in hubspot.contacts()}
    assert sorted(held) == sorted(person["Email"] for person in people)  # each once; the bad one not at all
    for person in people:
        contact = held[person["Email"]]
        assert contact["firstname"] == person["Name"]
        assert contact["annualrevenue"] == str(person["Revenue"])  # HubSpot keeps its values as text
    links = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert links == {email: contact["id"] for email, contact in held.items()}
    table_run = TableRun.objects.get(run=sync_run)
    assert (table_run.read, table_run.created, table_run.failed) == (251, 250, 1)
    [error] = RecordError.objects.all()
    assert error.record_key == "bad@example.com" and error.status == ErrorStatus.OPEN
    assert "muito was not a valid number" in str(error.reason)
    assert error.payload["Revenue"] == "muito"

    source.change(1, {"Name": "Pessoa Renomeada"}, replace=False)
    again = run(integration)

    assert batch_calls(integration, again).count() == 1
    [call] = hubspot.batch_calls()[3:]
    sent = sorted(item["id"] for item in json.loads(call.body)["inputs"])
    assert sent == ["bad@example.com", "pessoa000@example.com"]  # the changed one, and the refused one again
    assert held["pessoa000@example.com"]["id"] == hubspot.contact("email", "pessoa000@example.com")["id"]
    assert hubspot.contact("email", "pessoa000@example.com")["firstname"] == "Pessoa Renomeada"
    updated = RecordEvent.objects.get(run=again, action=RecordAction.UPDATED)
    assert updated.record_key == "pessoa000@example.com"
    assert TableRun.objects.get(run=again).unchanged == 249
    assert RecordError.objects.get().attempts == 2


def test_a_record_hubspot_already_holds_is_matched_not_created_twice(source, hubspot):
    integration = integration_to(source, hubspot.url)
    hubspot_table(integration)
    source.add_contact(Email="ja.existe@example.com", Name="Já existe", Revenue=10)
    # Someone created the contact in HubSpot before the portal ran.
    hubspot.upsert({"inputs": [{"idProperty": "email", "id": "ja.existe@example.com", "properties": {}}]})

    sync_run = run(integration)

    [contact] = hubspot.contacts()
    assert (contact["email"], contact["firstname"], contact["annualrevenue"]) == (
        "ja.existe@example.com",
        "Já existe",
        "10",
    )
    event = RecordEvent.objects.get(run=sync_run)
    assert event.action == RecordAction.UPDATED and "Matched an existing record" in str(event.message)
    assert RecordLink.objects.get().target_key == contact["id"]


def test_a_batch_refused_as_a_whole_is_split_until_each_record_goes_on_its_own(source, hubspot):
    integration = integration_to(source, hubspot.url)
    table = hubspot_table(integration)
    table.record_key = "Code"
    table.save()
    FieldMapping.objects.create(table=table, position=4, source_path="Code", target_field="erp_code")
    for number in range(6):
        source.add_contact(Code=f"C{number}", Email=f"c{number}@example.com", Name=f"Cliente {number}", Revenue=1)
    source.add_contact(Code="C6", Email="c2@example.com", Name="Outro cadastro do mesmo e-mail", Revenue=2)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    first = batch_calls(integration, sync_run).order_by("pk").first()
    assert first.status_code == 400 and "Duplicate IDs found in batch input" in first.response_body
    assert len(hubspot.batch_calls()) > 2  # split in halves until the two records of one e-mail go apart
    held = {contact["email"]: contact for contact in hubspot.contacts()}
    assert sorted(held) == [f"c{number}@example.com" for number in range(6)]
    links = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert links["C6"] == links["C2"] == held["c2@example.com"]["id"]  # one HubSpot contact, matched by e-mail
    assert TableRun.objects.get(run=sync_run).failed == 0


def bc_table(integration) -> SyncTable:
    table = SyncTable.objects.create(
        integration=integration,
        name="Customer",
        source_object="/Contacts",
        target_object=CUSTOMERS,
        update_object=CUSTOMERS + "({id})",
        record_key="Code",
        target_key="id",
        match_field="number",
        batch_kind=BatchKind.ODATA_BATCH,
        batch_size=20,
    )
    FieldMapping.objects.create(table=table, position=1, source_path="Code", target_field="number")
    FieldMapping.objects.create(table=table, position=2, source_path="Name", target_field="displayName")
    FieldMapping.objects.create(
        table=table, position=3, source_path="Limit", target_field="creditLimit", value_type="decimal"
    )
    return table


def test_business_central_creates_and_updates_in_batches_and_a_500_after_the_work_writes_nothing_twice(source, central):
    for number in range(45):
        source.add_contact(Code=f"K{number:02d}", Name=f"Cliente {number}", Limit=f"{number * 100}.5")
    integration = integration_to(source, central.url, base_path=central.root, records_path="value")
    bc_table(integration)
    central.fail_after_next(500)  # the first batch is written, then its answer is lost

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    held = {customer["number"]: customer for customer in central.customers()}
    assert sorted(held) == [f"K{number:02d}" for number in range(45)]  # each once, the lost answer included
    assert held["K07"]["displayName"] == "Cliente 7"
    assert held["K07"]["creditLimit"] == 700.5 and isinstance(held["K07"]["creditLimit"], float)
    assert TableRun.objects.get(run=sync_run).created == 45
    links = dict(RecordLink.objects.values_list("source_key", "target_key"))
    assert links == {number: customer["id"] for number, customer in held.items()}

    source.change(8, {"Name": "Cliente Sete"}, replace=False)
    again = run(integration)

    assert held["K07"]["id"] == central.customer("K07")["id"]
    assert central.customer("K07")["displayName"] == "Cliente Sete"
    [call] = central.batch_calls()[-1:]
    assert [request["method"] for request in json.loads(call.body)["requests"]] == ["PATCH"]
    assert RecordEvent.objects.get(run=again, action=RecordAction.UPDATED).record_key == "K07"
