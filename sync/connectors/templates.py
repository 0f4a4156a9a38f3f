"""Templates: JSON-like data with placeholders, filled in for each call (SOAP arguments, REST bodies).

A placeholder is a name in braces, e.g. ``{cursor}``; only the names given to :func:`render_template`
are placeholders, any other text in braces stays as it is. A string that is exactly one
placeholder takes the value itself (``"{page_size}"`` becomes the number 100, ``"{record}"``
the mapped record). A value that is absent (``None``: no cursor on the first run, no page token
on the first page) removes what mentions it: a *list item* mentioning it is dropped whole, any
other key mentioning it is dropped, and an object left empty by the dropping is dropped too.

The names the connectors fill in:

- ``{cursor}``: the last committed incremental cursor;
- ``{page_token}``: the page position (a bookmark, a page number, an offset, a server's cursor);
- ``{page}`` (1-based), ``{page_index}`` (0-based), ``{offset}``: the page, for paging inside a body;
- ``{page_size}``: the connection's page size;
- ``{key}``: the key of the one record read, or of the record updated;
- ``{record}``: the mapped record a write sends;
- ``{username}``, ``{password}``, ``{api_key}``, ``{client_id}``, ``{client_secret}``: the connection's
  credentials, in a login body or in credentials carried by every body.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

from core import stored_messages as stored
from sync import paths

from .base import ConnectorError

# The credentials a login body or the credentials carried by every body may name.
CREDENTIAL_PLACEHOLDERS = ("username", "password", "api_key", "client_id", "client_secret")
_DROP = object()


@lru_cache(maxsize=64)
def _placeholder(names: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\{(" + "|".join(re.escape(name) for name in names) + r")\}")


def mentions(node, names: set[str]) -> bool:
    """Whether ``node`` holds a placeholder of one of ``names`` anywhere."""
    if isinstance(node, dict):
        return any(mentions(value, names) for value in node.values())
    if isinstance(node, list):
        return any(mentions(value, names) for value in node)
    return isinstance(node, str) and any(f"{{{name}}}" in node for name in names)


def render_template(node, values: dict[str, Any]):
    """Substitute the placeholders named in ``values``; what mentions an absent (None) value is dropped."""
    pattern = _placeholder(tuple(sorted(values)))
    missing = {name for name, value in values.items() if value is None}
    rendered = _render(node, values, pattern, missing)
    return {} if rendered is _DROP else rendered


def _render(node, values, pattern, missing):
    if isinstance(node, dict):
        rendered = {key: _render(value, values, pattern, missing) for key, value in node.items()}
        kept = {key: value for key, value in rendered.items() if value is not _DROP}
        return _DROP if node and not kept else kept
    if isinstance(node, list):
        items = [_render(item, values, pattern, missing) for item in node if not mentions(item, missing)]
        return [item for item in items if item is not _DROP]
    if isinstance(node, str):
        return _render_string(node, values, pattern)
    return node


def _render_string(text: str, values: dict[str, Any], pattern: re.Pattern):
    names = pattern.findall(text)
    if any(values.get(name) is None for name in names):
        return _DROP
    whole = pattern.fullmatch(text)
    if whole:
        return values[whole.group(1)]
    return pattern.sub(lambda match: str(values[match.group(1)]), text)


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


def json_object(text: str) -> dict | None:
    """An incremental filter written as a JSON object, parsed; None when it is not written as one."""
    text = (text or "").strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConnectorError(
            stored.gettext("The incremental filter is not valid JSON: %(error)s", error=str(exc))
        ) from exc
    return value if isinstance(value, dict) else None


def enveloped(envelope: dict | None, record: dict, key) -> dict:
    """The body a write sends: ``record`` itself, or the envelope with ``{record}`` and ``{key}`` filled in.

    On a create there is no key yet: what mentions ``{key}`` is left out (Sankhya's ``dataRow.key``).
    """
    if not envelope:
        return record
    return render_template(envelope, {"record": record, "key": key})


def with_filter(template: dict, extra: dict) -> dict:
    """``extra`` (an incremental filter) added to ``template``: a key written as a path with dots or brackets
    (``param[0].filtrar_por_data_de``) is set at that place, inside what the template already holds; the other
    keys are merged (:func:`merge_arguments`)."""
    plain = {key: value for key, value in extra.items() if not _is_path(key)}
    merged = copy.deepcopy(merge_arguments(template, plain))
    for key, value in extra.items():
        if _is_path(key):
            _place(merged, key, value)
    return merged


def _is_path(key: str) -> bool:
    return "." in key or "[" in key


def _place(node, path: str, value) -> None:
    try:
        steps = paths.parse(path)
    except paths.PathError as error:
        raise ConnectorError(
            stored.gettext("The filter key %(path)s is not a path: %(error)s", path=path, error=str(error))
        ) from None
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if isinstance(step, paths.Key) and isinstance(node, dict):
            if following is None:
                node[step.name] = value
                return
            node = node.setdefault(step.name, {} if isinstance(following, paths.Key) else [])
        elif isinstance(step, paths.Index) and isinstance(node, list) and -len(node) <= step.position < len(node):
            if following is None:
                node[step.position] = value
                return
            node = node[step.position]
        else:
            raise ConnectorError(
                stored.gettext("The filter key %(path)s does not lead to a place in the body.", path=path)
            )
