"""A condition on a JSON array column: "some element of it has these key/value pairs".

This is what OData's ``OtherProperties/any(o: o/FieldKey eq 'x' and o/StringValue eq 'y')``
becomes in SQL: a correlated ``EXISTS`` over the array's elements, written with
SQLite's ``json_each`` or PostgreSQL's ``jsonb_array_elements``, so that it
combines with other ``Q`` objects and ``$top``, ``$skip`` and ``$count`` stay
in the database.
"""

import json
from decimal import Decimal

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F


class ArrayHasElement(Expression):
    """True when an element of the JSON array ``column`` holds every ``(key, value)`` of ``pairs``.

    Values compare by JSON type and value: a text never equals a number. ``pairs``
    may be empty: then any element will do.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, pairs: tuple[tuple[str, object], ...]):
        super().__init__(output_field=BooleanField())
        self.array = F(column)
        self.pairs = tuple(pairs)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.array!r}, {self.pairs!r})"

    def get_source_expressions(self):
        return [self.array]

    def set_source_expressions(self, exprs):
        [self.array] = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"OtherProperties/any() is not supported on {connection.vendor}.")

    def as_sqlite(self, compiler, connection):
        array, array_params = compiler.compile(self.array)
        where, params = ["element.type = 'object'"], []
        for key, value in self.pairs:
            path = "$." + json.dumps(key)  # a quoted member name: '$."FieldKey"'
            if isinstance(value, str):
                where.append("json_type(element.value, %s) = 'text' AND json_extract(element.value, %s) = %s")
                params += [path, path, value]
            elif isinstance(value, bool):
                where.append("json_type(element.value, %s) = %s")
                params += [path, "true" if value else "false"]
            else:
                where.append(
                    "json_type(element.value, %s) IN ('integer', 'real') AND json_extract(element.value, %s) = %s"
                )
                params += [path, path, float(value) if isinstance(value, Decimal) else value]
        # Only the compiled column and fixed text are formatted in; every value is a parameter.
        sql = f"EXISTS (SELECT 1 FROM json_each({array}) AS element WHERE {' AND '.join(where)})"  # noqa: S608
        return sql, (*array_params, *params)

    def as_postgresql(self, compiler, connection):
        array, array_params = compiler.compile(self.array)
        where, params = ["jsonb_typeof(element.value) = 'object'"], []
        for key, value in self.pairs:
            # jsonb equality: '"12"' (text) never equals '12' (number); 12 equals 12.0.
            where.append("element.value -> %s::text = %s::jsonb")
            params += [key, json.dumps(float(value) if isinstance(value, Decimal) else value)]
        elements = f"CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} ELSE '[]'::jsonb END"
        sql = f"EXISTS (SELECT 1 FROM jsonb_array_elements({elements}) AS element(value) WHERE {' AND '.join(where)})"  # noqa: S608
        return sql, (*array_params, *array_params, *params)
