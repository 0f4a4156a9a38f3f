"""Every transform by name, and the one entry point that runs them."""

from collections.abc import Callable, Mapping

from core import stored_messages as stored

from ..choices import Transform
from .base import TransformError, display_value
from .dates import to_date, to_datetime
from .documents import cnpj, cnpj_cpf, cpf, phone
from .lists import list_map, lookup
from .numbers import to_decimal, to_integer
from .text import as_is, digits, lower, template, trim, upper
from .values import constant, to_boolean, value_map

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
