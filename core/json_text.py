"""JSON text for request bodies, with decimals written as numbers with their exact digits.

The standard library writes a ``Decimal`` only through ``float`` (129.90 becomes 129.9, and
0.1 + 0.2 style artefacts creep in); ``simplejson``'s ``use_decimal`` would be a dependency for
these few lines, and requests would then pick it for every call.
"""

import json
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal


def dumps(value, *, spaced: bool = False) -> str:
    """``value`` as JSON text, non-ASCII kept; ``Decimal`` as a JSON number with its digits.

    Compact by default (request bodies); ``spaced`` writes ``", "`` and ``": "`` as ``json.dumps`` does.
    """
    comma, colon = (", ", ": ") if spaced else (",", ":")
    if isinstance(value, Mapping):
        items = (f"{_key(key)}{colon}{dumps(item, spaced=spaced)}" for key, item in value.items())
        return "{" + comma.join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + comma.join(dumps(item, spaced=spaced) for item in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} cannot be written in JSON")
        return str(value) if "E" in str(value) else format(value, "f")  # 1E+400 as read, never 400 digits
    if isinstance(value, date | time):
        return json.dumps(value.isoformat())
    if value is None or isinstance(value, str | int | float | bool):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


def _key(key) -> str:
    return json.dumps(str(key), ensure_ascii=False)
