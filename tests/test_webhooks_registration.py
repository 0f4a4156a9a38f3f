"""The portal registers its receiver's address at the sender and removes it: Ploomes' /Webhooks, the demo CRM."""

from __future__ import annotations

import lxml.html
import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from demo.models import CrmWebhook
from monitoring.models import RequestLog
from sync.choices import AuthKind, ConnectionKind, Direction, IntegrationType, WebhookScheme
from sync.models import Connection, Integration, SyncTable, WebhookReceiver, WebhookRegistration
from sync.webhooks import registration
from sync.webhooks.addresses import receiver_url_at

from .demo_crm import served_demo_crm

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "shared-validation-key-8b2f"
ORIGIN = "https://portal.example"


@pytest.fixture
def ploomes(live_server):
    """A connection to the demo CRM, a table reading its orders that takes their webhooks, and its receiver."""
    url, user_key = served_demo_crm(live_server)
    crm = Connection.objects.create(
        name="Demo CRM",
        kind=ConnectionKind.REST,
        base_url=url,
        auth_kind=AuthKind.API_KEY,
        api_key_header="User-Key",
        api_key=user_key,
        pagination="odata",
        records_path="value",
        max_retries=0,
    )
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.SOAP, wsdl_url="https://erp.example/ws?wsdl")
    integration = Integration.objects.create(
        name="CRM → ERP", integration_type=IntegrationType.REST, erp_connection=erp, crm_connection=crm
    )
    SyncTable.objects.create(
        integration=integration,
        name="Order",
        direction=Direction.CRM_TO_ERP,
        source_object="/Orders",
        target_object="CreateOrder",
        record_key="Id",
        webhook_event_types="Order.Create, Order.Update",
        webhook_records_path="New",
    )
    return WebhookReceiver.objects.create(
        connection=crm,
        scheme=WebhookScheme.SHARED_KEY,
        secret=KEY,
        key_path="ValidationKey",
        event_type_path="{Entity}.{Action}",
    )


def crm_webhooks() -> list[tuple[int, int, str, str]]:
    rows = CrmWebhook.objects.order_by("pk")
    return list(rows.values_list("entity_id", "action_id", "callback_url", "validation_key"))


def test_it_registers_each_event_type_once_and_removes_exactly_those(ploomes):
    address = receiver_url_at(ORIGIN, ploomes.token)
    CrmWebhook.objects.create(entity_id=1, action_id=1, callback_url="https://other.example/hook")  # someone else's

    outcome = registration.register(ploomes, address)
    assert (outcome.added, outcome.kept) == (["Order.Create", "Order.Update"], [])
    assert crm_webhooks()[1:] == [(4, 1, address, KEY), (4, 2, address, KEY)]
    ids = {row.event_type: row.sender_id for row in ploomes.registrations.all()}
    assert ids == {
        "Order.Create": str(CrmWebhook.objects.get(action_id=1, entity_id=4).pk),
        "Order.Update": str(CrmWebhook.objects.get(action_id=2).pk),
    }

    again = registration.register(ploomes, address)
    assert (again.added, again.kept) == ([], ["Order.Create", "Order.Update"])
    assert CrmWebhook.objects.count() == 3  # not registered twice

    # Forgotten here but still at the sender: found in its list, not registered again.
    WebhookRegistration.objects.all().delete()
    assert registration.register(ploomes, address).kept == ["Order.Create", "Order.Update"]
    assert CrmWebhook.objects.count() == 3

    removed = registration.remove(ploomes)
    assert removed.removed == ["Order.Create", "Order.Update"]
    assert crm_webhooks() == [(1, 1, "https://other.example/hook", "")]  # only what the portal registered went
    assert not WebhookRegistration.objects.exists()


def test_a_new_address_replaces_the_old_registration(ploomes):
    registration.register(ploomes, receiver_url_at(ORIGIN, ploomes.token))
    ploomes.new_address()
    new = receiver_url_at(ORIGIN, ploomes.token)
    outcome = registration.register(ploomes, new)
    assert outcome.added == ["Order.Create", "Order.Update"]
    assert [row[2] for row in crm_webhooks()] == [new, new]


def test_the_calls_are_kept_as_the_connections_request_logs_without_the_key(ploomes):
    registration.register(ploomes, receiver_url_at(ORIGIN, ploomes.token))
    logs = RequestLog.objects.filter(connection=ploomes.connection).order_by("started_at", "pk")
    assert [(log.method, log.url.split("/crm", 1)[1].split("?")[0], log.status_code) for log in logs] == [
        ("GET", "/Webhooks@Actions", 200),
        ("GET", "/Webhooks", 200),
        ("POST", "/Webhooks", 200),
        ("POST", "/Webhooks", 200),
    ]
    posted = logs.filter(method="POST").first()
    assert '"EntityId": 4' in posted.request_body and KEY not in posted.request_body
    for log in logs:
        assert KEY not in f"{log.url}{log.request_headers}{log.request_body}{log.response_body}"
        assert ploomes.connection.api_key not in f"{log.request_headers}"


@pytest.mark.parametrize(
    ("event_types", "words"),
    [
        ("Invoice.Create", "Ploomes has no entity Invoice that the portal knows"),
        ("Order.Approve", "Demo CRM lists no action Approve (it lists Create, Update, Delete)"),
        ("*", "Ploomes registers one entity and action at a time"),
        ("", "names webhook event types: there is nothing to register"),
    ],
)
def test_what_cannot_be_registered_is_said_in_words(ploomes, event_types, words):
    SyncTable.objects.update(webhook_event_types=event_types, webhook_records_path="New" if event_types else "")
    with pytest.raises(registration.RegistrationError) as refused:
        registration.register(ploomes, receiver_url_at(ORIGIN, ploomes.token))
    assert words in refused.value.message
    assert not CrmWebhook.objects.exists()


def test_the_senders_refusal_is_its_own_message(ploomes):
    with pytest.raises(registration.RegistrationError) as refused:
        registration.register(ploomes, "ftp://portal.example/hooks/x/")  # the demo CRM takes http(s) only
    assert "CallbackUrl must be an http or https address." in refused.value.message
    assert KEY not in refused.value.message


def receiver_page(client, receiver):
    response = client.get(reverse("admin:sync_webhookreceiver_change", args=[receiver.pk]))
    assert response.status_code == 200
    return lxml.html.fromstring(response.content)


def test_it_registers_and_removes_from_the_receivers_page(ploomes, client, login_as, settings):
    settings.PUBLIC_ORIGIN = ORIGIN
    login_as(IT)
    page = receiver_page(client, ploomes)
    assert page.xpath('//*[@data-action="webhook-register"]')[0].text_content().strip() == "Register at Ploomes"
    assert not page.xpath('//*[@data-action="webhook-unregister"]')  # nothing registered yet

    answer = client.post(reverse("admin:sync_webhookreceiver_register", args=[ploomes.pk]), follow=True)
    assert "At Demo CRM: registered Order.Create, Order.Update." in answer.content.decode()
    address = receiver_url_at(ORIGIN, ploomes.token)
    assert [row[2] for row in crm_webhooks()] == [address, address]
    listed = receiver_page(client, ploomes).xpath("//*[@data-webhook-registrations]//li")
    assert [item.text_content().split(":")[0] for item in listed] == ["Order.Create", "Order.Update"]

    answer = client.post(reverse("admin:sync_webhookreceiver_unregister", args=[ploomes.pk]), follow=True)
    assert "Removed at Demo CRM: Order.Create, Order.Update." in answer.content.decode()
    assert not CrmWebhook.objects.exists()


def test_a_refusal_shows_on_the_page_in_words(ploomes, client, login_as):
    Connection.objects.filter(pk=ploomes.connection_id).update(api_key="wrong-user-key")
    login_as(IT)
    answer = client.post(reverse("admin:sync_webhookreceiver_register", args=[ploomes.pk]), follow=True)
    assert answer.status_code == 200
    shown = lxml.html.fromstring(answer.content).xpath(
        '//ul[contains(@class, "messagelist")]/li[contains(@class, "error")]'
    )
    errors = [item.text_content() for item in shown]
    assert len(errors) == 1 and "401 Unauthorized" in errors[0]
    assert "Traceback" not in answer.content.decode() and "wrong-user-key" not in answer.content.decode()


def test_a_supervisor_cannot_register(ploomes, client, login_as):
    login_as(SUPERVISOR)
    answer = client.post(reverse("admin:sync_webhookreceiver_register", args=[ploomes.pk]))
    assert answer.status_code == 403
    assert not CrmWebhook.objects.exists()


def test_a_scheme_the_portal_cannot_register_shows_no_button_and_says_why(ploomes, client, login_as):
    WebhookReceiver.objects.filter(pk=ploomes.pk).update(scheme=WebhookScheme.HMAC_SHA256, signature_header="X-Sig")
    login_as(IT)
    page = receiver_page(client, ploomes)
    assert not page.xpath('//*[@data-action="webhook-register"]')
    (why,) = page.xpath("//*[@data-webhook-no-registration]")
    assert "register the address at the sender by hand" in why.text_content()


def test_the_delete_events_a_table_takes_are_registered_too(ploomes):
    SyncTable.objects.filter(name="Order").update(
        webhook_event_types="Order.Create", webhook_delete_types="Order.Delete", delete_policy="delete"
    )

    outcome = registration.register(ploomes, receiver_url_at(ORIGIN, ploomes.token))

    assert outcome.added == ["Order.Create", "Order.Delete"]
    assert [(entity, action) for entity, action, _url, _key in crm_webhooks()] == [(4, 1), (4, 3)]
