"""Reading uploaded tables (.xlsx, .csv) that may be hostile.

Partners send spreadsheets; some are broken, some are crafted. Everything that can go wrong
while reading becomes a ``TableError`` with a message a person can act on, and nothing is parsed
before its size is known to be bounded (see design/security.md, "Spreadsheets in and out").
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pow_registry.domain.tabular_limits import N_, TableError, TableLimits, count

__all__ = [
    "CAPTURE_COLUMNS",
    "COUNTERPART_COLUMNS",
    "INQUIRY_COLUMNS",
    "MAX_CELL_CHARS",
    "Table",
    "TableError",
    "TableLimits",
    "column_letter",
    "map_columns",
    "normalize_header",
    "read_table",
]

MAX_CELL_CHARS = 10_000
"""Longest cell accepted; no field in the import columns needs more."""


@dataclass
class Table:
    """A table as the user sees it: headers, then data rows with their spreadsheet row numbers.

    Every row has exactly ``len(headers)`` cells; cells are stripped strings, ``""`` when empty.
    Fully empty rows are left out but the row numbers still count them, so an error report
    points at the row the user sees.
    """

    headers: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def column_letter(index: int) -> str:
    """Spreadsheet column letter for a 0-based index (0 -> "A", 26 -> "AA"), for messages."""
    n = index + 1
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


# --------------------------------------------------------------------------------------------
# Entry point


def read_table(
    data: bytes,
    filename: str,
    *,
    limits: TableLimits | None = None,
    max_bytes: int | None = None,
    max_rows: int | None = None,
    max_uncompressed: int | None = None,
    max_members: int | None = None,
) -> Table:
    """Read the first sheet of an .xlsx file or a .csv file into a ``Table``.

    The extension decides the format (content sniffing would let a crafted file pick its own
    parser). ``limits`` bounds the upload and what it expands to (``TableLimits``, whose
    defaults fit partner files); the four ``max_*`` arguments override single limits. Limits
    are checked before, or while, anything is parsed; all failures raise ``TableError``.
    """
    overrides = {name: value for name, value in (
        ("max_bytes", max_bytes), ("max_rows", max_rows),
        ("max_uncompressed", max_uncompressed), ("max_members", max_members),
    ) if value is not None}
    limits = dataclasses.replace(limits or TableLimits(), **overrides)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TableError(N_("The upload must be given as bytes."))
    data = bytes(data)
    name = (filename or "").strip().lower()
    if name.endswith(".xlsx"):
        kind = "xlsx"
    elif name.endswith(".csv"):
        kind = "csv"
    else:
        raise TableError(N_("Only .xlsx and .csv files can be imported."))

    if len(data) > limits.max_bytes:
        raise TableError(N_("The file is too large (%(size)s bytes; the limit is %(limit)s bytes)."),
                         size=count(len(data)), limit=count(limits.max_bytes))
    if not data:
        raise TableError(N_("The file is empty."))

    if kind == "xlsx":
        return _read_xlsx(data, limits)
    return _build_table(_csv_rows(data, limits), limits=limits, kind="csv")


def _build_table(raw_rows: Iterable[tuple[int, list[str]]], *, limits: TableLimits, kind: str) -> Table:
    """Turn raw (row number, cells) pairs into a rectangular ``Table``, enforcing the limits.

    The first non-empty row is the header row. Data under a blank header (or to the right of
    the last header) is refused: a column without a name would otherwise be silently dropped.
    """
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    chars = 0
    for row_number, cells in raw_rows:
        for index, text in enumerate(cells):
            if len(text) > MAX_CELL_CHARS:
                raise TableError(
                    N_("Row %(row)s, column %(column)s: the cell holds %(count)s characters; at "
                       "most %(limit)s are allowed."),
                    row=row_number, column=column_letter(index), count=count(len(text)),
                    limit=count(MAX_CELL_CHARS))
            chars += len(text)
        if chars > limits.max_table_chars:
            # One shared string referenced by every cell takes little room in the file and
            # its length times the cells in memory.
            raise TableError(N_("The table holds more than %(limit)s characters of text; at most "
                                "%(limit)s are allowed."), limit=count(limits.max_table_chars))
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if headers is None:
            headers = cells
            continue
        for index, text in enumerate(cells):
            if text and (index >= len(headers) or headers[index] == ""):
                raise TableError(
                    N_("Row %(row)s, column %(column)s holds data but its column has no header. "
                       "Name the column or remove the data."),
                    row=row_number, column=column_letter(index))
        if len(rows) >= limits.max_rows:
            raise TableError(N_("The file has more than %(limit)s data rows."),
                             limit=count(limits.max_rows))
        cells.extend([""] * (len(headers) - len(cells)))
        rows.append((row_number, cells))
    if headers is None:
        if kind == "xlsx":
            raise TableError(N_("The spreadsheet has no header row."))
        raise TableError(N_("The file has no header row."))
    return Table(headers=headers, rows=rows)


# --------------------------------------------------------------------------------------------
# XLSX


def _read_xlsx(data: bytes, limits: TableLimits) -> Table:
    """Check the container, then read the first worksheet; every failure becomes TableError.

    Every part openpyxl opens is first bounded by what it really expands to (tabular_xlsx).
    openpyxl's own UserWarnings (missing styles, odd date serials) are silenced: they describe
    the partner's file, and under ``-W error`` they would otherwise abort a usable import. (The
    warnings filter is process-wide; losing openpyxl warnings from another thread is harmless.)
    """
    from pow_registry.domain import tabular_xlsx

    tabular_xlsx.check_container(data, limits)

    import openpyxl  # imported here: CSV-only callers need not pay for it

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise TableError(
            N_("Spreadsheet import is disabled: the defusedxml package is not active, so .xlsx "
               "files cannot be parsed safely.")
        )

    workbook: Any = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                workbook = tabular_xlsx.open_workbook(data, limits)
                sheets = workbook.worksheets
                if not sheets:
                    raise TableError(N_("The spreadsheet has no worksheet."))
                sheet = sheets[0]
                # The <dimension> tag is written by the producing application and may be
                # wrong; left alone, read-only mode stops at the row it names.
                sheet.reset_dimensions()
                rows = (
                    (number, [_xlsx_cell_text(cell, number) for cell in row])
                    for number, row in enumerate(sheet.iter_rows(min_row=1, min_col=1), start=1)
                )
                return _build_table(rows, limits=limits, kind="xlsx")
            except TableError:
                raise
            except Exception as exc:  # noqa: BLE001 - any parser failure is the file's fault
                # openpyxl wraps what it meets while loading, our own refusals included.
                cause = _table_error_in(exc)
                if cause is not None:
                    raise cause from exc
                raise TableError(tabular_xlsx.READ_FAILURE,
                                 reason=tabular_xlsx.describe(exc)) from exc
    finally:
        if workbook is not None:
            # Closing must not hide the real outcome (a TableError or the table).
            with contextlib.suppress(Exception):
                workbook.close()


def _table_error_in(exc: BaseException) -> TableError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TableError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _xlsx_cell_text(cell: Any, row_number: int) -> str:
    """Render one read-only cell as the text the user typed; refuse formulas and error cells."""
    value = cell.value
    if value is None:
        return ""
    data_type = getattr(cell, "data_type", None)
    coordinate = getattr(cell, "coordinate", None) or f"row {row_number}"
    if data_type == "f" or _is_formula_object(value):
        raise TableError(
            N_("Cell %(cell)s contains a formula. Formulas are not accepted; paste the values "
               "only (Paste Special > Values) and try again."), cell=coordinate)
    if data_type == "e":
        raise TableError(
            N_("Cell %(cell)s contains the spreadsheet error %(error)s. Correct or clear it."),
            cell=coordinate, error=str(value)[:40])
    return _value_text(value)


def _is_formula_object(value: Any) -> bool:
    """openpyxl wraps array and data-table formulas in objects instead of '=...' strings."""
    return type(value).__name__ in {"ArrayFormula", "DataTableFormula"}


def _value_text(value: Any) -> str:
    """Text form of a cell value: ISO dates, integers without '.0', TRUE/FALSE."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return str(value).strip()


# --------------------------------------------------------------------------------------------
# CSV

_DELIMITERS = (",", ";", "\t")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
"""One physical line with its ending, split as io.StringIO(newline="") splits (LF, CR, CRLF)."""


def _csv_rows(data: bytes, limits: TableLimits) -> Iterator[tuple[int, list[str]]]:
    """Decode and parse CSV eagerly enough to fail early on encoding and NUL bytes."""
    if b"\x00" in data:
        raise TableError(
            N_("The CSV file contains NUL bytes. Save it as CSV (UTF-8) and try again (a UTF-16 "
               "export from Excel looks like this).")
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableError(
            N_("The CSV file must be encoded as UTF-8 (the byte at position %(position)s is not "
               "valid UTF-8). In Excel choose 'CSV UTF-8' when saving."), position=exc.start
        ) from exc
    return _iterate_csv(text, _sniff_delimiter(text), limits)


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter from the header line: the candidate seen most often outside quotes.

    csv.Sniffer guesses from the whole sample and is easily fooled by punctuation in notes;
    header names never contain the delimiter, so counting there is reliable. Falls back to ",".
    """
    counts = dict.fromkeys(_DELIMITERS, 0)
    in_quotes = False
    seen_content = False
    for char in text[:65_536]:
        if char == '"':
            in_quotes = not in_quotes
            seen_content = True
        elif in_quotes:
            continue
        elif char in "\r\n":
            if seen_content:
                break  # end of the header line
        elif char in counts:
            counts[char] += 1
            seen_content = True
        elif not char.isspace():
            seen_content = True
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier candidate
    return best if counts[best] else ","


class _Lines:
    """The text's physical lines, one at a time, for csv.reader: refuses a record (its lines
    since the last record ended) longer than the limit before csv builds its cells."""

    def __init__(self, text: str, limit: int) -> None:
        self._lines = _LINE.finditer(text)
        self._limit = limit
        self.record_chars = 0
        self.line_number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines).group()
        self.line_number += 1
        self.record_chars += len(line)
        if self.record_chars > self._limit:
            raise TableError(
                N_("Line %(line)s of the CSV file holds a row longer than %(limit)s characters; "
                   "a row of the import needs far less."),
                line=self.line_number, limit=count(self._limit))
        return line


def _iterate_csv(text: str, delimiter: str, limits: TableLimits) -> Iterator[tuple[int, list[str]]]:
    """Yield (record number, stripped cells); record numbers match the rows Excel would show.

    Blank lines count against the row bound too (they cost as much to read as any other), and
    a record's length and number of cells are bounded before its cells are kept.
    """
    lines = _Lines(text, limits.max_record_chars)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    row_number = 0
    while True:
        lines.record_chars = 0
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TableError(
                N_("The CSV file could not be read near line %(line)s: %(reason)s."),
                line=reader.line_num, reason=str(exc)
            ) from exc
        row_number += 1
        if row_number > limits.max_row_elements:
            raise TableError(
                N_("The CSV file has more than %(limit)s lines (blank lines count too). Delete "
                   "the blank lines below the data and try again."),
                limit=count(limits.max_row_elements))
        if len(record) > limits.max_columns:
            raise TableError(
                N_("Row %(row)s of the CSV file has %(count)s columns; at most %(limit)s are "
                   "allowed."),
                row=row_number, count=count(len(record)), limit=count(limits.max_columns))
        yield row_number, [cell.strip() for cell in record]


# --------------------------------------------------------------------------------------------
# Header mapping

_APOSTROPHES = "'\u2019\u2018\u02bc\u02b9\u0060\u00b4\u2032\uff07"
_HEADER_NOISE = re.compile(r"[\s_\-\u2010-\u2015\u00ad]+")


def normalize_header(text: str) -> str:
    """Comparison key for a header: case, spacing, '_'/'-', ё/е and apostrophe variants folded.

    A trailing '*' or ':' (common in templates for required fields) is ignored too.
    """
    key = unicodedata.normalize("NFKC", text).casefold()
    key = key.replace("ё", "е")
    for apostrophe in _APOSTROPHES:
        key = key.replace(apostrophe, "'")
    key = _HEADER_NOISE.sub("", key)
    return key.rstrip("*:")


_UNKNOWN_SHOWN = 20


def _shown(header: str) -> str:
    """A header as a message quotes it: stripped, at most 60 characters."""
    text = header.strip()
    return repr(text if len(text) <= 60 else text[:60] + "…")


def map_columns(headers: list[str], columns: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Map canonical column names to their index in ``headers``.

    Each canonical name matches itself and its aliases. Unknown headers are an error (listed
    together, so one round trip fixes them all), as is the same column given twice. Blank
    headers are skipped: ``read_table`` already refused data under them. Missing columns are
    simply absent from the result; the caller decides what is required.
    """
    lookup: dict[str, str] = {}
    for canonical, aliases in columns.items():
        for name in (canonical, *aliases):
            key = normalize_header(name)
            other = lookup.setdefault(key, canonical)
            if other != canonical:
                raise ValueError(f"Header alias {name!r} is ambiguous: {other} / {canonical}")

    found: dict[str, int] = {}
    unknown: list[str] = []
    for index, header in enumerate(headers):
        if not header.strip():
            continue
        match = lookup.get(normalize_header(header))
        if match is None:
            unknown.append(header.strip())
            continue
        if match in found:
            raise TableError(
                N_("Columns %(first)s (%(first_name)s) and %(second)s (%(second_name)s) both mean "
                   "%(column)s; keep only one of them."),
                first=column_letter(found[match]), first_name=_shown(headers[found[match]]),
                second=column_letter(index), second_name=_shown(header), column=repr(match))
        found[match] = index
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown[:_UNKNOWN_SHOWN])
        if len(unknown) > _UNKNOWN_SHOWN:
            shown += f" (+{len(unknown) - _UNKNOWN_SHOWN})"
        raise TableError(N_("Unknown columns: %(unknown)s. Expected columns are: %(expected)s."),
                         unknown=shown, expected=", ".join(columns))
    return found


# Aliases: English variants, then Russian, then Ukrainian. The canonical name always matches.
_PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "source_ref": (
        "source reference", "reference", "ref", "record id", "record number",
        "номер записи", "код записи", "идентификатор записи", "id записи", "№ записи",
        "номер запису", "код запису", "ідентифікатор запису", "id запису", "№ запису",
    ),
    "surname": (
        "last name", "family name",
        "фамилия",
        "прізвище",
    ),
    "given_name": (
        "first name", "forename", "given names",
        "имя",
        "ім'я",
    ),
    "patronymic": (
        "patronym", "father's name", "middle name",
        "отчество",
        "по батькові",
    ),
    "date_of_birth": (
        "dob", "birth date", "birthdate", "year of birth",
        "дата рождения", "год рождения", "д.р.",
        "дата народження", "рік народження",
    ),
    "unit": (
        "military unit",
        "воинская часть", "в/ч", "войсковая часть", "часть", "подразделение",
        "військова частина", "частина", "підрозділ",
    ),
    "service_category": (
        "category", "service type",
        "категория", "категория военнослужащего", "вид службы",
        "категорія", "категорія військовослужбовця", "вид служби",
    ),
    "notes": (
        "note", "comment", "comments", "remarks",
        "примечание", "примечания", "комментарий", "комментарии",
        "примітка", "примітки", "коментар", "коментарі",
    ),
}

CAPTURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "source_ref": _PERSON_COLUMNS["source_ref"],
    "surname": _PERSON_COLUMNS["surname"],
    "given_name": _PERSON_COLUMNS["given_name"],
    "patronymic": _PERSON_COLUMNS["patronymic"],
    "date_of_birth": _PERSON_COLUMNS["date_of_birth"],
    "place_of_birth": (
        "birthplace", "birth place",
        "место рождения",
        "місце народження",
    ),
    "rank": (
        "military rank",
        "звание", "воинское звание",
        "звання", "військове звання",
    ),
    "unit": _PERSON_COLUMNS["unit"],
    "personal_number": (
        "personal no", "personal no.", "service number",
        "личный номер", "личный номер военнослужащего", "номер жетона", "жетон",
        "особистий номер", "особистий номер військовослужбовця", "номер жетону",
    ),
    "service_category": _PERSON_COLUMNS["service_category"],
    "home_region": (
        "region", "home region",
        "регион", "регион проживания", "место жительства", "область",
        "регіон", "регіон проживання", "місце проживання",
    ),
    "capture_date": (
        "date of capture", "captured on",
        "дата пленения", "дата попадания в плен", "дата захвата",
        "дата полонення", "дата потрапляння в полон", "дата захоплення",
    ),
    "capture_place": (
        "place of capture", "captured at",
        "место пленения", "место попадания в плен", "место захвата",
        "місце полонення", "місце потрапляння в полон", "місце захоплення",
    ),
    "health": (
        "health status", "condition",
        "здоровье", "состояние здоровья",
        "здоров'я", "стан здоров'я",
    ),
    "evidence_url": (
        "evidence", "url", "urls", "link", "links", "evidence link", "evidence links",
        "ссылка", "ссылки", "ссылка на доказательство", "ссылки на доказательства",
        "доказательства",
        "посилання", "посилання на доказ", "посилання на докази", "докази",
    ),
    "evidence_kind": (
        "evidence type", "kind of evidence",
        "тип доказательства", "вид доказательства", "тип источника",
        "тип доказу", "вид доказу", "тип джерела",
    ),
    "source_reliability": (
        "reliability",
        "надежность источника", "надежность",
        "надійність джерела", "надійність",
    ),
    "info_credibility": (
        "credibility", "information credibility",
        "достоверность информации", "достоверность",
        "достовірність інформації", "достовірність",
    ),
    "notes": _PERSON_COLUMNS["notes"],
    # Added for partly identified men (issue 13): what he is called, what a photo shows of him.
    "call_sign": (
        "call sign", "nom de guerre",
        "позывной",
        "позивний",
    ),
    "appearance": (
        "distinguishing marks", "distinguishing features", "special features",
        "особые приметы", "приметы", "внешность",
        "особливі прикмети", "прикмети", "зовнішність",
    ),
}
"""Columns of ``pow-registry import captures`` (contract.md, "Import columns")."""

INQUIRY_COLUMNS: dict[str, tuple[str, ...]] = {
    "source_ref": _PERSON_COLUMNS["source_ref"],
    "surname": _PERSON_COLUMNS["surname"],
    "given_name": _PERSON_COLUMNS["given_name"],
    "patronymic": _PERSON_COLUMNS["patronymic"],
    "date_of_birth": _PERSON_COLUMNS["date_of_birth"],
    "unit": _PERSON_COLUMNS["unit"],
    "service_category": _PERSON_COLUMNS["service_category"],
    "last_contact_date": (
        "last contact", "date of last contact",
        "дата последней связи", "последняя связь", "дата последнего контакта",
        "дата останнього зв'язку", "останній зв'язок", "дата останнього контакту",
    ),
    "last_known_place": (
        "last known location", "last known whereabouts", "last seen",
        "последнее известное местонахождение", "последнее известное место",
        "последнее местонахождение",
        "останнє відоме місцеперебування", "останнє відоме місце",
        "останнє місцеперебування",
    ),
    "requester_name": (
        "requester", "applicant", "applicant name",
        "заявитель", "фио заявителя", "имя заявителя",
        "заявник", "піб заявника", "ім'я заявника",
    ),
    "requester_relationship": (
        "relationship", "relation",
        "степень родства", "родство", "кем приходится",
        "ступінь спорідненості", "спорідненість", "ким доводиться",
    ),
    "requester_phone": (
        "phone", "telephone", "phone number",
        "телефон", "телефон заявителя", "контактный телефон",
        "телефон заявника", "контактний телефон",
    ),
    "requester_email": (
        "email", "e-mail", "email address",
        "электронная почта", "эл. почта", "email заявителя",
        "електронна пошта", "ел. пошта", "email заявника",
    ),
    "preferred_language": (
        "language",
        "язык", "предпочтительный язык", "язык общения",
        "мова", "бажана мова", "мова спілкування",
    ),
    "notes": _PERSON_COLUMNS["notes"],
}
"""Columns of ``pow-registry import inquiries`` (contract.md, "Import columns")."""

COUNTERPART_COLUMNS: dict[str, tuple[str, ...]] = {
    "row_number": ("no", "no.", "#", "n", "№", "№ п/п", "номер", "п/п"),
    "surname": _PERSON_COLUMNS["surname"],
    "given_name": _PERSON_COLUMNS["given_name"],
    "patronymic": _PERSON_COLUMNS["patronymic"],
    "date_of_birth": _PERSON_COLUMNS["date_of_birth"],
    "unit": _PERSON_COLUMNS["unit"],
    "place": ("place", "capture place", "place of capture", "location",
              "место", "место пленения", "місце", "місце полонення"),
    "notes": _PERSON_COLUMNS["notes"],
}
"""Columns of a counterpart list: names as the other side wrote them (issue 4)."""
