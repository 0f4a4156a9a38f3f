"""Transforms that choose among known values: yes/no words, a value map, a constant."""

import unicodedata
from decimal import Decimal

from core import stored_messages as stored

from ..choices import Transform
from .base import TransformError, as_text, display_value, is_blank
from .options import option

_TRUE = frozenset({"true", "t", "1", "yes", "y", "sim", "s", "on", "verdadeiro", "x"})  # "X": SAP's checkbox
_FALSE = frozenset({"false", "f", "0", "no", "n", "não", "nao", "off", "falso"})


def _word(value) -> str | None:
    """The comparable form of a value in a yes/no list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value.strip()).casefold()
    if isinstance(value, int | float | Decimal):
        try:
            return as_text(value)
        except TransformError:
            return None
    return None


def to_boolean(value, options):
    """true/false, 1/0, yes/no, sim/não, s/n, X (any case); ``true_values``/``false_values`` add more."""
    extra_true = option(options, Transform.BOOLEAN, "true_values", [])
    extra_false = option(options, Transform.BOOLEAN, "false_values", [])
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    word = _word(value)
    if word is not None:
        if word in {_word(item) for item in extra_true}:
            return True
        if word in {_word(item) for item in extra_false}:
            return False
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise TransformError(
        stored.gettext(
            '"%(value)s" is not a yes/no value (use true/false, yes/no, sim/não, 1/0)', value=display_value(value)
        )
    )


def _map_keys(value) -> list[str]:
    if isinstance(value, str):
        return [value, value.strip()]
    if isinstance(value, bool):
        return ["true" if value else "false", str(value)]
    if isinstance(value, int | float | Decimal):
        try:
            return [as_text(value)]
        except TransformError:
            return []
    return []


def value_map(value, options):
    """Look ``value`` up in the ``map`` option (keys are text); else ``default``, else an error."""
    mapping = option(options, Transform.VALUE_MAP, "map")
    if value is None:
        return None
    for key in _map_keys(value):
        if key in mapping:
            return mapping[key]
    if "default" in options:
        return option(options, Transform.VALUE_MAP, "default")
    known = ", ".join(display_value(key) for key in list(mapping)[:10]) + (", …" if len(mapping) > 10 else "")
    raise TransformError(
        stored.gettext(
            '"%(value)s" is not in the value map (known: %(known)s)', value=display_value(value), known=known
        )
    )


def constant(value, options):
    return option(options, Transform.CONSTANT, "value")
