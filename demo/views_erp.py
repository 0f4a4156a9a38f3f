"""The demo ERP: a SOAP 1.1 web service at ``/sandbox/erp/soap``, its WSDL at ``?wsdl``.

The WSDL is public (it holds no data); every operation needs HTTP basic auth.
Arguments are checked against the WSDL's schema first (:mod:`.xsd`). Business
refusals and simulated errors are SOAP faults (HTTP 500, as SOAP 1.1 says);
"down" and throttling answer like a gateway in front of the service (503 and
429 with plain text), which is how such failures look in the field.
"""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from . import soap, xsd
from .auth import has_valid_basic_auth
from .choices import Disturbance, SandboxSystem
from .erp_service import OPERATIONS
from .knobs import logged_as_expected, with_knobs

REALM = "Demo ERP"


def fault_response(code: str, message) -> HttpResponse:
    return HttpResponse(soap.fault(code, str(message)), status=500, content_type=soap.CONTENT_TYPE)


def soap_fault(code: str, message) -> HttpResponse:
    return logged_as_expected(fault_response(code, message), f"SOAP fault {code}")


def render_disturbance(request, disturbance: Disturbance, knobs) -> HttpResponse:
    """The answer instead of the service's (``with_knobs`` has logged the disturbance)."""
    if disturbance == Disturbance.DOWN:
        return HttpResponse(_("Service unavailable"), status=503, content_type="text/plain; charset=utf-8")
    if disturbance == Disturbance.THROTTLED:
        return HttpResponse(
            _("Too many requests; try again in %(seconds)d seconds.") % {"seconds": knobs.retry_after_seconds},
            status=429,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(knobs.retry_after_seconds)},
        )
    return fault_response(
        "Server.Unavailable", _("The demo ERP could not answer right now (simulated error); try again.")
    )


@with_knobs(SandboxSystem.ERP, render_disturbance, disturbances={Disturbance.DOWN})
def wsdl(request) -> HttpResponse:
    document = render_to_string(
        "sandbox/erp.wsdl", {"endpoint": request.build_absolute_uri(request.path), "operations": list(OPERATIONS)}
    )
    return HttpResponse(document, content_type=soap.CONTENT_TYPE)


@with_knobs(SandboxSystem.ERP, render_disturbance)
def call(request) -> HttpResponse:
    if not has_valid_basic_auth(request, request.sandbox_knobs):
        return HttpResponse(
            _("Authentication required."),
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
        )
    try:
        name, element = soap.parse_request(request.body)
        operation = OPERATIONS.get(name)
        if operation is None:
            raise soap.SoapFault("Client.UnknownOperation", _("Unknown operation %(name)s.") % {"name": name})
        xsd.check_request(name, element)
        result = operation(element, timezone.now(), request.sandbox_knobs)
    except soap.SoapFault as exc:
        return soap_fault(exc.code, exc.message)
    return HttpResponse(soap.response(name, result), content_type=soap.CONTENT_TYPE)


@csrf_exempt
def endpoint(request) -> HttpResponse:
    if request.method == "GET" and any(key.lower() == "wsdl" for key in request.GET):
        return wsdl(request)
    if request.method == "POST":
        return call(request)
    if request.method == "GET":
        return HttpResponse(
            _("Demo ERP SOAP 1.1 service: POST requests here; the WSDL is at ?wsdl."),
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(status=405, headers={"Allow": "GET, POST"})
