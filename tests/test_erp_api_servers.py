"""The Sankhya and Omie test servers answer as the real APIs do: each route, each refusal, paging, session expiry."""

import threading
import time
from datetime import datetime
from decimal import Decimal

import pytest
import requests

from tests.servers.omie_api import FakeOmie
from tests.servers.sankhya_api import FakeSankhya

T0 = datetime(2026, 12, 5, 10, 0, 0)
VALID_CNPJ = "11.222.333/0001-81"


@pytest.fixture
def sankhya():
    with FakeSankhya(now=T0) as server:
        yield server


@pytest.fixture
def omie():
    with FakeOmie(now=T0) as server:
        yield server


# --- Sankhya ---------------------------------------------------------------------------------------------------


def call(server, service, request_body, *, session=None, path="/mge/service.sbr", headers=None):
    params = {"serviceName": service, "outputType": "json"}
    if session:
        params["mgeSession"] = session
    response = requests.post(
        f"{server.url}{path}",
        params=params,
        json={"serviceName": service, "requestBody": request_body},
        headers=headers,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["serviceName"] == service
    assert answer["pendingPrinting"] == "false"
    assert answer["transactionId"]
    return answer


def login(server, password=None) -> str:
    answer = call(
        server,
        "MobileLoginSP.login",
        {"NOMUSU": {"$": server.user}, "INTERNO": {"$": password or server.password}, "KEEPCONNECTED": {"$": "S"}},
    )
    assert answer["status"] == "1", answer
    return answer["responseBody"]["jsessionid"]["$"]


def load(server, session, entity="Parceiro", fields="CODPARC,NOMEPARC", page=0, criteria=None, **kwargs):
    data_set = {
        "rootEntity": entity,
        "includePresentationFields": "N",
        "offsetPage": page,
        "entity": {"fieldset": {"list": fields}},
    }
    if criteria:
        data_set["criteria"] = criteria
    return call(server, "CRUDServiceProvider.loadRecords", {"dataSet": data_set}, session=session, **kwargs)


def save(server, session, local_fields, *, key=None, entity="Parceiro", fields="CODPARC,NOMEPARC,DTALTER"):
    row = {"localFields": local_fields}
    if key:
        row["key"] = key
    data_set = {"rootEntity": entity, "includePresentationFields": "N", "dataRow": row}
    data_set["entity"] = {"fieldset": {"list": fields}}
    return call(server, "CRUDServiceProvider.saveRecord", {"dataSet": data_set}, session=session)


def test_sankhya_login_gives_a_session_cookie_and_refuses_a_wrong_password(sankhya):
    response = requests.post(
        f"{sankhya.url}/mge/service.sbr",
        params={"serviceName": "MobileLoginSP.login", "outputType": "json"},
        json={
            "serviceName": "MobileLoginSP.login",
            "requestBody": {"NOMUSU": {"$": sankhya.user}, "INTERNO": {"$": sankhya.password}},
        },
        timeout=5,
    )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "1"
    session = body["responseBody"]["jsessionid"]["$"]
    assert response.headers["Set-Cookie"] == f"JSESSIONID={session}; Path=/mge"
    assert body["responseBody"]["idusu"] == {"$": "0"}
    assert body["responseBody"]["callID"]["$"] and body["responseBody"]["kID"]["$"]

    refused = call(sankhya, "MobileLoginSP.login", {"NOMUSU": {"$": sankhya.user}, "INTERNO": {"$": "wrong"}})
    assert (refused["status"], refused["statusMessage"]) == ("0", "Usuário/Senha inválido.")
    assert sankhya.logins == 1
    assert [(r.path, r.query["serviceName"]) for r in sankhya.calls("MobileLoginSP.login")] == [
        ("/mge/service.sbr", "MobileLoginSP.login")
    ] * 2


def test_sankhya_services_need_the_session_by_cookie_or_query(sankhya):
    sankhya.add_partner(NOMEPARC="ACME", TIPPESSOA="J")
    anonymous = load(sankhya, None)
    assert (anonymous["status"], anonymous["statusMessage"]) == ("3", "Não autorizado.")

    with requests.Session() as browser:
        browser.post(
            f"{sankhya.url}/mge/service.sbr?serviceName=MobileLoginSP.login&outputType=json",
            json={"requestBody": {"NOMUSU": {"$": sankhya.user}, "INTERNO": {"$": sankhya.password}}},
            timeout=5,
        )
        by_cookie = browser.post(
            f"{sankhya.url}/mge/service.sbr?serviceName=CRUDServiceProvider.loadRecords&outputType=json",
            json={"requestBody": {"dataSet": {"rootEntity": "Parceiro", "entity": {"fieldset": {"list": "NOMEPARC"}}}}},
            timeout=5,
        ).json()
    assert by_cookie["status"] == "1"
    assert by_cookie["responseBody"]["entities"]["entity"] == {"f0": {"$": "ACME"}}
    assert by_cookie["responseBody"]["entities"]["metadata"]["fields"]["field"] == {"name": "NOMEPARC"}


def test_sankhya_pages_rows_as_positional_columns_one_row_as_an_object(sankhya):
    sankhya.page_size = 2
    for code in (3, 1, 5, 2, 4):
        sankhya.add_partner(
            CODPARC=code, NOMEPARC=f"P{code}", TIPPESSOA="J", EMAIL=None, DTALTER=datetime(2026, 12, code, 8, 30)
        )
    session = login(sankhya)

    first = load(sankhya, session, fields="CODPARC,NOMEPARC,EMAIL,DTALTER")["responseBody"]["entities"]
    assert first["total"] == "5" and first["hasMoreResult"] == "true"
    assert (first["offsetPage"], first["offset"]) == ("0", "0")
    assert first["metadata"]["fields"]["field"] == [
        {"name": "CODPARC"},
        {"name": "NOMEPARC"},
        {"name": "EMAIL"},
        {"name": "DTALTER"},
    ]
    assert first["entity"] == [
        {"f0": {"$": "1"}, "f1": {"$": "P1"}, "f2": {}, "f3": {"$": "01/12/2026 08:30:00"}},
        {"f0": {"$": "2"}, "f1": {"$": "P2"}, "f2": {}, "f3": {"$": "02/12/2026 08:30:00"}},
    ]

    last = load(sankhya, session, page="2")["responseBody"]["entities"]
    assert last["hasMoreResult"] == "false" and (last["offsetPage"], last["offset"]) == ("2", "4")
    assert last["entity"] == {"f0": {"$": "5"}, "f1": {"$": "P5"}}

    past = load(sankhya, session, page=3)["responseBody"]["entities"]
    assert "entity" not in past and past["total"] == "5" and past["hasMoreResult"] == "false"


def test_sankhya_criteria_compare_typed_parameters(sankhya):
    sankhya.add_product(DESCRPROD="Parafuso", CODVOL="UN", PESOBRUTO=Decimal("10.50"), DTALTER=datetime(2026, 12, 4))
    sankhya.add_product(DESCRPROD="Porca", CODVOL="UN", PESOBRUTO=Decimal("2"), DTALTER=datetime(2026, 12, 5, 9))
    sankhya.add_product(DESCRPROD="Arruela", CODVOL="CX", PESOBRUTO=None, DTALTER=datetime(2026, 12, 5, 11))
    session = login(sankhya)
    fields = "CODPROD,DESCRPROD,PESOBRUTO"

    since = {"expression": {"$": "this.DTALTER > ?"}, "parameter": [{"$": "05/12/2026", "type": "D"}]}
    rows = load(sankhya, session, "Produto", fields, criteria=since)["responseBody"]["entities"]["entity"]
    assert rows == [
        {"f0": {"$": "2"}, "f1": {"$": "Porca"}, "f2": {"$": "2"}},
        {"f0": {"$": "3"}, "f1": {"$": "Arruela"}, "f2": {}},
    ]

    both = {
        "expression": {"$": "this.DTALTER >= ? AND this.PESOBRUTO <= ? AND this.CODVOL = ?"},
        "parameter": [
            {"$": "04/12/2026 00:00:00", "type": "D"},
            {"$": "10.5", "type": "F"},
            {"$": "UN", "type": "S"},
        ],
    }
    entities = load(sankhya, session, "Produto", fields, criteria=both)["responseBody"]["entities"]
    assert entities["total"] == "2"
    assert [row["f2"] for row in entities["entity"]] == [{"$": "10.5"}, {"$": "2"}]

    by_code = {"expression": {"$": "this.CODPROD = ?"}, "parameter": {"$": "3", "type": "I"}}
    one = load(sankhya, session, "Produto", fields, criteria=by_code)["responseBody"]["entities"]["entity"]
    assert one == {"f0": {"$": "3"}, "f1": {"$": "Arruela"}, "f2": {}}


@pytest.mark.parametrize(
    ("entity", "fields", "criteria", "message"),
    [
        ("Parceiro", "CODPARC,XPTO", None, "Campo inexistente: XPTO"),
        (
            "Parceiro",
            "CODPARC",
            {"expression": {"$": "this.NADA > ?"}, "parameter": [{"$": "1", "type": "I"}]},
            "Campo inexistente: NADA",
        ),
        (
            "Parceiro",
            "CODPARC",
            {"expression": {"$": "this.DTALTER > ?"}, "parameter": [{"$": "2026-12-05", "type": "D"}]},
            'Data inválida: "2026-12-05"',
        ),
        ("Cliente", "CODPARC", None, "Entidade não encontrada: Cliente"),
    ],
)
def test_sankhya_read_refusals_are_status_0_in_a_200(sankhya, entity, fields, criteria, message):
    answer = load(sankhya, login(sankhya), entity, fields, criteria=criteria)
    assert (answer["status"], answer["statusMessage"]) == ("0", message)
    assert "responseBody" not in answer


def test_sankhya_save_creates_and_updates_stamping_the_clock(sankhya):
    sankhya.add_partner(CODPARC=7, NOMEPARC="Existing", TIPPESSOA="F")
    session = login(sankhya)

    created = save(
        sankhya,
        session,
        {"NOMEPARC": {"$": "Nova Ltda"}, "TIPPESSOA": {"$": "J"}, "CGC_CPF": {"$": "11222333000181"}, "EMAIL": {}},
    )
    assert created["status"] == "1", created
    assert created["responseBody"]["entities"] == {
        "total": "1",
        "entity": {"CODPARC": {"$": "8"}, "NOMEPARC": {"$": "Nova Ltda"}, "DTALTER": {"$": "05/12/2026 10:00:00"}},
    }
    assert sankhya.partner(8) == {
        "CODPARC": 8,
        "NOMEPARC": "Nova Ltda",
        "RAZAOSOCIAL": None,
        "TIPPESSOA": "J",
        "CGC_CPF": "11222333000181",
        "EMAIL": None,
        "TELEFONE": None,
        "ATIVO": None,
        "CLIENTE": None,
        "DTALTER": T0,
    }

    sankhya.advance(minutes=5)
    updated = save(sankhya, session, {"EMAIL": {"$": "a@b.example"}}, key={"CODPARC": {"$": "7"}})
    assert updated["status"] == "1", updated
    assert updated["responseBody"]["entities"]["entity"]["DTALTER"] == {"$": "05/12/2026 10:05:00"}
    held = sankhya.partner(7)
    assert (held["NOMEPARC"], held["EMAIL"]) == ("Existing", "a@b.example")
    assert held["DTALTER"] == datetime(2026, 12, 5, 10, 5)

    weight = save(
        sankhya,
        session,
        {"DESCRPROD": {"$": "Parafuso"}, "CODVOL": {"$": "UN"}, "PESOBRUTO": {"$": "0.25"}},
        entity="Produto",
        fields="*",
    )
    assert weight["responseBody"]["entities"]["entity"]["PESOBRUTO"] == {"$": "0.25"}
    assert sankhya.product(1)["PESOBRUTO"] == Decimal("0.25")


@pytest.mark.parametrize(
    ("local_fields", "key", "entity", "message"),
    [
        ({"TIPPESSOA": {"$": "J"}}, None, "Parceiro", "Campo obrigatório não informado: NOMEPARC"),
        ({"NOMEPARC": {"$": "X"}}, {"CODPARC": {"$": "99"}}, "Parceiro", "Registro não encontrado"),
        ({"NOMEPARC": {"$": "X"}, "XPTO": {"$": "1"}}, None, "Parceiro", "Campo inexistente: XPTO"),
        ({"NOMEPARC": "X", "TIPPESSOA": {"$": "J"}}, None, "Parceiro", None),
        ({"DESCRPROD": {"$": "P"}, "CODVOL": {"$": "UN"}, "PESOBRUTO": {"$": "pesado"}}, None, "Produto", None),
        ({"DESCRPROD": {"$": "P"}}, None, "Produto", "Campo obrigatório não informado: CODVOL"),
    ],
)
def test_sankhya_save_refusals_write_nothing(sankhya, local_fields, key, entity, message):
    answer = save(sankhya, login(sankhya), local_fields, key=key, entity=entity, fields="")
    assert answer["status"] == "0"
    if message:
        assert answer["statusMessage"] == message
    else:  # the field is named in the message
        assert ("NOMEPARC" if entity == "Parceiro" else "PESOBRUTO") in answer["statusMessage"]
    assert sankhya.partners() == [] and sankhya.products() == []


def test_sankhya_expired_or_ended_sessions_answer_status_3_until_a_new_login(sankhya):
    session = login(sankhya)
    assert load(sankhya, session)["status"] == "1"
    sankhya.expire_sessions()
    assert load(sankhya, session)["status"] == "3"

    session = login(sankhya)
    assert load(sankhya, session)["status"] == "1"
    assert sankhya.logins == 2

    assert call(sankhya, "MobileLoginSP.logout", {}, session=session)["status"] == "1"
    assert load(sankhya, session)["statusMessage"] == "Não autorizado."
    unknown = call(sankhya, "NadaSP.nada", {}, session=login(sankhya))
    assert (unknown["status"], unknown["statusMessage"]) == ("0", "Serviço não encontrado: NadaSP.nada")


def test_sankhya_gateway_takes_a_bearer_token_that_lives_300_seconds(sankhya):
    sankhya.add_partner(NOMEPARC="ACME", TIPPESSOA="J")
    form = {"grant_type": "client_credentials", "client_id": sankhya.client_id, "client_secret": sankhya.client_secret}

    x_token = {"X-Token": sankhya.x_token}
    url = f"{sankhya.url}/authenticate"
    wrong = requests.post(url, data={**form, "client_secret": "x"}, headers=x_token, timeout=5)
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    no_x_token = requests.post(f"{sankhya.url}/authenticate", data=form, timeout=5)
    assert no_x_token.status_code == 401

    granted = requests.post(f"{sankhya.url}/authenticate", data=form, headers={"X-Token": sankhya.x_token}, timeout=5)
    token = granted.json()
    assert granted.status_code == 200
    assert (token["expires_in"], token["token_type"]) == (300, "Bearer") and token["access_token"]

    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    rows = load(sankhya, None, fields="NOMEPARC", path="/gateway/v1/mge/service.sbr", headers=bearer)
    assert rows["responseBody"]["entities"]["entity"] == {"f0": {"$": "ACME"}}
    assert load(sankhya, None, path="/gateway/v1/mge/service.sbr")["status"] == "3"

    sankhya.advance(seconds=300)
    expired = load(sankhya, None, path="/gateway/v1/mge/service.sbr", headers=bearer)
    assert (expired["status"], expired["statusMessage"]) == ("3", "Não autorizado.")
    assert (sankhya.authentications, sankhya.logins) == (1, 0)


# --- Omie ------------------------------------------------------------------------------------------------------


def omie_call(server, service, method, param, **credentials):
    body = {"call": method, "app_key": server.app_key, "app_secret": server.app_secret, "param": [param]}
    body.update(credentials)
    return requests.post(f"{server.url}/api/v1/geral/{service}/", json=body, timeout=10)


def fault(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["faultcode"], body["faultstring"]


@pytest.mark.parametrize("credentials", [{"app_key": "x"}, {"app_secret": "x"}, {"app_key": None}])
def test_omie_refuses_a_wrong_or_missing_key_with_a_500(omie, credentials):
    response = omie_call(omie, "clientes", "ListarClientes", {"pagina": 1}, **credentials)
    assert fault(response) == (
        500,
        "SOAP-ENV:Client-101",
        "ERROR: A chave de acesso não está preenchida ou não é válida!",
    )


def test_omie_lists_clients_by_page_and_a_page_past_the_last_is_an_error(omie):
    for number in range(1, 6):
        omie.add_client(codigo_cliente_integracao=f"C{number}", razao_social=f"Cliente {number}", estado="SP")
    page = omie_call(omie, "clientes", "ListarClientes", {"pagina": 3, "registros_por_pagina": 2})
    answer = page.json()
    assert page.status_code == 200
    assert {k: answer[k] for k in ("pagina", "total_de_paginas", "registros", "total_de_registros")} == {
        "pagina": 3,
        "total_de_paginas": 3,
        "registros": 1,
        "total_de_registros": 5,
    }
    [client] = answer["clientes_cadastro"]
    assert client["codigo_cliente_integracao"] == "C5" and client["razao_social"] == "Cliente 5"
    assert (client["estado"], client["inativo"], client["cnpj_cpf"]) == ("SP", "N", "")
    assert client["info"] == {
        "dInc": "05/12/2026",
        "hInc": "10:00:00",
        "dAlt": "05/12/2026",
        "hAlt": "10:00:00",
        "uInc": "OMIE",
        "uAlt": "OMIE",
        "cImpAPI": "N",
    }

    past = omie_call(omie, "clientes", "ListarClientes", {"pagina": 4, "registros_por_pagina": 2})
    assert fault(past) == (500, "SOAP-ENV:Client-5113", "ERROR: Não existem registros para a página [4]!")


def test_omie_filters_by_change_date_inclusive_and_nothing_matching_is_an_error(omie):
    omie.add_client(codigo_cliente_integracao="OLD", razao_social="Old", info={"dAlt": "01/12/2026"})
    omie.add_client(codigo_cliente_integracao="EDGE", razao_social="Edge", info={"dAlt": "03/12/2026"})
    omie.add_client(codigo_cliente_integracao="NEW", razao_social="New")
    since = {"pagina": 1, "filtrar_por_data_de": "03/12/2026", "filtrar_apenas_alteracao": "S"}
    answer = omie_call(omie, "clientes", "ListarClientes", since).json()
    assert [c["codigo_cliente_integracao"] for c in answer["clientes_cadastro"]] == ["EDGE", "NEW"]

    future = omie_call(omie, "clientes", "ListarClientes", {**since, "filtrar_por_data_de": "06/12/2026"})
    assert fault(future) == (500, "SOAP-ENV:Client-5113", "ERROR: Não existem registros para a página [1]!")


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ({"pagina": "1", "registros_por_pagina": 50}, "Tag [PAGINA] com valor inválido"),
        ({"pagina": 1, "registros_por_pagina": 501}, "[501]"),
        ({"pagina": 1, "filtrar_por_data_de": "2026-12-01"}, "[FILTRAR_POR_DATA_DE] com data inválida"),
    ],
)
def test_omie_refuses_bad_paging_params(omie, param, words):
    omie.add_client(codigo_cliente_integracao="C1", razao_social="Cliente")
    status, _code, message = fault(omie_call(omie, "clientes", "ListarClientes", param))
    assert status == 500 and message.startswith("ERROR: ") and words in message


def test_omie_upsert_creates_then_updates_by_integration_code(omie):
    created = omie_call(
        omie,
        "clientes",
        "UpsertCliente",
        {"codigo_cliente_integracao": "ERP-1", "razao_social": "Nova Ltda", "cnpj_cpf": "11222333000181"},
    )
    assert created.status_code == 200
    code = created.json()["codigo_cliente_omie"]
    assert created.json() == {
        "codigo_cliente_omie": code,
        "codigo_cliente_integracao": "ERP-1",
        "codigo_status": "0",
        "descricao_status": "Cliente cadastrado com sucesso!",
    }

    omie.advance(days=1, hours=2)
    updated = omie_call(
        omie, "clientes", "UpsertCliente", {"codigo_cliente_integracao": "ERP-1", "razao_social": "Nova S.A."}
    )
    assert updated.json()["descricao_status"] == "Cliente alterado com sucesso!"
    assert updated.json()["codigo_cliente_omie"] == code
    [held] = omie.clients()
    assert (held["razao_social"], held["cnpj_cpf"]) == ("Nova S.A.", VALID_CNPJ)
    assert held["info"]["dInc"] == "05/12/2026" and held["info"]["cImpAPI"] == "S"
    assert (held["info"]["dAlt"], held["info"]["hAlt"]) == ("06/12/2026", "12:00:00")

    found = omie_call(omie, "clientes", "ConsultarCliente", {"codigo_cliente_integracao": "ERP-1"})
    assert found.status_code == 200 and found.json() == held
    by_code = omie_call(omie, "clientes", "ConsultarCliente", {"codigo_cliente_omie": code})
    assert by_code.json()["codigo_cliente_integracao"] == "ERP-1"
    missing = omie_call(omie, "clientes", "ConsultarCliente", {"codigo_cliente_integracao": "X"})
    assert fault(missing)[0] == 500
    assert fault(missing)[2] == "ERROR: Cliente não cadastrado para o Código de Integração [X] !"


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"codigo_cliente_integracao": "A"}, "ERROR: Tag [RAZAO_SOCIAL] obrigatória não informada!"),
        (
            {"codigo_cliente_integracao": "A", "razao_social": "A", "xpto": "1"},
            "ERROR: Tag [XPTO] não faz parte da estrutura do tipo complexo [clientes_cadastro]!",
        ),
        (
            {"codigo_cliente_integracao": "A", "razao_social": "A", "cnpj_cpf": "11.222.333/0001-82"},
            "ERROR: O CNPJ/CPF informado [11.222.333/0001-82] não é válido!",
        ),
    ],
)
def test_omie_upsert_refusals_write_nothing(omie, param, message):
    status, _code, faultstring = fault(omie_call(omie, "clientes", "UpsertCliente", param))
    assert (status, faultstring) == (500, message)
    assert omie.clients() == []


def test_omie_lists_products_and_refuses_an_unknown_method(omie):
    omie.add_product(codigo_produto_integracao="P1", codigo="SKU-1", descricao="Parafuso", unidade="UN")
    omie.add_product(codigo="SKU-2", descricao="Porca", unidade="CX", valor_unitario=2.5, ncm="7318.16.00")
    answer = omie_call(omie, "produtos", "ListarProdutos", {"pagina": 1, "registros_por_pagina": 50}).json()
    assert answer["total_de_registros"] == 2
    second = answer["produto_servico_cadastro"][1]
    assert (second["codigo"], second["descricao"], second["unidade"]) == ("SKU-2", "Porca", "CX")
    assert (second["valor_unitario"], second["ncm"], second["inativo"]) == (2.5, "7318.16.00", "N")
    assert second["info"]["dAlt"] == "05/12/2026"

    unknown = omie_call(omie, "produtos", "ListarClientes", {"pagina": 1})
    assert fault(unknown)[0] == 500 and "Method [ListarClientes] não existe" in fault(unknown)[2]


def test_omie_refuses_a_fifth_simultaneous_call_of_one_method(omie):
    omie.add_client(codigo_cliente_integracao="C1", razao_social="Cliente")
    omie.latency = 2.5
    statuses = []

    def list_clients():
        statuses.append(omie_call(omie, "clientes", "ListarClientes", {"pagina": 1}).status_code)

    threads = [threading.Thread(target=list_clients) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while omie.running["ListarClientes"] < 4:
            assert time.monotonic() < deadline, "the four calls never ran together"
            time.sleep(0.01)
        fifth = omie_call(omie, "clientes", "ListarClientes", {"pagina": 1})
        other_method = omie_call(omie, "clientes", "ConsultarCliente", {"codigo_cliente_integracao": "C1"})
    finally:
        for thread in threads:
            thread.join(timeout=10)
    status, code, message = fault(fifth)
    assert (status, code) == (500, "SOAP-ENV:Client-1880")
    assert message.startswith("ERROR: Já existe uma requisição desse método sendo executada")
    assert other_method.status_code == 200
    assert statuses == [200, 200, 200, 200]
