"""Readers of single values in an integration file: each checks one value and converts it.

A reader is called with ``(value, path, problems)``; it returns the model's value, or
``INVALID`` after reporting what is wrong at ``path``.
"""

import difflib
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

from core.durations import parse_duration

from ..json_input import json_problems
from .problems import Path, Problems

INVALID = object()  # what a reader returns for a value it reported as wrong


class Fields(dict):
    """A reader's result that sets several model attributes at once (e.g. the schedule)."""


Reader = Callable[[Any, Path, Problems], Any]


def _describe(value) -> str:
    if value is None:
        return _("nothing (null)")
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, int | float):
        return _("the number %(value)s") % {"value": value}
    if isinstance(value, str):
        return _("text")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("a mapping")
    return type(value).__name__


def wrong_type(problems: Problems, path: Path, expected: str, value) -> object:
    message = _("expected %(expected)s, got %(got)s") % {"expected": expected, "got": _describe(value)}
    if isinstance(value, int | float) and not isinstance(value, bool) and expected == _("text"):
        message += _(': put it in quotes, e.g. "%(value)s"') % {"value": value}
    problems.add(path, message)
    return INVALID


def text(*, blank: bool = True) -> Reader:
    def read(value, path, problems):
        if value is None and blank:
            return ""
        if not isinstance(value, str):
            return wrong_type(problems, path, _("text"), value)
        if not blank and not value.strip():
            problems.add(path, _("cannot be empty"))
            return INVALID
        return value

    return read


def integer(*, null: bool = False) -> Reader:
    def read(value, path, problems):
        if value is None and null:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            return wrong_type(problems, path, _("a whole number"), value)
        return value

    return read


def boolean() -> Reader:
    def read(value, path, problems):
        if not isinstance(value, bool):
            return wrong_type(problems, path, _("true or false"), value)
        return value

    return read


def file_value(choice_value: str) -> str:
    """How a choice is written in the file: the empty choice (no transform) is ``none``."""
    return choice_value or "none"


def choice(choices) -> Reader:
    allowed = {file_value(value): value for value in choices.values}

    def read(value, path, problems):
        if isinstance(value, str) and value in allowed:
            return allowed[value]
        if value == "" and "" in allowed.values():
            return ""
        what = path[-1] if path and isinstance(path[-1], str) else _("value")
        message = _('unknown %(what)s "%(value)s"') % {"what": what, "value": value}
        close = difflib.get_close_matches(str(value), list(allowed), n=1)
        if close:
            message += _(' (did you mean "%(close)s"?)') % {"close": close[0]}
        problems.add(path, message + _("; allowed: %(allowed)s") % {"allowed": ", ".join(allowed)})
        return INVALID

    return read


def duration(*, null: bool = False) -> Reader:
    def read(value, path, problems):
        if value is None and null:
            return None
        if not isinstance(value, str):
            return wrong_type(problems, path, _("a duration such as 24h, 30m or 1d 12h"), value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            problems.add(path, str(exc))
            return INVALID

    return read


def text_list() -> Reader:
    """A list of texts, stored as one comma-separated text (the alert recipients)."""

    def read(value, path, problems):
        if value is None:
            return ""
        if not isinstance(value, list):
            return wrong_type(problems, path, _("a list, e.g. [ops@example.com]"), value)
        ok = True
        for index, item in enumerate(value):
            if not isinstance(item, str):
                wrong_type(problems, (*path, index), _("text"), item)
                ok = False
        return ", ".join(item.strip() for item in value) if ok else INVALID

    return read


def json_list() -> Reader:
    def read(value, path, problems):
        if value is None:
            return []
        if not isinstance(value, list):
            return wrong_type(problems, path, _("a list"), value)
        return _within_json_limits(value, path, problems)

    return read


def json_mapping() -> Reader:
    def read(value, path, problems):
        if value is None:
            return {}
        if not isinstance(value, dict):
            return wrong_type(problems, path, _("a mapping"), value)
        return _within_json_limits(value, path, problems)

    return read


def json_value() -> Reader:
    """Any value YAML writes as JSON (a number, a text, true/false, a list, a mapping); null means none."""

    def read(value, path, problems):
        if isinstance(value, bool | int | float | str | list | dict) or value is None:
            return _within_json_limits(value, path, problems)
        return wrong_type(problems, path, _("a number, a text, true/false, a list or a mapping"), value)

    return read


def _within_json_limits(value, path: Path, problems: Problems):
    """``value``, or ``INVALID`` after reporting why it cannot be stored as JSON (NaN, .inf, huge numbers…)."""
    found = json_problems(value)
    for message in found:
        problems.add(path, message)
    return INVALID if found else value


def is_mapping(value, path: Path, problems: Problems) -> bool:
    if isinstance(value, dict):
        return True
    wrong_type(problems, path, _("a mapping of keys to values"), value)
    return False
