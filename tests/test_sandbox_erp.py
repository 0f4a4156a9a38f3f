"""The demo ERP's SOAP 1.1 service, called through a real zeep client against the live server."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import zeep
from django.utils import timezone
from lxml import etree
from zeep.exceptions import Fault, TransportError
from zeep.helpers import serialize_object
from zeep.transports import Transport

from demo import seed
from demo.choices import CreditStatus, ErpOrderStatus, SandboxSystem
from demo.models import ErpContact, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10
OPERATIONS = {
    "ListCustomers",
    "ListContacts",
    "ListProducts",
    "ListOrders",
    "GetCustomer",
    "GetOrder",
    "GetOrderStatus",
    "CreateOrder",
}
ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:erp="urn:demo-erp:v1">'
    "<soap:Body>{body}</soap:Body></soap:Envelope>"
)


@pytest.fixture
def knobs():
    seed.populate(seed.SeedSizes(), timezone.now())
    knobs = seed.ensure_knobs()
    # Keep order statuses still unless a test moves them.
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(order_step_seconds=0)
    return knobs


@pytest.fixture
def soap_url(live_server):
    return f"{live_server.url}/sandbox/erp/soap"


@pytest.fixture
def make_client(soap_url):
    """A zeep client on the live WSDL; its HTTP session is closed after the test, so that no
    keep-alive server thread outlives the live server's hold on the test database."""
    sessions = []

    def make(username, password, timeout=TIMEOUT):
        session = requests.Session()
        session.auth = (username, password)
        sessions.append(session)
        transport = Transport(session=session, timeout=TIMEOUT, operation_timeout=timeout)
        return zeep.Client(
            f"{soap_url}?wsdl", transport=transport, settings=zeep.Settings(strict=True, forbid_dtd=True)
        )

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def erp(knobs, make_client):
    credentials = knobs[SandboxSystem.ERP]
    return make_client(credentials.username, credentials.password).service


def fault_suffix(exc_info) -> str:
    return exc_info.value.code.rpartition(":")[2]


def sellable_customer() -> ErpCustomer:
    return ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.APPROVED).first()


def sellable_product() -> ErpProduct:
    return ErpProduct.objects.filter(active=True).first()


# --- WSDL ---------------------------------------------------------------------------------------


def test_the_wsdl_loads_in_zeep_with_every_operation(knobs, soap_url, make_client):
    client = make_client("x", "y")
    service = client.wsdl.services["DemoErpService"]
    port = service.ports["DemoErpPort"]
    assert set(port.binding._operations) == OPERATIONS
    assert port.binding_options["address"] == soap_url


def test_the_wsdl_is_served_at_uppercase_query_too(knobs, soap_url):
    response = requests.get(f"{soap_url}?WSDL", timeout=TIMEOUT)
    assert response.status_code == 200
    assert b"urn:demo-erp:v1" in response.content


# --- lists --------------------------------------------------------------------------------------


def test_list_customers_pages_through_every_customer_once(erp):
    codes, page = [], 1
    while True:
        result = erp.ListCustomers(page=page, page_size=7)
        codes += [customer.code for customer in result.records]
        assert result.total == 40
        if not result.has_more:
            break
        page += 1
    assert page == 6
    assert codes == list(ErpCustomer.objects.order_by("pk").values_list("code", flat=True))


def test_list_customers_since_a_time_returns_only_later_changes(erp):
    cutoff = datetime(2030, 1, 1, tzinfo=UTC)
    changed = list(ErpCustomer.objects.order_by("pk").values_list("code", flat=True)[5:7])
    ErpCustomer.objects.filter(code__in=changed).update(updated_at=cutoff + timedelta(seconds=1))

    result = erp.ListCustomers(updated_since=cutoff, page=1, page_size=100)
    assert [customer.code for customer in result.records] == changed
    assert result.has_more is False
    record = serialize_object(result.records[0], dict)
    assert record["updated_at"] == cutoff + timedelta(seconds=1)
    assert record["credit_status"] in CreditStatus.values
    assert erp.ListCustomers(updated_since=cutoff + timedelta(days=1)).records == []


def test_list_contacts_products_and_orders(erp):
    customer = ErpContact.objects.select_related("customer").first().customer
    contacts = erp.ListContacts(customer_code=customer.code, page_size=500).records
    assert {c.customer_code for c in contacts} == {customer.code}
    assert len(contacts) == customer.contacts.count()

    products = erp.ListProducts(page_size=500)
    assert len(products.records) == products.total == 30
    assert all(isinstance(p.unit_price, Decimal) for p in products.records)

    orders = erp.ListOrders(page_size=500)
    assert len(orders.records) == 10
    first = orders.records[0]
    assert first.lines and first.lines[0].product_code
    assert first.total == sum(line.total for line in first.lines)


def test_a_page_size_out_of_range_is_a_client_fault(erp):
    with pytest.raises(Fault) as exc_info:
        erp.ListProducts(page=1, page_size=501)
    assert fault_suffix(exc_info) == "Client.InvalidRequest"


def test_get_customer_by_code_and_by_cnpj(erp):
    customer = ErpCustomer.objects.first()
    assert erp.GetCustomer(code=customer.code).cnpj == customer.cnpj
    assert erp.GetCustomer(cnpj=customer.cnpj.replace(".", "").replace("/", "").replace("-", "")).code == customer.code
    with pytest.raises(Fault) as exc_info:
        erp.GetCustomer(code="C999999")
    assert fault_suffix(exc_info) == "Client.UnknownCustomer"


# --- orders -------------------------------------------------------------------------------------


def test_create_order_answers_its_number_and_is_idempotent_by_external_id(erp):
    customer, product = sellable_customer(), sellable_product()
    order = {
        "customer_code": customer.code,
        "external_id": "crm-1001",
        "lines": [{"product_code": product.code, "quantity": Decimal("3")}],
    }
    result = erp.CreateOrder(order=order)
    assert result.created is True
    assert result.status == ErpOrderStatus.RECEIVED
    assert result.total == (product.unit_price * 3).quantize(Decimal("0.01"))
    stored = ErpOrder.objects.get(number=result.order_number)
    assert stored.external_id == "crm-1001"
    assert stored.customer == customer

    again = erp.CreateOrder(order=order)
    assert (again.order_number, again.created) == (result.order_number, False)
    assert ErpOrder.objects.filter(external_id="crm-1001").count() == 1

    found = erp.GetOrder(external_id="crm-1001")
    assert found.order_number == result.order_number
    assert found.customer_cnpj == customer.cnpj


def test_create_order_by_cnpj_with_a_given_price(erp):
    customer, product = sellable_customer(), sellable_product()
    result = erp.CreateOrder(
        order={
            "customer_cnpj": customer.cnpj,
            "lines": [{"product_code": product.code, "quantity": Decimal("2.5"), "unit_price": Decimal("10")}],
        }
    )
    assert result.total == Decimal("25.00")


def _order_for(customer_code, product_code):
    return {"customer_code": customer_code, "lines": [{"product_code": product_code, "quantity": 1}]}


@pytest.mark.parametrize(
    ("make_order", "code", "words"),
    [
        (lambda c, p: _order_for("C999999", p.code), "Client.UnknownCustomer", "C999999"),
        (
            lambda c, p: _order_for(ErpCustomer.objects.filter(active=False).first().code, p.code),
            "Client.InactiveCustomer",
            "inactive",
        ),
        (
            lambda c, p: _order_for(
                ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.BLOCKED).first().code, p.code
            ),
            "Client.CreditBlocked",
            "blocked",
        ),
        (lambda c, p: {"customer_code": c.code}, "Client.InvalidOrder", "at least one line"),
        (lambda c, p: _order_for(c.code, "P99999"), "Client.InvalidOrder", "P99999"),
        (
            lambda c, p: _order_for(c.code, ErpProduct.objects.filter(active=False).first().code),
            "Client.InvalidOrder",
            "inactive",
        ),
        (
            lambda c, p: {"customer_code": c.code, "lines": [{"product_code": p.code, "quantity": 0}]},
            "Client.InvalidOrder",
            "quantity",
        ),
        (lambda c, p: {"lines": [{"product_code": p.code, "quantity": 1}]}, "Client.InvalidOrder", "code or CNPJ"),
    ],
)
def test_create_order_faults(erp, make_order, code, words):
    with pytest.raises(Fault) as exc_info:
        erp.CreateOrder(order=make_order(sellable_customer(), sellable_product()))
    assert fault_suffix(exc_info) == code
    assert words in exc_info.value.message
    assert ErpOrder.objects.count() == 10


def test_order_answers_give_every_amount_as_an_xsd_decimal(erp):
    customer, product = sellable_customer(), sellable_product()
    order = {"customer_code": customer.code, "lines": [{"product_code": product.code, "quantity": Decimal("10")}]}
    created = erp.CreateOrder(order=order)
    assert isinstance(created.total, Decimal)
    found = erp.GetOrder(order_number=created.order_number)
    [line] = found.lines
    assert (line.quantity, line.unit_price, line.total) == (Decimal("10"), product.unit_price, product.unit_price * 10)
    assert all(isinstance(value, Decimal) for value in (line.quantity, line.unit_price, line.total, found.total))
    for record in erp.ListOrders(page_size=500).records:
        assert isinstance(record.total, Decimal)
        assert all(isinstance(line.quantity, Decimal) and isinstance(line.total, Decimal) for line in record.lines)


def test_a_value_that_is_not_of_its_xsd_type_is_an_invalid_value_fault(erp):
    customer, product = sellable_customer(), sellable_product()
    order = {
        "customer_code": customer.code,
        "lines": [
            {"product_code": product.code, "quantity": "1"},
            {"product_code": product.code, "quantity": "abc"},
        ],
    }
    with pytest.raises(Fault) as exc_info:
        erp.CreateOrder(order=order)
    assert fault_suffix(exc_info) == "Client.InvalidValue"
    assert exc_info.value.message == "order/lines[2]/quantity must be an xsd:decimal, got 'abc'."
    assert ErpOrder.objects.count() == 10


def test_get_order_status_follows_the_back_office(erp):
    order = ErpOrder.objects.filter(status=ErpOrderStatus.APPROVED).first()
    result = erp.GetOrderStatus(order_number=order.number)
    assert (result.order_number, result.status) == (order.number, ErpOrderStatus.APPROVED)

    ErpOrder.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(order_step_seconds=60)
    assert erp.GetOrderStatus(order_number=order.number).status == ErpOrderStatus.INVOICED
    # One step per wait: asking again right away does not move it further.
    assert erp.GetOrderStatus(order_number=order.number).status == ErpOrderStatus.INVOICED

    with pytest.raises(Fault) as exc_info:
        erp.GetOrderStatus(order_number=1)
    assert fault_suffix(exc_info) == "Client.UnknownOrder"


# --- security and knobs -------------------------------------------------------------------------


def test_operations_need_basic_auth(knobs, soap_url, make_client):
    body = ENVELOPE.format(body="<erp:ListCustomers/>")
    response = requests.post(soap_url, data=body, headers={"Content-Type": "text/xml"}, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")

    wrong = make_client(knobs[SandboxSystem.ERP].username, "wrong-password").service
    with pytest.raises(TransportError) as exc_info:
        wrong.ListCustomers()
    assert exc_info.value.status_code == 401


def test_a_request_with_a_dtd_is_refused(knobs, soap_url):
    credentials = knobs[SandboxSystem.ERP]
    body = '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + ENVELOPE.format(
        body="<erp:GetCustomer><erp:code>&xxe;</erp:code></erp:GetCustomer>"
    )
    response = requests.post(
        soap_url,
        data=body,
        headers={"Content-Type": "text/xml"},
        auth=(credentials.username, credentials.password),
        timeout=TIMEOUT,
    )
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(".//faultcode")
    assert fault.text.endswith("Client.InvalidRequest")
    assert b"root:" not in response.content


def test_a_raw_request_works_without_zeep(knobs, soap_url):
    credentials = knobs[SandboxSystem.ERP]
    code = ErpCustomer.objects.first().code
    body = ENVELOPE.format(body=f"<erp:GetCustomer><erp:code>{code}</erp:code></erp:GetCustomer>")
    response = requests.post(
        soap_url,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:demo-erp:v1#GetCustomer"},
        auth=(credentials.username, credentials.password),
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert etree.fromstring(response.content).findtext(".//{urn:demo-erp:v1}code") == code


def test_error_rate_one_is_a_transient_server_fault(erp):
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(error_rate=1.0)
    with pytest.raises(Fault) as exc_info:
        erp.ListCustomers()
    assert fault_suffix(exc_info) == "Server.Unavailable"


def test_throttle_is_a_429_with_retry_after(knobs, soap_url):
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(throttle_rate=1.0, retry_after_seconds=3)
    credentials = knobs[SandboxSystem.ERP]
    response = requests.post(
        soap_url,
        data=ENVELOPE.format(body="<erp:ListCustomers/>"),
        auth=(credentials.username, credentials.password),
        timeout=TIMEOUT,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


def test_down_is_a_503_for_calls_and_for_the_wsdl(erp, soap_url):
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(down=True)
    with pytest.raises(TransportError) as exc_info:
        erp.ListCustomers()
    assert exc_info.value.status_code == 503
    assert requests.get(f"{soap_url}?wsdl", timeout=TIMEOUT).status_code == 503


def test_a_dropped_answer_fails_the_call_and_the_order_is_created_all_the_same(erp):
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(drop_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        erp.ListCustomers(page_size=5)
    order = {
        "customer_code": sellable_customer().code,
        "external_id": "crm-7001",
        "lines": [{"product_code": sellable_product().code, "quantity": Decimal("2")}],
    }
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        erp.CreateOrder(order=order)
    assert ErpOrder.objects.filter(external_id="crm-7001").count() == 1
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(drop_rate=0)
    assert erp.CreateOrder(order=order).created is False  # asking again finds the order the lost answer made


def test_a_slow_answer_times_a_short_client_out(knobs, make_client):
    credentials = knobs[SandboxSystem.ERP]
    impatient = make_client(credentials.username, credentials.password, timeout=0.3).service
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(slow_rate=1.0, slow_ms=900)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.ListProducts(page_size=1)
    patient = make_client(credentials.username, credentials.password).service
    started = time.monotonic()
    assert len(patient.ListProducts(page_size=1).records) == 1
    assert time.monotonic() - started >= 0.9


def test_the_wsdl_is_never_slow_nor_cut(knobs, soap_url):
    SandboxKnobs.objects.filter(system=SandboxSystem.ERP).update(slow_rate=0.5, slow_ms=5000, drop_rate=0.5)
    whole = requests.get(f"{soap_url}?wsdl", timeout=1)
    for _attempt in range(6):
        response = requests.get(f"{soap_url}?wsdl", timeout=1)
        assert response.content == whole.content
        etree.fromstring(response.content)
