"""Pydantic's errors in the portal's words: "expected a whole number, got text", "unknown key (did you mean …)"."""

import difflib
from collections.abc import Iterable

from django.utils.translation import gettext as _

# What a type error expects, by pydantic's error type, when the key says nothing of its own.
_EXPECTED = {
    "string_type": lambda: _("text"),
    "int_type": lambda: _("a whole number"),
    "int_from_float": lambda: _("a whole number"),
    "bool_type": lambda: _("true or false"),
    "list_type": lambda: _("a list"),
    "dict_type": lambda: _("a mapping"),
    "model_type": lambda: _("a mapping of keys to values"),
    "model_attributes_type": lambda: _("a mapping of keys to values"),
}


def unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))


def describe(value) -> str:
    """How a message names what was written: "text", "the number 5", "a list"…"""
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


def wrong_type(expected: str, value) -> str:
    message = _("expected %(expected)s, got %(got)s") % {"expected": expected, "got": describe(value)}
    if isinstance(value, int | float) and not isinstance(value, bool) and expected == _("text"):
        message += _(': put it in quotes, e.g. "%(value)s"') % {"value": value}
    return message


def unknown_key(key, known: list[str]) -> str:
    message = _("unknown key")
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return message + _(' (did you mean "%(close)s"?)') % {"close": close[0]}
    return message + _("; known keys: %(known)s") % {"known": ", ".join(known)}


def unknown_choice(what: str, value, allowed: list[str]) -> str:
    message = _('unknown %(what)s "%(value)s"') % {"what": what, "value": value}
    close = difflib.get_close_matches(str(value), allowed, n=1)
    if close:
        message += _(' (did you mean "%(close)s"?)') % {"close": close[0]}
    return message + _("; allowed: %(allowed)s") % {"allowed": ", ".join(allowed)}


def leaf_message(error: dict, expected: str | None = None) -> str:
    """The message of an error on one value; ``expected`` names what the key takes, when it says."""
    kind = error["type"]
    if kind == "problem":
        return error["ctx"]["message"]
    if kind == "missing":
        return _("required key is missing")
    if kind == "string_too_short":
        return _("cannot be empty")
    if kind == "extra_forbidden":
        return _("unknown key")
    found = _EXPECTED.get(kind)
    if expected is None and found is None:
        return error["msg"]
    return wrong_type(expected or found(), error["input"])
