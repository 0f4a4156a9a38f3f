"""What the demo CRM accepts in a JSON body, value by value, and how it refuses the rest.

A body is checked whole: every violation found goes back together, as a 422 answer::

    {"error": {"code": "ValidationFailed", "message": "The request is not valid.",
               "details": [{"code": "InvalidType", "target": "Price", "message": "Price must be a number."}]}}

Detail codes: ``InvalidType`` (a JSON value of the wrong type, or a custom field's
value under the wrong value key), ``InvalidValue`` (the right type, a refused
value), ``Required``, ``UnknownField`` (a field, or a custom FieldKey, the
resource does not have) and ``ReadOnly`` (a field fixed at creation, sent in a
PATCH). ``target`` is the field's path in the body, e.g. ``Products[1].UnitPrice``
or ``OtherProperties[0].IntegerValue`` (0-based, like the JSON arrays).

Types are JSON's, as the real API reads them: a number is a JSON number (never
a numeric string), an integer a JSON integer, a text a string (or null), a yes/no
``true`` or ``false``.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

CENTS = Decimal("0.01")
# The largest value of the integer columns (PositiveIntegerField fits every database).
MAX_INT = 2_147_483_647
MAX_TEXT_VALUE = 4000

INVALID_TYPE = "InvalidType"
INVALID_VALUE = "InvalidValue"
REQUIRED = "Required"
UNKNOWN_FIELD = "UnknownField"
READ_ONLY_FIELD = "ReadOnly"


@dataclass(frozen=True)
class Violation:
    code: str
    target: str
    message: str

    def as_json(self) -> dict:
        return {"code": self.code, "target": self.target, "message": self.message}


class BodyError(ValueError):
    """A request the demo CRM refuses.

    ``status`` 400 (unreadable body, code ``BadRequest``), 409 (conflict, code
    ``Conflict``) or 422 (code ``ValidationFailed``, with every violation in ``details``).
    """

    def __init__(self, message, status: int = 400, code: str = "BadRequest", details: tuple[Violation, ...] = ()):
        super().__init__(str(message))
        self.message = str(message)
        self.status = status
        self.code = code
        self.details = tuple(details)


def validation_failed(details) -> BodyError:
    return BodyError(_("The request is not valid."), status=422, code="ValidationFailed", details=details)


def conflict(message) -> BodyError:
    return BodyError(message, status=409, code="Conflict")


class Problems:
    """The violations found in one body, in the order they were found."""

    def __init__(self):
        self.found: list[Violation] = []

    def add(self, code: str, target: str, message) -> None:
        self.found.append(Violation(code, target, str(message)))

    def wrong_type(self, target: str, message) -> None:
        self.add(INVALID_TYPE, target, message)

    def invalid(self, target: str, message) -> None:
        self.add(INVALID_VALUE, target, message)

    def raise_if_any(self) -> None:
        if self.found:
            raise validation_failed(self.found)


# Returned by the converters for a value that was refused (and added to the problems).
REFUSED = object()


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds kept, so ``LastUpdateDate gt <last seen>`` is exact."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# --- JSON values ------------------------------------------------------------------------------


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # json.loads reads NaN and Infinity, which JSON does not have
    return is_integer(value)


def as_text(value, target: str, problems: Problems):
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.wrong_type(target, _("%(field)s must be a text.") % {"field": target})
        return REFUSED
    return value.strip()


def as_integer(value, target: str, problems: Problems, nullable: bool = True):
    if value is None and nullable:
        return None
    if not is_integer(value):
        problems.wrong_type(target, _("%(field)s must be a whole number.") % {"field": target})
        return REFUSED
    if value < 0:
        problems.invalid(target, _("%(field)s cannot be negative.") % {"field": target})
        return REFUSED
    if value > MAX_INT:
        problems.invalid(target, _("%(field)s must be at most %(max)d.") % {"field": target, "max": MAX_INT})
        return REFUSED
    return value


def as_decimal(value, target: str, problems: Problems, max_digits: int = 28):
    """A JSON number as a Decimal to the cent; ``max_digits`` counts the digits before and after the point."""
    if not is_number(value):
        problems.wrong_type(target, _("%(field)s must be a number.") % {"field": target})
        return REFUSED
    try:
        number = Decimal(str(value)).quantize(CENTS, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # beyond Decimal's precision
        number = None
    if number is None or abs(number) >= Decimal(10) ** (max_digits - 2):
        problems.invalid(target, _("%(field)s is too large.") % {"field": target})
        return REFUSED
    if number < 0:
        problems.invalid(target, _("%(field)s cannot be negative.") % {"field": target})
        return REFUSED
    return number


def as_bool(value, target: str, problems: Problems):
    if not isinstance(value, bool):
        problems.wrong_type(target, _("%(field)s must be true or false.") % {"field": target})
        return REFUSED
    return value


def as_objects(value, target: str, problems: Problems):
    """A list of JSON objects; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.wrong_type(target, _("%(field)s must be a list of objects.") % {"field": target})
        return REFUSED
    ok = True
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            where = f"{target}[{index}]"
            problems.wrong_type(where, _("%(field)s must be an object.") % {"field": where})
            ok = False
    return value if ok else REFUSED


def as_date_time(value, target: str, problems: Problems):
    """An ISO 8601 date and time in a JSON string, as UTC ISO text; without an offset it is UTC."""
    if not isinstance(value, str):
        problems.wrong_type(target, _("%(field)s must be an ISO 8601 date and time in a text.") % {"field": target})
        return REFUSED
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.invalid(target, _("%(field)s must be an ISO 8601 date and time.") % {"field": target})
        return REFUSED
    return iso(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
