"""One record through filter rules and field mappings, as the engine will use them."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from sync.choices import Transform
from sync.mapping import (
    MISSING,
    FieldSpec,
    FilterRule,
    first_rejecting_rule,
    get_path,
    map_record,
    values_hash,
)
from sync.models import FieldMapping
from sync.transforms import apply_transform

CUSTOMER = {
    "CODPARC": 1042,
    "RazaoSocial": "  Padaria Pão Quente Ltda  ",
    "CNPJ": "11.222.333/0001-81",
    "CreditStatus": "A",
    "CreditLimit": "15.000,00",
    "Active": "S",
    "UF": "SP",
    "CreatedAt": "2023-11-14 10:00:00",
    "Address": {"Street": "Rua Augusta", "Number": "1500", "City": "São Paulo", "Zip": "01310-100"},
    "Phones": [{"Type": "main", "Number": "(11) 3456-7890"}, {"Type": "mobile", "Number": "11987654321"}],
    "Tags": [],
    "Notes": None,
}


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("CNPJ", "11.222.333/0001-81"),
        ("Address.City", "São Paulo"),
        ("Phones.1.Number", "11987654321"),
        ("Phones.-1.Type", "mobile"),
        ("Notes", None),
        ("Tags", []),
        ("Address.Country", MISSING),
        ("Phones.2.Number", MISSING),
        ("Phones.first.Number", MISSING),
        ("CNPJ.0", MISSING),  # text is not indexed
        ("Notes.Text", MISSING),
        ("", MISSING),
    ],
)
def test_get_path(path, expected):
    assert get_path(CUSTOMER, path) == expected


def test_get_path_prefers_a_flattened_key_and_survives_any_record():
    assert get_path({"Address.City": "Recife", "Address": {"City": "Olinda"}}, "Address.City") == "Recife"
    assert get_path(None, "a") is MISSING
    assert get_path(["x", "y"], "1") == "y"
    assert get_path("text", "0") is MISSING
    assert not MISSING
    assert repr(MISSING) == "MISSING"


# ---------------------------------------------------------------- filter rules

APPROVED_CREDIT = [{"name": "approved credit", "field": "CreditStatus", "op": "eq", "value": "A"}]
ACTIVE_PRODUCTS = [{"name": "active products", "field": "Active", "op": "eq", "value": True}]


def rejects(record, rules) -> bool:
    return first_rejecting_rule(record, FilterRule.from_json(rules)) is not None


@pytest.mark.parametrize(
    ("status", "rejected"),
    [("A", False), (" a ", False), ("P", True), ("B", True), (None, True), ("", True), (["A"], True)],
)
def test_only_customers_with_approved_credit(status, rejected):
    assert rejects({**CUSTOMER, "CreditStatus": status}, APPROVED_CREDIT) is rejected


def test_a_customer_without_credit_status_is_rejected():
    record = {key: value for key, value in CUSTOMER.items() if key != "CreditStatus"}
    assert rejects(record, APPROVED_CREDIT)


@pytest.mark.parametrize(
    ("active", "rejected"),
    [
        ("S", False),
        ("sim", False),
        (True, False),
        (1, False),
        ("true", False),
        ("N", True),
        (False, True),
        (0, True),
        ("talvez", True),
        (None, True),
    ],
)
def test_only_active_products(active, rejected):
    assert rejects({"Code": "P-1", "Active": active}, ACTIVE_PRODUCTS) is rejected


@pytest.mark.parametrize(
    ("rule", "record", "accepted"),
    [
        # not equals: a missing field is not the excluded value
        ({"field": "UF", "op": "ne", "value": "EX"}, {"UF": "SP"}, True),
        ({"field": "UF", "op": "ne", "value": "EX"}, {"UF": "ex"}, False),
        ({"field": "UF", "op": "ne", "value": "EX"}, {}, True),
        ({"field": "UF", "op": "ne", "value": "EX"}, {"UF": {"code": "SP"}}, False),  # cannot compare: reject
        # numbers compare as numbers, whatever their type
        ({"field": "Qty", "op": "eq", "value": 10}, {"Qty": "10.0"}, True),
        ({"field": "Qty", "op": "eq", "value": "10"}, {"Qty": 10}, True),
        # dates compare as instants
        ({"field": "At", "op": "eq", "value": "2023-11-14T10:00:00Z"}, {"At": "2023-11-14T07:00:00-03:00"}, True),
        ({"field": "Day", "op": "eq", "value": "2023-11-14"}, {"Day": date(2023, 11, 14)}, True),
        # in
        ({"field": "UF", "op": "in", "value": ["SP", "RJ"]}, {"UF": "RJ"}, True),
        ({"field": "UF", "op": "in", "value": ["SP", "RJ"]}, {"UF": "MG"}, False),
        ({"field": "Type", "op": "in", "value": [1, 2]}, {"Type": "2"}, True),
        ({"field": "UF", "op": "in", "value": []}, {"UF": "SP"}, False),
        # greater / less than: numbers, then dates, then text
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": 1500.5}, True),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": "1500,50"}, True),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": "999"}, False),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": "15.000,00"}, True),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": "1,500.00"}, True),
        ({"field": "CreditLimit", "op": "lt", "value": 1000}, {"CreditLimit": "1.000,01"}, False),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": 1000}, False),
        ({"field": "CreditLimit", "op": "lt", "value": "1000"}, {"CreditLimit": 200}, True),
        ({"field": "UpdatedAt", "op": "gt", "value": "2023-01-01"}, {"UpdatedAt": "2023-11-14T10:00:00-03:00"}, True),
        ({"field": "UpdatedAt", "op": "lt", "value": "2023-01-01"}, {"UpdatedAt": date(2022, 12, 31)}, True),
        (
            {"field": "UpdatedAt", "op": "gt", "value": "2023-11-14T12:00:00Z"},
            {"UpdatedAt": datetime(2023, 11, 14, 13)},
            True,
        ),
        ({"field": "Name", "op": "gt", "value": "M"}, {"Name": "padaria"}, True),
        # a type mismatch rejects
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": "unlimited"}, False),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": [5000]}, False),
        ({"field": "CreditLimit", "op": "gt", "value": 1000}, {"CreditLimit": True}, False),
        ({"field": "CreditLimit", "op": "lt", "value": 1000}, {"CreditLimit": None}, False),
        ({"field": "CreditLimit", "op": "lt", "value": 1000}, {}, False),
        # empty / not empty
        ({"field": "Email", "op": "empty"}, {}, True),
        ({"field": "Email", "op": "empty"}, {"Email": None}, True),
        ({"field": "Email", "op": "empty"}, {"Email": "  "}, True),
        ({"field": "Email", "op": "empty"}, {"Email": []}, True),
        ({"field": "Email", "op": "empty"}, {"Email": {}}, True),
        ({"field": "Email", "op": "empty"}, {"Email": 0}, False),
        ({"field": "Email", "op": "not_empty"}, {"Email": "a@b.com.br"}, True),
        ({"field": "Address.Zip", "op": "not_empty"}, CUSTOMER, True),
        ({"field": "Phones.5.Number", "op": "not_empty"}, CUSTOMER, False),
        # matches: a regular expression searched in the value as text
        (
            {"field": "Doc", "op": "matches", "value": r"^\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}$"},
            {"Doc": "11.222.333/0001-81"},
            True,
        ),
        (
            {"field": "Doc", "op": "matches", "value": r"^\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}$"},
            {"Doc": "529.982.247-25"},
            False,
        ),
        ({"field": "Doc", "op": "matches", "value": r"^\d{14}$"}, {"Doc": 11222333000181}, True),  # a number as written
        ({"field": "Code", "op": "matches", "value": "^(?!HS-)"}, {"Code": "HS-501"}, False),
        ({"field": "Code", "op": "matches", "value": "^(?!HS-)"}, {"Code": "LOJA-7"}, True),
        ({"field": "Code", "op": "matches", "value": "^(?!HS-)"}, {}, True),  # missing: the empty text
        ({"field": "Code", "op": "matches", "value": "^(?!HS-)"}, {"Code": None}, True),
        ({"field": "Code", "op": "matches", "value": "."}, {"Code": ["HS-1"]}, False),
        ({"field": "Code", "op": "matches", "value": "."}, {"Code": True}, False),
    ],
)
def test_rule_operators(rule, record, accepted):
    (parsed,) = FilterRule.from_json([rule])
    assert parsed.accepts(record) is accepted


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("15.000,00", {"decimal_separator": ","}),
        ("R$ 1.500,00", {"decimal_separator": ","}),
        ("1,500.00", {}),
        ("-0,5", {"decimal_separator": ","}),
        ("1e3", {}),
        (" 10 ", {}),
    ],
)
def test_a_rule_reads_a_number_as_the_decimal_transform_does(text, options):
    number = apply_transform(Transform.DECIMAL, text, options)
    (equals,) = FilterRule.from_json([{"field": "Total", "op": "eq", "value": str(number)}])
    (above,) = FilterRule.from_json([{"field": "Total", "op": "gt", "value": number - 1}])
    assert equals.accepts({"Total": text})
    assert above.accepts({"Total": text})


def test_rules_combine_with_and_and_report_the_first_rejecting_one():
    rules = FilterRule.from_json(
        [
            *APPROVED_CREDIT,
            {"field": "CreditLimit", "op": "gt", "value": 1000},
            {"name": "has a CNPJ", "field": "CNPJ", "op": "not_empty"},
        ]
    )
    assert first_rejecting_rule(CUSTOMER, rules) is None
    record = {**CUSTOMER, "CreditLimit": "500", "CNPJ": ""}
    rejecting = first_rejecting_rule(record, rules)
    assert rejecting is rules[1]
    assert rejecting.label == "CreditLimit is greater than 1000"
    assert rejecting.explain(record) == 'skipped by the rule "CreditLimit is greater than 1000": CreditLimit is "500"'
    assert rules[0].explain({}) == 'skipped by the rule "approved credit": CreditStatus is missing'
    assert first_rejecting_rule(CUSTOMER, []) is None


def test_rules_from_json():
    assert FilterRule.from_json(None) == []
    assert FilterRule.from_json([]) == []
    assert FilterRule.from_json([{"field": " Active ", "op": "not_empty"}]) == [
        FilterRule(name="", field="Active", op="not_empty", value=None)
    ]
    with pytest.raises(ValueError, match='rule 1: unknown operator "like"'):
        FilterRule.from_json([{"field": "Name", "op": "like", "value": "A%"}])
    with pytest.raises(ValueError, match="filter rules must be a list"):
        FilterRule.from_json({"field": "Name"})


# ---------------------------------------------------------------- field mappings

COMPANY_SPECS = [
    FieldSpec("CODPARC", "ExternalId"),
    FieldSpec("RazaoSocial", "Name", Transform.TRIM, required=True),
    FieldSpec("CNPJ", "CNPJ", Transform.CNPJ, required=True),
    FieldSpec("CreditLimit", "CreditLimit", Transform.DECIMAL, {"decimal_separator": ",", "places": 2}),
    FieldSpec("Active", "Active", Transform.BOOLEAN),
    FieldSpec("UF", "Address.State", Transform.VALUE_MAP, {"map": {"SP": "São Paulo", "RJ": "Rio de Janeiro"}}),
    FieldSpec("Address.City", "Address.City", Transform.UPPER),
    FieldSpec("Address.Zip", "Address.ZipCode", Transform.DIGITS),
    FieldSpec("Phones.0.Number", "Phone", Transform.PHONE),
    FieldSpec("CreatedAt", "CreateDate", Transform.DATETIME, {"timezone": "America/Sao_Paulo"}),
    FieldSpec("", "OriginId", Transform.CONSTANT, {"value": 3}),
    FieldSpec("", "Description", Transform.TEMPLATE, {"template": "{Address.Street}, {Address.Number}"}),
    FieldSpec("Notes", "Notes"),
    FieldSpec("Email", "Email", Transform.LOWER),
]


def test_map_a_brazilian_company():
    result = map_record(CUSTOMER, COMPANY_SPECS)
    assert result.ok, result.errors
    assert result.values == {
        "ExternalId": 1042,
        "Name": "Padaria Pão Quente Ltda",
        "CNPJ": "11.222.333/0001-81",
        "CreditLimit": Decimal("15000.00"),
        "Active": True,
        "Address": {"State": "São Paulo", "City": "SÃO PAULO", "ZipCode": "01310100"},
        "Phone": "+55 11 3456-7890",
        "CreateDate": "2023-11-14T13:00:00+00:00",
        "OriginId": 3,
        "Description": "Rua Augusta, 1500",
        "Notes": None,  # sent as null: written as null
        # "Email" is not in the record: left out, so an update does not blank it
    }


def test_a_bad_field_gets_a_message_and_the_others_still_map():
    record = {**CUSTOMER, "CNPJ": "12.345.678/0001-00", "UF": "MG", "Active": "talvez"}
    result = map_record(record, COMPANY_SPECS)
    assert not result.ok
    assert result.errors == {
        "CNPJ": "CNPJ 12.345.678/0001-00 is invalid: the check digits do not match",
        "Address.State": '"MG" is not in the value map (known: SP, RJ)',
        "Active": '"talvez" is not a yes/no value (use true/false, yes/no, sim/não, 1/0)',
    }
    assert result.values["Name"] == "Padaria Pão Quente Ltda"
    assert "CNPJ" not in result.values
    assert result.message.startswith("CNPJ: CNPJ 12.345.678/0001-00 is invalid")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({}, "RazaoSocial is required but missing from the record"),
        ({"RazaoSocial": None}, "RazaoSocial is required but empty"),
        ({"RazaoSocial": "   "}, "RazaoSocial is required but empty"),
        ({"RazaoSocial": []}, "RazaoSocial is required but empty"),
    ],
)
def test_required_fields_name_the_source_path(record, message):
    result = map_record(record, [FieldSpec("RazaoSocial", "Name", Transform.TRIM, required=True)])
    assert result.errors == {"Name": message}
    assert result.values == {}


def test_required_field_empty_after_its_transform():
    spec = FieldSpec("CreatedAt", "CreateDate", Transform.DATE, required=True)
    assert map_record({"CreatedAt": "0000-00-00"}, [spec]).errors == {"CreateDate": "CreatedAt is required but empty"}
    assert map_record({"CreatedAt": "0000-00-00"}, [FieldSpec("CreatedAt", "CreateDate", Transform.DATE)]).values == {
        "CreateDate": None
    }


@pytest.mark.parametrize("telefone", [None, "", "   ", {}])
def test_an_empty_value_left_out_makes_no_list_element(telefone):
    phone = FieldSpec("TELEFONE", "Phones[0].PhoneNumber", Transform.TRIM, omit_empty=True)
    name = FieldSpec("NOMEPARC", "Name")

    assert map_record({"NOMEPARC": "ACME", "TELEFONE": telefone}, [name, phone]).values == {"Name": "ACME"}
    assert map_record({"NOMEPARC": "ACME"}, [name, phone]).values == {"Name": "ACME"}
    assert map_record({"NOMEPARC": "ACME", "TELEFONE": " (11) 3456-7890 "}, [name, phone]).values == {
        "Name": "ACME",
        "Phones": [{"PhoneNumber": "(11) 3456-7890"}],
    }
    without = FieldSpec("TELEFONE", "Phones[0].PhoneNumber", Transform.TRIM)  # as before: sent empty
    assert map_record({"TELEFONE": None}, [without]).values == {"Phones": [{"PhoneNumber": None}]}


def test_a_default_wins_over_leaving_an_empty_value_out():
    spec = FieldSpec("Currency", "Currency", default="BRL", omit_empty=True)
    assert map_record({"Currency": ""}, [spec]).values == {"Currency": "BRL"}


def test_a_required_mapping_cannot_also_leave_its_empty_value_out():
    mapping = FieldMapping(source_path="TELEFONE", target_field="Phone", required=True, omit_empty=True)
    with pytest.raises(ValidationError) as refused:
        mapping.clean()
    assert refused.value.message_dict["omit_empty"] == [
        "A required field cannot be left out when empty: choose one of the two."
    ]


def test_clashing_targets_are_reported_not_overwritten():
    specs = [FieldSpec("Address", "Address"), FieldSpec("Address.City", "Address.City", Transform.UPPER)]
    result = map_record(CUSTOMER, specs)
    assert result.errors == {"Address.City": "the target field Address.City overlaps another mapping's target"}
    assert result.values["Address"] is CUSTOMER["Address"]
    assert CUSTOMER["Address"]["City"] == "São Paulo"  # the source record is never written into


def test_map_record_never_raises_on_odd_records():
    for record in (None, [], "text", {"CNPJ": {"nested": True}}, {"CNPJ": 1e300}):
        result = map_record(record, COMPANY_SPECS)
        assert isinstance(result.errors, dict)


def test_field_spec_from_an_unsaved_mapping():
    mapping = FieldMapping(
        source_path=" Address.City ",
        target_field="City",
        transform=Transform.VALUE_MAP,
        transform_options={"map": {"Sampa": "São Paulo"}},
        required=True,
    )
    spec = FieldSpec.from_model(mapping)
    assert spec == FieldSpec("Address.City", "City", Transform.VALUE_MAP, {"map": {"Sampa": "São Paulo"}}, True)
    blank = FieldSpec.from_model(FieldMapping(target_field="Origin", transform_options=None))
    assert (blank.source_path, blank.transform, blank.options, blank.required) == ("", "", {}, False)


# ---------------------------------------------------------------- hash


def test_hash_ignores_key_order_and_sees_every_change():
    values = map_record(CUSTOMER, COMPANY_SPECS).values
    reordered = dict(reversed(list(values.items())))
    reordered["Address"] = dict(reversed(list(values["Address"].items())))
    assert values_hash(values) == values_hash(reordered)
    assert len(values_hash(values)) == 64

    changed = {**values, "Address": {**values["Address"], "City": "CAMPINAS"}}
    assert values_hash(changed) != values_hash(values)
    assert values_hash({**values, "Notes": ""}) != values_hash(values)
    assert values_hash({**values, "Active": 1}) != values_hash(values)


def test_hash_of_python_values_is_stable():
    values = {
        "Amount": Decimal("10.50"),
        "Day": date(2023, 11, 14),
        "At": datetime(2023, 11, 14, 10),
        "Tags": {"b", "a"},
    }
    again = {
        "Tags": {"a", "b"},
        "At": datetime(2023, 11, 14, 10),
        "Day": date(2023, 11, 14),
        "Amount": Decimal("10.50"),
    }
    assert values_hash(values) == values_hash(again)
    assert values_hash({1: "a"}) == values_hash({"1": "a"})
    assert values_hash({"a": 10**5000}) != values_hash({"a": 10**5000 + 1})
