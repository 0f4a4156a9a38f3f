"""JSON that people type or import (filter rules, read arguments, transform options, defaults), within limits.

Python's ``json`` reads ``NaN`` and ``Infinity`` (not JSON: PostgreSQL's jsonb refuses them, and
they break every later comparison), raises ``RecursionError`` on a few thousand nested lists and
``ValueError`` on an integer of thousands of digits. :class:`JSONInputField` answers each with a
form error; :func:`json_problems` holds the same rules for values read from a YAML file.
"""

import json
import math
import re

from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput, JSONString
from django.utils.translation import gettext_lazy as _

MAX_DEPTH = 32  # levels of lists and objects, one inside another
MAX_INTEGER_DIGITS = 50

TOO_DEEP = _("It is nested too deeply: at most %(limit)d levels of lists and objects, one inside another.")
NOT_FINITE = _("NaN and Infinity are not JSON numbers: write a number, or null.")
TOO_MANY_DIGITS = _("A number has more than %(limit)d digits.")

NOT_JSON = _("This is not valid JSON (line %(line)d, column %(column)d): %(problem)s.")
PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class _Refused(ValueError):
    """A value the rules refuse, found while the text is read."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def json_problems(value) -> list[str]:
    """What is wrong with a parsed JSON value (depth, NaN/Infinity, huge integers); empty when it is fine."""
    problems = []
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                problems.append(str(TOO_DEEP % {"limit": MAX_DEPTH}))
                continue
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append(str(NOT_FINITE))
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 10**MAX_INTEGER_DIGITS:
            problems.append(str(TOO_MANY_DIGITS % {"limit": MAX_INTEGER_DIGITS}))
    return list(dict.fromkeys(problems))


def _problem(error: json.JSONDecodeError) -> str:
    """What is wrong where ``json`` stopped reading, in the reader's words."""
    text, at = error.doc, error.pos
    rest = text[at:]
    word = re.match(r"[A-Za-z_]+", rest)
    if rest.startswith("'"):
        return str(_('write names and texts in double quotes ("name"), not single quotes'))
    if word and word.group() in PYTHON_WORDS:
        return str(_("write %(json)s, not %(python)s") % {"json": PYTHON_WORDS[word.group()], "python": word.group()})
    if not rest.strip():
        return str(_("the text ends too soon: a value, a closing bracket or a closing brace is missing"))
    if error.msg == "Expecting value" and rest[0] in "]}" and text[:at].rstrip().endswith(","):
        return str(_("remove the comma before the closing bracket"))
    if error.msg.startswith("Expecting property name"):
        return str(_('names in an object need double quotes, e.g. {"name": 1}'))
    if error.msg == "Expecting ',' delimiter":
        return str(_("a comma is missing between two items"))
    if error.msg == "Expecting ':' delimiter":
        return str(_("a colon is missing after a name"))
    if error.msg == "Extra data":
        return str(_("there is more text after the value: write a single list or object"))
    if error.msg.startswith("Invalid control character"):
        return str(_("a text holds a line break or a tab: write it as \\n or \\t"))
    if error.msg.startswith("Unterminated string"):
        return str(_("a text has no closing double quote"))
    return str(
        _("a value is expected here (a number, a text in double quotes, true, false, null, a list or an object)")
    )


def _deeper_than(text: str, limit: int) -> bool:
    """Whether the brackets of ``text`` (outside its strings) nest deeper than ``limit``, without parsing it."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(str(TOO_MANY_DIGITS % {"limit": MAX_INTEGER_DIGITS}))
    return int(text)


def parse(text: str):
    """``text`` read as JSON within the limits; :class:`ValidationError` saying what is wrong otherwise."""
    if _deeper_than(text, MAX_DEPTH):
        raise ValidationError(TOO_DEEP, code="too_deep", params={"limit": MAX_DEPTH})
    try:
        value = json.loads(text, parse_int=_integer)
    except _Refused as exc:
        raise ValidationError(exc.message, code="too_many_digits") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            NOT_JSON, code="invalid", params={"line": exc.lineno, "column": exc.colno, "problem": _problem(exc)}
        ) from None
    problems = json_problems(value)
    if problems:
        raise ValidationError(problems, code="invalid")
    return value


class JSONInputField(forms.JSONField):
    """Django's JSON form field, refusing what would break a page or the database (see :func:`parse`).

    Both the cleaning (``to_python``) and the re-display of a refused text (``bound_data``) read
    it through :func:`parse`, so neither can raise anything but a form error.
    """

    def to_python(self, value):
        if self.disabled:
            return value
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | JSONString):
            return value
        converted = parse(value)
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return parse(data)
        except ValidationError:
            return InvalidJSONInput(data)
