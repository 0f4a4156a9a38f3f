"""The Sankhya → Ploomes preset, imported as IT imports it and run for real.

The ERP is :class:`~tests.servers.sankhya_api.FakeSankhya` (session login, ``loadRecords`` pages of 50 rows
named by their metadata, answers that are always 200); the CRM is the demo CRM served by the live server
(Ploomes' shape: ``User-Key``, OData, ``OtherProperties`` checked against its ``/Fields``). What is checked is
what a person would notice: the companies and products the CRM holds, field by field with their types, the
ledger's counts, the review queue's words, and no secret in the request logs.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings

from demo.documents import format_cnpj, make_cnpj
from demo.models import CrmContact, CrmProduct
from monitoring.choices import RunStatus, Trigger
from monitoring.models import RecordError, RequestLog, TableRun
from sync.choices import AuthKind
from sync.engine import execute_run, queue_run
from sync.models import Connection
from sync.presets import create_from_preset, read_preset
from tests.demo_crm import served_demo_crm
from tests.servers.sankhya_api import FakeSankhya

pytestmark = pytest.mark.django_db(transaction=True)

PRESET = Path(settings.BASE_DIR) / "presets" / "sankhya-ploomes.yaml"
ACME_CNPJ = make_cnpj(11222333)
BETA_CNPJ = make_cnpj(44555666)
FILLERS = 47  # suppliers: with the five partners below, 52 rows, two pages of Sankhya's 50
EARLIER = datetime(2026, 11, 20, 8, 0, 0)  # the suppliers' last change, before the customers'
OUTCOMES = ("created", "updated", "unchanged", "skipped", "deleted", "held", "waiting", "failed")


@dataclass
class TimingOutSankhya(FakeSankhya):
    """Sankhya whose sessions all end after it has answered ``loads_per_session`` loadRecords (its session timeout
    or a restart in the middle of a run); 0: never."""

    loads_per_session: int = 0
    loads: int = 0

    def load(self, data_set) -> dict:
        answer = super().load(data_set)
        self.loads += 1
        if self.loads_per_session and self.loads % self.loads_per_session == 0:
            self.expire_sessions()
        return answer


@pytest.fixture
def sankhya():
    with TimingOutSankhya() as server:
        server.add_partner(
            CODPARC=1,
            NOMEPARC="  ACME Ferragens ",
            RAZAOSOCIAL="ACME FERRAGENS LTDA",
            TIPPESSOA="J",
            CGC_CPF=format_cnpj(ACME_CNPJ),
            EMAIL="Compras@ACME.example",
            TELEFONE="(11) 3456-7890",
            ATIVO="S",
            CLIENTE="S",
        )
        server.add_partner(
            CODPARC=2, NOMEPARC="Beta", RAZAOSOCIAL="BETA COMERCIO SA", TIPPESSOA="J", CGC_CPF=BETA_CNPJ,
            ATIVO="S", CLIENTE="S", DTALTER=datetime(2026, 12, 4, 15, 30),
        )  # fmt: skip
        others = {"TIPPESSOA": "J", "DTALTER": EARLIER}
        server.add_partner(CODPARC=3, NOMEPARC="Gama (inativa)", ATIVO="N", CLIENTE="S", **others)
        server.add_partner(CODPARC=4, NOMEPARC="Delta Fornecedor", ATIVO="S", CLIENTE="N", **others)
        server.add_partner(
            CODPARC=5, NOMEPARC="Maria da Silva", ATIVO="S", CLIENTE="S", CGC_CPF="529.982.247-25",
            EMAIL="Maria@Example.com", **{**others, "TIPPESSOA": "F"},
        )  # fmt: skip
        for code in range(100, 100 + FILLERS):
            server.add_partner(CODPARC=code, NOMEPARC=f"Fornecedor {code}", ATIVO="S", CLIENTE="N", **others)
        server.add_product(CODPROD=10, DESCRPROD=" Parafuso sextavado 8mm ", CODVOL="UN", ATIVO="S")
        server.add_product(CODPROD=11, DESCRPROD="Arruela lisa", CODVOL="CX", ATIVO="N")
        yield server


@pytest.fixture
def crm(live_server):
    """The demo CRM with its custom fields and one company the salespeople created (Beta, by its CNPJ)."""
    return served_demo_crm(live_server, lead_cnpj=BETA_CNPJ)


@pytest.fixture
def integration(sankhya, crm):
    crm_url, user_key = crm
    values = {
        "name": "ACME: Sankhya → Ploomes",
        "erp_name": "Sankhya ACME",
        "erp_base_url": sankhya.url,
        "erp_username": sankhya.user,
        "secret_SANKHYA_PASSWORD": sankhya.password,
        "crm_name": "Ploomes ACME",
        "crm_base_url": crm_url,
        "secret_PLOOMES_USER_KEY": user_key,
    }
    created = create_from_preset(read_preset(PRESET), values)
    # Ploomes' 120 calls a minute are the preset's; the shared budget is tested elsewhere and here would only
    # space this test's calls half a second apart.
    crm_connection = created.integration.crm_connection
    assert crm_connection.rate_limit_per_minute == 120
    Connection.objects.filter(pk=crm_connection.pk).update(rate_limit_per_minute=None)
    return created.integration


def run(integration):
    return execute_run(queue_run(integration, Trigger.MANUAL).pk)


def counts(sync_run) -> dict[str, dict[str, int]]:
    """Each table's ledger of the run, the figures that are not 0."""
    ledger = {}
    for table_run in TableRun.objects.filter(run=sync_run).select_related("table"):
        figures = {name: getattr(table_run, name) for name in ("read", *OUTCOMES)}
        ledger[table_run.table.name] = {name: figure for name, figure in figures.items() if figure}
    return ledger


def companies() -> dict[str, dict]:
    """The CRM's companies as its API shows them, by CNPJ, without the dates it stamps."""
    shown = {}
    for contact in CrmContact.objects.filter(type_id=1).order_by("pk"):
        shown[contact.cnpj] = {
            "TypeId": contact.type_id,
            "Name": contact.name,
            "LegalName": contact.legal_name,
            "Email": contact.email,
            "Phones": contact.phones,
            "OtherProperties": contact.other_properties,
        }
    return shown


def people() -> dict[str, dict]:
    """The CRM's people (TypeId 2) as its API shows them, by CPF."""
    return {
        person.cpf: {
            "TypeId": person.type_id,
            "Name": person.name,
            "Email": person.email,
            "Phones": person.phones,
            "OtherProperties": person.other_properties,
        }
        for person in CrmContact.objects.filter(type_id=2).order_by("pk")
    }


def products() -> dict[str, dict]:
    return {
        product.code: {"Name": product.name, "Active": product.active, "OtherProperties": product.other_properties}
        for product in CrmProduct.objects.order_by("pk")
    }


def criteria_sent(sankhya, entity: str) -> list:
    """The ``criteria`` of each ``loadRecords`` of ``entity``, in order (None: read everything)."""
    sent = []
    for call in sankhya.calls("CRUDServiceProvider.loadRecords"):
        data_set = json.loads(call.body)["requestBody"]["dataSet"]
        if data_set["rootEntity"] == entity:
            sent.append((data_set["offsetPage"], data_set.get("criteria")))
    return sent


FIRST_RUN_COMPANIES = {
    BETA_CNPJ: {
        "TypeId": 1,
        "Name": "Beta",
        "LegalName": "BETA COMERCIO SA",
        "Email": "",
        "Phones": [],
        "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "2"}],
    },
    ACME_CNPJ: {
        "TypeId": 1,
        "Name": "ACME Ferragens",
        "LegalName": "ACME FERRAGENS LTDA",
        "Email": "compras@acme.example",
        "Phones": [{"PhoneNumber": "(11) 3456-7890"}],
        "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "1"}],
    },
}
FIRST_RUN_PRODUCTS = {
    "10": {
        "Name": "Parafuso sextavado 8mm",
        "Active": True,
        "OtherProperties": [{"FieldKey": "product_ERP_UNIT", "StringValue": "UN"}],
    },
    "11": {
        "Name": "Arruela lisa",
        "Active": False,
        "OtherProperties": [{"FieldKey": "product_ERP_UNIT", "StringValue": "CX"}],
    },
}


def test_the_first_run_is_green_and_the_crm_holds_the_active_customers_and_the_products(integration, sankhya):
    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, [(e.reason, e.payload) for e in RecordError.objects.all()]
    assert counts(first) == {
        "Company": {"read": 52, "created": 1, "updated": 1, "skipped": 50},  # Beta matched by CNPJ, not duplicated
        "Person": {"read": 52, "created": 1, "skipped": 51},  # Maria, the one natural person who is a customer
        "Product": {"read": 2, "created": 2},
    }
    assert companies() == FIRST_RUN_COMPANIES
    assert people() == {
        "52998224725": {
            "TypeId": 2,
            "Name": "Maria da Silva",
            "Email": "maria@example.com",
            "Phones": [],  # no TELEFONE in Sankhya: no phone sent
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "5"}],
        }
    }
    assert products() == FIRST_RUN_PRODUCTS
    # Two pages of partners for each table (offsetPage 0 and 1, the rows named by their metadata), one session.
    assert criteria_sent(sankhya, "Parceiro") == [(0, None), (1, None)] * 2
    assert sankhya.logins == 1
    table_run = TableRun.objects.get(run=first, table__name="Company")
    assert (table_run.target_total, table_run.linked_total) == (2, 2)  # confirmed in the CRM by its ERP code


def test_a_second_run_reads_from_the_cursor_and_writes_nothing(integration, sankhya):
    run(integration)
    before = companies(), products(), set(CrmContact.objects.values_list("pk", "updated_at"))

    second = run(integration)

    assert second.status == RunStatus.SUCCEEDED, second.error
    # Only what changed at or after the cursor, 05/12/2026 10:00:00 (ACME and the products), is read again
    # (">=": Sankhya keeps seconds only); it is found unchanged and nothing is sent.
    assert counts(second) == {
        "Company": {"read": 1, "unchanged": 1},
        "Person": {"read": 1, "skipped": 1},  # Beta again, from the cursor: a company
        "Product": {"read": 2, "unchanged": 2},
    }
    assert (companies(), products(), set(CrmContact.objects.values_list("pk", "updated_at"))) == before
    changed_since = {
        "expression": {"$": "this.DTALTER >= ?"},
        "parameter": [{"$": "05/12/2026 10:00:00", "type": "D"}],
    }
    assert criteria_sent(sankhya, "Parceiro")[4:] == [(0, changed_since)] * 2  # Company, then Person
    assert not RequestLog.objects.filter(run=second, method__in=("POST", "PATCH")).exclude(url__startswith=sankhya.url)


def test_a_partner_changed_in_sankhya_updates_only_its_company(integration, sankhya):
    run(integration)
    beta_before = CrmContact.objects.get(cnpj=BETA_CNPJ).updated_at
    sankhya.advance(minutes=15)
    sankhya.add_partner(**{**sankhya.partner(1), "EMAIL": "financeiro@acme.example", "DTALTER": None})

    third = run(integration)

    assert third.status == RunStatus.SUCCEEDED, third.error
    # The products, changed at the cursor's second, are read again and found unchanged.
    assert counts(third) == {
        "Company": {"read": 1, "updated": 1},
        "Person": {"read": 1, "skipped": 1},
        "Product": {"read": 2, "unchanged": 2},
    }
    assert companies()[ACME_CNPJ] == {**FIRST_RUN_COMPANIES[ACME_CNPJ], "Email": "financeiro@acme.example"}
    assert companies()[BETA_CNPJ] == FIRST_RUN_COMPANIES[BETA_CNPJ]
    assert CrmContact.objects.get(cnpj=BETA_CNPJ).updated_at == beta_before
    patches = RequestLog.objects.filter(run=third, method="PATCH")
    assert [json.loads(log.request_body) for log in patches] == [{"Email": "financeiro@acme.example"}]


def test_a_session_that_ends_during_the_run_logs_in_again_and_the_run_goes_on(integration, sankhya):
    sankhya.loads_per_session = 1  # every session ends after one page: the second page finds it gone

    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, first.error
    assert companies() == FIRST_RUN_COMPANIES
    assert products() == FIRST_RUN_PRODUCTS
    assert sankhya.logins == 5  # one per page read (two of partners for each of two tables, one of products)
    sankhya_answers = [
        json.loads(log.response_body).get("status")
        for log in RequestLog.objects.filter(run=first, url__startswith=sankhya.url).order_by("started_at", "pk")
    ]
    # login, page 0; "Não autorizado.", login, page 1 again; the same for the other pages
    assert sankhya_answers == ["1", "1", *["3", "1", "1"] * 4]


def test_a_company_ploomes_refuses_waits_in_the_review_queue_with_the_crm_s_words(integration, sankhya):
    sankhya.add_partner(
        CODPARC=6, NOMEPARC="Epsilon", TIPPESSOA="J", CGC_CPF=make_cnpj(77888999), EMAIL="vendas@epsilon",
        ATIVO="S", CLIENTE="S",
    )  # fmt: skip

    first = run(integration)

    assert first.status == RunStatus.PARTIAL, first.error
    assert counts(first)["Company"] == {"read": 53, "created": 1, "updated": 1, "skipped": 50, "failed": 1}
    error = RecordError.objects.get(table__name="Company")
    assert error.record_key == "6"
    assert "Email vendas@epsilon is not a valid address." in str(error.reason)
    assert error.payload["NOMEPARC"] == "Epsilon"
    assert make_cnpj(77888999) not in companies()


def test_no_secret_reaches_a_request_log(integration, sankhya, crm):
    _crm_url, user_key = crm
    run(integration)
    logs = list(RequestLog.objects.all())
    assert len(logs) > 5
    secrets = [sankhya.password, user_key, *sankhya.sessions]  # the session cookie opens Sankhya too
    for log in logs:
        text = " ".join([log.url, json.dumps(log.request_headers), log.request_body, log.response_body, str(log.error)])
        assert not any(secret in text for secret in secrets), (log.method, log.url)
    assert any(log.request_headers.get("User-Key") == "[redacted]" for log in logs)
    assert any("MobileLoginSP.login" in log.url for log in logs)


def test_the_same_tables_run_through_the_api_gateway_once_the_connection_is_switched(integration, sankhya, crm):
    """The documented switch to Sankhya's gateway: only the ERP connection changes (see the preset's page)."""
    _crm_url, user_key = crm
    erp = integration.erp_connection
    erp.base_url = f"{sankhya.url}/gateway/v1"
    erp.auth_kind = AuthKind.OAUTH2
    erp.oauth_token_url = f"{sankhya.url}/authenticate"
    erp.client_id, erp.client_secret = sankhya.client_id, sankhya.client_secret
    erp.token_headers = {"X-Token": "{api_key}"}
    erp.api_key = sankhya.x_token
    erp.full_clean()
    erp.save()

    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, [(e.reason, e.payload) for e in RecordError.objects.all()]
    assert companies() == FIRST_RUN_COMPANIES
    assert (sankhya.logins, sankhya.authentications) == (0, 1)
    served = [call.path for call in sankhya.received]
    assert set(served) == {"/authenticate", "/gateway/v1/mge/service.sbr"}
    secrets = [sankhya.x_token, sankhya.client_secret, user_key]
    for log in RequestLog.objects.all():
        text = " ".join([log.url, json.dumps(log.request_headers), log.request_body, log.response_body, str(log.error)])
        assert not any(secret in text for secret in secrets), (log.method, log.url)
