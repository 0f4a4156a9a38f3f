"""Source records as JSON the database keeps: staged payloads and review-queue entries."""

import re
from datetime import date, datetime, time
from decimal import Decimal

# A UTF-16 half (a lone surrogate): .NET and JavaScript sources that cut an emoji in half send them.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def repaired_text(value):
    """``value`` with every text storable, and whether anything changed.

    PostgreSQL refuses the NUL character in text and JSON; both databases refuse a lone surrogate
    when a query is encoded. NUL is removed, a lone surrogate becomes U+FFFD (the replacement
    character): a record read from outside is made storable once, when it is read, so that its
    key, its staged payload, its events and its queue entry can all be written.
    """
    if isinstance(value, str):
        if "\x00" not in value and not _LONE_SURROGATE.search(value):
            return value, False
        return _LONE_SURROGATE.sub(REPLACEMENT, value.replace("\x00", "")), True
    if isinstance(value, dict):
        changed = False
        repaired = {}
        for key, item in value.items():
            new_key, key_changed = repaired_text(key)
            new_item, item_changed = repaired_text(item)
            repaired[new_key] = new_item
            changed = changed or key_changed or item_changed
        return (repaired, True) if changed else (value, False)
    if isinstance(value, list | tuple):
        items = [repaired_text(item) for item in value]
        if any(changed for _item, changed in items):
            return [item for item, _changed in items], True
        return value, False
    return value, False


def storable(value):
    """``value`` with plain JSON types: a decimal becomes a JSON number, a date ISO 8601 text.

    Records read from SOAP keep ``xsd:decimal`` values as ``Decimal`` while they are mapped (their
    digits exact); what is stored of them is a number, read back as one when a run retries it.
    """
    if isinstance(value, dict):
        return {str(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value
