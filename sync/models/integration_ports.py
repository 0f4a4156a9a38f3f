"""An integration's type checked against its connections: no label without a connector behind it.

The type names the communication port the integration runs on (REST API, SOAP web service, webhook, file
drop). Each needs a connection that speaks it: one of the two connections of that kind, or, for a webhook,
webhooks taken on one of them (an active webhook receiver, or a table naming webhook events). The form and
the YAML import check it, each with the connections and tables it is about to save.
"""

from collections.abc import Iterable

from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext as _

from ..choices import IntegrationType
from .table_webhooks import takes_webhooks


def receives_webhooks(connection) -> bool:
    """The connection has an active webhook receiver (a saved connection only)."""
    if connection is None or connection.pk is None:
        return False
    try:
        return connection.webhook_receiver.active
    except ObjectDoesNotExist:
        return False


def offered_ports(kinds: Iterable[str], webhooks: bool) -> list[str]:
    """The integration types connections of ``kinds`` carry (``webhooks``: and webhooks), in the choices' order."""
    offered = set(kinds) | ({IntegrationType.WEBHOOK} if webhooks else set())
    return [value for value in IntegrationType.values if value in offered]


def type_errors(integration_type: str, connections, tables=()) -> list[str]:
    """Why ``integration_type`` has no connector among ``connections`` (and the integration's ``tables``)."""
    connections = [connection for connection in connections if connection is not None]
    if not integration_type or len(connections) < 2:
        return []
    webhooks = any(receives_webhooks(c) for c in connections) or any(takes_webhooks(t) for t in tables)
    offered = offered_ports((connection.kind for connection in connections), webhooks)
    if integration_type in offered:
        return []
    labels = dict(IntegrationType.choices)
    if integration_type == IntegrationType.WEBHOOK:
        problem = _(
            "A webhook integration needs webhooks from one of its connections: a webhook receiver on it, "
            "or a table naming the webhook events it takes."
        )
    else:
        problem = _("A %(type)s integration needs a connection of that kind.") % {"type": labels[integration_type]}
    offer = _("Its connections offer: %(ports)s.") % {"ports": ", ".join(str(labels[port]) for port in offered)}
    return [f"{problem} {offer}"]
