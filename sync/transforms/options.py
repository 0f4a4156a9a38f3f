"""The options each transform accepts, and how a transform reads one.

The options are described once, as models in :mod:`sync.config_schema.transform_options`;
:data:`TRANSFORM_OPTIONS` lists them as ``name -> (required?, python types allowed)`` for reading.
"""

import types
import typing
from collections.abc import Mapping

from core import stored_messages as stored

from ..choices import Transform
from ..config_schema.transform_options import MAX_PLACES, OPTION_MODELS
from .base import TransformError

__all__ = ["MAX_PLACES", "TRANSFORM_OPTIONS", "option"]


def _python_types(annotation) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(kind for arg in typing.get_args(annotation) for kind in _python_types(arg))
    return (origin or annotation,)


TRANSFORM_OPTIONS = {
    transform: {name: (info.is_required(), _python_types(info.annotation)) for name, info in model.model_fields.items()}
    for transform, model in OPTION_MODELS.items()
}


def option(options: Mapping, transform: str, name: str, default=None):
    """Read option ``name``, checking it against ``TRANSFORM_OPTIONS``."""
    required, kinds = TRANSFORM_OPTIONS[Transform(transform)][name]
    if name not in options:
        if required:
            raise TransformError(
                stored.gettext('transform "%(name)s" needs the option "%(option)s"', name=str(transform), option=name)
            )
        return default
    value = options[name]
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        raise TransformError(
            stored.gettext(
                'option "%(option)s" of transform "%(name)s" has the wrong type', option=name, name=str(transform)
            )
        )
    return value
