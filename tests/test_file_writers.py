"""Files written for ERPs that import them: complete or absent, and read back as they were written."""

import os
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.connectors.files import FileError, read_csv, read_xlsx, write_csv, write_xlsx

HEADER = ["codigo", "descricao", "preco", "emissao"]
ROWS = [
    ["1", "AÇÚCAR; refinado", Decimal("1234.56"), date(2026, 3, 2)],
    ["2", 'linha 1\r\nlinha 2 "aspas"', 7.9, datetime(2026, 3, 3, 14, 30)],
    ["3", None, 10, None],
]


def test_a_csv_for_an_erp_is_written_with_its_separator_encoding_and_decimal_comma(tmp_path):
    path = tmp_path / "notas.csv"
    assert write_csv(path, HEADER, ROWS, delimiter=";", encoding="cp1252", decimal_point=",") == 3
    content = path.read_bytes()
    assert content.decode("cp1252") == (
        "codigo;descricao;preco;emissao\r\n"
        '1;"AÇÚCAR; refinado";1234,56;02/03/2026\r\n'
        '2;"linha 1\r\nlinha 2 ""aspas""";7,9;03/03/2026 14:30:00\r\n'
        "3;;10;\r\n"
    )
    assert os.listdir(tmp_path) == ["notas.csv"]
    rows = list(read_csv(path, numbers=["preco"]))
    assert [row.values for row in rows] == [
        {"codigo": "1", "descricao": "AÇÚCAR; refinado", "preco": Decimal("1234.56"), "emissao": "02/03/2026"},
        {
            "codigo": "2",
            "descricao": 'linha 1\r\nlinha 2 "aspas"',
            "preco": Decimal("7.9"),
            "emissao": "03/03/2026 14:30:00",
        },
        {"codigo": "3", "descricao": "", "preco": Decimal("10"), "emissao": ""},
    ]


def test_a_utf8_csv_may_start_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    write_csv(path, ["nome"], [["Ação"]], encoding="utf-8-sig", delimiter=",", decimal_point=".")
    assert path.read_bytes() == b"\xef\xbb\xbfnome\r\nA\xc3\xa7\xc3\xa3o\r\n"


def test_an_xlsx_for_an_erp_keeps_types_and_writes_text_as_text(tmp_path):
    path = tmp_path / "notas.xlsx"
    rows = [*ROWS, ["4", '=HYPERLINK("http://x")', Decimal("0.1"), date(2026, 1, 31)]]
    assert write_xlsx(path, HEADER, rows, sheet="Notas") == 4
    read = list(read_xlsx(path, sheet="Notas"))
    assert [(row.line, row.values) for row in read] == [
        (2, {"codigo": "1", "descricao": "AÇÚCAR; refinado", "preco": 1234.56, "emissao": datetime(2026, 3, 2)}),
        (
            3,
            {
                "codigo": "2",
                "descricao": 'linha 1\r\nlinha 2 "aspas"',
                "preco": 7.9,
                "emissao": datetime(2026, 3, 3, 14, 30),
            },
        ),
        (4, {"codigo": "3", "descricao": None, "preco": 10, "emissao": None}),
        (5, {"codigo": "4", "descricao": '=HYPERLINK("http://x")', "preco": 0.1, "emissao": datetime(2026, 1, 31)}),
    ]
    workbook = openpyxl.load_workbook(path)
    assert workbook["Notas"]["B5"].data_type == "s"  # text, not a formula
    assert workbook["Notas"]["D2"].number_format == "dd/mm/yyyy"


def failing_rows(count: int):
    for number in range(count):
        yield [str(number), "x", 1, None]
    raise RuntimeError("the source stopped answering")


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_a_write_that_fails_midway_leaves_no_file_and_no_temporary_file(tmp_path, writer):
    path = tmp_path / "saida"
    with pytest.raises(RuntimeError, match="the source stopped answering"):
        writer(path, HEADER, failing_rows(500))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_a_failed_write_over_an_old_file_leaves_the_old_file_whole(tmp_path, writer):
    path = tmp_path / "saida"
    path.write_bytes(b"the file the ERP imported yesterday")
    with pytest.raises(RuntimeError):
        writer(path, HEADER, failing_rows(10))
    assert path.read_bytes() == b"the file the ERP imported yesterday"
    assert os.listdir(tmp_path) == ["saida"]


def test_a_character_the_encoding_lacks_or_a_row_of_the_wrong_width_writes_nothing(tmp_path):
    path = tmp_path / "x.csv"
    with pytest.raises(FileError) as raised:
        write_csv(path, ["nome"], [["Ana"], ["日本"]], encoding="cp1252")
    assert str(raised.value) == 'Row 2 holds "日本", which Windows-1252 cannot write: the file was not written.'
    with pytest.raises(FileError) as raised:
        write_csv(path, ["a", "b"], [["1", "2"], ["3"]])
    assert str(raised.value) == "Row 2 has 1 values where the header has 2: the file was not written."
    assert os.listdir(tmp_path) == []


# Text as Brazilian ERPs write it: in Windows-1252, accented letters are bytes from 0xC0 up, never valid UTF-8.
PORTUGUESE = "ÀÁÂÃÇÉÊÍÓÔÕÚÜàáâãçéêíóôõúü"
PIECES = [chr(code) for code in range(32, 127)] + list(PORTUGUESE) + ["\r\n", "\n"]
VALUE = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ÇÃ", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.lists(NAME, min_size=2, max_size=5, unique=True),  # one column: see test_file_readers
    data=st.data(),
    delimiter=st.sampled_from([";", ","]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_what_the_csv_writer_writes_the_csv_reader_reads_back(tmp_path, header, data, delimiter, encoding):
    rows = data.draw(st.lists(st.lists(VALUE, min_size=len(header), max_size=len(header)), max_size=8))
    path = tmp_path / "ida-e-volta.csv"
    write_csv(path, header, rows, delimiter=delimiter, encoding=encoding)
    read = list(read_csv(path))
    assert all(row.ok for row in read)
    expected = [
        dict(zip(header, row, strict=True)) for row in rows if any(value.strip() for value in row) or len(row) > 1
    ]
    assert [row.values for row in read] == expected
