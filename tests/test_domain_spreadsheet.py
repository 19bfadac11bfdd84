"""The safe spreadsheet writer: hostile text goes out as inert strings, proven on the file itself.

All names are fictitious.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from defusedxml import ElementTree as SafeET
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pow_registry.domain import spreadsheet
from pow_registry.domain.spreadsheet import (
    MAX_CELL_CHARS,
    cell_text,
    safe_cell_text,
    text_cell,
    write_text_cell,
)

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "@SUM(1)",
    "+1",
    "-1",
    "#N/A",
    "#REF!",
    "#div/0!",
    "\x00\x07Testov",
    "\tTAB=1",
    "\r=1",
    " =1+1",
    "x" * 40_000,
    "=" + "y" * 40_000,
    "Тестов Иван Петрович",
    "",
]


def sheet_cells(path: Path) -> list[Any]:
    """All <c> elements of the first sheet, parsed straight from the file's XML."""
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    root = SafeET.fromstring(xml)
    assert root.findall(".//m:f", NS) == []  # no formula element anywhere
    cells: list[Any] = root.findall(".//m:c", NS)
    return cells


def check_file(path: Path) -> None:
    cells = sheet_cells(path)
    assert len(cells) == len(HOSTILE)
    for cell in cells:
        assert cell.get("t") in {"s", "inlineStr"}, cell.get("r")

    wb = openpyxl.load_workbook(path)
    ws = wb.active
    for row, original in enumerate(HOSTILE, start=1):
        cell = ws.cell(row=row, column=1)
        assert cell.data_type in {"s", "inlineStr"}  # openpyxl reports inline strings as-is
        assert cell.value is None or isinstance(cell.value, str)
        expected, risky = cell_text(original)
        assert (cell.value or "") == expected  # as typed, no apostrophe added
        assert cell.quotePrefix == risky  # a formula-like text is a quote-prefixed text
        assert len(cell.value or "") <= MAX_CELL_CHARS
    wb.close()


def test_normal_workbook_with_hostile_strings(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row, value in enumerate(HOSTILE, start=1):
        write_text_cell(ws, row, 1, value)
    path = tmp_path / "list.xlsx"
    wb.save(path)
    check_file(path)


def test_write_only_workbook_with_hostile_strings(tmp_path: Path) -> None:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    for value in HOSTILE:
        ws.append([text_cell(ws, value)])
    path = tmp_path / "list-wo.xlsx"
    wb.save(path)
    check_file(path)


def test_the_trap_is_real_without_the_safe_writer(tmp_path: Path) -> None:
    """Guards the test above: naive writing does produce a formula and raises on controls."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = '=HYPERLINK("http://x","y")'
    ws["A2"] = "#N/A"
    path = tmp_path / "naive.xlsx"
    wb.save(path)
    with zipfile.ZipFile(path) as archive:
        root = SafeET.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    assert root.findall(".//m:f", NS)
    assert root.find(".//m:c[@r='A2']", NS).get("t") == "e"
    with pytest.raises(openpyxl.utils.exceptions.IllegalCharacterError):
        ws["A3"] = "\x07"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("@SUM(1)", "'@SUM(1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("#N/A", "'#N/A"),
        ("#NAME?", "'#NAME?"),
        ("#NULL!", "'#NULL!"),
        ("#NUM!", "'#NUM!"),
        ("#VALUE!", "'#VALUE!"),
        ("#DIV/0!", "'#DIV/0!"),
        ("#REF!", "'#REF!"),
        ("\tx", "'\tx"),
        ("\rx", "'\nx"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("  =1", "'  =1"),
        ("\x00\x07Testov\x1f", "\ufffd\ufffdTestov\ufffd"),
        ("Тестов", "Тестов"),
        ("#12 Lenina st.", "#12 Lenina st."),
        ("a=b", "a=b"),
        ("line one\nline two", "line one\nline two"),
        ("", ""),
    ],
)
def test_safe_cell_text_examples(value: str, expected: str) -> None:
    assert safe_cell_text(value) == expected


def test_long_text_truncated_with_visible_marker() -> None:
    result = safe_cell_text("x" * 40_000)
    assert len(result) == MAX_CELL_CHARS
    assert result.endswith("…") and result[:-1] == "x" * (MAX_CELL_CHARS - 1)
    assert safe_cell_text("x" * MAX_CELL_CHARS) == "x" * MAX_CELL_CHARS
    prefixed = safe_cell_text("=" * 40_000)
    assert prefixed.startswith("'=") and len(prefixed) == MAX_CELL_CHARS


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200) | st.text(alphabet="=+-@\t\r\n #NA/!?\x00\x07 ＝", max_size=12))
def test_safe_cell_text_property(value: str) -> None:
    result = safe_cell_text(value)
    assert not result.startswith(("=", "+", "-", "@"))
    assert not result.lstrip().startswith(("=", "+", "-", "@"))
    assert not ILLEGAL_CHARACTERS_RE.search(result)
    assert len(result) <= MAX_CELL_CHARS
    assert result.strip().upper() not in spreadsheet.ERROR_LITERALS
    cell = text_cell(None, value)  # openpyxl accepts it without raising or reinterpreting
    text, risky = cell_text(value)
    assert cell.data_type == "s" and cell.value == text and cell.quotePrefix == risky
    assert result == ("'" + text if risky else text)[:MAX_CELL_CHARS] or len(text) >= MAX_CELL_CHARS - 1


@settings(max_examples=50, deadline=None)
@given(
    st.text(alphabet="ab=+\x01\r\n ", max_size=5),
    st.integers(min_value=32_700, max_value=32_800),
    st.text(alphabet="ab=\x01\r\n", max_size=5),
)
def test_safe_cell_text_property_near_the_limit(head: str, length: int, tail: str) -> None:
    result = safe_cell_text(head + "x" * length + tail)
    assert len(result) <= MAX_CELL_CHARS
    assert not result.startswith(("=", "+", "-", "@"))


def test_no_flask_or_database_imports() -> None:
    source = Path(spreadsheet.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+(flask|sqlalchemy)", source, re.M)


def test_characters_xml_cannot_hold_become_visible_replacements() -> None:
    """U+FFFE, U+FFFF and lone surrogates are not in openpyxl's list but break the whole file."""
    import io

    from openpyxl import Workbook, load_workbook

    from pow_registry.domain.spreadsheet import safe_cell_text

    for bad in ("\ufffe", "\uffff", "\ud800", "\udfff"):
        text = safe_cell_text(f"Вы{bad}думкин")
        assert text == "Вы\ufffdдумкин"
        book = Workbook()
        book.active.cell(row=1, column=1, value=text)
        data = io.BytesIO()
        book.save(data)
        assert load_workbook(io.BytesIO(data.getvalue())).active.cell(row=1, column=1).value == text
