"""Argument templates: a SOAP operation's keyword arguments as JSON-like data with placeholders.

These placeholders are substituted inside strings:

- ``{cursor}``: the last committed incremental cursor (``ReadRequest.cursor``);
- ``{page_token}``: the page position (a bookmark Key, a page number or an offset);
- ``{page_size}``: ``ConnectionConfig.page_size``;
- ``{key}``: the key of the one record read (``read_one``).

A string that is exactly one placeholder takes the value itself (``"{page_size}"`` becomes
the number 100). A value that is absent (no cursor on the first run, no bookmark on the first
page) removes what mentions it: a *list item* mentioning it is dropped whole (so a NAV
``filter`` element on the cursor disappears on the first run), any other key mentioning it
is dropped. A list left empty is omitted from the envelope (NAV reads every record when no
``filter`` is sent, although its WSDL says ``minOccurs=1``).

The incremental filter, applied only when there is a cursor, is either a JSON object merged into
the arguments (lists are concatenated), e.g.
``{"filter": [{"Field": "Last_Date_Modified", "Criteria": ">={cursor}"}]}``, or the NAV
shorthand ``Field: criteria``, e.g. ``Last_Date_Modified: >={cursor}``, which means exactly
that filter element.
"""

from __future__ import annotations

import json
import re
from typing import Any

from zeep import xsd

from core import stored_messages as stored

from ..base import ConnectorError

PLACEHOLDER = re.compile(r"\{(cursor|page_token|page_size|key)\}")
_NAV_SHORTHAND = re.compile(r"^\s*(\w+)\s*:\s*(.*\S)\s*$", re.DOTALL)
_DROP = object()


def mentions(node, names: set[str]) -> bool:
    """Whether ``node`` holds a placeholder of one of ``names`` anywhere."""
    if isinstance(node, dict):
        return any(mentions(value, names) for value in node.values())
    if isinstance(node, list):
        return any(mentions(value, names) for value in node)
    return isinstance(node, str) and any(f"{{{name}}}" in node for name in names)


def _render_string(text: str, values: dict[str, Any]):
    names = PLACEHOLDER.findall(text)
    if any(values.get(name) is None for name in names):
        return _DROP
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        return values[whole.group(1)]
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)


def render_template(node, values: dict[str, Any]):
    """Substitute the placeholders; list items and keys that mention an absent value are dropped."""
    missing = {name for name, value in values.items() if value is None}
    if isinstance(node, dict):
        rendered = {key: render_template(value, values) for key, value in node.items()}
        return {key: value for key, value in rendered.items() if value is not _DROP}
    if isinstance(node, list):
        items = [render_template(item, values) for item in node if not mentions(item, missing)]
        return [item for item in items if item is not _DROP]
    if isinstance(node, str):
        return _render_string(node, values)
    return node


def merge_arguments(base: dict, extra: dict) -> dict:
    """``extra`` merged into ``base``: dicts recursively, lists concatenated, other values replaced."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_arguments(current, value)
        elif isinstance(current, list):
            merged[key] = current + (value if isinstance(value, list) else [value])
        else:
            merged[key] = value
    return merged


def incremental_arguments(incremental_filter: str) -> dict:
    """The incremental filter as arguments: a JSON object, or NAV's ``Field: criteria``."""
    text = (incremental_filter or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConnectorError(
                stored.gettext("The incremental filter is not valid JSON: %(error)s", error=str(exc))
            ) from exc
        if isinstance(value, dict):
            return value
    match = _NAV_SHORTHAND.match(text)
    if not match:
        raise ConnectorError(
            stored.gettext(
                'The incremental filter "%(filter)s" is neither a JSON object nor "Field: criteria" '
                '(e.g. "Last_Date_Modified: >={cursor}").',
                filter=text,
            )
        )
    return {"filter": [{"Field": match.group(1), "Criteria": match.group(2)}]}


def omit_empty_lists(node):
    """Empty lists become zeep's SkipValue: the element is left out of the envelope."""
    if isinstance(node, dict):
        return {key: omit_empty_lists(value) for key, value in node.items()}
    if isinstance(node, list):
        return [omit_empty_lists(item) for item in node] if node else xsd.SkipValue
    return node
