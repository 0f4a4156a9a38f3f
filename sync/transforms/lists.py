"""Transforms of lists and references: items re-shaped, and the lookup the mapping resolves."""

from collections.abc import Mapping

from core import stored_messages as stored

from ..choices import Transform
from ..paths import MISSING, get_path
from .base import TransformError, display_value
from .options import option


def list_map(value, options):
    """Each item of a list re-shaped: ``{"product_code": "ProductCode", "quantity": "Quantity"}``.

    Order lines, quote items, phones: every item keeps the fields named (read by
    path from the item); an item lacking one is an error naming the item.
    """
    fields = option(options, Transform.LIST_MAP, "fields")
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
    option(options, Transform.LOOKUP, "table")
    raise TransformError(stored.gettext("a lookup needs the links of another table: it runs only inside a sync"))
