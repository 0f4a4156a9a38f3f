"""Rows whose columns the answer names elsewhere: Sankhya's ``f0…fN`` and ``{"$": value}``.

Sankhya's ``loadRecords`` answers each row as ``{"f0": {"$": "1"}, "f1": {"$": "ACME"}}`` and names the
columns once in ``metadata.fields.field`` (``[{"name": "CODPARC"}, {"name": "NOMEPARC"}]``); a query
service answers rows as lists with the names beside them. A single row comes as an object, not a
list of one; no row, no key at all. Values travel wrapped as ``{"$": text}``, an empty one as ``{}``.
"""

from __future__ import annotations

import re

from core import stored_messages as stored
from sync import paths

from ..base import ConnectorError

_POSITION = re.compile(r"f(\d{1,4})")


def unwrapped(value):
    """``{"$": v}`` → ``v``; ``{}`` → None; objects and lists unwrapped inside; anything else as it is."""
    if isinstance(value, dict):
        if set(value) == {"$"}:
            return value["$"]
        if not value:
            return None
        return {key: unwrapped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def column_names(data, path: str) -> list[str]:
    """The names of the columns at ``path`` in the answer: a list of names, or of objects with a ``name``."""
    found = paths.get_path(data, path)
    if isinstance(found, dict):  # one column comes as an object, like one row
        found = [found]
    if not isinstance(found, list) or not found:
        raise ConnectorError(
            stored.gettext(
                "The answer names no columns at %(path)s: check the column names path.",
                path=path,
            )
        )
    names = [unwrapped(item.get("name")) if isinstance(item, dict) else unwrapped(item) for item in found]
    if any(not isinstance(name, str) or not name for name in names):
        raise ConnectorError(
            stored.gettext("The columns at %(path)s are not all named: check the column names path.", path=path)
        )
    return names


def named_rows(rows, names: list[str]) -> list:
    """The rows as objects named by column: ``f<i>`` keys and list positions become the names."""
    if rows is None or rows is paths.MISSING:
        return []
    if isinstance(rows, dict):
        rows = [rows]
    return [_named(row, names) for row in rows] if isinstance(rows, list) else rows


def _named(row, names: list[str]):
    if isinstance(row, list):
        return {name: unwrapped(value) for name, value in zip(names, row, strict=False)}
    if not isinstance(row, dict):
        return row  # the engine puts it in the review queue with its payload
    named = {}
    for key, value in row.items():
        position = _POSITION.fullmatch(key)
        if position and int(position.group(1)) < len(names):
            named[names[int(position.group(1))]] = unwrapped(value)
        else:
            named[key] = unwrapped(value)
    return named
