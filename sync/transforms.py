"""Transforms that turn one source value into the shape the target expects.

Every transform is ``fn(value, options) -> value``; ``template`` also takes the whole
source ``record``. A value a transform cannot handle raises ``TransformError`` with a
message for the user ("CNPJ 12.345.678/0001-00 is invalid: …"); no other exception
escapes, whatever the input or the options (the fuzz tests hold us to that).

Conventions:

- ``None`` stays ``None`` (but ``constant`` and ``template`` ignore the input).
- The text transforms (trim, upper, lower) leave numbers and booleans as they are.
- The typed transforms (cnpj, cpf, cnpj_cpf, phone, date, datetime, decimal, boolean)
  turn a blank input (``""`` or spaces only) into ``None``.
- ``decimal`` returns a ``Decimal`` with the digits it was given ("129.90" stays 129.90): a REST
  body carries it as a JSON number with those exact digits, a SOAP body as an ``xsd:decimal``.
- ``lookup`` needs the engine (another table's links): :func:`sync.mapping.map_record` resolves it.
- ``date`` returns ``YYYY-MM-DD``; ``datetime`` returns ISO 8601 in UTC
  (``2023-11-14T22:13:20+00:00``); with ``output_format`` both return ``strftime`` text,
  and a datetime is then written in the ``timezone`` option's local time.
- Option names and types are the ones ``validators.TRANSFORM_OPTIONS`` lists.
"""

import math
import re
import reprlib
import string
import unicodedata
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, DecimalException, InvalidOperation, localcontext

import phonenumbers

from core import stored_messages as stored

from .choices import Transform
from .paths import MISSING, get_path
from .validators import TRANSFORM_OPTIONS


class TransformError(ValueError):
    """A value a transform cannot convert; ``message`` is meant for the user (a stored message)."""

    def __init__(self, message: stored.StoredMessage):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- helpers

_SHOWN_LENGTH = 60


def display_value(value) -> str:
    """A short, printable form of ``value`` for a message."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            text = str(value)
        except ValueError:  # an int past Python's 4,300-digit conversion limit
            return stored.gettext("(a number too long to show)")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = reprlib.repr(value)
        except ValueError:
            return stored.gettext("(a value too long to show)")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def _type_name(value) -> str:
    if isinstance(value, bool):
        return stored.gettext("a yes/no value")
    if isinstance(value, int | float | Decimal):
        return stored.gettext("a number")
    if isinstance(value, Mapping):
        return stored.gettext("an object")
    if isinstance(value, list | tuple | set | frozenset):
        return stored.gettext("a list")
    if isinstance(value, datetime | date):
        return stored.gettext("a date")
    return type(value).__name__


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_text(value) -> str:
    """Text for transforms that read characters: strings, and numbers written out."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TransformError(stored.gettext("expected text, got %(kind)s", kind=_type_name(value)))
    if isinstance(value, float | Decimal):
        if not _finite(value):
            raise TransformError(stored.gettext("%(value)s is not a number", value=display_value(value)))
        if abs(value) >= 10**30 or value != round(value):
            return str(value)  # not a whole number: no use to a transform that reads digits
        value = int(value)
    try:
        return str(value)
    except ValueError:
        raise TransformError(stored.gettext("the number is too long")) from None


def _option(options: Mapping, transform: str, name: str, default=None):
    """Read option ``name``, checking it against ``TRANSFORM_OPTIONS``."""
    required, types = TRANSFORM_OPTIONS[Transform(transform)][name]
    if name not in options:
        if required:
            raise TransformError(
                stored.gettext('transform "%(name)s" needs the option "%(option)s"', name=str(transform), option=name)
            )
        return default
    value = options[name]
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise TransformError(
            stored.gettext(
                'option "%(option)s" of transform "%(name)s" has the wrong type', option=name, name=str(transform)
            )
        )
    return value


# ---------------------------------------------------------------- text


def as_is(value, options):
    return value


def _text_transform(value, transform: str, operation: Callable[[str], str]):
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if not isinstance(value, str):
        raise TransformError(
            stored.gettext(
                'transform "%(name)s" expects text, got %(kind)s', name=str(transform), kind=_type_name(value)
            )
        )
    return operation(value)


def trim(value, options):
    return _text_transform(value, Transform.TRIM, str.strip)


def upper(value, options):
    return _text_transform(value, Transform.UPPER, str.upper)


def lower(value, options):
    return _text_transform(value, Transform.LOWER, str.lower)


_NOT_DIGITS = re.compile(r"[^0-9]")


def digits(value, options):
    if value is None:
        return None
    return _NOT_DIGITS.sub("", _as_text(value))


# ---------------------------------------------------------------- CNPJ and CPF

_DOCUMENT_SEPARATORS = re.compile(r"[\s./\-]")
# CNPJs are alphanumeric from July 2026 (IN RFB 2.229/2024): 12 letters or digits, 2 check digits.
# Hand-written on purpose: the CNPJ/CPF libraries check only the digits-only CNPJ of before.
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_CPF = re.compile(r"[0-9]{11}")


def _check_digit(characters: str) -> int:
    """Modulo 11 with weights 2, 3, … from the right (wrapping after 9 for CNPJs)."""
    wrap = 8 if len(characters) >= 12 else 100
    total = sum((ord(char) - 48) * ((position % wrap) + 2) for position, char in enumerate(reversed(characters)))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def _check_digits_problem(document: str) -> str | None:
    """Why the document's check digits are wrong, or None."""
    if len(set(document)) == 1:
        return stored.gettext("all its digits are the same")
    base = document[:-2]
    first = _check_digit(base)
    second = _check_digit(base + str(first))
    return None if document[-2:] == f"{first}{second}" else stored.gettext("the check digits do not match")


def _document_characters(value, width: int) -> str:
    """The document without separators; numbers get back the leading zeros they lost."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _as_text(value).zfill(width)
    return _DOCUMENT_SEPARATORS.sub("", unicodedata.normalize("NFKC", _as_text(value))).upper()


def _invalid(kind: str, value, reason: str) -> TransformError:
    return TransformError(
        stored.gettext(
            "%(kind)s %(value)s is invalid: %(reason)s", kind=kind, value=display_value(value), reason=reason
        )
    )


def _format_cnpj(value, document: str) -> str:
    if not _CNPJ.fullmatch(document):
        raise _invalid(
            "CNPJ", value, stored.gettext("it must have 14 digits (or 12 letters or digits and 2 check digits)")
        )
    problem = _check_digits_problem(document)
    if problem:
        raise _invalid("CNPJ", value, problem)
    return f"{document[:2]}.{document[2:5]}.{document[5:8]}/{document[8:12]}-{document[12:]}"


def _format_cpf(value, document: str) -> str:
    if not _CPF.fullmatch(document):
        raise _invalid("CPF", value, stored.gettext("it must have 11 digits"))
    problem = _check_digits_problem(document)
    if problem:
        raise _invalid("CPF", value, problem)
    return f"{document[:3]}.{document[3:6]}.{document[6:9]}-{document[9:]}"


def cnpj(value, options):
    if _is_blank(value):
        return None
    return _format_cnpj(value, _document_characters(value, 14))


def cpf(value, options):
    if _is_blank(value):
        return None
    return _format_cpf(value, _document_characters(value, 11))


def cnpj_cpf(value, options):
    """A CPF when the document has 11 characters, a CNPJ when it has 14."""
    if _is_blank(value):
        return None
    document = _document_characters(value, 0)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # A number lost its leading zeros: a valid CPF if it can be one, else a CNPJ.
        if len(document) <= 11:
            try:
                return _format_cpf(value, document.zfill(11))
            except TransformError:
                pass
        return _format_cnpj(value, document.zfill(14))
    if len(document) == 11:
        return _format_cpf(value, document)
    if len(document) == 14:
        return _format_cnpj(value, document)
    raise _invalid(stored.gettext("CNPJ/CPF"), value, stored.gettext("it must have 11 digits (CPF) or 14 (CNPJ)"))


# ---------------------------------------------------------------- phone

_BRAZIL = "55"
# Numbers without an area code that Brazilians dial as they are: 0800, 0300, 0500, 0900 (kept in national form).
_NATIONAL_FORM = (phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE,
                  phonenumbers.PhoneNumberType.SHARED_COST)  # fmt: skip


def phone(value, options):
    """Brazilian numbers become ``+55 11 98765-4321`` (mobile) or ``+55 11 3456-7890``; 0800 numbers stay
    ``0800 123 4567``. Numbers of other countries become E.164 (``+12125550123``).

    Google's libphonenumber (``phonenumbers``, updated as area codes and plans change) reads and checks
    the number: punctuation, a trunk ``0``, a carrier code (``0 15 11 …``), the country code (``+55``,
    ``0055``, ``55…``); ``default_country_code`` says the country of numbers written without one.
    """
    if _is_blank(value):
        return None
    country = _option(options, Transform.PHONE, "default_country_code", _BRAZIL).strip().lstrip("+")
    if not re.fullmatch(r"[1-9][0-9]{0,2}", country):
        raise TransformError(stored.gettext('option "default_country_code" must be 1 to 3 digits, e.g. 55'))
    text = _as_text(value).strip()
    if _NOT_DIGITS.sub("", text).startswith("00") and not text.startswith("+"):
        text = "+" + text.lstrip()[2:]  # 0055 …: the international prefix most of the world dials
    region = phonenumbers.region_code_for_country_code(int(country))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _invalid(stored.gettext("phone"), value, _why_not_a_phone(number, country))
    if number.country_code != int(_BRAZIL):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(number) in _NATIONAL_FORM:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _why_not_a_phone(number, country: str):
    """In words, why libphonenumber refused a number: its length, or (Brazil) the part that is wrong."""
    brazilian = number.country_code == int(_BRAZIL) if number is not None else country == _BRAZIL
    national = str(number.national_number) if number is not None else ""
    if not brazilian:
        return stored.gettext("an international number has 8 to 15 digits")
    if len(national) not in (10, 11):
        return stored.gettext("a Brazilian number has an area code and 8 or 9 digits")
    area, subscriber = national[:2], national[2:]
    if len(subscriber) == 9 and not subscriber.startswith("9"):
        return stored.gettext("a 9-digit mobile number starts with 9")
    if len(subscriber) == 8 and subscriber[0] in "01":
        return stored.gettext("a landline number starts with 2 to 9")
    return stored.gettext("%(area)s is not an area code", area=area)


# ---------------------------------------------------------------- date and datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Microsoft JSON dates: /Date(1700000000000)/ or /Date(1700000000000-0300)/, slashes maybe escaped.
_MS_DATE = re.compile(r"\\?/Date\((-?\d{1,18})(?:([+-])(\d{2})(\d{2}))?\)\\?/")
_ZERO_DATE = re.compile(
    r"0{4}-?0{2}-?0{2}(?:[ T]0{2}:0{2}(?::0{2}(?:\.0+)?)?)?|0{2}/0{2}/0{4}(?: 0{2}:0{2}(?::0{2})?)?"
)
_EPOCH_FORMATS = {"epoch": "seconds", "epoch_ms": "milliseconds"}
_UNIT_WORDS = {"seconds": stored.gettext_noop("seconds"), "milliseconds": stored.gettext_noop("milliseconds")}
_DATE_ERRORS = (ValueError, OverflowError, TypeError, re.error)


def _time_zone(options) -> zoneinfo.ZoneInfo:
    name = _option(options, Transform.DATETIME, "timezone", "UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise TransformError(stored.gettext('unknown time zone "%(value)s"', value=display_value(name))) from None


def _from_epoch(value, unit: str, original) -> datetime:
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except DecimalException:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TransformError(
            stored.gettext(
                "%(value)s is not a number of %(unit)s since 1970",
                value=display_value(original),
                unit=_UNIT_WORDS[unit],
            )
        )
    try:
        return _EPOCH + timedelta(**{unit: float(value)})
    except _DATE_ERRORS:
        raise TransformError(
            stored.gettext("%(value)s is out of the date range", value=display_value(original))
        ) from None


def _parse_moment(value, options, transform: str) -> datetime | None:
    """A datetime (aware when the input says its offset), or None for a blank/zero date."""
    input_format = _option(options, transform, "input_format")
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if input_format in _EPOCH_FORMATS:
        return _from_epoch(value, _EPOCH_FORMATS[input_format], value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and input_format:
        value = _as_text(value)
    if not isinstance(value, str):
        raise TransformError(stored.gettext("expected a date, got %(kind)s", kind=_type_name(value)))
    text = value.strip()
    if _ZERO_DATE.fullmatch(text):
        return None
    try:
        if input_format:
            return datetime.strptime(text, input_format)
        ms_date = _MS_DATE.fullmatch(text)
        if ms_date:
            millis, sign, hours, minutes = ms_date.groups()
            moment = _EPOCH + timedelta(milliseconds=int(millis))
            if sign:
                offset = timedelta(hours=int(hours), minutes=int(minutes))
                moment = moment.astimezone(timezone(-offset if sign == "-" else offset))
            return moment
        return datetime.fromisoformat(text)
    except _DATE_ERRORS:
        pass
    if input_format:
        raise TransformError(
            stored.gettext(
                '"%(value)s" does not match the format "%(format)s"',
                value=display_value(value),
                format=display_value(input_format),
            )
        )
    raise TransformError(
        stored.gettext(
            '"%(value)s" is not a date; use ISO 8601 (2023-11-14T10:30:00-03:00) or set "input_format"',
            value=display_value(value),
        )
    )


def _render(moment: date, output_format: str) -> str:
    try:
        return moment.strftime(output_format)
    except _DATE_ERRORS:
        raise TransformError(
            stored.gettext('cannot write the date with the format "%(format)s"', format=display_value(output_format))
        ) from None


def to_date(value, options):
    """A calendar date: ``2023-11-14`` (an input with an offset keeps its own local date)."""
    output_format = _option(options, Transform.DATE, "output_format")
    if _is_blank(value):
        return None
    moment = _parse_moment(value, options, Transform.DATE)
    if moment is None:
        return None
    day = moment.date()
    return _render(day, output_format) if output_format else day.isoformat()


def to_datetime(value, options):
    """An instant: naive inputs are read in ``timezone`` (default UTC); output in UTC ISO 8601.

    Local times that a DST change skips or repeats follow PEP 495 with ``fold=0``: an
    ambiguous time is its first occurrence, a skipped time uses the offset before the change.
    With ``output_format`` the instant is written in the ``timezone``'s local time.
    """
    output_format = _option(options, Transform.DATETIME, "output_format")
    zone = _time_zone(options)
    if _is_blank(value):
        return None
    moment = _parse_moment(value, options, Transform.DATETIME)
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(zone if output_format else UTC)
    except _DATE_ERRORS:
        raise TransformError(stored.gettext("%(value)s is out of the date range", value=display_value(value))) from None
    return _render(moment, output_format) if output_format else moment.isoformat()


# ---------------------------------------------------------------- decimal and boolean

_CURRENCY = re.compile(r"^(?:R\$|US\$|\$)")
_MAX_PLACES = 20
_MAX_MAGNITUDE = 100  # powers of ten either side of the point


def _number_pattern(separator: str) -> re.Pattern:
    point, thousands = re.escape(separator), re.escape("." if separator == "," else ",")
    return re.compile(rf"[+-]?(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)?(?:{point}\d*)?(?:[eE][+-]?\d{{1,4}})?")


_NUMBER = {separator: _number_pattern(separator) for separator in ".,"}


def _to_decimal(value, separator: str) -> Decimal:
    if isinstance(value, bool):
        raise TransformError(stored.gettext("expected a number, got %(kind)s", kind=_type_name(value)))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        if abs(value) >= 10**_MAX_MAGNITUDE:
            raise TransformError(stored.gettext("the number is too large"))
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    elif isinstance(value, str):
        text = _CURRENCY.sub("", re.sub(r"\s", "", value))
        if not _NUMBER[separator].fullmatch(text) or not re.search(r"\d", text.split("e")[0].split("E")[0]):
            if separator == "." and _NUMBER[","].fullmatch(text):
                message = stored.gettext(
                    '"%(value)s" is not a number; for a decimal comma set "decimal_separator" to ","',
                    value=display_value(value),
                )
            else:
                message = stored.gettext('"%(value)s" is not a number', value=display_value(value))
            raise TransformError(message)
        thousands = "." if separator == "," else ","
        number = Decimal(text.replace(thousands, "").replace(separator, "."))
    else:
        raise TransformError(stored.gettext("expected a number, got %(kind)s", kind=_type_name(value)))
    if not number.is_finite():
        raise TransformError(stored.gettext("%(value)s is not a number", value=display_value(value)))
    if number.is_zero():  # keep "0.00" as written, drop the sign and absurd exponents
        exponent = number.as_tuple().exponent
        return Decimal((0, (0,), max(exponent, -_MAX_PLACES) if exponent < 0 else 0))
    if not -_MAX_MAGNITUDE <= number.adjusted() <= _MAX_MAGNITUDE:
        raise TransformError(stored.gettext("%(value)s is out of range", value=display_value(value)))
    return number


def to_decimal(value, options):
    """A ``Decimal`` with the digits given (``Decimal("1234.56")``); ``places`` rounds half up."""
    places = _option(options, Transform.DECIMAL, "places")
    separator = _option(options, Transform.DECIMAL, "decimal_separator", ".")
    if separator not in _NUMBER:
        raise TransformError(stored.gettext('option "decimal_separator" must be "." or ","'))
    if places is not None and not 0 <= places <= _MAX_PLACES:
        raise TransformError(stored.gettext('option "places" must be between 0 and %(max)d', max=_MAX_PLACES))
    if _is_blank(value):
        return None
    number = _to_decimal(value, separator)
    if places is not None:
        with localcontext(prec=_MAX_MAGNITUDE * 2 + _MAX_PLACES):
            try:
                number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
            except InvalidOperation:
                raise TransformError(stored.gettext("%(value)s is out of range", value=display_value(value))) from None
    if number.is_zero():
        number = abs(number)
    return Decimal(format(number, "f"))  # plain notation: 1E+3 becomes 1000


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
            return _as_text(value)
        except TransformError:
            return None
    return None


def to_boolean(value, options):
    """true/false, 1/0, yes/no, sim/não, s/n, X (any case); ``true_values``/``false_values`` add more."""
    extra_true = _option(options, Transform.BOOLEAN, "true_values", [])
    extra_false = _option(options, Transform.BOOLEAN, "false_values", [])
    if _is_blank(value):
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


# ---------------------------------------------------------------- value map, constant, template


def _map_keys(value) -> list[str]:
    if isinstance(value, str):
        return [value, value.strip()]
    if isinstance(value, bool):
        return ["true" if value else "false", str(value)]
    if isinstance(value, int | float | Decimal):
        try:
            return [_as_text(value)]
        except TransformError:
            return []
    return []


def value_map(value, options):
    """Look ``value`` up in the ``map`` option (keys are text); else ``default``, else an error."""
    mapping = _option(options, Transform.VALUE_MAP, "map")
    if value is None:
        return None
    for key in _map_keys(value):
        if key in mapping:
            return mapping[key]
    if "default" in options:
        return _option(options, Transform.VALUE_MAP, "default")
    known = ", ".join(display_value(key) for key in list(mapping)[:10]) + (", …" if len(mapping) > 10 else "")
    raise TransformError(
        stored.gettext(
            '"%(value)s" is not in the value map (known: %(known)s)', value=display_value(value), known=known
        )
    )


def constant(value, options):
    return _option(options, Transform.CONSTANT, "value")


_FORMAT_WIDTH = re.compile(r"\d+")
_MAX_FORMAT_WIDTH = 1000


def template(value, options, record=None):
    """Fill ``{FirstName} {LastName}`` or ``{Address.City}`` from the whole source record.

    Without a record, the value itself is the record. A missing field is an error; a
    ``None`` field is written as nothing. Format specs (``{Total:.2f}``) work as in ``str.format``.
    """
    text = _option(options, Transform.TEMPLATE, "template")
    source = record if record is not None else value
    formatter = string.Formatter()
    parts = []
    try:
        for literal, field, spec, conversion in formatter.parse(text):
            parts.append(literal)
            if field is None:
                continue
            if not field:
                raise TransformError(stored.gettext("template placeholders must name a source field, e.g. {FirstName}"))
            found = get_path(source, field)
            if found is MISSING:
                raise TransformError(
                    stored.gettext("the template needs %(field)s, which the record lacks", field=display_value(field))
                )
            if found is None:
                continue
            if any(int(width) > _MAX_FORMAT_WIDTH for width in _FORMAT_WIDTH.findall(spec or "")):
                raise TransformError(
                    stored.gettext("the template's format for %(field)s is too wide", field=display_value(field))
                )
            parts.append(format(formatter.convert_field(found, conversion), spec or ""))
    except (ValueError, TypeError, OverflowError, DecimalException) as exc:
        if isinstance(exc, TransformError):
            raise
        raise TransformError(
            stored.gettext("cannot fill the template: %(error)s", error=display_value(str(exc)))
        ) from None
    return "".join(parts)


_GROUPED_THOUSANDS = re.compile(r"\d{1,3}(\.\d{3})+")


def to_integer(value, options):
    """A whole number from 1001, "1001", " 1.001 " or 1001.0; anything with a fraction is refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    wrong = TransformError(stored.gettext("%(value)s is not a whole number", value=display_value(value)))
    if not isinstance(value, str | float | Decimal):
        raise wrong
    text = str(value).strip()
    if _GROUPED_THOUSANDS.fullmatch(text):  # 1.001 written the Brazilian way
        text = text.replace(".", "")
    try:
        number = Decimal(text)
        whole = number.is_finite() and abs(number) <= Decimal(10) ** 18 and number == number.to_integral_value()
    except (ArithmeticError, ValueError):
        raise wrong from None
    if not whole:
        raise wrong
    return int(number)


def list_map(value, options):
    """Each item of a list re-shaped: ``{"product_code": "ProductCode", "quantity": "Quantity"}``.

    Order lines, quote items, phones: every item keeps the fields named (read by
    path from the item); an item lacking one is an error naming the item.
    """
    fields = _option(options, Transform.LIST_MAP, "fields")
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise TransformError(stored.gettext("expected a list of items, got %(value)s", value=display_value(value)))
    items = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            raise TransformError(stored.gettext("item %(n)d is not an object", n=position))
        shaped = {}
        for target, path in fields.items():
            found = get_path(item, path)
            if found is MISSING:
                raise TransformError(
                    stored.gettext("item %(n)d has no %(field)s", n=position, field=display_value(path))
                )
            shaped[target] = found
        items.append(shaped)
    return items


def lookup(value, options):
    """Resolved by :func:`sync.mapping.map_record` through the engine's record links; alone it cannot work."""
    _option(options, Transform.LOOKUP, "table")
    raise TransformError(stored.gettext("a lookup needs the links of another table: it runs only inside a sync"))


# ---------------------------------------------------------------- output types


def as_value_type(value, value_type: str):
    """``value`` as the mapping's output type (``sync.choices.ValueType``); ``None`` stays ``None``.

    Text, integer, decimal and boolean convert what can be converted exactly (an integer
    refuses 1.5; a decimal keeps its digits). Date and date-time write date objects as
    ISO 8601 and keep text as the ``date``/``datetime`` transform wrote it (its
    ``output_format`` and ``timezone`` are how an API's own format is met).
    """
    if value_type == "null" or value is None:
        return None
    if not value_type:
        return value
    if value_type == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Decimal):
            return format(value, "f")
        if isinstance(value, datetime | date):
            return value.isoformat()
        return _as_text(value)
    if value_type == "integer":
        if isinstance(value, bool):
            raise TransformError(stored.gettext("%(value)s is not a whole number", value=display_value(value)))
        return to_integer(value, {})
    if value_type == "decimal":
        return _to_decimal(value, ".")
    if value_type == "boolean":
        return to_boolean(value, {})
    if value_type in ("date", "datetime"):
        if isinstance(value, datetime):
            moment = value.astimezone(UTC) if value.utcoffset() is not None else value
            return moment.date().isoformat() if value_type == "date" else moment.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            return value
        raise TransformError(stored.gettext("expected a date, got %(kind)s", kind=_type_name(value)))
    raise TransformError(stored.gettext('unknown type "%(name)s"', name=display_value(value_type)))


# ---------------------------------------------------------------- registry

TRANSFORMS: dict[str, Callable] = {
    Transform.NONE: as_is,
    Transform.TRIM: trim,
    Transform.UPPER: upper,
    Transform.LOWER: lower,
    Transform.DIGITS: digits,
    Transform.CNPJ: cnpj,
    Transform.CPF: cpf,
    Transform.CNPJ_CPF: cnpj_cpf,
    Transform.PHONE: phone,
    Transform.DATE: to_date,
    Transform.DATETIME: to_datetime,
    Transform.DECIMAL: to_decimal,
    Transform.INTEGER: to_integer,
    Transform.BOOLEAN: to_boolean,
    Transform.VALUE_MAP: value_map,
    Transform.CONSTANT: constant,
    Transform.TEMPLATE: template,
    Transform.LIST_MAP: list_map,
    Transform.LOOKUP: lookup,
}


def apply_transform(name: str, value, options: Mapping | None = None, record=None):
    """Run transform ``name`` on ``value``; returns the new value or raises ``TransformError``."""
    function = TRANSFORMS.get(name) if isinstance(name, str) else None
    if function is None:
        raise TransformError(stored.gettext('unknown transform "%(name)s"', name=display_value(name)))
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TransformError(stored.gettext("transform options must be a mapping of option names to values"))
    if function is template:
        return template(value, options, record)
    return function(value, options)
