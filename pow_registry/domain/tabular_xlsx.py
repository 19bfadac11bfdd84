"""Opening an uploaded .xlsx with every part bounded by what it expands to.

An .xlsx is a zip of XML parts. Before openpyxl sees a byte of XML:

1. the container is checked from what the zip declares (``check_container``): the number of
   parts, the sum of their unpacked sizes, and each part's packing ratio (a sheet generated
   by a program packs about 10:1; 0.5 MB of deflated empty rows unpacks to 190 MB, 380:1);
2. the first time openpyxl opens a part (``GuardedArchive.open``), the part is unpacked once
   through a reader that counts the bytes it really gets (a zip can lie about its sizes) and
   stops at the part's bound, and fed to a streaming XML scan (expat, nothing kept) that counts
   what openpyxl would build from it: elements, nesting, rows (empty ones too), cells (as
   openpyxl pads them), shared strings and their characters, and refuses at the first bound
   passed. Only a part that passes is handed to openpyxl, which reads the same bytes again.

A hostile file thus costs at most one streaming pass up to the bound it passes; a legitimate
one costs one extra pass (5–10 % more time than openpyxl alone). defusedxml stays in charge of
openpyxl's parsing; the scan refuses entity declarations on its own as defusedxml does.
"""

from __future__ import annotations

import io
import string
import zipfile
import zlib
from typing import Any
from xml.parsers import expat

from pow_registry.domain.tabular_limits import N_, TableError, TableLimits, count

__all__ = ["GuardedArchive", "check_container", "describe", "open_workbook"]

READ_FAILURE = N_("The file could not be read as an .xlsx spreadsheet: %(reason)s")
"""Any failure of the parser itself; the reason is its own (English) description."""

_CENTRAL_DIRECTORY_ENTRY = b"PK\x01\x02"
_CHUNK = 65_536
_LETTERS = string.ascii_letters
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError,
               NotImplementedError, RuntimeError, ValueError)


def part_name(name: str) -> str:
    """A part's name for a message: printable characters only, at most 80."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in name[:80])
    return shown + ("…" if len(name) > 80 else "")


def describe(exc: BaseException) -> str:
    """One line naming the failure and its causes (openpyxl wraps the real parser error)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        lines = str(current).strip().splitlines()
        text = lines[0].replace(" from None.", ".") if lines else ""
        parts.append(f"{type(current).__name__}: {text}" if text else type(current).__name__)
        current = current.__cause__
    message = "; caused by ".join(parts)
    return message if len(message) <= 300 else message[:300] + "…"


# --------------------------------------------------------------------------------------------
# The container, from what the zip declares


def check_container(data: bytes, limits: TableLimits) -> None:
    """Refuse a file that is no zip, has too many parts, or declares a bomb; nothing unpacked."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: it is not a "
                            "valid .xlsx (zip) file."))
    # Every entry of the zip's directory starts with this signature. Counting it (in C) bounds
    # the parts before zipfile builds an object per entry: a 20 MB file can hold 400,000.
    parts = data.count(_CENTRAL_DIRECTORY_ENTRY)
    if parts > limits.max_members:
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: it contains "
                            "%(count)s parts; at most %(limit)s are allowed."),
                         count=count(parts), limit=count(limits.max_members))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except _ZIP_ERRORS as exc:
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: the zip "
                            "structure is damaged (%(reason)s)."), reason=describe(exc)) from exc
    total = sum(member.file_size for member in members)
    if total > limits.max_uncompressed:
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: it would "
                            "unpack to %(size)s bytes; at most %(limit)s are allowed."),
                         size=count(total), limit=count(limits.max_uncompressed))
    for member in members:
        size, packed = member.file_size, member.compress_size
        if size > limits.ratio_floor and size > limits.max_ratio * packed:
            raise TableError(
                N_("The spreadsheet was refused: its part %(part)s would unpack to %(size)s "
                   "bytes, %(ratio)s times its packed size. A part larger than %(floor)s bytes "
                   "may unpack to at most %(limit)s times its packed size; a file like this is "
                   "built to exhaust the server."),
                part=part_name(member.filename), size=count(size),
                ratio=count(size // max(packed, 1)), floor=count(limits.ratio_floor),
                limit=count(limits.max_ratio))


# --------------------------------------------------------------------------------------------
# The parts, from what they really unpack to


class GuardedArchive(zipfile.ZipFile):
    """The workbook's zip as openpyxl reads it: a part is handed over only after one bounded,
    streaming pass over what it really unpacks to (see the module's docstring).

    zipfile itself never yields more than a part's declared size (it stops there and checks
    the CRC), and unpacking the same bytes again yields the same content, so openpyxl's own
    pass reads exactly what the scan counted.
    """

    def __init__(self, data: bytes, limits: TableLimits) -> None:
        super().__init__(io.BytesIO(data))
        self._limits = limits
        self._unpacked = 0  # bytes really unpacked by the scans of the parts checked so far
        self._checked: set[str] = set()

    def open(self, name: Any, mode: str = "r", pwd: bytes | None = None, *,  # type: ignore[override]
             force_zip64: bool = False) -> Any:
        if mode != "r":
            raise ValueError("the uploaded workbook is read only")
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if info.filename not in self._checked:
            self._check(info)
            self._checked.add(info.filename)
        return super().open(info, "r", pwd)

    def _check(self, info: zipfile.ZipInfo) -> None:
        limits = self._limits
        name = part_name(info.filename)
        scan = _Scan(name, limits) if info.filename.lower().endswith((".xml", ".rels")) else None
        size = 0
        try:
            with super().open(info, "r") as stream:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    # A worksheet or the shared strings may take what the other parts left of
                    # the total; any other part is bounded on its own.
                    cap = scan.byte_cap if scan is not None else limits.max_part_bytes
                    cap = min(cap, limits.max_uncompressed - self._unpacked)
                    if size > cap:
                        raise TableError(
                            N_("The file could not be read as an .xlsx spreadsheet: its part "
                               "%(part)s unpacks to more than %(limit)s bytes; at most "
                               "%(limit)s are allowed for such a part."),
                            part=name, limit=count(cap))
                    if scan is not None:
                        scan.feed(chunk)
            if scan is not None:
                scan.close()
            self._unpacked += size
        except TableError:
            raise
        except expat.ExpatError as exc:
            raise TableError(READ_FAILURE, reason=f"{name}: {describe(exc)}") from exc
        except _ZIP_ERRORS as exc:
            raise TableError(N_("The file could not be read as an .xlsx spreadsheet: the zip "
                                "structure is damaged (%(reason)s)."),
                             reason=describe(exc)) from exc


def open_workbook(data: bytes, limits: TableLimits) -> Any:
    """openpyxl's read-only workbook over a ``GuardedArchive`` (what ``load_workbook`` does,
    with the archive swapped before anything is read from it)."""
    from openpyxl.reader.excel import ExcelReader

    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=False)
    reader.archive.close()
    reader.archive = GuardedArchive(data, limits)
    reader.valid_files = reader.archive.namelist()
    reader.read()
    return reader.wb


# --------------------------------------------------------------------------------------------
# The streaming scan of one XML part


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _cell_column(reference: str | None, after: int) -> int:
    """The column openpyxl gives a cell: from its reference ("AB12"; more than 3 letters it
    refuses), or the column after the last one; ``after`` cells have no reference since."""
    if not reference:
        return after
    letters = len(reference) - len(reference.lstrip(_LETTERS))
    column = _column_number(reference[:letters]) if 1 <= letters <= 3 else 0
    return column + after


def _row_number(text: str, previous: int) -> int:
    """The row number openpyxl takes from ``<row r="...">`` (it accepts "5" and "5.0")."""
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return previous + 1  # openpyxl refuses it; count it as the next row
        return int(value) if value.is_integer() else previous + 1


_SPECIAL = {"row": "row", "si": "si", "dimension": "dimension"}


class _Scan:
    """Counts over one XML part, fed chunk by chunk; raises TableError at the first bound passed.

    It mirrors how openpyxl reads: a ``row`` element anywhere is a row (numbered by its ``r``,
    else one more than the last), every child of a row is a cell (at the column its ``r``
    names, else the next), and openpyxl yields every row up to the highest number and pads
    each row with empty cells up to its last cell's column; an ``si`` element anywhere is a
    shared string. Names are compared without their namespace prefix, so counts can only be
    too high. A row or a string is freed by openpyxl once read; every other element it keeps.

    The scan itself keeps nothing, so what openpyxl would hold at once (a row, a string) can
    be checked when it ends: openpyxl has not seen any of it yet. The element handlers run for
    every element of the part (millions), so they are closures over local counters, and a
    row's width is worked out once, at its end, from its last cell.
    """

    def __init__(self, part: str, limits: TableLimits) -> None:
        self.part = part
        self.limits = limits
        self.byte_cap = limits.max_part_bytes
        self.root: str | None = None
        self.quiet = 0  # bytes fed since the last chunk in which an element started
        self.row_number = 0  # the last row's number, as openpyxl counts them
        self.cells = 0  # cells openpyxl would make, padding included, of the rows ended so far
        self.chars = 0  # characters of the shared strings
        parser = self.parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.EntityDeclHandler = self._entity
        parser.UnparsedEntityDeclHandler = self._unparsed_entity
        parser.ExternalEntityRefHandler = self._external_entity
        self._install_element_handlers()

    def _install_element_handlers(self) -> None:
        limits, parser = self.limits, self.parser
        max_depth, max_elements = limits.max_depth, limits.max_elements
        max_kept, max_columns = limits.max_part_elements, limits.max_columns
        special_names = _SPECIAL
        depth = elements = kept = rows = strings = 0
        # The open rows and strings, innermost last: [kind, depth, start byte, row number,
        # cells, the last cell reference seen, cells after it]. The innermost one's depth,
        # and the depth of its cells (rows only), are copied out for the handlers.
        open_: list[list[Any]] = []
        close_depth = cell_depth = -1
        row_cells = since = 0
        last_reference: str | None = None

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal depth, elements, kept, rows, strings, close_depth, cell_depth
            nonlocal row_cells, since, last_reference
            depth += 1
            elements += 1
            if depth > max_depth or elements > max_elements:
                self._refuse_size(depth, elements)
            if depth == cell_depth:
                row_cells += 1
                reference = attrs.get("r")
                if reference:
                    last_reference, since = reference, 0
                else:
                    since += 1
                if row_cells > max_columns:
                    self._refuse_columns(open_[-1][3])
            special = special_names.get(name)
            if special is None and ":" in name:
                special = special_names.get(name.rpartition(":")[2])
            if special == "row":
                rows += 1
                number = self._row(attrs.get("r"), rows)
                if open_:  # a row in a row: openpyxl reads it as a row too
                    open_[-1][4:7] = [row_cells, last_reference, since]
                open_.append(["row", depth, parser.CurrentByteIndex, number, 0, None, 0])
                close_depth, cell_depth = depth, depth + 1
                row_cells = since = 0
                last_reference = None
            elif special == "si":
                strings += 1
                self._string(strings)
                if open_ and open_[-1][0] == "row":
                    open_[-1][4:7] = [row_cells, last_reference, since]
                open_.append(["si", depth, parser.CurrentByteIndex, 0, 0, None, 0])
                close_depth, cell_depth = depth, -1
            elif not open_:
                kept += 1
                if kept > max_kept:
                    self._refuse_elements(max_kept)
                if depth == 1:
                    self._root(name.rpartition(":")[2])
                elif special == "dimension" and self.root == "worksheet":
                    self._dimension(attrs.get("ref", ""))

        def end(name: str) -> None:
            nonlocal depth, close_depth, cell_depth, row_cells, since, last_reference
            if depth == close_depth:
                kind, _, begun, number, *_ = open_.pop()
                size = parser.CurrentByteIndex - begun
                if kind == "row":
                    self._end_row(number, row_cells, _cell_column(last_reference, since), size)
                else:
                    self._end_string(size)
                if open_:
                    outer = open_[-1]
                    close_depth = outer[1]
                    cell_depth = outer[1] + 1 if outer[0] == "row" else -1
                    row_cells, last_reference, since = outer[4], outer[5], outer[6]
                else:
                    close_depth = cell_depth = -1
            depth -= 1

        def started() -> int:
            return elements

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        self.elements_started = started

    # Feeding -----------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        before = self.elements_started()
        self.parser.Parse(chunk, False)
        # A text, tag or comment that runs on for a megabyte is held whole by the parser.
        self.quiet = 0 if self.elements_started() != before else self.quiet + len(chunk)
        if self.quiet > self.limits.max_token_bytes:
            raise TableError(N_("The file could not be read as an .xlsx spreadsheet: its part "
                                "%(part)s holds a single text, tag or comment longer than "
                                "%(limit)s bytes."),
                             part=self.part, limit=count(self.limits.max_token_bytes))

    def close(self) -> None:
        self.parser.Parse(b"", True)

    # What the handlers do now and then --------------------------------------------------

    def _root(self, local: str) -> None:
        self.root = local
        if local in ("worksheet", "sst"):
            # Bounded by what all parts together may unpack to.
            self.byte_cap = self.limits.max_uncompressed
        if local == "sst":
            self.parser.CharacterDataHandler = self._shared_text

    def _dimension(self, ref: str) -> None:
        """The size the sheet declares (``A1:Z100001``): refused at once when beyond the bounds."""
        corner = ref.rpartition(":")[2].replace("$", "")
        letters = len(corner) - len(corner.lstrip(_LETTERS))
        digits = corner[letters:]
        if not 1 <= letters <= 3 or not (digits.isascii() and digits.isdigit()):
            return  # openpyxl ignores the dimension (reset_dimensions); so may we
        rows, columns = int(digits.lstrip("0")[:10] or "0"), _column_number(corner[:letters])
        if rows > self.limits.max_row_elements or columns > self.limits.max_columns:
            raise TableError(
                N_("The spreadsheet was refused: its sheet declares the size %(ref)s; at most "
                   "%(rows)s rows and %(columns)s columns are allowed (empty ones count too). "
                   "Delete the empty rows and columns around the data and try again."),
                ref=part_name(ref), rows=count(self.limits.max_row_elements),
                columns=count(self.limits.max_columns))

    def _row(self, reference: str | None, rows: int) -> int:
        limit = self.limits.max_row_elements
        number = self.row_number = (_row_number(reference, self.row_number) if reference
                                    else self.row_number + 1)
        if rows > limit or number > limit:
            raise TableError(
                N_("The spreadsheet was refused: its sheet has more than %(limit)s rows (empty "
                   "rows count too). Delete the empty rows below the data and try again."),
                limit=count(limit))
        return number

    def _end_row(self, number: int, cells: int, last_column: int, size: int) -> None:
        limits = self.limits
        if last_column > limits.max_columns:
            self._refuse_columns(number)
        # openpyxl pads the row with empty cells up to its last cell's column.
        self.cells += max(cells, last_column)
        if self.cells > limits.max_cells:
            raise TableError(
                N_("The spreadsheet was refused: its sheet has more than %(limit)s cells (empty "
                   "cells count too); at most %(limit)s are allowed."),
                limit=count(limits.max_cells))
        if size > limits.max_group_bytes:
            raise TableError(N_("The spreadsheet was refused: row %(row)s of its sheet takes "
                                "more than %(limit)s bytes."),
                             row=number, limit=count(limits.max_group_bytes))

    def _string(self, strings: int) -> None:
        if strings > self.limits.max_shared_strings:
            raise TableError(
                N_("The spreadsheet was refused: its shared strings table holds more than "
                   "%(limit)s texts; at most %(limit)s are allowed."),
                limit=count(self.limits.max_shared_strings))

    def _end_string(self, size: int) -> None:
        if size > self.limits.max_group_bytes:
            raise TableError(N_("The spreadsheet was refused: a text of its shared strings "
                                "table takes more than %(limit)s bytes."),
                             limit=count(self.limits.max_group_bytes))

    def _shared_text(self, data: str) -> None:
        self.chars += len(data)
        if self.chars > self.limits.max_shared_chars:
            raise TableError(
                N_("The spreadsheet was refused: its shared strings table holds more than "
                   "%(limit)s characters; at most %(limit)s are allowed."),
                limit=count(self.limits.max_shared_chars))

    def _entity(self, name: str, *_: object) -> None:
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: its part "
                            "%(part)s declares the XML entity %(name)s. Entities are refused: "
                            "they can expand without bound."),
                         part=self.part, name=part_name(name))

    def _unparsed_entity(self, name: str, *_: object) -> None:
        self._entity(name)

    def _external_entity(self, context: str, base: object, system_id: str | None,
                         public_id: str | None) -> int:
        self._entity(system_id or public_id or context or "")
        return 0  # pragma: no cover - _entity raises

    def _refuse_size(self, depth: int, elements: int) -> None:
        if depth > self.limits.max_depth:
            raise TableError(N_("The file could not be read as an .xlsx spreadsheet: its part "
                                "%(part)s nests XML elements more than %(limit)s deep."),
                             part=self.part, limit=count(self.limits.max_depth))
        self._refuse_elements(self.limits.max_elements)

    def _refuse_elements(self, limit: int) -> None:
        raise TableError(N_("The file could not be read as an .xlsx spreadsheet: its part "
                            "%(part)s holds more than %(limit)s XML elements."),
                         part=self.part, limit=count(limit))

    def _refuse_columns(self, row: int) -> None:
        raise TableError(
            N_("The spreadsheet was refused: row %(row)s of its sheet has more than %(limit)s "
               "columns (empty cells count too). Delete the empty columns to the right of the "
               "data and try again."),
            row=row, limit=count(self.limits.max_columns))
