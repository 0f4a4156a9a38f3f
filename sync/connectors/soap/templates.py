"""Argument templates: a SOAP operation's keyword arguments as JSON-like data with placeholders.

The substitution itself is :mod:`sync.connectors.templates`; these placeholders are filled in:

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

import re

from zeep import xsd

from core import stored_messages as stored

from ..base import ConnectorError
from ..templates import json_object, mentions, merge_arguments, render_template

__all__ = ["incremental_arguments", "mentions", "merge_arguments", "omit_empty_lists", "render_template"]

_NAV_SHORTHAND = re.compile(r"^\s*(\w+)\s*:\s*(.*\S)\s*$", re.DOTALL)


def incremental_arguments(incremental_filter: str) -> dict:
    """The incremental filter as arguments: a JSON object, or NAV's ``Field: criteria``."""
    text = (incremental_filter or "").strip()
    if not text:
        return {}
    value = json_object(text)
    if value is not None:
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
