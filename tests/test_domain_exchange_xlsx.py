"""The exchange-list export: read back cell by cell, by three readers, and byte for byte again.

All people, units and links are fictitious (invented surnames, links under https://example.org/).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from defusedxml import ElementTree as SafeET
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pow_registry.domain import exchange_xlsx as ex
from pow_registry.domain.dates import InvalidDate, PartialDate
from pow_registry.domain.exchange_xlsx import (
    ANSWER_COLUMNS,
    CATEGORY_LABELS,
    COLUMNS,
    DEFAULT_COLUMNS,
    ListExport,
    ListRow,
    list_sha256,
    names_for_office,
    row_sha256,
    write_list_xlsx,
)
from pow_registry.domain.spreadsheet import MAX_CELL_CHARS, cell_text

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
IN_CI = os.environ.get("CI", "").lower() == "true"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

CREATED = datetime(2026, 11, 20, 9, 15, 30, tzinfo=UTC)
FROZEN = datetime(2026, 11, 22, 17, 45, tzinfo=timezone(timedelta(hours=3)))  # 14:45 UTC
FROZEN_UTC = datetime(2026, 11, 22, 14, 45)

HOSTILE = [
    '=HYPERLINK("http://evil.example.org","x")',
    "@SUM(1)",
    "#N/A",
    "#ref!",
    "-2+3",
    "+7 999 000-00-00",
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08Выдумкин",
    " =1+1",
    "\t=cmd",
    "line one\r\nline two",
    "\ufffe\uffff a\ud800b",
    "n" * 40_000,
]


# ------------------------------------------------------------------------------------------------
# Fictitious lists


def make_row(number: int, **changes: Any) -> ListRow:
    values: dict[str, Any] = {
        "number": number,
        "person_ref": f"P-{number:06d}",
        "surname": "Выдумкин",
        "given_name": "Алексей",
        "patronymic": "Петрович",
        "date_of_birth": "2001-03-12",
        "rank": "рядовой",
        "unit": "в/ч 12345",
        "personal_number": "АБ-123456",
        "capture_date": "2024-05",
        "capture_place": "у с. Шаблоновка",
        "categories": ("young", "conscript"),
        "evidence": ((17, "https://example.org/video/17"), (23, "https://example.org/post/23")),
        "notes": "Вымышленная запись.",
    }
    values.update(changes)
    return ListRow(**values)


def sample_rows() -> tuple[ListRow, ...]:
    return (
        make_row(1),
        make_row(2, surname="Вигадько", given_name="Олексій", patronymic="Євгенович",
                 date_of_birth="2004", capture_date="2024-02-29", categories=("seriously_wounded_or_sick",),
                 evidence=((5, "https://example.org/lists/2024/list-7"),),
                 notes=""),
        make_row(3, surname="Maketov", given_name="Ivan", patronymic="", date_of_birth="2003-07",
                 capture_date=None, rank="", categories=(), evidence=(),
                 notes="Fictitious."),
        make_row(4, surname="Небывалов", given_name="Григорий", patronymic="Ильич",
                 date_of_birth="12.03.2005", capture_date="около 2024", categories=("long_captivity", "young")),
    )


def sample_export(**changes: Any) -> ListExport:
    values: dict[str, Any] = {
        "number": 12,
        "kind": "exchange",
        "office_name": "Demo Ombudsman Office",
        "office_country": "Demoland",
        "language": "en",
        "columns": DEFAULT_COLUMNS,
        "created_at": CREATED,
        "frozen_at": FROZEN,
        "frozen_by": "Макетова А.",
        "rows": sample_rows(),
    }
    values.update(changes)
    return ListExport(**values)


# ------------------------------------------------------------------------------------------------
# Readers


def load(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def values(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(cell.value for cell in row) for row in ws.iter_rows()]


def row_by_header(data: bytes) -> list[dict[str, Any]]:
    """The List sheet as {column key: cell} dicts, matched through the English header labels."""
    ws = load(data).worksheets[0]
    rows = list(ws.iter_rows())
    label_to_key = {labels["en"]: key for key, labels in {**COLUMNS, **ANSWER_COLUMNS}.items()}
    keys = [label_to_key[cell.value] for cell in rows[0]]
    return [dict(zip(keys, row, strict=True)) for row in rows[1:]]


def sheet_xml(data: bytes, index: int) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return SafeET.fromstring(archive.read(f"xl/worksheets/sheet{index}.xml"))


def assert_no_formula_or_error(data: bytes) -> None:
    for index in (1, 2, 3):
        root = sheet_xml(data, index)
        assert root.findall(".//m:f", NS) == []
        assert [c.get("r") for c in root.findall(".//m:c", NS) if c.get("t") in {"e", "str"}] == []


def expected_text(value: str) -> str | None:
    """What a text field reads back as: the text as typed, XML-illegal characters replaced,
    over-long text cut, '' as empty (a formula-like text is kept as typed, quote-prefixed)."""
    text, _risky = cell_text(ex._xml_chars(value))
    return text or None


# ------------------------------------------------------------------------------------------------
# Layout and content


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_headers_and_sheet_names_in_the_office_language(language: str) -> None:
    data = write_list_xlsx(sample_export(language=language, kind="verification"))
    wb = load(data)
    assert wb.sheetnames == list(ex.sheet_titles(language))
    header = values(wb.worksheets[0])[0]
    assert header == tuple(
        [COLUMNS[key][language] for key in DEFAULT_COLUMNS]
        + [ANSWER_COLUMNS[key][language] for key in ANSWER_COLUMNS]
    )
    cover = dict(row[:2] for row in values(wb.worksheets[1]) if row[0])
    assert cover[ex._TEXTS["kind"][language]] == ex._TEXTS["kind_verification"][language]
    for labels in CATEGORY_LABELS.values():
        assert labels[language] in cover
    manifest_header = values(wb.worksheets[2])[0]
    assert manifest_header[1] == COLUMNS["person_ref"][language]


def test_labels_exist_for_every_key_and_language() -> None:
    assert set(DEFAULT_COLUMNS) == set(COLUMNS)
    assert len(DEFAULT_COLUMNS) == len(set(DEFAULT_COLUMNS))
    for table in (COLUMNS, ANSWER_COLUMNS, CATEGORY_LABELS, ex._TEXTS):
        for labels in table.values():
            assert set(labels) == {"ru", "uk", "en"} and all(labels.values())
    for language in ex.LANGUAGES:
        titles = ex.sheet_titles(language)
        assert len(set(titles)) == 3 and all(len(t) <= 31 for t in titles)


def test_rows_read_back_cell_by_cell_for_an_english_office() -> None:
    rows = row_by_header(write_list_xlsx(sample_export()))
    assert len(rows) == 4
    first, second, third, fourth = rows

    assert first["row_number"].value == 1 and first["row_number"].data_type == "n"
    assert first["person_ref"].value == "P-000001"
    # Russian Cyrillic -> ICAO; Ukrainian letters anywhere in the name -> the Ukrainian table.
    assert (first["surname"].value, first["given_name"].value, first["patronymic"].value) == (
        "Vydumkin", "Aleksei", "Petrovich")
    assert (second["surname"].value, second["given_name"].value, second["patronymic"].value) == (
        "Vyhadko", "Oleksii", "Yevhenovych")
    assert (third["surname"].value, third["given_name"].value, third["patronymic"].value) == (
        "Maketov", "Ivan", None)
    assert (fourth["surname"].value, fourth["given_name"].value) == ("Nebyvalov", "Grigorii")
    assert (first["surname_as_entered"].value, first["given_name_as_entered"].value,
            first["patronymic_as_entered"].value) == ("Выдумкин", "Алексей", "Петрович")
    assert second["given_name_as_entered"].value == "Олексій"

    # Full dates are date cells shown as YYYY-MM-DD; partial dates stay text.
    assert first["date_of_birth"].is_date and first["date_of_birth"].value == datetime(2001, 3, 12)
    assert first["date_of_birth"].number_format == "YYYY-MM-DD"
    assert fourth["date_of_birth"].value == datetime(2005, 3, 12)  # 12.03.2005 understood
    assert second["date_of_birth"].value == "2004" and second["date_of_birth"].data_type == "s"
    assert third["date_of_birth"].value == "2003-07" and third["date_of_birth"].data_type == "s"
    assert first["capture_date"].value == "2024-05"
    assert second["capture_date"].value == datetime(2024, 2, 29)
    assert third["capture_date"].value is None
    assert fourth["capture_date"].value == "около 2024"  # not a date: kept as the text it was

    assert first["rank"].value == "рядовой" and third["rank"].value is None
    assert first["unit"].value == "в/ч 12345"
    assert first["personal_number"].value == "АБ-123456" and first["personal_number"].data_type == "s"
    assert first["capture_place"].value == "у с. Шаблоновка"
    assert first["categories"].value == "Young (18–25); Conscript"
    assert second["categories"].value == "Seriously wounded or sick"
    assert third["categories"].value is None
    assert first["evidence"].value == "#17 https://example.org/video/17\n#23 https://example.org/post/23"
    assert first["evidence"].alignment.wrap_text
    assert second["evidence"].value == "#5 https://example.org/lists/2024/list-7"
    assert third["evidence"].value is None
    assert first["notes"].value == "Вымышленная запись." and second["notes"].value is None


@pytest.mark.parametrize(("language", "surnames", "given", "sources"), [
    ("ru", ["Выдумкин", "Вигадько", "Макетов", "Небывалов"], ["Алексей", "Алексей", "Иван", "Григорий"],
     ["как в реестре", "преобразовано, просим проверить", "преобразовано, просим проверить", "как в реестре"]),
    ("uk", ["Видумкін", "Вигадько", "Макетов", "Небивалов"], ["Олексій", "Олексій", "Іван", "Григорій"],
     ["перетворено, просимо перевірити", "як у реєстрі", "перетворено, просимо перевірити",
      "перетворено, просимо перевірити"]),
])
def test_cyrillic_offices_get_every_name_in_their_own_alphabet(
    language: str, surnames: list[str], given: list[str], sources: list[str]
) -> None:
    data = write_list_xlsx(sample_export(language=language))
    ws = load(data).worksheets[0]
    rows = values(ws)[1:]
    column = {key: DEFAULT_COLUMNS.index(key) for key in DEFAULT_COLUMNS}
    assert [row[column["surname"]] for row in rows] == surnames
    assert [row[column["given_name"]] for row in rows] == given
    assert [row[column["name_source"]] for row in rows] == sources
    # The names as entered stay beside them, untouched.
    assert [row[column["surname_as_entered"]] for row in rows] == ["Выдумкин", "Вигадько", "Maketov", "Небывалов"]
    categories = DEFAULT_COLUMNS.index("categories")
    assert rows[0][categories] == "; ".join(
        CATEGORY_LABELS[code][language] for code in ("young", "conscript"))


def test_the_spelling_chosen_at_freezing_is_what_the_office_gets() -> None:
    row = make_row(1, surname="Eskizov", given_name="Maxim", patronymic="",
                   office_names=("Эскизов", "Максим", "Олегович"), name_source="family")
    data = write_list_xlsx(sample_export(language="ru", rows=(row,)))
    by_key = dict(zip(DEFAULT_COLUMNS, values(load(data).worksheets[0])[1], strict=True))
    assert (by_key["surname"], by_key["given_name"], by_key["patronymic"]) == ("Эскизов", "Максим", "Олегович")
    assert by_key["name_source"] == "как пишет семья"
    assert by_key["surname_as_entered"] == "Eskizov"


def test_a_row_with_half_a_spelling_is_refused() -> None:
    row = make_row(1, office_names=("Эскизов", "Максим"), name_source="family")
    with pytest.raises(ValueError, match="office_names"):
        write_list_xlsx(sample_export(language="ru", rows=(row,)))


@pytest.mark.parametrize(
    ("names", "language", "expected"),
    [
        (("Лейкин", "Виталий", "Евгеньевич"), "en", ("Leikin", "Vitalii", "Evgenevich")),
        (("Лейкін", "Віталій", "Євгенович"), "en", ("Leikin", "Vitalii", "Yevhenovych")),
        # One Ukrainian letter anywhere decides the table for all three names of the person.
        (("Григоренко", "Олексій", ""), "en", ("Hryhorenko", "Oleksii", "")),
        (("Григоренко", "Алексей", ""), "en", ("Grigorenko", "Aleksei", "")),
        (("ВЫДУМКИН", "Юрий", "Ильич"), "en", ("VYDUMKIN", "Iurii", "Ilich")),
        (("Maketov", "Ivan", ""), "en", ("Maketov", "Ivan", "")),
        (("Maketov", "Ivan", ""), "ru", ("Макетов", "Иван", "")),
        (("Maketov", "Ivan", ""), "uk", ("Макетов", "Іван", "")),
        (("Eskizov", "Maxim", ""), "ru", ("Эскизов", "Максим", "")),
        (("Hryhorenko", "Oleksii", "Petrovych"), "ru", ("Григоренко", "Алексей", "Петрович")),
        (("Leikin", "Vitalii", "Evgenievich"), "uk", ("Лейкін", "Віталій", "Євгенович")),
        (("Лейкін", "Віталій", "Євгенович"), "uk", ("Лейкін", "Віталій", "Євгенович")),
        (("Лейкін", "Віталій", "Євгенович"), "ru", ("Лейкин", "Виталий", "Евгеньевич")),
        (("Выдумкін", "Віталій", ""), "ru", ("Выдумкин", "Виталий", "")),
        (("Лейкин", "Виталий", ""), "ru", ("Лейкин", "Виталий", "")),
        (("Лейкин", "Виталий", ""), "uk", ("Лейкін", "Віталій", "")),
        (("Ковальский", "Юрий", "Петрович"), "uk", ("Ковальський", "Юрій", "Петрович")),
        (("Ковальський", "Микола", ""), "ru", ("Ковальский", "Николай", "")),
    ],
)
def test_names_for_office(names: tuple[str, str, str], language: str, expected: tuple[str, str, str]) -> None:
    row = make_row(1, surname=names[0], given_name=names[1], patronymic=names[2])
    assert names_for_office(row, language) == expected


def test_chosen_columns_in_the_chosen_order() -> None:
    columns = ("person_ref", "date_of_birth", "surname_as_entered", "row_number")
    data = write_list_xlsx(sample_export(columns=columns))
    ws = load(data).worksheets[0]
    assert values(ws) == [
        ("Registry reference", "Date of birth", "Surname (as recorded)", "No."),
        ("P-000001", datetime(2001, 3, 12), "Выдумкин", 1),
        ("P-000002", "2004", "Вигадько", 2),
        ("P-000003", "2003-07", "Maketov", 3),
        ("P-000004", datetime(2005, 3, 12), "Небывалов", 4),
    ]
    assert ws.auto_filter.ref == "A1:D5"


def test_verification_request_adds_empty_answer_columns() -> None:
    data = write_list_xlsx(sample_export(kind="verification", language="uk",
                                         columns=("row_number", "surname")))
    ws = load(data).worksheets[0]
    rows = values(ws)
    assert rows[0] == ("№", "Прізвище", "Місцеперебування (відповідь)", "Стан здоров’я (відповідь)")
    assert all(row[2:] == (None, None) for row in rows[1:])
    assert ws.auto_filter.ref == "A1:D5"
    exchange = load(write_list_xlsx(sample_export(columns=("row_number", "surname")))).worksheets[0]
    assert exchange.max_column == 2


def test_sheet_layout() -> None:
    wb = load(write_list_xlsx(sample_export()))
    ws = wb.worksheets[0]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(DEFAULT_COLUMNS))}5"
    assert all(cell.font.bold for cell in ws[1])
    assert not ws["B2"].font.bold
    widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
              for i in range(1, len(DEFAULT_COLUMNS) + 1)]
    assert all(5 <= width <= 60 for width in widths)
    assert widths[DEFAULT_COLUMNS.index("evidence")] > widths[DEFAULT_COLUMNS.index("row_number")]
    assert ws.print_title_rows == "$1:$1"
    assert ws.page_setup.orientation == "landscape"
    assert wb.worksheets[2].freeze_panes == "A2"


def test_cover_sheet() -> None:
    rows = sample_rows() + (make_row(5, categories=("young", "young", "with_inquiry")),)
    wb = load(write_list_xlsx(sample_export(rows=rows)))
    cover = values(wb.worksheets[1])
    assert cover[0][0] == "Exchange list 12" and wb.worksheets[1]["A1"].font.bold
    pairs = {row[0]: row[1] for row in cover if row[0]}
    assert pairs["List number"] == 12
    assert pairs["Kind"] == "Exchange proposal"
    assert pairs["Office"] == "Demo Ombudsman Office"
    assert pairs["Country"] == "Demoland"
    assert pairs["Created (UTC)"] == datetime(2026, 11, 20, 9, 15, 30)
    assert pairs["Frozen (UTC)"] == FROZEN_UTC  # converted from +03:00
    assert wb.worksheets[1]["B7"].is_date
    assert pairs["Frozen by"] == "Макетова А."
    assert pairs["Persons on the list"] == 5
    assert pairs["Seriously wounded or sick"] == 1
    assert pairs["Young (18–25)"] == 3  # a code twice on one row counts once
    listed = values(wb.worksheets[0])[5][DEFAULT_COLUMNS.index("categories")]
    assert listed == "Young (18–25); Family inquiry on file"  # and is shown once
    assert pairs["Conscript"] == 1
    assert pairs["Long captivity"] == 1
    assert pairs["Family inquiry on file"] == 1
    assert "sorted" in pairs["Row SHA-256 (sheet “Manifest”)"]


def test_manifest_fingerprints_can_be_recomputed_from_the_documented_recipe() -> None:
    export = sample_export()
    wb = load(write_list_xlsx(export))
    manifest = values(wb.worksheets[2])
    assert manifest[0] == ("No.", "Registry reference", "Row SHA-256", "Evidence (no. and link)")
    for row, line in zip(export.rows, manifest[1:], strict=True):
        documented = json.dumps(dataclasses.asdict(row), sort_keys=True, ensure_ascii=False,
                                separators=(",", ":")).encode("utf-8")
        assert ex.row_canonical_json(row) == documented
        assert line[:3] == (row.number, row.person_ref, hashlib.sha256(documented).hexdigest())
        assert line[2] == row_sha256(row)
        assert line[3] == ("\n".join(f"#{i} {link}" for i, link in row.evidence) or None)
    assert manifest[1][3] == "#17 https://example.org/video/17\n#23 https://example.org/post/23"
    # Any change to a row changes its fingerprint.
    assert row_sha256(make_row(1)) != row_sha256(make_row(1, notes="Вымышленная запись!"))
    assert row_sha256(make_row(1)) != row_sha256(make_row(1, evidence=((17, "https://example.org/video/17"),)))


def test_workbook_properties_and_zip_entries_are_fixed() -> None:
    data = write_list_xlsx(sample_export())
    props = load(data).properties
    assert props.creator == "pow_registry"
    assert props.lastModifiedBy == "pow_registry"
    assert props.title == "Exchange list 12"
    assert props.created == FROZEN_UTC and props.modified == FROZEN_UTC
    assert props.language == "en"
    for field in ("description", "subject", "keywords", "category", "identifier", "lastPrinted"):
        assert getattr(props, field) is None, field
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        core = archive.read("docProps/core.xml").decode()
        workbook_xml = archive.read("xl/workbook.xml").decode()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    assert {(info.create_system, info.external_attr) for info in infos} == {(0, 0o600 << 16)}
    assert "2026-11-22T14:45:00Z" in core and "openpyxl" not in core
    assert "Макетова" not in core  # who froze it is on the cover, not in the properties
    assert "_xlnm._FilterDatabase" in workbook_xml
    ru = load(write_list_xlsx(sample_export(language="ru", kind="verification"))).properties
    assert ru.title == "Запрос о подтверждении № 12"


def test_empty_list() -> None:
    wb = load(write_list_xlsx(sample_export(rows=())))
    ws = wb.worksheets[0]
    assert len(values(ws)) == 1
    assert ws.auto_filter.ref.endswith("1")
    assert {row[0]: row[1] for row in values(wb.worksheets[1]) if row[0]}["Persons on the list"] == 0


# ------------------------------------------------------------------------------------------------
# Hostile text


def hostile_export(language: str) -> ListExport:
    rows = tuple(
        make_row(number, person_ref=text, surname=text, given_name=text, patronymic=text,
                 date_of_birth=text, rank=text, unit=text, personal_number=text, capture_date=text,
                 capture_place=text, evidence=((number, text),), notes=text)
        for number, text in enumerate(HOSTILE, start=1)
    )
    return sample_export(language=language, rows=rows, office_name=HOSTILE[0], office_country=HOSTILE[2],
                         frozen_by=HOSTILE[1])


@pytest.mark.parametrize("language", ["ru", "en"])
def test_hostile_text_comes_back_as_plain_text(language: str) -> None:
    export = hostile_export(language)
    data = write_list_xlsx(export)
    assert_no_formula_or_error(data)
    wb = load(data)
    for cells in wb.worksheets[0].iter_rows(min_row=2, min_col=2):
        assert all(cell.data_type == "s" for cell in cells if cell.value is not None)
    sheet = values(wb.worksheets[0])[1:]
    for row, text, source in zip(sheet, HOSTILE, export.rows, strict=True):
        as_entered = expected_text(text)
        office = expected_text(names_for_office(source, language)[0])
        by_key = dict(zip(DEFAULT_COLUMNS, row, strict=True))
        assert by_key["surname"] == office
        for key in ("person_ref", "surname_as_entered", "given_name_as_entered", "patronymic_as_entered",
                    "date_of_birth", "rank", "unit", "personal_number", "capture_date", "capture_place",
                    "notes"):
            assert by_key[key] == as_entered, (key, text[:30])
        assert by_key["evidence"] == expected_text(f"#{by_key['row_number']} {text}")
        for value in row:
            assert not isinstance(value, str) or len(value) <= MAX_CELL_CHARS
    for cells in wb.worksheets[0].iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str):
                # Shown as typed; the quote-prefix style keeps a formula-like text a text.
                assert cell.quotePrefix == cell_text(cell.value)[1], (cell.coordinate, cell.value[:30])
    long_notes = sheet[-1][DEFAULT_COLUMNS.index("notes")]
    assert len(long_notes) == MAX_CELL_CHARS and long_notes.endswith("…")
    cover = {row[0]: row[1] for row in values(wb.worksheets[1]) if row[0]}
    office_label = ex._TEXTS["office"][language]
    assert cover[office_label] == expected_text(HOSTILE[0])
    assert cover[ex._TEXTS["frozen_by"][language]] == "@SUM(1)"
    assert cover[ex._TEXTS["country"][language]] == "#N/A"
    quoted = {row[0].value: row[1].quotePrefix for row in wb.worksheets[1].iter_rows() if row[0].value}
    assert quoted[ex._TEXTS["frozen_by"][language]] and quoted[ex._TEXTS["country"][language]]
    manifest = values(wb.worksheets[2])[1:]
    assert [line[1] for line in manifest] == [expected_text(text) for text in HOSTILE]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(
        st.text(max_size=60)
        | st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
        | st.sampled_from(HOSTILE[:-1]),
        min_size=8, max_size=8,
    ),
    language=st.sampled_from(ex.LANGUAGES),
    evidence_id=st.integers(min_value=0, max_value=2**62),
)
def test_any_text_in_any_field_reads_back_as_its_safe_form(
    texts: list[str], language: str, evidence_id: int
) -> None:
    surname, given, rank, unit, place, notes, dob, link = texts
    row = make_row(1, surname=surname, given_name=given, patronymic=notes, rank=rank, unit=unit,
                   capture_place=place, notes=notes, date_of_birth=dob, person_ref=link,
                   evidence=((evidence_id, link),))
    export = sample_export(language=language, rows=(row,), office_name=place, frozen_by=given)
    data = write_list_xlsx(export)
    assert_no_formula_or_error(data)
    wb = load(data)
    got = dict(zip(DEFAULT_COLUMNS, values(wb.worksheets[0])[1], strict=True))
    office_names = names_for_office(row, language)
    assert got["surname"] == expected_text(office_names[0])
    assert got["given_name"] == expected_text(office_names[1])
    assert got["surname_as_entered"] == expected_text(surname)
    assert got["given_name_as_entered"] == expected_text(given)
    assert got["patronymic_as_entered"] == expected_text(notes)
    for key, text in (("rank", rank), ("unit", unit), ("capture_place", place), ("notes", notes),
                      ("person_ref", link)):
        assert got[key] == expected_text(text), key
    assert got["evidence"] == expected_text(f"#{evidence_id} {link}")
    try:
        partial = PartialDate.parse(dob)
    except InvalidDate:
        if not dob.strip():
            assert got["date_of_birth"] is None  # a blank date is no date
            return
        assert got["date_of_birth"] == expected_text(dob)
    else:
        if partial.precision == "day":
            assert got["date_of_birth"] == datetime.combine(partial.earliest(), datetime.min.time())
        else:
            assert got["date_of_birth"] == str(partial)
    manifest = values(wb.worksheets[2])[1]
    assert manifest[:3] == (1, expected_text(link), row_sha256(row))


# ------------------------------------------------------------------------------------------------
# Same bytes every time


def test_same_export_same_bytes() -> None:
    export = sample_export()
    first = write_list_xlsx(export)
    assert write_list_xlsx(export) == first
    assert write_list_xlsx(sample_export()) == first  # an equal export built afresh
    assert list_sha256(first) == hashlib.sha256(first).hexdigest()
    assert write_list_xlsx(sample_export(frozen_by="Шаблонова Б.")) != first
    assert write_list_xlsx(sample_export(rows=sample_rows()[:3])) != first


def test_naive_times_are_utc_so_a_list_reloaded_from_the_database_gives_the_same_bytes() -> None:
    # The registry keeps UTC in columns without a zone: the session that froze the list has aware
    # times, a later request reloads naive ones (and SQLite keeps the microseconds).
    aware = sample_export(created_at=CREATED.replace(microsecond=123456),
                          frozen_at=FROZEN.astimezone(UTC).replace(microsecond=654321))
    naive = sample_export(created_at=CREATED.replace(tzinfo=None), frozen_at=FROZEN_UTC)
    assert write_list_xlsx(aware) == write_list_xlsx(naive) == write_list_xlsx(sample_export())


def test_same_bytes_in_another_process() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_domain_exchange_xlsx as t\n"
        "from pow_registry.domain.exchange_xlsx import list_sha256, write_list_xlsx\n"
        "print(list_sha256(write_list_xlsx(t.sample_export())))\n"
        "print(list_sha256(write_list_xlsx(t.hostile_export('ru'))))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,  # noqa: S603 - fixed arguments
                          check=False, env=env, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        list_sha256(write_list_xlsx(sample_export())),
        list_sha256(write_list_xlsx(hostile_export("ru"))),
    ]


# The same files written in a child process where openpyxl uses lxml, and in one where lxml cannot
# be imported at all (a finder in front of sys.meta_path refuses it, as if it were not installed).
_EXPORTS_IN_A_CHILD = """
import hashlib, sys
if sys.argv[1] == "hidden":
    class NoLxml:
        def find_spec(self, name, path=None, target=None):
            if name == "lxml" or name.startswith("lxml."):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
            return None
    sys.meta_path.insert(0, NoLxml())
sys.path.insert(0, sys.argv[2])
import openpyxl
import test_domain_exchange_xlsx as t
from pow_registry.domain.exchange_xlsx import write_list_xlsx
assert openpyxl.LXML is (sys.argv[1] == "lxml"), openpyxl.LXML
assert ("lxml" in sys.modules) is (sys.argv[1] == "lxml")
for export in t.exports_for_the_lxml_check():
    print(hashlib.sha256(write_list_xlsx(export)).hexdigest())
"""


def exports_for_the_lxml_check() -> list[ListExport]:
    return [sample_export(), sample_export(kind="verification", language="uk"), hostile_export("ru"),
            hostile_export("en"), sample_export(rows=())]


def _hashes_in_a_child(mode: str) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != "OPENPYXL_LXML"}
    done = subprocess.run([sys.executable, "-c", _EXPORTS_IN_A_CHILD, mode, str(Path(__file__).parent)],  # noqa: S603 - fixed arguments
                          capture_output=True, text=True, timeout=300, check=False, env=env,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_same_bytes_whether_or_not_lxml_is_installed() -> None:
    # openpyxl writes XML with lxml when it can import it, and the two serialisations differ
    # (character references, empty tags, namespace declarations): the recorded hash of a list must
    # not depend on which one the server that first exported it happened to have.
    try:
        import lxml  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("lxml is required in CI (dev extra): without it this check runs one way only")
        pytest.skip("lxml is not installed: only one of the two ways can be run")
    with_lxml, without = _hashes_in_a_child("lxml"), _hashes_in_a_child("hidden")
    assert len(with_lxml) == len(exports_for_the_lxml_check()) == len(set(with_lxml))
    assert with_lxml == without
    assert with_lxml == [list_sha256(write_list_xlsx(e)) for e in exports_for_the_lxml_check()]


# ------------------------------------------------------------------------------------------------
# A second reader


def normalised(value: Any) -> Any:
    """Make openpyxl's and calamine's values comparable (no type is stretched to pass)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def test_calamine_reads_the_same_values() -> None:
    python_calamine = pytest.importorskip("python_calamine")
    for export in (sample_export(kind="verification"), hostile_export("en"), hostile_export("uk")):
        data = write_list_xlsx(export)
        ours = load(data)
        other = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        assert other.sheet_names == ours.sheetnames
        for ws in ours.worksheets:
            mine = [[normalised(v) for v in row] for row in values(ws)]
            theirs = [[normalised(v) for v in row] for row in other.get_sheet_by_name(ws.title).to_python()]
            width = max(len(row) for row in mine)
            theirs = [row + [None] * (width - len(row)) for row in theirs]
            assert theirs == mine, ws.title
    dates = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(write_list_xlsx(sample_export())))
    first = dates.get_sheet_by_name("List").to_python()[1]
    assert first[DEFAULT_COLUMNS.index("date_of_birth")] == date(2001, 3, 12)


# ------------------------------------------------------------------------------------------------
# LibreOffice


@pytest.fixture
def soffice(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if SOFFICE is None:
        if IN_CI:
            pytest.fail("LibreOffice (soffice) is required in CI")
        pytest.skip("LibreOffice (soffice) is not installed")
    profile = tmp_path / "lo-profile"  # a private profile: parallel runs do not share a lock
    yield SOFFICE, profile


def libreoffice_csv(soffice: tuple[str, Path], data: bytes, folder: Path) -> list[list[str]]:
    binary, profile = soffice
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "list.xlsx"
    source.write_bytes(data)
    out = folder / "out"
    # Filter options: comma, double quote, UTF-8 (76), from line 1; cells saved as shown.
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true",
         "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    target = out / "list.csv"
    assert done.returncode == 0 and target.exists(), done.stdout + done.stderr
    return list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))


def test_libreoffice_reads_rows_and_hostile_text_as_text(soffice: tuple[str, Path], tmp_path: Path) -> None:
    rows = libreoffice_csv(soffice, write_list_xlsx(sample_export()), tmp_path)
    assert rows[0] == [COLUMNS[key]["en"] for key in DEFAULT_COLUMNS]
    by_key = [dict(zip(DEFAULT_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [row["row_number"] for row in by_key] == ["1", "2", "3", "4"]
    assert by_key[0]["surname"] == "Vydumkin" and by_key[0]["surname_as_entered"] == "Выдумкин"
    assert by_key[0]["date_of_birth"] == "2001-03-12"  # a date cell, shown in its format
    assert by_key[1]["date_of_birth"] == "2004"
    assert by_key[2]["date_of_birth"] == "2003-07"
    assert by_key[0]["evidence"] == "#17 https://example.org/video/17\n#23 https://example.org/post/23"
    assert by_key[0]["categories"] == "Young (18–25); Conscript"

    # A Russian office reads every name in Russian Cyrillic, also those entered in Latin and in
    # Ukrainian letters, and is told which were converted.
    russian = libreoffice_csv(soffice, write_list_xlsx(sample_export(language="ru")), tmp_path / "ru")
    by_key = [dict(zip(DEFAULT_COLUMNS, row, strict=True)) for row in russian[1:]]
    for row in by_key:
        for key in ("surname", "given_name", "patronymic"):
            assert re.fullmatch(r"[А-Яа-яЁё' -]*", row[key]), (key, row[key])
    assert [row["surname_as_entered"] for row in by_key] == ["Выдумкин", "Вигадько", "Maketov", "Небывалов"]
    assert [row["surname"] for row in by_key] == ["Выдумкин", "Вигадько", "Макетов", "Небывалов"]
    assert by_key[1]["given_name"] == "Алексей" and by_key[1]["patronymic"] == "Евгеньевич"
    assert by_key[2]["name_source"] == "преобразовано, просим проверить"

    hostile_export_ru = hostile_export("ru")
    hostile = libreoffice_csv(soffice, write_list_xlsx(hostile_export_ru), tmp_path / "hostile")
    notes = DEFAULT_COLUMNS.index("notes")
    surname = DEFAULT_COLUMNS.index("surname")
    for row, text, source in zip(hostile[1:], HOSTILE, hostile_export_ru.rows, strict=True):
        expected = expected_text(text) or ""
        assert row[surname] == (expected_text(names_for_office(source, "ru")[0]) or ""), text[:30]
        assert row[notes] == expected
    # Exactly what was typed, as text: not a link showing "x", not -2+3 evaluated to 1, not an error.
    assert hostile[1][surname] == '=HYPERLINK("http://evil.example.org","x")'
    assert hostile[5][surname] == "-2+3"
    assert hostile[3][surname] == "#N/A"


def test_a_failed_export_leaves_no_temporary_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl.worksheet import _writer  # where write-only sheets register their temp files

    def broken(*args: Any) -> None:
        raise RuntimeError("disk full (simulated)")

    before = set(_writer.ALL_TEMP_FILES)
    monkeypatch.setattr(ex, "_write_manifest_sheet", broken)
    with pytest.raises(RuntimeError):
        write_list_xlsx(sample_export())
    left = set(_writer.ALL_TEMP_FILES) - before
    assert left == set()
    monkeypatch.undo()
    write_list_xlsx(sample_export())
    assert set(_writer.ALL_TEMP_FILES) - before == set()


# ------------------------------------------------------------------------------------------------
# Refused exports


@pytest.mark.parametrize(
    "changes",
    [
        {"language": "de"},
        {"kind": "release"},
        {"columns": ()},
        {"columns": ("surname", "home_address")},
        {"columns": ("surname", "surname")},
        {"created_at": "2026-11-20T09:00:00Z"},
        {"frozen_at": date(2026, 11, 22)},
        {"rows": (make_row(1), make_row(3))},
        {"rows": (make_row(1, categories=("officer",)),)},
        {"rows": (make_row(1, evidence=(("17", "https://example.org/x"),)),)},
    ],
)
def test_malformed_exports_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        write_list_xlsx(sample_export(**changes))
