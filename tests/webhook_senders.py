"""Webhook deliveries signed exactly as each sender signs them (for the webhook tests)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from standardwebhooks.webhooks import Webhook

STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-secret-32b").decode()
HUBSPOT_SECRET = "hubspot-client-secret-5e1f0a"
BLING_SECRET = "bling-client-secret-9c3d7b"
SHARED_KEY = "ploomes-validation-key-2a8e6f"
HMAC_SECRET = "github-style-secret-4b7d1e"


def standard_headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """Standard Webhooks, signed by the ``standardwebhooks`` library itself."""
    signature = Webhook(secret).sign(message_id, at, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def hubspot_headers(secret: str, method: str, uri: str, body: bytes, at: datetime) -> dict[str, str]:
    """HubSpot v3: base64(HMAC-SHA256(client secret, method + URI + body + timestamp in milliseconds))."""
    timestamp = str(int(at.timestamp() * 1000))
    signed = f"{method}{uri}".encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


def bling_headers(secret: str, body: bytes) -> dict[str, str]:
    """Bling: ``X-Bling-Signature-256: sha256=<hex HMAC-SHA256(client secret, body)>``."""
    return {"X-Bling-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def hmac_header(secret: str, body: bytes, *, prefix: str = "sha256=") -> str:
    """GitHub style: a hex HMAC-SHA256 of the body, ``sha256=`` first (or without a prefix)."""
    return prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
