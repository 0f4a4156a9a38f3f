"""Source records as JSON the database keeps: staged payloads and review-queue entries."""

from datetime import date, datetime, time
from decimal import Decimal


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
