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
- Option names and types are the ones :data:`TRANSFORM_OPTIONS` lists.

One module per kind (text, numbers, dates, documents and phones, known values, lists); the
registry (:data:`TRANSFORMS`, :func:`apply_transform`) names them all.
"""

from .base import TransformError, display_value
from .options import TRANSFORM_OPTIONS
from .registry import TRANSFORMS, apply_transform
from .types import as_value_type
from .values import to_boolean

__all__ = [
    "TRANSFORMS",
    "TRANSFORM_OPTIONS",
    "TransformError",
    "apply_transform",
    "as_value_type",
    "display_value",
    "to_boolean",
]
