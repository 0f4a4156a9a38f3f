"""The portal receives the demo CRM's webhooks: a receiver for the Demo CRM connection, registered at the CRM.

The receiver checks Ploomes' way: the shared key is the ``ValidationKey`` of the body, the event type is
``{Entity}.{Action}`` (``Order.Create``). Its address is registered at the demo CRM by the same code as the
receiver page's **Register at Ploomes** button, in a django-q2 task: ``manage.py demo`` runs before the
portal serves, and the task reaches the demo CRM once it does (the connection's retries wait for it).
"""

import secrets

from django_q.tasks import async_task

from sync.choices import WebhookScheme
from sync.models import Integration, WebhookReceiver

KEY_PATH = "ValidationKey"
EVENT_TYPE_TEMPLATE = "{Entity}.{Action}"


def receive_crm_webhooks(integration: Integration) -> WebhookReceiver:
    """The CRM connection's receiver, made the first time (a receiver IT has changed is kept as it is)."""
    receiver, _created = WebhookReceiver.objects.get_or_create(
        connection=integration.crm_connection,
        defaults={
            "scheme": WebhookScheme.SHARED_KEY,
            "secret": secrets.token_urlsafe(24),
            "key_path": KEY_PATH,
            "event_type_path": EVENT_TYPE_TEMPLATE,
        },
    )
    return receiver


def register_crm_webhooks(integration: Integration, origin: str) -> WebhookReceiver:
    """The receiver, and its registration at the demo CRM for the portal at ``origin`` sent to the workers."""
    receiver = receive_crm_webhooks(integration)
    async_task("sync.tasks.register_webhooks", receiver.pk, origin.rstrip("/"), task_name="demo-crm-webhooks")
    return receiver
