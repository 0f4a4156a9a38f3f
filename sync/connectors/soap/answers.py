"""A SOAP operation's answer as plain, JSON-safe data, and the records in it.

zeep objects become plain dicts (``zeep.helpers.serialize_object``); dates and datetimes become
ISO strings, decimals stay ``Decimal`` (no float rounding), bytes base64; empty (None) fields of
a record are left out.

Records are found at ``ConnectionConfig.records_path``: a dotted path through the answer's
wrapper element, e.g. ``ReadMultiple_Result.Customer`` for NAV (the wrapper's own name may lead
the path: ``Read_Result.Customer``). It walks through lists (each item's value is collected),
and a None along the way is an empty answer, which :func:`sync.paths.get_path` does not do.
Blank: descend through single-child elements down to the first list or record.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal

from lxml import etree

from core import stored_messages as stored

from ..base import ConnectorError


def plain(value):
    """zeep values as plain Python data: an ``xsd:decimal`` stays a ``Decimal`` (a number, its digits kept)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="unicode")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def as_record(value) -> dict:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return {"value": value}


def descend(body):
    """Through single-child wrappers down to the first list or record."""
    while isinstance(body, dict) and len(body) == 1:
        (inner,) = body.values()
        if not isinstance(inner, dict | list) and inner is not None:
            break
        body = inner
    return body


def unwrapped_records(data):
    """What a blank records path reads: ``data``, unless it is an object beside which a list of records lies.

    An answer such as ``{"records": [...], "total": 5}`` is not one record: taking it whole would
    make one record without a key. The records path must name the list; the error says which.
    """
    if not isinstance(data, dict):
        return data
    lists = [key for key, value in data.items() if isinstance(value, list) and any(isinstance(i, dict) for i in value)]
    if lists:
        raise ConnectorError(
            stored.gettext(
                "The answer is an object that holds a list of records at %(keys)s: set the connection's records "
                "path to it (e.g. %(example)s); a blank records path reads the whole answer as one record.",
                keys=", ".join(lists),
                example=lists[0],
            )
        )
    return data


def records_from(data) -> list[dict]:
    if data is None:
        return []
    if isinstance(data, list):
        return [as_record(item) for item in data if item is not None]
    return [as_record(data)]


def first_record(body) -> dict | None:
    """The first record of an answer (a write's or a lookup's), None when it holds none."""
    records = records_from(descend(body))
    return records[0] if records else None


def resolve_path(body, path: str, wrapper_name: str = ""):
    """Follow a dotted path; None along the way is an empty answer, a missing key an error."""
    segments = [segment for segment in path.split(".") if segment]
    if segments and wrapper_name and segments[0] == wrapper_name and not _has_key(body, wrapper_name):
        segments = segments[1:]
    data = body
    for depth, segment in enumerate(segments):
        data = _step(data, segment, segments[: depth + 1], path)
        if data is None:
            return None
    return data


def _has_key(body, name: str) -> bool:
    return isinstance(body, dict) and name in body


def _step(data, segment: str, walked: list[str], path: str):
    if isinstance(data, list):
        items = [_step(item, segment, walked, path) for item in data]
        return [leaf for item in items if item is not None for leaf in (item if isinstance(item, list) else [item])]
    if isinstance(data, dict):
        if segment not in data:
            raise ConnectorError(
                stored.gettext(
                    'The records path "%(path)s" does not match the answer: "%(at)s" is not there (found: %(keys)s).',
                    path=path,
                    at=".".join(walked),
                    keys=", ".join(data) or "-",
                )
            )
        return data[segment]
    return None
