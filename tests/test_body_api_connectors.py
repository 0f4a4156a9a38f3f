"""Reads by POST with the page in the body, session login, credentials in the body, named columns and
write envelopes, against local servers that answer as Sankhya and Omie do."""

import datetime as dt
import json

import pytest

from sync.choices import AuthKind, Pagination
from sync.connectors import connector_for
from sync.connectors.base import ConnectionConfig, ConnectorError, ReadRequest
from tests.servers.batch_apis import FakeHubSpot
from tests.servers.omie_api import FakeOmie
from tests.servers.sankhya_api import FakeSankhya

SERVICE = "/mge/service.sbr?serviceName={}&outputType=json"
LOAD = "POST " + SERVICE.format("CRUDServiceProvider.loadRecords")
SAVE = "POST " + SERVICE.format("CRUDServiceProvider.saveRecord")
PARTNERS = {
    "serviceName": "CRUDServiceProvider.loadRecords",
    "requestBody": {
        "dataSet": {
            "rootEntity": "Parceiro",
            "includePresentationFields": "N",
            "offsetPage": "{page_index}",
            "entity": {"fieldset": {"list": "CODPARC,NOMEPARC,CGC_CPF,ATIVO,DTALTER"}},
        }
    },
}
CHANGED_SINCE = (
    '{"requestBody": {"dataSet": {"criteria": {"expression": {"$": "this.DTALTER > ?"}, '
    '"parameter": [{"$": "{cursor}", "type": "D"}]}}}}'
)
SAVE_PARTNER = {
    "serviceName": "CRUDServiceProvider.saveRecord",
    "requestBody": {
        "dataSet": {
            "rootEntity": "Parceiro",
            "includePresentationFields": "N",
            "dataRow": {"localFields": "{record}", "key": {"CODPARC": {"$": "{key}"}}},
            "entity": {"fieldset": {"list": "CODPARC,NOMEPARC,TIPPESSOA"}},
        }
    },
}


@pytest.fixture
def sankhya():
    with FakeSankhya(page_size=2) as server:
        yield server


@pytest.fixture
def omie():
    with FakeOmie() as server:
        yield server


def sankhya_config(server, **overrides):
    values = {
        "name": "Sankhya",
        "kind": "rest",
        "base_url": server.url,
        "auth_kind": AuthKind.SESSION,
        "username": server.user,
        "password": server.password,
        "login_path": "POST " + SERVICE.format("MobileLoginSP.login"),
        "login_body": {
            "serviceName": "MobileLoginSP.login",
            "requestBody": {"NOMUSU": {"$": "{username}"}, "INTERNO": {"$": "{password}"}, "KEEPCONNECTED": {"$": "S"}},
        },
        "pagination": Pagination.PAGE,
        "page_size": 2,
        "records_path": "responseBody.entities.entity",
        "column_names_path": "responseBody.entities.metadata.fields.field",
        "max_retries": 0,
        "backoff_seconds": 0,
    }
    return ConnectionConfig(**{**values, **overrides})


def omie_config(server, **overrides):
    values = {
        "name": "Omie",
        "kind": "rest",
        "base_url": f"{server.url}/api/v1",
        "auth_kind": AuthKind.BODY,
        "api_key": server.app_key,
        "password": server.app_secret,
        "body_credentials": {"app_key": "{api_key}", "app_secret": "{password}"},
        "pagination": Pagination.PAGE,
        "page_size": 2,
        "records_path": "clientes_cadastro",
        "max_retries": 2,
        "backoff_seconds": 0,
    }
    return ConnectionConfig(**{**values, **overrides})


def read_all(connector, request):
    records, token, calls = [], None, 0
    while True:
        page = connector.read_page(ReadRequest(**{**request.__dict__, "page_token": token}))
        records += page.records
        calls += 1
        token = page.next_token
        if token is None:
            return records, calls


def test_sankhya_rows_are_named_by_their_columns_page_by_page_after_one_login(sankhya):
    for code, name in ((1, "ACME LTDA"), (2, "BETA SA"), (3, "GAMA ME")):
        sankhya.add_partner(CODPARC=code, NOMEPARC=name, CGC_CPF=f"1234567800019{code}", ATIVO="S", TIPPESSOA="J")
    records, calls = read_all(connector_for(sankhya_config(sankhya)), ReadRequest(LOAD, arguments=PARTNERS))

    assert records == [
        {
            "CODPARC": "1",
            "NOMEPARC": "ACME LTDA",
            "CGC_CPF": "12345678000191",
            "ATIVO": "S",
            "DTALTER": "05/12/2026 10:00:00",
        },
        {
            "CODPARC": "2",
            "NOMEPARC": "BETA SA",
            "CGC_CPF": "12345678000192",
            "ATIVO": "S",
            "DTALTER": "05/12/2026 10:00:00",
        },
        {
            "CODPARC": "3",
            "NOMEPARC": "GAMA ME",
            "CGC_CPF": "12345678000193",
            "ATIVO": "S",
            "DTALTER": "05/12/2026 10:00:00",
        },
    ]
    # Pages 0 and 1 (the last one of a single row, sent as an object); hasMoreResult "false" ended the read.
    assert calls == 2
    assert sankhya.logins == 1
    offsets = [r.body for r in sankhya.received if "loadRecords" in r.query.get("serviceName", "")]
    assert ['"offsetPage":0' in body.replace(" ", "") for body in offsets] == [True, False]


def test_sankhya_incremental_read_places_the_cursor_in_the_criteria_and_reads_nothing_after_it(sankhya):
    sankhya.add_partner(CODPARC=1, NOMEPARC="OLD", TIPPESSOA="J", DTALTER=dt.datetime(2026, 12, 1, 8))
    sankhya.add_partner(CODPARC=2, NOMEPARC="NEW", TIPPESSOA="J", DTALTER=dt.datetime(2026, 12, 4, 9, 30))
    connector = connector_for(sankhya_config(sankhya))
    request = ReadRequest(LOAD, cursor="02/12/2026 00:00:00", incremental_filter=CHANGED_SINCE, arguments=PARTNERS)
    assert [r["NOMEPARC"] for r in read_all(connector, request)[0]] == ["NEW"]
    after = ReadRequest(LOAD, cursor="04/12/2026 09:30:00", incremental_filter=CHANGED_SINCE, arguments=PARTNERS)
    assert read_all(connector, after)[0] == []  # no row: the answer has no "entity" at all


def test_an_expired_session_logs_in_again_once_and_the_call_goes_on(sankhya):
    sankhya.add_partner(CODPARC=1, NOMEPARC="ACME", TIPPESSOA="J")
    connector = connector_for(sankhya_config(sankhya))
    connector.read_page(ReadRequest(LOAD, arguments=PARTNERS))
    sankhya.expire_sessions()
    page = connector.read_page(ReadRequest(LOAD, arguments=PARTNERS))
    assert page.records[0]["NOMEPARC"] == "ACME"
    assert sankhya.logins == 2


def gateway_config(server, **overrides):
    """Sankhya's API gateway: a client-credentials token whose call also carries the gateway's X-Token."""
    gateway = {
        "auth_kind": AuthKind.OAUTH2,
        "oauth_token_url": f"{server.url}/authenticate",
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "token_headers": {"X-Token": "{api_key}"},
        "api_key": server.x_token,
    }
    return sankhya_config(server, **{**gateway, **overrides})


def test_the_sankhya_gateway_token_call_carries_the_x_token_and_the_reads_carry_the_token(sankhya):
    sankhya.add_partner(CODPARC=1, NOMEPARC="ACME LTDA", ATIVO="S", TIPPESSOA="J")
    calls = []
    connector = connector_for(gateway_config(sankhya), call_log=calls.append)
    gateway_read = ReadRequest("POST /gateway/v1" + LOAD.removeprefix("POST "), arguments=PARTNERS)

    records, _pages = read_all(connector, gateway_read)

    assert [(record["CODPARC"], record["NOMEPARC"]) for record in records] == [("1", "ACME LTDA")]
    assert (sankhya.authentications, sankhya.logins) == (1, 0)
    [token_call] = [call for call in sankhya.received if call.path == "/authenticate"]
    assert token_call.headers["X-Token"] == sankhya.x_token
    assert all("X-Token" not in call.headers for call in sankhya.received if call.path != "/authenticate")
    logged = json.dumps([call.__dict__ for call in calls], default=str)
    assert sankhya.x_token not in logged and sankhya.client_secret not in logged


def test_a_wrong_x_token_fails_with_the_gateways_refusal(sankhya):
    connector = connector_for(gateway_config(sankhya, api_key="x-token-wrong"))
    with pytest.raises(ConnectorError) as refused:
        connector.read_page(ReadRequest("POST /gateway/v1" + LOAD.removeprefix("POST "), arguments=PARTNERS))
    assert str(refused.value) == (
        "The OAuth2 token endpoint answered 401 Unauthorized: check the client id and secret, and the credentials "
        "the token call's headers name (X-Token)."
    )
    assert refused.value.detail == "invalid_client"  # the gateway's own word
    assert sankhya.authentications == 0


def test_wrong_sankhya_credentials_fail_with_sankhyas_words_and_no_password_in_the_log(sankhya):
    calls = []
    connector = connector_for(sankhya_config(sankhya, password="wrong-password-1"), call_log=calls.append)
    with pytest.raises(ConnectorError) as failed:
        connector.read_page(ReadRequest(LOAD, arguments=PARTNERS))
    assert "Usuário/Senha inválido." in failed.value.message
    assert not failed.value.retryable
    assert calls and all("wrong-password-1" not in (c.request_body + c.url) for c in calls)


def test_sankhya_save_record_creates_then_updates_through_the_envelope(sankhya):
    connector = connector_for(sankhya_config(sankhya))
    record = {"NOMEPARC": {"$": "DELTA LTDA"}, "TIPPESSOA": {"$": "J"}}
    created = connector.create(SAVE, record, envelope=SAVE_PARTNER)
    assert created["NOMEPARC"] == "DELTA LTDA"
    code = created["CODPARC"]
    connector.update(SAVE, code, {"NOMEPARC": {"$": "DELTA COMERCIO LTDA"}}, envelope=SAVE_PARTNER)
    assert [(p["CODPARC"], p["NOMEPARC"], p["TIPPESSOA"]) for p in sankhya.partners()] == [
        (int(code), "DELTA COMERCIO LTDA", "J")
    ]


def test_a_record_sankhya_refuses_in_a_200_answer_is_a_record_level_error_with_its_words(sankhya):
    connector = connector_for(sankhya_config(sankhya))
    with pytest.raises(ConnectorError) as refused:
        connector.create(SAVE, {"TIPPESSOA": {"$": "J"}}, envelope=SAVE_PARTNER)
    assert refused.value.record_level
    assert "NOMEPARC" in refused.value.message
    assert sankhya.partners() == []


OMIE_CHANGED_SINCE = '{"param[0].filtrar_por_data_de": "{cursor}", "param[0].filtrar_apenas_alteracao": "S"}'


def omie_clients_request(**changes):
    page = {"pagina": "{page}", "registros_por_pagina": "{page_size}", "apenas_importado_api": "N"}
    arguments = {"call": "ListarClientes", "param": [page]}
    return ReadRequest("POST /geral/clientes/", arguments=arguments, **changes)


def test_omie_reads_every_page_with_the_keys_in_the_body_and_never_logs_the_secret(omie):
    for n in range(1, 6):
        omie.add_client(codigo_cliente_integracao=f"C{n}", razao_social=f"Cliente {n}", cnpj_cpf="11.222.333/0001-81")
    calls = []
    records, pages = read_all(connector_for(omie_config(omie), call_log=calls.append), omie_clients_request())
    assert [r["codigo_cliente_integracao"] for r in records] == ["C1", "C2", "C3", "C4", "C5"]
    assert isinstance(records[0]["codigo_cliente_omie"], int)
    assert pages == 3  # 2 + 2 + 1: total_de_registros says when to stop, no call past the last page
    assert all(omie.app_secret not in c.request_body and omie.app_key not in c.request_body for c in calls)
    assert '"pagina": 3' in calls[-1].request_body


def test_one_omie_connection_reads_clients_and_products_at_each_tables_own_records_path(omie):
    omie.add_client(codigo_cliente_integracao="C1", razao_social="Cliente 1")
    omie.add_product(codigo="P-1", descricao="Parafuso", valor_unitario=1.5)
    omie.add_product(codigo="P-2", descricao="Porca", valor_unitario=0.25)
    connector = connector_for(omie_config(omie, records_path=""))
    products = ReadRequest(
        "POST /geral/produtos/",
        arguments={"call": "ListarProdutos", "param": [{"pagina": "{page}", "registros_por_pagina": "{page_size}"}]},
        records_path="produto_servico_cadastro",
    )

    clients, _pages = read_all(connector, omie_clients_request(records_path="clientes_cadastro"))
    items, pages = read_all(connector, products)

    assert [client["razao_social"] for client in clients] == ["Cliente 1"]
    assert [(item["codigo"], item["valor_unitario"]) for item in items] == [("P-1", 1.5), ("P-2", 0.25)]
    assert pages == 1  # total_de_registros beside the table's records says there is no second page
    with pytest.raises(ConnectorError) as no_path:  # without a path of its own, the connection's (none) is used
        connector.read_page(omie_clients_request())
    assert "not a list of records" in no_path.value.message


def test_an_omie_filter_matching_nothing_is_an_empty_read_not_a_failure(omie):
    omie.add_client(codigo_cliente_integracao="C1", razao_social="Velho", info={"dAlt": "01/12/2026"})
    request = omie_clients_request(cursor="04/12/2026", incremental_filter=OMIE_CHANGED_SINCE)
    calls = []
    records, _pages = read_all(connector_for(omie_config(omie), call_log=calls.append), request)
    assert records == []
    assert len(calls) == 1  # the fault 5113 is not retried
    assert '"filtrar_por_data_de":"04/12/2026"' in calls[0].request_body.replace(" ", "")


def test_omie_upsert_client_is_keyed_by_the_integration_code_and_a_refusal_is_not_retried(omie):
    connector = connector_for(omie_config(omie))
    envelope = {"call": "UpsertCliente", "param": ["{record}"]}
    record = {"codigo_cliente_integracao": "P-7", "razao_social": "Ploomes Cliente", "cnpj_cpf": "11.222.333/0001-81"}
    answer = connector.create("/geral/clientes/", record, envelope=envelope)
    assert answer["descricao_status"] == "Cliente cadastrado com sucesso!"
    connector.update(
        "/geral/clientes/", str(answer["codigo_cliente_omie"]), {**record, "razao_social": "Novo"}, envelope=envelope
    )
    assert omie.client("P-7")["razao_social"] == "Novo"
    assert len(omie.clients()) == 1

    calls = []
    connector = connector_for(omie_config(omie), call_log=calls.append)
    with pytest.raises(ConnectorError) as refused:
        connector.create("/geral/clientes/", {**record, "xpto": "1"}, envelope=envelope)
    assert refused.value.record_level and not refused.value.retryable
    assert "xpto" in refused.value.message.lower()
    assert len(calls) == 1


def test_wrong_omie_keys_stop_the_read_with_omies_words(omie):
    with pytest.raises(ConnectorError) as refused:
        connector_for(omie_config(omie, password="not-the-secret")).read_page(omie_clients_request())
    assert "chave de acesso" in refused.value.message
    assert not refused.value.record_level


def test_one_record_answered_bare_is_read_although_listings_keep_their_records_under_a_path():
    with FakeHubSpot(token="pat-na1-test") as hubspot:
        company = hubspot.seed_object("companies", {"name": "ACME", "city": "Recife"})
        config = ConnectionConfig(
            name="HubSpot",
            kind="rest",
            base_url=hubspot.url,
            auth_kind=AuthKind.BEARER,
            token="pat-na1-test",
            pagination=Pagination.CURSOR,
            page_parameter="after",
            next_path="paging.next.after",
            records_path="results",
        )
        connector = connector_for(config)
        found = connector.get("/crm/v3/objects/companies/{id}", company)
        listed = connector.read_page(ReadRequest("/crm/v3/objects/companies", arguments={"properties": "name,city"}))
    assert (found["id"], found["properties"]["name"]) == (company, "ACME")
    assert [(r["id"], r["properties"]["city"]) for r in listed.records] == [(company, "Recife")]
