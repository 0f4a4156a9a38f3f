"""Ploomes' ``/Webhooks``: one webhook per event type, ``Entity.Action`` (``Order.Create``).

One ``POST /Webhooks`` ``{"EntityId", "ActionId", "CallbackUrl", "ValidationKey"}`` per event type the
connection's tables take: the entity's id from :data:`ENTITIES`, the action's from the sender's own
``GET /Webhooks@Actions``; the receiver's shared key is the validation key. A webhook the sender already
lists for the same entity, action and address is kept, not registered again; one kept for an older address
is deleted and registered again. *Remove* sends ``DELETE /Webhooks({id})`` for the ids kept here.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ...choices import AuthKind, ConnectionKind, WebhookScheme
from ...connectors.base import ConnectorError
from ...models import WebhookReceiver, WebhookRegistration
from ..routing import ANY_EVENT
from .common import Calls, Outcome, RegistrationError, keep

NAME = "Ploomes"
KEY_HEADER = "user-key"
# Ploomes' entities by the name its webhook deliveries give them (its EntityId).
ENTITIES = {"Contact": 1, "Deal": 2, "Order": 4, "Product": 10}


def sends(receiver: WebhookReceiver) -> bool:
    """A shared-key receiver of a REST connection that authenticates with Ploomes' ``User-Key`` header."""
    connection = receiver.connection
    return (
        receiver.scheme == WebhookScheme.SHARED_KEY
        and connection.kind == ConnectionKind.REST
        and connection.auth_kind == AuthKind.API_KEY
        and connection.api_key_header.strip().lower() == KEY_HEADER
    )


def register(receiver: WebhookReceiver, address: str, wanted: list[str]) -> Outcome:
    if ANY_EVENT in wanted:
        raise RegistrationError(
            _(
                "A table takes every event type (*): Ploomes registers one entity and action at a time. Name them, "
                "e.g. Order.Create Order.Update."
            )
        )
    with Calls(receiver) as calls:
        return _Ploomes(receiver, calls).register(address, wanted)


def remove(receiver: WebhookReceiver) -> Outcome:
    with Calls(receiver) as calls:
        return _Ploomes(receiver, calls).remove()


class _Ploomes:
    def __init__(self, receiver: WebhookReceiver, calls: Calls):
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
                keep(self.receiver, kind, same[0].get("Id"), address)
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
            keep(self.receiver, kind, answer["Id"], address)
            outcome.added.append(kind)
        return outcome

    def remove(self) -> Outcome:
        outcome = Outcome()
        for row in self.receiver.registrations.all():
            self._delete(row)
            outcome.removed.append(row.label)
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
            if entity not in ENTITIES:
                raise RegistrationError(
                    _("%(type)s: Ploomes has no entity %(entity)s that the portal knows (it knows %(known)s).")
                    % {"type": kind, "entity": entity, "known": ", ".join(ENTITIES)}
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
            ids[kind] = (ENTITIES[entity], actions[action])
        return ids
