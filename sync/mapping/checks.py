"""Checks of how a table maps records, as people write it: transforms and their options, filter rules, paths.

Each function returns a list of messages (empty when the value is fine), so the same rules serve the
admin forms (through the models' ``clean()``) and the YAML import (which prefixes each message with
its path inside the file).
"""

import re
import string
import zoneinfo

from django.utils.translation import gettext as _

from .. import paths
from ..choices import UNARY_FILTER_OPERATORS, FilterOperator, Transform
from ..numbers import POINTS
from ..transforms import TRANSFORM_OPTIONS
from ..transforms.options import MAX_PLACES


def check_time_zone(value: str) -> list[str]:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return [_('unknown time zone "%(value)s"') % {"value": value}]
    return []


def check_transform(transform: str, options) -> list[str]:
    """Check a mapping's transform name and its options."""
    if transform not in Transform.values:
        return [_('unknown transform "%(name)s"') % {"name": transform}]
    if options is None:
        options = {}
    if not isinstance(options, dict):
        return [_("options must be a mapping of option names to values")]
    allowed = TRANSFORM_OPTIONS[Transform(transform)]
    errors = []
    for name in sorted(set(options) - set(allowed)):
        known = ", ".join(sorted(allowed)) or "none"
        errors.append(
            _('unknown option "%(option)s" for transform "%(name)s" (known: %(known)s)')
            % {"option": name, "name": transform or "none", "known": known}
        )
    for name, (required, types) in allowed.items():
        if name not in options:
            if required:
                errors.append(
                    _('transform "%(name)s" needs the option "%(option)s"') % {"name": transform, "option": name}
                )
            continue
        if not isinstance(options[name], types) or (bool not in types and isinstance(options[name], bool)):
            errors.append(
                _('option "%(option)s" of transform "%(name)s" has the wrong type')
                % {"option": name, "name": transform}
            )
    if errors:
        return errors
    if transform == Transform.VALUE_MAP:
        errors += _check_value_map(options["map"])
    elif transform == Transform.TEMPLATE:
        errors += _check_template(options["template"])
    elif transform == Transform.LIST_MAP:
        fields = options["fields"]
        if not fields or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in fields.items()):
            errors.append(
                _('a list map needs "fields": item field → source path, e.g. {"product_code": "ProductCode"}')
            )
    elif transform == Transform.DATETIME and "timezone" in options:
        errors += check_time_zone(options["timezone"])
    elif transform == Transform.DECIMAL:
        if not 0 <= options.get("places", 0) <= MAX_PLACES:
            errors.append(_('option "places" must be between 0 and %(max)d') % {"max": MAX_PLACES})
        if options.get("decimal_separator", ".") not in POINTS:
            errors.append(_('option "decimal_separator" must be "." or ","'))
    elif transform == Transform.PHONE and not re.fullmatch(r"\+?\d{1,3}", options.get("default_country_code", "55")):
        errors.append(_('option "default_country_code" must be 1 to 3 digits, e.g. 55'))
    return errors


def _check_value_map(mapping: dict) -> list[str]:
    if not mapping:
        return [_('a value map needs at least one entry, e.g. {"CA": "California"}')]
    scalar = (str, int, float, bool)
    bad = [str(key) for key, value in mapping.items() if not isinstance(key, str) or not isinstance(value, scalar)]
    if bad:
        return [
            _("value map entries must map text to a text or number value; check %(keys)s") % {"keys": ", ".join(bad)}
        ]
    return []


def _check_template(template: str) -> list[str]:
    if not template.strip():
        return [_("a template cannot be empty")]
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        return [_("template is not valid: %(error)s") % {"error": exc}]
    if any(not name for name in names):
        return [_("template placeholders must name a source field, e.g. {FirstName}")]
    return []


def check_filter_rules(rules) -> list[str]:
    """Rules are a list of ``{"name", "field", "op", "value"}`` combined with AND."""
    if rules in (None, ""):
        return []
    if not isinstance(rules, list):
        return [_("filter rules must be a list")]
    errors = []
    for index, rule in enumerate(rules):
        where = _("rule %(number)d") % {"number": index + 1}
        if not isinstance(rule, dict):
            errors.append(_("%(where)s: must be a mapping with field, op and value") % {"where": where})
            continue
        unknown = sorted(set(rule) - {"name", "field", "op", "value"})
        if unknown:
            errors.append(_("%(where)s: unknown key %(keys)s") % {"where": where, "keys": ", ".join(unknown)})
        if not isinstance(rule.get("field"), str) or not rule.get("field", "").strip():
            errors.append(_("%(where)s: needs the source field to test") % {"where": where})
        op = rule.get("op")
        if op not in FilterOperator.values:
            errors.append(
                _('%(where)s: unknown operator "%(op)s" (known: %(known)s)')
                % {"where": where, "op": op, "known": ", ".join(FilterOperator.values)}
            )
            continue
        if op in UNARY_FILTER_OPERATORS:
            continue
        if "value" not in rule:
            errors.append(_('%(where)s: operator "%(op)s" needs a value') % {"where": where, "op": op})
        elif op == FilterOperator.IN and not isinstance(rule["value"], list):
            errors.append(_('%(where)s: operator "in" needs a list of values') % {"where": where})
    return errors


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
