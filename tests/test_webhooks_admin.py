"""Webhooks in, in the admin: IT sets a receiver up on its connection's page; the inbox shows payloads to IT only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import lxml.html
import pytest
from django.urls import reverse

from accounts.roles import IT, SUPERVISOR
from monitoring.models import WebhookEvent
from sync.choices import WebhookScheme
from sync.models import WebhookReceiver
from sync.webhooks.receive import stored_headers

from .webhook_senders import BLING_SECRET, STANDARD_SECRET

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
PAYLOAD = {"event": "order.created", "data": {"id": 7, "total": 129.9}, "api_token": "tok-in-the-body-77"}


def form_values(client, url: str) -> dict:
    """The page's main form as a browser submits it unchanged (without the CSRF token)."""
    response = client.get(url)
    assert response.status_code == 200
    form = max(lxml.html.fromstring(response.content).forms, key=lambda form: len(form.inputs))
    values = {}
    for element in form.inputs:
        if not element.name or element.name == "csrfmiddlewaretoken":
            continue
        if element.tag in ("select", "textarea"):
            values[element.name] = element.value or ""
        elif element.type in ("submit", "file", "button") or (element.checkable and not element.checked):
            continue
        else:
            values[element.name] = element.value or ""
    return values


def inbox_event(connection, *, secret=BLING_SECRET) -> WebhookEvent:
    receiver = WebhookReceiver.objects.create(connection=connection, scheme=WebhookScheme.BLING, secret=secret)
    headers = stored_headers(
        {"x-bling-signature-256": "sha256=abc", "content-type": "application/json", "x-forwarded-for": "203.0.113.9"},
        ("x-bling-signature-256",),
        secret,
    )
    body = json.dumps(PAYLOAD).encode()
    event, _replayed = WebhookEvent.accept(
        receiver, delivery_id="sha256:1", event_type="order.created", headers=headers, body=body, sent_at=None, now=NOW
    )
    return event


def test_it_adds_a_receiver_from_the_connection_page_and_sees_its_full_address(login_as, crm_connection):
    client = login_as(IT)
    connection_page = client.get(reverse("admin:sync_connection_change", args=[crm_connection.pk]))
    add_link = lxml.html.fromstring(connection_page.content).xpath("//*[@data-action='webhook-receiver-add']")[0]
    add_url = add_link.get("href")
    assert add_url == f"{reverse('admin:sync_webhookreceiver_add')}?connection={crm_connection.pk}"
    values = form_values(client, add_url)
    assert values["connection"] == str(crm_connection.pk)
    values.update({"scheme": WebhookScheme.STANDARD, "secret": STANDARD_SECRET})
    response = client.post(add_url, values)
    assert response.status_code == 302, response.content[:3000]
    receiver = WebhookReceiver.objects.get(connection=crm_connection)
    assert receiver.secret == STANDARD_SECRET and len(receiver.token) == 43

    for url in (
        reverse("admin:sync_connection_change", args=[crm_connection.pk]),
        reverse("admin:sync_webhookreceiver_change", args=[receiver.pk]),
    ):
        page = client.get(url).content.decode()
        address = lxml.html.fromstring(page).xpath("//*[@data-webhook-address]")[0].text
        assert address == f"http://testserver/hooks/{receiver.token}/"
        assert STANDARD_SECRET not in page
    assert "A value is stored. Leave blank to keep it." in page


def test_the_address_is_built_from_the_public_origin(login_as, crm_connection, settings):
    settings.PUBLIC_ORIGIN = "https://portal.example.com"
    receiver = WebhookReceiver.objects.create(
        connection=crm_connection, scheme=WebhookScheme.BLING, secret=BLING_SECRET
    )
    page = login_as(IT).get(reverse("admin:sync_connection_change", args=[crm_connection.pk])).content
    address = lxml.html.fromstring(page).xpath("//*[@data-webhook-address]")[0].text
    assert address == f"https://portal.example.com/hooks/{receiver.token}/"


def test_a_new_address_keeps_the_secret_and_retires_the_old_token(login_as, crm_connection):
    client = login_as(IT)
    receiver = WebhookReceiver.objects.create(
        connection=crm_connection, scheme=WebhookScheme.BLING, secret=BLING_SECRET
    )
    old = receiver.token
    url = reverse("admin:sync_webhookreceiver_change", args=[receiver.pk])
    unchanged = form_values(client, url)
    assert client.post(url, unchanged).status_code == 302
    receiver.refresh_from_db()
    assert (receiver.token, receiver.secret) == (old, BLING_SECRET)  # saved unchanged: same address, same secret
    response = client.post(url, {**unchanged, "new_address": "on"})
    assert response.status_code == 302, response.content[:3000]
    receiver.refresh_from_db()
    assert receiver.token != old and receiver.secret == BLING_SECRET
    assert client.post(f"/hooks/{old}/", data=b"{}", content_type="application/json").status_code == 404


def test_a_standard_webhooks_secret_must_be_whsec_base64(login_as, crm_connection):
    client = login_as(IT)
    url = reverse("admin:sync_webhookreceiver_add")
    values = {**form_values(client, url), "connection": str(crm_connection.pk), "scheme": WebhookScheme.STANDARD}
    response = client.post(url, {**values, "secret": "whsec_not base64!"})
    assert response.status_code == 200
    assert "A Standard Webhooks secret is whsec_ followed by base64 text" in response.content.decode()
    shared = client.post(url, {**values, "scheme": WebhookScheme.SHARED_KEY, "secret": "k"})
    assert "Name the header the key comes in, or its path in the body." in shared.content.decode()
    signed = client.post(url, {**values, "scheme": WebhookScheme.HMAC_SHA256, "secret": "k", "key_path": "Key"})
    assert "This verification reads a header: name it." in signed.content.decode()
    assert not WebhookReceiver.objects.exists()


def test_a_supervisor_sees_no_receiver_on_the_connection_page(login_as, crm_connection):
    receiver = WebhookReceiver.objects.create(
        connection=crm_connection, scheme=WebhookScheme.BLING, secret=BLING_SECRET
    )
    page = login_as(SUPERVISOR).get(reverse("admin:sync_connection_change", args=[crm_connection.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert receiver.token not in content and BLING_SECRET not in content
    assert 'data-panel="webhook"' not in content


def test_it_reads_the_inbox_with_the_payload_redacted_and_pretty(
    login_as, crm_connection, django_assert_max_num_queries
):
    event = inbox_event(crm_connection)
    client = login_as(IT)
    with django_assert_max_num_queries(12):
        listing = client.get(reverse("admin:monitoring_webhookevent_changelist"))
    assert listing.status_code == 200
    rows = lxml.html.fromstring(listing.content).xpath("//table[@id='result_list']/tbody/tr")
    assert len(rows) == 1
    assert "order.created" in rows[0].text_content() and "Accepted" in rows[0].text_content()

    page = client.get(reverse("admin:monitoring_webhookevent_change", args=[event.pk]))
    document = lxml.html.fromstring(page.content)
    body = document.xpath("//*[@data-webhook-body]")[0].text
    assert json.loads(body) == {**PAYLOAD, "api_token": "[redacted]"}
    assert '\n  "event": "order.created"' in body  # indented for reading
    headers = document.xpath("//*[@data-webhook-headers]")[0].text
    assert "x-bling-signature-256: [redacted]" in headers and "x-forwarded-for: 203.0.113.9" in headers
    assert BLING_SECRET not in page.content.decode()


def test_a_supervisor_sees_verdicts_and_statuses_but_never_a_payload(login_as, crm_connection):
    event = inbox_event(crm_connection)
    client = login_as(SUPERVISOR)
    listing = client.get(
        reverse("admin:monitoring_webhookevent_changelist") + f"?receiver__id__exact={event.receiver_id}"
    )
    assert listing.status_code == 200
    assert "Received, waiting to be processed" in listing.content.decode()
    page = client.get(reverse("admin:monitoring_webhookevent_change", args=[event.pk])).content.decode()
    assert "order.created" in page and "Accepted" in page
    assert "data-webhook-body" not in page and "data-webhook-headers" not in page
    assert "129.9" not in page


def test_the_inbox_filters_by_verdict_and_status(login_as, crm_connection):
    inbox_event(crm_connection)
    client = login_as(IT)
    url = reverse("admin:monitoring_webhookevent_changelist")
    refused = client.get(url + "?verdict__exact=refused")
    assert lxml.html.fromstring(refused.content).xpath("//table[@id='result_list']/tbody/tr") == []
    received = client.get(url + "?status__exact=received")
    assert len(lxml.html.fromstring(received.content).xpath("//table[@id='result_list']/tbody/tr")) == 1
