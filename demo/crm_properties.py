"""Custom fields of the demo CRM (Ploomes' ``OtherProperties``): each value under its type's value key."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .crm_values import (
    MAX_TEXT_VALUE,
    REFUSED,
    REQUIRED,
    UNKNOWN_FIELD,
    Problems,
    as_bool,
    as_date_time,
    is_integer,
    is_number,
)
from .models import CrmField

# How each value key's value is checked; None (no value) is allowed under the right key.
VALUE_CHECKS = {
    "StringValue": "str",
    "IntegerValue": "int",
    "DecimalValue": "decimal",
    "DateTimeValue": "datetime",
    "BoolValue": "bool",
}
FIELD_TYPE_NAMES = {
    "StringValue": gettext_lazy("a text field"),
    "IntegerValue": gettext_lazy("a whole-number field"),
    "DecimalValue": gettext_lazy("a decimal field"),
    "DateTimeValue": gettext_lazy("a date-and-time field"),
    "BoolValue": gettext_lazy("a yes/no field"),
}


def _property_value(value_key: str, value, target: str, problems: Problems):
    if value is None:
        return None
    kind = VALUE_CHECKS[value_key]
    if kind == "str":
        if not isinstance(value, str):
            problems.wrong_type(target, _("%(field)s must be a text.") % {"field": target})
            return REFUSED
        if len(value) > MAX_TEXT_VALUE:
            problems.invalid(
                target, _("%(field)s is longer than %(max)d characters.") % {"field": target, "max": MAX_TEXT_VALUE}
            )
            return REFUSED
        return value
    if kind == "int":
        if not is_integer(value):
            problems.wrong_type(target, _("%(field)s must be a whole number.") % {"field": target})
            return REFUSED
        if abs(value) >= 2**63:
            problems.invalid(target, _("%(field)s is too large.") % {"field": target})
            return REFUSED
        return value
    if kind == "decimal":
        if not is_number(value):
            problems.wrong_type(target, _("%(field)s must be a number.") % {"field": target})
            return REFUSED
        return value
    if kind == "datetime":
        return as_date_time(value, target, problems)
    return as_bool(value, target, problems)


def clean_other_properties(elements: list[dict], entity: int, resource: str, problems: Problems) -> list[dict]:
    """Each element as ``{"FieldKey": key, <its type's value key>: value}``; violations go to ``problems``."""
    value_keys = CrmField.value_keys(entity)
    cleaned, seen = [], set()
    for index, element in enumerate(elements):
        where = f"OtherProperties[{index}]"
        field_key = element.get("FieldKey")
        if field_key is None:
            problems.add(REQUIRED, f"{where}.FieldKey", _("%(field)s is required.") % {"field": f"{where}.FieldKey"})
            continue
        if not isinstance(field_key, str):
            problems.wrong_type(f"{where}.FieldKey", _("%(field)s must be a text.") % {"field": f"{where}.FieldKey"})
            continue
        value_key = value_keys.get(field_key)
        if value_key is None:
            problems.add(
                UNKNOWN_FIELD,
                f"{where}.FieldKey",
                _("%(key)s is not a field of %(entity)s.") % {"key": field_key, "entity": resource},
            )
            continue
        if field_key in seen:
            problems.invalid(f"{where}.FieldKey", _("%(key)s appears more than once.") % {"key": field_key})
            continue
        seen.add(field_key)
        ok = True
        for key in element:
            if key in ("FieldKey", value_key):
                continue
            target = f"{where}.{key}"
            if key in VALUE_CHECKS:
                problems.wrong_type(
                    target,
                    _("%(key)s is %(type)s: its value goes in %(value_key)s, not %(wrong)s.")
                    % {"key": field_key, "type": FIELD_TYPE_NAMES[value_key], "value_key": value_key, "wrong": key},
                )
            else:
                problems.add(
                    UNKNOWN_FIELD, target, _("%(field)s is not a key of a custom field value.") % {"field": target}
                )
            ok = False
        if value_key not in element:
            if not ok:
                continue  # the value under a wrong key is the one violation
            problems.add(
                REQUIRED,
                where,
                _("%(field)s needs %(value_key)s: %(key)s is %(type)s.")
                % {"field": where, "value_key": value_key, "key": field_key, "type": FIELD_TYPE_NAMES[value_key]},
            )
            continue
        value = _property_value(value_key, element[value_key], f"{where}.{value_key}", problems)
        if ok and value is not REFUSED:
            cleaned.append({"FieldKey": field_key, value_key: value})
    return cleaned


def merge_other_properties(stored: list[dict], sent: list[dict]) -> list[dict]:
    """Ploomes' PATCH: an element sent replaces the stored one of its FieldKey; the others stay as they were."""
    by_key = {element["FieldKey"]: element for element in sent}
    merged = [by_key.pop(element.get("FieldKey"), element) for element in stored]
    return merged + [element for element in sent if element["FieldKey"] in by_key]


def other_properties_json(elements) -> list[dict]:
    return [dict(element) for element in elements or []]
