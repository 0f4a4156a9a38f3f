"""The integration type is checked against its connections: no label without a connector behind it."""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from accounts.roles import IT
from demo.integration import DOCUMENT, credentials, for_portal
from sync.choices import IntegrationType, WebhookScheme
from sync.config_io import ConfigError, import_text
from sync.config_io.text import to_yaml
from sync.models import Integration, WebhookReceiver
from sync.models.integration_ports import type_errors

pytestmark = pytest.mark.django_db


def type_errors_of(integration) -> list[str]:
    connections = [integration.erp_connection, integration.crm_connection]
    return type_errors(integration.integration_type, connections, integration.tables.all())


def test_a_type_one_of_its_connections_speaks_is_accepted(integration):
    # The fixture's ERP speaks SOAP and its CRM REST: either names a port the integration runs on.
    for kind in (IntegrationType.SOAP, IntegrationType.REST):
        integration.integration_type = kind
        assert type_errors_of(integration) == []


def test_a_file_drop_without_a_file_connection_is_refused(integration):
    integration.integration_type = IntegrationType.FILE

    assert type_errors_of(integration) == [
        "A File drop integration needs a connection of that kind. Its connections offer: REST API, SOAP web service."
    ]


def test_a_webhook_integration_needs_an_active_receiver(integration):
    integration.integration_type = IntegrationType.WEBHOOK
    refusal = (
        "A webhook integration needs webhooks from one of its connections: a webhook receiver on it, or a table "
        "naming the webhook events it takes. Its connections offer: REST API, SOAP web service."
    )
    assert type_errors_of(integration) == [refusal]

    receiver = WebhookReceiver.objects.create(
        connection=integration.crm_connection,
        scheme=WebhookScheme.SHARED_KEY,
        secret="k" * 20,
        signature_header="X-Key",
    )
    integration = Integration.objects.get(pk=integration.pk)
    integration.integration_type = IntegrationType.WEBHOOK
    assert type_errors_of(integration) == []

    receiver.active = False
    receiver.save()
    integration = Integration.objects.get(pk=integration.pk)
    integration.integration_type = IntegrationType.WEBHOOK
    assert type_errors_of(integration) == [refusal]

    # A table naming the events it takes says so too: its receiver is a step of the setup.
    integration.tables.update(webhook_event_types="contact.created")
    assert type_errors_of(integration) == []


def test_the_yaml_import_refuses_a_type_without_a_connector():
    document = copy.deepcopy(for_portal(DOCUMENT, "http://127.0.0.1:8000", 5))
    document["integration_type"] = "file"

    with pytest.raises(ConfigError) as refused:
        import_text(to_yaml(document), "integration.yaml", environ=credentials())

    assert any("A File drop integration needs a connection of that kind." in line for line in refused.value.messages)
    assert not Integration.objects.filter(name=document["name"]).exists()


def test_the_form_says_why_the_type_does_not_fit(integration, login_as):
    client = login_as(IT)
    page = client.get(reverse("admin:sync_integration_change", args=[integration.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "integration_type": IntegrationType.FILE,
            "erp_connection": integration.erp_connection_id,
            "crm_connection": integration.crm_connection_id,
        }
    )

    response = client.post(reverse("admin:sync_integration_change", args=[integration.pk]), data)

    assert response.status_code == 200
    assert "A File drop integration needs a connection of that kind." in response.content.decode()
    integration.refresh_from_db()
    assert integration.integration_type != IntegrationType.FILE
