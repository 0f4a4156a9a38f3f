"""The Business Central ↔ Ploomes preset, imported as IT imports it and run for real through the engine.

Business Central answers as ``tests/servers/batch_apis.py``'s ``FakeBusinessCentral`` does (customers, the
JSON ``$batch``, BC's error bodies), plus what a real tenant also does and that fake leaves out: tokens from
an OAuth2 client-credentials endpoint (a ``FakeRestApi`` in the part of Entra ID), ``$skip`` and
``lastModifiedDateTime gt …`` on the customers' listing, and the ``city`` field. Ploomes is the demo CRM
served by the live server (``User-Key``, OData, ``OtherProperties`` with the FieldKeys of ``/Fields``).
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from demo.choices import SandboxSystem
from demo.crm_schema import contact_json
from demo.models import CrmContact, CrmField, SandboxKnobs
from monitoring.choices import ErrorStatus, RunStatus, Trigger
from monitoring.models import RecordError, RequestLog, TableRun
from sync.engine import execute_run, queue_run
from sync.models import SyncTable
from sync.paths import get_path
from sync.presets import create_from_preset, read_preset
from tests.servers.batch_apis import BC_CUSTOMER, FakeBusinessCentral
from tests.servers.rest_api import FakeRestApi

pytestmark = pytest.mark.django_db(transaction=True)

PRESET = Path(settings.BASE_DIR) / "presets" / "business-central-ploomes.yaml"
CLIENT_ID = "5f1c2d3e-0a1b-4c5d-8e9f-0123456789ab"
CLIENT_SECRET = "bc-client-secret-Qx7~vT2"
START = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@dataclass
class TenantBusinessCentral(FakeBusinessCentral):
    """Business Central as a tenant answers: Entra ID tokens, ``$skip`` and a ``gt`` filter on the change time."""

    tokens: FakeRestApi | None = None
    fields: dict[str, str] = field(default_factory=lambda: {**BC_CUSTOMER, "city": "string"})

    def authorized(self, headers) -> bool:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        return token in self.tokens.issued_tokens

    def read(self, path: str, query: dict) -> tuple[int, dict]:
        if path != f"companies({self.company})/customers":
            return super().read(path, query)
        name, _gt, literal = query.get("$filter", "").partition(" gt ")
        if name.strip() == "lastModifiedDateTime":
            since = _moment(literal)
            rows = [row for row in self.customers() if _moment(row["lastModifiedDateTime"]) > since]
        else:
            rows = super().read(path, {key: value for key, value in query.items() if key != "$top"})[1]["value"]
        skip, top = int(query.get("$skip", 0)), int(query.get("$top", len(rows) or 1))
        return 200, {
            "@odata.context": f"{self.url}{self.root}/$metadata#companies/customers",
            "value": rows[skip : skip + top],
        }

    def add(self, number: str, **values) -> dict:
        record = {
            "id": f"{len(self.records) + 1:08d}-0000-4000-8000-000000000000",
            "number": number,
            "displayName": "",
            "email": "",
            "creditLimit": 0,
            "taxLiable": False,
            "city": "",
            "lastModifiedDateTime": "2026-12-05T11:00:00.000Z",
            **values,
        }
        with self._lock:
            self.records[record["id"]] = record
        return record


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().strip("'").replace("Z", "+00:00"))


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=True):
        yield


@pytest.fixture
def tokens():
    with FakeRestApi(auth="oauth2", client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as server:
        yield server


@pytest.fixture
def central(tokens):
    with TenantBusinessCentral(tokens=tokens) as server:
        yield server


@pytest.fixture
def user_key(live_server):
    CrmField.ensure_defaults()
    return SandboxKnobs.for_system(SandboxSystem.CRM).api_key


@pytest.fixture
def integration(clock, central, tokens, user_key, live_server):
    created = create_from_preset(
        read_preset(PRESET),
        {
            "name": "BC ↔ Ploomes (test)",
            "erp_base_url": central.url + central.root,
            "erp_oauth_token_url": tokens.url + "/oauth/token",
            "erp_client_id": CLIENT_ID,
            "secret_BUSINESS_CENTRAL_CLIENT_SECRET": CLIENT_SECRET,
            "crm_base_url": f"{live_server.url}/sandbox/crm",
            "secret_PLOOMES_API_KEY": user_key,
        },
    )
    integration = created.integration
    # What the preset's documentation asks IT to do after the import: the company's id in the tables' paths.
    for table in SyncTable.objects.filter(integration=integration):
        for name in ("source_object", "target_object", "update_object"):
            setattr(table, name, getattr(table, name).replace("YOUR-COMPANY-ID", central.company))
        table.save()
    integration.erp_connection.page_size = 2  # three customers: two pages and an empty one
    integration.erp_connection.save()
    integration.active = True
    integration.save()
    return integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def companies() -> dict[str, dict]:
    """Ploomes' companies as its API shows them, by name."""
    return {contact.name: contact_json(contact) for contact in CrmContact.objects.filter(type_id=1)}


def counts(sync_run, table: str) -> tuple:
    table_run = TableRun.objects.get(run=sync_run, table__name=table)
    return table_run.read, table_run.created, table_run.updated, table_run.unchanged, table_run.failed


def seed_customers(central):
    central.add(
        "C00010", displayName=" Adatum Corporation ", email="Compras@Adatum.example", creditLimit=15000.5, city="Recife"
    )
    central.add("C00020", displayName="Trey Research", email="", creditLimit=0, city="")
    central.add("C00030", displayName="Alpine Ski House", email="ski@alpine.example", creditLimit=2500, city="Gramado")


def test_a_first_run_is_green_and_ploomes_holds_each_customer_field_by_field(integration, central):
    seed_customers(central)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    assert counts(sync_run, "Company") == (3, 3, 0, 0, 0)
    held = companies()
    assert sorted(held) == ["Adatum Corporation", "Alpine Ski House", "Trey Research"]
    adatum = held["Adatum Corporation"]
    assert adatum["TypeId"] == 1
    assert adatum["Email"] == "Compras@Adatum.example"  # as BC keeps it: the link back by e-mail needs it
    assert adatum["City"] == "Recife"
    code = get_path(adatum, "OtherProperties[FieldKey=contact_ERP_CODE].StringValue")
    assert code == "C00010" and isinstance(code, str)
    limit = get_path(adatum, "OtherProperties[FieldKey=contact_CREDIT_LIMIT].DecimalValue")
    assert limit == 15000.5 and isinstance(limit, int | float)
    trey = held["Trey Research"]
    assert trey["Email"] is None and trey["City"] is None
    assert get_path(trey, "OtherProperties[FieldKey=contact_CREDIT_LIMIT].DecimalValue") == 0
    # Paging by $skip: two customers, then one, then an empty page.
    reads = [r for r in central.received if r.method == "GET" and r.path.endswith("/customers")]
    assert [(r.query.get("$top"), r.query.get("$skip")) for r in reads] == [("2", "0"), ("2", "2"), ("2", "3")]


def test_a_second_run_writes_nothing_and_a_changed_customer_alone_is_read_and_updated(integration, central):
    seed_customers(central)
    run(integration)
    before = companies()

    again = run(integration)

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert counts(again, "Company") == (0, 0, 0, 0, 0)  # nothing changed in BC since the cursor
    assert companies() == before
    assert central.batch_calls() == []

    alpine = central.customer("C00030")
    central.records[alpine["id"]].update(creditLimit=4000.75, lastModifiedDateTime="2026-12-05T13:00:00.000Z")
    third = run(integration)

    assert counts(third, "Company") == (1, 0, 1, 0, 0)
    changed = companies()["Alpine Ski House"]
    assert get_path(changed, "OtherProperties[FieldKey=contact_CREDIT_LIMIT].DecimalValue") == 4000.75
    assert changed["Id"] == before["Alpine Ski House"]["Id"]


def test_a_salespersons_company_goes_to_business_central_once_and_its_number_comes_back(integration, central):
    lead = CrmContact.objects.create(type_id=1, name="Fabrikam Ltda", email="Contato@Fabrikam.example")
    CrmContact.objects.create(type_id=1, name="Sem E-mail Ltda")  # no e-mail: could not be linked back
    CrmContact.objects.create(type_id=2, name="Ana Souza", email="ana@fabrikam.example")  # a person

    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, first.error
    [customer] = central.customers()
    assert (customer["number"], customer["displayName"], customer["email"]) == (
        f"CRM-{lead.pk}",
        "Fabrikam Ltda",
        "Contato@Fabrikam.example",
    )
    [call] = central.batch_calls()
    [request] = json.loads(call.body)["requests"]
    assert request["method"] == "POST" and request["url"] == f"companies({central.company})/customers"
    assert TableRun.objects.get(run=first, table__name="Company from Ploomes").skipped == 1  # the one without e-mail

    second = run(integration)  # BC now has the customer: linked to the lead by e-mail, its number written back

    assert second.status == RunStatus.SUCCEEDED, second.error
    assert counts(second, "Company") == (1, 0, 1, 0, 0)
    fabrikam = companies()["Fabrikam Ltda"]
    assert fabrikam["Id"] == lead.pk
    assert get_path(fabrikam, "OtherProperties[FieldKey=contact_ERP_CODE].StringValue") == f"CRM-{lead.pk}"
    assert CrmContact.objects.filter(name="Fabrikam Ltda").count() == 1

    third = run(integration)

    assert third.status == RunStatus.SUCCEEDED, third.error
    assert len(central.batch_calls()) == 1  # never sent back to BC
    assert len(central.customers()) == 1
    assert TableRun.objects.get(run=third, table__name="Company from Ploomes").created == 0


def test_a_customer_ploomes_refuses_waits_in_the_review_queue_with_ploomes_words(integration, central):
    seed_customers(central)
    central.add("C00040", displayName="Contoso", email="contoso-at-example")

    sync_run = run(integration)

    assert sync_run.status == RunStatus.PARTIAL, sync_run.error
    assert counts(sync_run, "Company") == (4, 3, 0, 0, 1)
    [error] = RecordError.objects.all()
    assert error.record_key == "C00040" and error.status == ErrorStatus.OPEN
    assert "Email contoso-at-example is not a valid address." in str(error.reason)
    assert error.payload["displayName"] == "Contoso"
    assert "Contoso" not in companies()


def test_the_secrets_never_reach_a_request_log(integration, central, tokens, user_key):
    seed_customers(central)
    CrmContact.objects.create(type_id=1, name="Fabrikam Ltda", email="contato@fabrikam.example")
    run(integration)
    run(integration)

    logs = list(RequestLog.objects.all())
    assert {log.connection_id for log in logs} == {integration.erp_connection_id, integration.crm_connection_id}
    secrets = [CLIENT_SECRET, user_key, *tokens.all_tokens]
    assert tokens.all_tokens
    for log in logs:
        text = " ".join(
            str(getattr(log, name)) for name in ("url", "request_headers", "request_body", "response_body", "error")
        )
        for secret in secrets:
            assert secret not in text, (log.operation, log.url)
