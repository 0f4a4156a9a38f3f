"""The receiver's address registered at its sender, and removed: the subscriptions the sender's API keeps.

Which senders the portal registers at (:func:`sender_of`):

- **Ploomes** — a shared-key receiver of a REST connection that authenticates with Ploomes' ``User-Key``
  header. One ``POST /Webhooks`` ``{"EntityId", "ActionId", "CallbackUrl", "ValidationKey"}`` per event type
  the connection's tables take, written ``Entity.Action`` (``Order.Create``): the entity's id from
  :data:`PLOOMES_ENTITIES`, the action's from the sender's own ``GET /Webhooks@Actions``; the receiver's
  shared key is the validation key. A webhook the sender already lists for the same entity, action and
  address is kept, not registered again. *Remove* sends ``DELETE /Webhooks({id})`` for the ids kept here.

Every call goes through the connection's connector (outbound policy, timeouts, retries, rate budget,
redaction) and is kept as a request log of the connection, the shared key masked. A refusal is a
:class:`RegistrationError` carrying the sender's answer in words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _

from core.redaction import MASK
from monitoring.models import RequestLog
from monitoring.recorder import request_log

from ..choices import AuthKind, ConnectionKind, WebhookScheme
from ..connectors.base import CallRecord, ConnectorError, ReadRequest
from ..engine import connector_for_connection
from ..models import SyncTable, WebhookReceiver, WebhookRegistration
from ..models.table_webhooks import named_types, reading_webhooks
from .routing import ANY_EVENT, event_types

PLOOMES = "ploomes"
PLOOMES_KEY_HEADER = "user-key"
# Ploomes' entities by the name its webhook deliveries give them (its EntityId).
PLOOMES_ENTITIES = {"Contact": 1, "Deal": 2, "Order": 4, "Product": 10}
SENDER_NAMES = {PLOOMES: "Ploomes"}
LISTED_AT_MOST = 300  # the sender's webhooks read to find those already registered (one page)


class RegistrationError(Exception):
    """The registration could not be made; ``message`` says why in words (the sender's own when it refused)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Outcome:
    added: list[str] = field(default_factory=list)  # event types registered now
    kept: list[str] = field(default_factory=list)  # already registered
    removed: list[str] = field(default_factory=list)


def sender_of(receiver: WebhookReceiver) -> str | None:
    """The sender whose API the portal registers the receiver at; None when it cannot (:func:`why_not`)."""
    connection = receiver.connection
    if (
        receiver.scheme == WebhookScheme.SHARED_KEY
        and connection.kind == ConnectionKind.REST
        and connection.auth_kind == AuthKind.API_KEY
        and connection.api_key_header.strip().lower() == PLOOMES_KEY_HEADER
    ):
        return PLOOMES
    return None


def why_not(receiver: WebhookReceiver) -> str:
    """Why the portal cannot register this receiver at its sender, for the receiver's page."""
    if receiver.scheme == WebhookScheme.SHARED_KEY:
        return _(
            "The portal registers a shared key at Ploomes only: a REST connection that sends its key in the "
            "User-Key header. Register the address at the sender by hand."
        )
    return _(
        "The portal registers its address at Ploomes only: with this verification, register the address at "
        "the sender by hand."
    )


def wanted_event_types(receiver: WebhookReceiver) -> list[str]:
    """The event types the active tables reading the receiver's connection take (deletes too), sorted."""
    tables = reading_webhooks(SyncTable.objects.filter(active=True), receiver.connection_id)
    return sorted({name for table in tables for name in event_types(table) | named_types(table.webhook_delete_types)})


def register(receiver: WebhookReceiver, address: str) -> Outcome:
    """Register ``address`` at the receiver's sender for every event type its tables take."""
    if sender_of(receiver) != PLOOMES:
        raise RegistrationError(why_not(receiver))
    wanted = wanted_event_types(receiver)
    if not wanted:
        raise RegistrationError(
            _("No active table reading %(connection)s names webhook event types: there is nothing to register.")
            % {"connection": receiver.connection.name}
        )
    if ANY_EVENT in wanted:
        raise RegistrationError(
            _(
                "A table takes every event type (*): Ploomes registers one entity and action at a time. Name them, "
                "e.g. Order.Create Order.Update."
            )
        )
    with _Calls(receiver) as calls:
        return _Ploomes(receiver, calls).register(address, wanted)


def remove(receiver: WebhookReceiver) -> Outcome:
    """Delete at the sender the webhooks registered from here, and forget them."""
    if sender_of(receiver) != PLOOMES:
        raise RegistrationError(why_not(receiver))
    with _Calls(receiver) as calls:
        return _Ploomes(receiver, calls).remove()


class _Calls:
    """The connection's connector, its calls kept as request logs of the connection (the shared key masked)."""

    def __init__(self, receiver: WebhookReceiver):
        self.receiver = receiver
        self.records: list[CallRecord] = []

    def __enter__(self):
        self.connector = connector_for_connection(self.receiver.connection, self.records.append)
        return self

    def __exit__(self, *exc_info):
        self.connector.close()
        key = self.receiver.secret
        connection_id = self.receiver.connection_id
        RequestLog.objects.bulk_create(
            [request_log(_masked(call, key), connection_id=connection_id) for call in self.records]
        )
        return False

    def read(self, path: str) -> list[dict]:
        page = self.connector.read_page(ReadRequest(source_object=path))
        return [record for record in page.records if isinstance(record, dict)][:LISTED_AT_MOST]

    def refused(self, error: ConnectorError) -> RegistrationError:
        return RegistrationError(str(error.message).replace(self.receiver.secret, MASK))


def _masked(call: CallRecord, key: str) -> CallRecord:
    if not key:
        return call

    def hide(text):
        return text.replace(key, MASK) if isinstance(text, str) else text

    return dataclasses.replace(
        call,
        url=hide(call.url),
        request_body=hide(call.request_body),
        response_body=hide(call.response_body),
        error=hide(call.error),
        request_headers={name: hide(value) for name, value in call.request_headers.items()},
    )


class _Ploomes:
    def __init__(self, receiver: WebhookReceiver, calls: _Calls):
        self.receiver, self.calls = receiver, calls

    def register(self, address: str, wanted: list[str]) -> Outcome:
        outcome = Outcome()
        stored = {row.event_type: row for row in self.receiver.registrations.all()}
        missing = [kind for kind in wanted if not (kind in stored and stored[kind].address == address)]
        if not missing:
            outcome.kept = wanted
            return outcome
        ids = self._ids(missing)
        for kind in missing:
            if kind in stored:  # registered for an address given up since (a new address, another origin)
                self._delete(stored[kind])
        try:
            listed = self.calls.read("/Webhooks")
        except ConnectorError as error:
            raise self.calls.refused(error) from None
        for kind in wanted:
            if kind not in missing:
                outcome.kept.append(kind)
                continue
            entity_id, action_id = ids[kind]
            same = [
                hook
                for hook in listed
                if hook.get("EntityId") == entity_id
                and hook.get("ActionId") == action_id
                and hook.get("CallbackUrl") == address
            ]
            if same:
                self._keep(kind, same[0].get("Id"), address)
                outcome.kept.append(kind)
                continue
            body = {
                "EntityId": entity_id,
                "ActionId": action_id,
                "CallbackUrl": address,
                "ValidationKey": self.receiver.secret,
            }
            try:
                answer = self.calls.connector.create("/Webhooks", body)
            except ConnectorError as error:
                raise self.calls.refused(error) from None
            if answer.get("Id") in (None, ""):
                raise RegistrationError(
                    _("%(sender)s answered the registration of %(type)s without the webhook's Id.")
                    % {"sender": self.receiver.connection.name, "type": kind}
                )
            self._keep(kind, answer["Id"], address)
            outcome.added.append(kind)
        return outcome

    def remove(self) -> Outcome:
        outcome = Outcome()
        for row in self.receiver.registrations.all():
            self._delete(row)
            outcome.removed.append(row.event_type)
        return outcome

    def _delete(self, row: WebhookRegistration) -> None:
        try:
            self.calls.connector.delete("/Webhooks({id})", row.sender_id)
        except ConnectorError as error:
            if error.status_code != 404:  # already gone at the sender: nothing left to remove
                raise self.calls.refused(error) from None
        row.delete()

    def _ids(self, kinds: list[str]) -> dict[str, tuple[int, int]]:
        """``{event type: (EntityId, ActionId)}``; the actions as the sender lists them."""
        try:
            actions = {str(action.get("Name")): action.get("Id") for action in self.calls.read("/Webhooks@Actions")}
        except ConnectorError as error:
            raise self.calls.refused(error) from None
        ids = {}
        for kind in kinds:
            entity, _dot, action = kind.partition(".")
            if entity not in PLOOMES_ENTITIES:
                raise RegistrationError(
                    _("%(type)s: Ploomes has no entity %(entity)s that the portal knows (it knows %(known)s).")
                    % {"type": kind, "entity": entity, "known": ", ".join(PLOOMES_ENTITIES)}
                )
            if action not in actions:
                raise RegistrationError(
                    _("%(type)s: %(sender)s lists no action %(action)s (it lists %(listed)s).")
                    % {
                        "type": kind,
                        "sender": self.receiver.connection.name,
                        "action": action or "-",
                        "listed": ", ".join(actions) or "-",
                    }
                )
            ids[kind] = (PLOOMES_ENTITIES[entity], actions[action])
        return ids

    def _keep(self, kind: str, sender_id, address: str) -> None:
        with transaction.atomic():
            WebhookRegistration.objects.update_or_create(
                receiver=self.receiver,
                event_type=kind,
                defaults={"sender_id": str(sender_id), "address": address},
            )
