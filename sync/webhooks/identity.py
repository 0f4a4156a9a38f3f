"""What a webhook delivery says about itself: its delivery id (the replay key) and its event type.

Pure functions of the headers (lower-case names) and the body.

The delivery id, which an inbox holds once per receiver:

- Standard Webhooks: the ``webhook-id`` header (the sender's own, kept across its retries);
- a header the receiver names (e.g. ``X-GitHub-Delivery``), when the delivery carries it;
- HubSpot: the ``eventId`` of every event of the batch (a retry carries the same events, though its
  ``attemptNumber`` and its timestamp change);
- otherwise a SHA-256 of the body: a retry of the same delivery sends the same bytes, and two different
  events differ somewhere (their record, their time or their own id in the body).

The event type: the value at the receiver's event type path in the JSON body, or the scheme's usual place
(Standard Webhooks ``type``, HubSpot ``subscriptionType`` of each event, Bling ``event``); the distinct
types of a batch joined by spaces. A path with braces is a template: ``{Entity}.{Action}`` puts the values
at ``Entity`` and ``Action`` together (``Order.Create``: Ploomes names the entity and the action apart);
an event missing one of them has no type.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from ..choices import WebhookScheme
from ..paths import MISSING, get_path

DELIVERY_ID_LENGTH = 200
EVENT_TYPE_LENGTH = 200
USUAL_EVENT_TYPE_PATHS = {
    WebhookScheme.STANDARD: "type",
    WebhookScheme.HUBSPOT_V3: "subscriptionType",
    WebhookScheme.BLING: "event",
}
TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")


def delivery_id(scheme: str, headers: Mapping[str, str], body: bytes, id_header: str = "") -> str:
    if scheme == WebhookScheme.STANDARD and headers.get("webhook-id"):
        return headers["webhook-id"][:DELIVERY_ID_LENGTH]
    if id_header and headers.get(id_header.lower()):
        return headers[id_header.lower()][:DELIVERY_ID_LENGTH]
    if scheme == WebhookScheme.HUBSPOT_V3:
        events = parsed_body(body)
        if isinstance(events, list) and events and all(_has_event_id(event) for event in events):
            ids = ",".join(sorted(str(event["eventId"]) for event in events))
            return f"hubspot:{hashlib.sha256(ids.encode()).hexdigest()}"
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def event_type(scheme: str, body: bytes, path: str = "") -> str:
    document = parsed_body(body)
    if document is None:
        return ""
    items = document if isinstance(document, list) else [document]
    types = [kind for kind in (item_event_type(scheme, item, path) for item in items) if kind]
    return " ".join(dict.fromkeys(types))[:EVENT_TYPE_LENGTH]


def item_event_type(scheme: str, item, path: str = "") -> str:
    """The type of one event: the value at ``path`` (or the scheme's usual one), or ``path`` as a template."""
    path = path or USUAL_EVENT_TYPE_PATHS.get(scheme, "")
    if not path:
        return ""
    if "{" not in path:
        return _scalar(get_path(item, path))
    values = []
    for part in TEMPLATE_PART.findall(path):
        value = _scalar(get_path(item, part.strip()))
        if not value:
            return ""
        values.append(value)
    filled = iter(values)
    return TEMPLATE_PART.sub(lambda _match: next(filled), path)


def template_is_valid(path: str) -> bool:
    """Whether an event type path with braces is a template: every brace closed, each naming a path."""
    if "{" not in path and "}" not in path:
        return True
    parts = TEMPLATE_PART.findall(path)
    rest = TEMPLATE_PART.sub("", path)
    return bool(parts) and all(part.strip() for part in parts) and "{" not in rest and "}" not in rest


def _scalar(value) -> str:
    if value is MISSING or value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def parsed_body(body: bytes):
    """The JSON body, or None when it is no JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _has_event_id(event) -> bool:
    return isinstance(event, dict) and event.get("eventId") not in (None, "")
