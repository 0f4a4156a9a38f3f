"""The engine reading a real Dynamics NAV 2016 page web service (SOAP, bookmark paging) into a REST CRM."""

from datetime import date

import pytest

from monitoring.choices import RunStatus, Trigger
from monitoring.models import RequestLog, TableRun
from sync.connectors import soap
from sync.engine import execute_run, queue_run
from sync.models import Connection, FieldMapping, Integration, SyncTable

from .servers.nav_soap import NavSoapServer
from .servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db

CUSTOMERS = [
    {
        "No": str(10000 + 10 * i),
        "Name": f"Cliente {i:02d} Ltda",
        "City": "Recife" if i % 2 else "Curitiba",
        "Last_Date_Modified": f"2024-02-{i + 1:02d}",
    }
    for i in range(25)
]
NAV_PASSWORD = "nav-secret-5d1f"
CRM_KEY = "crm-key-77a0c3"


@pytest.fixture
def servers():
    soap.clear_caches()
    crm = FakeRestApi(auth="api_key", api_key=CRM_KEY).start()
    with NavSoapServer(records=CUSTOMERS, today=date(2024, 3, 1), basic_auth=("portal", NAV_PASSWORD)) as nav:
        yield nav, crm
    crm.stop()
    soap.clear_caches()


@pytest.fixture
def integration(servers):
    nav, crm = servers
    erp = Connection.objects.create(
        name="Dynamics NAV",
        kind="soap",
        wsdl_url=nav.wsdl_url,
        auth_kind="basic",
        username="portal",
        password=NAV_PASSWORD,
        pagination="bookmark",
        page_size=10,
        records_path="ReadMultiple_Result.Customer",
        timeout_seconds=5,
    )
    crm_connection = Connection.objects.create(
        name="CRM",
        kind="rest",
        base_url=crm.url,
        auth_kind="api_key",
        api_key_header="User-Key",
        api_key=CRM_KEY,
        pagination="odata",
        page_size=50,
        records_path="value",
        timeout_seconds=5,
    )
    integration = Integration.objects.create(
        name="NAV ↔ CRM",
        integration_type="soap",
        erp_name="Dynamics NAV",
        erp_version="2016",
        crm_name="CRM",
        erp_connection=erp,
        crm_connection=crm_connection,
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Customer",
        source_object="ReadMultiple",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="No",
        cursor_field="Last_Date_Modified",
        incremental_filter="Last_Date_Modified: >={cursor}",
    )
    for position, (source, target, transform) in enumerate(
        [("No", "ErpNo", ""), ("Name", "Name", "trim"), ("City", "City", "upper")], start=1
    ):
        FieldMapping.objects.create(
            table=table, position=position, source_path=source, target_field=target, transform=transform
        )
    return integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def counts(sync_run):
    table_run = TableRun.objects.get(run=sync_run)
    return {name: getattr(table_run, name) for name in ("read", "created", "updated", "unchanged", "failed")}


def test_nav_customers_reach_the_crm_once(integration, servers):
    nav, crm = servers
    first = run(integration)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert counts(first) == {"read": 25, "created": 25, "updated": 0, "unchanged": 0, "failed": 0}
    assert sorted(r["ErpNo"] for r in crm.records.values()) == sorted(c["No"] for c in CUSTOMERS)
    assert {r["City"] for r in crm.records.values()} == {"RECIFE", "CURITIBA"}
    reads = RequestLog.objects.filter(run=first, operation="ReadMultiple")
    assert reads.count() == 4  # 10 + 10 + 5 and an empty page, paged by bookmark
    assert not any(NAV_PASSWORD in (log.request_body + str(log.request_headers)) for log in RequestLog.objects.all())

    second = run(integration)
    assert counts(second)["created"] == 0 and counts(second)["updated"] == 0
    assert len(crm.records) == 25

    nav.page.add({**CUSTOMERS[3], "Name": "Cliente 03 S.A.", "Last_Date_Modified": "2024-03-01"})
    third = run(integration)
    assert counts(third)["updated"] == 1 and counts(third)["created"] == 0
    assert "Cliente 03 S.A." in [r["Name"] for r in crm.records.values()]
    assert len(crm.records) == 25
