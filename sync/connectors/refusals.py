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

import json

from . import pages
from .refusal_shapes import read_object, read_violations, read_xml
from .refusal_words import MAX_PIECE, MAX_VIOLATIONS, Collector, Reason

__all__ = [
    "MAX_PIECE",
    "MAX_VIOLATIONS",
    "Reason",
    "explain_answer",
    "explain_json",
    "explain_text",
    "explain_xml",
    "reason_from_json",
    "reason_from_text",
    "reason_from_xml",
]


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
    collector = Collector()
    if isinstance(data, dict):
        read_object(data, collector, depth=0)
    elif isinstance(data, list):
        read_violations(data, collector, "", depth=0)
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
    collector = Collector(known)
    read_xml(element, collector, depth=0)
    return collector.reason()
