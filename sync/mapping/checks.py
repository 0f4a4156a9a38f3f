"""Checks of how a table maps records, as people write it: transforms and their options, filter rules, paths.

Each function returns a list of messages (empty when the value is fine), so the same rules serve the
admin forms (through the models' ``clean()``) and the YAML import (which prefixes each message with
its path inside the file). Transform options and filter rules are checked by the typed description
in :mod:`sync.config_schema`.
"""

from django.utils.translation import gettext as _

from .. import paths
from ..choices import Transform
from ..config_schema.rules import filter_rule_problems
from ..config_schema.transform_options import option_problems


def check_transform(transform: str, options) -> list[str]:
    """Check a mapping's transform name and its options (against the transform's options model)."""
    if transform not in Transform.values:
        return [_('unknown transform "%(name)s"') % {"name": transform}]
    return option_problems(transform, options)


def check_filter_rules(rules) -> list[str]:
    """Rules are a list of ``{"name", "field", "op", "value"}`` combined with AND."""
    if rules in (None, ""):
        return []
    return filter_rule_problems(rules)


def missing_record_key(record_key: str, mapped_source_paths) -> list[str]:
    if record_key and record_key not in set(mapped_source_paths):
        return [
            _('the record key "%(key)s" must be mapped: add a field mapping whose source is "%(key)s"')
            % {"key": record_key}
        ]
    return []


def check_mapping_paths(source_path: str, target_field: str) -> dict[str, list[str]]:
    """Problems of a mapping's paths by field name: syntax, a keyed element written whole, ``[]`` on one side only."""
    errors: dict[str, list[str]] = {}
    for name, path in (("source_path", source_path), ("target_field", target_field)):
        if not path:
            continue
        try:
            steps = paths.parse(path)
        except paths.PathError as exc:
            errors[name] = [_("%(path)s is not a valid path: %(reason)s") % {"path": path, "reason": exc}]
            continue
        if name == "target_field" and isinstance(steps[-1], paths.Match | paths.Each):
            errors[name] = [
                _("Write a keyed list element through one of its fields, e.g. %(example)s.")
                % {"example": "OtherProperties[FieldKey=ERP_CODE].StringValue"}
            ]
    if errors:
        return errors
    target_each, source_each = paths.has_each(target_field or ""), paths.has_each(source_path or "")
    if source_each and not target_each:
        errors["target_field"] = [
            _("A source path with [] maps each item of a list: the target needs [] too, e.g. lines[].sku.")
        ]
    elif target_each and source_path and not source_each:
        errors["source_path"] = [
            _("A target with [] is filled item by item: read each item with [], e.g. Products[].ProductId.")
        ]
    return errors
