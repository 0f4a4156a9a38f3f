"""HubSpot's webhooks API (v3) of a public app: the app's target URL, one subscription per event type and property.

The API belongs to the app, not to the account the connection reads: it is authenticated by the developer
account's API key in the ``hapikey`` query parameter, never by the connection's own credentials (the
connector is built without them: no Authorization header goes out). Its calls still go through the
connection's connector and base URL (``https://api.hubapi.com``): outbound policy, timeouts, retries,
rate budget, redaction.

* ``GET /webhooks/v3/{appId}/settings``, then ``PUT`` it with the receiver's address as ``targetUrl`` when it
  holds another (the app's throttling kept, SECONDLY 10 when it has none). The app has one target URL:
  every subscription of the app is delivered there.
* ``GET /webhooks/v3/{appId}/subscriptions``; for each event type the tables take, and for
  ``*.propertyChange`` each property the tables' mappings read (``properties.email`` → ``email``), the
  subscription kept here or one the app already lists (activated when it is paused) is kept; else
  ``POST`` ``{"eventType", "propertyName", "active": true}`` and its ``id`` is kept.
* *Remove* sends ``DELETE /webhooks/v3/{appId}/subscriptions/{id}`` for exactly the ids kept here (one
  HubSpot no longer has counts as removed). The target URL stays: the app's other subscriptions, made by
  hand, still deliver there, and clearing the settings would pause them all.
"""

from __future__ import annotations

from urllib.parse import quote

from django.utils.translation import gettext as _

from ... import paths
from ...choices import AuthKind, ConnectionKind, Pagination, WebhookScheme
from ...connectors.base import ConnectorError
from ...models import SyncTable, WebhookReceiver, WebhookRegistration
from ...models.table_webhooks import named_types, reading_webhooks
from ...models.webhooks import subscription_label
from ..routing import ANY_EVENT, event_types
from .common import Calls, Outcome, RegistrationError, keep

NAME = "HubSpot"
PROPERTY_CHANGE = ".propertyChange"
DEFAULT_THROTTLING = {"period": "SECONDLY", "maxConcurrentRequests": 10}


def sends(receiver: WebhookReceiver) -> bool:
    """A HubSpot v3 receiver of a REST connection, with its app id and developer API key."""
    return (
        receiver.scheme == WebhookScheme.HUBSPOT_V3
        and receiver.connection.kind == ConnectionKind.REST
        and bool(receiver.hubspot_app_id.strip() and receiver.hubspot_developer_key.strip())
    )


def why_not(receiver: WebhookReceiver) -> str:
    if receiver.connection.kind != ConnectionKind.REST:
        return _(
            "HubSpot's webhooks API is called through a REST connection to HubSpot's API "
            "(https://api.hubapi.com). Register the address in the app's settings by hand."
        )
    missing = [
        str(WebhookReceiver._meta.get_field(name).verbose_name)
        for name in ("hubspot_app_id", "hubspot_developer_key")
        if not getattr(receiver, name).strip()
    ]
    return _(
        "To register at HubSpot from here, fill in the receiver's %(missing)s (HubSpot's webhooks API belongs to "
        "the public app). Else register the address in the app's settings by hand."
    ) % {"missing": ", ".join(missing)}


def register(receiver: WebhookReceiver, address: str, wanted: list[str]) -> Outcome:
    if ANY_EVENT in wanted:
        raise RegistrationError(
            _(
                "A table takes every event type (*): HubSpot subscribes one event type at a time. Name them, "
                "e.g. contact.creation contact.propertyChange."
            )
        )
    subscriptions = wanted_subscriptions(receiver, wanted)
    with Calls(receiver, **connector_settings(receiver)) as calls:
        return _HubSpot(receiver, calls).register(address, subscriptions)


def remove(receiver: WebhookReceiver) -> Outcome:
    with Calls(receiver, **connector_settings(receiver)) as calls:
        return _HubSpot(receiver, calls).remove()


def connector_settings(receiver: WebhookReceiver) -> dict:
    """The connection's configuration for the app's API: none of its own credentials, plain JSON answers.

    The developer key is the configuration's API key, sent by no header (there is no authentication
    to send it): only so that the connector masks it wherever it would show (URLs, bodies, messages).
    """
    return {
        "auth_kind": AuthKind.NONE,
        "api_key": receiver.hubspot_developer_key,
        "body_credentials": {},
        "pagination": Pagination.NONE,
        "records_path": "results",
        "result_cap": None,
    }


def property_read(source_path: str) -> str:
    """The HubSpot property a mapping reads: ``properties.email`` → ``email``; "" for any other path."""
    try:
        steps = paths.parse(source_path or "")
    except paths.PathError:
        return ""
    if len(steps) >= 2 and isinstance(steps[0], paths.Key) and steps[0].name == "properties":
        return steps[1].name if isinstance(steps[1], paths.Key) else ""
    return ""


def wanted_subscriptions(receiver: WebhookReceiver, wanted: list[str]) -> list[tuple[str, str]]:
    """``(event type, property)`` of each subscription: one per property read for a ``*.propertyChange``."""
    tables = reading_webhooks(SyncTable.objects.filter(active=True), receiver.connection_id)
    tables = list(tables.prefetch_related("mappings"))
    subscriptions = []
    for kind in wanted:
        if not kind.endswith(PROPERTY_CHANGE):
            subscriptions.append((kind, ""))
            continue
        taking = [table for table in tables if kind in event_types(table) | named_types(table.webhook_delete_types)]
        read = {property_read(mapping.source_path) for table in taking for mapping in table.mappings.all()}
        properties = sorted(name for name in read if name)
        if not properties:
            raise RegistrationError(
                _(
                    "%(type)s: HubSpot subscribes to property changes one property at a time, and %(tables)s maps "
                    "no property (a mapping's source path such as properties.email)."
                )
                % {"type": kind, "tables": ", ".join(table.name for table in taking)}
            )
        subscriptions += [(kind, name) for name in properties]
    return subscriptions


class _HubSpot:
    def __init__(self, receiver: WebhookReceiver, calls: Calls):
        self.receiver, self.calls = receiver, calls
        self.app = receiver.hubspot_app_id.strip()
        key = quote(receiver.hubspot_developer_key.strip(), safe="")
        # The app's id takes the place of {id} in the settings' path; a subscription's id in its own.
        self.settings_path = f"/webhooks/v3/{{id}}/settings?hapikey={key}"
        self.subscriptions_path = f"/webhooks/v3/{quote(self.app, safe='')}/subscriptions?hapikey={key}"
        self.subscription_path = f"/webhooks/v3/{quote(self.app, safe='')}/subscriptions/{{id}}?hapikey={key}"

    def register(self, address: str, wanted: list[tuple[str, str]]) -> Outcome:
        outcome = Outcome(replaced_address=self._target(address))
        try:
            listed = self.calls.read(self.subscriptions_path)
        except ConnectorError as error:
            raise self._refused(error) from None
        by_id = {str(item.get("id")): item for item in listed}
        stored = {(row.event_type, row.property_name): row for row in self.receiver.registrations.all()}
        for kind, name in wanted:
            label = subscription_label(kind, name)
            row = stored.get((kind, name))
            found = by_id.get(row.sender_id) if row is not None else None
            if found is None:
                same = [
                    item
                    for item in listed
                    if item.get("eventType") == kind and (item.get("propertyName") or "") == name
                ]
                found = same[0] if same else None
            if found is not None:
                self._activate(found)
                keep(self.receiver, kind, found.get("id"), address, name)
                outcome.kept.append(label)
                continue
            body = {"eventType": kind, "active": True, **({"propertyName": name} if name else {})}
            try:
                answer = self.calls.connector.create(self.subscriptions_path, body)
            except ConnectorError as error:
                raise self._refused(error) from None
            if answer.get("id") in (None, ""):
                raise RegistrationError(
                    _("%(sender)s answered the subscription to %(type)s without its id.")
                    % {"sender": self.receiver.connection.name, "type": label}
                )
            keep(self.receiver, kind, answer["id"], address, name)
            outcome.added.append(label)
        return outcome

    def remove(self) -> Outcome:
        outcome = Outcome()
        for row in self.receiver.registrations.all():
            self._delete(row)
            outcome.removed.append(row.label)
        return outcome

    def _target(self, address: str) -> str:
        """Make ``address`` the app's target URL; the one it replaced, if any."""
        try:
            settings = self.calls.connector.get(self.settings_path, self.app) or {}  # None: no settings yet
        except ConnectorError as error:
            raise self._refused(error) from None
        before = str(settings.get("targetUrl") or "")
        if before == address:
            return ""
        body = {"targetUrl": address, "throttling": settings.get("throttling") or DEFAULT_THROTTLING}
        try:
            self.calls.connector.update(f"PUT {self.settings_path}", self.app, body)
        except ConnectorError as error:
            raise self._refused(error) from None
        return before

    def _activate(self, subscription: dict) -> None:
        """A subscription the app lists but has paused is set active: HubSpot sends nothing for it otherwise."""
        if subscription.get("active") is not False:
            return
        try:
            self.calls.connector.update(self.subscription_path, str(subscription.get("id")), {"active": True})
        except ConnectorError as error:
            raise self._refused(error) from None

    def _delete(self, row: WebhookRegistration) -> None:
        try:
            self.calls.connector.delete(self.subscription_path, row.sender_id)
        except ConnectorError as error:
            if error.status_code != 404:  # already gone at HubSpot: nothing left to remove
                raise self._refused(error) from None
        row.delete()

    def _refused(self, error: ConnectorError) -> RegistrationError:
        """HubSpot's refusal in words: its own message, with what to check for the key and the app."""
        sender, said = self.receiver.connection.name, error.detail or ""
        if error.status_code == 401:
            words = _("%(sender)s refused the developer API key (401 Unauthorized): %(said)s") % {
                "sender": sender,
                "said": said or "-",
            }
        elif error.status_code == 404:
            words = _("%(sender)s knows no app %(app)s (404 Not Found): check the app id. %(said)s") % {
                "sender": sender,
                "app": self.app,
                "said": said,
            }
        else:
            words = str(error.message)
        return RegistrationError(self.calls.hide(words).strip())
