"""Spreadsheet imports of captures (services.imports.import_captures): all rows or none.

Files are real .xlsx (openpyxl) and .csv files built in tmp_path; every name is invented.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from pow_registry.models import (
    AuditEvent,
    CaptureReport,
    Evidence,
    ImportBatch,
    Person,
    User,
    Verification,
)
from pow_registry.services import audit, imports, registry
from pow_registry.services.registry import PersonQuery

HEADERS = ["source_ref", "surname", "given_name", "patronymic", "date_of_birth", "unit", "service_category",
           "capture_date", "capture_place", "health", "evidence_url", "evidence_kind", "source_reliability",
           "info_credibility", "notes"]
GOOD_ROWS = [
    ["IMP-001", "Выдумкин", "Виталий", "Евгеньевич", "2005-03-12", "в/ч 12345", "conscript", "2024-08-10", "Суджа",
     "wounded", "https://example.org/imp/1 https://example.org/imp/2", "video", "B", "2", "Fictitious."],
    ["IMP-002", "Макетов", "Алексей", "", "2004", "", "", "10.08.2024", "Коренево", "", "", "", "", "", ""],
    ["IMP-003", "Шаблонов", "Николай", "Петрович", "2003-05", "ВЧ-54321", "mobilised", "2024-08", "Sudzha", "",
     "https://news.example.org/imp/3", "photo", "C", "3", ""],
]


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def build(tmp_path: Path, fmt: str, rows: Sequence[Sequence[Any]], name: str = "captures") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    return write_xlsx(path, rows) if fmt == "xlsx" else write_csv(path, rows)


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    return {m.__name__: int(session.exec(select(func.count()).select_from(m)).one())
            for m in (Person, CaptureReport, Evidence, ImportBatch, AuditEvent)}


@pytest.fixture
def researcher(make_user: Callable[..., User]) -> User:
    return make_user("researcher")


@pytest.fixture
def run(session: Session, audit_key: bytes, researcher: User) -> Callable[..., imports.ImportReport]:
    def do(path: Path, *, dry_run: bool = False, actor: User | None = None, **kwargs: Any) -> imports.ImportReport:
        return imports.import_captures(session=session, actor=actor or researcher, audit_key=audit_key,
                                       data=path.read_bytes(), filename=path.name, dry_run=dry_run, **kwargs)
    return do


def problems(report: imports.ImportReport) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in report.errors]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_valid_file_imports_persons_reports_and_evidence(tmp_path, session, audit_key, researcher, run, fmt):
    before = counts(session)
    report = run(build(tmp_path, fmt, [HEADERS, *GOOD_ROWS]))
    assert report.ok, [e.text() for e in report.errors]
    assert (report.rows_total, report.rows_created, report.rows_skipped) == (3, 3, 0)
    assert (report.persons_created, report.evidence_created) == (3, 3)
    after = counts(session)
    assert after["Person"] - before["Person"] == 3
    assert after["CaptureReport"] - before["CaptureReport"] == 3
    assert after["Evidence"] - before["Evidence"] == 3
    assert after["ImportBatch"] == 1

    stored = session.exec(select(CaptureReport).where(CaptureReport.source_ref == "IMP-001")).one()
    person = session.get(Person, stored.person_id)
    assert (person.surname, person.given_name, person.date_of_birth, person.unit_number) == (
        "Выдумкин", "Виталий", "2005-03-12", "12345")
    assert person.service_category.value == "conscript" and person.health.value == "wounded"
    assert person.created_by_id == researcher.id and person.notes == "Fictitious."
    assert (stored.capture_date, stored.capture_place) == ("2024-08-10", "Суджа")
    evidence = session.exec(select(Evidence).where(Evidence.capture_report_id == stored.id)).all()
    assert sorted(e.url for e in evidence) == ["https://example.org/imp/1", "https://example.org/imp/2"]
    assert {(e.kind.value, e.source_reliability, e.info_credibility, e.verification) for e in evidence} == {
        ("video", "B", 2, Verification.unverified)}
    second = session.exec(select(CaptureReport).where(CaptureReport.source_ref == "IMP-002")).one()
    assert second.capture_date == "2024-08-10"  # DD.MM.YYYY read
    # The imported records are searchable like any other.
    rows, _ = registry.search_persons(session, PersonQuery(text="Shablonov Nikolai", place="Суджа"))
    assert [p.surname for p in rows] == ["Шаблонов"]
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "import.captures")).one()
    assert event.actor_id == researcher.id
    assert audit.verify_chain(session, key=audit_key).ok


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_bad_last_rows_write_nothing_and_every_problem_is_listed(tmp_path, session, run, fmt):
    rows = [HEADERS, *GOOD_ROWS,
            ["IMP-004", "Образчиков", "Юрий", "", "31.02.2005", "", "general", "2024-08-10", "", "", "", "", "", "", ""],
            ["IMP-005", "", "Сергей", "", "", "", "", "", "", "", "javascript:alert(1)", "video", "Z", "9", ""]]
    before = counts(session)
    report = run(build(tmp_path, fmt, rows))
    assert not report.ok
    assert sorted(problems(report)) == sorted([
        (5, "date_of_birth"), (5, "service_category"),
        (6, "evidence_url"), (6, "source_reliability"), (6, "info_credibility"),
    ])
    assert all(e.text() for e in report.errors)
    assert report.rows_created == 0 and report.persons_created == 0
    assert counts(session) == before


def test_a_missing_source_ref_and_a_duplicated_one_are_reported(tmp_path, session, run):
    rows = [HEADERS, GOOD_ROWS[0], ["", "Пробнов", *[""] * 13], ["IMP-001", "Эскизов", *[""] * 13]]
    before = counts(session)
    report = run(build(tmp_path, "csv", rows))
    assert sorted(problems(report)) == [(3, "source_ref"), (4, "source_ref")]
    assert counts(session) == before


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_dry_run_writes_nothing_but_reports_the_counts(tmp_path, session, run, fmt):
    before = counts(session)
    report = run(build(tmp_path, fmt, [HEADERS, *GOOD_ROWS]), dry_run=True)
    assert report.ok and report.dry_run
    assert (report.rows_created, report.persons_created, report.evidence_created, report.rows_skipped) == (3, 3, 3, 0)
    assert counts(session) == before


def test_importing_the_same_file_twice_adds_nothing_the_second_time(tmp_path, session, run):
    path = build(tmp_path, "xlsx", [HEADERS, *GOOD_ROWS])
    first = run(path)
    assert first.rows_created == 3
    after_first = counts(session)
    again = run(path)
    assert again.ok
    assert (again.rows_created, again.rows_skipped, again.persons_created) == (0, 3, 0)
    after_second = counts(session)
    assert {k: v for k, v in after_second.items() if k not in {"ImportBatch", "AuditEvent"}} == {
        k: v for k, v in after_first.items() if k not in {"ImportBatch", "AuditEvent"}}
    # A file with one new row adds only that row; its dry run says so first.
    extended = build(tmp_path, "xlsx", [HEADERS, *GOOD_ROWS,
                                        ["IMP-004", "Пробнов", "Сергей", *[""] * 12]], name="extended")
    dry = run(extended, dry_run=True)
    assert (dry.rows_created, dry.rows_skipped) == (1, 3)
    third = run(extended)
    assert (third.rows_created, third.rows_skipped) == (1, 3)
    assert counts(session)["Person"] == after_first["Person"] + 1


def test_a_source_ref_with_invisible_characters_is_the_same_row(tmp_path, session, run):
    run(build(tmp_path, "csv", [HEADERS, *GOOD_ROWS]))
    before = counts(session)
    # The same row pasted again from a web page, with a zero-width space and doubled spaces.
    again = run(build(tmp_path, "csv", [HEADERS, ["IMP-\u200b001", *GOOD_ROWS[0][1:]]], name="again"))
    assert again.ok, [e.text() for e in again.errors]
    assert (again.rows_created, again.rows_skipped) == (0, 1)
    assert counts(session)["Person"] == before["Person"]


RU_HEADERS = ["Номер записи", "Фамилия", "Имя", "Отчество", "Дата рождения", "Воинская часть", "Дата пленения",
              "Место пленения", "Ссылка", "Тип доказательства", "Надежность источника", "Достоверность информации",
              "Примечание"]
UK_HEADERS = ["Номер запису", "Прізвище", "Ім\u2019я", "По батькові", "Дата народження", "Військова частина",
              "Дата полонення", "Місце полонення", "Посилання", "Тип доказу", "Надійність джерела",
              "Достовірність інформації", "Примітка"]


@pytest.mark.parametrize(("headers", "fmt"), [(RU_HEADERS, "xlsx"), (UK_HEADERS, "xlsx"), (RU_HEADERS, "csv"), (UK_HEADERS, "csv")])
def test_russian_and_ukrainian_headers(tmp_path, session, run, headers, fmt):
    rows = [headers,
            ["RU-1", "Условнов", "Дмитрий", "Сергеевич", "1999", "в/ч 22222", "2024-08-11", "Суджа",
             "https://example.org/ru/1", "post", "C", "3", "Fictitious."]]
    report = run(build(tmp_path, fmt, rows))
    assert report.ok, [e.text() for e in report.errors]
    assert report.rows_created == 1 and report.evidence_created == 1
    person = session.exec(select(Person).where(Person.surname == "Условнов")).one()
    assert (person.given_name, person.patronymic, person.birth_year, person.unit_number) == ("Дмитрий", "Сергеевич", 1999, "22222")


def test_an_excel_style_csv_with_bom_and_semicolons(tmp_path, session, run):
    path = write_csv(tmp_path / "excel.csv", [RU_HEADERS[:4], ["XL-1", "Эскизов", "Максим", ""]], delimiter=";",
                     encoding="utf-8-sig")
    report = run(path)
    assert report.ok and report.rows_created == 1


def test_unknown_columns_are_refused(tmp_path, session, run):
    before = counts(session)
    report = run(build(tmp_path, "xlsx", [[*HEADERS, "favourite colour"], [*GOOD_ROWS[0], "green"]]))
    assert not report.ok
    assert "favourite colour" in report.errors[0].text()
    assert counts(session) == before


def test_required_columns_are_required(tmp_path, session, run):
    before = counts(session)
    report = run(build(tmp_path, "csv", [["surname", "given_name"], ["Пробнов", "Сергей"]]))
    assert not report.ok
    assert report.errors[0].column == "source_ref"
    assert counts(session) == before


def test_a_formula_cell_is_refused(tmp_path, session, run):
    path = tmp_path / "formula.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADERS[:4])
    sheet.append(["F-1", "Пробнов", "Сергей", ""])
    sheet.append(["F-2", '=HYPERLINK("https://example.org","Эскизов")', "Максим", ""])
    workbook.save(path)
    before = counts(session)
    report = run(path)
    assert not report.ok
    assert "formula" in report.errors[0].text().lower()
    assert "B3" in report.errors[0].text()
    assert counts(session) == before


def zip_bomb() -> bytes:
    """A valid-looking .xlsx whose sheet inflates to ~210 MB from a few hundred KB."""
    base = io.BytesIO()
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADERS)
    workbook.save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with dst.open(info.filename, "w", force_zip64=True) as member:
                    member.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
                    chunk = b"<row/>" * 100_000
                    for _ in range(350):
                        member.write(chunk)
                    member.write(b"</sheetData></worksheet>")
            else:
                dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("bomb.xlsx", None, "unpack to"),
    ("not-a-spreadsheet.xlsx", b"source_ref,surname\nZ-1,Vymyslov\n", "not a valid .xlsx"),
    ("truncated.xlsx", b"PK\x03\x04" + b"\x00" * 100, "could not be read"),
    ("captures.txt", b"source_ref,surname\nZ-1,Vymyslov\n", "Only .xlsx and .csv"),
    ("empty.csv", b"", "empty"),
    ("latin1.csv", "source_ref,surname\nZ-1,Выдумкин\n".encode("cp1251"), "UTF-8"),
])
def test_malformed_files_get_a_clear_error_and_write_nothing(tmp_path, session, run, name, data, expected):
    path = tmp_path / name
    path.write_bytes(zip_bomb() if data is None else data)
    before = counts(session)
    report = run(path)
    assert not report.ok
    assert [e.row for e in report.errors] == [0]
    assert expected in report.errors[0].text()
    assert counts(session) == before


def test_a_too_large_file_is_refused_before_reading(tmp_path, session, run, monkeypatch):
    path = build(tmp_path, "csv", [HEADERS, *GOOD_ROWS])

    def must_not_read(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(imports, "read_table", must_not_read)
    before = counts(session)
    report = run(path, max_bytes=100)
    assert not report.ok
    assert "too large" in report.errors[0].text()
    assert counts(session) == before


def test_only_researchers_import(tmp_path, session, run, make_user):
    staff = make_user("staff")
    before = counts(session)
    report = run(build(tmp_path, "csv", [HEADERS, *GOOD_ROWS]), actor=staff)
    assert not report.ok
    assert counts(session) == before


@pytest.mark.parametrize("fail_at", ["evidence", "audit events"])
@pytest.mark.parametrize("chunk", [1000, 2])
def test_a_failure_half_way_through_writing_leaves_nothing(tmp_path, app, session, run, monkeypatch, fail_at, chunk):
    """The disk fills up after some rows are written (with chunk=2: in the second chunk, the
    first one fully written, audit events included): nothing of the file is kept."""
    rows = [HEADERS, *GOOD_ROWS, ["IMP-004", "Пробнов", "Сергей", "", "", "", "", "", "", "",
                                  "https://example.org/imp/4", "", "", "", ""]]
    monkeypatch.setattr(imports, "WRITE_CHUNK", chunk)
    before = counts(session)
    failing = {"evidence": (registry, "insert_many", Evidence), "audit events": (audit, "insert_many", AuditEvent)}
    module, name, model = failing[fail_at]
    original = getattr(module, name)
    calls = {"n": 0}

    def flaky(session_: Session, table: Any, rows_: list[dict[str, Any]]) -> list[int]:
        result = original(session_, table, rows_)  # the rows are written, then the disk "fills up"
        if table is model:
            calls["n"] += 1
            if calls["n"] == (2 if chunk == 2 else 1):
                raise OSError("No space left on device")
        return result

    monkeypatch.setattr(module, name, flaky)
    with pytest.raises(OSError):
        run(build(tmp_path, "xlsx", rows))
    assert calls["n"] == (2 if chunk == 2 else 1)
    assert counts(session) == before
    session.commit()
    # Seen from another connection too.
    with Session(app.extensions["pow_registry.engine"]) as other:
        assert counts(other) == before


def test_a_row_the_database_refuses_becomes_a_report_not_a_crash(tmp_path, session, run, monkeypatch):
    """If a row is refused while writing (here: the same source_ref was saved meanwhile, after the
    import looked), nothing is written and that row is reported."""
    assert run(build(tmp_path, "csv", [HEADERS, GOOD_ROWS[1]], name="first")).ok  # IMP-002
    looked = {"n": 0}
    real_existing = imports._existing_refs

    def before_it_was_saved(session_: Session, column: Any, refs: list[str]) -> set[str]:
        looked["n"] += 1
        return set() if looked["n"] == 1 else real_existing(session_, column, refs)

    monkeypatch.setattr(imports, "_existing_refs", before_it_was_saved)
    before = counts(session)
    report = run(build(tmp_path, "csv", [HEADERS, *GOOD_ROWS]))
    assert not report.ok
    assert problems(report) == [(3, "source_ref")]
    assert "saved meanwhile" in report.errors[0].text()
    assert report.rows_created == 0
    assert counts(session) == before


# --- partial identities (issue 13): rows without a surname ---------------------------------------

PARTIAL_HEADERS = ["Номер записи", "Фамилия", "Имя", "Позывной", "Воинская часть", "Особые приметы",
                   "Дата пленения", "Ссылки"]
PARTIAL_ROWS = [
    ["PART-001", "", "Виктор", "", "в/ч 12345", "", "2024-08-10", "https://example.org/part/1"],
    ["PART-002", "", "", "«Сокол»", "", "", "2024-08", ""],
    ["PART-003", "", "", "", "", "Шрам над левой бровью, видео с 01:20", "2024-08-11", "https://example.org/part/3"],
    ["PART-004", "Пробнов", "", "", "", "", "", ""],
]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_rows_without_a_surname_are_imported_with_what_identifies_them(tmp_path, session, run, fmt):
    report = run(build(tmp_path, fmt, [PARTIAL_HEADERS, *PARTIAL_ROWS]))
    assert report.ok, [e.text() for e in report.errors]
    assert report.persons_created == 4 and report.evidence_created == 2
    stored = {r.source_ref: session.get(Person, r.person_id) for r in session.exec(select(CaptureReport))}
    assert (stored["PART-001"].surname, stored["PART-001"].given_name, stored["PART-001"].unit_number) == (
        "", "Виктор", "12345")
    assert (stored["PART-002"].surname, stored["PART-002"].call_sign) == ("", "Сокол")
    assert stored["PART-003"].appearance.startswith("Шрам")
    assert stored["PART-004"].surname == "Пробнов"
    # Imported again: nothing twice, rows without a surname included.
    again = run(build(tmp_path, fmt, [PARTIAL_HEADERS, *PARTIAL_ROWS], name="again"))
    assert again.ok and again.rows_skipped == 4 and again.persons_created == 0


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_row_with_nothing_identifying_is_a_row_error_and_nothing_is_written(tmp_path, session, run, fmt):
    rows = [PARTIAL_HEADERS, *PARTIAL_ROWS,
            ["PART-005", "", "", "", "", "", "2024-08-12", "https://example.org/part/5"]]
    before = counts(session)
    report = run(build(tmp_path, fmt, rows))
    assert not report.ok
    assert problems(report) == [(6, "surname")]
    assert report.errors[0].message == registry.NOTHING_IDENTIFIES
    assert report.persons_created == 0 and counts(session) == before


def test_the_call_sign_and_appearance_columns_have_russian_ukrainian_and_english_headers(tmp_path, session, run):
    for headers in (["source_ref", "call_sign", "appearance"], ["ref", "Call sign", "Distinguishing marks"],
                    ["Номер запису", "Позивний", "Особливі прикмети"], ["№ записи", "позывной", "приметы"]):
        report = run(build(tmp_path, "csv", [headers, ["H-" + headers[1], "Сокол", "Борода"]], name=headers[1]))
        assert report.ok, (headers, [e.text() for e in report.errors])
    assert {p.call_sign for p in session.exec(select(Person))} == {"Сокол"}


def test_a_file_without_any_identifying_column_is_refused(tmp_path, session, run):
    before = counts(session)
    report = run(build(tmp_path, "csv", [["source_ref", "capture_date", "notes"], ["X-1", "2024-08-10", "видео"]]))
    assert not report.ok and report.errors[0].row == 1
    assert "surname/given_name/patronymic/call_sign" in report.errors[0].column
    assert counts(session) == before
