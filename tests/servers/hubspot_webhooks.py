"""HubSpot's webhooks API (v3) of public apps on 127.0.0.1: the app's settings and its subscriptions.

As HubSpot answers: every call needs the developer account's API key in the ``hapikey`` query parameter
(401 ``"The API key provided is invalid…"`` otherwise, whatever the Authorization header says); an app the
developer account does not own is 404; a body HubSpot would refuse is 400 ``VALIDATION_ERROR``. Errors are
``{"status": "error", "message", "correlationId", "category"}``.

* ``GET /webhooks/v3/{appId}/settings`` → ``{"targetUrl", "throttling", "createdAt"}`` (404 before any was set);
  ``PUT`` it with ``{"targetUrl", "throttling"}`` (https only; period SECONDLY or ROLLING_MINUTE).
* ``GET /webhooks/v3/{appId}/subscriptions`` → ``{"results": [...]}``; ``POST`` ``{"eventType", "propertyName",
  "active"}`` → 201 with its string ``id`` (``propertyName`` required by a ``*.propertyChange``, refused by the
  others); ``PATCH …/subscriptions/{id}`` ``{"active"}``; ``DELETE …/subscriptions/{id}`` → 204, or 404.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field

from tests.servers.local_http import LocalHandler, Received, ServedLocally

DEVELOPER_KEY = "5f0c2d9e-7a41-4c1b-9d3e-2b8a6f4e1c07"
INVALID_KEY = "The API key provided is invalid. View or manage your API key here: https://app.hubspot.com/l/api-key/"
OBJECTS = ("contact", "company", "deal", "ticket", "product", "line_item")
EVENT_TYPES = {
    f"{kind}.{event}"
    for kind in OBJECTS
    for event in ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
} | {"contact.privacyDeletion"}
PERIODS = ("SECONDLY", "ROLLING_MINUTE")
CREATED_AT = "2024-05-02T12:00:00.000Z"  # the server's own stamp: no test reads the date
APP = re.compile(r"^/webhooks/v3/(?P<app>[^/]+)/(?P<what>settings|subscriptions)(?:/(?P<id>[^/]+))?$")


@dataclass
class App:
    settings: dict | None = None
    subscriptions: dict[str, dict] = field(default_factory=dict)


@dataclass
class HubSpotWebhooksApi(ServedLocally):
    developer_key: str = DEVELOPER_KEY
    apps: dict[str, App] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 1000

    def start(self):
        return self.serve(_Handler)

    def add_app(self, app_id: str) -> App:
        with self._lock:
            return self.apps.setdefault(str(app_id), App())

    def subscribe(self, app_id: str, event_type: str, property_name: str = "", *, active: bool = True) -> str:
        """A subscription made at HubSpot by someone else (the app's page); its id."""
        with self._lock:
            return self._subscribe(self.apps[str(app_id)], event_type, property_name, active)

    def _subscribe(self, app: App, event_type: str, property_name: str, active: bool) -> str:
        self._next_id += 1
        sub_id = str(self._next_id)
        held = {"id": sub_id, "eventType": event_type, "active": active, "createdAt": CREATED_AT}
        if property_name:
            held["propertyName"] = property_name
        held["updatedAt"] = CREATED_AT
        app.subscriptions[sub_id] = held
        return sub_id

    def subscriptions(self, app_id: str) -> list[dict]:
        with self._lock:
            return [dict(item) for item in self.apps[str(app_id)].subscriptions.values()]

    def settings(self, app_id: str) -> dict | None:
        with self._lock:
            held = self.apps[str(app_id)].settings
            return json.loads(json.dumps(held)) if held is not None else None

    def calls(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def answer(self, method: str, path: str, query: dict, text: str) -> tuple[int, dict | None]:
        match = APP.match(path)
        if match is None:
            return 404, error("Unable to route request", "OBJECT_NOT_FOUND")
        if query.get("hapikey") != self.developer_key:
            return 401, error(INVALID_KEY, "INVALID_AUTHENTICATION")
        with self._lock:
            app = self.apps.get(match["app"])
            if app is None:
                return 404, error(f"App {match['app']} not found for this developer account", "OBJECT_NOT_FOUND")
            try:
                body = json.loads(text) if text else {}
            except ValueError:
                return 400, error("Invalid input JSON on line 1", "VALIDATION_ERROR")
            if match["what"] == "settings":
                return self._settings(app, method, body)
            return self._subscriptions(app, method, match["id"], body)

    def _settings(self, app: App, method: str, body: dict) -> tuple[int, dict | None]:
        if method == "GET":
            if app.settings is None:
                return 404, error("Webhook settings not found for this app", "OBJECT_NOT_FOUND")
            return 200, app.settings
        if method != "PUT":
            return 405, error(f"HTTP {method} is not supported by this resource", "VALIDATION_ERROR")
        target, throttling = body.get("targetUrl"), body.get("throttling")
        if not isinstance(target, str) or not target.startswith("https://"):
            return 400, error("targetUrl must be a valid https URL", "VALIDATION_ERROR")
        if (
            not isinstance(throttling, dict)
            or throttling.get("period") not in PERIODS
            or not isinstance(throttling.get("maxConcurrentRequests"), int)
        ):
            return 400, error("throttling must have a period and maxConcurrentRequests", "VALIDATION_ERROR")
        app.settings = {"targetUrl": target, "throttling": throttling, "createdAt": CREATED_AT}
        return 200, app.settings

    def _subscriptions(self, app: App, method: str, sub_id: str | None, body: dict) -> tuple[int, dict | None]:
        if sub_id is None and method == "GET":
            return 200, {"results": list(app.subscriptions.values())}
        if sub_id is None and method == "POST":
            event_type, name = body.get("eventType"), body.get("propertyName")
            if event_type not in EVENT_TYPES:
                return 400, error(f"Invalid eventType: {event_type}", "VALIDATION_ERROR")
            if event_type.endswith(".propertyChange") and not name:
                return 400, error("propertyName is required for propertyChange subscriptions", "VALIDATION_ERROR")
            if name and not event_type.endswith(".propertyChange"):
                return 400, error(f"propertyName is not allowed for {event_type}", "VALIDATION_ERROR")
            held = app.subscriptions[self._subscribe(app, event_type, name or "", bool(body.get("active", False)))]
            return 201, held
        held = app.subscriptions.get(sub_id or "")
        if held is None:
            return 404, error(f"Subscription {sub_id} not found", "OBJECT_NOT_FOUND")
        if method == "DELETE":
            del app.subscriptions[sub_id]
            return 204, None
        if method == "PATCH" and isinstance(body.get("active"), bool):
            held["active"] = body["active"]
            return 200, held
        if method == "GET":
            return 200, held
        return 400, error("Only active can be changed", "VALIDATION_ERROR")


def error(message: str, category: str) -> dict:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


class _Handler(LocalHandler):
    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        parts, query, text = self.read_request()
        status, body = self.server.api.answer(self.command, parts.path, query, text)
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
