"""The demo CRM's webhook registrations, as Ploomes keeps them: ``/Webhooks`` and ``/Webhooks@Actions``.

- ``POST /Webhooks`` ``{"EntityId": 4, "ActionId": 1, "CallbackUrl": "https://…", "ValidationKey": "…"}``
  registers where to send the changes of one entity (Contact 1, Order 4, Product 10) for one action
  (Create 1, Update 2, Delete 3); answers ``{"value": [webhook]}``. An unknown entity or action, or a
  CallbackUrl that is not an http(s) address, is answered 400 ``BadRequest`` with a message.
- ``GET /Webhooks`` lists them (``$filter``, ``$top``, ``$skip``… as the other resources);
  ``DELETE /Webhooks({id})`` removes one (204, or 404).
- ``GET /Webhooks@Actions`` lists the actions, ``{"value": [{"Id": 1, "Name": "Create"}, …]}``.

A webhook is written out without its validation key: the key is only ever sent with the deliveries
(:mod:`demo.crm_deliveries`). Every call needs the ``User-Key`` header, and the knobs apply.
"""

import functools
from urllib.parse import urlsplit

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .auth import has_valid_user_key
from .choices import CrmWebhookAction, SandboxSystem
from .crm_values import BodyError, iso
from .knobs import with_knobs
from .models import CrmWebhook
from .odata import FieldSpec, ODataError, parse_query
from .views_crm import _body, _not_allowed, error, render_disturbance

# The entities whose changes are sent, by their id, with the name a delivery gives them.
WEBHOOK_ENTITIES = {1: "Contact", 4: "Order", 10: "Product"}
WEBHOOK_FIELDS = {
    "Id": FieldSpec("pk", "int"),
    "EntityId": FieldSpec("entity_id", "int"),
    "ActionId": FieldSpec("action_id", "int"),
    "CallbackUrl": FieldSpec("callback_url", "str"),
    "CreateDate": FieldSpec("created_at", "datetime"),
}
MAX_KEY_LENGTH = CrmWebhook._meta.get_field("validation_key").max_length
MAX_URL_LENGTH = CrmWebhook._meta.get_field("callback_url").max_length


def webhook_endpoint(view):
    """Knobs first, then the User-Key, then the view; a query or body it cannot read is a 400."""

    @csrf_exempt
    @with_knobs(SandboxSystem.CRM, render_disturbance)
    @functools.wraps(view)
    def wrapped(request, **kwargs):
        if not has_valid_user_key(request, request.sandbox_knobs):
            return error(401, "Unauthorized", _("A valid User-Key header is required."))
        try:
            return view(request, **kwargs)
        except ODataError as exc:
            return error(400, "BadRequest", exc)
        except BodyError as exc:
            return error(400, "BadRequest", exc.message)

    return wrapped


def webhook_json(webhook: CrmWebhook) -> dict:
    return {
        "Id": webhook.pk,
        "EntityId": webhook.entity_id,
        "ActionId": webhook.action_id,
        "CallbackUrl": webhook.callback_url,
        "CreateDate": iso(webhook.created_at),
    }


@webhook_endpoint
def webhooks(request):
    if request.method == "GET":
        options = parse_query(request.GET, WEBHOOK_FIELDS)
        listed = CrmWebhook.objects.filter(options.filter).order_by(*(options.order_by or ["pk"]))
        page = listed[options.skip : options.skip + options.top] if options.top else []
        data = {"value": [webhook_json(webhook) for webhook in page]}
        if options.count:
            data["@odata.count"] = listed.count()
        return JsonResponse(data)
    if request.method == "POST":
        return _register(request)
    return _not_allowed(request)


@webhook_endpoint
def webhook(request, pk: str):
    found = CrmWebhook.objects.filter(pk=int(pk)).first()
    if found is None:
        return error(404, "NotFound", _("Webhooks(%(id)s) does not exist.") % {"id": pk})
    if request.method == "GET":
        return JsonResponse({"value": [webhook_json(found)]})
    if request.method == "DELETE":
        found.delete()
        return HttpResponse(status=204)
    return _not_allowed(request)


@webhook_endpoint
def actions(request):
    if request.method != "GET":
        return _not_allowed(request)
    return JsonResponse({"value": [{"Id": action.value, "Name": action.label} for action in CrmWebhookAction]})


def _register(request) -> JsonResponse:
    body = _body(request)
    if not isinstance(body, dict):
        return error(400, "BadRequest", _("The body must be a JSON object."))
    entity, action = body.get("EntityId"), body.get("ActionId")
    url, key = body.get("CallbackUrl"), body.get("ValidationKey")
    if not _is_id(entity) or entity not in WEBHOOK_ENTITIES:
        known = ", ".join(f"{number} ({name})" for number, name in WEBHOOK_ENTITIES.items())
        return error(
            400,
            "BadRequest",
            _("EntityId %(id)s is not an entity with webhooks: %(known)s.") % {"id": _shown(entity), "known": known},
        )
    if not _is_id(action) or action not in CrmWebhookAction.values:
        return error(
            400, "BadRequest", _("ActionId %(id)s is not an action: see /Webhooks@Actions.") % {"id": _shown(action)}
        )
    if not _is_web_address(url):
        return error(400, "BadRequest", _("CallbackUrl must be an http or https address."))
    if key is not None and (not isinstance(key, str) or len(key) > MAX_KEY_LENGTH):
        return error(
            400,
            "BadRequest",
            _("ValidationKey must be a text of at most %(max)d characters.") % {"max": MAX_KEY_LENGTH},
        )
    created = CrmWebhook.objects.create(
        entity_id=entity, action_id=action, callback_url=url, validation_key=key or "", created_at=timezone.now()
    )
    return JsonResponse({"value": [webhook_json(created)]})


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value) -> str:
    return str(value)[:40] if value is not None else "null"


def _is_web_address(value) -> bool:
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)
