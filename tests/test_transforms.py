"""Field transforms: Brazilian documents, phones, dates across time zones, numbers, yes/no, maps."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sync.choices import Transform
from sync.transforms import TRANSFORMS, TransformError, apply_transform


def run(transform, value, options=None, record=None):
    return apply_transform(transform, value, options or {}, record)


def error_of(transform, value, options=None, record=None) -> str:
    with pytest.raises(TransformError) as caught:
        run(transform, value, options, record)
    return caught.value.message


def test_every_transform_choice_has_a_function():
    assert set(TRANSFORMS) == set(Transform.values)


def test_unknown_transform_and_bad_options_are_transform_errors():
    assert error_of("soundex", "x") == 'unknown transform "soundex"'
    with pytest.raises(TransformError):
        apply_transform(Transform.TRIM, "x", ["not", "a", "mapping"])
    assert "wrong type" in error_of(Transform.DECIMAL, "1", {"places": "2"})
    assert 'needs the option "map"' in error_of(Transform.VALUE_MAP, "CA", {})


def test_copy_keeps_the_value_as_is():
    value = {"City": "Recife", "Phones": [1, 2]}
    assert run(Transform.NONE, value) is value


# ---------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("transform", "value", "expected"),
    [
        (Transform.TRIM, "  Padaria Pão Quente  ", "Padaria Pão Quente"),
        (Transform.UPPER, "são paulo", "SÃO PAULO"),
        (Transform.LOWER, "FINANCEIRO@ACME.COM.BR", "financeiro@acme.com.br"),
        (Transform.TRIM, None, None),
        (Transform.UPPER, 42, 42),
        (Transform.LOWER, True, True),
        (Transform.DIGITS, "(11) 98765-4321", "11987654321"),
        (Transform.DIGITS, "CEP 01310-100", "01310100"),
        (Transform.DIGITS, 1310100, "1310100"),
        (Transform.DIGITS, None, None),
    ],
)
def test_text_transforms(transform, value, expected):
    assert run(transform, value) == expected


def test_text_transforms_refuse_lists_and_objects():
    assert error_of(Transform.TRIM, ["a"]) == 'transform "trim" expects text, got a list'
    assert error_of(Transform.DIGITS, {"a": 1}) == "expected text, got an object"


# ---------------------------------------------------------------- CNPJ and CPF


@pytest.mark.parametrize(
    "value",
    ["11.222.333/0001-81", "11222333000181", " 11 222 333 0001 81 ", 11222333000181, "11.222.333/0001-81\n"],
)
def test_cnpj_is_validated_and_formatted(value):
    assert run(Transform.CNPJ, value) == "11.222.333/0001-81"


def test_cnpj_sent_as_a_number_gets_its_leading_zeros_back():
    # Banco do Brasil's CNPJ 00.000.000/0001-91 read from a numeric ERP column.
    assert run(Transform.CNPJ, 191) == "00.000.000/0001-91"
    assert run(Transform.CNPJ, 623904000173) == "00.623.904/0001-73"


def test_alphanumeric_cnpj_from_2026():
    assert run(Transform.CNPJ, "12.ABC.345/01DE-35") == "12.ABC.345/01DE-35"
    assert run(Transform.CNPJ, "12abc34501de35") == "12.ABC.345/01DE-35"
    assert "check digits" in error_of(Transform.CNPJ, "12.ABC.345/01DE-36")


def test_invalid_cnpj_message_shows_the_input():
    message = error_of(Transform.CNPJ, "12.345.678/0001-00")
    assert message == "CNPJ 12.345.678/0001-00 is invalid: the check digits do not match"
    assert error_of(Transform.CNPJ, "11.222.333/0001") == (
        "CNPJ 11.222.333/0001 is invalid: it must have 14 digits (or 12 letters or digits and 2 check digits)"
    )
    assert error_of(Transform.CNPJ, "00.000.000/0000-00").endswith("all its digits are the same")
    assert error_of(Transform.CNPJ, True) == "expected text, got a yes/no value"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("529.982.247-25", "529.982.247-25"),
        ("52998224725", "529.982.247-25"),
        ("012.345.678-90", "012.345.678-90"),
        (1234567890, "012.345.678-90"),  # a numeric column drops the leading zero
    ],
)
def test_cpf_is_validated_and_formatted(value, expected):
    assert run(Transform.CPF, value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("529.982.247-26", "the check digits do not match"),
        ("111.111.111-11", "all its digits are the same"),
        ("529.982.247", "it must have 11 digits"),
        ("529.982.247-2X", "it must have 11 digits"),
    ],
)
def test_invalid_cpf(value, reason):
    assert error_of(Transform.CPF, value) == f"CPF {value} is invalid: {reason}"


def test_cnpj_or_cpf_by_length():
    assert run(Transform.CNPJ_CPF, "529.982.247-25") == "529.982.247-25"
    assert run(Transform.CNPJ_CPF, "11222333000181") == "11.222.333/0001-81"
    assert run(Transform.CNPJ_CPF, 11222333000181) == "11.222.333/0001-81"
    assert run(Transform.CNPJ_CPF, 52998224725) == "529.982.247-25"
    assert error_of(Transform.CNPJ_CPF, "1234") == "CNPJ/CPF 1234 is invalid: it must have 11 digits (CPF) or 14 (CNPJ)"
    assert error_of(Transform.CNPJ_CPF, "11.222.333/0001-80").startswith("CNPJ 11.222.333/0001-80 is invalid")


@pytest.mark.parametrize("transform", [Transform.CNPJ, Transform.CPF, Transform.CNPJ_CPF, Transform.PHONE])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_documents_and_phones_turn_blank_into_none(transform, blank):
    assert run(transform, blank) is None


# ---------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(11) 98765-4321", "+55 11 98765-4321"),
        ("11987654321", "+55 11 98765-4321"),
        (11987654321, "+55 11 98765-4321"),
        ("+55 (11) 98765-4321", "+55 11 98765-4321"),
        ("5511987654321", "+55 11 98765-4321"),
        ("0055 11 98765 4321", "+55 11 98765-4321"),
        ("011 98765-4321", "+55 11 98765-4321"),  # trunk prefix
        ("0 21 11 98765-4321", "+55 11 98765-4321"),  # trunk prefix and carrier code
        ("(11) 3456-7890", "+55 11 3456-7890"),
        ("+55 21 2345-6789", "+55 21 2345-6789"),
        ("55 98765-4321", "+55 55 98765-4321"),  # area code 55 (Santa Maria, RS), not the country
        ("0800 123 4567", "0800 123 4567"),
        ("+1 (212) 555-0123", "+12125550123"),
    ],
)
def test_brazilian_phones(value, expected):
    assert run(Transform.PHONE, value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("98765-4321", "a Brazilian number has an area code and 8 or 9 digits"),
        ("(20) 98765-4321", "20 is not an area code"),
        ("(11) 88765-4321", "a 9-digit mobile number starts with 9"),
        ("(11) 1456-7890", "a landline number starts with 2 to 9"),
        ("ligar depois", "a Brazilian number has an area code and 8 or 9 digits"),
    ],
)
def test_invalid_phones(value, reason):
    assert error_of(Transform.PHONE, value) == f"phone {value} is invalid: {reason}"


def test_phone_default_country_code():
    options = {"default_country_code": "1"}
    assert run(Transform.PHONE, "(212) 555-0123", options) == "+12125550123"
    assert run(Transform.PHONE, "+55 11 98765-4321", options) == "+55 11 98765-4321"
    assert run(Transform.PHONE, "11 98765-4321", {"default_country_code": "+55"}) == "+55 11 98765-4321"
    assert "1 to 3 digits" in error_of(Transform.PHONE, "1", {"default_country_code": "BR"})


# ---------------------------------------------------------------- date


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("2023-11-14", {}, "2023-11-14"),
        ("20231114", {}, "2023-11-14"),  # TOTVS Protheus
        ("2023-11-14T23:30:00-03:00", {}, "2023-11-14"),  # the date where it was written, not in UTC
        ("/Date(1700000000000)/", {}, "2023-11-14"),
        ("/Date(1700017200000-0300)/", {}, "2023-11-15"),
        (date(2023, 11, 14), {}, "2023-11-14"),
        (datetime(2023, 11, 14, 8, 0), {}, "2023-11-14"),
        ("14/11/2023", {"input_format": "%d/%m/%Y"}, "2023-11-14"),
        ("2023-11-14", {"output_format": "%d/%m/%Y"}, "14/11/2023"),
        (20231114, {"input_format": "%Y%m%d"}, "2023-11-14"),
        (1700000000, {"input_format": "epoch"}, "2023-11-14"),
        ("1700000000000", {"input_format": "epoch_ms"}, "2023-11-14"),
        ("0000-00-00", {}, None),
        ("00/00/0000", {}, None),
        ("  ", {}, None),
        (None, {}, None),
    ],
)
def test_dates(value, options, expected):
    assert run(Transform.DATE, value, options) == expected


def test_date_errors_say_what_to_do():
    assert error_of(Transform.DATE, "14/11/2023") == (
        '"14/11/2023" is not a date; use ISO 8601 (2023-11-14T10:30:00-03:00) or set "input_format"'
    )
    assert error_of(Transform.DATE, "2023-11-14", {"input_format": "%d/%m/%Y"}) == (
        '"2023-11-14" does not match the format "%d/%m/%Y"'
    )
    assert error_of(Transform.DATE, "2023-02-30").startswith('"2023-02-30" is not a date')
    assert error_of(Transform.DATE, 1700000000) == "expected a date, got a number"
    assert error_of(Transform.DATE, "/Date(999999999999999999)/").startswith('"/Date(')


# ---------------------------------------------------------------- datetime


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        # Naive times are read in the time zone, written in UTC.
        ("2023-11-14 10:00", "America/Sao_Paulo", "2023-11-14T13:00:00+00:00"),
        ("2023-11-14 10:00", None, "2023-11-14T10:00:00+00:00"),
        # São Paulo kept DST until 2019: summer time was UTC-2.
        ("2018-01-15 12:00", "America/Sao_Paulo", "2018-01-15T14:00:00+00:00"),
        # New York across the change of 2023-03-12 02:00 EST → 03:00 EDT.
        ("2023-03-12T01:30:00", "America/New_York", "2023-03-12T06:30:00+00:00"),
        ("2023-03-12T03:30:00", "America/New_York", "2023-03-12T07:30:00+00:00"),
        # 02:30 does not exist that day: read with the offset before the change (PEP 495, fold=0).
        ("2023-03-12T02:30:00", "America/New_York", "2023-03-12T07:30:00+00:00"),
        # 01:30 happens twice on 2023-11-05: the first one (EDT) is taken.
        ("2023-11-05T01:30:00", "America/New_York", "2023-11-05T05:30:00+00:00"),
        # Midnight 2018-11-04 did not exist in São Paulo (DST began at 00:00).
        ("2018-11-04", "America/Sao_Paulo", "2018-11-04T03:00:00+00:00"),
        # An explicit offset wins over the option.
        ("2023-11-14T10:00:00-05:00", "America/Sao_Paulo", "2023-11-14T15:00:00+00:00"),
        ("2023-11-14T10:00:00Z", "America/Sao_Paulo", "2023-11-14T10:00:00+00:00"),
        ("/Date(1700000000000)/", "America/Sao_Paulo", "2023-11-14T22:13:20+00:00"),
        ("/Date(1700000000000-0300)/", None, "2023-11-14T22:13:20+00:00"),
    ],
)
def test_datetimes_across_time_zones(value, zone, expected):
    options = {"timezone": zone} if zone else {}
    assert run(Transform.DATETIME, value, options) == expected


def test_datetime_python_values():
    aware = datetime(2023, 11, 14, 10, 0, tzinfo=timezone(timedelta(hours=-3)))
    assert run(Transform.DATETIME, aware) == "2023-11-14T13:00:00+00:00"
    assert run(Transform.DATETIME, datetime(2023, 11, 14, 10, 0), {"timezone": "America/New_York"}) == (
        "2023-11-14T15:00:00+00:00"
    )
    assert run(Transform.DATETIME, date(2023, 11, 14), {"timezone": "America/Sao_Paulo"}) == (
        "2023-11-14T03:00:00+00:00"
    )


def test_datetime_output_format_is_local_to_the_time_zone():
    # The ERP wants Brasília time as dd/mm/yyyy HH:MM:SS.
    options = {"timezone": "America/Sao_Paulo", "output_format": "%d/%m/%Y %H:%M:%S"}
    assert run(Transform.DATETIME, "2023-11-14T10:00:00Z", options) == "14/11/2023 07:00:00"
    options = {"input_format": "%d/%m/%Y %H:%M:%S", "timezone": "America/Sao_Paulo"}
    assert run(Transform.DATETIME, "14/11/2023 07:00:00", options) == "2023-11-14T10:00:00+00:00"


def test_datetime_errors():
    assert error_of(Transform.DATETIME, "2023-11-14", {"timezone": "Mars/Olympus"}) == (
        'unknown time zone "Mars/Olympus"'
    )
    assert error_of(Transform.DATETIME, "2023-11-14", {"timezone": "America"}) == 'unknown time zone "America"'
    assert "out of the date range" in error_of(Transform.DATETIME, "0001-01-01T00:00:00+01:00")
    assert error_of(Transform.DATETIME, [2023, 11, 14]) == "expected a date, got a list"
    assert run(Transform.DATETIME, datetime(2023, 1, 1, tzinfo=UTC)) == "2023-01-01T00:00:00+00:00"


# ---------------------------------------------------------------- decimal


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("1.234,56", {"decimal_separator": ","}, "1234.56"),
        ("1234,56", {"decimal_separator": ","}, "1234.56"),
        ("R$ 1.234.567,89", {"decimal_separator": ","}, "1234567.89"),
        ("-0,5", {"decimal_separator": ","}, "-0.5"),
        ("1234.56", {}, "1234.56"),
        ("1,234.56", {}, "1234.56"),
        (" 10 ", {}, "10"),
        (1234, {}, "1234"),
        (0.1, {}, "0.1"),
        (Decimal("19.90"), {}, "19.90"),
        ("1e3", {}, "1000"),
        # places rounds half up (not to even, and not through binary floats)
        (2.675, {"places": 2}, "2.68"),
        ("0,125", {"places": 2, "decimal_separator": ","}, "0.13"),
        ("0.5", {"places": 0}, "1"),
        ("-0.5", {"places": 0}, "-1"),
        (10, {"places": 2}, "10.00"),
        ("-0,001", {"places": 2, "decimal_separator": ","}, "0.00"),
        (None, {}, None),
        ("", {}, None),
    ],
)
def test_decimals(value, options, expected):
    result = run(Transform.DECIMAL, value, options)
    if expected is None:
        assert result is None
    else:  # a Decimal (a JSON number in a body) with exactly these digits
        assert isinstance(result, Decimal)
        assert format(result, "f") == expected


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [
        (float("nan"), {}, "nan is not a number"),
        (float("inf"), {}, "inf is not a number"),
        (Decimal("NaN"), {}, "NaN is not a number"),
        ("NaN", {}, '"NaN" is not a number'),
        ("1234,56", {}, '"1234,56" is not a number; for a decimal comma set "decimal_separator" to ","'),
        ("12,34,56", {}, '"12,34,56" is not a number'),
        ("1.234,56", {}, '"1.234,56" is not a number; for a decimal comma set "decimal_separator" to ","'),
        ("dez reais", {}, '"dez reais" is not a number'),
        (True, {}, "expected a number, got a yes/no value"),
        ("1e999", {}, "1e999 is out of range"),
        ("1", {"decimal_separator": ";"}, 'option "decimal_separator" must be "." or ","'),
        ("1", {"places": 99}, 'option "places" must be between 0 and 20'),
    ],
)
def test_decimal_errors(value, options, message):
    assert error_of(Transform.DECIMAL, value, options) == message


# ---------------------------------------------------------------- boolean


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(word, True) for word in ("true", "TRUE", "1", "yes", "sim", "Sim", "s", "S", "X", " y ")],
        *[(word, False) for word in ("false", "0", "no", "não", "NÃO", "nao", "n", "N", "F")],
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        (None, None),
        ("", None),
    ],
)
def test_booleans(value, expected):
    assert run(Transform.BOOLEAN, value) is expected


def test_boolean_option_lists_add_words():
    options = {"true_values": ["Ativo", "A"], "false_values": ["Inativo", "I", 2]}
    assert run(Transform.BOOLEAN, "ativo", options) is True
    assert run(Transform.BOOLEAN, "I", options) is False
    assert run(Transform.BOOLEAN, 2, options) is False
    assert run(Transform.BOOLEAN, "sim", options) is True


def test_boolean_errors():
    assert error_of(Transform.BOOLEAN, "talvez") == (
        '"talvez" is not a yes/no value (use true/false, yes/no, sim/não, 1/0)'
    )
    assert "is not a yes/no value" in error_of(Transform.BOOLEAN, 2)
    assert "is not a yes/no value" in error_of(Transform.BOOLEAN, float("nan"))


# ---------------------------------------------------------------- value map, constant, template

STATES = {"map": {"SP": "São Paulo", "RJ": "Rio de Janeiro", "1": "Ativo", "true": "Sim"}}


def test_value_map():
    assert run(Transform.VALUE_MAP, "SP", STATES) == "São Paulo"
    assert run(Transform.VALUE_MAP, " RJ ", STATES) == "Rio de Janeiro"
    assert run(Transform.VALUE_MAP, 1, STATES) == "Ativo"
    assert run(Transform.VALUE_MAP, True, STATES) == "Sim"
    assert run(Transform.VALUE_MAP, None, STATES) is None
    assert run(Transform.VALUE_MAP, "MG", {**STATES, "default": "Outro"}) == "Outro"


def test_value_map_without_default_names_the_value():
    assert error_of(Transform.VALUE_MAP, "MG", STATES) == '"MG" is not in the value map (known: SP, RJ, 1, true)'
    assert error_of(Transform.VALUE_MAP, ["SP"], STATES).startswith(""""['SP']" is not in the value map""")


def test_constant_ignores_the_input():
    assert run(Transform.CONSTANT, "anything", {"value": 7}) == 7
    assert run(Transform.CONSTANT, None, {"value": None}) is None


CUSTOMER = {
    "FirstName": "Maria",
    "LastName": "Souza",
    "MiddleName": None,
    "Total": 1234.5,
    "Address": {"City": "Campinas", "State": "SP"},
    "Phones": [{"Number": "19 3232-1000"}],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{FirstName} {LastName}", "Maria Souza"),
        ("{Address.City}/{Address.State}", "Campinas/SP"),
        ("Tel. {Phones.0.Number}", "Tel. 19 3232-1000"),
        ("{FirstName}{MiddleName}", "Maria"),
        ("R$ {Total:.2f}", "R$ 1234.50"),
        ("{{literal}} {FirstName!r}", "{literal} 'Maria'"),
    ],
)
def test_template_reads_the_whole_record(text, expected):
    assert run(Transform.TEMPLATE, "ignored", {"template": text}, record=CUSTOMER) == expected


def test_template_errors():
    def template_error(text):
        return error_of(Transform.TEMPLATE, None, {"template": text}, CUSTOMER)

    assert template_error("{FirstName} {Nickname}") == "the template needs Nickname, which the record lacks"
    assert template_error("{FirstName").startswith("cannot fill the template")
    assert template_error("{Total:d}").startswith("cannot fill the template")
    assert "too wide" in template_error("{FirstName:>99999999}")
    assert "name a source field" in template_error("{}")


def test_template_without_a_record_reads_the_value():
    assert run(Transform.TEMPLATE, {"City": "Natal"}, {"template": "{City}/RN"}) == "Natal/RN"


@pytest.mark.parametrize(
    ("value", "expected"), [(1001, 1001), ("1001", 1001), (" 1.001 ", 1001), (1001.0, 1001), ("", None), (None, None)]
)
def test_integer_reads_whole_numbers(value, expected):
    assert apply_transform("integer", value) == expected


@pytest.mark.parametrize("value", ["12.5", "abc", True, float("nan"), "1e30", [1]])
def test_integer_refuses_what_is_not_a_whole_number(value):
    with pytest.raises(TransformError, match="is not a whole number"):
        apply_transform("integer", value)


@pytest.mark.parametrize("value", ["1,5", "2,500", "0,125", "1.5"])
def test_integer_reads_a_lone_separator_as_the_decimal_one(value):
    with pytest.raises(TransformError, match="is not a whole number"):
        apply_transform("integer", value)


@pytest.mark.parametrize(("value", "expected"), [("1.234.567", 1234567), ("1.234,00", 1234), ("1,234.00", 1234)])
def test_integer_reads_thousands_as_the_decimal_transform_does(value, expected):
    assert apply_transform("integer", value) == expected


def test_list_map_reshapes_order_lines():
    lines = [{"ProductCode": "P-1", "Quantity": 2, "Extra": "x"}, {"ProductCode": "P-2", "Quantity": 1.5}]
    options = {"fields": {"product_code": "ProductCode", "quantity": "Quantity"}}
    assert apply_transform("list_map", lines, options) == [
        {"product_code": "P-1", "quantity": 2},
        {"product_code": "P-2", "quantity": 1.5},
    ]
    assert apply_transform("list_map", None, options) == []


def test_list_map_names_the_item_that_lacks_a_field():
    options = {"fields": {"product_code": "ProductCode"}}
    with pytest.raises(TransformError, match="item 2 has no ProductCode"):
        apply_transform("list_map", [{"ProductCode": "P-1"}, {"Code": "P-2"}], options)
    with pytest.raises(TransformError, match="expected a list of items"):
        apply_transform("list_map", "P-1", options)
