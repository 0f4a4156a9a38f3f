"""The options each transform accepts, and how a transform reads one."""

from collections.abc import Mapping

from core import stored_messages as stored

from ..choices import Transform
from .base import TransformError

# Options each transform accepts: name -> (required?, python types allowed).
TRANSFORM_OPTIONS = {
    Transform.NONE: {},
    Transform.TRIM: {},
    Transform.UPPER: {},
    Transform.LOWER: {},
    Transform.DIGITS: {},
    Transform.CNPJ: {},
    Transform.CPF: {},
    Transform.CNPJ_CPF: {},
    Transform.PHONE: {"default_country_code": (False, (str,))},
    Transform.DATE: {"input_format": (False, (str,)), "output_format": (False, (str,))},
    Transform.DATETIME: {
        "input_format": (False, (str,)),
        "output_format": (False, (str,)),
        "timezone": (False, (str,)),
    },
    Transform.DECIMAL: {"places": (False, (int,)), "decimal_separator": (False, (str,))},
    Transform.INTEGER: {},
    Transform.BOOLEAN: {"true_values": (False, (list,)), "false_values": (False, (list,))},
    Transform.VALUE_MAP: {"map": (True, (dict,)), "default": (False, (str, int, float, bool, type(None)))},
    Transform.CONSTANT: {"value": (True, (str, int, float, bool, type(None)))},
    Transform.TEMPLATE: {"template": (True, (str,))},
    Transform.LIST_MAP: {"fields": (True, (dict,))},
    Transform.LOOKUP: {"table": (True, (str,))},
}

MAX_PLACES = 20  # the ``places`` a decimal may be rounded to


def option(options: Mapping, transform: str, name: str, default=None):
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
