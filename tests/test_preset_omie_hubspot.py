"""The Omie ↔ HubSpot preset, imported as IT does and run for real against servers that answer as Omie and HubSpot.

``presets/omie-hubspot.yaml`` goes through :func:`sync.presets.create_from_preset` with the local servers'
addresses and secrets; the engine then reads Omie's ``ListarClientes`` (keys in the body, pages in the
body, the change date as cursor) and upserts HubSpot companies by ``erp_code``. What is asserted is what
IT sees: the companies HubSpot holds field by field, the run's outcome, the review queue in HubSpot's words,
and request logs without the secrets.

Omie's products go through the same connections: their table reads them at its own records path
(``produto_servico_cadastro``; the clients' table reads ``clientes_cadastro``).
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from monitoring.choices import ErrorStatus, RecordAction, RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, TableRun
from sync.choices import AuthKind, BatchKind, Direction
from sync.engine import execute_run, queue_run
from sync.models import Connection, RecordLink, SyncTable
from sync.presets import create_from_preset, read_preset
from tests.servers.batch_apis import HUBSPOT_COMPANY_PROPERTIES, HUBSPOT_PRODUCT_PROPERTIES, FakeHubSpot
from tests.servers.omie_api import FakeOmie

PRESETS = Path(settings.BASE_DIR) / "presets"
PRESET = PRESETS / "omie-hubspot.yaml"
TOKEN = "pat-na1-omie-preset-3c9e"
FROZEN = "2026-12-05 13:00:00+00:00"  # the Omie server's clock says 05/12/2026 10:00 (São Paulo)
AFTER_FIRST_RETRY_DELAY = "2026-12-05 13:10:00+00:00"

# A rate-limited connection books its calls in durable transactions of their own.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("frozen")]


@pytest.fixture
def frozen():
    with time_machine.travel(FROZEN, tick=True):
        yield


@pytest.fixture
def omie():
    with FakeOmie() as server:
        yield server


@pytest.fixture
def hubspot():
    with FakeHubSpot(token=TOKEN) as server:
        yield server


def create(omie, hubspot):
    """The preset filled in as IT fills in its form: the two addresses and the three secrets."""
    values = {
        "erp_base_url": f"{omie.url}/api/v1",
        "crm_base_url": hubspot.url,
        "secret_OMIE_APP_KEY": omie.app_key,
        "secret_OMIE_APP_SECRET": omie.app_secret,
        "secret_HUBSPOT_TOKEN": TOKEN,
    }
    return create_from_preset(read_preset(PRESET), values).integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def seed_clients(omie) -> dict[str, dict]:
    """Three clients made in Omie's screens on different days; one of them inactive."""
    return {
        "acme": omie.add_client(
            razao_social="  ACME Comércio Ltda ",
            nome_fantasia="ACME",
            cnpj_cpf="11.222.333/0001-81",
            cidade="SAO PAULO (SP)",
            estado="sp",
            info={"dInc": "01/12/2026", "dAlt": "01/12/2026"},
        ),
        "beta": omie.add_client(
            razao_social="Beta Serviços SA",
            cnpj_cpf="529.982.247-25",
            cidade="CAMPINAS (SP)",
            estado="SP",
            info={"dInc": "02/12/2026", "dAlt": "03/12/2026"},
        ),
        "gone": omie.add_client(
            razao_social="Inativa ME", inativo="S", estado="RJ", info={"dInc": "02/12/2026", "dAlt": "02/12/2026"}
        ),
    }


def companies(hubspot) -> dict[str, dict]:
    return {company["erp_code"]: company for company in hubspot.held("companies")}


def omie_reads(omie) -> list[dict]:
    return [json.loads(call.body)["param"][0] for call in omie.calls("ListarClientes")]


def test_the_preset_creates_its_connections_and_tables_as_written(omie, hubspot):
    integration = create(omie, hubspot)

    erp, crm = integration.erp_connection, integration.crm_connection
    assert (erp.name, erp.base_url, erp.auth_kind) == ("Omie", f"{omie.url}/api/v1", AuthKind.BODY)
    assert erp.body_credentials == {"app_key": "{api_key}", "app_secret": "{password}"}
    assert (erp.api_key, erp.password) == (omie.app_key, omie.app_secret)  # stored, encrypted at rest
    assert (erp.records_path, erp.max_in_flight) == ("", 1)  # Omie refuses calls at once
    assert (crm.name, crm.base_url, crm.auth_kind, crm.token) == ("HubSpot", hubspot.url, AuthKind.BEARER, TOKEN)
    assert crm.records_path == ""  # HubSpot answers one object bare: its GET before an update reads it whole
    company, product, hubspot_company = SyncTable.objects.filter(integration=integration).order_by("order")
    assert (company.active, company.direction) == (True, Direction.ERP_TO_CRM)
    assert (company.batch_kind, company.batch_size) == (BatchKind.HUBSPOT_UPSERT, 100)
    assert (company.record_key, company.match_field, company.target_key) == ("codigo_cliente_omie", "erp_code", "id")
    assert (company.name, company.cursor_field, company.records_path) == ("Company", "info.dAlt", "clientes_cadastro")
    assert (product.name, product.source_object, product.records_path) == (
        "Product",
        "POST /geral/produtos/",
        "produto_servico_cadastro",
    )
    assert (product.record_key, product.match_field, product.batch_kind) == (
        "codigo_produto",
        "erp_code",
        BatchKind.HUBSPOT_UPSERT,
    )
    assert (hubspot_company.direction, hubspot_company.records_path) == (Direction.CRM_TO_ERP, "results")
    assert (hubspot_company.record_key, hubspot_company.target_key, hubspot_company.match_existing) == (
        "id",
        "codigo_cliente_omie",
        False,
    )
    assert hubspot_company.write_body == {"call": "UpsertCliente", "param": ["{record}"]}
    assert (crm.pagination, crm.next_path, crm.result_cap) == ("cursor", "paging.next.after", 10_000)


def test_the_first_run_is_green_and_hubspot_holds_each_active_client_field_by_field(omie, hubspot):
    clients = seed_clients(omie)
    integration = create(omie, hubspot)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    held = companies(hubspot)
    acme, beta = str(clients["acme"]["codigo_cliente_omie"]), str(clients["beta"]["codigo_cliente_omie"])
    assert sorted(held) == sorted([acme, beta])  # the inactive client is not sent
    assert {name: held[acme][name] for name in ("erp_code", "name", "cnpj", "city", "state")} == {
        "erp_code": acme,
        "name": "ACME Comércio Ltda",
        "cnpj": "11.222.333/0001-81",
        "city": "SAO PAULO (SP)",
        "state": "SP",
    }
    assert {name: held[beta][name] for name in ("erp_code", "name", "cnpj", "city", "state")} == {
        "erp_code": beta,
        "name": "Beta Serviços SA",
        "cnpj": "529.982.247-25",
        "city": "CAMPINAS (SP)",
        "state": "SP",
    }
    assert all(isinstance(value, str) for company in held.values() for value in company.values())
    assert dict(RecordLink.objects.values_list("source_key", "target_key")) == {
        acme: held[acme]["id"],
        beta: held[beta]["id"],
    }
    table_run = TableRun.objects.get(run=sync_run, table__name="Company")
    assert (table_run.read, table_run.created, table_run.skipped, table_run.failed) == (3, 2, 1, 0)
    assert table_run.cursor_after == "03/12/2026"  # the latest change date, compared as a date
    assert len(hubspot.batch_calls()) == 1  # both companies in one batch/upsert
    [read] = omie_reads(omie)  # three records, one page: Omie's total says it was the last
    assert read == {"pagina": 1, "registros_por_pagina": 100, "apenas_importado_api": "N"}


def test_the_next_runs_read_only_what_changed_since_the_cursor_and_write_only_what_changed(omie, hubspot):
    clients = seed_clients(omie)
    integration = create(omie, hubspot)
    run(integration)
    first = companies(hubspot)

    again = run(integration)

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert omie_reads(omie)[-1] == {
        "pagina": 1,
        "registros_por_pagina": 100,
        "apenas_importado_api": "N",
        "filtrar_por_data_de": "03/12/2026",
        "filtrar_apenas_alteracao": "S",
    }
    table_run = TableRun.objects.get(run=again, table__name="Company")
    assert (table_run.read, table_run.unchanged, table_run.created, table_run.updated) == (1, 1, 0, 0)
    assert len(hubspot.batch_calls()) == 1  # nothing new was sent
    assert companies(hubspot) == first

    acme = clients["acme"]
    omie.add_client(**{**acme, "razao_social": "ACME Comércio e Indústria Ltda", "info": {}})  # changed today
    third = run(integration)

    assert third.status == RunStatus.SUCCEEDED, third.error
    code = str(acme["codigo_cliente_omie"])
    held = companies(hubspot)
    assert held[code]["name"] == "ACME Comércio e Indústria Ltda"
    assert held[code]["id"] == first[code]["id"]  # the same company, updated in place
    assert len(held) == 2
    updated = RecordEvent.objects.get(run=third, action=RecordAction.UPDATED)
    assert updated.record_key == code
    assert TableRun.objects.get(run=third, table__name="Company").cursor_after == "05/12/2026"


def test_a_hubspot_account_without_the_cnpj_property_queues_each_company_with_hubspots_words(omie):
    schema = {name: kind for name, kind in HUBSPOT_COMPANY_PROPERTIES.items() if name != "cnpj"}
    with FakeHubSpot(token=TOKEN, schemas={"companies": schema}) as hubspot:
        clients = seed_clients(omie)
        integration = create(omie, hubspot)

        sync_run = run(integration)

        assert hubspot.held("companies") == []
        errors = {error.record_key: error for error in RecordError.objects.all()}
        codes = sorted(str(clients[name]["codigo_cliente_omie"]) for name in ("acme", "beta"))
        assert sorted(errors) == codes
        for error in errors.values():
            assert error.status == ErrorStatus.OPEN
            assert 'Property "cnpj" does not exist' in str(error.reason)
        assert errors[codes[0]].payload["razao_social"] == "  ACME Comércio Ltda "
        assert TableRun.objects.get(run=sync_run, table__name="Company").failed == 2

        hubspot.schemas["companies"]["cnpj"] = "string"  # IT creates the property, as the documentation says
        with time_machine.travel(AFTER_FIRST_RETRY_DELAY, tick=True):  # the queue retries after 5 minutes
            retried = run(integration)

        assert retried.status == RunStatus.SUCCEEDED, retried.error
        assert sorted(companies(hubspot)) == codes
        assert companies(hubspot)[codes[0]]["cnpj"] == "11.222.333/0001-81"
        assert not RecordError.objects.filter(status=ErrorStatus.OPEN).exists()


def test_the_secrets_never_reach_a_request_log(omie, hubspot):
    seed_clients(omie)
    integration = create(omie, hubspot)
    run(integration)
    run(integration)

    logs = list(RequestLog.objects.all())
    assert {log.connection_id for log in logs} == {integration.erp_connection_id, integration.crm_connection_id}
    assert all(omie.app_key in json.loads(call.body).values() for call in omie.calls("ListarClientes"))
    for log in logs:
        stored = " ".join([log.url, log.request_body, log.response_body, json.dumps(log.request_headers)])
        for secret in (omie.app_key, omie.app_secret, TOKEN):
            assert secret not in stored, (log.method, log.url)
    assert Connection.objects.get(name="Omie").password == omie.app_secret


def test_the_same_connections_send_active_products_with_their_price_as_a_number(omie):
    schemas = {  # with the unique properties IT creates in HubSpot
        "companies": dict(HUBSPOT_COMPANY_PROPERTIES),
        "products": {**HUBSPOT_PRODUCT_PROPERTIES, "erp_code": "string"},
    }
    with FakeHubSpot(token=TOKEN, schemas=schemas) as hubspot:
        clients = seed_clients(omie)
        cadeira = omie.add_product(codigo="CAD-01", descricao=" Cadeira gamer ", unidade="UN", valor_unitario=1234.5)
        mesa = omie.add_product(codigo="MES-02", descricao="Mesa", unidade="UN", valor_unitario=899)
        omie.add_product(codigo="OLD-03", descricao="Fora de linha", valor_unitario=10, inativo="S")
        integration = create(omie, hubspot)

        sync_run = run(integration)

        assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
        held = {product["erp_code"]: product for product in hubspot.held("products")}
        assert {code: (p["name"], p["hs_sku"], p["price"]) for code, p in held.items()} == {
            str(cadeira["codigo_produto"]): ("Cadeira gamer", "CAD-01", "1234.5"),
            str(mesa["codigo_produto"]): ("Mesa", "MES-02", "899"),
        }
        assert set(companies(hubspot)) == {
            str(clients["acme"]["codigo_cliente_omie"]),
            str(clients["beta"]["codigo_cliente_omie"]),
        }
        [call] = [call for call in hubspot.batch_calls() if "/products/" in call.path]
        prices = {item["id"]: item["properties"]["price"] for item in json.loads(call.body)["inputs"]}
        assert prices == {str(cadeira["codigo_produto"]): 1234.5, str(mesa["codigo_produto"]): 899}  # numbers
        assert [json.loads(c.body)["call"] for c in omie.calls("/produtos/")] == ["ListarProdutos"]

        again = run(integration)

        assert again.status == RunStatus.SUCCEEDED, again.error
        products_run = TableRun.objects.get(run=again, table__name="Product")
        assert (products_run.unchanged, products_run.skipped, products_run.created, products_run.updated) == (
            2,
            1,
            0,
            0,
        )
        clients_run = TableRun.objects.get(run=again, table__name="Company")  # from the cursor's day: Beta again
        assert (clients_run.unchanged, clients_run.created, clients_run.updated) == (1, 0, 0)
        assert len(hubspot.batch_calls()) == 2


# HubSpot companies → Omie clients ---------------------------------------------------------------------------------

CLIENT_FIELDS = ("razao_social", "nome_fantasia", "cnpj_cpf", "cidade", "estado")


def seed_companies(hubspot) -> dict[str, str]:
    """Two companies the sales team made in HubSpot, and one that came from Omie (it has its erp_code)."""
    return {
        "gamma": hubspot.seed_object(
            "companies",
            {"name": " Gamma Tecnologia Ltda ", "cnpj": "11.444.777/0001-61", "city": "Curitiba", "state": "pr"},
        ),
        "delta": hubspot.seed_object("companies", {"name": "Delta Consultoria", "cnpj": "52998224725", "state": "MG"}),
        "synced": hubspot.seed_object("companies", {"name": "Já veio do Omie", "erp_code": "9001"}),
    }


def omie_clients(omie) -> dict[str, dict]:
    """Omie's clients created from HubSpot companies, by the HubSpot company's id (their integration code HS-<id>)."""
    clients = {}
    for client in omie.clients():
        code = client["codigo_cliente_integracao"]
        assert code.startswith("HS-"), code
        clients[code.removeprefix("HS-")] = client
    return clients


def searches(hubspot) -> list[dict]:
    return [json.loads(call.body) for call in hubspot.received if call.path.endswith("/companies/search")]


def test_hubspot_companies_without_an_omie_code_become_omie_clients_field_by_field(omie, hubspot):
    ids = seed_companies(hubspot)
    integration = create(omie, hubspot)

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    clients = omie_clients(omie)
    assert sorted(clients) == sorted([ids["gamma"], ids["delta"]])  # the company with an erp_code is left alone
    assert {name: clients[ids["gamma"]][name] for name in CLIENT_FIELDS} == {
        "razao_social": "Gamma Tecnologia Ltda",
        "nome_fantasia": "Gamma Tecnologia Ltda",
        "cnpj_cpf": "11.444.777/0001-61",
        "cidade": "Curitiba",
        "estado": "PR",
    }
    assert {name: clients[ids["delta"]][name] for name in CLIENT_FIELDS} == {
        "razao_social": "Delta Consultoria",
        "nome_fantasia": "Delta Consultoria",
        "cnpj_cpf": "529.982.247-25",  # as Omie formats it
        "cidade": "",
        "estado": "MG",
    }
    [first_search] = searches(hubspot)
    assert first_search["filterGroups"] == [
        {"filters": [{"propertyName": "erp_code", "operator": "NOT_HAS_PROPERTY"}]}
    ]  # a first run: every company without an Omie code, oldest change first
    assert first_search["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    links = RecordLink.objects.filter(table__name="HubSpot company")
    assert dict(links.values_list("source_key", "target_key")) == {
        ids[name]: str(clients[ids[name]]["codigo_cliente_omie"]) for name in ("gamma", "delta")
    }
    table_run = TableRun.objects.get(run=sync_run, table__name="HubSpot company")
    assert (table_run.read, table_run.created, table_run.failed) == (2, 2, 0)
    assert table_run.cursor_after == "2026-12-05T10:00:00.000Z"  # HubSpot's modified date of the newest
    assert [json.loads(call.body)["call"] for call in omie.calls("UpsertCliente")] == ["UpsertCliente"] * 2

    again = run(integration)

    assert again.status == RunStatus.SUCCEEDED, again.error
    assert searches(hubspot)[-1]["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "erp_code", "operator": "NOT_HAS_PROPERTY"},
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "2026-12-05T10:00:00.000Z"},
            ]
        }
    ]
    assert len(omie.calls("UpsertCliente")) == 2  # nothing written again
    assert hubspot.batch_calls() == []  # and the new Omie clients do not come back to HubSpot as new companies
    assert len(hubspot.held("companies")) == 3
    assert omie_clients(omie) == clients
    reverse = TableRun.objects.get(run=again, table__name="HubSpot company")
    assert (reverse.read, reverse.unchanged, reverse.created, reverse.updated) == (2, 2, 0, 0)
    company = TableRun.objects.get(run=again, table__name="Company")
    assert (company.read, company.skipped, company.created) == (2, 2, 0)  # kept up to date from HubSpot


def test_a_company_omie_refuses_waits_in_the_review_queue_with_omies_words(omie, hubspot):
    good = hubspot.seed_object("companies", {"name": "Gamma Tecnologia Ltda", "cnpj": "11.444.777/0001-61"})
    bad = hubspot.seed_object("companies", {"name": "Épsilon Comércio", "cnpj": "12.345.678/0001-00"})
    integration = create(omie, hubspot)

    sync_run = run(integration)

    assert sorted(omie_clients(omie)) == [good]
    error = RecordError.objects.get(table__name="HubSpot company")
    assert (error.record_key, error.status) == (bad, ErrorStatus.OPEN)
    assert "O CNPJ/CPF informado [12.345.678/0001-00] não é válido!" in str(error.reason)
    assert error.payload["properties"]["name"] == "Épsilon Comércio"
    table_run = TableRun.objects.get(run=sync_run, table__name="HubSpot company")
    assert (table_run.read, table_run.created, table_run.failed) == (2, 1, 1)


def test_more_companies_than_one_search_pages_to_all_reach_omie_once(omie, hubspot):
    integration = create(omie, hubspot)
    Connection.objects.filter(pk=integration.crm_connection_id).update(result_cap=25, page_size=10)
    hubspot.search_cap = 25  # HubSpot's 10,000, made small
    start = hubspot.clock
    ids = []
    for number in range(60):  # a second apart, except four that share one date
        second = 22 if number in range(22, 26) else number
        name = f"Empresa {number:02d} Ltda"
        ids.append(hubspot.seed_object("companies", {"name": name}, modified=start + timedelta(seconds=second)))

    sync_run = run(integration)

    assert sync_run.status == RunStatus.SUCCEEDED, sync_run.error
    clients = omie_clients(omie)
    assert sorted(clients) == sorted(ids)
    assert len(omie.calls("UpsertCliente")) == 60  # each company written once
    assert clients[ids[24]]["razao_social"] == "Empresa 24 Ltda"
    sent = [(body.get("after"), body["limit"], len(body["filterGroups"][0]["filters"])) for body in searches(hubspot)]
    assert sent == [
        (None, 10, 1),  # the first query: every company without an Omie code
        *[(None, 10, 2)] * 6,  # then each page a query from the newest date read, its companies read left out
    ]
    table_run = TableRun.objects.get(run=sync_run, table__name="HubSpot company")
    assert (table_run.source_total, table_run.read, table_run.created) == (60, 60, 60)


def test_an_omie_client_another_system_created_reaches_hubspot_while_those_from_hubspot_do_not_come_back(omie, hubspot):
    from_hubspot = hubspot.seed_object("companies", {"name": "Gamma Tecnologia Ltda", "cnpj": "11.444.777/0001-61"})
    store = omie.add_client(
        codigo_cliente_integracao="LOJA-7",  # created by the web shop's own integration
        razao_social="Loja Virtual Cliente Ltda",
        cnpj_cpf="11.222.333/0001-81",
        estado="SP",
        info={"dInc": "04/12/2026", "dAlt": "04/12/2026"},
    )
    integration = create(omie, hubspot)

    first = run(integration)
    second = run(integration)

    assert (first.status, second.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED), (first.error, second.error)
    by_code = {company.get("erp_code"): company for company in hubspot.held("companies")}
    assert by_code[str(store["codigo_cliente_omie"])]["name"] == "Loja Virtual Cliente Ltda"
    assert sorted(omie_clients_by_code(omie)) == ["HS-" + from_hubspot, "LOJA-7"]
    assert len(hubspot.held("companies")) == 2  # Gamma was not sent back to HubSpot as a new company
    skipped = RecordEvent.objects.get(table__name="Company", run=second, action=RecordAction.SKIPPED)
    assert str(skipped.message) == (
        f'skipped by the rule "not created from a HubSpot company": codigo_cliente_integracao is "HS-{from_hubspot}"'
    )


def omie_clients_by_code(omie) -> dict[str, dict]:
    return {client["codigo_cliente_integracao"]: client for client in omie.clients()}
