"""The portal registers its receiver's address at HubSpot (the public app's webhooks API v3) and removes it."""

from __future__ import annotations

import lxml.html
import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.models import RequestLog
from sync.choices import AuthKind, ConnectionKind, DeletePolicy, Direction, IntegrationType, WebhookScheme
from sync.models import Connection, FieldMapping, Integration, SyncTable, WebhookReceiver, WebhookRegistration
from sync.webhooks import registration
from sync.webhooks.addresses import receiver_url_at

from .servers.hubspot_webhooks import DEVELOPER_KEY, HubSpotWebhooksApi

pytestmark = pytest.mark.django_db(transaction=True)

APP_ID = "4471203"
PRIVATE_APP_TOKEN = "pat-na1-0d1e-private-app-token"
CLIENT_SECRET = "hubspot-client-secret-77"
ORIGIN = "https://portal.example"


@pytest.fixture
def hubspot_api():
    with HubSpotWebhooksApi() as api:
        api.add_app(APP_ID)
        yield api


@pytest.fixture
def receiver(hubspot_api):
    """A connection to HubSpot (its private-app token), a table reading contacts that takes their webhooks."""
    crm = Connection.objects.create(
        name="HubSpot",
        kind=ConnectionKind.REST,
        base_url=hubspot_api.url,
        auth_kind=AuthKind.BEARER,
        token=PRIVATE_APP_TOKEN,
        pagination="cursor",
        records_path="results",
        max_retries=0,
    )
    erp = Connection.objects.create(name="ERP", kind=ConnectionKind.SOAP, wsdl_url="https://erp.example/ws?wsdl")
    integration = Integration.objects.create(
        name="HubSpot → ERP", integration_type=IntegrationType.REST, erp_connection=erp, crm_connection=crm
    )
    table = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        direction=Direction.CRM_TO_ERP,
        source_object="/crm/v3/objects/contacts",
        target_object="UpsertCustomer",
        record_key="id",
        delete_policy=DeletePolicy.DELETE,
        webhook_event_types="contact.creation contact.propertyChange",
        webhook_delete_types="contact.deletion",
        webhook_fetch_object="/crm/v3/objects/contacts/{key}?properties=email,firstname",
        webhook_key_path="objectId",
    )
    for position, (source, target) in enumerate(
        [("id", "CrmId"), ("properties.email", "Email"), ("properties.firstname", "Name")]
    ):
        FieldMapping.objects.create(table=table, position=position, source_path=source, target_field=target)
    return WebhookReceiver.objects.create(
        connection=crm,
        scheme=WebhookScheme.HUBSPOT_V3,
        secret=CLIENT_SECRET,
        hubspot_app_id=APP_ID,
        hubspot_developer_key=DEVELOPER_KEY,
    )


def held(api) -> list[tuple[str, str, bool]]:
    """The app's subscriptions as HubSpot holds them: event type, property, active."""
    items = api.subscriptions(APP_ID)
    return sorted((item["eventType"], item.get("propertyName", ""), item["active"]) for item in items)


OURS = [
    ("contact.creation", "", True),
    ("contact.deletion", "", True),
    ("contact.propertyChange", "email", True),
    ("contact.propertyChange", "firstname", True),
]
LABELS = [
    "contact.creation",
    "contact.deletion",
    "contact.propertyChange (email)",
    "contact.propertyChange (firstname)",
]


def test_it_sets_the_target_and_subscribes_once_then_removes_exactly_its_own(hubspot_api, receiver):
    hubspot_api.apps[APP_ID].settings = {
        "targetUrl": "https://old.example/hubspot",
        "throttling": {"period": "ROLLING_MINUTE", "maxConcurrentRequests": 50},
        "createdAt": "2024-01-01T00:00:00.000Z",
    }
    others = hubspot_api.subscribe(APP_ID, "deal.creation")  # someone else's, made on the app's page
    address = receiver_url_at(ORIGIN, receiver.token)

    outcome = registration.register(receiver, address)

    assert (outcome.added, outcome.kept) == (LABELS, [])
    assert outcome.replaced_address == "https://old.example/hubspot"
    settings = hubspot_api.settings(APP_ID)
    assert settings["targetUrl"] == address
    assert settings["throttling"] == {"period": "ROLLING_MINUTE", "maxConcurrentRequests": 50}  # HubSpot's kept
    assert held(hubspot_api) == sorted([("deal.creation", "", True), *OURS])
    listed = hubspot_api.subscriptions(APP_ID)
    by_subscription = {(item["eventType"], item.get("propertyName", "")): item["id"] for item in listed}
    kept = {(row.event_type, row.property_name): row.sender_id for row in receiver.registrations.all()}
    assert kept == {key: value for key, value in by_subscription.items() if key != ("deal.creation", "")}
    assert all(isinstance(sub_id, str) and sub_id.isdigit() for sub_id in kept.values())

    again = registration.register(receiver, address)
    assert (again.added, again.kept, again.replaced_address) == ([], LABELS, "")
    assert held(hubspot_api) == sorted([("deal.creation", "", True), *OURS])  # nothing registered twice
    assert [call.method for call in hubspot_api.calls()][-2:] == ["GET", "GET"]  # settings and list only

    removed = registration.remove(receiver)
    assert removed.removed == LABELS
    assert [item["id"] for item in hubspot_api.subscriptions(APP_ID)] == [others]  # someone else's stays
    assert not WebhookRegistration.objects.exists()
    assert hubspot_api.settings(APP_ID)["targetUrl"] == address  # the app's target is left as it is


def test_subscriptions_the_app_already_lists_are_adopted_and_a_paused_one_is_activated(hubspot_api, receiver):
    made_by_hand = hubspot_api.subscribe(APP_ID, "contact.creation")
    paused = hubspot_api.subscribe(APP_ID, "contact.propertyChange", "email", active=False)
    hubspot_api.subscribe(APP_ID, "contact.propertyChange", "phone")  # a property no mapping reads

    outcome = registration.register(receiver, receiver_url_at(ORIGIN, receiver.token))

    assert outcome.kept == ["contact.creation", "contact.propertyChange (email)"]
    assert outcome.added == ["contact.deletion", "contact.propertyChange (firstname)"]
    assert held(hubspot_api) == sorted([*OURS, ("contact.propertyChange", "phone", True)])
    kept = {(row.event_type, row.property_name): row.sender_id for row in receiver.registrations.all()}
    assert kept[("contact.creation", "")] == made_by_hand
    assert kept[("contact.propertyChange", "email")] == paused
    settings = hubspot_api.settings(APP_ID)  # none before: HubSpot's default throttling
    assert settings["throttling"] == {"period": "SECONDLY", "maxConcurrentRequests": 10}


def test_a_subscription_deleted_at_hubspot_is_made_again_and_one_gone_counts_as_removed(hubspot_api, receiver):
    address = receiver_url_at(ORIGIN, receiver.token)
    registration.register(receiver, address)
    gone = receiver.registrations.get(event_type="contact.deletion").sender_id
    hubspot_api.apps[APP_ID].subscriptions.pop(gone)

    outcome = registration.register(receiver, address)
    assert outcome.added == ["contact.deletion"]
    assert held(hubspot_api) == OURS

    hubspot_api.apps[APP_ID].subscriptions.pop(receiver.registrations.get(event_type="contact.creation").sender_id)
    assert registration.remove(receiver).removed == LABELS
    assert held(hubspot_api) == []


def test_the_calls_carry_the_developer_key_only_in_the_query_and_no_log_shows_it(hubspot_api, receiver):
    registration.register(receiver, receiver_url_at(ORIGIN, receiver.token))

    calls = hubspot_api.calls()
    assert {call.query.get("hapikey") for call in calls} == {DEVELOPER_KEY}
    assert all("authorization" not in {name.lower() for name in call.headers} for call in calls)
    assert all(PRIVATE_APP_TOKEN not in f"{call.headers}{call.body}" for call in calls)
    logs = RequestLog.objects.filter(connection=receiver.connection).order_by("started_at", "pk")
    assert [(log.method, log.url.split("?")[0].removeprefix(hubspot_api.url), log.status_code) for log in logs] == [
        ("GET", f"/webhooks/v3/{APP_ID}/settings", 404),
        ("PUT", f"/webhooks/v3/{APP_ID}/settings", 200),
        ("GET", f"/webhooks/v3/{APP_ID}/subscriptions", 200),
        *[("POST", f"/webhooks/v3/{APP_ID}/subscriptions", 201)] * 4,
    ]
    posted = [log.request_body for log in logs if log.method == "POST"]
    assert '"propertyName": "email"' in posted[2] and '"eventType": "contact.propertyChange"' in posted[2]
    for log in logs:
        shown = f"{log.url}{log.request_headers}{log.request_body}{log.response_body}{log.error}"
        assert DEVELOPER_KEY not in shown and CLIENT_SECRET not in shown and PRIVATE_APP_TOKEN not in shown


@pytest.mark.parametrize(
    ("event_types", "words"),
    [
        ("*", "HubSpot subscribes one event type at a time"),
        ("contact.propertyChange", "Contact maps no property (a mapping's source path such as properties.email)"),
        ("", "names webhook event types: there is nothing to register"),
    ],
)
def test_what_cannot_be_registered_is_said_in_words(hubspot_api, receiver, event_types, words):
    SyncTable.objects.update(webhook_event_types=event_types, webhook_delete_types="")
    FieldMapping.objects.exclude(source_path="id").delete()
    with pytest.raises(registration.RegistrationError) as refused:
        registration.register(receiver, receiver_url_at(ORIGIN, receiver.token))
    assert words in refused.value.message
    assert hubspot_api.calls() == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"hubspot_developer_key": "not-the-developer-key"}, "The API key provided is invalid."),
        ({"hubspot_app_id": "999"}, "knows no app 999 (404 Not Found): check the app id. App 999 not found"),
    ],
)
def test_hubspots_refusal_is_said_in_its_own_words(hubspot_api, receiver, change, words):
    for name, value in change.items():
        setattr(receiver, name, value)
    receiver.save()
    with pytest.raises(registration.RegistrationError) as refused:
        registration.register(receiver, receiver_url_at(ORIGIN, receiver.token))
    assert words in refused.value.message
    assert "not-the-developer-key" not in refused.value.message
    assert hubspot_api.subscriptions(APP_ID) == [] and hubspot_api.settings(APP_ID) is None


def test_a_target_hubspot_refuses_is_its_validation_message(hubspot_api, receiver):
    with pytest.raises(registration.RegistrationError) as refused:
        registration.register(receiver, "http://portal.example/hooks/x/")  # HubSpot takes https only
    assert "HubSpot answered 400 Bad Request to PUT" in refused.value.message
    assert "targetUrl must be a valid https URL" in refused.value.message
    assert DEVELOPER_KEY not in refused.value.message


# ---------------------------------------------------------------- the receiver's page


def receiver_page(client, receiver):
    response = client.get(reverse("admin:sync_webhookreceiver_change", args=[receiver.pk]))
    assert response.status_code == 200
    return response.content.decode(), lxml.html.fromstring(response.content)


def messages_of(answer) -> list[str]:
    page = lxml.html.fromstring(answer.content)
    return [item.text_content().strip() for item in page.xpath('//ul[contains(@class, "messagelist")]/li')]


def test_it_registers_and_removes_from_the_receivers_page(hubspot_api, receiver, client, login_as, settings):
    settings.PUBLIC_ORIGIN = ORIGIN
    login_as(IT)
    text, page = receiver_page(client, receiver)
    assert page.xpath('//*[@data-action="webhook-register"]')[0].text_content().strip() == "Register at HubSpot"
    assert DEVELOPER_KEY not in text and CLIENT_SECRET not in text
    (key_row,) = page.xpath('//*[contains(@class, "form-row field-hubspot_developer_key")]')
    assert "A value is stored. Leave blank to keep it." in key_row.text_content()

    answer = client.post(reverse("admin:sync_webhookreceiver_register", args=[receiver.pk]), follow=True)
    assert messages_of(answer) == [f"At HubSpot: registered {', '.join(LABELS)}."]
    assert held(hubspot_api) == OURS
    assert hubspot_api.settings(APP_ID)["targetUrl"] == receiver_url_at(ORIGIN, receiver.token)
    text, page = receiver_page(client, receiver)
    listed = page.xpath("//*[@data-webhook-registrations]//li")
    assert [item.text_content().split(": webhook")[0] for item in listed] == LABELS
    assert DEVELOPER_KEY not in text

    answer = client.post(reverse("admin:sync_webhookreceiver_unregister", args=[receiver.pk]), follow=True)
    assert messages_of(answer) == [f"Removed at HubSpot: {', '.join(LABELS)}."]
    assert held(hubspot_api) == []


def test_a_bad_developer_key_shows_hubspots_words_on_the_page(hubspot_api, receiver, client, login_as):
    receiver.hubspot_developer_key = "wrong-developer-key-31"
    receiver.save()
    login_as(IT)
    answer = client.post(reverse("admin:sync_webhookreceiver_register", args=[receiver.pk]), follow=True)
    assert answer.status_code == 200
    (shown,) = messages_of(answer)
    refused = "HubSpot refused the developer API key (401 Unauthorized): The API key provided is invalid."
    assert shown.startswith(refused)
    text = answer.content.decode()
    assert "wrong-developer-key-31" not in text and "Traceback" not in text
    logs = RequestLog.objects.filter(connection=receiver.connection)
    assert logs.exists() and all(
        "wrong-developer-key-31" not in f"{log.url}{log.request_headers}{log.response_body}{log.error}" for log in logs
    )


def test_without_the_app_id_and_key_there_is_no_button_and_the_page_says_what_is_missing(
    hubspot_api, receiver, client, login_as
):
    receiver.hubspot_app_id, receiver.hubspot_developer_key = "", ""
    receiver.save()
    login_as(IT)
    _text, page = receiver_page(client, receiver)
    assert not page.xpath('//*[@data-action="webhook-register"]')
    (why,) = page.xpath("//*[@data-webhook-no-registration]")
    assert "fill in the receiver's HubSpot app id, HubSpot developer API key (" in why.text_content()


def test_the_form_keeps_the_key_shows_the_app_fields_for_hubspot_only_and_wants_both(receiver, client, login_as):
    login_as(IT)
    url = reverse("admin:sync_webhookreceiver_change", args=[receiver.pk])
    form = {"scheme": "hubspot_v3", "secret": "", "max_body_bytes": "1048576", "active": "on"}

    answer = client.post(url, {**form, "hubspot_app_id": APP_ID, "hubspot_developer_key": ""})
    assert answer.status_code == 302
    receiver.refresh_from_db()
    assert (receiver.hubspot_app_id, receiver.hubspot_developer_key) == (APP_ID, DEVELOPER_KEY)  # kept

    answer = client.post(url, {**form, "hubspot_app_id": "my-app", "hubspot_developer_key": ""})
    assert "A HubSpot app id is a number, e.g. 1234567." in answer.content.decode()

    receiver.hubspot_app_id, receiver.hubspot_developer_key = "", ""
    receiver.save()
    answer = client.post(url, {**form, "hubspot_app_id": "", "hubspot_developer_key": "a-key-without-app"})
    assert "Fill in the app id with the developer API key, or neither." in answer.content.decode()

    _text, page = receiver_page(client, receiver)
    shows = page.xpath('//select[@name="scheme"]/@data-shows')[0]
    assert '"hubspot_app_id": ["hubspot_v3"]' in shows and '"hubspot_developer_key": ["hubspot_v3"]' in shows

    answer = client.post(url, {**form, "scheme": "bling", "secret": "bling", "hubspot_app_id": APP_ID})
    assert answer.status_code == 302
    receiver.refresh_from_db()
    assert (receiver.hubspot_app_id, receiver.hubspot_developer_key) == ("", "")  # another scheme: blanked


def test_it_only_with_the_csrf_token_and_a_supervisor_cannot(
    hubspot_api, receiver, login_as, django_user_model, settings
):
    settings.PUBLIC_ORIGIN = ORIGIN  # HubSpot takes an https target only
    register_url = reverse("admin:sync_webhookreceiver_register", args=[receiver.pk])
    it = django_user_model.objects.create_user(username="it-csrf", password="pw", is_staff=True)
    it.groups.add(*django_user_model._meta.get_field("groups").related_model.objects.filter(name=IT))
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(it)
    assert guarded.post(register_url).status_code == 403  # no CSRF token
    assert hubspot_api.calls() == []
    page = guarded.get(reverse("admin:sync_webhookreceiver_change", args=[receiver.pk]))
    token = lxml.html.fromstring(page.content).xpath('//input[@name="csrfmiddlewaretoken"]/@value')[0]
    assert guarded.post(register_url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert held(hubspot_api) == OURS

    supervisor = login_as(SUPERVISOR)
    assert supervisor.post(reverse("admin:sync_webhookreceiver_unregister", args=[receiver.pk])).status_code == 403
    assert supervisor.post(register_url).status_code == 403
    assert held(hubspot_api) == OURS and receiver.registrations.count() == 4
