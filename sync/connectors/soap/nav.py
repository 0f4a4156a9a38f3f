"""Dynamics NAV specifics: filter literals, and how a record is looked up by a field."""

from __future__ import annotations

import re

_NAV_SPECIAL = re.compile(r"[&|()*@<>=']|\.\.|^\s|\s$")


def nav_literal(value: str) -> str:
    """A value as a NAV filter literal: quoted when it holds filter syntax."""
    if _NAV_SPECIAL.search(value) or not value:
        return "'" + value.replace("'", "''") + "'"
    return value


def find_arguments(input_names: list[str], key_field: str, value: str) -> dict | None:
    """The arguments that look a record up by ``key_field``, for an operation taking ``input_names``.

    ``Read(No=value)`` when the operation takes the key field itself, else a NAV filter
    (``ReadMultiple``) with the criteria ``value`` (quoted when it holds filter syntax) and
    ``setSize`` 1; None when it takes neither.
    """
    if key_field in input_names:
        return {key_field: value}
    if "filter" in input_names:
        arguments = {"filter": [{"Field": key_field, "Criteria": nav_literal(value)}]}
        if "setSize" in input_names:
            arguments["setSize"] = 1
        return arguments
    return None
