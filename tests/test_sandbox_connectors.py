"""The portal's own connectors against the demo systems: what the demo integration relies on."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from demo import seed
from demo.choices import CreditStatus, SandboxSystem
from demo.models import CrmContact, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs
from sync.connectors import soap
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from sync.connectors.rest import RestConnector
from sync.connectors.soap import SoapConnector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def knobs():
    seed.populate(seed.SeedSizes(), timezone.now())
    knobs = seed.ensure_knobs()
    knobs[SandboxSystem.ERP].order_step_seconds = 0
    knobs[SandboxSystem.ERP].save()
    return knobs


@pytest.fixture
def erp_connector(live_server, knobs):
    soap.clear_caches()
    credentials = knobs[SandboxSystem.ERP]
    config = ConnectionConfig(
        name="Demo ERP",
        kind="soap",
        wsdl_url=f"{live_server.url}/sandbox/erp/soap?wsdl",
        auth_kind="basic",
        username=credentials.username,
        password=credentials.password,
        pagination="page",
        page_size=15,
        records_path="records",
        timeout_seconds=10,
        max_retries=0,
    )
    with SoapConnector(config) as connector:
        yield connector
    # The connector keeps its zeep client (and its keep-alive HTTP session) per process:
    # close it, or a live-server thread outlives the test holding the test database.
    for entry in list(soap._clients.values()):
        entry.transport.session.close()
    soap.clear_caches()


@pytest.fixture
def crm_connector(live_server, knobs):
    config = ConnectionConfig(
        name="Demo CRM",
        kind="rest",
        base_url=f"{live_server.url}/sandbox/crm",
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=knobs[SandboxSystem.CRM].api_key,
        pagination="odata",
        page_size=10,
        records_path="value",
        timeout_seconds=10,
        max_retries=0,
    )
    with RestConnector(config) as connector:
        yield connector


def read_all(connector, request: ReadRequest) -> list[dict]:
    records, token = [], None
    while True:
        page = connector.read_page(
            ReadRequest(
                source_object=request.source_object,
                cursor=request.cursor,
                page_token=token,
                incremental_filter=request.incremental_filter,
                arguments=request.arguments,
            )
        )
        records += page.records
        token = page.next_token
        if token is None:
            return records


def test_soap_connector_reads_every_customer_page_by_page(erp_connector):
    arguments = {"page": "{page_token}", "page_size": "{page_size}"}
    records = read_all(erp_connector, ReadRequest(source_object="ListCustomers", arguments=arguments))
    assert [r["code"] for r in records] == list(ErpCustomer.objects.order_by("pk").values_list("code", flat=True))
    assert records[0]["cnpj"].count(".") == 2


def test_a_blank_records_path_names_the_list_instead_of_reading_the_answer_as_one_record(erp_connector):
    arguments = {"page": "{page_token}", "page_size": "{page_size}"}
    blank = SoapConnector(dataclasses.replace(erp_connector.config, records_path=""))
    with pytest.raises(ConnectorError) as wrong:
        blank.read_page(ReadRequest(source_object="ListCustomers", arguments=arguments))
    assert "holds a list of records at records: set the connection's records path to it" in wrong.value.message


def test_a_tables_records_path_is_read_instead_of_the_connections(erp_connector):
    arguments = {"page": "{page_token}", "page_size": "{page_size}"}
    wrong = SoapConnector(dataclasses.replace(erp_connector.config, records_path="nowhere"))
    page = wrong.read_page(ReadRequest(source_object="ListCustomers", arguments=arguments, records_path="records"))
    assert [r["code"] for r in page.records] == list(
        ErpCustomer.objects.order_by("pk").values_list("code", flat=True)[: len(page.records)]
    )
    assert page.records


def test_soap_connector_reads_changes_since_the_cursor(erp_connector):
    cutoff = datetime(2030, 1, 1, tzinfo=UTC)
    ErpProduct.objects.filter(pk__in=ErpProduct.objects.order_by("pk").values("pk")[:2]).update(
        updated_at=cutoff + timedelta(hours=1)
    )
    request = ReadRequest(
        source_object="ListProducts",
        cursor=cutoff.isoformat(),
        incremental_filter='{"updated_since": "{cursor}"}',
        arguments={"page": "{page_token}", "page_size": "{page_size}"},
    )
    assert len(read_all(erp_connector, request)) == 2


def test_soap_connector_creates_an_order_and_reports_faults_in_words(erp_connector):
    customer = ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.APPROVED).first()
    product = ErpProduct.objects.filter(active=True).first()
    values = {
        "customer_code": customer.code,
        "external_id": "1001",
        "lines": [{"product_code": product.code, "quantity": "2"}],
    }
    answer = erp_connector.create("CreateOrder", values, key_field="external_id")
    assert ErpOrder.objects.get(number=int(answer["order_number"])).external_id == "1001"

    blocked = ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.BLOCKED).first()
    with pytest.raises(ConnectorError) as exc_info:
        erp_connector.create("CreateOrder", {**values, "customer_code": blocked.code, "external_id": "1002"})
    assert "CreditBlocked" in str(exc_info.value)
    assert f"Customer {blocked.code} has its credit blocked" in str(exc_info.value)
    assert exc_info.value.record_level and not exc_info.value.retryable  # the review queue, not a failed run
    assert not ErpOrder.objects.filter(external_id="1002").exists()


def test_rest_connector_reads_finds_and_writes_contacts(crm_connector):
    records = read_all(crm_connector, ReadRequest(source_object="/Contacts"))
    assert len(records) == CrmContact.objects.count()

    company = CrmContact.objects.exclude(cnpj="").first()
    assert crm_connector.find("/Contacts", "CNPJ", company.cnpj)["Id"] == company.pk

    created = crm_connector.create("/Contacts", {"Name": "Padaria Pão Dourado", "TypeId": 1}, key_field="Name")
    updated = crm_connector.update("/Contacts({id})", str(created["Id"]), {"City": "Recife"})
    assert updated["City"] == "Recife"
    crm_connector.delete("/Contacts({id})", str(created["Id"]))
    assert not CrmContact.objects.filter(pk=created["Id"]).exists()


def test_rest_connector_reads_changes_since_the_cursor(crm_connector):
    cutoff = datetime(2030, 1, 1, tzinfo=UTC)
    CrmContact.objects.filter(pk=CrmContact.objects.first().pk).update(updated_at=cutoff + timedelta(seconds=1))
    request = ReadRequest(
        source_object="/Contacts",
        cursor="2030-01-01T00:00:00Z",
        incremental_filter="$filter=LastUpdateDate gt {cursor}",
    )
    assert len(read_all(crm_connector, request)) == 1


@pytest.mark.parametrize("knob", [{"down": True}, {"error_rate": 1.0}, {"throttle_rate": 1.0}])
def test_knobs_reach_both_connectors_as_retryable_failures(erp_connector, crm_connector, knob):
    SandboxKnobs.objects.update(**knob)
    with pytest.raises(ConnectorError) as crm_error:
        crm_connector.read_page(ReadRequest(source_object="/Contacts"))
    assert crm_error.value.retryable is True
    with pytest.raises(ConnectorError) as erp_error:
        erp_connector.read_page(ReadRequest(source_object="ListCustomers", arguments={"page": "{page_token}"}))
    assert erp_error.value.retryable is True
