"""The receiver's address registered at its sender, and removed: the subscriptions the sender's API keeps.

Which senders the portal registers at (:func:`sender_of`), each in its own module of :mod:`.senders`:

- **Ploomes** (:mod:`.senders.ploomes`) — a shared-key receiver of a REST connection that authenticates with
  Ploomes' ``User-Key`` header: one ``POST /Webhooks`` per event type.
- **HubSpot** (:mod:`.senders.hubspot`) — a HubSpot v3 receiver of a REST connection, with its public app's
  id and developer API key: the app's target URL, and one subscription per event type and property.

The event types are those the active tables reading the receiver's connection take (deletes too). The
subscriptions registered are kept (``WebhookRegistration``, by the sender's id): registering again registers
nothing twice, and *Remove* deletes exactly those. Every call goes through the connection's connector and is
kept as a request log of the connection, the receiver's secrets masked (:mod:`.senders.common`). A refusal is
a :class:`RegistrationError` carrying the sender's answer in words.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..choices import WebhookScheme
from ..models import SyncTable, WebhookReceiver
from ..models.table_webhooks import named_types, reading_webhooks
from .routing import event_types
from .senders import hubspot, ploomes
from .senders.common import Outcome, RegistrationError

__all__ = ["SENDER_NAMES", "Outcome", "RegistrationError", "register", "remove", "sender_of", "why_not"]

PLOOMES = "ploomes"
HUBSPOT = "hubspot"
SENDERS = {PLOOMES: ploomes, HUBSPOT: hubspot}
SENDER_NAMES = {key: module.NAME for key, module in SENDERS.items()}


def sender_of(receiver: WebhookReceiver) -> str | None:
    """The sender whose API the portal registers the receiver at; None when it cannot (:func:`why_not`)."""
    for key, module in SENDERS.items():
        if module.sends(receiver):
            return key
    return None


def why_not(receiver: WebhookReceiver) -> str:
    """Why the portal cannot register this receiver at its sender, for the receiver's page."""
    if receiver.scheme == WebhookScheme.HUBSPOT_V3:
        return hubspot.why_not(receiver)
    if receiver.scheme == WebhookScheme.SHARED_KEY:
        return _(
            "The portal registers a shared key at Ploomes only: a REST connection that sends its key in the "
            "User-Key header. Register the address at the sender by hand."
        )
    return _(
        "The portal registers its address at Ploomes and HubSpot only: with this verification, register the "
        "address at the sender by hand."
    )


def wanted_event_types(receiver: WebhookReceiver) -> list[str]:
    """The event types the active tables reading the receiver's connection take (deletes too), sorted."""
    tables = reading_webhooks(SyncTable.objects.filter(active=True), receiver.connection_id)
    return sorted({name for table in tables for name in event_types(table) | named_types(table.webhook_delete_types)})


def register(receiver: WebhookReceiver, address: str) -> Outcome:
    """Register ``address`` at the receiver's sender for every event type its tables take."""
    sender = sender_of(receiver)
    if sender is None:
        raise RegistrationError(why_not(receiver))
    wanted = wanted_event_types(receiver)
    if not wanted:
        raise RegistrationError(
            _("No active table reading %(connection)s names webhook event types: there is nothing to register.")
            % {"connection": receiver.connection.name}
        )
    return SENDERS[sender].register(receiver, address, wanted)


def remove(receiver: WebhookReceiver) -> Outcome:
    """Delete at the sender the subscriptions registered from here, and forget them."""
    sender = sender_of(receiver)
    if sender is None:
        raise RegistrationError(why_not(receiver))
    return SENDERS[sender].remove(receiver)
