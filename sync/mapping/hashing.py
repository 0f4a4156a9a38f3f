"""Fingerprints of mapped values, to skip records whose values did not change."""

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal


def canonical(value):
    """``value`` as plain JSON types, the same way every time."""
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if value.bit_length() < 10_000 else f"int:{value:x}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | bytes):
        return str(value) if isinstance(value, uuid.UUID) else value.hex()
    return str(value)


def values_hash(values) -> str:
    """SHA-256 of the values as canonical JSON: key order does not matter, any change does."""
    text = json.dumps(canonical(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
