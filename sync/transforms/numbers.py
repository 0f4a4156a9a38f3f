"""Number transforms: a decimal with the digits it was given, a whole number.

Text is read by :func:`sync.numbers.parse_number`, as everywhere else in the portal.
"""

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from core import stored_messages as stored

from ..choices import Transform
from ..numbers import POINTS, parse_number
from .base import TransformError, display_value, is_blank, type_name
from .options import MAX_PLACES, option

_MAX_MAGNITUDE = 100  # powers of ten either side of the point


def _not_a_number(value, point: str) -> TransformError:
    if point == "." and parse_number(value, ",") is not None:
        return TransformError(
            stored.gettext(
                '"%(value)s" is not a number; for a decimal comma set "decimal_separator" to ","',
                value=display_value(value),
            )
        )
    return TransformError(stored.gettext('"%(value)s" is not a number', value=display_value(value)))


def read_decimal(value, point: str) -> Decimal:
    """``value`` (a number, or text with ``point`` as its decimal separator) as a finite ``Decimal`` in range."""
    if isinstance(value, bool):
        raise TransformError(stored.gettext("expected a number, got %(kind)s", kind=type_name(value)))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        if abs(value) >= 10**_MAX_MAGNITUDE:
            raise TransformError(stored.gettext("the number is too large"))
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    elif isinstance(value, str):
        number = parse_number(value, point)
        if number is None:
            raise _not_a_number(value, point)
    else:
        raise TransformError(stored.gettext("expected a number, got %(kind)s", kind=type_name(value)))
    if not number.is_finite():
        raise TransformError(stored.gettext("%(value)s is not a number", value=display_value(value)))
    if number.is_zero():  # keep "0.00" as written, drop the sign and absurd exponents
        exponent = number.as_tuple().exponent
        return Decimal((0, (0,), max(exponent, -MAX_PLACES) if exponent < 0 else 0))
    if not -_MAX_MAGNITUDE <= number.adjusted() <= _MAX_MAGNITUDE:
        raise TransformError(stored.gettext("%(value)s is out of range", value=display_value(value)))
    return number


def to_decimal(value, options):
    """A ``Decimal`` with the digits given (``Decimal("1234.56")``); ``places`` rounds half up."""
    places = option(options, Transform.DECIMAL, "places")
    separator = option(options, Transform.DECIMAL, "decimal_separator", ".")
    if separator not in POINTS:
        raise TransformError(stored.gettext('option "decimal_separator" must be "." or ","'))
    if places is not None and not 0 <= places <= MAX_PLACES:
        raise TransformError(stored.gettext('option "places" must be between 0 and %(max)d', max=MAX_PLACES))
    if is_blank(value):
        return None
    number = read_decimal(value, separator)
    if places is not None:
        with localcontext(prec=_MAX_MAGNITUDE * 2 + MAX_PLACES):
            try:
                number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
            except InvalidOperation:
                raise TransformError(stored.gettext("%(value)s is out of range", value=display_value(value))) from None
    if number.is_zero():
        number = abs(number)
    return Decimal(format(number, "f"))  # plain notation: 1E+3 becomes 1000


_GROUPED_THOUSANDS = re.compile(r"\d{1,3}(\.\d{3})+")
_LARGEST_WHOLE = Decimal(10) ** 18


def to_integer(value, options):
    """A whole number from 1001, "1001", " 1.001 " or 1001.0; anything with a fraction is refused.

    Dots grouping digits by three are thousands (1.001 is a thousand and one, the Brazilian way); else
    the last separator is the decimal one, so "1,5" and "2,500" are refused rather than read as 15 or 2500.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    wrong = TransformError(stored.gettext("%(value)s is not a whole number", value=display_value(value)))
    if not isinstance(value, str | float | Decimal):
        raise wrong
    text = str(value).strip()
    number = parse_number(text, "," if _GROUPED_THOUSANDS.fullmatch(text) else None)
    if number is None or abs(number) > _LARGEST_WHOLE or number != number.to_integral_value():
        raise wrong
    return int(number)
