"""A shop's companies and contacts, source → target between two local REST servers, taking webhooks.

The source and the target are ``FakeRestApi`` servers; both tables read the source connection, whose
receiver verifies Standard Webhooks. :func:`post_event` posts a delivery signed as that scheme signs it,
and the processing task the view sends once the event is committed runs at once (django-q2 in sync
mode, the on-commit callbacks executed). The fixtures ``shop_apis`` and ``shop`` (tests/conftest.py)
build it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.urls import reverse

from monitoring.models import WebhookEvent
from sync.choices import WebhookScheme
from sync.models import FieldMapping, Integration, SyncTable, WebhookReceiver

from .builders import rest_to_rest
from .webhook_senders import STANDARD_SECRET, standard_headers

API_KEY = "webhook-processing-key-7c1e"
ACME = {"type": "company.created", "data": {"Code": "C1", "Name": "  ACME Ltda ", "Revenue": "1234,50", "Active": "S"}}


def build_shop(source, target) -> Integration:
    """Companies and their contacts move source → target; both tables take webhooks of the source."""
    integration = rest_to_rest(source, target, api_key=API_KEY, name="Shop ↔ CRM")
    company = SyncTable.objects.create(
        integration=integration,
        name="Company",
        order=1,
        source_object="/Contacts",
        target_object="/Contacts",
        update_object="/Contacts({id})",
        record_key="Code",
        webhook_event_types="company.created, company.updated",
        webhook_records_path="data",
    )
    for position, (path, field, extra) in enumerate(
        [
            ("Code", "Code", {"value_type": "text"}),
            ("Name", "Name", {"transform": "trim"}),
            (
                "Revenue",
                "Revenue",
                {"transform": "decimal", "transform_options": {"decimal_separator": ","}, "value_type": "decimal"},
            ),
            ("Active", "Active", {"transform": "boolean", "value_type": "boolean"}),
        ]
    ):
        FieldMapping.objects.create(table=company, position=position, source_path=path, target_field=field, **extra)
    contact = SyncTable.objects.create(
        integration=integration,
        name="Contact",
        order=2,
        source_object="/Contacts",
        target_object="/Contacts",
        record_key="Email",
        webhook_event_types="contact.created",
        webhook_records_path="data",
    )
    FieldMapping.objects.create(table=contact, position=1, source_path="Email", target_field="Email")
    FieldMapping.objects.create(
        table=contact,
        position=2,
        source_path="CompanyCode",
        target_field="CompanyId",
        transform="lookup",
        transform_options={"table": "Company"},
    )
    WebhookReceiver.objects.create(
        connection=integration.erp_connection, scheme=WebhookScheme.STANDARD, secret=STANDARD_SECRET
    )
    return integration


def post_event(client, integration, body: dict, delivery_id: str, capture, *, processed: bool = True):
    """Post ``body`` signed as Standard Webhooks; the processing task runs once the event is committed
    (``processed`` False: it is left waiting, as while a run is active)."""
    receiver = integration.erp_connection.webhook_receiver
    raw = json.dumps(body).encode()
    headers = standard_headers(STANDARD_SECRET, delivery_id, datetime.now(UTC), raw)
    with capture(execute=processed):
        response = client.post(
            reverse("webhook_receive", args=[receiver.token]),
            data=raw,
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(receiver=receiver, delivery_id=delivery_id)
