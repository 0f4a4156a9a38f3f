"""The file-drop readers on real files: encodings, separators, layouts, limits, and what a bad file says.

Each file is written to a temporary folder in the bytes an ERP would write; the assertions are on
the values a mapping would receive, the line numbers and the words of each problem or refusal.
"""

import hashlib
import io
import tracemalloc
import zipfile
from datetime import datetime
from decimal import Decimal

import openpyxl
import pytest

from sync.connectors.files import (
    FileError,
    InvalidLayout,
    Limits,
    detect_delimiter,
    detect_encoding,
    parse_layout,
    read_csv,
    read_fixed_width,
    read_xlsx,
    sha256_of,
)

MB = 1024 * 1024


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def read_all(rows):
    """The rows a reader yielded before it stopped, and the error it stopped with (None when it finished)."""
    read = []
    try:
        for row in rows:
            read.append(row)
    except FileError as error:
        return read, str(error)
    return read, None


# ---------------------------------------------------------------- CSV: encodings and separators


def test_a_windows_1252_csv_with_decimal_commas_is_read_as_text_or_as_numbers(tmp_path):
    text = "código;descrição;preço\r\n1;AÇÚCAR;1.234,56\r\n2;FEIJÃO “CARIOCA”;7,90\r\n"
    path = write(tmp_path, "produtos.csv", text.encode("cp1252"))

    with open(path, "rb") as stream:
        assert detect_encoding(stream) == "cp1252"
    rows = list(read_csv(path))
    assert [(row.line, row.values) for row in rows] == [
        (2, {"código": "1", "descrição": "AÇÚCAR", "preço": "1.234,56"}),
        (3, {"código": "2", "descrição": "FEIJÃO “CARIOCA”", "preço": "7,90"}),
    ]
    typed = list(read_csv(path, numbers=["preço"]))
    assert [row.values["preço"] for row in typed] == [Decimal("1234.56"), Decimal("7.90")]


def test_a_latin_1_declared_file_is_read_with_its_encoding(tmp_path):
    path = write(tmp_path, "clientes.txt", "nome;cidade\nJOÃO;SÃO PAULO\n".encode("latin-1"))
    assert [row.values for row in read_csv(path, encoding="latin-1")] == [{"nome": "JOÃO", "cidade": "SÃO PAULO"}]


def test_a_utf8_file_with_a_byte_order_mark_names_its_first_column_without_it(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffcodigo,nome\n7,Ação\n".encode())
    with open(path, "rb") as stream:
        assert detect_encoding(stream) == "utf-8-sig"
    assert [row.values for row in read_csv(path)] == [{"codigo": "7", "nome": "Ação"}]


def test_comma_and_semicolon_separators_are_told_apart(tmp_path):
    semicolons = write(tmp_path, "a.csv", b"codigo;valor\n1;1,5\n2;2,25\n")
    commas = write(tmp_path, "b.csv", b'codigo,valor\n1,"1,5"\n2,"2,25"\n')
    assert [row.values for row in read_csv(semicolons)] == [
        {"codigo": "1", "valor": "1,5"},
        {"codigo": "2", "valor": "2,25"},
    ]
    assert [row.values for row in read_csv(commas)] == [row.values for row in read_csv(semicolons)]
    # A quoted header keeps its commas; a header using both picks by the sample.
    assert detect_delimiter(['"Código";"Preço, R$"\n', '1;"2,5"\n']) == ";"
    assert detect_delimiter(["a,b;c,d\n", "1,2;3,4\n", "5,6;7,8\n"]) == ","
    assert detect_delimiter(["valor\n", "1,5\n"]) == ";"  # one column: no separator to find


def test_a_declared_separator_is_used_as_declared(tmp_path):
    path = write(tmp_path, "pipe.csv", b"a|b;c\n1|2;3\n")
    assert [row.values for row in read_csv(path, delimiter="|")] == [{"a": "1", "b;c": "2;3"}]


def test_quoted_fields_hold_separators_and_line_breaks_and_later_lines_keep_their_numbers(tmp_path):
    text = 'codigo;observacao\r\n1;"entregar; à tarde\r\nportão 2"\r\n2;"diz ""urgente"""\r\n\r\n3;fim\r\n'
    path = write(tmp_path, "obs.csv", text.encode())
    rows = list(read_csv(path))
    assert [(row.line, row.values) for row in rows] == [
        (2, {"codigo": "1", "observacao": "entregar; à tarde\r\nportão 2"}),
        (4, {"codigo": "2", "observacao": 'diz "urgente"'}),
        (6, {"codigo": "3", "observacao": "fim"}),
    ]


def test_a_trailing_separator_on_every_line_is_no_extra_column(tmp_path):
    path = write(tmp_path, "trail.csv", b"a;b;\n1;2;\n3;4\n")
    assert [row.values for row in read_csv(path)] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


# ---------------------------------------------------------------- CSV: what a bad file says


def test_a_row_with_a_missing_field_is_reported_with_its_line_and_the_others_are_read(tmp_path):
    path = write(tmp_path, "faltando.csv", b"codigo;nome;valor\n1;Arroz;10\n2;Feijao\n3;Sal;2;x\n4;Oleo;8\n")
    rows = list(read_csv(path))
    assert [row.values for row in rows if row.ok] == [
        {"codigo": "1", "nome": "Arroz", "valor": "10"},
        {"codigo": "4", "nome": "Oleo", "valor": "8"},
    ]
    problems = [(row.line, str(row.problem), row.raw) for row in rows if not row.ok]
    assert problems == [
        (3, "Line 3 has 2 fields where the header has 3.", "2;Feijao\n"),
        (4, "Line 4 has 4 fields where the header has 3.", "3;Sal;2;x\n"),
    ]


def test_a_value_that_is_no_number_in_a_number_column_is_a_problem_of_its_row(tmp_path):
    path = write(tmp_path, "n.csv", b"codigo;valor\n1;12,50\n2;doze\n3;\n")
    rows = list(read_csv(path, numbers=["valor"]))
    assert rows[0].values == {"codigo": "1", "valor": Decimal("12.50")}
    assert str(rows[1].problem) == 'Line 3: the column "valor" holds "doze", which is not a number.'
    assert rows[2].values == {"codigo": "3", "valor": None}


def test_a_byte_the_declared_encoding_lacks_names_its_line_and_column_and_keeps_the_rows_before(tmp_path):
    content = "nome;cidade\nANA;RIO\nJOÃO;SÃO PAULO\n".encode("cp1252")
    path = write(tmp_path, "errado.csv", content)
    rows, error = read_all(read_csv(path, encoding="utf-8"))
    assert [row.values for row in rows] == [{"nome": "ANA", "cidade": "RIO"}]
    assert error == (
        "Line 3 cannot be read as UTF-8: the byte 0xC3 at column 3 is not a character of it. "
        "Save the file as UTF-8 or declare its encoding."
    )


def test_a_byte_neither_utf8_nor_windows_1252_is_refused_with_its_place(tmp_path):
    path = write(tmp_path, "lixo.csv", b"nome\nANA\nX\x81Y\n")
    rows, error = read_all(read_csv(path))
    assert [row.values for row in rows] == [{"nome": "ANA"}]
    assert error == (
        "Line 3 cannot be read: the byte 0x81 at column 2 is a character neither in UTF-8 nor in "
        "Windows-1252. Save the file as UTF-8 or declare its encoding."
    )


def test_empty_files_header_only_files_and_missing_columns(tmp_path):
    assert read_all(read_csv(write(tmp_path, "vazio.csv", b""))) == ([], "The file is empty: it has no header row.")
    assert read_all(read_csv(write(tmp_path, "branco.csv", b"\r\n\r\n"))) == (
        [],
        "The file is empty: it has no header row.",
    )
    assert read_all(read_csv(write(tmp_path, "so-cabecalho.csv", b"a;b\r\n"))) == ([], None)
    path = write(tmp_path, "faltam.csv", b"codigo;nome\n1;x\n")
    assert read_all(read_csv(path, required=["codigo", "cnpj", "email"])) == (
        [],
        'The header lacks the columns "cnpj", "email", which the layout requires; it has: "codigo", "nome".',
    )
    duplicated = write(tmp_path, "dup.csv", b"codigo;nome;codigo\n")
    assert read_all(read_csv(duplicated))[1] == 'The header names the column "codigo" twice (columns 1 and 3).'


def test_a_file_over_the_size_cap_is_refused_before_a_byte_is_read(tmp_path):
    class Watched(io.BytesIO):
        reads = 0

        def read(self, *args):
            self.reads += 1
            return super().read(*args)

        def readline(self, *args):
            self.reads += 1
            return super().readline(*args)

    stream = Watched(b"a;b\n" + b"1;2\n" * 1000)
    rows, error = read_all(read_csv(stream, limits=Limits(max_file_bytes=1000)))
    assert (rows, error) == ([], "The file has 3.9 KB, more than the 1000 B a file may have: it was not read.")
    assert stream.reads == 0
    path = write(tmp_path, "grande.txt", b"x" * 2048)
    assert read_all(
        read_fixed_width(path, [{"name": "x", "start": 1, "length": 1}], limits=Limits(max_file_bytes=1024))
    )[1] == ("The file has 2.0 KB, more than the 1.0 KB a file may have: it was not read.")


def test_a_line_longer_than_the_cap_stops_the_file_there_and_keeps_the_rows_before(tmp_path):
    path = write(tmp_path, "longa.csv", b"a;b\n1;2\n3;" + b"x" * 5000 + b"\n5;6\n")
    rows, error = read_all(read_csv(path, limits=Limits(max_line_bytes=4096)))
    assert [row.values for row in rows] == [{"a": "1", "b": "2"}]
    assert error == "Line 3 is longer than 4.0 KB: it was not read, nor anything after it."


def test_a_quote_left_open_is_refused_at_the_record_where_it_opened(tmp_path):
    path = write(tmp_path, "aspas.csv", b'a;b\n1;2\n3;"open\n' + b"4;5\n" * 3000)
    rows, error = read_all(read_csv(path, limits=Limits(max_line_bytes=4096)))
    assert [row.values for row in rows] == [{"a": "1", "b": "2"}]
    assert error == (
        "The record starting at line 3 is longer than 4.0 KB: is a quote left open? Nothing after it was read."
    )


def test_utf16_and_binary_files_are_refused_as_not_text(tmp_path):
    utf16 = write(tmp_path, "u16.csv", "a;b\n1;2\n".encode("utf-16"))
    assert read_all(read_csv(utf16))[1] == (
        "The file is in UTF-16, which cannot be read: save it as UTF-8 or Windows-1252."
    )
    binary = write(tmp_path, "planilha.csv", b"PK\x03\x04\x00\x00rest")
    assert read_all(read_csv(binary))[1].startswith("The file holds NUL bytes, so it is not a text file")


# ---------------------------------------------------------------- fixed width

LAYOUT = [
    {"name": "codigo", "start": 1, "length": 6},
    {"name": "nome", "start": 7, "end": 26},
    {"name": "valor", "start": 27, "length": 10},
]


def test_a_fixed_width_file_is_read_through_its_layout(tmp_path):
    lines = [
        f"{'000001':6}{'AÇÚCAR CRISTAL':20}{'1.234,56':>10}",
        f"{'000002':6}{'FEIJÃO':20}{'7,90':>10}",
        "",
        "000003SAL",
        f"{'000004':6}{'ÓLEO DE SOJA':20}{'12,00':>10}   filler",
    ]
    path = write(tmp_path, "produtos.txt", "\r\n".join(lines).encode("cp1252") + b"\r\n")
    rows = list(read_fixed_width(path, LAYOUT, numbers=["valor"]))
    assert [(row.line, row.values) for row in rows if row.ok] == [
        (1, {"codigo": "000001", "nome": "AÇÚCAR CRISTAL", "valor": Decimal("1234.56")}),
        (2, {"codigo": "000002", "nome": "FEIJÃO", "valor": Decimal("7.90")}),
        (5, {"codigo": "000004", "nome": "ÓLEO DE SOJA", "valor": Decimal("12.00")}),
    ]
    [short] = [row for row in rows if not row.ok]
    assert (short.line, str(short.problem), short.raw) == (
        4,
        "Line 4 has 9 characters, but the layout reads up to column 36.",
        "000003SAL",
    )


def test_a_fixed_width_heading_is_skipped_and_an_empty_file_is_refused(tmp_path):
    path = write(tmp_path, "cab.txt", f"RELATORIO DE PRODUTOS\n{'000001':6}{'ARROZ':20}{'10,00':>10}\n".encode())
    assert [row.values["nome"] for row in read_fixed_width(path, LAYOUT, skip_lines=1)] == ["ARROZ"]
    empty = write(tmp_path, "vazio.txt", b"\n\n")
    assert read_all(read_fixed_width(empty, LAYOUT)) == ([], "The file is empty: it has no line to read.")


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ([], "The layout declares no field."),
        ([{"name": "a", "start": 0, "length": 2}], 'The field "a" of the layout needs a start column of 1 or more.'),
        ([{"name": "a", "start": 1}], 'The field "a" of the layout needs either a length or an end column.'),
        (
            [{"name": "a", "start": 1, "length": 2, "end": 2}],
            'The field "a" of the layout needs either a length or an end column.',
        ),
        (
            [{"name": "a", "start": 5, "end": 4}],
            'The field "a" of the layout must end at or after its start column (5).',
        ),
        ([{"start": 1, "length": 2}], "Field 1 of the layout has no name."),
        (
            [{"name": "a", "start": 1, "length": 5}, {"name": "b", "start": 5, "length": 2}],
            'The fields "a" (columns 1 to 5) and "b" (columns 5 to 6) of the layout overlap.',
        ),
        (
            [{"name": "a", "start": 1, "length": 1}, {"name": "a", "start": 2, "length": 1}],
            'The layout declares the field "a" twice.',
        ),
    ],
)
def test_a_layout_that_describes_no_file_says_what_is_wrong(layout, reason):
    with pytest.raises(InvalidLayout) as raised:
        parse_layout(layout)
    assert str(raised.value) == reason


# ---------------------------------------------------------------- XLSX


def make_workbook(path, rows, *, title="Notas", extra_sheet=None):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        workbook.create_sheet(extra_sheet).append(["outra"])
    workbook.save(path)
    return path


def test_an_xlsx_sheet_is_read_with_typed_values_and_its_row_numbers(tmp_path):
    path = make_workbook(
        tmp_path / "notas.xlsx",
        [
            ["numero", "emissao", "valor", "cliente"],
            [1001, datetime(2026, 3, 2, 0, 0), 1234.56, "AÇÚCAR UNIÃO"],
            [None, None, None, None],
            [1002, datetime(2026, 3, 3, 14, 30), 7, None],
            [1003, None, 1, "x", "além do cabeçalho"],
        ],
        extra_sheet="Resumo",
    )
    rows = list(read_xlsx(path, required=["numero", "valor"]))
    assert [(row.line, row.values) for row in rows if row.ok] == [
        (2, {"numero": 1001, "emissao": datetime(2026, 3, 2), "valor": 1234.56, "cliente": "AÇÚCAR UNIÃO"}),
        (4, {"numero": 1002, "emissao": datetime(2026, 3, 3, 14, 30), "valor": 7, "cliente": None}),
    ]
    [extra] = [row for row in rows if not row.ok]
    assert (extra.line, str(extra.problem), extra.raw) == (
        5,
        "Row 5 has a value in column 5, beyond the 4 columns of the header.",
        "1003\t\t1\tx\talém do cabeçalho",
    )
    assert [row.values for row in read_xlsx(path, sheet="Resumo")] == []
    assert read_all(read_xlsx(path, sheet="Itens"))[1] == (
        'The workbook has no sheet named "Itens"; its sheets are: "Notas", "Resumo".'
    )
    assert read_all(read_xlsx(path, required=["cnpj"]))[1] == (
        'The header lacks the column "cnpj", which the layout requires; it has: "numero", "emissao", "valor", '
        '"cliente".'
    )


def test_an_xlsx_header_may_sit_below_a_title(tmp_path):
    path = make_workbook(tmp_path / "titulo.xlsx", [["Relatório de março"], [], ["codigo", "nome"], ["A1", "Arroz"]])
    assert [(row.line, row.values) for row in read_xlsx(path, header_row=3)] == [(4, {"codigo": "A1", "nome": "Arroz"})]
    assert read_all(read_xlsx(path, header_row=2))[1] == "The sheet is empty: row 2 holds no column names."


def test_an_xlsx_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = make_workbook(tmp_path / "bomba.xlsx", [["codigo"], [1]])
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("xl/worksheets/sheet2.xml", "w") as member,
    ):
        for _ in range(64):
            member.write(bytes(MB))  # 64 MB of zeros, about 64 KB compressed
    assert path.stat().st_size < 200 * 1024

    tracemalloc.start()
    try:
        rows, error = read_all(read_xlsx(path))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == []
    assert error.startswith('The workbook\'s part "xl/worksheets/sheet2.xml" would inflate from 6')
    assert " KB to 64.0 MB (10" in error
    assert error.endswith("times, more than the 200 times a workbook may): it looks like a zip bomb and was not read.")
    assert peak < 8 * MB


def test_an_xlsx_whose_xml_declares_entities_is_refused_unexpanded(tmp_path):
    """A billion laughs inside a sheet's XML: refused by the XML parser (libxml2's amplification limit), unexpanded."""
    path = make_workbook(tmp_path / "risos.xlsx", [["codigo"], [1]])
    laughs = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<t>codigo</t>" in sheet
    parts["xl/worksheets/sheet1.xml"] = f"{laughs}]>{sheet.replace('<t>codigo</t>', '<t>&lol9;</t>')}".encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)

    rows, error = read_all(read_xlsx(path))

    assert rows == []
    assert error.startswith("The file cannot be read as an XLSX workbook (limit on input amplification factor")
    assert error.endswith("). Nothing after this point was read.")


def test_an_xlsx_that_would_inflate_past_the_cap_or_is_no_archive_is_refused(tmp_path):
    path = make_workbook(tmp_path / "normal.xlsx", [["codigo"], [1]])
    error = read_all(read_xlsx(path, limits=Limits(max_unpacked_bytes=1024)))[1]
    assert error.startswith("The workbook would inflate to ")
    assert error.endswith(" KB, more than the 1.0 KB a workbook may: it was not read.")
    not_zip = write(tmp_path, "falso.xlsx", b"codigo;nome\n1;x\n")
    assert read_all(read_xlsx(not_zip)) == ([], "The file is not an XLSX workbook: it is not a zip archive.")


# ---------------------------------------------------------------- checksum


def test_the_checksum_streams_a_path_or_a_stream(tmp_path):
    path = write(tmp_path, "a.csv", b"a;b\n1;2\n")
    expected = hashlib.sha256(b"a;b\n1;2\n").hexdigest()
    assert sha256_of(path) == expected
    with open(path, "rb") as stream:
        assert sha256_of(stream) == expected
    assert sha256_of(write(tmp_path, "b.csv", b"a;b\n1;3\n")) != expected


def test_a_carriage_return_alone_and_an_unknown_encoding_are_refused_in_words(tmp_path):
    path = write(tmp_path, "mac.csv", b"a;b\n1;2\n3;4\r5;6\n")
    rows, error = read_all(read_csv(path))
    assert [row.values for row in rows] == [{"a": "1", "b": "2"}]
    assert error == (
        "Line 3 ends with a carriage return alone; lines must end with a line feed (\\n or \\r\\n). "
        "Nothing after it was read."
    )
    assert read_all(read_csv(path, encoding="utf-16"))[1] == (
        'The encoding "utf-16" cannot be read: files may be in UTF-8, Windows-1252, Latin-1 or ASCII.'
    )
