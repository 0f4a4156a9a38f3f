"""The Bling → Ploomes preset, imported as IT imports it, authorized through the admin and run for real.

The ERP is :class:`~tests.servers.bling_api.FakeBling` (OAuth2 authorization code with rotating refresh
tokens, ``pagina``/``limite`` pages of ``{"data": [...]}`` without a total, 3 calls a second, change dates
in Brasília time); the CRM is the demo CRM served by the live server (Ploomes' shape: ``User-Key``, OData,
``OtherProperties`` checked against its ``/Fields``). What is checked is what a person would notice: the
companies and products the CRM holds, field by field with their types, the ledger's counts, the dates sent
to Bling, the review queue's words, the refresh token the connection keeps, and no secret in the request logs.
"""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import time_machine
from django.conf import settings
from django.urls import reverse

from accounts.roles import IT
from demo.documents import format_cnpj, make_cnpj
from demo.models import CrmContact, CrmProduct
from monitoring.choices import RecordAction, RunStatus, Trigger
from monitoring.models import RecordError, RecordEvent, RequestLog, TableRun
from sync.choices import AuthKind, Pagination
from sync.engine import execute_run, queue_run
from sync.models import Connection
from sync.presets import create_from_preset, read_preset
from tests.demo_crm import served_demo_crm
from tests.servers.bling_api import FakeBling

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("frozen")]

PRESET = Path(settings.BASE_DIR) / "presets" / "bling-ploomes.yaml"
CLIENT_SECRET = "bling-secret-preset-7d21"
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # FakeBling's clock starts here too (07:00 in Brasília)
SEEDED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # when the Bling records were last changed
ACME_CNPJ = make_cnpj(11222333)
BETA_CNPJ = make_cnpj(44555666)
FILLERS = 99  # inactive contacts: with the four below, 103 rows, two pages of Bling's 100
CNPJ_PATTERN = r"^\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}$"  # formatted or digits only
OUTCOMES = ("created", "updated", "unchanged", "skipped", "deleted", "held", "waiting", "failed")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):  # the clock cursor is the run's start to the second
        yield


@dataclass
class EventfulBling(FakeBling):
    """Bling where something happens right after it answered the first page of a list in a run:
    ``after_first_page(kind)`` is called then (``kind`` "contatos" or "produtos")."""

    after_first_page: object = None

    def listing(self, kind, query):
        answer = super().listing(kind, query)
        if self.after_first_page is not None and query.get("pagina") == "1":
            self.after_first_page(kind)
        return answer


def callback_url() -> str:
    return f"http://testserver{reverse('admin:sync_connection_oauth_callback')}"


@pytest.fixture
def bling():
    with EventfulBling(client_secret=CLIENT_SECRET, rate_limit=0) as server:
        server.redirect_uri = callback_url()  # the redirect link registered in the Bling app
        server.seed_contact(
            changed=SEEDED,
            nome="  ACME Ferragens ",
            codigo="C-1",
            numeroDocumento=format_cnpj(ACME_CNPJ),
            tipo="J",
            telefone="(11) 3456-7890",
        )
        server.seed_contact(changed=SEEDED, nome="Beta Comércio", numeroDocumento=BETA_CNPJ, tipo="J")
        server.seed_contact(changed=SEEDED, nome="Gama (inativa)", numeroDocumento=make_cnpj(12312312), situacao="I")
        server.seed_contact(changed=SEEDED, nome="Maria da Silva", numeroDocumento="529.982.247-25", tipo="F")
        for number in range(FILLERS):
            server.seed_contact(changed=SEEDED, nome=f"Antigo {number}", situacao="I")
        server.seed_product(changed=SEEDED, nome=" Parafuso sextavado 8mm ", codigo="PAR-8", preco=1.5)
        server.seed_product(changed=SEEDED, nome="Arruela lisa", codigo="ARR-1", preco=12.9, situacao="I")
        yield server


@pytest.fixture
def crm(live_server):
    """The demo CRM with its custom fields and one company the salespeople created (Beta, by its CNPJ)."""
    return served_demo_crm(live_server, lead_cnpj=BETA_CNPJ)


@pytest.fixture
def created(bling, crm):
    crm_url, user_key = crm
    values = {
        "name": "ACME: Bling → Ploomes",
        "erp_name": "Bling ACME",
        "erp_base_url": f"{bling.url}/Api/v3",
        "erp_oauth_authorize_url": bling.authorize_url,
        "erp_oauth_token_url": bling.token_url,
        "erp_client_id": bling.client_id,
        "secret_BLING_CLIENT_SECRET": CLIENT_SECRET,
        "crm_name": "Ploomes ACME",
        "crm_base_url": crm_url,
        "secret_PLOOMES_USER_KEY": user_key,
    }
    return create_from_preset(read_preset(PRESET), values).integration


@pytest.fixture
def integration(created, bling, login_as):
    """The preset's integration, its Bling connection authorized through the admin's Authorize and callback."""
    authorize(login_as(IT), created.erp_connection)
    # The preset's budgets (150 Bling calls a minute, 120 Ploomes calls) would space this test's calls apart;
    # Bling's own limit is exercised below, the shared budget elsewhere.
    Connection.objects.filter(pk__in=[created.erp_connection_id, created.crm_connection_id]).update(
        rate_limit_per_minute=None, daily_call_limit=None
    )
    created.refresh_from_db()
    return created


def authorize(client, connection) -> None:
    """Authorize as IT does: the button, Bling's consent page (approved at once), the portal's callback."""
    response = client.post(reverse("admin:sync_connection_authorize", args=[connection.pk]))
    assert response.status_code == 302
    consent = requests.get(response["Location"], allow_redirects=False, timeout=5)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["Location"])
    answer = client.get(f"{back.path}?{back.query}", follow=True)
    assert "Authorized: the portal holds a refresh token (refreshed automatically)." in answer.content.decode()


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
    """The CRM's companies by CNPJ, without the dates it stamps."""
    return {
        contact.cnpj: {
            "TypeId": contact.type_id,
            "Name": contact.name,
            "Phones": contact.phones,
            "OtherProperties": contact.other_properties,
        }
        for contact in CrmContact.objects.filter(type_id=1).order_by("pk")
    }


def products() -> dict[str, dict]:
    return {
        product.code: {
            "Name": product.name,
            "Price": product.price,
            "Active": product.active,
            "OtherProperties": product.other_properties,
        }
        for product in CrmProduct.objects.order_by("pk")
    }


def lists_read(bling, kind: str) -> list[tuple[str, str | None]]:
    """(pagina, dataAlteracaoInicial) of each list call of ``kind`` Bling received, in order."""
    return [
        (call.query.get("pagina"), call.query.get("dataAlteracaoInicial"))
        for call in bling.received
        if call.path == f"/Api/v3/{kind}" and call.method == "GET"
    ]


def bling_ids(bling) -> dict[str, int]:
    with bling._lock:
        return {record["nome"].strip(): key for key, record in {**bling.contacts, **bling.products}.items()}


def expected_companies(bling) -> dict[str, dict]:
    ids = bling_ids(bling)
    return {
        BETA_CNPJ: {  # the salespeople's lead, found by CNPJ and updated: not duplicated
            "TypeId": 1,
            "Name": "Beta Comércio",
            "Phones": [],  # no phone in Bling: none sent (Ploomes refuses a phone without a number)
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": str(ids["Beta Comércio"])}],
        },
        ACME_CNPJ: {
            "TypeId": 1,
            "Name": "ACME Ferragens",
            "Phones": [{"PhoneNumber": "(11) 3456-7890"}],
            "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": str(ids["ACME Ferragens"])}],
        },
    }


def expected_products(bling) -> dict[str, dict]:
    ids = bling_ids(bling)
    return {
        "PAR-8": {
            "Name": "Parafuso sextavado 8mm",
            "Price": Decimal("1.50"),
            "Active": True,
            "OtherProperties": [{"FieldKey": "product_ERP_CODE", "StringValue": str(ids["Parafuso sextavado 8mm"])}],
        },
        "ARR-1": {
            "Name": "Arruela lisa",
            "Price": Decimal("12.90"),
            "Active": False,
            "OtherProperties": [{"FieldKey": "product_ERP_CODE", "StringValue": str(ids["Arruela lisa"])}],
        },
    }


# ---------------------------------------------------------------- the preset as written


def test_the_preset_creates_its_connections_and_tables_as_written(created, bling):
    erp, crm = created.erp_connection, created.crm_connection
    assert (erp.auth_kind, erp.client_id, erp.client_secret) == (AuthKind.OAUTH2_CODE, bling.client_id, CLIENT_SECRET)
    assert (erp.oauth_authorize_url, erp.oauth_token_url) == (bling.authorize_url, bling.token_url)
    assert (erp.pagination, erp.page_parameter, erp.size_parameter, erp.page_size, erp.records_path) == (
        Pagination.PAGE,
        "pagina",
        "limite",
        100,
        "data",
    )
    assert (erp.rate_limit_per_minute, erp.daily_call_limit, erp.refresh_token) == (150, 120000, "")
    assert (crm.auth_kind, crm.api_key_header, crm.pagination, crm.rate_limit_per_minute) == (
        AuthKind.API_KEY,
        "User-Key",
        Pagination.ODATA,
        120,
    )
    tables = {table.name: table for table in created.tables.all()}
    assert list(tables) == ["Company", "Product"]
    for table in tables.values():
        assert (table.cursor_field, table.incremental_filter) == ("", "dataAlteracaoInicial={cursor}")
        assert (table.cursor_clock_format, table.cursor_clock_zone) == ("%Y-%m-%d %H:%M:%S", "America/Sao_Paulo")
        assert table.cursor_clock_overlap == timedelta(minutes=5)
    company = tables["Company"]
    assert (company.source_object, company.record_key, company.match_field) == ("/contatos", "id", "CNPJ")
    assert company.filter_rules == [
        {"name": "active contacts", "field": "situacao", "op": "eq", "value": "A"},
        {"name": "companies (a CNPJ)", "field": "numeroDocumento", "op": "matches", "value": CNPJ_PATTERN},
    ]
    price = tables["Product"].mappings.get(target_field="Price")
    assert (price.source_path, price.value_type) == ("preco", "decimal")


# ---------------------------------------------------------------- runs


def test_the_first_run_is_green_and_the_crm_holds_the_active_contacts_and_the_products(integration, bling):
    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, [(e.reason, e.payload) for e in RecordError.objects.all()]
    assert counts(first) == {
        "Company": {"read": 103, "created": 1, "updated": 1, "skipped": 101},  # Maria: a CPF, not a company
        "Product": {"read": 2, "created": 2},
    }
    assert companies() == expected_companies(bling)
    assert products() == expected_products(bling)
    maria = RecordEvent.objects.get(run=first, record_key=str(bling_ids(bling)["Maria da Silva"]))
    assert (maria.action, str(maria.message)) == (
        RecordAction.SKIPPED,
        'skipped by the rule "companies (a CNPJ)": numeroDocumento is "529.982.247-25"',
    )
    # The price goes as a JSON number, never as text.
    creates = RequestLog.objects.filter(run=first, method="POST", url__contains="/Products")
    sent = [json.loads(log.request_body) for log in creates]
    assert sorted(body["Price"] for body in sent if "Price" in body) == [1.5, 12.9]
    # Everything is read the first time: two pages of contacts, then the empty page that ends the list.
    assert lists_read(bling, "contatos") == [("1", None), ("2", None), ("3", None)]
    assert lists_read(bling, "produtos") == [("1", None), ("2", None)]
    # The cursor is when the read started, 5 minutes earlier, in Brasília time as Bling reads it.
    assert set(TableRun.objects.filter(run=first).values_list("cursor_after", flat=True)) == {"2026-12-05 06:55:00"}
    table_run = TableRun.objects.get(run=first, table__name="Company")
    assert (table_run.target_total, table_run.linked_total) == (2, 2)  # confirmed in the CRM by the Bling id


def test_a_second_run_reads_only_what_changed_and_writes_nothing(integration, bling):
    run(integration)
    before = companies(), products(), set(CrmContact.objects.values_list("pk", "updated_at"))

    second = run(integration)

    assert second.status == RunStatus.SUCCEEDED, second.error
    assert counts(second) == {"Company": {}, "Product": {}}
    assert lists_read(bling, "contatos")[3:] == [("1", "2026-12-05 06:55:00")]
    assert lists_read(bling, "produtos")[2:] == [("1", "2026-12-05 06:55:00")]
    assert (companies(), products(), set(CrmContact.objects.values_list("pk", "updated_at"))) == before
    assert not RequestLog.objects.filter(run=second, method__in=("POST", "PATCH"))


def test_a_contact_changed_while_a_run_reads_reaches_the_crm_with_the_next_run(integration, bling, time_machine):
    run(integration)
    time_machine.move_to(NOW + timedelta(minutes=15), tick=False)
    acme = bling.contact_by("codigo", "C-1")

    def edit_acme(kind):  # someone renames ACME in Bling just after the contacts' first page was read
        if kind == "contatos":
            bling.after_first_page = None
            with bling._lock:
                bling.clock = datetime.now(UTC)
                bling.contacts[acme["id"]]["nome"] = "ACME Ferragens e Parafusos"
                bling.changed["contatos", acme["id"]] = bling.clock

    bling.after_first_page = edit_acme
    second = run(integration)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert counts(second)["Company"] == {}  # the page was read before the change
    time_machine.move_to(NOW + timedelta(minutes=30), tick=False)

    third = run(integration)

    assert third.status == RunStatus.SUCCEEDED, third.error
    # From when the second read started (10:15 UTC, less 5 minutes): the change made during it is read.
    assert lists_read(bling, "contatos")[-2:] == [("1", "2026-12-05 07:10:00"), ("2", "2026-12-05 07:10:00")]
    assert counts(third) == {"Company": {"read": 1, "updated": 1}, "Product": {}}
    assert companies()[ACME_CNPJ]["Name"] == "ACME Ferragens e Parafusos"
    patches = RequestLog.objects.filter(run=third, method="PATCH")
    assert [json.loads(log.request_body) for log in patches] == [{"Name": "ACME Ferragens e Parafusos"}]


def test_an_access_token_expiring_mid_run_is_refreshed_once_and_the_rotated_token_is_kept(integration, bling):
    authorized = Connection.objects.get(pk=integration.erp_connection_id).refresh_token
    assert authorized == bling.newest_refresh_token

    def expire(kind):  # six hours pass at Bling after the contacts' first page: the access token ends there
        if kind == "contatos" and bling.refreshes == 0:
            bling.advance(bling.token_lifetime + 1)

    bling.after_first_page = expire
    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, first.error
    assert companies() == expected_companies(bling)
    assert products() == expected_products(bling)
    assert bling.refreshes == 1
    kept = Connection.objects.get(pk=integration.erp_connection_id).refresh_token
    assert kept == bling.newest_refresh_token != authorized
    refused = RequestLog.objects.filter(run=first, status_code=401)
    assert [log.url.split("?")[0] for log in refused] == [f"{bling.url}/Api/v3/contatos"]


def test_a_company_the_crm_refuses_waits_in_the_review_queue_with_the_crm_s_words(integration, bling):
    wrong = "11222333000100"  # check digits typed wrong in Bling
    bling.seed_contact(changed=SEEDED, nome="Epsilon", numeroDocumento=wrong, tipo="J")

    first = run(integration)

    assert first.status == RunStatus.PARTIAL, first.error
    assert counts(first)["Company"] == {"read": 104, "created": 1, "updated": 1, "skipped": 101, "failed": 1}
    error = RecordError.objects.get(table__name="Company")
    assert error.record_key == str(bling_ids(bling)["Epsilon"])
    assert f"CNPJ {wrong} is not valid." in str(error.reason)
    assert error.payload["nome"] == "Epsilon"
    assert wrong not in companies()
    assert products() == expected_products(bling)


def test_bling_s_429_is_waited_out_not_a_failure(integration, bling):
    bling.rate_limit = 2  # two calls a second: the contacts' third page comes too soon after the first two

    first = run(integration)

    assert first.status == RunStatus.SUCCEEDED, first.error
    assert companies() == expected_companies(bling)
    assert products() == expected_products(bling)
    refused = RequestLog.objects.filter(run=first, status_code=429)
    assert refused.exists()
    assert all(log.url.startswith(bling.url) for log in refused)
    assert "Limite de requisições" in refused.first().response_body


def test_no_secret_reaches_a_request_log(integration, bling, crm):
    _crm_url, user_key = crm

    def expire(kind):
        if kind == "produtos" and bling.refreshes == 0:
            bling.advance(bling.token_lifetime + 1)

    bling.after_first_page = expire  # a refresh during the run: its answer is logged too
    run(integration)

    logs = list(RequestLog.objects.all())
    assert {log.operation for log in logs} >= {"token", "read"}
    secrets = [CLIENT_SECRET, user_key, *bling.refresh_tokens, *bling.access_tokens]
    secrets.append(base64.b64encode(f"{bling.client_id}:{CLIENT_SECRET}".encode()).decode())
    for log in logs:
        text = " ".join([log.url, json.dumps(log.request_headers), log.request_body, log.response_body, str(log.error)])
        assert not [secret for secret in secrets if secret in text], (log.method, log.url)
    assert any(log.request_headers.get("User-Key") == "[redacted]" for log in logs)


def test_a_run_that_fails_half_way_keeps_the_cursor_of_the_last_finished_read(integration, bling, time_machine):
    run(integration)
    time_machine.move_to(NOW + timedelta(minutes=15), tick=False)

    def remove_the_app(kind):  # the Bling user removes the app while the contacts are read
        if kind == "contatos":
            bling.revoke_all()

    bling.after_first_page = remove_the_app
    bling.seed_contact(nome="Zeta Ltda", numeroDocumento=make_cnpj(99887766), tipo="J", changed=NOW)
    bling.seed_contact(nome="Eta Ltda", numeroDocumento=make_cnpj(55443322), tipo="J", changed=NOW)
    with bling._lock:  # more than a page changed since the first run: the second page is asked for
        for key in list(bling.contacts):
            bling.changed["contatos", key] = NOW

    failed = run(integration)

    assert failed.status == RunStatus.FAILED
    assert str(failed.error) == (
        "Company: The authorization was revoked or has expired: press Authorize again on the connection."
    )
    company = integration.tables.get(name="Company")
    assert (company.cursor_value, company.resume_cursor) == ("2026-12-05 06:55:00", "2026-12-05 07:10:00")
