"""The shapes of error answers the refusal reader knows: where each keeps its message and its violations.

JSON bodies (problem details, OData, FastAPI, Django REST framework, ASP.NET, Rails, HubSpot,
Salesforce, SAP…) and XML elements (a SOAP fault's ``detail``); see :mod:`.refusals`.
"""

from __future__ import annotations

from core.redaction import MASK, is_secret_name

from .refusal_words import MAX_DEPTH, Collector, clean, message_text

# Keys of one violation: its words, first match wins (``detail`` before ``title`` in JSON:API).
MESSAGE_KEYS = (
    "message",
    "msg",
    "detail",
    "description",
    "reason",
    "errorMessage",
    "defaultMessage",
    "error_description",
    "title",
    "error",
)
# …and where it applies.
FIELD_KEYS = (
    "pointer",
    "field",
    "propertyPath",
    "property",
    "path",
    "loc",
    "target",
    "name",
    "fields",
    "param",
    "parameter",
    "propertyref",
    "location",
    "source",
    "context",
)
CODE_KEYS = ("errorCode", "code")
# Lists (or field → messages objects) of violations in a body or in its ``error`` object.
VIOLATION_KEYS = (
    "errors",
    "details",
    "invalid-params",
    "invalid_params",
    "invalidParams",
    "validation",
    "validationErrors",
    "validation_errors",
    "violations",
    "fieldErrors",
    "field_errors",
    "ModelState",
    "modelState",
)
# Keys of a field → messages object that stand for the whole record (DRF, Django, ASP.NET's "").
WHOLE_RECORD_KEYS = ("non_field_errors", "__all__", "")
# The general message, in this order; ``error`` may also be an object (OData) read the same way.
GENERAL_KEYS = (
    "title",
    "detail",
    "message",
    "Message",
    "error_description",
    "error",
    "odata.error",
    "faultstring",
    "errorMessage",
)


# ---------------------------------------------------------------------------------------
# JSON.


def read_object(data: dict, collector: Collector, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    if "error_description" in data and isinstance(data.get("error"), str):
        # OAuth2: the description says in words what the error code says in a word.
        data = {key: value for key, value in data.items() if key != "error"}
    found = collector.count()
    for key in GENERAL_KEYS:
        value = data.get(key)
        if isinstance(value, dict) and not isinstance(value.get("value"), str):
            read_object(value, collector, depth + 1)  # OData's {"error": {"code", "message", "details"}}
        elif isinstance(value, list):
            read_violations(value, collector, "", depth + 1)  # FastAPI's {"detail": [{"loc", "msg"}]}
        else:
            collector.general(value)
    for key in VIOLATION_KEYS:
        if key in data:
            read_violations(data[key], collector, "", depth + 1)
    inner = data.get("innererror")
    if isinstance(inner, dict) and "errordetails" in inner:  # SAP Gateway
        read_violations(inner["errordetails"], collector, "", depth + 1)
    if depth == 0 and collector.count() == found and _is_field_map(data):
        # Django REST framework: the body itself maps each field to its messages.
        read_violations(data, collector, "", depth + 1)


def _is_field_map(data: dict) -> bool:
    return bool(data) and all(
        isinstance(messages, list) and messages and all(isinstance(text, str) for text in messages)
        for messages in data.values()
    )


def read_violations(value, collector: Collector, prefix: str, depth: int) -> None:
    """A list of violations, or an object mapping each field to its messages (read under ``prefix``)."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _read_violation(item, collector, prefix, depth)
            else:
                collector.violation(prefix, item)
    elif isinstance(value, dict):
        for field, messages in value.items():
            field = "" if field in WHOLE_RECORD_KEYS else str(field)
            path = f"{prefix}.{field}" if prefix and field else (prefix or field)
            if isinstance(messages, dict) and not _message_of(messages):
                read_violations(messages, collector, path, depth + 1)
            elif isinstance(messages, dict):
                _read_violation(messages, collector, path, depth)
            else:
                read_violations(messages if isinstance(messages, list) else [messages], collector, path, depth + 1)
    else:
        collector.violation(prefix, value)


def _read_violation(item: dict, collector: Collector, prefix: str, depth: int) -> None:
    field = _field_of(item) or prefix
    message = _message_of(item)
    if message:
        collector.violation(field, message)
    for key in ("details", "errors", "errordetails"):  # nested details (OData, Google)
        if isinstance(item.get(key), list | dict):
            read_violations(item[key], collector, field, depth + 1)
    if not message and not any(isinstance(item.get(key), list | dict) for key in ("details", "errors")):
        code = next((item[key] for key in CODE_KEYS if isinstance(item.get(key), str) and item[key].strip()), "")
        collector.violation(field, code)


def _message_of(item: dict) -> str:
    for key in MESSAGE_KEYS:
        text = message_text(item.get(key))
        if text:
            return text
    return ""


def _field_of(item: dict) -> str:
    for key in FIELD_KEYS:
        value = item.get(key)
        if key in ("source", "context"):
            value = _field_in(value)
        elif key == "fields" and isinstance(value, list):
            value = ", ".join(_path(name) for name in value if _path(name))  # Salesforce
        field = _path(value)
        if field:
            return field
    return ""


def _field_in(value) -> str:
    """JSON:API's ``source`` (``pointer``, ``parameter``), HubSpot's ``context`` (``{"propertyName": ["x"]}``)."""
    if not isinstance(value, dict):
        return ""
    for key in ("pointer", "parameter", "header"):
        if isinstance(value.get(key), str):
            return value[key]
    names = [_path(item) for item in value.values()]
    return ", ".join(name for name in names if name)


def _path(value) -> str:
    if isinstance(value, str):
        value = value.strip()
        # A JSON pointer ("/price", "#/lines/2/quantity") reads better without its leading slash.
        return value.removeprefix("#").lstrip("/") if value.startswith(("/", "#/")) else value
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list) and all(isinstance(part, str | int) and not isinstance(part, bool) for part in value):
        return ".".join(str(part) for part in value)  # FastAPI's loc, Joi's path
    return ""


# ---------------------------------------------------------------------------------------
# XML.


def read_xml(element, collector: Collector, depth: int) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    own = clean(element.text or "")
    if not children:
        if depth == 0 and own:
            collector.general(own)
        return
    leaves = [child for child in children if not any(isinstance(c.tag, str) for c in child)]
    if own:
        collector.general(own)
    if len(leaves) == len(children) and depth < MAX_DEPTH:
        _xml_group(children, collector)
        return
    for child in children:
        if child in leaves:
            _xml_group([child], collector)
        elif depth < MAX_DEPTH:
            read_xml(child, collector, depth + 1)


def _xml_group(leaves, collector: Collector) -> None:
    values = {}
    for leaf in leaves:
        name = _localname(leaf)
        text = MASK if is_secret_name(name) and clean(leaf.text or "") else clean(leaf.text or "")
        if text:
            values.setdefault(name, text)
    if not values:
        return
    message = next((values[key] for key in values if key in MESSAGE_KEYS or key.lower() in MESSAGE_KEYS), None)
    field = next((values[key] for key in values if key in FIELD_KEYS or key.lower() in FIELD_KEYS), None)
    if message and field and len(values) == 2:
        collector.violation(field, message)
    else:
        collector.general(" ".join(values.values()))


def _localname(element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
