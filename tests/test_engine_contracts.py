"""The demo integration against the demo ERP (SOAP) and the demo CRM (REST, Ploomes' contract) over HTTP.

What the CRM and the ERP hold after each run is asserted field by field, with its type.
"""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.roles import SUPERVISOR
from demo import seed
from demo.choices import CreditStatus, ErpOrderStatus
from demo.integration import configure_demo
from demo.models import CrmContact, CrmOrder, CrmProduct, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs
from monitoring.choices import ErrorStatus, RunStatus, Trigger
from monitoring.models import FieldConflict, RecordError, RecordEvent, RequestLog, TableRun
from sync.choices import FieldOwner, ValueType
from sync.connectors import soap
from sync.engine import connector_for_connection, execute_run, queue_run
from sync.models import RecordLink
from sync.paths import get_path

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = seed.SeedSizes(
    customers=8, contacts=6, products=6, orders=0, crm_companies=4, crm_people=2, crm_products=6, crm_orders=3
)
ERP_CODE_KEY = "contact_ERP_CODE"


@pytest.fixture
def demo(live_server):
    soap.clear_caches()
    seed.populate(SIZES, timezone.now())
    SandboxKnobs.objects.update(order_step_seconds=0)  # statuses move only when a test moves them
    integration = configure_demo(live_server.url)
    yield integration
    soap.clear_caches()


def run(integration):
    finished = execute_run(queue_run(integration, Trigger.MANUAL).pk)
    assert finished.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), finished.error
    return finished


def custom_field(properties: list, key: str) -> dict | None:
    return next((element for element in properties if element.get("FieldKey") == key), None)


def bodies(method: str, path_part: str, sync_run=None) -> list:
    logs = RequestLog.objects.filter(method=method, url__contains=path_part)
    if sync_run is not None:
        logs = logs.filter(run=sync_run)
    return [json.loads(log.request_body) for log in logs.order_by("pk")]


def synced_customers():
    return ErpCustomer.objects.filter(active=True, credit_status=CreditStatus.APPROVED).order_by("code")


def crm_company(customer: ErpCustomer) -> CrmContact:
    return CrmContact.objects.get(cnpj="".join(filter(str.isdigit, customer.cnpj)))


def salesperson_order(company: CrmContact, number: int) -> CrmOrder:
    """An order closed in the CRM for ``company``: two units of its first product at 10.00."""
    product = CrmProduct.objects.order_by("pk").first()
    line = {"ProductId": product.pk, "ProductCode": product.code, "Quantity": 2.0, "UnitPrice": 10.0, "Total": 20.0}
    return CrmOrder.objects.create(order_number=number, contact=company, amount=Decimal("20.00"), products=[line])


def touch(model, **changes):
    """Change an ERP record as a person would: its change date moves on."""
    model.__class__.objects.filter(pk=model.pk).update(**changes, updated_at=timezone.now())


# ---------------------------------------------------------------- 1, 2, 3: bodies, types, custom fields


def test_companies_reach_the_crm_with_the_erp_code_in_a_custom_field_and_typed_fields(demo):
    first = run(demo)
    assert first.status == RunStatus.SUCCEEDED, first.error
    for customer in synced_customers():
        company = crm_company(customer)
        assert company.type_id == 1
        code = custom_field(company.other_properties, ERP_CODE_KEY)
        assert code == {"FieldKey": ERP_CODE_KEY, "StringValue": customer.code}
        assert company.name == customer.trade_name and company.city == customer.city
    created = [body for body in bodies("POST", "/Contacts", first) if "CNPJ" in body]
    assert created and all(body["TypeId"] == 1 and isinstance(body["TypeId"], int) for body in created)
    # The ERP code is read back through the CRM's API by the same keyed path.
    customer = synced_customers()[0]
    link = RecordLink.objects.get(table__name="Company", source_key=customer.code)
    with connector_for_connection(demo.crm_connection, lambda call: None) as crm:
        answered = crm.get("/Contacts({id})", link.target_key)
    assert get_path(answered, f"OtherProperties[FieldKey={ERP_CODE_KEY}].StringValue") == customer.code


def test_an_update_sends_only_what_changed_and_never_what_the_api_fixes_at_creation(demo):
    run(demo)
    customer = synced_customers()[0]
    company = crm_company(customer)
    # A salesperson keeps a custom field of their own on the company: the portal must not disturb it.
    company.other_properties = [*company.other_properties, {"FieldKey": "contact_ERP_ACTIVE", "BoolValue": True}]
    company.save()
    touch(customer, trade_name="Padaria Nova Era")

    second = run(demo)
    [patch] = bodies("PATCH", f"/Contacts({company.pk})", second)
    assert patch == {"Name": "Padaria Nova Era"}  # no TypeId (PATCH refuses it), nothing unchanged
    company.refresh_from_db()
    assert company.name == "Padaria Nova Era" and company.type_id == 1
    assert custom_field(company.other_properties, "contact_ERP_ACTIVE") == {
        "FieldKey": "contact_ERP_ACTIVE",
        "BoolValue": True,
    }
    assert custom_field(company.other_properties, ERP_CODE_KEY)["StringValue"] == customer.code
    counts = TableRun.objects.get(run=second, table__name="Company")
    assert (counts.updated, counts.created) == (1, 0)


def test_a_price_arrives_as_a_number_with_its_exact_digits(demo):
    product = ErpProduct.objects.filter(active=True).order_by("code").first()
    touch(product, unit_price=Decimal("129.90"))
    first = run(demo)
    crm_product = CrmProduct.objects.get(code=product.code)
    assert crm_product.price == Decimal("129.90")
    sent = [log.request_body for log in RequestLog.objects.filter(run=first, url__contains="/Products")]
    # A JSON number with its digits (the request log keeps them too), not "129.90" nor 129.9000001.
    assert any(re.search(r'"Price": ?129\.90[,}]', body) for body in sent), sent

    touch(product, unit_price=Decimal("1234.5"))
    second = run(demo)
    [patch] = bodies("PATCH", f"/Products({crm_product.pk})", second)
    assert patch == {"Price": 1234.5}  # the Code is fixed at creation: never in an update
    crm_product.refresh_from_db()
    assert crm_product.price == Decimal("1234.50") and crm_product.code == product.code


# ---------------------------------------------------------------- 4: references between tables


def test_crm_orders_reach_the_erp_with_the_customer_code_and_skus_found_through_the_links(demo):
    run(demo)
    links = RecordLink.objects.filter(table__name="Order")
    assert links.exists()
    for link in links:
        crm_order = CrmOrder.objects.select_related("contact").get(pk=int(link.source_key))
        erp_order = ErpOrder.objects.select_related("customer").get(number=int(link.target_key))
        customer_link = RecordLink.objects.get(table__name="Company", target_key=str(crm_order.contact_id))
        assert erp_order.customer.code == customer_link.source_key
        assert erp_order.external_id == str(crm_order.pk)
        crm_codes = {
            line["ProductId"]: CrmProduct.objects.get(pk=line["ProductId"]).code for line in crm_order.products
        }
        assert [line["product_code"] for line in erp_order.lines] == [
            crm_codes[line["ProductId"]] for line in crm_order.products
        ]
        assert [Decimal(str(line["quantity"])) for line in erp_order.lines] == [
            Decimal(str(line["Quantity"])) for line in crm_order.products
        ]


def test_an_order_whose_customer_is_not_synced_yet_waits_then_goes_through_after_it(demo):
    blocked = synced_customers().last()
    ErpCustomer.objects.filter(pk=blocked.pk).update(credit_status=CreditStatus.BLOCKED)
    company = CrmContact.objects.filter(cnpj="".join(filter(str.isdigit, blocked.cnpj))).first()
    if company is None:
        company = CrmContact.objects.create(
            type_id=1, name=blocked.trade_name, cnpj="".join(filter(str.isdigit, blocked.cnpj))
        )
    order = salesperson_order(company, 9001)

    first = run(demo)
    waiting = RecordError.objects.get(table__name="Order", record_key=str(order.pk))
    assert waiting.status == ErrorStatus.WAITING
    assert waiting.waiting_for == f"Company {company.pk}"
    assert str(waiting.reason) == f"waiting for Company {company.pk}"
    assert TableRun.objects.get(run=first, table__name="Order").waiting >= 1
    assert not ErpOrder.objects.filter(external_id=str(order.pk)).exists()
    assert first.status == RunStatus.SUCCEEDED  # waiting is not failing

    touch(blocked, credit_status=CreditStatus.APPROVED)  # the customer's credit is approved: it syncs
    second = run(demo)
    erp_order = ErpOrder.objects.get(external_id=str(order.pk))
    assert erp_order.customer.code == blocked.code
    waiting.refresh_from_db()
    assert waiting.status == ErrorStatus.RESOLVED
    event = RecordEvent.objects.get(run=second, table__name="Order", record_key=str(order.pk))
    assert event.action == "created"


def test_an_order_that_waits_too_long_becomes_a_review_queue_entry(demo):
    lead = CrmContact.objects.create(type_id=1, name="Lead Ltda", cnpj="11222333000181")
    order = salesperson_order(lead, 9002)
    run(demo)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        later = run(demo)
    error = RecordError.objects.get(table__name="Order", record_key=str(order.pk))
    assert error.status == ErrorStatus.OPEN
    assert str(error.reason).startswith(f"Still waiting for Company {lead.pk} after 1 day")
    assert error.payload["ContactId"] == lead.pk  # the payload is kept for a retry
    assert later.status == RunStatus.PARTIAL


# ---------------------------------------------------------------- 5: status back, one order at a time


def test_each_orders_erp_number_and_status_come_back_one_call_per_order(demo):
    first = run(demo)
    links = list(RecordLink.objects.filter(table__name="Order"))
    assert links
    calls = RequestLog.objects.filter(run=first, operation="GetOrderStatus")
    assert calls.count() == len(links)  # one call per linked order, no list operation
    for link in links:
        crm_order = CrmOrder.objects.get(pk=int(link.source_key))
        assert custom_field(crm_order.other_properties, "order_ERP_NUMBER") == {
            "FieldKey": "order_ERP_NUMBER",
            "IntegerValue": int(link.target_key),
        }
        assert custom_field(crm_order.other_properties, "order_ERP_STATUS")["StringValue"] == ErpOrderStatus.RECEIVED

    moved = ErpOrder.objects.get(number=int(links[0].target_key))
    touch(moved, status=ErpOrderStatus.INVOICED)
    second = run(demo)
    crm_order = CrmOrder.objects.get(pk=int(links[0].source_key))
    [patch] = bodies("PATCH", f"/Orders({crm_order.pk})", second)
    assert patch == {"OtherProperties": [{"FieldKey": "order_ERP_STATUS", "StringValue": ErpOrderStatus.INVOICED}]}
    assert custom_field(crm_order.other_properties, "order_ERP_STATUS")["StringValue"] == ErpOrderStatus.INVOICED
    assert custom_field(crm_order.other_properties, "order_ERP_NUMBER")["IntegerValue"] == moved.number  # kept
    status = TableRun.objects.get(run=second, table__name="Order status")
    assert (status.updated, status.unchanged) == (1, len(links) - 1)


# ---------------------------------------------------------------- 6: refusals say why


def test_a_refused_record_shows_the_apis_own_reason_in_the_queue(demo):
    price = demo.tables.get(name="Product").mappings.get(target_field="Price")
    price.value_type = ValueType.TEXT  # a misconfiguration: the CRM takes prices as numbers
    price.save()
    first = run(demo)
    assert first.status == RunStatus.PARTIAL
    errors = RecordError.objects.filter(table__name="Product")
    assert errors.exists()
    for error in errors:
        assert "422" in str(error.reason) and "Price must be a number" in str(error.reason), str(error.reason)
        assert isinstance(error.payload["unit_price"], int | float)  # the source payload, kept for a retry


# ---------------------------------------------------------------- 7: field ownership


def test_a_target_owned_field_edited_in_the_crm_is_never_overwritten(demo):
    email = demo.tables.get(name="Company").mappings.get(target_field="Email")
    email.owner = FieldOwner.TARGET
    email.save()
    run(demo)
    customer = synced_customers()[0]
    company = crm_company(customer)
    CrmContact.objects.filter(pk=company.pk).update(email="compras@cliente.example")  # a salesperson's edit
    touch(customer, email="novo@erp.example", trade_name="Nome Novo")

    second = run(demo)
    company.refresh_from_db()
    assert company.email == "compras@cliente.example"
    assert company.name == "Nome Novo"
    [patch] = bodies("PATCH", f"/Contacts({company.pk})", second)
    assert "Email" not in patch
    assert not FieldConflict.objects.exists()


def test_a_source_owned_field_edited_in_the_crm_is_overwritten_and_the_lost_value_journaled(demo, login_as):
    run(demo)
    customer = synced_customers()[0]
    company = crm_company(customer)
    CrmContact.objects.filter(pk=company.pk).update(name="Editado no CRM")
    touch(customer, trade_name="Nome do ERP")

    second = run(demo)
    company.refresh_from_db()
    assert company.name == "Nome do ERP"
    conflict = FieldConflict.objects.get()
    assert (conflict.run_id, conflict.record_key, conflict.target_key, conflict.field) == (
        second.pk,
        customer.code,
        str(company.pk),
        "Name",
    )
    assert (conflict.written_value, conflict.lost_value, conflict.new_value) == (
        customer.trade_name,
        "Editado no CRM",
        "Nome do ERP",
    )
    event = RecordEvent.objects.get(run=second, table__name="Company", record_key=customer.code)
    assert "Overwrote Name" in str(event.message)  # in the record's history (and so in the history workbook)

    page = login_as(SUPERVISOR).get(reverse("admin:run", args=[second.pk])).content.decode()
    journal = page.split('id="conflicts"', 1)[1]
    assert f'data-conflict="{conflict.pk}"' in journal
    for shown in ("Name", "&quot;Editado no CRM&quot;", "&quot;Nome do ERP&quot;", customer.code):
        assert shown in journal
