"""Why a target system refused a record, in its own words.

Pure functions (no models, no network): they read the error body a REST API answered, or
the ``detail`` element of a SOAP fault, and return one readable line that puts the general
message first and then every field-level violation, ``field: message``, separated by ``; ``::

    >>> reason_from_json({"title": "One or more validation errors occurred.",
    ...                   "errors": {"Price": ["Price must be a number"]}})
    'One or more validation errors occurred. Price: Price must be a number'

The shapes read:

* RFC 7807 / RFC 9457 problem details: ``title``, ``detail``, ``errors`` (a list of objects
  with ``detail``/``message`` and ``pointer``/``field``/``name``, or an object mapping each
  field to its messages, as ASP.NET's ValidationProblemDetails), ``invalid-params``
  (``[{"name", "reason"}]``);
* top-level lists named ``errors``, ``validation``, ``validationErrors``, ``violations``,
  ``fieldErrors``…, whose items carry ``message``/``msg``/``description``/``reason`` and
  ``path``/``field``/``propertyPath``/``target``/``loc``/``property`` (JSON:API's
  ``source.pointer`` too); a body that is itself such a list (Salesforce);
* OData errors ``{"error": {"code", "message", "details": [{"code", "message", "target"}]}}``
  (``"odata.error"`` in OData v3), the message also as ``{"value": …}`` (OData v3, SAP
  Business One, SAP Gateway, whose ``innererror.errordetails`` are read as details);
* FastAPI's ``{"detail": [{"loc", "msg"}]}``; Django REST framework's ``{field: [messages]}``;
* ASP.NET Web API's ``{"Message", "ModelState": {field: [messages]}}``; Rails' ``{"errors":
  {field: [messages]}}``;
* ``error_description`` (OAuth2), a plain ``message``, ``error`` as a string, HubSpot's
  ``{"status": "error", "message", "errors": [{"message", "context"}]}``, Omie's ``faultstring``.
* a web page (a proxy's error page, a sign-in form) where an API answer was expected: its title
  (:func:`explain_answer`, :mod:`.pages`).

The same words are shown once, and a message that already starts with its field
(``"Price: must be a number"``) is not prefixed with it again. Every piece is cut to
:data:`MAX_PIECE` characters and at most :data:`MAX_VIOLATIONS` violations are shown, then
``… and N more``. What is kept is outside data: the server's words, never translated.
"""

from __future__ import annotations

import http
import json
import re
from dataclasses import dataclass

from core.redaction import MASK, is_secret_name

from . import pages

MAX_VIOLATIONS = 10
MAX_PIECE = 300  # characters of one message or one field path
MAX_DEPTH = 4  # how deep nested error objects are read

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

_HTTP_PHRASES = frozenset(status.phrase.casefold() for status in http.HTTPStatus)
_SPACES = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


@dataclass(frozen=True)
class Reason:
    """What a refusal says: its general message and every violation (``field: message``), each once."""

    message: str = ""
    violations: tuple[str, ...] = ()

    def shown(self, limit: int = MAX_VIOLATIONS) -> str:
        """The general message and the first ``limit`` violations."""
        return _sentences(self.message, "; ".join(self.violations[:limit]))

    def hidden(self, limit: int = MAX_VIOLATIONS) -> int:
        """How many violations :meth:`shown` leaves out."""
        return max(0, len(self.violations) - limit)

    def text(self, limit: int = MAX_VIOLATIONS) -> str:
        """:meth:`shown`, then ``… and N more`` when violations were left out."""
        more = self.hidden(limit)
        return f"{self.shown(limit)} … and {more} more" if more else self.shown(limit)


def reason_from_json(data, limit: int = MAX_VIOLATIONS) -> str | None:
    """The readable reason in a decoded JSON error body; None when it holds none."""
    reason = explain_json(data)
    return reason.text(limit) if reason else None


def reason_from_text(text: str, limit: int = MAX_VIOLATIONS) -> str | None:
    """The readable reason in an error body as received; None when it is not JSON or holds no reason."""
    reason = explain_text(text)
    return reason.text(limit) if reason else None


def reason_from_xml(element, limit: int = MAX_VIOLATIONS, *, known=()) -> str | None:
    """The readable words in an XML element (a SOAP fault's ``detail``) beyond the ``known`` ones; None when none."""
    reason = explain_xml(element, known=known)
    return reason.text(limit) if reason else None


def explain_answer(body: bytes | str, content_type: str = "") -> Reason | None:
    """The :class:`Reason` in an error answer as received: a web page's title (a proxy's or a server's
    error page, a sign-in form), else :func:`explain_text`'s; None when it holds neither."""
    page = pages.web_page(body, content_type)
    if page is not None:
        return Reason(message=page.title) if page.title else None
    return explain_text(body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body)


def explain_text(text: str) -> Reason | None:
    try:
        data = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return explain_json(data)


def explain_json(data) -> Reason | None:
    """The :class:`Reason` in a decoded JSON error body; None when it holds neither a message nor a violation."""
    collector = _Collector()
    if isinstance(data, dict):
        _read_object(data, collector, depth=0)
    elif isinstance(data, list):
        _read_violations(data, collector, "", depth=0)
    elif isinstance(data, str):
        collector.general(data)
    return collector.reason()


def explain_xml(element, *, known=()) -> Reason | None:
    """The words of an XML element: each group of leaf texts under one parent on its own, ``; ``-separated.

    A group whose children name a field and a message (``<path>``, ``<message>``) reads
    ``path: message``; an element with a secret-looking name (``Password``, ``Token``) shows
    as masked. Words already said in one of the ``known`` texts (the fault string, the fault
    code) are left out: None when nothing else is left.
    """
    if element is None:
        return None
    collector = _Collector(known)
    _read_xml(element, collector, depth=0)
    return collector.reason()


# ---------------------------------------------------------------------------------------
# JSON.


class _Collector:
    def __init__(self, known=()):
        self.messages: list[str] = []
        self.violations: list[str] = []
        self._seen: set[str] = set()
        self._violation_words: set[str] = set()  # what the violations say, without their fields
        self._known = [_key(text) for text in known if isinstance(text, str) and _key(text)]

    def _said(self, text: str) -> bool:
        key = _key(text)
        return key in self._seen or any(key in known for known in self._known)

    def count(self) -> int:
        return len(self.messages) + len(self.violations)

    def general(self, value) -> None:
        text = _text(value)
        if text and not self._said(text):
            self._seen.add(_key(text))
            self.messages.append(text)

    def violation(self, field: str, message) -> None:
        field, message = _clip(_clean(field)), _text(message)
        if not message:
            return
        if any(_key(message) in known for known in self._known):
            return
        self._violation_words.add(_key(message))
        if field and not _names(message, field):
            message = f"{field}: {message}"
        if not self._said(message):
            self._seen.add(_key(message))
            self.violations.append(message)

    def reason(self) -> Reason | None:
        messages = self.messages
        if self.violations:
            # A general message that only repeats a violation is said once, with its field;
            # a title that only repeats the HTTP status ("Bad Request") says nothing the status does not.
            messages = [text for text in messages if _key(text) not in self._violation_words]
            messages = [text for text in messages if _key(text) not in _HTTP_PHRASES]
        elif len(messages) > 1:
            messages = [text for text in messages if _key(text) not in _HTTP_PHRASES] or messages[:1]
        message = ""
        for text in messages:
            message = _sentences(message, text)
        if not message and not self.violations:
            return None
        return Reason(message, tuple(self.violations))


def _read_object(data: dict, collector: _Collector, depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    if "error_description" in data and isinstance(data.get("error"), str):
        # OAuth2: the description says in words what the error code says in a word.
        data = {key: value for key, value in data.items() if key != "error"}
    found = collector.count()
    for key in GENERAL_KEYS:
        value = data.get(key)
        if isinstance(value, dict) and not isinstance(value.get("value"), str):
            _read_object(value, collector, depth + 1)  # OData's {"error": {"code", "message", "details"}}
        elif isinstance(value, list):
            _read_violations(value, collector, "", depth + 1)  # FastAPI's {"detail": [{"loc", "msg"}]}
        else:
            collector.general(value)
    for key in VIOLATION_KEYS:
        if key in data:
            _read_violations(data[key], collector, "", depth + 1)
    inner = data.get("innererror")
    if isinstance(inner, dict) and "errordetails" in inner:  # SAP Gateway
        _read_violations(inner["errordetails"], collector, "", depth + 1)
    if depth == 0 and collector.count() == found and _is_field_map(data):
        # Django REST framework: the body itself maps each field to its messages.
        _read_violations(data, collector, "", depth + 1)


def _is_field_map(data: dict) -> bool:
    return bool(data) and all(
        isinstance(messages, list) and messages and all(isinstance(text, str) for text in messages)
        for messages in data.values()
    )


def _read_violations(value, collector: _Collector, prefix: str, depth: int) -> None:
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
                _read_violations(messages, collector, path, depth + 1)
            elif isinstance(messages, dict):
                _read_violation(messages, collector, path, depth)
            else:
                _read_violations(messages if isinstance(messages, list) else [messages], collector, path, depth + 1)
    else:
        collector.violation(prefix, value)


def _read_violation(item: dict, collector: _Collector, prefix: str, depth: int) -> None:
    field = _field_of(item) or prefix
    message = _message_of(item)
    if message:
        collector.violation(field, message)
    for key in ("details", "errors", "errordetails"):  # nested details (OData, Google)
        if isinstance(item.get(key), list | dict):
            _read_violations(item[key], collector, field, depth + 1)
    if not message and not any(isinstance(item.get(key), list | dict) for key in ("details", "errors")):
        code = next((item[key] for key in CODE_KEYS if isinstance(item.get(key), str) and item[key].strip()), "")
        collector.violation(field, code)


def _message_of(item: dict) -> str:
    for key in MESSAGE_KEYS:
        text = _text(item.get(key))
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


def _text(value) -> str:
    """The words of a message: a string, or OData v3's ``{"value": …}`` / a nested ``{"message": …}``."""
    if isinstance(value, dict):
        value = value.get("value", value.get("message"))
    if not isinstance(value, str):
        return ""
    return _clip(_clean(value))


# ---------------------------------------------------------------------------------------
# XML.


def _read_xml(element, collector: _Collector, depth: int) -> None:
    children = [child for child in element if isinstance(child.tag, str)]
    own = _clean(element.text or "")
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
            _read_xml(child, collector, depth + 1)


def _xml_group(leaves, collector: _Collector) -> None:
    values = {}
    for leaf in leaves:
        name = _localname(leaf)
        text = MASK if is_secret_name(name) and _clean(leaf.text or "") else _clean(leaf.text or "")
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


# ---------------------------------------------------------------------------------------
# Words.


def _clean(text) -> str:
    return _SPACES.sub(" ", str(text)).strip() if text is not None else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_PIECE else text[: MAX_PIECE - 1].rstrip() + "…"


def _key(text: str) -> str:
    """What makes two messages the same: case, spaces and a final period aside."""
    return _clean(text).rstrip(".").casefold()


def _names(message: str, field: str) -> bool:
    """Whether ``message`` already starts with its field (``"Price: must be a number"``)."""
    head, colon, _ = message.partition(":")
    return bool(colon) and head.strip().casefold() in {field.casefold(), field.rsplit(".", 1)[-1].casefold()}


def _sentences(first: str, second: str) -> str:
    """Two pieces of one reason: after a sentence a space, after a phrase a colon."""
    if not first or not second:
        return first or second
    return f"{first} {second}" if first.endswith(_SENTENCE_END) else f"{first}: {second}"
