"""A frozen exchange list as the .xlsx an ombudsman office works with (design/domain.md, issue 4).

Pure: it takes a `ListExport` (plain values the service copies out of the database when the list
is frozen) and returns the file's bytes. Three sheets, every label in the office's language:

1. **List** — the header row, then one row per person in the columns the office asked for
   (`ListExport.columns`, keys of `COLUMNS`). A *verification request* gets two more, empty
   columns for the office's answer (whereabouts, health). Header bold and frozen, an autofilter
   over the table, fixed column widths, landscape printing with the header repeated. Full dates
   are real date cells (format YYYY-MM-DD); a date known only to the year or month is text
   ("2005", "2005-03"), never an invented 1 January. Every text goes through
   `spreadsheet.cell_text` and is stored as a string (see `_Cells`), so no entered text
   becomes a formula, an error value or a crash; a text that starts like a formula is shown
   exactly as typed, with the cell's quote-prefix style; empty texts are empty cells. Texts with
   several lines, or wider than their column, wrap.
2. **Cover** — list number, kind, office and country, when it was created and frozen (UTC), who
   froze it, how many persons, how many in each category, and how the row fingerprints are made.
3. **Manifest** — per row: number, registry reference, the row's SHA-256 and the evidence
   (id and link) it rests on.

Row fingerprint (`row_sha256`): the SHA-256, in lower-case hex, of the UTF-8 bytes of ::

    json.dumps(dataclasses.asdict(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

i.e. the `ListRow` exactly as the registry handed it over (names as entered, dates as the partial
text, `categories` as an array of strings, `evidence` as an array of
`[id, link]` pairs, `null` for a missing date), not the office-script or spreadsheet-safe forms
shown in the sheet. Anyone holding the registry's data can recompute it; `row_canonical_json`
returns the exact bytes. (A lone surrogate, which no valid text holds, is encoded as Python's
"surrogatepass" does, so that even such a row has a fingerprint.)

Determinism: the same `ListExport` always gives the same bytes, in any process, on any day,
whether or not lxml is installed, so the file's SHA-256 (`list_sha256`), recorded in the audit
log at the first export, identifies it. Three things would otherwise change them:

- the time: openpyxl stamps it into docProps/core.xml and every zip entry; here the document's
  created and modified times are the list's `frozen_at`, and every zip entry is dated 1980-01-01
  00:00 with fixed attributes, in openpyxl's own member order;
- lxml: openpyxl serialises with lxml when it can import it (`openpyxl.LXML`, decided once, at
  its import, for the whole process) and with the standard library otherwise, and the two write
  the same XML differently (character references, empty tags, where namespaces are declared).
  The worksheets are therefore always written by `_SheetWriter`, openpyxl's own worksheet writer
  given the standard library's serialiser (et_xmlfile) for this workbook only, and every other
  part (workbook, styles, properties, relationships, content types, theme; a few kB) is written
  in W3C Canonical XML 2.0 (`_canonical_xml`), a form that depends on the document alone. Nothing
  global is switched: another thread using openpyxl meanwhile is not affected;
- the libraries' versions: openpyxl (it names itself in docProps/app.xml and decides the
  markup), et_xmlfile and zlib's deflate output. Keep the bytes exported at the first export if
  the recorded SHA-256 must still match after an upgrade (the service does).

Write-only sheets stream their XML to temporary files (the system temp directory, private to
the process's user) that are removed when the file is assembled, also on failure.

The workbook properties are set deliberately: creator and last-modified-by "pow_registry", a
title such as "Exchange list 12", the office's language; no user name, path or database id
beyond what the columns show.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeAlias
from xml.etree import ElementTree

from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import fromstring as parse_xml
from et_xmlfile import xmlfile as stdlib_xmlfile
from openpyxl import Workbook
from openpyxl.cell._writer import _set_attributes as cell_attributes
from openpyxl.cell.cell import Cell
from openpyxl.compat import safe_string
from openpyxl.packaging.core import DocumentProperties
from openpyxl.styles import Alignment, Font, NamedStyle
from openpyxl.styles.borders import DEFAULT_BORDER
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import tostring as openpyxl_tostring
from openpyxl.xml.functions import whitespace

from pow_registry.domain.dates import InvalidDate, PartialDate
from pow_registry.domain.office_script import OfficeNames, office_names
from pow_registry.domain.spreadsheet import cell_text

__all__ = [
    "ANSWER_COLUMNS",
    "CATEGORY_LABELS",
    "COLUMNS",
    "DATE_FORMAT",
    "DEFAULT_COLUMNS",
    "KINDS",
    "LANGUAGES",
    "ListExport",
    "NAME_SOURCE_LABELS",
    "ListRow",
    "list_sha256",
    "name_source",
    "names_for_office",
    "row_canonical_json",
    "row_sha256",
    "sheet_titles",
    "write_list_xlsx",
]

LANGUAGES = ("ru", "uk", "en")
KINDS = ("exchange", "verification")
DATE_FORMAT = "YYYY-MM-DD"
DATETIME_FORMAT = "YYYY-MM-DD HH:MM:SS"
APPLICATION = "pow_registry"


@dataclass(frozen=True)
class ListRow:
    """One person on a frozen list, as the registry knew them at freezing."""

    number: int  # 1-based position on the list
    person_ref: str  # a stable reference the office can quote back, e.g. "P-000123"
    surname: str
    given_name: str
    patronymic: str  # names as entered, in any script
    date_of_birth: str | None  # partial: "2005", "2005-03" or "2005-03-12"
    rank: str
    unit: str
    personal_number: str
    capture_date: str | None  # partial like date_of_birth
    capture_place: str
    categories: tuple[str, ...]  # codes, keys of CATEGORY_LABELS
    evidence: tuple[tuple[int, str], ...]  # (evidence id, https link) the row rests on
    notes: str
    # The names in the office's script, chosen when the list was frozen (office_script.py), and
    # where that spelling came from: "registry", "family" or "converted". Empty in rows frozen
    # before there was such a choice: the names are then converted when the file is written.
    office_names: tuple[str, ...] = ()
    name_source: str = ""
    # No family's inquiry reference, ever: it is the family's key to its status page, and the
    # office (the other side's too) refers to a man by person_ref (security.md, "The family's page").


@dataclass(frozen=True)
class ListExport:
    """A frozen list, addressed to one office."""

    number: int  # the list number assigned at freezing
    kind: str  # "exchange" (exchange proposal) or "verification" (whereabouts and health only)
    office_name: str
    office_country: str
    language: str  # "ru", "uk" or "en": every label in the file is in this language
    columns: tuple[str, ...]  # keys of COLUMNS, in the order the office wants
    created_at: datetime  # timezone-aware UTC (a naive value is taken as UTC)
    frozen_at: datetime  # timezone-aware UTC (a naive value is taken as UTC); to the second
    frozen_by: str  # a display name
    rows: tuple[ListRow, ...]


COLUMNS: dict[str, dict[str, str]] = {
    "row_number": {"ru": "№", "uk": "№", "en": "No."},
    "person_ref": {"ru": "Номер в реестре", "uk": "Номер у реєстрі", "en": "Registry reference"},
    "surname": {"ru": "Фамилия", "uk": "Прізвище", "en": "Surname"},
    "given_name": {"ru": "Имя", "uk": "Ім’я", "en": "Given name"},
    "patronymic": {"ru": "Отчество", "uk": "По батькові", "en": "Patronymic"},
    "name_source": {
        "ru": "Написание ФИО", "uk": "Написання ПІБ", "en": "Name spelling",
    },
    "surname_as_entered": {
        "ru": "Фамилия (как записано)", "uk": "Прізвище (як записано)",
        "en": "Surname (as recorded)",
    },
    "given_name_as_entered": {
        "ru": "Имя (как записано)", "uk": "Ім’я (як записано)", "en": "Given name (as recorded)",
    },
    "patronymic_as_entered": {
        "ru": "Отчество (как записано)", "uk": "По батькові (як записано)",
        "en": "Patronymic (as recorded)",
    },
    "date_of_birth": {"ru": "Дата рождения", "uk": "Дата народження", "en": "Date of birth"},
    "rank": {"ru": "Звание", "uk": "Звання", "en": "Rank"},
    "unit": {"ru": "Воинская часть", "uk": "Військова частина", "en": "Unit"},
    "personal_number": {"ru": "Личный номер", "uk": "Особистий номер", "en": "Personal number"},
    "capture_date": {"ru": "Дата пленения", "uk": "Дата полонення", "en": "Date of capture"},
    "capture_place": {"ru": "Место пленения", "uk": "Місце полонення", "en": "Place of capture"},
    "categories": {"ru": "Категории", "uk": "Категорії", "en": "Categories"},
    "evidence": {
        "ru": "Основания (№ и ссылка)", "uk": "Підстави (№ і посилання)",
        "en": "Evidence (no. and link)",
    },
    "notes": {"ru": "Примечания", "uk": "Примітки", "en": "Notes"},
}  # fmt: skip
"""Column key -> header label per office language."""

DEFAULT_COLUMNS: tuple[str, ...] = (
    "row_number", "person_ref", "surname", "given_name", "patronymic", "name_source", "surname_as_entered",
    "given_name_as_entered", "patronymic_as_entered", "date_of_birth", "rank", "unit",
    "personal_number", "capture_date", "capture_place", "categories", "evidence", "notes",
)  # fmt: skip

ANSWER_COLUMNS: dict[str, dict[str, str]] = {
    "answer_whereabouts": {
        "ru": "Местонахождение (ответ)", "uk": "Місцеперебування (відповідь)",
        "en": "Whereabouts (answer)",
    },
    "answer_health": {
        "ru": "Состояние здоровья (ответ)", "uk": "Стан здоров’я (відповідь)",
        "en": "Health (answer)",
    },
}  # fmt: skip
"""The empty columns a verification request adds for the office to fill in."""

CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "seriously_wounded_or_sick": {
        "ru": "Тяжелораненый или тяжелобольной", "uk": "Тяжкопоранений або тяжкохворий",
        "en": "Seriously wounded or sick",
    },
    "young": {
        "ru": "Молодой (18–25 лет)", "uk": "Молодий (18–25 років)", "en": "Young (18–25)",
    },
    "conscript": {
        "ru": "Военнослужащий срочной службы", "uk": "Військовослужбовець строкової служби",
        "en": "Conscript",
    },
    "long_captivity": {"ru": "Длительный плен", "uk": "Тривалий полон", "en": "Long captivity"},
    "with_inquiry": {
        "ru": "Есть обращение родственников", "uk": "Є звернення родичів",
        "en": "Family inquiry on file",
    },
}  # fmt: skip
"""Category code -> label per office language (GC III Art. 109-110 and agreed categories)."""

NAME_SOURCE_LABELS: dict[str, dict[str, str]] = {
    "registry": {"ru": "как в реестре", "uk": "як у реєстрі", "en": "as in the registry"},
    "family": {"ru": "как пишет семья", "uk": "як пише родина", "en": "as the family writes it"},
    "converted": {
        "ru": "преобразовано, просим проверить", "uk": "перетворено, просимо перевірити",
        "en": "converted, please check",
    },
}  # fmt: skip
"""Where the office-script spelling of a row's names came from, per office language."""

_TEXTS: dict[str, dict[str, str]] = {
    "sheet_list": {"ru": "Список", "uk": "Список", "en": "List"},
    "sheet_cover": {"ru": "Сводка", "uk": "Зведення", "en": "Cover"},
    "sheet_manifest": {"ru": "Манифест", "uk": "Маніфест", "en": "Manifest"},
    "title_exchange": {
        "ru": "Список на обмен № {number}", "uk": "Список для обміну № {number}",
        "en": "Exchange list {number}",
    },
    "title_verification": {
        "ru": "Запрос о подтверждении № {number}", "uk": "Запит на підтвердження № {number}",
        "en": "Verification request {number}",
    },
    "list_number": {"ru": "Номер списка", "uk": "Номер списку", "en": "List number"},
    "kind": {"ru": "Вид", "uk": "Вид", "en": "Kind"},
    "kind_exchange": {
        "ru": "Предложение об обмене", "uk": "Пропозиція щодо обміну", "en": "Exchange proposal",
    },
    "kind_verification": {
        "ru": "Запрос о подтверждении (местонахождение и состояние здоровья)",
        "uk": "Запит на підтвердження (місцеперебування та стан здоров’я)",
        "en": "Verification request (whereabouts and health)",
    },
    "office": {"ru": "Адресат", "uk": "Адресат", "en": "Office"},
    "country": {"ru": "Страна", "uk": "Країна", "en": "Country"},
    "created": {"ru": "Составлен (UTC)", "uk": "Складено (UTC)", "en": "Created (UTC)"},
    "frozen": {"ru": "Утверждён (UTC)", "uk": "Затверджено (UTC)", "en": "Frozen (UTC)"},
    "frozen_by": {"ru": "Утвердил(а)", "uk": "Затвердив(ла)", "en": "Frozen by"},
    "total": {"ru": "Всего лиц", "uk": "Усього осіб", "en": "Persons on the list"},
    "per_category": {
        "ru": "По категориям (лицо может входить в несколько)",
        "uk": "За категоріями (особа може належати до кількох)",
        "en": "Per category (a person may be in several)",
    },
    "fingerprint": {
        "ru": "SHA-256 строки (лист «Манифест»)", "uk": "SHA-256 рядка (аркуш «Маніфест»)",
        "en": "Row SHA-256 (sheet “Manifest”)",
    },
    "fingerprint_rule": {
        "ru": "SHA-256 (hex) от UTF-8 JSON полей строки в реестре: ключи по алфавиту, "
              "без экранирования не-ASCII, разделители «,» и «:» без пробелов.",
        "uk": "SHA-256 (hex) від UTF-8 JSON полів рядка в реєстрі: ключі за абеткою, "
              "без екранування не-ASCII, роздільники «,» і «:» без пробілів.",
        "en": "SHA-256 (hex) of the UTF-8 JSON of the row's fields in the registry: keys "
              "sorted, non-ASCII not escaped, separators “,” and “:” without spaces.",
    },
    "row_sha256": {"ru": "SHA-256 строки", "uk": "SHA-256 рядка", "en": "Row SHA-256"},
}  # fmt: skip

_WIDTHS: dict[str, float] = {
    "row_number": 6, "person_ref": 13, "surname": 18, "given_name": 16, "patronymic": 18, "name_source": 20,
    "surname_as_entered": 18, "given_name_as_entered": 16, "patronymic_as_entered": 18,
    "date_of_birth": 12, "rank": 14, "unit": 18, "personal_number": 14, "capture_date": 12,
    "capture_place": 22, "categories": 36, "evidence": 50,
    "notes": 40, "answer_whereabouts": 30, "answer_health": 30,
}  # fmt: skip

# Named styles, whose style arrays the cells are built with: many times faster than assigning a
# Font or an Alignment to every cell (openpyxl hashes those each time).
_HEADER = "pow_registry header"
_BOLD = "pow_registry bold"
_MANIFEST_WIDTHS = (6, 13, 66, 60)
_WRAPPED = "pow_registry wrapped"
_DATE = "pow_registry date"
_DATETIME = "pow_registry date and time"


def _named_styles() -> list[NamedStyle]:
    # The workbook's own font (Calibri 11) and border, so that a styled cell differs from a
    # plain one only in what the style is for: NamedStyle's defaults are an empty <font/>.
    plain = copy(DEFAULT_FONT)
    bold = copy(DEFAULT_FONT)
    bold.bold = True
    top_wrapped = Alignment(wrap_text=True, vertical="top")

    def style(name: str, font: Font, **kwargs: Any) -> NamedStyle:
        return NamedStyle(name, font=font, border=copy(DEFAULT_BORDER), **kwargs)

    return [
        style(_HEADER, bold, alignment=top_wrapped),
        style(_BOLD, bold),
        style(_WRAPPED, plain, alignment=top_wrapped),
        style(_DATE, plain, number_format=DATE_FORMAT),
        style(_DATETIME, plain, number_format=DATETIME_FORMAT),
    ]


_NON_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
_ROW_FIELDS = tuple(field.name for field in dataclasses.fields(ListRow))

# ------------------------------------------------------------------------------------------------
# Public helpers


def list_sha256(data: bytes) -> str:
    """The file's SHA-256 in lower-case hex, as recorded when the list is frozen."""
    return hashlib.sha256(data).hexdigest()


def row_canonical_json(row: ListRow) -> bytes:
    """The exact bytes the row fingerprint is computed over (see the module docstring)."""
    # The same JSON as json.dumps(dataclasses.asdict(row), ...) (json writes tuples as arrays),
    # without asdict's deep copy and a new encoder per row, which were most of the time.
    fields = {name: getattr(row, name) for name in _ROW_FIELDS}
    return _CANONICAL.encode(fields).encode("utf-8", "surrogatepass")


def row_sha256(row: ListRow) -> str:
    """SHA-256 (lower-case hex) of `row_canonical_json(row)`."""
    return hashlib.sha256(row_canonical_json(row)).hexdigest()


def names_for_office(row: ListRow, language: str) -> tuple[str, str, str]:
    """Surname, given name and patronymic in the office's script (office_script.py).

    The spelling chosen when the list was frozen (`row.office_names`), or, for a row frozen
    before that choice was recorded, the names as entered converted now.
    """
    return _names_for_office(row, language, {})[:3]  # type: ignore[return-value]


def name_source(row: ListRow, language: str) -> str:
    """Where the office-script spelling came from: registry, family or converted."""
    return _names_for_office(row, language, {})[3]


def _names_for_office(
    row: ListRow, language: str, cache: dict[tuple[str, str, str], OfficeNames]
) -> tuple[str, str, str, str]:
    """names_for_office with a cache per export: lists repeat names."""
    if len(row.office_names) == 3 and row.name_source:
        return row.office_names[0], row.office_names[1], row.office_names[2], row.name_source
    names = (row.surname or "", row.given_name or "", row.patronymic or "")
    found = cache.get(names)
    if found is None:
        found = cache[names] = office_names(names, language)
    return found.surname, found.given_name, found.patronymic, found.source


def sheet_titles(language: str) -> tuple[str, str, str]:
    """The three sheet names (list, cover, manifest) in `language`."""
    return (
        _TEXTS["sheet_list"][language],
        _TEXTS["sheet_cover"][language],
        _TEXTS["sheet_manifest"][language],
    )


# ------------------------------------------------------------------------------------------------
# Input checks: the service builds the export, so a bad one is a programming error.


def _utc_naive(value: datetime, field: str) -> datetime:
    """UTC without a zone (Excel has none), to the second. A naive value is taken as UTC.

    The registry stores UTC in columns without a zone, so a list reloaded from the database
    has naive times where the session that froze it had aware ones: both must give the same
    file, byte for byte.
    """
    if not isinstance(value, datetime):
        raise ValueError(f"{field} must be a datetime, not {value!r}")
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None, microsecond=0)


def _check(export: ListExport) -> None:
    if export.language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {export.language!r}")
    if export.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {export.kind!r}")
    if not export.columns:
        raise ValueError("a list needs at least one column")
    unknown = [key for key in export.columns if key not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; use keys of COLUMNS")
    if len(set(export.columns)) != len(export.columns):
        raise ValueError(f"a column is repeated in {export.columns}")
    _utc_naive(export.created_at, "created_at")
    _utc_naive(export.frozen_at, "frozen_at")
    for position, row in enumerate(export.rows, start=1):
        if row.number != position:
            raise ValueError(f"row {position} is numbered {row.number}: rows must be 1, 2, 3 …")
        bad = [code for code in row.categories if code not in CATEGORY_LABELS]
        if bad:
            raise ValueError(f"row {position}: unknown categories {bad}")
        if row.office_names and (len(row.office_names) != 3 or row.name_source not in NAME_SOURCE_LABELS):
            raise ValueError(f"row {position}: office_names must be three names with a name_source "
                             f"of {tuple(NAME_SOURCE_LABELS)}")
        for item in row.evidence:
            if len(item) != 2 or type(item[0]) is not int or not isinstance(item[1], str):
                raise ValueError(f"row {position}: evidence must be (id, link) pairs, not {item!r}")


# ------------------------------------------------------------------------------------------------
# Cells


def _xml_chars(value: str) -> str:
    """Replace the characters XML 1.0 cannot hold that `cell_text` lets through.

    `cell_text` removes what openpyxl checks for (C0 controls); a lone surrogate, U+FFFE or
    U+FFFF would still be written and make the whole file unreadable ("not well-formed").
    """
    return _NON_XML.sub("\ufffd", value)


def _parse_date(text: str) -> date | str:
    """A full date as a date; "2005" / "2005-03" normalised; anything else as given."""
    if not text.strip():
        return ""
    try:
        partial = PartialDate.parse(text)
    except InvalidDate:
        return text
    return partial.earliest() if partial.precision == "day" else str(partial)


def _evidence_text(evidence: Sequence[tuple[int, str]]) -> str:
    return "\n".join(f"#{evidence_id} {link}" for evidence_id, link in evidence)


def _categories_text(codes: Sequence[str], language: str) -> str:
    return "; ".join(CATEGORY_LABELS[code][language] for code in dict.fromkeys(codes))


_Value: TypeAlias = Cell | str | int | None
_CACHED_TEXT_CHARS = 1_000


class _Cells:
    """Cell values for one write-only worksheet.

    Every text goes through `spreadsheet.cell_text` and is stored as a string. An unstyled text
    is handed to ws.append() as a plain string, which openpyxl binds to one reused cell: much
    cheaper than a new cell per value. openpyxl infers only two other types from a string, a
    formula when it starts with "=" and an error for its error codes; those texts (and any that
    starts like a formula) are "risky" by `cell_text` and written as a forced-string cell with
    the quote-prefix style instead, as `spreadsheet.text_cell` does. A styled text is built with
    its named style's array in one step: openpyxl's `cell.style = name` looks the name up every time, which on a long
    list costs more than the rest of the row.

    Lists repeat ranks, units, places, given names, patronymics and dates, so the safe form of
    each distinct short text and each parsed date is worked out once per export (the manifest
    repeats the list's references and evidence).
    """

    def __init__(self, styles: dict[str, Any], ws: Any = None) -> None:
        self.ws = ws
        self._styles = styles  # named style -> its style array (openpyxl copies it per cell)
        self._safe: dict[str, tuple[str, bool]] = {}
        self._dates: dict[str, date | str] = {}

    def on(self, ws: Any) -> _Cells:
        """The same caches, for cells of another sheet of the workbook."""
        other = copy(self)
        other.ws = ws
        return other

    def _safe_text(self, value: str) -> tuple[str, bool]:
        found = self._safe.get(value)
        if found is None:
            found = cell_text(_xml_chars(value))
            if len(value) <= _CACHED_TEXT_CHARS:
                self._safe[value] = found
        return found

    def text(self, value: str | None) -> str | Cell | None:
        """Text for an unstyled cell; an empty text is an empty cell; a text that starts like a
        formula is a string cell with the quote-prefix style (shown exactly as typed)."""
        if not value:
            return None
        text, risky = self._safe_text(value)
        if risky:
            cell = Cell(self.ws, row=1, column=1)
            cell.value = text
            cell.data_type = "s"
            cell.quotePrefix = True
            return cell
        return text

    def styled(self, value: str, style: str) -> Cell:
        """`text_cell(ws, value)` with a named style."""
        cell = Cell(self.ws, row=1, column=1, style_array=self._styles[style])
        text, risky = self._safe_text(value)
        cell.value = text
        cell.data_type = "s"
        if risky:
            cell.quotePrefix = True
        return cell

    def wrapped(self, value: str | None, width: float) -> str | Cell | None:
        """Text that wraps (top-aligned) when it has several lines or is wider than its column.

        Only those cells carry a style: a styled cell costs openpyxl several plain strings.
        """
        if value and ("\n" in value or "\r" in value or len(value) > width):
            return self.styled(value, _WRAPPED)
        return self.text(value)

    def day(self, value: str | None) -> Cell | str | None:
        """A date cell for a full date, text for a year or a month, safe text for anything else."""
        if value is None:
            return None
        text = str(value)
        parsed = self._dates.get(text)
        if parsed is None:
            parsed = _parse_date(text)
            if len(text) <= _CACHED_TEXT_CHARS:
                self._dates[text] = parsed
        if isinstance(parsed, date):
            return Cell(self.ws, row=1, column=1, value=parsed, style_array=self._styles[_DATE])
        return self.text(parsed)

    def moment(self, value: datetime) -> Cell:
        return Cell(self.ws, row=1, column=1, value=value, style_array=self._styles[_DATETIME])


_Maker: TypeAlias = Callable[[ListRow, tuple[str, str, str, str]], _Value]


def _makers(cells: _Cells, language: str) -> dict[str, _Maker]:
    """Column key -> function(row, (names in the office's script, their source)) giving the
    cell's value."""
    text, wrapped, day = cells.text, cells.wrapped, cells.day
    width = _WIDTHS
    return {
        "row_number": lambda row, names: row.number,
        "person_ref": lambda row, names: text(row.person_ref),
        "surname": lambda row, names: text(names[0]),
        "given_name": lambda row, names: text(names[1]),
        "patronymic": lambda row, names: text(names[2]),
        "name_source": lambda row, names: text(NAME_SOURCE_LABELS[names[3]][language]),
        "surname_as_entered": lambda row, names: text(row.surname),
        "given_name_as_entered": lambda row, names: text(row.given_name),
        "patronymic_as_entered": lambda row, names: text(row.patronymic),
        "date_of_birth": lambda row, names: day(row.date_of_birth),
        "rank": lambda row, names: text(row.rank),
        "unit": lambda row, names: text(row.unit),
        "personal_number": lambda row, names: text(row.personal_number),
        "capture_date": lambda row, names: day(row.capture_date),
        "capture_place": lambda row, names: text(row.capture_place),
        "categories": lambda row, names: wrapped(
            _categories_text(row.categories, language), width["categories"]),
        "evidence": lambda row, names: wrapped(_evidence_text(row.evidence), width["evidence"]),
        "notes": lambda row, names: wrapped(row.notes, width["notes"]),
    }


# ------------------------------------------------------------------------------------------------
# Sheets


def _set_widths(ws: Any, widths: Sequence[float]) -> None:
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width


def _write_list_sheet(ws: Any, export: ListExport, cells: _Cells) -> None:
    language = export.language
    keys = list(export.columns)
    answers = list(ANSWER_COLUMNS) if export.kind == "verification" else []
    all_keys = keys + answers
    _set_widths(ws, [_WIDTHS[key] for key in all_keys])
    ws.freeze_panes = "A2"
    last = get_column_letter(len(all_keys))
    ws.auto_filter.ref = f"A1:{last}{len(export.rows) + 1}"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    cells = cells.on(ws)
    labels = [COLUMNS[key][language] for key in keys] + [ANSWER_COLUMNS[k][language] for k in answers]
    _SheetWriter.start(ws)
    ws.append([cells.styled(label, _HEADER) for label in labels])
    makers = _makers(cells, language)
    column_makers = [makers[key] for key in keys]
    converted: dict[tuple[str, str, str], OfficeNames] = {}
    for row in export.rows:
        names = _names_for_office(row, language, converted)
        ws.append([make(row, names) for make in column_makers])


def _write_cover_sheet(ws: Any, export: ListExport, cells: _Cells) -> None:
    language = export.language
    t = {key: labels[language] for key, labels in _TEXTS.items()}
    _set_widths(ws, [44, 70])
    cells = cells.on(ws)
    _SheetWriter.start(ws)
    ws.append([cells.styled(t[f"title_{export.kind}"].format(number=export.number), _BOLD)])
    ws.append([])

    def line(label: str, value: _Value) -> None:
        ws.append([cells.styled(label, _BOLD), value])

    line(t["list_number"], export.number)
    line(t["kind"], cells.text(t[f"kind_{export.kind}"]))
    line(t["office"], cells.text(export.office_name))
    line(t["country"], cells.text(export.office_country))
    line(t["created"], cells.moment(_utc_naive(export.created_at, "created_at")))
    line(t["frozen"], cells.moment(_utc_naive(export.frozen_at, "frozen_at")))
    line(t["frozen_by"], cells.text(export.frozen_by))
    line(t["total"], len(export.rows))
    ws.append([])
    ws.append([cells.styled(t["per_category"], _BOLD)])
    counts = Counter(code for row in export.rows for code in set(row.categories))
    for code, labels in CATEGORY_LABELS.items():
        ws.append([cells.text(labels[language]), counts.get(code, 0)])
    ws.append([])
    ws.append([cells.styled(t["fingerprint"], _BOLD), cells.styled(t["fingerprint_rule"], _WRAPPED)])


def _write_manifest_sheet(ws: Any, export: ListExport, cells: _Cells) -> None:
    language = export.language
    _set_widths(ws, _MANIFEST_WIDTHS)
    ws.freeze_panes = "A2"
    cells = cells.on(ws)
    labels = [COLUMNS["row_number"][language], COLUMNS["person_ref"][language],
              _TEXTS["row_sha256"][language], COLUMNS["evidence"][language]]
    _SheetWriter.start(ws)
    ws.append([cells.styled(label, _HEADER) for label in labels])
    for row in export.rows:
        ws.append([
            row.number,
            cells.text(row.person_ref),
            row_sha256(row),
            cells.wrapped(_evidence_text(row.evidence), _MANIFEST_WIDTHS[3]),
        ])


# ------------------------------------------------------------------------------------------------
# The XML, the same with or without lxml


def _etree(element: Any) -> ElementTree.Element:
    """The standard library's element for what openpyxl built (an lxml element when openpyxl
    uses lxml): the same tag, attributes in the same order, text and children."""
    if isinstance(element, ElementTree.Element):
        return element
    return parse_xml(openpyxl_tostring(element))


def _write_cell(xf: Any, cell: Any) -> None:
    """openpyxl's `etree_write_cell` for the cells this module makes, with the standard library's
    elements whatever `openpyxl.LXML` says.

    A formula or an error value is refused: every text is a string cell (`_Cells`), so either would
    mean a bug let a user's text through as something a spreadsheet evaluates.
    """
    value, attributes = cell_attributes(cell, cell.has_style)
    element = ElementTree.Element("c", attributes)
    if value is not None and value != "":
        if cell.data_type == "s":
            text = ElementTree.SubElement(ElementTree.SubElement(element, "is"), "t")
            text.text = value
            whitespace(text)  # xml:space="preserve" for leading or trailing blanks
        elif cell.data_type in ("n", "d", "b"):  # a date is a number by now (cell_attributes)
            ElementTree.SubElement(element, "v").text = safe_string(value)
        else:
            raise ValueError(f"cell {cell.coordinate}: data type {cell.data_type!r} is never written")
    xf.write(element)


class _SheetWriter(WorksheetWriter):
    """openpyxl's writer of one write-only worksheet, serialising with the standard library
    (et_xmlfile and xml.etree elements) even when openpyxl uses lxml.

    openpyxl picks lxml or the standard library once, when it is imported, for the whole process
    (module-level names in openpyxl.xml.functions and openpyxl.cell._writer). Rather than switch
    those globals (another thread may be writing or reading a spreadsheet), this workbook's sheets
    get their own writer: `start` gives it to a sheet before its first row, where openpyxl would
    otherwise make its default one. The parts of the sheet openpyxl builds as elements (properties,
    views, columns, filter, page setup) are converted to the standard library's elements first;
    the rows are written by `_write_cell`. Without lxml the bytes are those openpyxl itself writes.
    """

    @classmethod
    def start(cls, ws: Any) -> None:
        """Call after the sheet's layout is set and before its first row: the top of the sheet
        (properties, views, columns) is written now."""
        if ws._writer is not None:
            raise RuntimeError("the sheet already has a writer: start it before its first row")
        ws._writer = cls(ws)
        ws._writer.write_top()

    def get_stream(self) -> Any:
        with stdlib_xmlfile(self.out) as xf, xf.element("worksheet", xmlns=SHEET_MAIN_NS):
            try:
                while True:
                    element = yield
                    if element is True:
                        yield xf
                    elif element is not None:
                        xf.write(_etree(element))
            except GeneratorExit:
                pass

    def write_row(self, xf: Any, row: Any, row_idx: int) -> None:
        attributes = {"r": f"{row_idx}"}
        attributes.update(self.ws.row_dimensions.get(row_idx, {}))
        with xf.element("row", attributes):
            for cell in row:  # never with a comment: this module adds none
                if cell._value is not None or cell.has_style:
                    _write_cell(xf, cell)


def _canonical_xml(data: str | bytes) -> bytes:
    """An XML part in Canonical XML 2.0 (https://www.w3.org/TR/xml-c14n2/), UTF-8.

    The form depends on the document only: attributes in a fixed order, every namespace declared
    where it is first used, characters as themselves, empty elements as a start and an end tag, no
    XML declaration. lxml's and the standard library's serialisations of one document give the
    same bytes. Parsed with defusedxml (no DTD entities), though only openpyxl's output comes here.
    """
    parts: list[str] = []
    parser = DefusedXMLParser(target=ElementTree.C14NWriterTarget(parts.append))
    parser.feed(data)
    parser.close()
    return "".join(parts).encode("utf-8")


# ------------------------------------------------------------------------------------------------
# The file


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose every member is dated 1980-01-01 00:00 with fixed attributes.

    openpyxl's ExcelWriter only ever calls `writestr` (parts built in memory) and `write` (the
    worksheets a write-only workbook streamed to temporary files); both become a member with
    the same fixed ZipInfo, deflated, in the order openpyxl writes them. The parts built in memory
    are XML, written in canonical form (`_canonical_xml`); the worksheets come from `_SheetWriter`.
    """

    @staticmethod
    def _info(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 0  # not the platform's default, so the bytes do not depend on it
        info.external_attr = 0o600 << 16  # what zipfile itself sets for members written from memory
        return info

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: Any = None,
                 compresslevel: Any = None) -> None:
        name = (zinfo_or_arcname.filename if isinstance(zinfo_or_arcname, zipfile.ZipInfo)
                else str(zinfo_or_arcname))
        if name.endswith((".xml", ".rels")):
            data = _canonical_xml(data)
        super().writestr(self._info(name), data)

    def write(self, filename: Any, arcname: Any = None, compress_type: Any = None,
              compresslevel: Any = None) -> None:
        name = str(arcname if arcname is not None else os.fspath(filename))
        with open(filename, "rb") as source, self.open(self._info(name), "w") as target:
            shutil.copyfileobj(source, target, 1 << 20)


def _properties(export: ListExport) -> DocumentProperties:
    frozen = _utc_naive(export.frozen_at, "frozen_at")
    title = _TEXTS[f"title_{export.kind}"][export.language].format(number=export.number)
    return DocumentProperties(
        creator=APPLICATION,
        lastModifiedBy=APPLICATION,
        title=title,
        language=export.language,
        created=frozen,
        modified=frozen,
    )


def write_list_xlsx(export: ListExport) -> bytes:
    """The frozen list as .xlsx bytes: the same `export` always gives the same bytes.

    Raises ValueError, before anything is written, when the export is not well formed (unknown
    language, kind, column or category; rows not numbered 1, 2, 3 …; evidence not (int, str)
    pairs; times that are not datetimes). Any
    text in any field is written: it goes through `spreadsheet.cell_text`.
    """
    _check(export)
    list_title, cover_title, manifest_title = sheet_titles(export.language)
    workbook = Workbook(write_only=True)
    workbook.properties = _properties(export)
    styles = {}
    for style in _named_styles():
        workbook.add_named_style(style)
        styles[style.name] = style.as_tuple()
    try:
        cells = _Cells(styles)
        _write_list_sheet(workbook.create_sheet(list_title), export, cells)
        _write_cover_sheet(workbook.create_sheet(cover_title), export, cells)
        _write_manifest_sheet(workbook.create_sheet(manifest_title), export, cells)
        buffer = io.BytesIO()
        # Not Workbook.save: save_workbook stamps the current time into the modified property
        # and a plain ZipFile stamps it into every member.
        archive = _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        ExcelWriter(workbook, archive).save()
    except BaseException:
        _discard_temporary_files(workbook)
        raise
    return buffer.getvalue()


def _discard_temporary_files(workbook: Any) -> None:
    """Remove what the write-only sheets streamed to disk when writing failed half-way."""
    for ws in workbook.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is not None:
            with suppress(Exception):
                writer.close()
            with suppress(Exception):
                writer.cleanup()
