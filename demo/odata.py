"""The small part of OData the demo CRM understands: $filter, $orderby, $top, $skip, $select, $count.

Pure: it turns query parameters into Django ``Q`` objects and ordering lists
against a field table, and raises :class:`ODataError` with a readable message
for anything it does not understand.

``$filter`` grammar::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | function | any | comparison
    comparison := Field ("eq"|"ne"|"gt"|"ge"|"lt"|"le") literal
    function   := ("contains"|"startswith"|"endswith") "(" Field "," 'text' ")"
    any        := Properties "/" "any" "(" [var ":" element ("and" element)*] ")"
    element    := var "/" ("FieldKey"|"StringValue"|"IntegerValue"|"DecimalValue"|"BoolValue"|"DateTimeValue")
                  "eq" literal
    literal    := 'text' | 12 | 12.5 | true | false | null | 2026-01-01 | 2026-01-01T00:00:00Z

``any`` is Ploomes' filter on custom fields, e.g.
``OtherProperties/any(o: o/FieldKey eq 'contact_ERP_CODE' and o/StringValue eq '40001002')``;
given the resource's custom fields (``{FieldKey: value key}``), a FieldKey that is
not one of them, or a value key that does not suit the field, is refused.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.db.models import Q
from django.utils.translation import gettext as _

from .json_array import ArrayHasElement

MAX_TOP = 300
# The keys of an OtherProperties element, and the kind of literal each one takes in $filter.
ELEMENT_KEYS = {
    "FieldKey": "str",
    "StringValue": "str",
    "IntegerValue": "int",
    "DecimalValue": "decimal",
    "BoolValue": "bool",
    "DateTimeValue": "datetime",
}


class ODataError(ValueError):
    """A query option the demo CRM cannot honour; the message is for the caller."""


@dataclass(frozen=True)
class FieldSpec:
    """One field of a resource: its JSON name's ORM lookup and its kind."""

    lookup: str
    kind: str  # "int", "str", "decimal", "bool", "datetime", "json", "properties" (custom fields)
    filterable: bool = True


@dataclass(frozen=True)
class QueryOptions:
    filter: Q
    order_by: list[str]
    top: int
    skip: int
    select: list[str] | None
    count: bool


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),/:])
    """,
    re.VERBOSE | re.ASCII,
)
_RANGE_LOOKUPS = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
_COMPARISONS = {"eq", "ne", *_RANGE_LOOKUPS}
_FUNCTIONS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}
_KEYWORDS = {"and", "or", "not", "true", "false", "null", *_COMPARISONS}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def tokenize(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ODataError(_("$filter: cannot read %(rest)r.") % {"rest": text[position : position + 20]})
        position = match.end()
        kind = match.lastgroup
        if kind != "space":
            tokens.append(_Token(kind, match.group()))
    return tokens


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date or date-time; naive values are taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ODataError(_("%(value)r is not an ISO 8601 date and time.") % {"value": text})
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _FilterParser:
    def __init__(self, text: str, fields: dict[str, FieldSpec], custom_fields=None):
        self.tokens = tokenize(text)
        self.position = 0
        self.fields = fields
        self.custom_fields = custom_fields

    def parse(self) -> Q:
        if not self.tokens:
            return Q()
        expression = self._or()
        if self._peek() is not None:
            raise ODataError(_("$filter: unexpected %(token)r.") % {"token": self._peek().text})
        return expression

    # -- token helpers
    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise ODataError(_("$filter ends too early."))
        self.position += 1
        return token

    def _accept_word(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "name" and token.text.lower() == word:
            self.position += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        token = self._next()
        if token.text != text:
            raise ODataError(
                _("$filter: expected %(expected)r, found %(found)r.") % {"expected": text, "found": token.text}
            )

    # -- grammar
    def _or(self) -> Q:
        expression = self._and()
        while self._accept_word("or"):
            expression |= self._and()
        return expression

    def _and(self) -> Q:
        expression = self._unary()
        while self._accept_word("and"):
            expression &= self._unary()
        return expression

    def _unary(self) -> Q:
        if self._accept_word("not"):
            return ~self._unary()
        token = self._peek()
        if token is not None and token.text == "(":
            self._next()
            expression = self._or()
            self._expect(")")
            return expression
        if token is not None and token.kind == "name" and token.text.lower() in _FUNCTIONS:
            return self._function()
        following = self.tokens[self.position + 1] if self.position + 1 < len(self.tokens) else None
        if following is not None and following.text == "/":
            return self._any()
        return self._comparison()

    def _field(self) -> tuple[str, FieldSpec]:
        token = self._next()
        if token.kind != "name" or token.text.lower() in _KEYWORDS:
            raise ODataError(_("$filter: expected a field name, found %(token)r.") % {"token": token.text})
        spec = self.fields.get(token.text)
        if spec is None or not spec.filterable:
            raise ODataError(_("$filter: unknown or unfilterable field %(field)r.") % {"field": token.text})
        return token.text, spec

    def _function(self) -> Q:
        lookup = _FUNCTIONS[self._next().text.lower()]
        self._expect("(")
        _name, spec = self._field()
        self._expect(",")
        token = self._next()
        if spec.kind != "str" or token.kind != "string":
            raise ODataError(_("$filter: %(function)s needs a text field and a quoted text.") % {"function": lookup})
        self._expect(")")
        return Q(**{f"{spec.lookup}__{lookup}": _unquote(token.text)})

    def _any(self) -> Q:
        name, spec = self._field()
        self._expect("/")
        if spec.kind != "properties" or not self._accept_word("any"):
            raise ODataError(
                _("$filter: only OtherProperties/any(...) can look into a list (%(field)s).") % {"field": name}
            )
        self._expect("(")
        pairs = {}
        if self._peek() is not None and self._peek().text != ")":
            variable = self._next()
            if variable.kind != "name" or variable.text.lower() in _KEYWORDS:
                raise ODataError(_("$filter: any( needs a variable, e.g. any(o: o/FieldKey eq 'key')."))
            self._expect(":")
            while True:
                key, value = self._element(variable.text)
                if key in pairs:
                    raise ODataError(_("$filter: %(key)s appears twice in one any().") % {"key": key})
                pairs[key] = value
                if not self._accept_word("and"):
                    break
        self._expect(")")
        self._check_custom_field(pairs)
        return Q(ArrayHasElement(spec.lookup, tuple(pairs.items())))

    def _element(self, variable: str) -> tuple[str, object]:
        """``o/StringValue eq 'text'`` → ``("StringValue", "text")``."""
        token = self._next()
        if token.text != variable:
            raise ODataError(
                _("$filter: expected %(expected)r, found %(found)r.") % {"expected": variable, "found": token.text}
            )
        self._expect("/")
        key = self._next().text
        if key not in ELEMENT_KEYS:
            raise ODataError(
                _("$filter: %(key)r is not one of %(keys)s.") % {"key": key, "keys": ", ".join(ELEMENT_KEYS)}
            )
        operator = self._next().text.lower()
        if operator != "eq":
            raise ODataError(_("$filter: inside any() only eq is supported (%(key)s).") % {"key": key})
        token = self._next()
        spec = FieldSpec(key, ELEMENT_KEYS[key])
        value = _literal(token, spec, f"{variable}/{key}")
        if key == "DateTimeValue":
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return key, value

    def _check_custom_field(self, pairs: dict) -> None:
        field_key = pairs.get("FieldKey")
        if self.custom_fields is None or field_key is None:
            return
        if callable(self.custom_fields):  # asked for only when a filter looks into custom fields
            self.custom_fields = self.custom_fields()
        value_key = self.custom_fields.get(field_key)
        if value_key is None:
            raise ODataError(_("$filter: there is no custom field %(key)r here.") % {"key": field_key})
        wrong = [key for key in pairs if key not in ("FieldKey", value_key)]
        if wrong:
            raise ODataError(
                _("$filter: the value of %(field)s is in %(right)s, not %(wrong)s.")
                % {"field": field_key, "right": value_key, "wrong": wrong[0]}
            )

    def _comparison(self) -> Q:
        name, spec = self._field()
        if spec.kind == "properties":
            raise ODataError(_("$filter: %(field)s is filtered with %(field)s/any(...).") % {"field": name})
        operator = self._next().text.lower()
        if operator not in _COMPARISONS:
            raise ODataError(
                _("$filter: unknown operator %(operator)r after %(field)s.") % {"operator": operator, "field": name}
            )
        token = self._next()
        if token.kind == "name" and token.text.lower() == "null":
            return _null_comparison(spec, operator, name)
        value = _literal(token, spec, name)
        if operator == "eq":
            return Q(**{spec.lookup: value})
        if operator == "ne":
            return ~Q(**{spec.lookup: value})
        return Q(**{f"{spec.lookup}__{_RANGE_LOOKUPS[operator]}": value})


def _null_comparison(spec: FieldSpec, operator: str, name: str) -> Q:
    if operator not in ("eq", "ne"):
        raise ODataError(_("$filter: null can only be compared with eq or ne (%(field)s).") % {"field": name})
    is_null = Q(**{f"{spec.lookup}__isnull": True})
    if spec.kind == "str":
        is_null |= Q(**{spec.lookup: ""})
    return is_null if operator == "eq" else ~is_null


def _unquote(text: str) -> str:
    return text[1:-1].replace("''", "'")


def _literal(token: _Token, spec: FieldSpec, name: str):
    wrong = ODataError(
        _("$filter: %(value)s does not suit the field %(field)s.") % {"value": token.text, "field": name}
    )
    if spec.kind == "str":
        if token.kind != "string":
            raise wrong
        return _unquote(token.text)
    if spec.kind == "int":
        if token.kind != "number" or "." in token.text:
            raise wrong
        return int(token.text)
    if spec.kind == "decimal":
        if token.kind != "number":
            raise wrong
        try:
            return Decimal(token.text)
        except InvalidOperation:
            raise wrong
    if spec.kind == "bool":
        if token.kind != "name" or token.text.lower() not in ("true", "false"):
            raise wrong
        return token.text.lower() == "true"
    if spec.kind == "datetime":
        if token.kind == "datetime":
            return parse_datetime(token.text)
        if token.kind == "string":
            return parse_datetime(_unquote(token.text))
        raise wrong
    raise wrong


def parse_filter(text: str, fields: dict[str, FieldSpec], custom_fields=None) -> Q:
    """``custom_fields`` (``{FieldKey: value key}``, or a function answering it), when given, is what
    ``any()`` may ask about."""
    return _FilterParser(text or "", fields, custom_fields).parse()


def parse_orderby(text: str, fields: dict[str, FieldSpec], default: str = "Id") -> list[str]:
    """``"LastUpdateDate desc, Id"`` → ``["-updated_at", "pk"]``; always ends with a unique key."""
    order, names = [], []
    for part in (text or default).split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(_("$orderby: cannot read %(part)r.") % {"part": part.strip()})
        spec = fields.get(words[0])
        if spec is None or spec.kind in ("json", "properties"):
            raise ODataError(_("$orderby: unknown field %(field)r.") % {"field": words[0]})
        descending = len(words) == 2 and words[1].lower() == "desc"
        order.append(("-" if descending else "") + spec.lookup)
        names.append(words[0])
    if default not in names:
        order.append(fields[default].lookup)
    return order


def _non_negative_int(value: str | None, option: str, default: int) -> int:
    if value in (None, ""):
        return default
    if not (value.isascii() and value.isdigit()):
        raise ODataError(_("%(option)s must be a whole number of 0 or more.") % {"option": option})
    return int(value)


def parse_select(text: str | None, fields: dict[str, FieldSpec]) -> list[str] | None:
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise ODataError(_("$select: unknown field %(field)r.") % {"field": unknown[0]})
    return names


def parse_query(params, fields: dict[str, FieldSpec], custom_fields=None) -> QueryOptions:
    """Every supported option from a ``QueryDict``-like mapping."""
    count = (params.get("$count") or "false").lower()
    if count not in ("true", "false"):
        raise ODataError(_("$count must be true or false."))
    return QueryOptions(
        filter=parse_filter(params.get("$filter", ""), fields, custom_fields),
        order_by=parse_orderby(params.get("$orderby", ""), fields),
        top=min(_non_negative_int(params.get("$top"), "$top", MAX_TOP), MAX_TOP),
        skip=_non_negative_int(params.get("$skip"), "$skip", 0),
        select=parse_select(params.get("$select"), fields),
        count=count == "true",
    )
