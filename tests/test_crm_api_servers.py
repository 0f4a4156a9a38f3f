"""The local Bling v3 and HubSpot servers answer as the real APIs do: each route, each refusal, paging."""

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.servers.batch_apis import FakeHubSpot
from tests.servers.bling_api import FakeBling

HUBSPOT_TOKEN = "pat-na1-0e2d5c11-reads"
MOMENT = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
CNPJ = "11.222.333/0001-81"  # check digits valid
CPF = "529.982.247-25"


@pytest.fixture
def bling():
    with FakeBling(rate_limit=0, clock=MOMENT) as server:
        yield server


@pytest.fixture
def hubspot():
    with FakeHubSpot(token=HUBSPOT_TOKEN, clock=MOMENT) as server:
        yield server


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def token_call(api: FakeBling, form: dict, secret: str | None = None) -> requests.Response:
    headers = basic(api.client_id, secret or api.client_secret)
    return requests.post(api.token_url, data=form, headers=headers, timeout=5)


# --- Bling: OAuth2 authorization code with rotating refresh tokens --------------------------------------------


def test_bling_consent_redirects_with_a_code_that_works_once(bling):
    consent = requests.get(
        bling.authorize_url,
        params={"response_type": "code", "client_id": bling.client_id, "state": "xyz-1"},
        allow_redirects=False,
        timeout=5,
    )
    assert consent.status_code == 302
    location = urlsplit(consent.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == bling.redirect_uri
    answer = parse_qs(location.query)
    assert answer["state"] == ["xyz-1"]

    granted = token_call(bling, {"grant_type": "authorization_code", "code": answer["code"][0]})
    assert granted.status_code == 200
    tokens = granted.json()
    assert set(tokens) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert (tokens["expires_in"], tokens["token_type"], tokens["scope"]) == (21600, "Bearer", bling.scope)
    assert requests.get(f"{bling.url}/Api/v3/contatos", headers=bearer(tokens["access_token"]), timeout=5).ok

    again = token_call(bling, {"grant_type": "authorization_code", "code": answer["code"][0]})
    assert again.status_code == 400
    assert again.json()["error"]["type"] == "invalid_grant"
    assert again.json()["error"]["description"] == "Authorization code doesn't exist or is invalid for the client"


def test_bling_consent_refusals(bling):
    unknown = requests.get(
        bling.authorize_url, params={"response_type": "code", "client_id": "other", "state": "s"}, timeout=5
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["type"] == "invalid_client"

    bling.deny_consent = True
    denied = requests.get(
        bling.authorize_url,
        params={"response_type": "code", "client_id": bling.client_id, "state": "s2"},
        allow_redirects=False,
        timeout=5,
    )
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
        "error": ["access_denied"],
        "error_description": ["The user denied access"],
        "state": ["s2"],
    }


def test_bling_code_expires_after_a_minute_and_a_wrong_secret_is_refused(bling):
    code = bling.issue_code()
    wrong = token_call(bling, {"grant_type": "authorization_code", "code": code}, secret="not-it")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "invalid_client"
    bling.advance(61)
    late = token_call(bling, {"grant_type": "authorization_code", "code": code})
    assert late.status_code == 400
    assert late.json()["error"]["description"] == "The authorization code has expired"
    odd = token_call(bling, {"grant_type": "password", "username": "x"})
    assert (odd.status_code, odd.json()["error"]["type"]) == (400, "unsupported_grant_type")


def test_bling_refresh_rotates_and_the_old_refresh_token_stops_working(bling):
    first = bling.issue_tokens()
    refreshed = token_call(bling, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert bling.refreshes == 1
    assert bling.refresh_tokens == [first["refresh_token"], second["refresh_token"]]
    assert bling.newest_refresh_token == second["refresh_token"]

    reused = token_call(bling, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400
    assert reused.json() == {
        "error": {"type": "invalid_grant", "message": "invalid_grant", "description": "Invalid refresh token"}
    }
    assert bling.refreshes == 1


def test_bling_access_token_expires_and_revoking_the_app_ends_every_token(bling):
    tokens = bling.issue_tokens()
    url = f"{bling.url}/Api/v3/contatos"
    assert requests.get(url, headers=bearer(tokens["access_token"]), timeout=5).status_code == 200
    bling.advance(21600)
    expired = requests.get(url, headers=bearer(tokens["access_token"]), timeout=5)
    assert expired.status_code == 401
    assert expired.json()["error"] == {
        "type": "invalid_token",
        "message": "invalid_token",
        "description": "The access token provided has expired",
    }
    unknown = requests.get(url, headers=bearer("made-up"), timeout=5)
    assert unknown.json()["error"]["description"] == "The access token provided is invalid"

    fresh = token_call(bling, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    assert requests.get(url, headers=bearer(fresh["access_token"]), timeout=5).status_code == 200
    bling.revoke_all()
    assert requests.get(url, headers=bearer(fresh["access_token"]), timeout=5).status_code == 401
    gone = token_call(bling, {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]})
    assert gone.json()["error"]["type"] == "invalid_grant"


def test_bling_rate_limit_refuses_the_fourth_call_within_a_second():
    with FakeBling(clock=MOMENT) as api:
        headers = bearer(api.issue_tokens()["access_token"])
        statuses = [requests.get(f"{api.url}/Api/v3/produtos", headers=headers, timeout=5) for _ in range(8)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.json()["error"]["type"] == "TOO_MANY_REQUESTS"


# --- Bling: contacts and products -------------------------------------------------------------------------------


def test_bling_contacts_page_without_a_total(bling):
    for number in range(1, 6):
        bling.seed_contact(nome=f"Cliente {number}", codigo=f"C{number}", numeroDocumento=CNPJ, telefone="1133334444")
    headers = bearer(bling.issue_tokens()["access_token"])
    url = f"{bling.url}/Api/v3/contatos"

    pages = [
        requests.get(url, params={"pagina": n, "limite": 2}, headers=headers, timeout=5).json() for n in (1, 2, 3, 4)
    ]
    assert all(set(page) == {"data"} for page in pages)
    assert [[c["codigo"] for c in page["data"]] for page in pages] == [["C1", "C2"], ["C3", "C4"], ["C5"], []]
    first = pages[0]["data"][0]
    assert first == {
        "id": first["id"],
        "nome": "Cliente 1",
        "codigo": "C1",
        "situacao": "A",
        "numeroDocumento": CNPJ,
        "telefone": "1133334444",
        "celular": "",
    }
    assert isinstance(first["id"], int)

    too_many = requests.get(url, params={"limite": 101}, headers=headers, timeout=5)
    assert too_many.status_code == 400
    assert too_many.json()["error"]["type"] == "VALIDATION_ERROR"
    assert too_many.json()["error"]["fields"][0]["element"] == "limite"


def test_bling_contact_detail_and_change_dates_in_brasilia_time(bling):
    older = bling.seed_contact(nome="Antigo", changed=MOMENT - timedelta(days=2))
    newer = bling.seed_contact(
        nome="Novo",
        tipo="F",
        email="novo@example.com",
        endereco={"geral": {"municipio": "Campinas", "uf": "SP"}},
    )
    headers = bearer(bling.issue_tokens()["access_token"])
    url = f"{bling.url}/Api/v3/contatos"

    # The contact changed at 10:00 UTC, 07:00 in Brasília.
    since = requests.get(url, params={"dataAlteracaoInicial": "2026-12-05 07:00:00"}, headers=headers, timeout=5)
    assert [c["id"] for c in since.json()["data"]] == [newer]
    after = requests.get(url, params={"dataAlteracaoInicial": "2026-12-05 07:00:01"}, headers=headers, timeout=5)
    assert after.json() == {"data": []}
    year = {"dataAlteracaoInicial": "2025-01-01 00:00:00", "dataAlteracaoFinal": "2026-12-05 00:00:00"}
    assert requests.get(url, params=year, headers=headers, timeout=5).status_code == 400
    assert older != newer

    detail = requests.get(f"{url}/{newer}", headers=headers, timeout=5).json()["data"]
    assert (detail["nome"], detail["tipo"], detail["email"]) == ("Novo", "F", "novo@example.com")
    assert detail["endereco"]["geral"]["municipio"] == "Campinas"
    assert detail["endereco"]["geral"]["uf"] == "SP"
    assert detail["endereco"]["geral"]["cep"] == ""
    missing = requests.get(f"{url}/999", headers=headers, timeout=5)
    assert (missing.status_code, missing.json()["error"]["type"]) == (404, "RESOURCE_NOT_FOUND")


def test_bling_contact_create_update_and_validation(bling):
    headers = bearer(bling.issue_tokens()["access_token"])
    url = f"{bling.url}/Api/v3/contatos"
    created = requests.post(
        url,
        json={"nome": "ACME Ltda", "tipo": "J", "numeroDocumento": CNPJ, "email": "a@acme.com"},
        headers=headers,
        timeout=5,
    )
    assert created.status_code == 201
    key = created.json()["data"]["id"]
    assert bling.contact(key)["nome"] == "ACME Ltda"
    assert bling.contact(key)["email"] == "a@acme.com"

    # PUT replaces the whole contact: the e-mail not sent is gone.
    replaced = requests.put(
        f"{url}/{key}", json={"nome": "ACME S.A.", "tipo": "F", "numeroDocumento": CPF}, headers=headers, timeout=5
    )
    assert replaced.status_code == 200
    assert bling.contact(key)["nome"] == "ACME S.A."
    assert bling.contact(key)["numeroDocumento"] == CPF
    assert bling.contact(key)["email"] == ""

    refused = requests.post(url, json={"tipo": "X", "numeroDocumento": "123"}, headers=headers, timeout=5)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["type"], error["message"]) == ("VALIDATION_ERROR", "Não foi possível salvar o contato")
    assert [(f["element"], f["msg"]) for f in error["fields"]] == [
        ("nome", "O nome do contato deve ser informado"),
        ("tipo", "O tipo de pessoa deve ser J (jurídica), F (física) ou E (estrangeira)"),
    ]
    bad_cnpj = requests.post(
        url, json={"nome": "X", "tipo": "J", "numeroDocumento": "11.222.333/0001-00"}, headers=headers, timeout=5
    )
    assert bad_cnpj.json()["error"]["fields"] == [
        {"code": 51, "msg": "O CNPJ informado é inválido", "element": "numeroDocumento", "namespace": "CONTATOS"}
    ]
    assert len(bling.contacts) == 1
    assert requests.put(f"{url}/999", json={"nome": "Y"}, headers=headers, timeout=5).status_code == 404


def test_bling_products_and_unknown_routes(bling):
    bling.seed_product(nome="Cadeira", codigo="CAD-1", preco=199.9, descricaoCurta="Cadeira de escritório")
    bling.seed_product(nome="Mesa antiga", codigo="MES-1", preco=50, situacao="I")
    headers = bearer(bling.issue_tokens()["access_token"])

    active = requests.get(f"{bling.url}/Api/v3/produtos", params={"criterio": 2}, headers=headers, timeout=5).json()
    assert active["data"] == [
        {
            "id": active["data"][0]["id"],
            "nome": "Cadeira",
            "codigo": "CAD-1",
            "preco": 199.9,
            "tipo": "P",
            "situacao": "A",
            "formato": "S",
            "descricaoCurta": "Cadeira de escritório",
        }
    ]
    every = requests.get(f"{bling.url}/Api/v3/produtos", headers=headers, timeout=5).json()["data"]
    assert [p["codigo"] for p in every] == ["CAD-1", "MES-1"]
    nowhere = requests.get(f"{bling.url}/Api/v3/pedidos/vendas", headers=headers, timeout=5)
    assert (nowhere.status_code, nowhere.json()["error"]["type"]) == (404, "RESOURCE_NOT_FOUND")


# --- HubSpot: reading routes --------------------------------------------------------------------------------


def hubspot_get(api: FakeHubSpot, path: str, **params) -> requests.Response:
    return requests.get(f"{api.url}{path}", params=params, headers=bearer(HUBSPOT_TOKEN), timeout=5)


def hubspot_search(api: FakeHubSpot, object_type: str, body: dict) -> requests.Response:
    return requests.post(
        f"{api.url}/crm/v3/objects/{object_type}/search", json=body, headers=bearer(HUBSPOT_TOKEN), timeout=5
    )


def test_hubspot_list_pages_with_an_opaque_cursor_and_the_asked_properties(hubspot):
    for number in range(1, 6):
        hubspot.seed_object(
            "companies", {"name": f"Empresa {number}", "erp_code": f"E{number}", "annualrevenue": 1000 * number}
        )
    seen, after = [], None
    params = {"limit": 2, "properties": "name,erp_code,city,nonexistent"}
    while True:
        page = hubspot_get(hubspot, "/crm/v3/objects/companies", **params, **({"after": after} if after else {}))
        assert page.status_code == 200
        body = page.json()
        seen.append([r["properties"]["erp_code"] for r in body["results"]])
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert not after.isdigit()
        assert body["paging"]["next"]["link"].startswith(f"{hubspot.url}/crm/v3/objects/companies?")
    assert seen == [["E1", "E2"], ["E3", "E4"], ["E5"]]

    first = hubspot_get(hubspot, "/crm/v3/objects/companies", **params).json()["results"][0]
    assert first == {
        "id": first["id"],
        "properties": {
            "name": "Empresa 1",
            "erp_code": "E1",
            "city": None,
            "createdate": "2026-12-05T10:00:00.000Z",
            "hs_lastmodifieddate": "2026-12-05T10:00:00.000Z",
            "hs_object_id": first["id"],
        },
        "createdAt": "2026-12-05T10:00:00.000Z",
        "updatedAt": "2026-12-05T10:00:00.000Z",
        "archived": False,
    }
    link = hubspot_get(hubspot, "/crm/v3/objects/companies", **params).json()["paging"]["next"]["link"]
    followed = requests.get(link, headers=bearer(HUBSPOT_TOKEN), timeout=5).json()
    assert [r["properties"]["erp_code"] for r in followed["results"]] == ["E3", "E4"]

    too_many = hubspot_get(hubspot, "/crm/v3/objects/companies", limit=101)
    assert (too_many.status_code, too_many.json()["category"]) == (400, "VALIDATION_ERROR")


def test_hubspot_defaults_one_object_and_refusals(hubspot):
    key = hubspot.seed_object("contacts", {"email": "ana@acme.example", "firstname": "Ana", "erp_code": "C1"})
    listed = hubspot_get(hubspot, "/crm/v3/objects/contacts").json()["results"][0]
    assert listed["properties"] == {
        "createdate": "2026-12-05T10:00:00.000Z",
        "email": "ana@acme.example",
        "firstname": "Ana",
        "hs_object_id": key,
        "lastmodifieddate": "2026-12-05T10:00:00.000Z",
        "lastname": None,
    }
    one = hubspot_get(hubspot, f"/crm/v3/objects/contacts/{key}", properties="erp_code").json()
    assert one["properties"]["erp_code"] == "C1"
    missing = hubspot_get(hubspot, "/crm/v3/objects/contacts/9999")
    assert (missing.status_code, missing.json()["category"]) == (404, "OBJECT_NOT_FOUND")
    unknown = hubspot_get(hubspot, "/crm/v3/objects/widgets")
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Unable to infer object type from: widgets"
    anonymous = requests.get(f"{hubspot.url}/crm/v3/objects/contacts", timeout=5)
    assert (anonymous.status_code, anonymous.json()["category"]) == (401, "INVALID_AUTHENTICATION")


def test_hubspot_search_by_modified_date_in_epoch_ms_or_iso(hubspot):
    for hour in range(5):
        hubspot.seed_object("contacts", {"email": f"c{hour}@acme.example"}, modified=MOMENT + timedelta(hours=hour))
    since = MOMENT + timedelta(hours=2)
    for value in (str(int(since.timestamp() * 1000)), "2026-12-05T12:00:00.000Z"):
        body = {
            "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": value}]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
            "properties": ["email"],
            "limit": 2,
        }
        first = hubspot_search(hubspot, "contacts", body).json()
        assert first["total"] == 3
        assert [r["properties"]["email"] for r in first["results"]] == ["c4@acme.example", "c3@acme.example"]
        assert first["results"][0]["properties"]["lastmodifieddate"] == "2026-12-05T14:00:00.000Z"
        assert first["paging"] == {"next": {"after": "2"}}
        last = hubspot_search(hubspot, "contacts", {**body, "after": "2"}).json()
        assert [r["properties"]["email"] for r in last["results"]] == ["c2@acme.example"]
        assert "paging" not in last

    companies = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": "0"}]}]}
    assert hubspot_search(hubspot, "companies", companies).status_code == 400
    assert hubspot_search(hubspot, "contacts", {"limit": 201}).status_code == 400


def test_hubspot_search_refuses_to_page_past_its_cap(hubspot):
    hubspot.search_cap = 3
    for number in range(5):
        hubspot.seed_object("products", {"name": f"P{number}", "hs_sku": f"SKU{number}", "price": number})
    body = {"limit": 2, "properties": ["hs_sku", "price"]}
    first = hubspot_search(hubspot, "products", body).json()
    assert (first["total"], first["paging"]["next"]["after"]) == (5, "2")
    second = hubspot_search(hubspot, "products", {**body, "after": "2"}).json()
    assert [r["properties"]["hs_sku"] for r in second["results"]] == ["SKU2"]
    assert second["results"][0]["properties"]["price"] == "2"
    assert second["paging"]["next"]["after"] == "3"
    refused = hubspot_search(hubspot, "products", {**body, "after": "3"})
    assert refused.status_code == 400
    assert refused.json()["status"] == "error"
    assert refused.json()["category"] == "VALIDATION_ERROR"


def test_hubspot_batch_upsert_on_companies_stamps_the_clock(hubspot):
    hubspot.advance(60)
    url = f"{hubspot.url}/crm/v3/objects/companies/batch/upsert"
    answer = requests.post(
        url,
        json={"inputs": [{"idProperty": "erp_code", "id": "E9", "properties": {"name": "Nova", "cnpj": CNPJ}}]},
        headers=bearer(HUBSPOT_TOKEN),
        timeout=5,
    )
    assert answer.status_code == 200
    held = hubspot.held("companies")
    assert held == [
        {
            "id": held[0]["id"],
            "hs_object_id": held[0]["id"],
            "createdate": "2026-12-05T10:01:00.000Z",
            "erp_code": "E9",
            "name": "Nova",
            "cnpj": CNPJ,
            "hs_lastmodifieddate": "2026-12-05T10:01:00.000Z",
        }
    ]
    assert hubspot.contacts() == []
    wrong = requests.post(
        url,
        json={"inputs": [{"idProperty": "erp_code", "id": "E9", "properties": {"firstname": "x"}}]},
        headers=bearer(HUBSPOT_TOKEN),
        timeout=5,
    )
    assert wrong.status_code == 400
    assert 'Property \\"firstname\\" does not exist' in wrong.json()["message"]
