"""Property tests: whatever a source system sends, a transform returns a value or a per-field
message (``TransformError``), filter rules answer yes or no, and mapping a record never raises."""

import os
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.choices import FilterOperator, Transform
from sync.mapping import FieldSpec, FilterRule, MappingResult, first_rejecting_rule, map_record, values_hash
from sync.transforms import TRANSFORM_OPTIONS, TransformError, apply_transform

# FUZZ_EXAMPLES=5000 for a longer hunt; the default keeps the file under ~20 s.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "75")),
    deadline=None,
    database=None,  # no .hypothesis/ folder in the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any unicode, lone surrogates included (json.loads produces them from "\ud800").
any_text = st.text(st.characters(exclude_categories=()), max_size=30)

INTERESTING_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "٣٤",
    "１２３",
    "%",
    "{",
    "}",
    "{}",
    "nan",
    "NaN",
    "sNaN",
    "-Infinity",
    "1e999999",
    "1e-9999",
    "-0",
    "1.234,56",
    "1,234.56",
    "R$ 1.234,56",
    "15.000,00",
    "sim",
    "NÃO",
    "X",
    "11.222.333/0001-81",
    "12.345.678/0001-00",
    "12.ABC.345/01DE-35",
    "529.982.247-25",
    "(11) 98765-4321",
    "+55 11 3456-7890",
    "0 21 11 98765-4321",
    "0800 123 4567",
    "+1 212 555 0123",
    "/Date(1700000000000)/",
    "/Date(1700000000000-0300)/",
    "/Date(-999999999999999999)/",
    "/Date(1700000000000+9959)/",
    "2023-11-14",
    "2023-11-14T10:00:00-03:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0000-00-00",
    "20231114",
    "14/11/2023",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    # Past Python's 4,300-digit limit for int <-> str conversions.
    st.tuples(st.integers(4250, 4400), st.integers()).map(lambda pair: 10 ** pair[0] + pair[1]),
    st.floats(),
    st.decimals(),
    any_text,
    st.sampled_from(INTERESTING_TEXT),
    st.sampled_from(["9", "x", "1.", "{a}", "\u00e3"]).map(lambda text: text * 60_000),  # huge strings
    st.dates(),
    st.datetimes(timezones=st.none() | st.timezones()),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=8,
)
paths = st.sampled_from(["a", "b", "a.b", "a.0", "a.-1", "List.0.x", "", "a..b", "0"]) | any_text
records = st.dictionaries(st.sampled_from(["a", "b", "List", "0"]) | any_text, values, max_size=5)

OPTION_TEXT = [
    "%d/%m/%Y",
    "%Y-%m-%dT%H:%M:%S%z",
    "%d/%m/%Y %H:%M:%S",
    "%s",
    "%",
    "%Q",
    "%Y%m%d",
    "epoch",
    "epoch_ms",
    "UTC",
    "America/Sao_Paulo",
    "America/New_York",
    "America",
    "../etc/passwd",
    "",
    ",",
    ".",
    "55",
    "+1",
    "0",
    "{a} {b}",
    "{a.b}/{List.0.x}",
    "{a!r:>10}",
    "{a:{b}}",
    "{a:.999999f}",
    "{a!z}",
    "{0}",
    "{",
]
_BY_TYPE = {
    str: any_text | st.sampled_from(OPTION_TEXT),
    int: st.integers() | st.integers(min_value=-30, max_value=30),
    float: st.floats(),
    bool: st.booleans(),
    type(None): st.none(),
    list: st.lists(scalars, max_size=4),
    dict: st.dictionaries(any_text | st.sampled_from(["a", "SP", "1", "true", "nan"]), scalars, max_size=4),
}


def option_values(types: tuple) -> st.SearchStrategy:
    return st.one_of(*(_BY_TYPE[kind] for kind in types))


@st.composite
def options_for(draw, transform: str) -> dict:
    """Options of the right names and types for ``transform`` (their content may still be odd)."""
    options = {}
    for name, (required, types) in TRANSFORM_OPTIONS[Transform(transform)].items():
        if required or draw(st.booleans()):
            options[name] = draw(option_values(types))
    return options


RESULT_TYPES = {
    Transform.CNPJ: (str,),
    Transform.CPF: (str,),
    Transform.CNPJ_CPF: (str,),
    Transform.PHONE: (str,),
    Transform.DATE: (str,),
    Transform.DATETIME: (str,),
    Transform.DECIMAL: (Decimal,),
    Transform.BOOLEAN: (bool,),
    Transform.DIGITS: (str,),
    Transform.TEMPLATE: (str,),
}


@pytest.mark.parametrize("transform", Transform.values)
@FUZZ
@given(data=st.data())
def test_a_transform_returns_a_value_or_a_transform_error(transform, data):
    options = data.draw(options_for(transform), label="options")
    value = data.draw(values, label="value")
    record = data.draw(st.none() | records, label="record")
    try:
        result = apply_transform(transform, value, options, record)
    except TransformError as exc:
        assert exc.message
        exc.message.encode("utf-8")  # storable: no lone surrogates in messages
    else:
        expected = RESULT_TYPES.get(transform)
        if expected and result is not None:
            assert isinstance(result, expected)
        values_hash({"value": result})


# Options as stored configuration may hold them when they were written around the validation:
# any names, any JSON-like values, or not a mapping at all.
OPTION_NAMES = sorted({name for options in TRANSFORM_OPTIONS.values() for name in options})
any_options = (
    st.none()
    | values
    | st.dictionaries(st.sampled_from(OPTION_NAMES) | any_text, values, max_size=4)
    | st.builds(lambda name, value: {name: value}, st.sampled_from(OPTION_NAMES), values)
)
transform_names = st.sampled_from(Transform.values) | any_text | st.integers() | st.none()


@pytest.mark.parametrize("transform", Transform.values)
@FUZZ
@given(data=st.data())
def test_options_of_any_shape_give_a_value_or_a_transform_error(transform, data):
    options = data.draw(any_options, label="options")
    value = data.draw(values, label="value")
    record = data.draw(st.none() | records | values, label="record")
    try:
        result = apply_transform(transform, value, options, record)
    except TransformError as exc:
        assert exc.message
        exc.message.encode("utf-8")
    else:
        values_hash({"value": result})


@FUZZ
@given(name=transform_names, value=values, options=any_options)
def test_an_unknown_transform_name_is_a_transform_error(name, value, options):
    try:
        apply_transform(name, value, options)
    except TransformError as exc:
        assert exc.message
        if name not in Transform.values:
            assert exc.message.startswith("unknown transform")


@FUZZ
@given(
    rules=st.lists(
        st.builds(
            FilterRule,
            name=st.just("") | any_text,
            field=paths,
            op=st.sampled_from(FilterOperator.values),
            value=values,
        ),
        max_size=4,
    ),
    record=records | values,
)
def test_filter_rules_accept_or_reject_and_never_raise(rules, record):
    rejecting = first_rejecting_rule(record, rules)
    if rejecting is not None:
        assert rejecting in rules
        assert isinstance(rejecting.explain(record), str)
        assert isinstance(rejecting.label, str)


@st.composite
def field_specs(draw) -> FieldSpec:
    transform = draw(st.sampled_from(Transform.values))
    return FieldSpec(
        source_path=draw(paths),
        target_field=draw(st.sampled_from(["A", "B", "A.B", "A.C", "B.C.D"])),
        transform=transform,
        options=draw(options_for(transform)),
        required=draw(st.booleans()),
    )


@st.composite
def stored_field_specs(draw) -> FieldSpec:
    """A mapping as stored, its transform and options possibly of any shape."""
    return FieldSpec(
        source_path=draw(paths),
        target_field=draw(st.sampled_from(["A", "B", "A.B"])),
        transform=draw(transform_names),
        options=draw(any_options),
        required=draw(st.booleans()),
    )


@FUZZ
@given(record=records | values, specs=st.lists(stored_field_specs(), max_size=4))
def test_mapping_with_stored_options_of_any_shape_never_raises(record, specs):
    result = map_record(record, specs)
    assert isinstance(result, MappingResult)
    values_hash(result.values)


@FUZZ
@given(record=records | values, specs=st.lists(field_specs(), max_size=6))
def test_mapping_a_record_never_raises(record, specs):
    result = map_record(record, specs)
    assert isinstance(result, MappingResult)
    assert set(result.errors) <= {spec.target_field for spec in specs}
    values_hash(result.values)


def test_hash_of_fuzzed_values_is_deterministic():
    value = {"when": date(2023, 11, 14), "tags": {"b", "a"}, "n": [1, 2.5, None]}
    assert values_hash(value) == values_hash(dict(reversed(list(value.items()))))
