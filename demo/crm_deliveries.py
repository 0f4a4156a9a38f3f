"""The demo CRM sends its webhooks: every change of a contact, product or order, to every matching registration.

A record created, updated or deleted (through the API, the admin or anything that saves it) is sent to
each webhook registered for its entity and action, **once the change commits**, by a django-q2 task: the
request that made the change never waits for the receiver. The body, as Ploomes sends it::

    {"Action": "Update", "Entity": "Order", "WebhookId": 7,
     "New": {…the record as GET answers it…}, "Old": {…as it was…}, "ValidationKey": "…"}

``New`` is null for a delete, ``Old`` for a create. The task builds the body from the registration
(the validation key never sits in a task's arguments), posts it as JSON and retries a failed delivery
(no answer, 408, 429, 5xx) with exponential backoff (tenacity); a delivery that never gets through, or
that the receiver refuses (another 4xx), is logged, never raised.
"""

import json
import logging

import requests
import tenacity
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django_q.tasks import async_task

from .choices import CrmWebhookAction
from .crm_schema import CONTACTS, ORDERS, PRODUCTS
from .crm_webhooks import WEBHOOK_ENTITIES
from .models import CrmContact, CrmOrder, CrmProduct, CrmWebhook

logger = logging.getLogger(__name__)

RESOURCE_OF = {CrmContact: CONTACTS, CrmOrder: ORDERS, CrmProduct: PRODUCTS}
ATTEMPTS = 4  # one delivery and three retries
BACKOFF_SECONDS = 1.0  # waits 1, 2, 4 seconds between the attempts
TIMEOUT_SECONDS = 10
RETRIED_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
OLD_VALUES = "_crm_webhook_old"  # where a record being changed keeps its values before the change


class Undelivered(Exception):
    """An attempt that did not get through and may get through later."""


def _registered(resource, action: CrmWebhookAction):
    return CrmWebhook.objects.filter(entity_id=resource.entity, action_id=action)


def _written(resource, pk: int) -> dict | None:
    found = resource.model.objects.select_related(*resource.select_related).filter(pk=pk).first()
    return resource.serialize(found) if found is not None else None


def keep_old_values(sender, instance, **kwargs):
    """Before an update or a delete that a webhook waits for: the record as it was."""
    resource = RESOURCE_OF[sender]
    action = CrmWebhookAction.DELETE if kwargs.get("signal") is pre_delete else CrmWebhookAction.UPDATE
    if instance.pk is None or not _registered(resource, action).exists():
        return
    setattr(instance, OLD_VALUES, _written(resource, instance.pk))


def announce_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return  # loaded from a fixture: no change of the CRM's
    old = None if created else getattr(instance, OLD_VALUES, None)
    _announce(RESOURCE_OF[sender], CrmWebhookAction.CREATE if created else CrmWebhookAction.UPDATE, instance.pk, old)


def announce_delete(sender, instance, **kwargs):
    _announce(RESOURCE_OF[sender], CrmWebhookAction.DELETE, None, getattr(instance, OLD_VALUES, None))


def _announce(resource, action: CrmWebhookAction, pk: int | None, old: dict | None) -> None:
    if not _registered(resource, action).exists():
        return

    def send():
        new = _written(resource, pk) if pk is not None else None
        if pk is not None and new is None:
            return  # deleted before its change committed: the delete is sent instead
        for registration in _registered(resource, action).values_list("pk", flat=True):
            async_task(
                "demo.crm_deliveries.deliver",
                registration,
                action.label,
                WEBHOOK_ENTITIES[resource.entity],
                new,
                old,
                task_name=f"crm-webhook-{registration}",
            )

    transaction.on_commit(send)


def deliver(registration_id: int, action: str, entity: str, new: dict | None, old: dict | None) -> str:
    """Post one change to one registration, retried with backoff; what became of it in a word (never raises)."""
    registration = CrmWebhook.objects.filter(pk=registration_id).first()
    if registration is None:
        return "unregistered"
    body = json.dumps(
        {
            "Action": action,
            "Entity": entity,
            "WebhookId": registration.pk,
            "New": new,
            "Old": old,
            "ValidationKey": registration.validation_key,
        },
        ensure_ascii=False,
    ).encode()
    url = registration.callback_url
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=BACKOFF_SECONDS),
        retry=tenacity.retry_if_exception_type(Undelivered),
        reraise=True,
    )
    try:
        status = retrying(_post, url, body)
    except Undelivered as failure:
        logger.warning(
            "Demo CRM webhook %s (%s.%s) not delivered to %s: %s", registration.pk, entity, action, url, failure
        )
        return "undelivered"
    if status >= 400:
        logger.warning(
            "Demo CRM webhook %s (%s.%s) refused by %s: HTTP %s", registration.pk, entity, action, url, status
        )
        return "refused"
    return "delivered"


def _post(url: str, body: bytes) -> int:
    try:
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise Undelivered(type(exc).__name__) from exc
    if response.status_code in RETRIED_STATUSES:
        raise Undelivered(f"HTTP {response.status_code}")
    return response.status_code


def connect() -> None:
    """Hook the demo CRM's records to their webhooks (the app's ready)."""
    for model in RESOURCE_OF:
        uid = f"demo-crm-webhooks-{model.__name__}"
        pre_save.connect(keep_old_values, sender=model, dispatch_uid=f"{uid}-old")
        pre_delete.connect(keep_old_values, sender=model, dispatch_uid=f"{uid}-old-delete")
        post_save.connect(announce_save, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(announce_delete, sender=model, dispatch_uid=f"{uid}-delete")
