"""The options each transform accepts, one model per transform, and what is wrong with a mapping's options.

The same models check the options typed in the admin and written in a YAML file, and publish them
in the JSON Schema (``transform_options`` follows the mapping's ``transform``).
"""

import re
import string
import zoneinfo
from typing import Annotated, Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import AfterValidator, Field, ValidationError

from ..choices import Transform
from ..numbers import POINTS
from .errors import unique
from .values import FileObject, file_value, problem

MAX_PLACES = 20  # the ``places`` a decimal may be rounded to

Scalar = str | int | float | bool | None


class Inside:
    """The message for any error inside an option's value (its entries), naming the entry as ``keys``."""

    def __init__(self, message):
        self.message = message


def _country_code(value: str) -> str:
    if not re.fullmatch(r"\+?\d{1,3}", value):
        raise problem(_('option "default_country_code" must be 1 to 3 digits, e.g. 55'))
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise problem(_('unknown time zone "%(value)s"') % {"value": value}) from None
    return value


def _places(value: int) -> int:
    if not 0 <= value <= MAX_PLACES:
        raise problem(_('option "places" must be between 0 and %(max)d') % {"max": MAX_PLACES})
    return value


def _separator(value: str) -> str:
    if value not in POINTS:
        raise problem(_('option "decimal_separator" must be "." or ","'))
    return value


def _some_entries(value: dict) -> dict:
    if not value:
        raise problem(_('a value map needs at least one entry, e.g. {"CA": "California"}'))
    return value


LIST_MAP_FIELDS = gettext_lazy(
    'a list map needs "fields": item field → source path, e.g. {"product_code": "ProductCode"}'
)


def _item_fields(value: dict) -> dict:
    if not value or not all(key and path for key, path in value.items()):
        raise problem(LIST_MAP_FIELDS)
    return value


def _template(value: str) -> str:
    if not value.strip():
        raise problem(_("a template cannot be empty"))
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as exc:
        raise problem(_("template is not valid: %(error)s") % {"error": exc}) from None
    if any(not name for name in names):
        raise problem(_("template placeholders must name a source field, e.g. {FirstName}"))
    return value


class NoOptions(FileObject):
    """This transform takes no options."""


class PhoneOptions(FileObject):
    default_country_code: Annotated[str, AfterValidator(_country_code), Field(pattern=r"^\+?\d{1,3}$")] = None


class DateOptions(FileObject):
    input_format: str = None
    output_format: str = None


class DateTimeOptions(DateOptions):
    timezone: Annotated[str, AfterValidator(_time_zone)] = None


class DecimalOptions(FileObject):
    places: Annotated[int, AfterValidator(_places), Field(json_schema_extra={"minimum": 0, "maximum": MAX_PLACES})] = (
        None
    )
    decimal_separator: Annotated[str, AfterValidator(_separator), Field(json_schema_extra={"enum": list(POINTS)})] = (
        None
    )


class BooleanOptions(FileObject):
    true_values: list[Any] = None
    false_values: list[Any] = None


VALUE_MAP_ENTRIES = gettext_lazy("value map entries must map text to a text or number value; check %(keys)s")


class ValueMapOptions(FileObject):
    map: Annotated[dict[str, str | int | float | bool], AfterValidator(_some_entries), Inside(VALUE_MAP_ENTRIES)]
    default: Scalar = None


class ConstantOptions(FileObject):
    value: Scalar


class TemplateOptions(FileObject):
    template: Annotated[str, AfterValidator(_template)]


class ListMapOptions(FileObject):
    fields: Annotated[dict[str, str], AfterValidator(_item_fields), Inside(LIST_MAP_FIELDS)]


class LookupOptions(FileObject):
    table: str


OPTION_MODELS: dict[Transform, type[FileObject]] = {
    Transform.NONE: NoOptions,
    Transform.TRIM: NoOptions,
    Transform.UPPER: NoOptions,
    Transform.LOWER: NoOptions,
    Transform.DIGITS: NoOptions,
    Transform.CNPJ: NoOptions,
    Transform.CPF: NoOptions,
    Transform.CNPJ_CPF: NoOptions,
    Transform.PHONE: PhoneOptions,
    Transform.DATE: DateOptions,
    Transform.DATETIME: DateTimeOptions,
    Transform.DECIMAL: DecimalOptions,
    Transform.INTEGER: NoOptions,
    Transform.BOOLEAN: BooleanOptions,
    Transform.VALUE_MAP: ValueMapOptions,
    Transform.CONSTANT: ConstantOptions,
    Transform.TEMPLATE: TemplateOptions,
    Transform.LIST_MAP: ListMapOptions,
    Transform.LOOKUP: LookupOptions,
}


def option_message(model: type[FileObject], transform: str, loc: tuple, error: dict) -> str:
    """The message of one pydantic error found at ``loc`` inside a mapping's options."""
    name = file_value(transform)
    if error["type"] == "problem" and len(loc) <= 1:
        return error["ctx"]["message"]
    if not loc:
        return _("options must be a mapping of option names to values")
    option = str(loc[0])
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(model.model_fields)) or "none"
        return _('unknown option "%(option)s" for transform "%(name)s" (known: %(known)s)') % {
            "option": option,
            "name": name,
            "known": known,
        }
    if error["type"] == "missing":
        return _('transform "%(name)s" needs the option "%(option)s"') % {"name": name, "option": option}
    inside = [item for item in model.model_fields[option].metadata if isinstance(item, Inside)]
    if len(loc) > 1 and inside:
        return str(inside[0].message) % {"keys": loc[1]}
    return _('option "%(option)s" of transform "%(name)s" has the wrong type') % {"option": option, "name": name}


def option_problems(transform: str, options) -> list[str]:
    """What is wrong with the options of a known ``transform`` (empty when they are fine)."""
    model = OPTION_MODELS[Transform(transform)]
    try:
        model.model_validate({} if options is None else options)
    except ValidationError as exc:
        return unique(option_message(model, transform, error["loc"], error) for error in exc.errors(include_url=False))
    return []
