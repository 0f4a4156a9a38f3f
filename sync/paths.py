"""Paths into records: ``Address.City``, ``items[0].sku``, ``OtherProperties[FieldKey=ERP_CODE].StringValue``.

Pure functions, no database. A path is dotted names, each optionally followed by
brackets:

- ``[2]`` (or a plain ``.2`` part): the element at that index of a list (negative counts from the end);
- ``[FieldKey=contact_ERP_CODE]``: the first object of a list whose ``FieldKey`` is that text —
  how CRMs keep custom fields (Ploomes ``OtherProperties``) and where an integration keeps the
  other system's code;
- ``[]``: every item of a list (only in the mappings of a sub-list, see :mod:`sync.mapping`).

:func:`get_path` reads (``MISSING`` when any step is absent; never raises); :func:`put_path`
writes, creating the objects, lists and keyed elements the path needs and keeping the
elements that are already there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


class _Missing:
    """The value of a path that is not in the record (distinct from ``None``)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False

    def __reduce__(self):
        return (_Missing, ())


MISSING = _Missing()

_INDEX = re.compile(r"-?\d{1,9}")
_NAME_AND_BRACKETS = re.compile(r"([^\[\]]*)((?:\[[^\[\]]*\])*)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class Key:
    """A field of an object."""

    name: str


@dataclass(frozen=True)
class Index:
    """An element of a list by position."""

    position: int


@dataclass(frozen=True)
class Match:
    """The first object of a list whose ``field`` is ``value`` (compared as text)."""

    field: str
    value: str


@dataclass(frozen=True)
class Each:
    """Every item of a list."""


Step = Key | Index | Match | Each


class PathError(ValueError):
    """A path that cannot be parsed; the message says why."""


def parse(path: str) -> list[Step]:
    """The steps of ``path``; ``PathError`` when it is malformed (an unclosed bracket, an empty name…)."""
    if not isinstance(path, str) or not path.strip():
        raise PathError("the path is empty")
    steps: list[Step] = []
    for part in _split_dots(path):
        found = _NAME_AND_BRACKETS.fullmatch(part)
        if found is None:
            raise PathError(f'"{part}" has unbalanced brackets')
        name, brackets = found.groups()
        if name:
            steps.append(Index(int(name)) if _INDEX.fullmatch(name) else Key(name))
        elif not brackets:
            raise PathError("the path has an empty part (two dots in a row, or a dot at an end)")
        elif not steps:
            raise PathError("a path starts with a field name, e.g. items[0]")
        for inside in _BRACKET.findall(brackets):
            steps.append(_bracket_step(inside.strip()))
    return steps


def _split_dots(path: str) -> list[str]:
    """Split on dots outside brackets (a keyed element's value may hold a dot)."""
    parts, depth, current = [], 0, []
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise PathError("a closing bracket has no opening one")
        if char == "." and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise PathError("a bracket is not closed")
    parts.append("".join(current))
    return parts


def _bracket_step(inside: str) -> Step:
    if not inside:
        return Each()
    if _INDEX.fullmatch(inside):
        return Index(int(inside))
    field, sign, value = inside.partition("=")
    if not sign or not field.strip():
        raise PathError(f'"[{inside}]" is neither an index, [] nor [Field=value]')
    return Match(field.strip(), value.strip().strip("'\""))


def has_each(path: str) -> bool:
    """Whether the path goes through ``[]`` (a mapping of a sub-list's items)."""
    try:
        return any(isinstance(step, Each) for step in parse(path))
    except PathError:
        return False


def split_each(path: str) -> tuple[str, str] | None:
    """``lines[].sku`` → ``("lines", "sku")``: the list and the path inside each item; None without ``[]``."""
    depth, start = 0, None
    for position, char in enumerate(path):
        if char == "[":
            if depth == 0 and path[position : position + 2] == "[]":
                start = position
                break
            depth += 1
        elif char == "]":
            depth -= 1
    if start is None:
        return None
    rest = path[start + 2 :]
    return path[:start], rest[1:] if rest.startswith(".") else rest


def _matches(item, step: Match) -> bool:
    if not isinstance(item, Mapping) or step.field not in item:
        return False
    value = item[step.field]
    if isinstance(value, bool):
        return str(value).lower() == step.value.lower()
    return value is not None and str(value) == step.value


def get_path(record, path: str):
    """The value at ``path``, or ``MISSING``; a key holding the whole path wins (flattened records)."""
    if not isinstance(path, str) or not path:
        return MISSING
    if isinstance(record, Mapping) and path in record:
        return record[path]
    try:
        steps = parse(path)
    except PathError:
        return MISSING
    current = record
    for step in steps:
        current = _step(current, step)
        if current is MISSING:
            return MISSING
    return current


def _step(current, step: Step):
    if isinstance(step, Key):
        return current[step.name] if isinstance(current, Mapping) and step.name in current else MISSING
    if isinstance(step, Index) and isinstance(current, Mapping):
        return current.get(str(step.position), MISSING)  # a numeric part names a key of an object
    if not isinstance(current, list | tuple):
        return MISSING
    if isinstance(step, Index):
        return current[step.position] if -len(current) <= step.position < len(current) else MISSING
    if isinstance(step, Match):
        return next((item for item in current if _matches(item, step)), MISSING)
    return MISSING  # [] reads no single value


class Overlap(Exception):
    """Another mapping already wrote at (or through) the path."""


def put_path(values: dict, path: str, value, built: set[int]) -> None:
    """Write ``value`` at ``path`` inside ``values``, creating what the path needs.

    ``built`` holds the ids of the objects and lists made here, so that a value copied
    from the source (maybe an object) is never written into: writing there, or at a
    place another mapping wrote, raises :class:`Overlap`. A keyed element
    (``[FieldKey=X]``) is found or appended with its key field set; an index past the
    end appends empty objects up to it.
    """
    steps = parse(path)
    steps = [
        Key(str(step.position)) if isinstance(step, Index) and index == 0 else step for index, step in enumerate(steps)
    ]
    if any(isinstance(step, Each) for step in steps):
        raise PathError("[] is only for the mappings of a sub-list")
    node = values
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            _set_last(node, step, value)
            return
        node = _child(node, step, following, built)


def _new_container(following: Step, built: set[int]):
    container = {} if isinstance(following, Key) else []
    built.add(id(container))
    return container


def _child(node, step: Step, following: Step, built: set[int]):
    if isinstance(step, Key):
        if step.name not in node:
            node[step.name] = _new_container(following, built)
        child = node[step.name]
    elif isinstance(step, Index):
        if step.position < 0:
            raise Overlap
        while len(node) <= step.position:
            item = {}
            built.add(id(item))
            node.append(item)
        child = node[step.position]
    else:  # Match
        child = next((item for item in node if _matches(item, step)), None)
        if child is None:
            child = {step.field: step.value}
            built.add(id(child))
            node.append(child)
    if id(child) not in built or not isinstance(child, dict | list):
        raise Overlap
    if isinstance(following, Key) != isinstance(child, dict):
        raise Overlap
    return child


def _set_last(node, step: Step, value) -> None:
    if isinstance(step, Key):
        if not isinstance(node, dict) or step.name in node:
            raise Overlap
        node[step.name] = value
        return
    if isinstance(step, Index):
        if not isinstance(node, list) or step.position < len(node) or step.position < 0:
            raise Overlap
        while len(node) < step.position:
            node.append(None)
        node.append(value)
        return
    raise Overlap  # a whole keyed element is written through its fields, e.g. [FieldKey=X].StringValue
