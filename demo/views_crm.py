"""The demo CRM: a REST API shaped like Ploomes' (``/Contacts``, ``/Products``, ``/Orders``, ``/Fields``).

Lists answer ``{"value": [...]}`` and honour ``$filter`` (custom fields with
``OtherProperties/any(...)``), ``$orderby``, ``$top`` (at most 300), ``$skip``,
``$select`` and ``$count``; ``POST`` and ``PATCH`` answer ``{"value": [record]}``;
``DELETE`` answers 204; ``/Fields`` (the custom fields) is read-only. Every call
needs the ``User-Key`` header.

Errors are ``{"error": {"code": ..., "message": ...}}``: 400 ``BadRequest``
(unreadable JSON, a query option not understood), 401 ``Unauthorized``, 404
``NotFound``, 405 ``MethodNotAllowed``, 409 ``Conflict``, and 422
``ValidationFailed`` for a body refused on its content, which also lists every
violation in ``details`` (see :mod:`.crm_schema`).
"""

import functools
import json

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .auth import has_valid_user_key
from .choices import Disturbance, SandboxSystem
from .crm_resource import Resource
from .crm_schema import RESOURCES
from .crm_values import BodyError, conflict
from .knobs import with_knobs
from .models import CrmContact, CrmOrder, next_number
from .odata import ODataError, parse_query

FIRST_ORDER_NUMBER = 1001
# The field that makes a record unique, named in a 409 answer.
UNIQUE_FIELD = {"Contacts": "CNPJ", "Products": "Code", "Orders": "OrderNumber"}


def error(status: int, code: str, message, headers=None, details=None) -> JsonResponse:
    body = {"code": code, "message": str(message)}
    if details is not None:
        body["details"] = [violation.as_json() for violation in details]
    return JsonResponse({"error": body}, status=status, headers=headers)


def render_disturbance(request, disturbance: Disturbance, knobs) -> HttpResponse:
    """The answer instead of the view's (``with_knobs`` has logged the disturbance)."""
    if disturbance == Disturbance.DOWN:
        return HttpResponse(_("Service unavailable"), status=503, content_type="text/plain; charset=utf-8")
    if disturbance == Disturbance.THROTTLED:
        return error(
            429,
            "TooManyRequests",
            _("Too many requests; try again in %(seconds)d seconds.") % {"seconds": knobs.retry_after_seconds},
            headers={"Retry-After": str(knobs.retry_after_seconds)},
        )
    return error(500, "InternalServerError", _("The demo CRM failed to answer (simulated error)."))


def crm_endpoint(view):
    """Knobs first (the whole system may be down), then the User-Key, then the view."""

    @csrf_exempt
    @with_knobs(SandboxSystem.CRM, render_disturbance)
    @functools.wraps(view)
    def wrapped(request, resource: str, **kwargs):
        if not has_valid_user_key(request, request.sandbox_knobs):
            return error(401, "Unauthorized", _("A valid User-Key header is required."))
        try:
            return view(request, RESOURCES[resource], **kwargs)
        except ODataError as exc:
            return error(400, "BadRequest", exc)
        except BodyError as exc:
            return error(exc.status, exc.code, exc.message, details=exc.details if exc.status == 422 else None)

    return wrapped


def _not_allowed(request) -> JsonResponse:
    return error(405, "MethodNotAllowed", _("%(method)s is not allowed here.") % {"method": request.method})


def _body(request):
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BodyError(_("The body is not valid JSON."))


def _one(resource: Resource, obj) -> JsonResponse:
    return JsonResponse({"value": [resource.serialize(obj)]})


def _fetch(resource: Resource, pk: int):
    return resource.model.objects.select_related(*resource.select_related).filter(pk=pk).first()


def _not_found(resource: Resource, pk) -> JsonResponse:
    return error(404, "NotFound", _("%(resource)s(%(id)s) does not exist.") % {"resource": resource.name, "id": pk})


def _conflict(resource: Resource, columns: dict) -> BodyError:
    name = UNIQUE_FIELD[resource.name]
    value = columns.get(resource.fields[name].lookup, "")
    return conflict(
        _("Another record of %(resource)s already has %(field)s %(value)s.")
        % {"resource": resource.name, "field": name, "value": value}
    )


@crm_endpoint
def collection(request, resource: Resource):
    if request.method == "GET":
        return _list(request, resource)
    if request.method == "POST" and not resource.read_only:
        return _create(request, resource)
    return _not_allowed(request)


@crm_endpoint
def item(request, resource: Resource, pk: str):
    obj = _fetch(resource, int(pk))
    if obj is None:
        return _not_found(resource, pk)
    if request.method == "GET":
        return _one(resource, obj)
    if request.method == "PATCH" and not resource.read_only:
        return _update(request, resource, obj)
    if request.method == "DELETE" and not resource.read_only:
        return _delete(resource, obj)
    return _not_allowed(request)


def _list(request, resource: Resource) -> JsonResponse:
    options = parse_query(request.GET, resource.fields, resource.custom_fields)
    queryset = (
        resource.model.objects.select_related(*resource.select_related)
        .filter(options.filter)
        .order_by(*options.order_by)
    )
    page = queryset[options.skip : options.skip + options.top] if options.top else []
    data = {"value": [resource.serialize(obj, options.select) for obj in page]}
    if options.count:
        data["@odata.count"] = queryset.count()
    return JsonResponse(data)


def _create(request, resource: Resource) -> JsonResponse:
    columns = resource.clean(_body(request))
    now = timezone.now()
    columns.update(created_at=now, updated_at=now)
    try:
        if resource.model is CrmOrder and columns.get("order_number") is None:
            columns.pop("order_number", None)
            obj = next_number(
                CrmOrder,
                "order_number",
                lambda number: CrmOrder.objects.create(order_number=number, **columns),
                start=FIRST_ORDER_NUMBER,
            )
        else:
            with transaction.atomic():
                obj = resource.model.objects.create(**columns)
    except IntegrityError:
        raise _conflict(resource, columns)
    return _one(resource, _fetch(resource, obj.pk))


def _update(request, resource: Resource, obj) -> JsonResponse:
    columns = resource.clean(_body(request), instance=obj)
    for name, value in columns.items():
        setattr(obj, name, value)
    obj.updated_at = timezone.now()
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise _conflict(resource, columns)
    return _one(resource, _fetch(resource, obj.pk))


def _delete(resource: Resource, obj) -> HttpResponse:
    try:
        with transaction.atomic():
            if isinstance(obj, CrmContact):
                # People of a deleted company lose their CompanyId: that is a change of theirs too.
                obj.people.update(company=None, updated_at=timezone.now())
            obj.delete()
    except ProtectedError:
        raise conflict(
            _("%(resource)s(%(id)s) still has orders; delete them first.") % {"resource": resource.name, "id": obj.pk}
        )
    return HttpResponse(status=204)
