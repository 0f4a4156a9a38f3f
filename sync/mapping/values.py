"""What the mapping asks of any value: is it empty, and how it is shown in a message."""

import json

from ..paths import MISSING
from ..transforms import display_value


def is_empty(value) -> bool:
    """Missing, ``None``, blank text, or an empty list or object."""
    if value is MISSING or value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def shown(value, limit: int = 100) -> str:
    """A value as short JSON for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = display_value(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"
