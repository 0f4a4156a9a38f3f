"""Filter rules, as the admin's JSON field and the YAML file write them: ``[{name, field, op, value}, …]``.

Messages name the rule by its number ("rule 2: …"), the same in the admin form and in the import.
"""

import re
from typing import Annotated, Any, Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import TypeAdapter, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from ..choices import UNARY_FILTER_OPERATORS, FilterOperator
from ..json_input import json_problems
from .errors import leaf_message, unique
from .values import Expect, FileObject, RequiredText, Text, problem

NEEDS_A_VALUE, NEEDS_A_LIST = "needs_a_value", "needs_a_list"  # pydantic error types of a rule as a whole
BAD_PATTERN = "bad_pattern"
LONGEST_PATTERN = 200  # characters of a "matches" pattern


class FilterRule(FileObject):
    """Records whose ``field`` passes ``op`` (against ``value``) move on; the rules of a table are combined with AND."""

    name: Text = None
    field: RequiredText
    op: Literal[tuple(FilterOperator.values)]
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_the_operator(self):
        if self.op in UNARY_FILTER_OPERATORS:
            return self
        if "value" not in self.model_fields_set:
            raise PydanticCustomError(NEEDS_A_VALUE, "the operator needs a value", {"op": self.op})
        if self.op == FilterOperator.IN and not isinstance(self.value, list):
            raise PydanticCustomError(NEEDS_A_LIST, "the operator needs a list of values")
        if self.op == FilterOperator.MATCHES:
            _check_pattern(self.value)
        return self


def _check_pattern(pattern) -> None:
    """A "matches" rule's value: a regular expression of reasonable length that compiles."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > LONGEST_PATTERN:
        raise PydanticCustomError(BAD_PATTERN, "not a pattern", {"reason": ""})
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PydanticCustomError(BAD_PATTERN, "not a pattern", {"reason": str(exc)}) from None


def _stored_as_written(value, handler):
    """The rules as written (JSON within limits), once their shape is checked."""
    if value is None:
        return []
    found = json_problems(value)
    if found:
        raise problem("; ".join(found))
    handler(value)
    return value


class RuleErrors:
    """Marks the filter rules: errors inside them are told by :func:`rule_message`."""


FilterRules = Annotated[
    list[FilterRule] | None, WrapValidator(_stored_as_written), RuleErrors(), Expect(gettext_lazy("a list"))
]
FILTER_RULES = TypeAdapter(FilterRules)


def rule_message(loc: tuple, error: dict) -> str:
    """The message of one pydantic error found at ``loc`` inside the rules."""
    if not loc:
        if error["type"] == "list_type":
            return _("filter rules must be a list")
        return leaf_message(error)
    where = _("rule %(number)d") % {"number": loc[0] + 1}
    if len(loc) == 1:
        if error["type"] == NEEDS_A_VALUE:
            return _('%(where)s: operator "%(op)s" needs a value') % {"where": where, "op": error["ctx"]["op"]}
        if error["type"] == NEEDS_A_LIST:
            return _('%(where)s: operator "in" needs a list of values') % {"where": where}
        if error["type"] == BAD_PATTERN:
            return _(
                '%(where)s: operator "matches" needs a regular expression of at most %(longest)d characters, '
                "e.g. ^\\d{14}$ (%(reason)s)"
            ) % {"where": where, "longest": LONGEST_PATTERN, "reason": error["ctx"]["reason"] or _("none given")}
        return _("%(where)s: must be a mapping with field, op and value") % {"where": where}
    key = loc[1]
    if error["type"] == "extra_forbidden":
        return _("%(where)s: unknown key %(keys)s") % {"where": where, "keys": key}
    if key == "field":
        return _("%(where)s: needs the source field to test") % {"where": where}
    if key == "op":
        op = error["input"].get("op") if error["type"] == "missing" else error["input"]
        return _('%(where)s: unknown operator "%(op)s" (known: %(known)s)') % {
            "where": where,
            "op": op,
            "known": ", ".join(FilterOperator.values),
        }
    return _("%(where)s: %(key)s: %(message)s") % {"where": where, "key": key, "message": leaf_message(error)}


def filter_rule_problems(rules) -> list[str]:
    """What is wrong with ``rules`` (empty when they are fine)."""
    try:
        FILTER_RULES.validate_python(rules, strict=True)
    except ValidationError as exc:
        return unique(rule_message(error["loc"], error) for error in exc.errors(include_url=False))
    return []
