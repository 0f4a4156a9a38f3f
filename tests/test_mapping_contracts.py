"""Mappings that meet real API contracts: typed values, keyed list elements, sub-lists, lookups, create vs update."""

import json
from decimal import Decimal

import pytest

from core.json_text import dumps
from sync import paths
from sync.choices import FieldOwner, SendOn, Transform, ValueType
from sync.mapping import MISSING, FieldSpec, map_record
from sync.mapping.checks import check_mapping_paths
from sync.models import FieldMapping
from sync.writes import changed_fields, conflicts, same_value, written

CUSTOM = "OtherProperties[FieldKey=contact_ERP_CODE].StringValue"


# ---------------------------------------------------------------- paths


def test_a_keyed_path_reads_the_element_whose_key_matches():
    record = {
        "OtherProperties": [
            {"FieldKey": "contact_SEGMENT", "StringValue": "Retail"},
            {"FieldKey": "contact_ERP_CODE", "StringValue": "40001002"},
        ],
        "items": [{"sku": "A-1"}, {"sku": "B-2"}],
    }
    assert paths.get_path(record, CUSTOM) == "40001002"
    assert paths.get_path(record, "OtherProperties[FieldKey=contact_OTHER].StringValue") is MISSING
    assert paths.get_path(record, "items[1].sku") == "B-2"
    assert paths.get_path(record, "items.0.sku") == "A-1"  # the dotted index still works
    assert paths.get_path(record, "items[-1].sku") == "B-2"
    assert paths.get_path(record, "items[5].sku") is MISSING
    assert paths.get_path(record, "items[oops") is MISSING  # a malformed path reads nothing, never raises


def test_writing_a_keyed_element_creates_it_and_keeps_the_others():
    body = {}
    built: set[int] = set()
    paths.put_path(body, CUSTOM, "40001002", built)
    paths.put_path(body, "OtherProperties[FieldKey=contact_SEGMENT].StringValue", "Retail", built)
    paths.put_path(body, "items[1].sku", "B-2", built)
    assert body == {
        "OtherProperties": [
            {"FieldKey": "contact_ERP_CODE", "StringValue": "40001002"},
            {"FieldKey": "contact_SEGMENT", "StringValue": "Retail"},
        ],
        "items": [{}, {"sku": "B-2"}],
    }
    with pytest.raises(paths.Overlap):
        paths.put_path(body, CUSTOM, "again", built)


@pytest.mark.parametrize(
    ("source", "target", "errors"),
    [
        ("Code", CUSTOM, {}),
        ("Products[].ProductId", "lines[].product_code", {}),
        ("", "lines[].currency", {}),
        ("Products[].ProductId", "lines", {"target_field"}),
        ("Products", "lines[].product_code", {"source_path"}),
        ("Code", "OtherProperties[FieldKey=contact_ERP_CODE]", {"target_field"}),
        ("Code", "OtherProperties[FieldKey=x", {"target_field"}),
        ("a..b", "Name", {"source_path"}),
    ],
)
def test_mapping_paths_are_checked(source, target, errors):
    assert set(check_mapping_paths(source, target)) == set(errors)


# ---------------------------------------------------------------- types


def test_typed_values_reach_the_body_as_the_api_requires():
    record = {"price": "129.90", "stock": "12", "code": 40001002, "active": "S", "note": "x"}
    specs = [
        FieldSpec("price", "Price", Transform.DECIMAL),
        FieldSpec("stock", "Stock", value_type=ValueType.INTEGER),
        FieldSpec("code", CUSTOM, value_type=ValueType.TEXT),
        FieldSpec("active", "Active", value_type=ValueType.BOOLEAN),
        FieldSpec("note", "Obsolete", value_type=ValueType.NULL),
    ]
    result = map_record(record, specs)
    assert result.ok, result.errors
    # A decimal is a JSON number with its exact digits, never a float artefact and never text.
    assert dumps(result.values) == (
        '{"Price":129.90,"Stock":12,"OtherProperties":[{"FieldKey":"contact_ERP_CODE","StringValue":"40001002"}],'
        '"Active":true,"Obsolete":null}'
    )
    assert json.loads(dumps(result.values))["Price"] == 129.9
    assert dumps({"a": Decimal("0.1") + Decimal("0.2")}) == '{"a":0.3}'


def test_a_value_of_the_wrong_type_is_a_field_error_naming_it():
    result = map_record({"stock": "12.5"}, [FieldSpec("stock", "Stock", value_type=ValueType.INTEGER)])
    assert result.errors == {"Stock": "12.5 is not a whole number"}


def test_a_default_fills_a_missing_or_empty_source_value():
    specs = [FieldSpec("currency", "Currency", default="BRL"), FieldSpec("qty", "Quantity", default=1)]
    assert map_record({"currency": " "}, specs).values == {"Currency": "BRL", "Quantity": 1}


# ---------------------------------------------------------------- create vs update


def test_fields_fixed_at_creation_are_sent_on_create_only():
    specs = [
        FieldSpec("code", "Code", send_on=SendOn.CREATE),
        FieldSpec("", "TypeId", Transform.CONSTANT, {"value": 1}, send_on=SendOn.CREATE),
        FieldSpec("name", "Name"),
        FieldSpec("segment", "Segment", owner=FieldOwner.TARGET),
        FieldSpec("", "Note", Transform.CONSTANT, {"value": "updated by the ERP"}, send_on=SendOn.UPDATE),
    ]
    result = map_record({"code": "P-1", "name": "Widget", "segment": "Retail"}, specs)
    assert result.create_body() == {"Code": "P-1", "TypeId": 1, "Name": "Widget", "Segment": "Retail"}
    assert result.body(set(result.update_fields)) == {"Name": "Widget", "Note": "updated by the ERP"}


def test_an_update_can_send_only_what_changed_since_the_last_write():
    last = written({"Name": "Widget", "Price": Decimal("10.00"), "Active": True})
    now = {"Name": "Widget", "Price": Decimal("12.50"), "Active": True}
    assert changed_fields(now, last) == ["Price"]
    assert changed_fields({**now, "Stock": 3}, last) == ["Price", "Stock"]  # never written: sent


def test_a_change_made_in_the_target_is_a_conflict_only_when_it_differs_from_the_last_write():
    last = written({"Name": "Widget", "Price": Decimal("10.00"), CUSTOM: "400"})
    current = {
        "Name": "Widget (edited in the CRM)",
        "Price": 10.0,  # the CRM answers a float: 10.0 is what was written
        "OtherProperties": [{"FieldKey": "contact_ERP_CODE", "StringValue": "400"}],
    }
    sending = {"Name": "Widget 2", "Price": Decimal("11.00"), CUSTOM: "400"}
    [conflict] = conflicts(current, sending, last)
    assert (conflict.field, conflict.written_value, conflict.lost_value, conflict.new_value) == (
        "Name",
        "Widget",
        "Widget (edited in the CRM)",
        "Widget 2",
    )
    assert same_value("2024-01-01T10:00:00Z", "2024-01-01T07:00:00-03:00")
    assert not same_value("007", "7")


# ---------------------------------------------------------------- sub-lists and lookups


ORDER = {
    "Id": 7,
    "ContactId": 31,
    "Products": [
        {"ProductId": 501, "Quantity": 2, "UnitPrice": 10.5},
        {"ProductId": 502, "Quantity": 1},
    ],
}
ORDER_SPECS = [
    FieldSpec("ContactId", "customer_code", Transform.LOOKUP, {"table": "Company"}, required=True),
    FieldSpec("Products[].ProductId", "lines[].product_code", Transform.LOOKUP, {"table": "Product"}, required=True),
    FieldSpec("Products[].Quantity", "lines[].quantity", value_type=ValueType.DECIMAL, required=True),
    FieldSpec("Products[].UnitPrice", "lines[].unit_price", value_type=ValueType.DECIMAL),
    FieldSpec("", "lines[].unit", Transform.CONSTANT, {"value": "UN"}),
]


def links(found: dict):
    def resolve(table, value):
        return found.get((table, str(value)))

    return resolve


def test_a_sub_list_is_mapped_item_by_item_with_types_lookups_and_optional_fields():
    resolve = links({("Company", "31"): "40001002", ("Product", "501"): "SKU-1", ("Product", "502"): "SKU-2"})
    result = map_record(ORDER, ORDER_SPECS, resolve)
    assert result.ok, (result.errors, result.waiting)
    assert result.values == {
        "customer_code": "40001002",
        "lines": [
            {"product_code": "SKU-1", "quantity": Decimal("2"), "unit_price": Decimal("10.5"), "unit": "UN"},
            {"product_code": "SKU-2", "quantity": Decimal("1"), "unit": "UN"},  # no price: left out, not an error
        ],
    }


def test_a_reference_not_synced_yet_makes_the_record_wait_naming_it():
    resolve = links({("Product", "501"): "SKU-1", ("Product", "502"): "SKU-2"})
    result = map_record(ORDER, ORDER_SPECS, resolve)
    assert not result.ok and not result.errors
    assert [(w.table, w.key) for w in result.waiting] == [("Company", "31")]
    assert str(result.waiting_message) == "waiting for Company 31"


def test_a_sub_list_item_error_names_the_item():
    resolve = links({("Company", "31"): "4", ("Product", "501"): "SKU-1", ("Product", "502"): "SKU-2"})
    order = {**ORDER, "Products": [{"ProductId": 501, "Quantity": "two"}]}
    assert map_record(order, ORDER_SPECS, resolve).errors == {"lines[1].quantity": '"two" is not a number'}


def test_a_lookup_without_the_engine_is_an_error_not_a_crash():
    result = map_record({"ContactId": 1}, [FieldSpec("ContactId", "code", Transform.LOOKUP, {"table": "Company"})])
    assert "only inside a sync" in str(result.errors["code"])


def test_field_spec_reads_the_new_settings_from_a_mapping():
    mapping = FieldMapping(
        source_path="code",
        target_field=CUSTOM,
        value_type=ValueType.TEXT,
        send_on=SendOn.CREATE,
        default_value="",
        owner=FieldOwner.TARGET,
    )
    spec = FieldSpec.from_model(mapping)
    assert (spec.value_type, spec.send_on, spec.default, spec.on_create, spec.on_update) == (
        "text",
        "create",
        "",
        True,
        False,
    )
