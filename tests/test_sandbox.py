"""The demo CRM (Ploomes-shaped REST) and the knobs of both demo systems, over real HTTP."""

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone

from demo import seed
from demo.choices import CrmContactType, SandboxSystem
from demo.documents import format_cnpj, make_cnpj
from demo.models import CrmContact, CrmOrder, CrmProduct, SandboxKnobs

from .processes import free_port, running, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 10


@pytest.fixture
def knobs():
    seed.populate(seed.SeedSizes(), timezone.now())
    return seed.ensure_knobs()


@pytest.fixture
def crm_url(live_server):
    return f"{live_server.url}/sandbox/crm"


@pytest.fixture
def crm(knobs, crm_url):
    session = requests.Session()
    session.headers["User-Key"] = knobs[SandboxSystem.CRM].api_key

    def call(method, path, timeout=TIMEOUT, **kwargs):
        return session.request(method, crm_url + path, timeout=timeout, **kwargs)

    yield call
    session.close()


def set_knobs(system, **values):
    SandboxKnobs.objects.filter(system=system).update(**values)


# --- reading ------------------------------------------------------------------------------------


def test_paging_with_top_and_skip_returns_every_contact_once(crm):
    seen, skip = [], 0
    while True:
        response = crm("GET", "/Contacts", params={"$top": 7, "$skip": skip})
        assert response.status_code == 200
        page = response.json()["value"]
        seen += [record["Id"] for record in page]
        if len(page) < 7:
            break
        skip += 7
    assert sorted(seen) == list(CrmContact.objects.order_by("pk").values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 24


def test_top_is_capped_and_count_is_given(crm):
    response = crm("GET", "/Contacts", params={"$top": 5000, "$count": "true", "$select": "Id,Name"})
    body = response.json()
    assert body["@odata.count"] == 24
    assert len(body["value"]) == 24
    assert set(body["value"][0]) == {"Id", "Name"}


def test_filter_by_cnpj_finds_the_one_company(crm):
    company = CrmContact.objects.filter(type_id=CrmContactType.COMPANY).last()
    response = crm("GET", "/Contacts", params={"$filter": f"CNPJ eq '{company.cnpj}'"})
    [record] = response.json()["value"]
    assert record["Id"] == company.pk
    assert record["TypeId"] == 1
    assert record["LegalName"] == company.legal_name
    assert record["Phones"][0]["PhoneNumber"]


def test_filter_by_last_update_date_and_type(crm):
    cutoff = datetime(2030, 1, 1, tzinfo=UTC)
    changed = list(CrmContact.objects.order_by("pk").values_list("pk", flat=True)[:3])
    CrmContact.objects.filter(pk__in=changed).update(updated_at=cutoff + timedelta(minutes=5))

    response = crm("GET", "/Contacts", params={"$filter": "LastUpdateDate gt 2030-01-01T00:00:00Z"})
    assert [record["Id"] for record in response.json()["value"]] == changed
    assert response.json()["value"][0]["LastUpdateDate"] == "2030-01-01T00:05:00Z"

    both = crm("GET", "/Contacts", params={"$filter": "LastUpdateDate gt '2030-01-01T00:00:00Z' and TypeId eq 2"})
    assert both.json()["value"] == []


def test_orderby_and_filters_on_products(crm):
    response = crm("GET", "/Products", params={"$filter": "Active eq true", "$orderby": "Price desc"})
    prices = [record["Price"] for record in response.json()["value"]]
    assert prices == sorted(prices, reverse=True)
    assert len(prices) == CrmProduct.objects.filter(active=True).count()


def test_a_bad_filter_is_a_400_with_a_message(crm):
    response = crm("GET", "/Contacts", params={"$filter": "Nope eq 1"})
    assert response.status_code == 400
    assert "Nope" in response.json()["error"]["message"]
    assert crm("GET", "/Contacts", params={"$skip": "-1"}).status_code == 400


def test_unknown_id_is_404(crm):
    response = crm("GET", "/Contacts(999999)")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"


def test_without_a_valid_user_key_it_is_401(crm_url, knobs):
    assert requests.get(f"{crm_url}/Contacts", timeout=TIMEOUT).status_code == 401
    wrong = requests.get(f"{crm_url}/Contacts", headers={"User-Key": "not-the-key"}, timeout=TIMEOUT)
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "Unauthorized"


# --- writing ------------------------------------------------------------------------------------


def test_post_creates_a_company_and_answers_it_like_ploomes(crm):
    cnpj = make_cnpj(4242_4242)
    response = crm(
        "POST",
        "/Contacts",
        json={
            "Name": "Mercado Boa Safra",
            "TypeId": 1,
            "CNPJ": format_cnpj(cnpj),
            "City": "Londrina",
            "State": "PR",
            "Id": 7,
        },
    )
    assert response.status_code == 200
    [record] = response.json()["value"]
    assert record["Id"] != 7  # read-only fields sent by a client are ignored
    assert record["CNPJ"] == cnpj
    assert record["LastUpdateDate"]
    found = crm("GET", "/Contacts", params={"$filter": f"CNPJ eq '{cnpj}'"}).json()["value"]
    assert [r["Id"] for r in found] == [record["Id"]]


@pytest.mark.parametrize(
    ("body", "target", "code", "words"),
    [
        ({"TypeId": 1}, "Name", "Required", "Name"),
        ({"Name": "X", "CNPJ": "11.111.111/1111-11"}, "CNPJ", "InvalidValue", "11.111.111/1111-11"),
        ({"Name": "X", "Color": "blue"}, "Color", "UnknownField", "Color"),
        ({"Name": "X", "TypeId": 7}, "TypeId", "InvalidValue", "TypeId"),
        ({"Name": "X", "CompanyId": 999999}, "CompanyId", "InvalidValue", "999999"),
        ({"Name": "X", "Email": "not-an-email"}, "Email", "InvalidValue", "not-an-email"),
        ({"Name": "X" * 151}, "Name", "InvalidValue", "150"),
        (["Name"], "", "InvalidType", "JSON object"),
    ],
)
def test_post_refuses_invalid_bodies_with_a_message(crm, body, target, code, words):
    response = crm("POST", "/Contacts", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("ValidationFailed", "The request is not valid.")
    [detail] = error["details"]
    assert (detail["target"], detail["code"]) == (target, code)
    assert words in detail["message"]


def test_post_of_a_duplicate_cnpj_is_a_conflict(crm):
    existing = CrmContact.objects.exclude(cnpj="").first()
    response = crm("POST", "/Contacts", json={"Name": "Copy", "CNPJ": existing.cnpj})
    assert response.status_code == 409
    assert existing.cnpj in response.json()["error"]["message"]


def test_patch_updates_and_bumps_last_update_date(crm):
    person = CrmContact.objects.filter(type_id=CrmContactType.PERSON).first()
    before = person.updated_at
    response = crm("PATCH", f"/Contacts({person.pk})", json={"Email": "nova.pessoa@exemplo.com.br", "City": "Natal"})
    assert response.status_code == 200
    [record] = response.json()["value"]
    assert record["Email"] == "nova.pessoa@exemplo.com.br"
    person.refresh_from_db()
    assert person.city == "Natal"
    assert person.updated_at > before
    blank = crm("PATCH", f"/Contacts({person.pk})", json={"Name": ""})
    assert blank.status_code == 422
    assert blank.json()["error"]["details"] == [
        {"code": "Required", "target": "Name", "message": "Name cannot be empty."}
    ]


def test_delete_removes_the_record_and_releases_its_people(crm):
    company = CrmContact.objects.filter(type_id=CrmContactType.COMPANY, orders__isnull=True).first()
    person = CrmContact.objects.create(name="Ana Lima", type_id=CrmContactType.PERSON, company=company)
    assert crm("DELETE", f"/Contacts({company.pk})").status_code == 204
    assert crm("GET", f"/Contacts({company.pk})").status_code == 404
    person.refresh_from_db()
    assert person.company_id is None


def test_delete_of_a_contact_with_orders_is_a_conflict(crm):
    order = CrmOrder.objects.first()
    response = crm("DELETE", f"/Contacts({order.contact_id})")
    assert response.status_code == 409


def test_orders_compute_their_amount_and_take_the_erp_number_back(crm):
    company = CrmContact.objects.filter(type_id=CrmContactType.COMPANY).first()
    product = CrmProduct.objects.first()
    response = crm(
        "POST",
        "/Orders",
        json={"ContactId": company.pk, "Products": [{"ProductId": product.pk, "Quantity": 3, "UnitPrice": 10.5}]},
    )
    assert response.status_code == 200, response.text
    [order] = response.json()["value"]
    assert order["Amount"] == 31.5
    assert order["Products"][0]["ProductCode"] == product.code
    assert order["ContactCNPJ"] == company.cnpj
    assert order["OrderNumber"] > max(o.order_number for o in CrmOrder.objects.exclude(pk=order["Id"]))

    waiting = crm("GET", "/Orders", params={"$filter": "ErpOrderNumber eq null"}).json()["value"]
    assert order["Id"] in [o["Id"] for o in waiting]
    patched = crm("PATCH", f"/Orders({order['Id']})", json={"ErpOrderNumber": 50001, "Status": "received"})
    assert patched.json()["value"][0]["ErpOrderNumber"] == 50001
    waiting = crm("GET", "/Orders", params={"$filter": "ErpOrderNumber eq null"}).json()["value"]
    assert order["Id"] not in [o["Id"] for o in waiting]


def test_products_crud(crm):
    created = crm("POST", "/Products", json={"Name": "Cimento CP III 50 kg", "Code": "P99999", "Price": 39.90})
    [product] = created.json()["value"]
    assert product["Price"] == 39.9
    assert product["Active"] is True
    updated = crm("PATCH", f"/Products({product['Id']})", json={"Active": False})
    assert updated.json()["value"][0]["Active"] is False
    assert crm("POST", "/Products", json={"Name": "Copy", "Code": "P99999"}).status_code == 409
    assert crm("POST", "/Products", json={"Name": "Bad", "Price": -1}).status_code == 422
    assert crm("POST", "/Products", json={"Name": "Bad", "Price": "39.90"}).status_code == 422
    assert crm("DELETE", f"/Products({product['Id']})").status_code == 204


# --- knobs --------------------------------------------------------------------------------------


def test_error_rate_one_answers_500(crm):
    set_knobs(SandboxSystem.CRM, error_rate=1.0)
    response = crm("GET", "/Contacts")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalServerError"


def test_throttle_answers_429_with_retry_after(crm):
    set_knobs(SandboxSystem.CRM, throttle_rate=1.0, retry_after_seconds=7)
    response = crm("GET", "/Contacts")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_down_answers_503_even_without_credentials(crm, crm_url):
    set_knobs(SandboxSystem.CRM, down=True)
    assert crm("GET", "/Contacts").status_code == 503
    assert requests.get(f"{crm_url}/Contacts", timeout=TIMEOUT).status_code == 503


def test_latency_slows_every_answer(crm):
    set_knobs(SandboxSystem.CRM, latency_ms=300)
    started = time.monotonic()
    assert crm("GET", "/Contacts", params={"$top": 1}).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_knobs_of_one_system_leave_the_other_alone(crm):
    set_knobs(SandboxSystem.ERP, down=True, error_rate=1.0)
    assert crm("GET", "/Contacts").status_code == 200


def raw_get(url: str, headers: dict) -> tuple[bytes, bytes]:
    """GET over a bare socket; returns (head, body) as received until the server closed the connection."""
    parts = urlsplit(url)
    lines = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        received = b""
        while chunk := connection.recv(65536):  # b"" once the server closed its side
            received += chunk
    head, _blank, body = received.partition(b"\r\n\r\n")
    return head, body


def test_a_dropped_answer_sends_its_headers_and_part_of_the_body_then_closes(crm, crm_url, knobs):
    whole = crm("GET", "/Contacts", params={"$top": 20})
    set_knobs(SandboxSystem.CRM, drop_rate=1.0)
    head, body = raw_get(f"{crm_url}/Contacts?$top=20", {"User-Key": knobs[SandboxSystem.CRM].api_key})
    assert head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(whole.content)}".encode() in head
    assert 0 < len(body) < len(whole.content)
    assert whole.content.startswith(body)


def test_a_dropped_answer_is_an_error_for_requests_not_half_a_page(crm):
    set_knobs(SandboxSystem.CRM, drop_rate=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        crm("GET", "/Contacts")
    assert time.monotonic() - started < TIMEOUT / 2  # the connection closed: no waiting for the rest


def test_a_dropped_create_was_carried_out_all_the_same(crm):
    set_knobs(SandboxSystem.CRM, drop_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        crm("POST", "/Products", json={"Name": "Areia média 20 kg", "Code": "P77777", "Price": 12.50})
    assert CrmProduct.objects.filter(code="P77777").count() == 1
    with pytest.raises(requests.exceptions.ConnectionError):  # no body to cut: closed before the status line
        crm("DELETE", f"/Products({CrmProduct.objects.get(code='P77777').pk})")
    assert not CrmProduct.objects.filter(code="P77777").exists()


def test_slow_answers_come_after_slow_ms_and_time_a_short_client_out(crm):
    set_knobs(SandboxSystem.CRM, slow_rate=1.0, slow_ms=600)
    started = time.monotonic()
    assert crm("GET", "/Contacts", params={"$top": 1}).status_code == 200
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.exceptions.ReadTimeout):
        crm("GET", "/Contacts", params={"$top": 1}, timeout=0.2)


def test_a_slow_create_is_carried_out_before_its_late_answer(crm):
    set_knobs(SandboxSystem.CRM, slow_rate=1.0, slow_ms=800)
    with pytest.raises(requests.exceptions.ReadTimeout):
        crm("POST", "/Products", json={"Name": "Brita 1 20 kg", "Code": "P88888", "Price": 9.90}, timeout=0.3)
    set_knobs(SandboxSystem.CRM, slow_rate=0)
    assert [p["Code"] for p in crm("GET", "/Products", params={"$filter": "Code eq 'P88888'"}).json()["value"]] == [
        "P88888"
    ]


@pytest.fixture(scope="module")
def served_folder(tmp_path_factory):
    """A migrated portal of its own (SQLite in a temporary folder) whose demo CRM drops every answer."""
    folder = tmp_path_factory.mktemp("gunicorn-portal")
    env = {"PATH": os.environ["PATH"], "DEBUG": "1", "PORTAL_DATA_DIR": str(folder / "data")}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    script = (
        "from demo.models import SandboxKnobs\n"
        "from demo.seed import ensure_knobs\n"
        "ensure_knobs()\n"
        "SandboxKnobs.objects.filter(system='crm').update(drop_rate=1)\n"
        "print(SandboxKnobs.objects.get(system='crm').api_key)\n"
    )
    shell = subprocess.run(
        [*manage, "shell", "--no-imports", "-v0", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return env, shell.stdout.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_a_dropped_answer_closes_the_connection_under_gunicorn(served_folder, worker_class):
    env, api_key = served_folder
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "integration_portal.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    # A long keep-alive: only a real close ends the answer before the client's timeout.
    command += ["--worker-class", worker_class, "--threads", "2", "--keep-alive", "30"]
    with running(command, env=env, cwd=ROOT):
        wait_until(lambda: requests.get(f"{base}/sandbox/erp/soap", timeout=2).ok, message="gunicorn to serve")
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(f"{base}/sandbox/crm/Contacts", headers={"User-Key": api_key}, timeout=TIMEOUT)
        assert time.monotonic() - started < TIMEOUT / 2
