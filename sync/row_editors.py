"""Editors of the JSON fields people type: rows instead of raw JSON, the JSON still there to paste.

A table's filter rules are rows of name, field, operator and value (a list of objects); its read
arguments and a mapping's transform options are key/value rows (an object). The widget posts the
rows and a switch saying which of the two, rows or the JSON text, is meant; it gives the field the
same JSON text the textarea would, so the field's parsing and every validation message stay as they
are. A value cell holds JSON (``10``, ``true``, ``["A", "B"]``, ``"10"`` for the text 10) or plain
text; for "is one of", ``A, B`` is the list of A and B. ``static/portal/row_editor.js`` adds and
removes rows and keeps the two views in step; without it one blank row is offered per save.
"""

import json
from dataclasses import dataclass

from django import forms
from django.forms.renderers import TemplatesSetting
from django.utils.translation import gettext_lazy as _

from .choices import UNARY_FILTER_OPERATORS, FilterOperator
from .json_input import parse

ROWS, JSON = "rows", "json"
RULE_KEYS = ("name", "field", "op", "value")


def cell_value(text: str, op: str = ""):
    """What a value cell stands for: its JSON when it is JSON, else its text; "is one of" splits at commas."""
    stripped = text.strip()
    try:
        value = parse(stripped) if stripped else ""
    except forms.ValidationError:
        value = stripped
    if op == FilterOperator.IN and not isinstance(value, list):
        return [cell_value(item) for item in text.split(",") if item.strip()]
    return value


def _reads_as_json(text: str) -> bool:
    try:
        parse(text.strip())
    except forms.ValidationError:
        return False
    return True


def cell_text(value, op: str = "") -> str:
    """The text of a value cell that :func:`cell_value` reads back as ``value``."""
    if isinstance(value, str) and value and value == value.strip() and not _reads_as_json(value):
        return value
    plain_items = isinstance(value, list) and all(
        isinstance(item, str) and "," not in item and cell_text(item) == item for item in value
    )
    if op == FilterOperator.IN and value and plain_items:
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def _all_of(data, key: str) -> list[str]:
    if hasattr(data, "getlist"):
        return data.getlist(key)
    value = data.get(key)
    return value if isinstance(value, list) else ([] if value is None else [value])


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    choices: tuple = ()  # a select when given


class RowsEditor(forms.Widget):
    """Rows standing for a JSON value, with the JSON text as the other way to write it (see the module).

    A subclass names its ``columns`` and converts: ``rows_of(value)`` gives the cells of each row
    (None when rows cannot show the value), ``value_of(rows)`` the value the filled rows stand for.
    """

    template_name = "sync/widgets/rows.html"
    columns: tuple[Column, ...] = ()
    shape = "object"  # or "list": of objects, one a row
    unary_ops: frozenset = frozenset()  # operators whose value cell is not read
    list_op = ""  # the operator whose value is a list
    add_label = _("Add a row")

    class Media:
        css = {"all": ["portal/forms.css"]}
        js = ["portal/row_editor.js"]

    # --------------------------------------------------------------- rendering
    def render(self, name, value, attrs=None, renderer=None):
        # The template lives in the project's templates/, which only the TEMPLATES setting's engine reads.
        return super().render(name, value, attrs, TemplatesSetting())

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
        try:
            parsed = parse(text) if text.strip() else None
            rows = self.rows_of(parsed)
        except forms.ValidationError:
            rows = None
        blank = {column.key: "" for column in self.columns}
        context["widget"].update(
            text=text,
            mode=ROWS if rows is not None else JSON,
            columns=self.columns,
            rows=[self._cells(row) for row in [*(rows or []), blank]],
            add_label=self.add_label,
            shape=self.shape,
            unary_ops=json.dumps(sorted(self.unary_ops)) if self.unary_ops else "",
            list_op=self.list_op,
            cannot_show=_("This JSON cannot be shown as rows; edit it as JSON."),
        )
        return context

    def _cells(self, row: dict) -> list[dict]:
        return [{"column": column, "value": row.get(column.key, "")} for column in self.columns]

    # --------------------------------------------------------------- reading the post
    def value_from_datadict(self, data, files, name):
        if data.get(f"{name}__editor") != ROWS:
            return data.get(name)
        cells = {column.key: _all_of(data, f"{name}__{column.key}") for column in self.columns}
        count = max((len(values) for values in cells.values()), default=0)
        rows = []
        for index in range(count):
            row = {key: (values[index] if index < len(values) else "") for key, values in cells.items()}
            if any(text.strip() for text in row.values()):
                rows.append(row)
        return json.dumps(self.value_of(rows), ensure_ascii=False)

    def value_omitted_from_data(self, data, files, name):
        return name not in data and f"{name}__editor" not in data


class FilterRulesEditor(RowsEditor):
    """A table's filter rules: ``[{"name", "field", "op", "value"}, …]``."""

    columns = (
        Column("name", _("name (optional)")),
        Column("field", _("source field")),
        Column("op", _("operator"), tuple(FilterOperator.choices)),
        Column("value", _("value")),
    )
    shape = "list"
    unary_ops = UNARY_FILTER_OPERATORS
    list_op = FilterOperator.IN
    add_label = _("Add a rule")

    def rows_of(self, value):
        if value is None:
            return []
        if not isinstance(value, list):
            return None
        rows = []
        for rule in value:
            fits = (
                isinstance(rule, dict)
                and set(rule) <= set(RULE_KEYS)
                and all(isinstance(rule.get(key, ""), str) for key in ("name", "field", "op"))
                and rule.get("op") in FilterOperator.values
            )
            if not fits:
                return None
            op = rule["op"]
            shown = "" if op in UNARY_FILTER_OPERATORS and "value" not in rule else cell_text(rule.get("value"), op)
            rows.append({"name": rule.get("name", ""), "field": rule.get("field", ""), "op": op, "value": shown})
        return rows

    def value_of(self, rows):
        rules = []
        for row in rows:
            rule = {"name": row["name"].strip()} if row["name"].strip() else {}
            rule.update(field=row["field"].strip(), op=row["op"])
            if row["op"] not in UNARY_FILTER_OPERATORS and row["value"].strip():
                rule["value"] = cell_value(row["value"], row["op"])
            rules.append(rule)
        return rules


class KeyValueEditor(RowsEditor):
    """An object written as key/value rows (read arguments, transform options)."""

    columns = (Column("key", _("key")), Column("value", _("value")))

    def rows_of(self, value):
        if value is None:
            return []
        if not isinstance(value, dict):
            return None
        return [{"key": key, "value": cell_text(item)} for key, item in value.items()]

    def value_of(self, rows):
        return {row["key"].strip(): cell_value(row["value"]) for row in rows}
