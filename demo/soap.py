"""SOAP 1.1 envelopes for the demo ERP: read a request safely, write answers and faults.

Requests are parsed with entities, DTDs and network access all off, and any
document that carries a DTD is refused before it reaches the parser.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils.translation import gettext as _
from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
ERP_NS = "urn:demo-erp:v1"
CONTENT_TYPE = "text/xml; charset=utf-8"


class SoapFault(Exception):
    """Answered as a SOAP 1.1 fault; ``code`` is e.g. ``Client.UnknownCustomer``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = str(message)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_request(body: bytes) -> tuple[str, etree._Element]:
    """``(operation name, operation element)`` from a SOAP 1.1 request body."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise SoapFault("Client.InvalidRequest", _("Documents with a DTD or entities are refused."))
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Client.InvalidRequest", _("The request is not well-formed XML: %(error)s") % {"error": exc})
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Client.InvalidRequest", _("Documents with a DTD or entities are refused."))
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("VersionMismatch", _("This service speaks SOAP 1.1 only."))
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Client.InvalidRequest", _("The request is not a SOAP 1.1 envelope."))
    body_element = root.find(f"{{{SOAP_ENV}}}Body")
    children = [child for child in body_element if isinstance(child.tag, str)] if body_element is not None else []
    if len(children) != 1:
        raise SoapFault("Client.InvalidRequest", _("The SOAP body must hold exactly one operation."))
    operation = children[0]
    qname = etree.QName(operation)
    if qname.namespace != ERP_NS:
        raise SoapFault("Client.UnknownOperation", _("Unknown operation %(name)s.") % {"name": qname.text})
    return qname.localname, operation


# --- reading arguments ------------------------------------------------------------------------


def child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child called ``name`` (qualified in the ERP namespace or not)."""
    found = element.find(f"{{{ERP_NS}}}{name}")
    return found if found is not None else element.find(name)


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return element.findall(f"{{{ERP_NS}}}{name}") + element.findall(name)


def text(element: etree._Element, name: str) -> str | None:
    found = child(element, name)
    if found is None:
        return None
    value = (found.text or "").strip()
    return value or None


def integer(element: etree._Element, name: str, default: int | None = None) -> int | None:
    value = text(element, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SoapFault("Client.InvalidRequest", _("%(name)s must be a whole number.") % {"name": name})


def decimal(element: etree._Element, name: str) -> Decimal | None:
    value = text(element, name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise SoapFault("Client.InvalidOrder", _("%(name)s must be a number.") % {"name": name})
    if not number.is_finite():
        raise SoapFault("Client.InvalidOrder", _("%(name)s must be a number.") % {"name": name})
    return number


def date_time(element: etree._Element, name: str) -> datetime | None:
    """An xsd:dateTime; without an offset it is taken as UTC."""
    value = text(element, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SoapFault("Client.InvalidRequest", _("%(name)s must be an ISO 8601 date and time.") % {"name": name})
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- writing answers --------------------------------------------------------------------------


def xml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")  # an xsd:decimal has no exponent: never "1E+1"
    return str(value)


def append(parent: etree._Element, name: str, value) -> etree._Element:
    """Append ``value`` as ``<name>``: dicts become children, lists repeat the element, None is left out."""
    if value is None:
        return parent
    if isinstance(value, list):
        for item in value:
            append(parent, name, item)
        return parent
    element = etree.SubElement(parent, f"{{{ERP_NS}}}{name}")
    if isinstance(value, dict):
        for key, item in value.items():
            append(element, key, item)
    else:
        element.text = xml_value(value)
    return element


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "erp": ERP_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    return envelope, body


def response(operation: str, result: dict) -> bytes:
    envelope, body = _envelope()
    append(body, f"{operation}Response", result)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def fault(code: str, message: str) -> bytes:
    envelope, body = _envelope()
    element = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{code}"
    etree.SubElement(element, "faultstring").text = message
    detail = etree.SubElement(element, "detail")
    etree.SubElement(detail, f"{{{ERP_NS}}}error").text = code.rpartition(".")[2]
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
