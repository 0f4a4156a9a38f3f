"""The demo end to end over HTTP: an order created in the demo CRM reaches the demo ERP through its webhook."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from demo import crm_deliveries, seed
from demo.crm_schema import ORDERS
from demo.crm_webhook_setup import register_crm_webhooks
from demo.integration import configure_demo
from demo.models import CrmWebhook, ErpCustomer, ErpOrder, ErpProduct, SandboxKnobs
from monitoring.choices import RunStatus, Trigger, WebhookEventStatus, WebhookVerdict
from monitoring.models import SyncRun, WebhookEvent
from sync.connectors import soap
from sync.engine import execute_run, queue_run
from sync.models import RecordLink
from sync.webhooks.addresses import receiver_url_at

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = seed.SeedSizes(
    customers=6, contacts=2, products=4, orders=0, crm_companies=2, crm_people=0, crm_products=0, crm_orders=0
)


@pytest.fixture
def demo(live_server):
    soap.clear_caches()
    seed.populate(SIZES, timezone.now())
    SandboxKnobs.objects.update(order_step_seconds=0)
    integration = configure_demo(live_server.url)
    first = execute_run(queue_run(integration, Trigger.MANUAL).pk)  # companies and products reach the CRM
    assert first.status == RunStatus.SUCCEEDED, first.error
    yield integration
    soap.clear_caches()


def linked(integration, table: str) -> dict[str, str]:
    """``{ERP key: CRM id}`` of a table's links."""
    links = RecordLink.objects.filter(table__integration=integration, table__name=table)
    return dict(links.values_list("source_key", "target_key"))


def test_an_order_created_in_the_crm_reaches_the_erp_through_its_webhook_once(demo, live_server):
    receiver = register_crm_webhooks(demo, live_server.url)  # as `manage.py demo` does; the tasks run at once here
    address = receiver_url_at(live_server.url, receiver.token)
    assert list(CrmWebhook.objects.values_list("entity_id", "action_id", "callback_url")) == [(4, 1, address)]

    customer_code, company_id = next(iter(linked(demo, "Company").items()))
    products = linked(demo, "Product")
    (code_a, product_a), (code_b, product_b) = sorted(products.items())[:2]
    lines = [
        {"ProductId": int(product_a), "Quantity": 2, "UnitPrice": 10.5},
        {"ProductId": int(product_b), "Quantity": 1.5, "UnitPrice": 4},
    ]
    runs_before = SyncRun.objects.count()
    answer = requests.post(
        f"{live_server.url}/sandbox/crm/Orders",
        json={"ContactId": int(company_id), "Products": lines},
        headers={"User-Key": demo.crm_connection.api_key},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    crm_id = answer.json()["value"][0]["Id"]

    event = WebhookEvent.objects.get(receiver=receiver)
    assert (event.verdict, event.event_type, event.status) == (
        WebhookVerdict.ACCEPTED,
        "Order.Create",
        WebhookEventStatus.PROCESSED,
    )
    assert event.result == "1 record: 1 created"
    assert event.run.trigger == Trigger.WEBHOOK and event.run.status == RunStatus.SUCCEEDED
    assert SyncRun.objects.count() == runs_before + 1  # the webhook run, not a poll
    assert receiver.secret not in event.body

    order = ErpOrder.objects.get(external_id=str(crm_id))
    assert order.customer == ErpCustomer.objects.get(code=customer_code)
    lines_held = [
        (line["product_code"], Decimal(str(line["quantity"])), Decimal(str(line["unit_price"]))) for line in order.lines
    ]
    assert lines_held == [
        (ErpProduct.objects.get(code=code_a).code, Decimal("2"), Decimal("10.5")),
        (ErpProduct.objects.get(code=code_b).code, Decimal("1.5"), Decimal("4")),
    ]
    assert order.total == Decimal("27.00")

    # The same delivery sent again (the CRM retrying a delivery it thinks was lost): the inbox counts a replay.
    webhook = CrmWebhook.objects.get(action_id=1)
    new = ORDERS.serialize(ORDERS.model.objects.select_related("contact").get(pk=crm_id))
    assert crm_deliveries.deliver(webhook.pk, "Create", "Order", new, None) == "delivered"
    event.refresh_from_db()
    assert event.replays == 1
    assert WebhookEvent.objects.filter(receiver=receiver).count() == 1
    assert ErpOrder.objects.filter(external_id=str(crm_id)).count() == 1
