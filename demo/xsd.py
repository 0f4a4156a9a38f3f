"""The demo ERP's request checks, read from its own WSDL: every argument must be what the schema declares.

The ``xsd:schema`` inside ``sandbox/erp.wsdl`` is the one source: each operation's
element is walked against its declaration. An element the schema does not have
there, or a single element sent twice, is refused with ``Client.InvalidRequest``;
a value that is not a valid lexical value of its declared type (``xsd:decimal``,
``xsd:int``, ``xsd:long``, ``xsd:dateTime``, ``xsd:boolean``, or an enumeration)
with ``Client.InvalidValue``, naming the element's path and the type, e.g.
``order/lines[2]/quantity must be an xsd:decimal, got 'abc'.`` Required
elements left out are left to each operation, whose faults say more.
"""

import functools
import re
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from lxml import etree

from .soap import ERP_NS, SoapFault

XSD_NS = "http://www.w3.org/2001/XMLSchema"

# Lexical spaces (XML Schema 1.0 part 2), after whitespace is collapsed.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DATE_TIME = re.compile(
    r"-?(?P<year>\d{4,})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?P<fraction>\.\d+)?"
    r"(?P<zone>Z|[+-](?P<zone_hour>\d{2}):(?P<zone_minute>\d{2}))?",
    re.ASCII,
)
_BOOLEAN = frozenset({"true", "false", "1", "0"})
_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_decimal(text: str) -> bool:
    return bool(_DECIMAL.fullmatch(text))


def is_integer(text: str, kind: str = "long") -> bool:
    if not _INTEGER.fullmatch(text):
        return False
    low, high = _RANGES[kind]
    return low <= int(text) <= high


def is_boolean(text: str) -> bool:
    return text in _BOOLEAN


def is_date_time(text: str) -> bool:
    match = _DATE_TIME.fullmatch(text)
    if not match:
        return False
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if year == 0 or not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if month == 2 and day == 29 and not leap:
        return False
    if hour == 24:  # 24:00:00 is the end of the day, nothing later
        if minute or second or int((match["fraction"] or ".0")[1:]):
            return False
    elif hour > 23 or minute > 59 or second > 59:
        return False
    if match["zone_hour"] is not None:
        zone_hour, zone_minute = int(match["zone_hour"]), int(match["zone_minute"])
        if zone_minute > 59 or zone_hour > 14 or (zone_hour == 14 and zone_minute):
            return False
    return True


BUILTIN_CHECKS = {
    "string": lambda text: True,
    "decimal": is_decimal,
    "int": lambda text: is_integer(text, "int"),
    "long": lambda text: is_integer(text, "long"),
    "boolean": is_boolean,
    "dateTime": is_date_time,
}


@dataclass(frozen=True)
class Particle:
    """One declared child element: its name, type (``("xsd", "decimal")``, ``("simple", "OrderStatus")``,
    ``("complex", "NewOrderLine")``) and whether it may repeat."""

    name: str
    type: tuple[str, str]
    many: bool


@dataclass(frozen=True)
class Schema:
    elements: dict[str, tuple[Particle, ...]]  # operation element → its children
    complex_types: dict[str, tuple[Particle, ...]]
    enumerations: dict[str, frozenset[str]]  # simple type → its values


def _qualified(node, reference: str) -> tuple[str, str]:
    prefix, _sep, local = reference.rpartition(":")
    return node.nsmap.get(prefix or None), local


def read_schema(schema: etree._Element) -> Schema:
    enumerations = {
        simple.get("name"): frozenset(value.get("value") for value in simple.iter(f"{{{XSD_NS}}}enumeration"))
        for simple in schema.findall(f"{{{XSD_NS}}}simpleType")
    }
    complex_names = {node.get("name") for node in schema.findall(f"{{{XSD_NS}}}complexType")}
    groups: dict[str, tuple[Particle, ...]] = {}

    def particle_type(element) -> tuple[str, str]:
        namespace, local = _qualified(element, element.get("type", "xsd:string"))
        if namespace == XSD_NS:
            return ("xsd", local)
        if local in enumerations:
            return ("simple", local)
        if local in complex_names:
            return ("complex", local)
        raise ValueError(f"The WSDL's schema uses an undeclared type {element.get('type')!r}.")

    def sequence(node) -> tuple[Particle, ...]:
        particles = []
        found = node.find(f"{{{XSD_NS}}}sequence")
        for item in found if found is not None else ():
            if item.tag == f"{{{XSD_NS}}}element":
                many = item.get("maxOccurs", "1") != "1"
                particles.append(Particle(item.get("name"), particle_type(item), many))
            elif item.tag == f"{{{XSD_NS}}}group":
                particles += groups[_qualified(item, item.get("ref"))[1]]
        return tuple(particles)

    for group in schema.findall(f"{{{XSD_NS}}}group"):
        groups[group.get("name")] = sequence(group)
    complex_types = {node.get("name"): sequence(node) for node in schema.findall(f"{{{XSD_NS}}}complexType")}
    elements = {}
    for element in schema.findall(f"{{{XSD_NS}}}element"):
        inline = element.find(f"{{{XSD_NS}}}complexType")
        elements[element.get("name")] = sequence(inline) if inline is not None else ()
    return Schema(elements, complex_types, enumerations)


@functools.cache
def erp_schema() -> Schema:
    """The schema of the WSDL the demo ERP serves (read once per process)."""
    document = render_to_string("sandbox/erp.wsdl", {"endpoint": "http://localhost/", "operations": []})
    root = etree.fromstring(document.encode())
    return read_schema(root.find(f".//{{{XSD_NS}}}schema"))


def check_request(operation: str, element: etree._Element, schema: Schema | None = None) -> None:
    """Raise a :class:`SoapFault` when ``element`` (the operation's element) does not follow the schema."""
    schema = schema or erp_schema()
    particles = schema.elements.get(operation)
    if particles is not None:
        _walk(element, particles, "", operation, schema)


def _walk(element, particles: tuple[Particle, ...], path: str, parent: str, schema: Schema) -> None:
    declared = {particle.name: particle for particle in particles}
    counts: dict[str, int] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        particle = declared.get(qname.localname) if qname.namespace in (ERP_NS, None) else None
        here = f"{path}/{qname.localname}" if path else qname.localname
        if particle is None:
            raise SoapFault(
                "Client.InvalidRequest",
                _("%(path)s is not an element of %(parent)s.") % {"path": here, "parent": parent},
            )
        counts[particle.name] = counts.get(particle.name, 0) + 1
        if particle.many:
            here = f"{here}[{counts[particle.name]}]"
        elif counts[particle.name] > 1:
            raise SoapFault("Client.InvalidRequest", _("%(path)s appears more than once.") % {"path": here})
        kind, name = particle.type
        if kind == "complex":
            _walk(child, schema.complex_types[name], here, name, schema)
        else:
            _check_value(child, kind, name, here, schema)


def _check_value(element, kind: str, name: str, path: str, schema: Schema) -> None:
    raw = element.text or ""
    has_children = any(isinstance(child.tag, str) for child in element)
    if kind == "simple":
        allowed = schema.enumerations[name]
        if has_children or raw.strip() not in allowed:
            raise SoapFault(
                "Client.InvalidValue",
                _("%(path)s must be one of %(values)s, got %(value)r.")
                % {"path": path, "values": ", ".join(sorted(allowed)), "value": raw},
            )
        return
    check = BUILTIN_CHECKS.get(name, BUILTIN_CHECKS["string"])
    text = raw if name == "string" else " ".join(raw.split())  # every type but string collapses whitespace
    if has_children or not check(text):
        raise SoapFault(
            "Client.InvalidValue",
            _("%(path)s must be an %(type)s, got %(value)r.") % {"path": path, "type": f"xsd:{name}", "value": raw},
        )
