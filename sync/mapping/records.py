"""Mapping one source record: each field's value, sub-lists item by item, lookups, into the target body."""

from collections.abc import Iterable, Mapping

from core import stored_messages as stored

from .. import paths
from ..choices import Transform
from ..paths import MISSING, get_path
from ..transforms import TransformError, apply_transform, as_value_type, display_value
from .fields import FieldSpec, LookupFailed, MappingResult, Resolver, Waiting
from .values import is_empty, shown


def _no_lookups(table: str, value) -> str | None:
    raise LookupFailed(stored.gettext("a lookup needs the links of another table: it runs only inside a sync"))


def _mapped_value(record, spec: FieldSpec, resolve: Resolver, result: MappingResult):
    """The value of one (non-list) mapping for ``record``, or MISSING when the target is left out."""
    name = spec.source_path or spec.target_field
    raw = get_path(record, spec.source_path) if spec.source_path else MISSING
    if spec.reads_source and is_empty(raw):
        if spec.default is not MISSING:
            return as_value_type(spec.default, spec.value_type)
        if spec.required:
            if raw is MISSING:
                raise TransformError(stored.gettext("%(field)s is required but missing from the record", field=name))
            raise TransformError(stored.gettext("%(field)s is required but empty", field=name))
        if raw is MISSING or spec.omit_empty:
            return MISSING
    if spec.transform == Transform.LOOKUP:
        value = None if is_empty(raw) else _looked_up(raw, spec, resolve, result)
    else:
        value = apply_transform(spec.transform, None if raw is MISSING else raw, spec.options, record)
    if is_empty(value) and spec.default is not MISSING:
        value = spec.default
    if spec.required and is_empty(value) and value is not MISSING:
        raise TransformError(stored.gettext("%(field)s is required but empty", field=name))
    if value is MISSING or (spec.omit_empty and is_empty(value)):
        return MISSING
    return as_value_type(value, spec.value_type)


def _looked_up(raw, spec: FieldSpec, resolve: Resolver, result: MappingResult):
    table = spec.options.get("table") if isinstance(spec.options, Mapping) else None
    if not isinstance(table, str) or not table:
        raise TransformError(stored.gettext('transform "lookup" needs the option "table"'))
    if isinstance(raw, dict | list):
        raise TransformError(stored.gettext("a lookup needs a key, got %(value)s", value=shown(raw)))
    try:
        found = resolve(table, raw)
    except LookupFailed as exc:
        raise TransformError(exc.message) from None
    if found is None:
        result.waiting.append(Waiting(table, display_value(raw)))
        return MISSING
    return found


def _list_items(record, specs: list[FieldSpec], list_path: str, resolve: Resolver, result: MappingResult):
    """A sub-list (order lines): each item of the source list mapped by the same rules; MISSING to leave it out."""
    sources = {paths.split_each(spec.source_path)[0] for spec in specs if paths.split_each(spec.source_path or "")}
    if len(sources) != 1:
        raise TransformError(
            stored.gettext(
                "the mappings of %(list)s[] must read one source list, e.g. Products[].ProductId", list=list_path
            )
        )
    source_list = sources.pop()
    items = get_path(record, source_list)
    if items is MISSING or items is None:
        if any(spec.required for spec in specs):
            raise TransformError(stored.gettext("%(field)s is required but missing from the record", field=source_list))
        return MISSING if items is MISSING else None
    if not isinstance(items, list | tuple):
        raise TransformError(stored.gettext("expected a list of items, got %(value)s", value=display_value(items)))
    inner = [spec.inside_items() for spec in specs]
    shaped = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise TransformError(stored.gettext("item %(n)d is not an object", n=position))
        mapped = map_record(item, inner, resolve)
        for target, message in mapped.errors.items():
            result.errors[f"{list_path}[{position}].{target}"] = message
        result.waiting.extend(mapped.waiting)
        shaped.append(mapped.values)
    return shaped


def map_record(record, specs: Iterable[FieldSpec], resolve: Resolver | None = None) -> MappingResult:
    """Apply every mapping to one source record.

    A source path absent from the record leaves its target out (so an update does not
    blank a field the source did not send) unless the mapping has a default; ``None`` is
    written as ``None``. A required field that is missing or empty, before or after its
    transform, is an error naming the source path. Mappings whose target goes through
    ``[]`` (``lines[].sku`` from ``Products[].Code``) map each item of a sub-list with the
    same rules. A lookup whose record is not synced yet puts the record on ``waiting``.
    """
    resolve = resolve or _no_lookups
    result = MappingResult()
    specs = list(specs)
    groups: dict[str, list[FieldSpec]] = {}
    for spec in specs:
        split = paths.split_each(spec.target_field)
        if split is not None:
            groups.setdefault(split[0], []).append(spec)
    done_groups: set[str] = set()
    for spec in specs:
        split = paths.split_each(spec.target_field)
        target = split[0] if split else spec.target_field
        if split:
            if target in done_groups:
                continue
            done_groups.add(target)
            members = groups[target]
            on_create, on_update = any(s.on_create for s in members), any(s.on_update for s in members)
        else:
            on_create, on_update = spec.on_create, spec.on_update
        try:
            if split:
                value = _list_items(record, groups[target], target, resolve, result)
            else:
                value = _mapped_value(record, spec, resolve, result)
        except TransformError as exc:
            result.errors[target] = exc.message
            continue
        if value is MISSING:
            continue
        try:
            paths.put_path(result.values, target, value, result.built)
        except (paths.Overlap, paths.PathError):
            result.errors[target] = stored.gettext(
                "the target field %(field)s overlaps another mapping's target", field=target
            )
            continue
        result.fields[target] = value
        if on_create:
            result.create_fields.append(target)
        if on_update:
            result.update_fields.append(target)
    return result
