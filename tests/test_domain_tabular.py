"""Reading hostile uploaded tables: every attack file is built here, for real, and refused.

All names are fictitious.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile
from collections.abc import Sequence

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pow_registry.domain import tabular
from pow_registry.domain.tabular import (
    CAPTURE_COLUMNS,
    INQUIRY_COLUMNS,
    Table,
    TableError,
    map_columns,
    normalize_header,
    read_table,
)

SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


# ------------------------------------------------------------------------------------------
# Builders


def make_xlsx(rows: Sequence[Sequence[object]]) -> bytes:
    """A genuine workbook written by openpyxl (so styles, content types etc. are right)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def replace_members(xlsx: bytes, replacements: dict[str, bytes]) -> bytes:
    """Copy an xlsx, swapping the content of some members (to plant hostile XML)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            content = replacements.get(info.filename, src.read(info.filename))
            dst.writestr(info.filename, content)
    return out.getvalue()


def sheet_xml(rows_xml: str, dimension: str | None = None, prolog: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<worksheet xmlns="{MAIN_NS}">{dim}<sheetData>{rows_xml}</sheetData></worksheet>'
    ).encode()


def inline_row(number: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{tabular.column_letter(i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


BASE = make_xlsx([["placeholder"]])


def forbid_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to open the workbook fail loudly: the checks must come first."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl must not be reached")

    monkeypatch.setattr(openpyxl, "load_workbook", boom)
    monkeypatch.setattr(openpyxl.reader.excel, "ExcelReader", boom)


# ------------------------------------------------------------------------------------------
# Ordinary files


def test_xlsx_basic_rows_and_numbers() -> None:
    data = make_xlsx(
        [
            ["source_ref", "surname", "given_name"],
            ["R-1", "  Testov ", "Ivan"],
            [None, None, None],
            ["R-2", "Primerov", None],
        ]
    )
    table = read_table(data, "Captures.XLSX")
    assert table == Table(
        headers=["source_ref", "surname", "given_name"],
        rows=[(2, ["R-1", "Testov", "Ivan"]), (4, ["R-2", "Primerov", ""])],
    )


def test_xlsx_values_rendered_as_text() -> None:
    data = make_xlsx(
        [
            ["date_of_birth", "capture_date", "personal_number", "info_credibility", "flag", "x"],
            [
                dt.date(1990, 5, 17),
                dt.datetime(2024, 3, 1, 0, 0),
                12345.0,
                3,
                True,
                1.25,
            ],
            [dt.datetime(2024, 3, 1, 14, 30), None, 7.0e10, 0, False, dt.datetime(2001, 2, 3)],
        ]
    )
    table = read_table(data, "t.xlsx")
    assert table.rows[0][1] == ["1990-05-17", "2024-03-01", "12345", "3", "TRUE", "1.25"]
    assert table.rows[1][1] == ["2024-03-01T14:30:00", "", "70000000000", "0", "FALSE", "2001-02-03"]


def test_xlsx_text_that_merely_looks_like_a_formula_is_text() -> None:
    xml = sheet_xml(inline_row(1, ["notes"]) + inline_row(2, ["=not a formula, typed as text"]))
    table = read_table(replace_members(BASE, {SHEET: xml}), "t.xlsx")
    assert table.rows == [(2, ["=not a formula, typed as text"])]


def test_xlsx_shared_strings_and_gaps_in_rows() -> None:
    data = make_xlsx([["surname", "given_name", "notes"]])
    xml = sheet_xml(
        inline_row(1, ["surname", "given_name", "notes"])
        + '<row r="7"><c r="C7" t="inlineStr"><is><t>only notes</t></is></c></row>'
    )
    table = read_table(replace_members(data, {SHEET: xml}), "t.xlsx")
    assert table.rows == [(7, ["", "", "only notes"])]


# ------------------------------------------------------------------------------------------
# Hostile xlsx files


def test_not_a_zip_named_xlsx(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_openpyxl(monkeypatch)
    with pytest.raises(TableError, match="could not be read as an .xlsx"):
        read_table(b"source_ref,surname\nR-1,Testov\n", "list.xlsx")


def test_zip_bomb_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sheet that inflates to ~210 MB from a few hundred KB, past the default 200 MB limit.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(BASE)) as src, zipfile.ZipFile(
        out, "w", zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            if info.filename == SHEET:
                with dst.open(SHEET, "w", force_zip64=True) as member:
                    member.write(sheet_xml("")[:-len(b"</sheetData></worksheet>")])
                    chunk = b"<row/>" * 100_000
                    for _ in range(350):
                        member.write(chunk)
                    member.write(b"</sheetData></worksheet>")
            else:
                dst.writestr(info.filename, src.read(info.filename))
    bomb = out.getvalue()
    assert len(bomb) < 2_000_000
    forbid_openpyxl(monkeypatch)
    with pytest.raises(TableError, match=r"unpack to 210\xa0\d{3}\xa0\d{3} bytes; at most 200\xa0000\xa0000"):
        read_table(bomb, "bomb.xlsx")


def test_uncompressed_limit_is_a_sum_over_members(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_openpyxl(monkeypatch)
    with pytest.raises(TableError, match="unpack to"):
        read_table(BASE, "t.xlsx", max_uncompressed=1_000)


def test_too_many_zip_members(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(BASE)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        for i in range(600):
            dst.writestr(f"xl/media/filler{i}.bin", b"x")
    forbid_openpyxl(monkeypatch)
    with pytest.raises(TableError, match="at most 500 are allowed"):
        read_table(out.getvalue(), "many.xlsx")


def test_file_size_checked_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_openpyxl(monkeypatch)
    with pytest.raises(TableError, match="too large"):
        read_table(BASE, "t.xlsx", max_bytes=len(BASE) - 1)
    with pytest.raises(TableError, match="too large"):
        read_table(b"a,b\n" * 100, "t.csv", max_bytes=10)


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>'
)


def test_entity_expansion_in_sheet_refused() -> None:
    xml = sheet_xml(
        inline_row(1, ["notes"]) + inline_row(2, ["&lol9;"]), prolog=BILLION_LAUGHS
    )
    started = time.monotonic()
    with pytest.raises(TableError, match="could not be read as an .xlsx.*Entit"):
        read_table(replace_members(BASE, {SHEET: xml}), "laughs.xlsx")
    assert time.monotonic() - started < 5


def with_shared_strings(strings_xml: str, sheet: bytes) -> bytes:
    """An xlsx whose sheet refers to a sharedStrings part (openpyxl itself writes inline)."""
    with zipfile.ZipFile(io.BytesIO(BASE)) as archive:
        types = archive.read("[Content_Types].xml").decode()
    override = (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    )
    types = types.replace("</Types>", override + "</Types>")
    data = replace_members(BASE, {"[Content_Types].xml": types.encode(), SHEET: sheet})
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("xl/sharedStrings.xml", strings_xml)
    return out.getvalue()


SHARED_SHEET = sheet_xml(
    '<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
)


def test_shared_strings_read() -> None:
    strings = f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}"><si><t>notes</t></si><si><t>Testov</t></si></sst>'
    assert read_table(with_shared_strings(strings, SHARED_SHEET), "t.xlsx").rows == [(2, ["Testov"])]


def test_entity_expansion_in_shared_strings_refused() -> None:
    strings = (
        f'<?xml version="1.0"?>{BILLION_LAUGHS}<sst xmlns="{MAIN_NS}">'
        "<si><t>notes</t></si><si><t>&lol9;</t></si></sst>"
    )
    with pytest.raises(TableError, match="could not be read as an .xlsx.*Entit"):
        read_table(with_shared_strings(strings, SHARED_SHEET), "t.xlsx")


def test_defusedxml_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(TableError, match="defusedxml"):
        read_table(BASE, "t.xlsx")


def test_formula_cell_refused_with_coordinate() -> None:
    data = make_xlsx([["surname", "notes"], ["Testov", "ok"], ["Primerov", "=HYPERLINK(\"http://x\",\"y\")"]])
    with pytest.raises(TableError, match=r"Cell B3 contains a formula"):
        read_table(data, "t.xlsx")


def test_formula_with_cached_value_and_array_formula_refused() -> None:
    cached = sheet_xml(
        inline_row(1, ["notes"]) + '<row r="2"><c r="A2" t="str"><f>1+1</f><v>2</v></c></row>'
    )
    with pytest.raises(TableError, match="Cell A2 contains a formula"):
        read_table(replace_members(BASE, {SHEET: cached}), "t.xlsx")
    array = sheet_xml(
        inline_row(1, ["notes"]) + '<row r="2"><c r="A2"><f t="array" ref="A2">1+1</f></c></row>'
    )
    with pytest.raises(TableError, match="Cell A2 contains a formula"):
        read_table(replace_members(BASE, {SHEET: array}), "t.xlsx")


def test_error_cell_refused() -> None:
    xml = sheet_xml(inline_row(1, ["notes"]) + '<row r="2"><c r="A2" t="e"><v>#N/A</v></c></row>')
    with pytest.raises(TableError, match=r"Cell A2 contains the spreadsheet error #N/A"):
        read_table(replace_members(BASE, {SHEET: xml}), "t.xlsx")


def test_wrong_dimension_tag_does_not_drop_rows() -> None:
    rows = inline_row(1, ["source_ref", "surname"]) + "".join(
        inline_row(n, [f"R-{n}", f"Testov{n}"]) for n in range(2, 7)
    )
    data = replace_members(BASE, {SHEET: sheet_xml(rows, dimension="A1:A1")})
    # Proof that the trap is real: openpyxl alone stops at the dimension it was told.
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    assert len(list(wb.worksheets[0].iter_rows())) == 1
    wb.close()

    table = read_table(data, "t.xlsx")
    assert table.headers == ["source_ref", "surname"]
    assert table.rows == [(n, [f"R-{n}", f"Testov{n}"]) for n in range(2, 7)]


def test_dimension_not_starting_at_a1_still_reads_from_a1() -> None:
    rows = inline_row(1, ["source_ref", "surname"]) + inline_row(2, ["R-2", "Testov"])
    data = replace_members(BASE, {SHEET: sheet_xml(rows, dimension="B2:B2")})
    assert read_table(data, "t.xlsx").rows == [(2, ["R-2", "Testov"])]


def test_truncated_sheet_xml_fails_during_iteration() -> None:
    good = sheet_xml(
        inline_row(1, ["surname"]) + "".join(inline_row(n, ["Testov"]) for n in range(2, 50))
    )
    truncated = good[: len(good) // 2]
    with pytest.raises(TableError, match=r"^The file could not be read as an \.xlsx spreadsheet: "):
        read_table(replace_members(BASE, {SHEET: truncated}), "t.xlsx")


def test_corrupt_workbook_part_fails_during_loading() -> None:
    with pytest.raises(TableError, match=r"^The file could not be read as an \.xlsx spreadsheet: "):
        read_table(replace_members(BASE, {"xl/workbook.xml": b"<workbook><sheets>"}), "t.xlsx")
    with pytest.raises(TableError, match=r"^The file could not be read as an \.xlsx spreadsheet: "):
        read_table(replace_members(BASE, {"[Content_Types].xml": b"not xml"}), "t.xlsx")


def test_damaged_member_crc_fails_cleanly() -> None:
    data = bytearray(replace_members(BASE, {SHEET: sheet_xml(inline_row(1, ["surname"]) * 200)}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(SHEET)
    # Flip bytes inside the compressed sheet data (after its local header).
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    for i in range(start, start + 20):
        data[i] ^= 0xFF
    with pytest.raises(TableError, match="could not be read as an .xlsx"):
        read_table(bytes(data), "t.xlsx")


def test_xlsx_row_limit_and_long_cell() -> None:
    data = make_xlsx([["surname"], *[["Testov"]] * 5])
    assert len(read_table(data, "t.xlsx", max_rows=5).rows) == 5
    with pytest.raises(TableError, match="more than 4 data rows"):
        read_table(data, "t.xlsx", max_rows=4)
    long_cell = make_xlsx([["surname", "notes"], ["Testov", "x" * 10_001]])
    with pytest.raises(TableError, match="Row 2, column B: .*10\xa0001 characters"):
        read_table(long_cell, "t.xlsx")


def test_data_without_header_refused() -> None:
    data = make_xlsx([["surname", None, "notes"], ["Testov", "stray", "ok"]])
    with pytest.raises(TableError, match="Row 2, column B holds data but its column has no header"):
        read_table(data, "t.xlsx")
    beyond = make_xlsx([["surname"], ["Testov", "stray"]])
    with pytest.raises(TableError, match="Row 2, column B holds data"):
        read_table(beyond, "t.xlsx")


def test_empty_sheet() -> None:
    with pytest.raises(TableError, match="no header row"):
        read_table(make_xlsx([]), "t.xlsx")


# ------------------------------------------------------------------------------------------
# CSV


def test_csv_comma_with_bom_quotes_and_blank_lines() -> None:
    text = '\ufeffsource_ref,surname,notes\r\nR-1, Testov ,"a, b"\r\n\r\nR-2,Primerov,"two\nlines"\r\n'
    table = read_table(text.encode("utf-8"), "c.csv")
    assert table.headers == ["source_ref", "surname", "notes"]
    assert table.rows == [(2, ["R-1", "Testov", "a, b"]), (4, ["R-2", "Primerov", "two\nlines"])]


def test_csv_semicolon_delimited() -> None:
    text = "Фамилия;Имя;Примечания\nТестов;Иван;ранен, лёгкое\n"
    table = read_table(text.encode(), "c.csv")
    assert table.headers == ["Фамилия", "Имя", "Примечания"]
    assert table.rows == [(2, ["Тестов", "Иван", "ранен, лёгкое"])]


def test_csv_tab_delimited_and_single_column() -> None:
    assert read_table(b"surname\tnotes\nTestov\ta;b,c\n", "c.csv").rows == [
        (2, ["Testov", "a;b,c"])
    ]
    single = read_table(b'notes\n"see a, b; c"\n', "c.csv")
    assert single.headers == ["notes"]
    assert single.rows == [(2, ["see a, b; c"])]


def test_csv_latin1_refused() -> None:
    with pytest.raises(TableError, match="must be encoded as UTF-8"):
        read_table("surname\nMüller\n".encode("latin-1"), "c.csv")


def test_csv_nul_refused() -> None:
    with pytest.raises(TableError, match="NUL"):
        read_table(b"surname\nTest\x00ov\n", "c.csv")
    with pytest.raises(TableError, match="NUL"):
        read_table("surname\nTestov\n".encode("utf-16"), "c.csv")


def test_csv_bad_quoting_refused() -> None:
    with pytest.raises(TableError, match="CSV file could not be read near line 2"):
        read_table(b'surname,notes\nTestov,"unfinished" tail\n', "c.csv")


def test_csv_limits() -> None:
    data = b"surname\n" + b"Testov\n" * 3
    with pytest.raises(TableError, match="more than 2 data rows"):
        read_table(data, "c.csv", max_rows=2)
    with pytest.raises(TableError, match="Row 3, column B: .*10\xa0001 characters"):
        read_table(b"surname,notes\nTestov,ok\nPrimerov," + b"y" * 10_001 + b"\n", "c.csv")
    with pytest.raises(TableError, match="empty"):
        read_table(b"", "c.csv")
    with pytest.raises(TableError, match="no header row"):
        read_table(b"\n\n ,  \n", "c.csv")


def test_csv_formula_like_text_is_kept_as_text() -> None:
    # CSV has no formulas; the export side (spreadsheet.safe_cell_text) neutralises them.
    assert read_table(b"notes\n=1+1\n", "c.csv").rows == [(2, ["=1+1"])]


@pytest.mark.parametrize("name", ["list.xls", "list.ods", "list.txt", "list", "list.xlsx.exe"])
def test_other_extensions_refused(name: str) -> None:
    with pytest.raises(TableError, match="Only .xlsx and .csv"):
        read_table(BASE, name)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000), st.sampled_from(["f.csv", "f.xlsx"]))
def test_arbitrary_bytes_only_ever_raise_table_error(data: bytes, name: str) -> None:
    try:
        table = read_table(data, name)
    except TableError:
        return
    assert all(len(cells) == len(table.headers) for _, cells in table.rows)


HEADER_NAME = st.text(alphabet="abcdefghij _", min_size=1, max_size=8).filter(str.strip)
CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.lists(HEADER_NAME, min_size=1, max_size=4))
def test_csv_round_trip_through_csv_writer(data: st.DataObject, headers: list[str]) -> None:
    import csv

    body = data.draw(st.lists(st.lists(CELL, min_size=len(headers), max_size=len(headers)), max_size=6))
    # With one column there is no delimiter to detect; such a file is read as comma-separated.
    dialect = data.draw(st.sampled_from([",", ";", "\t"])) if len(headers) > 1 else ","
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=dialect).writerows([headers, *body])
    table = read_table(buffer.getvalue().encode(), "f.csv")
    assert table.headers == [h.strip() for h in headers]
    expected = [
        (number, [cell.strip() for cell in row])
        for number, row in enumerate(body, start=2)
        if any(cell.strip() for cell in row)
    ]
    assert table.rows == expected


# ------------------------------------------------------------------------------------------
# Header mapping

CONTRACT_CAPTURES = (
    "source_ref surname given_name patronymic date_of_birth place_of_birth rank unit "
    "personal_number service_category home_region capture_date capture_place health "
    "evidence_url evidence_kind source_reliability info_credibility notes call_sign appearance"
).split()
CONTRACT_INQUIRIES = (
    "source_ref surname given_name patronymic date_of_birth unit service_category "
    "last_contact_date last_known_place requester_name requester_relationship "
    "requester_phone requester_email preferred_language notes"
).split()


def test_column_sets_match_contract() -> None:
    assert list(CAPTURE_COLUMNS) == CONTRACT_CAPTURES
    assert list(INQUIRY_COLUMNS) == CONTRACT_INQUIRIES


@pytest.mark.parametrize("columns", [CAPTURE_COLUMNS, INQUIRY_COLUMNS])
def test_aliases_are_unambiguous_and_canonical_names_map_to_themselves(
    columns: dict[str, tuple[str, ...]],
) -> None:
    keys: dict[str, str] = {}
    for canonical, aliases in columns.items():
        for alias in (canonical, *aliases):
            assert keys.setdefault(normalize_header(alias), canonical) == canonical, alias
    names = list(columns)
    assert map_columns(names, columns) == {name: i for i, name in enumerate(names)}


def test_russian_headers_mapped() -> None:
    headers = [
        "Фамилия", "ИМЯ", "Отчество", "Дата рождения", "Место рождения", "Звание",
        "Воинская часть", "Личный номер", "Дата пленения", "Место пленения",
        "Состояние здоровья", "Ссылки", "Надёжность источника", "Достоверность информации",
        "Примечания",
    ]
    assert map_columns(headers, CAPTURE_COLUMNS) == {
        "surname": 0, "given_name": 1, "patronymic": 2, "date_of_birth": 3,
        "place_of_birth": 4, "rank": 5, "unit": 6, "personal_number": 7, "capture_date": 8,
        "capture_place": 9, "health": 10, "evidence_url": 11, "source_reliability": 12,
        "info_credibility": 13, "notes": 14,
    }


def test_ukrainian_headers_mapped_with_apostrophe_variants() -> None:
    for apostrophe in ["'", "\u02bc", "\u2019"]:
        headers = [
            "Прізвище", f"Ім{apostrophe}я", "По батькові", "Дата народження",
            "Військова частина", "Дата останнього зв" + apostrophe + "язку",
            "Заявник", "Телефон заявника", "Електронна пошта", "Мова", "Примітки",
        ]
        assert map_columns(headers, INQUIRY_COLUMNS) == {
            "surname": 0, "given_name": 1, "patronymic": 2, "date_of_birth": 3, "unit": 4,
            "last_contact_date": 5, "requester_name": 6, "requester_phone": 7,
            "requester_email": 8, "preferred_language": 9, "notes": 10,
        }


def test_header_case_space_underscore_hyphen_and_yo_insensitive() -> None:
    headers = [" Source-Ref ", "SURNAME", "given name", "Date_Of_Birth", "в/ч", "НАДЕЖНОСТЬ ИСТОЧНИКА", "e-mail"]
    assert map_columns(headers[:6], CAPTURE_COLUMNS) == {
        "source_ref": 0, "surname": 1, "given_name": 2, "date_of_birth": 3, "unit": 4,
        "source_reliability": 5,
    }
    assert map_columns(["E-Mail", "Surname*"], INQUIRY_COLUMNS) == {
        "requester_email": 0, "surname": 1,
    }


def test_unknown_columns_reported_together() -> None:
    with pytest.raises(TableError) as caught:
        map_columns(["surname", "Blood type", "given_name", "Shoe size"], CAPTURE_COLUMNS)
    message = str(caught.value)
    assert message.startswith("Unknown columns: 'Blood type', 'Shoe size'.")
    assert "source_ref" in message  # tells the user what is expected


def test_inquiry_only_column_is_unknown_for_captures() -> None:
    with pytest.raises(TableError, match="Unknown columns: 'requester_phone'"):
        map_columns(["surname", "requester_phone"], CAPTURE_COLUMNS)


def test_duplicate_columns_refused() -> None:
    with pytest.raises(TableError, match=r"Columns A \('surname'\) and C \('Фамилия'\) both mean 'surname'"):
        map_columns(["surname", "notes", "Фамилия"], CAPTURE_COLUMNS)


def test_blank_headers_skipped_and_missing_columns_absent() -> None:
    assert map_columns(["", "surname", "  "], INQUIRY_COLUMNS) == {"surname": 1}


def test_read_then_map_end_to_end() -> None:
    text = "Прізвище;Ім’я;Дата народження;Посилання\nТестенко;Петро;1999-01-02;https://example.org/a https://example.org/b\n"
    table = read_table(text.encode(), "import.csv")
    mapping = map_columns(table.headers, CAPTURE_COLUMNS)
    (number, cells), = table.rows
    assert number == 2
    assert cells[mapping["surname"]] == "Тестенко"
    assert cells[mapping["evidence_url"]].split() == ["https://example.org/a", "https://example.org/b"]
    assert "source_ref" not in mapping


def test_column_letter() -> None:
    assert [tabular.column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_no_flask_or_database_imports() -> None:
    with open(tabular.__file__, encoding="utf-8") as handle:
        source = handle.read()
    assert not re.search(r"^\s*(from|import)\s+(flask|sqlalchemy)", source, re.M)
