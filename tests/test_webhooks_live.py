"""Webhooks in over real HTTP: one signed delivery per scheme posted to a live portal."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from monitoring.choices import WebhookVerdict
from monitoring.models import WebhookEvent
from sync.choices import WebhookScheme
from sync.models import WebhookReceiver

from .webhook_senders import (
    BLING_SECRET,
    HMAC_SECRET,
    HUBSPOT_SECRET,
    SHARED_KEY,
    STANDARD_SECRET,
    bling_headers,
    hmac_header,
    hubspot_headers,
    standard_headers,
)

pytestmark = pytest.mark.django_db(transaction=True)

BODY = json.dumps({"type": "contact.updated", "event": "contact.updated", "Id": 42}).encode()


def signed(scheme: str, url: str, body: bytes, at: datetime) -> dict[str, str]:
    if scheme == WebhookScheme.STANDARD:
        return standard_headers(STANDARD_SECRET, f"msg_{at.timestamp()}", at, body)
    if scheme == WebhookScheme.HUBSPOT_V3:
        return hubspot_headers(HUBSPOT_SECRET, "POST", url, body, at)
    if scheme == WebhookScheme.BLING:
        return bling_headers(BLING_SECRET, body)
    if scheme == WebhookScheme.SHARED_KEY:
        return {"X-Validation-Key": SHARED_KEY}
    return {"X-Hub-Signature-256": hmac_header(HMAC_SECRET, body)}


RECEIVERS = {
    WebhookScheme.STANDARD: {"secret": STANDARD_SECRET},
    WebhookScheme.HUBSPOT_V3: {"secret": HUBSPOT_SECRET},
    WebhookScheme.BLING: {"secret": BLING_SECRET},
    WebhookScheme.SHARED_KEY: {"secret": SHARED_KEY, "signature_header": "X-Validation-Key"},
    WebhookScheme.HMAC_SHA256: {"secret": HMAC_SECRET, "signature_header": "X-Hub-Signature-256"},
}


@pytest.mark.parametrize("scheme", list(RECEIVERS))
def test_a_signed_delivery_is_stored_and_answered_within_a_second(live_server, crm_connection, scheme):
    receiver = WebhookReceiver.objects.create(connection=crm_connection, scheme=scheme, **RECEIVERS[scheme])
    url = f"{live_server.url}/hooks/{receiver.token}/"
    now = datetime.now(UTC)
    started = time.monotonic()
    response = requests.post(
        url, data=BODY, headers={"Content-Type": "application/json", **signed(scheme, url, BODY, now)}, timeout=10
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "replay": False}
    assert elapsed < 1.0
    event = WebhookEvent.objects.get(receiver=receiver)
    assert event.verdict == WebhookVerdict.ACCEPTED
    assert json.loads(event.body) == json.loads(BODY)

    # A shared key signs nothing: only the key proves the sender (a changed body with the right key passes).
    forged = {"X-Validation-Key": "guessed"} if scheme == WebhookScheme.SHARED_KEY else signed(scheme, url, BODY, now)
    tampered = requests.post(
        url, data=BODY.replace(b"42", b"43"), headers={"Content-Type": "application/json", **forged}, timeout=10
    )
    assert tampered.status_code == 401
    assert tampered.json() == {"error": "signature"}
    refused = WebhookEvent.objects.get(receiver=receiver, verdict=WebhookVerdict.REFUSED)
    assert "does not match" in str(refused.refusal) or "is wrong" in str(refused.refusal)


@pytest.mark.parametrize("scheme", [WebhookScheme.STANDARD, WebhookScheme.HUBSPOT_V3])
def test_an_old_timestamp_is_refused_over_http(live_server, crm_connection, scheme):
    receiver = WebhookReceiver.objects.create(connection=crm_connection, scheme=scheme, **RECEIVERS[scheme])
    url = f"{live_server.url}/hooks/{receiver.token}/"
    old = datetime.now(UTC) - timedelta(minutes=10)
    response = requests.post(
        url, data=BODY, headers={"Content-Type": "application/json", **signed(scheme, url, BODY, old)}, timeout=10
    )
    assert (response.status_code, response.json()) == (401, {"error": "stale"})
    assert "older than 5 minutes" in str(WebhookEvent.objects.get(receiver=receiver).refusal)


def test_an_oversized_body_is_refused_before_it_is_read(live_server, crm_connection):
    receiver = WebhookReceiver.objects.create(
        connection=crm_connection, scheme=WebhookScheme.BLING, secret=BLING_SECRET, max_body_bytes=1024
    )
    url = f"{live_server.url}/hooks/{receiver.token}/"
    body = b"z" * 200_000
    response = requests.post(url, data=body, headers=bling_headers(BLING_SECRET, body), timeout=10)
    assert response.status_code == 413
    event = WebhookEvent.objects.get(receiver=receiver)
    assert (event.verdict, event.body, event.body_bytes) == (WebhookVerdict.REFUSED, "", 200_000)
