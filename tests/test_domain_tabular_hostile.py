"""Hostile tables bounded by what they expand to (issue 14): every attack file is built here, for
real, and refused with the message that names the bound it passed, before openpyxl builds
anything from it. "Stopped early" is shown by construction: the bytes unpacked are counted, or
the message names a count far below what the file holds. All names are fictitious.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pow_registry.domain import tabular, tabular_xlsx
from pow_registry.domain.tabular import TableError, TableLimits, read_table

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'.encode()
SHEET_TAIL = b"</sheetData></worksheet>"
SST_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
N = "\u00a0"  # messages group thousands with a no-break space: 250 000


def _workbook() -> dict[str, bytes]:
    """The parts of a genuine one-sheet workbook written by openpyxl."""
    wb = openpyxl.Workbook()
    wb.active.append(["placeholder"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


PARTS = _workbook()


def xlsx(sheet: bytes | None = None, *, strings: bytes | None = None, **others: bytes) -> bytes:
    """The genuine workbook with its sheet (and optionally a shared strings part, or any other
    part, given as keyword with '/' written '__') replaced."""
    parts = dict(PARTS)
    if sheet is not None:
        parts[SHEET] = sheet
    if strings is not None:
        types = parts["[Content_Types].xml"].decode().replace("</Types>", SST_TYPE + "</Types>")
        parts["[Content_Types].xml"] = types.encode()
        parts[STRINGS] = strings
    for key, content in others.items():
        parts[key.replace("__", "/")] = content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def rows_xml(rows: list[list[str]]) -> bytes:
    def cell(column: int, number: int, value: str) -> str:
        return (f'<c r="{tabular.column_letter(column)}{number}" t="inlineStr">'
                f"<is><t>{value}</t></is></c>")

    return "".join(
        f'<row r="{n}">' + "".join(cell(i, n, v) for i, v in enumerate(values)) + "</row>"
        for n, values in enumerate(rows, start=1)
    ).encode()


def sheet(body: bytes, head: bytes = b"") -> bytes:
    start = SHEET_HEAD.replace(b"<sheetData>", head + b"<sheetData>")
    return start + body + SHEET_TAIL


HEADER = rows_xml([["surname"]])


def deflate_repeated(head: bytes, unit: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Deflate head + unit * times + tail without holding it: (packed, size, crc)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = unit * 100_000
    pieces, size, crc = [packer.compress(head)], len(head), zlib.crc32(head)
    for _ in range(times // 100_000):
        pieces.append(packer.compress(block))
        size, crc = size + len(block), zlib.crc32(block, crc)
    pieces.append(packer.compress(tail))
    pieces.append(packer.flush())
    size, crc = size + len(tail), zlib.crc32(tail, crc)
    return b"".join(pieces), size, crc


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand: (name, raw data, method, declared unpacked size, crc) per part.

    The declared packed size is the length of the raw data as given: deflated data followed by
    padding declares a packing ratio far below the real one (zipfile stops at the end of the
    deflate stream and never looks at the padding).
    """
    out, directory = io.BytesIO(), io.BytesIO()
    for name, data, method, size, crc in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 33, crc, len(data),
                              size, len(encoded), 0) + encoded + data)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc,
                                    len(data), size, len(encoded), 0, 0, 0, 0, 0, offset)
                        + encoded)
    start = out.tell()
    out.write(directory.getvalue())
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                          len(directory.getvalue()), start, 0))
    return out.getvalue()


def with_raw_sheet(packed: bytes, size: int, crc: int) -> bytes:
    members = [(name, zlib.compress(content)[2:-4], zipfile.ZIP_DEFLATED, len(content),
                zlib.crc32(content)) for name, content in PARTS.items() if name != SHEET]
    return raw_zip([*members, (SHEET, packed, zipfile.ZIP_DEFLATED, size, crc)])


@pytest.fixture
def unpacked(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Bytes unpacked from each part while the test runs (every reader goes through zipfile)."""
    counts: dict[str, int] = {}
    real_read = zipfile.ZipExtFile.read

    def read(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        data = real_read(self, n)
        counts[self.name] = counts.get(self.name, 0) + len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return counts


@pytest.fixture
def no_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals that come from what the zip declares must come before openpyxl is started."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl must not be reached")

    monkeypatch.setattr(openpyxl.reader.excel, "ExcelReader", boom)


# ------------------------------------------------------------------------------------------
# Zip bombs


def test_the_reported_bomb_of_empty_rows_is_refused_unopened(unpacked: dict[str, int], no_openpyxl: None) -> None:
    # The file of the report: well under a megabyte, 190 MB of <row/> once unpacked, below the
    # 200 MB total the zip may declare.
    packed, size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    bomb = with_raw_sheet(packed, size, crc)
    assert len(bomb) < 600_000 and 180_000_000 < size < 200_000_000
    with pytest.raises(TableError, match=rf"part xl/worksheets/sheet1.xml would unpack to 189{N}\d{{3}}{N}\d{{3}} bytes, \d+ times its packed size.*at most 100 times"):
        read_table(bomb, "captures.xlsx")
    assert unpacked.get(SHEET, 0) == 0


def test_a_bomb_padded_to_hide_its_ratio_stops_at_the_row_bound(unpacked: dict[str, int]) -> None:
    # The same 190 MB, its packed size padded to 2 MB: 95:1 declared, below the ratio bound.
    packed, size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    padded = packed + b"\0" * (size // 95 - len(packed))
    bomb = with_raw_sheet(padded, size, crc)
    with pytest.raises(TableError, match=f"its sheet has more than 250{N}000 rows .empty rows count too"):
        read_table(bomb, "captures.xlsx")
    assert unpacked[SHEET] < 3_000_000  # of 190 MB: the scan stopped at the 250,001st row


def test_a_part_that_declares_less_than_it_holds_is_cut_where_it_says_and_refused(unpacked: dict[str, int]) -> None:
    # Declared: 2,000 bytes. Real: 190 MB. zipfile stops at the declared size, so the lie buys
    # nothing; the CRC over the whole content does not match what was read.
    packed, _size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    liar = with_raw_sheet(packed, 2_000, crc)
    with pytest.raises(TableError, match="zip structure is damaged .*CRC"):
        read_table(liar, "captures.xlsx")
    assert unpacked.get(SHEET, 0) <= 2_000  # zipfile raised on the CRC as the declared end came


def test_many_parts_refused_before_the_directory_is_read(no_openpyxl: None) -> None:
    entries = [(f"x/{i}.xml", b"", zipfile.ZIP_STORED, 0, 0) for i in range(5_000)]
    with pytest.raises(TableError, match=f"it contains 5{N}000 parts; at most 500 are allowed"):
        read_table(raw_zip(entries), "parts.xlsx")


def test_another_part_is_bounded_on_its_own(unpacked: dict[str, int]) -> None:
    # 11 MB of styles packing about 30:1: the ratio passes, the part's own bound does not.
    styles = PARTS["xl/styles.xml"]
    noise = random.Random(14)
    filler = b"".join(b"<x>%s%s</x>" % (noise.randbytes(32).hex().encode(), b"x" * 900) for _ in range(12_000))
    bloated = styles.replace(b"<fonts", filler + b"<fonts", 1)
    with pytest.raises(TableError, match=rf"its part xl/styles.xml unpacks to more than 10{N}000{N}000 bytes"):
        read_table(xlsx(**{"xl__styles.xml": bloated}), "t.xlsx")
    assert unpacked["xl/styles.xml"] < 10_100_000


# ------------------------------------------------------------------------------------------
# Rows and cells


def test_a_row_numbered_past_the_bound_is_refused() -> None:
    # One tiny row element, numbered 5,000,000: openpyxl would yield 4,999,999 empty rows first.
    with pytest.raises(TableError, match=f"more than 250{N}000 rows"):
        read_table(xlsx(sheet(HEADER + b'<row r="5000000"><c r="A5000000" t="inlineStr"><is><t>Testov</t></is></c></row>')), "t.xlsx")


def test_a_million_empty_cells_in_one_row_stop_at_the_column_bound(unpacked: dict[str, int]) -> None:
    row = b'<row r="2">' + b"<c/>" * 1_000_000 + b"</row>"  # 4 MB, below the ratio floor
    with pytest.raises(TableError, match=f"row 2 of its sheet has more than 1{N}000 columns"):
        read_table(xlsx(sheet(HEADER + row)), "t.xlsx")
    assert unpacked[SHEET] < 200_000  # of 4 MB


def test_one_cell_far_to_the_right_is_refused() -> None:
    # openpyxl would pad the row with 16,383 empty cells.
    far = b'<row r="2"><c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row>'
    with pytest.raises(TableError, match=f"row 2 of its sheet has more than 1{N}000 columns"):
        read_table(xlsx(sheet(HEADER + far)), "t.xlsx")


def test_padded_rows_count_as_the_cells_openpyxl_would_make() -> None:
    # 4,500 rows of one cell each in column ALL (1,000): 135 KB of XML, 4.5 million cells.
    rows = b"".join(b'<row r="%d"><c r="ALL%d"/></row>' % (n, n) for n in range(2, 4_502))
    with pytest.raises(TableError, match=f"its sheet has more than 4{N}000{N}000 cells .empty cells count too"):
        read_table(xlsx(sheet(HEADER + rows)), "t.xlsx")


def test_a_declared_size_beyond_the_bounds_is_refused_at_once(unpacked: dict[str, int]) -> None:
    rows = HEADER + b"<row/>" * 10_000
    with pytest.raises(TableError, match="its sheet declares the size A1:XFD1048576"):
        read_table(xlsx(sheet(rows, head=b'<dimension ref="A1:XFD1048576"/>')), "t.xlsx")
    assert unpacked[SHEET] < 70_000  # the first chunk: the rows after it were never unpacked


def test_a_huge_text_in_one_cell_is_refused_before_openpyxl_holds_it() -> None:
    cell = b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + b"x" * 3_000_000 + b"</t></is></c></row>"
    with pytest.raises(TableError, match=f"single text, tag or comment longer than 1{N}000{N}000 bytes"):
        read_table(xlsx(sheet(HEADER + cell)), "t.xlsx")


def test_a_long_row_is_refused() -> None:
    limits = TableLimits(max_group_bytes=50_000)
    cells = "".join(f'<c r="{tabular.column_letter(i)}2" t="inlineStr"><is><t>{"y" * 9_000}</t></is></c>' for i in range(8))
    with pytest.raises(TableError, match=f"row 2 of its sheet takes more than 50{N}000 bytes"):
        read_table(xlsx(sheet(HEADER + f'<row r="2">{cells}</row>'.encode())), "t.xlsx", limits=limits)


def test_deeply_nested_xml_is_refused_in_the_sheet_and_in_any_part() -> None:
    nested = b'<row r="2"><c r="A2" t="inlineStr"><is>' + b"<r>" * 100 + b"</r>" * 100 + b"</is></c></row>"
    with pytest.raises(TableError, match="its part xl/worksheets/sheet1.xml nests XML elements more than 64 deep"):
        read_table(xlsx(sheet(HEADER + nested)), "t.xlsx")
    styles = PARTS["xl/styles.xml"].replace(b"<fonts", b"<x>" * 10_000 + b"</x>" * 10_000 + b"<fonts", 1)
    with pytest.raises(TableError, match="its part xl/styles.xml nests XML elements more than 64 deep"):
        read_table(xlsx(**{"xl__styles.xml": styles}), "t.xlsx")


def test_elements_outside_rows_are_bounded() -> None:
    # openpyxl keeps every element of a sheet that is not in a row.
    junk = b"<x/>" * 600_000
    with pytest.raises(TableError, match=f"its part xl/worksheets/sheet1.xml holds more than 500{N}000 XML elements"):
        read_table(xlsx(sheet(HEADER, head=junk)), "t.xlsx")


def test_elements_in_a_part_are_bounded() -> None:
    limits = TableLimits(max_elements=1_000)
    rows = rows_xml([["surname"], *[["Testov"]] * 300])  # 4 elements a row
    with pytest.raises(TableError, match=f"holds more than 1{N}000 XML elements"):
        read_table(xlsx(sheet(rows)), "t.xlsx", limits=limits)


def test_entities_refused_in_any_part() -> None:
    prolog = b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">]>'
    styles = PARTS["xl/styles.xml"].split(b"?>", 1)[-1]
    with pytest.raises(TableError, match="its part xl/styles.xml declares the XML entity a"):
        read_table(xlsx(**{"xl__styles.xml": prolog + styles}), "t.xlsx")


# ------------------------------------------------------------------------------------------
# Shared strings


def sst(body: bytes) -> bytes:
    return f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}">'.encode() + body + b"</sst>"


SHARED_SHEET = sheet(b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>')


def test_a_huge_shared_strings_table_is_refused_unopened(unpacked: dict[str, int]) -> None:
    # 3 million empty strings: 15 MB from a few kilobytes.
    with pytest.raises(TableError, match="part xl/sharedStrings.xml would unpack to 15"):
        read_table(xlsx(SHARED_SHEET, strings=sst(b"<si/>" * 3_000_000)), "t.xlsx")
    assert unpacked.get(STRINGS, 0) == 0


def test_shared_strings_are_counted_while_read(unpacked: dict[str, int]) -> None:
    body = b"".join(b"<si><t>Testov %d</t></si>" % i for i in range(5_000))
    with pytest.raises(TableError, match=f"shared strings table holds more than 1{N}000 texts"):
        read_table(xlsx(SHARED_SHEET, strings=sst(body)), "t.xlsx", limits=TableLimits(max_shared_strings=1_000))
    with pytest.raises(TableError, match=f"shared strings table holds more than 20{N}000 characters"):
        read_table(xlsx(SHARED_SHEET, strings=sst(body)), "t.xlsx", limits=TableLimits(max_shared_chars=20_000))
    assert read_table(xlsx(SHARED_SHEET, strings=sst(body)), "t.xlsx").headers == ["Testov 0"]


def test_one_shared_string_in_every_cell_is_bounded_by_the_table_text() -> None:
    # 9,000 characters, stored once, shown in 200 cells: 1.8 million characters in memory.
    text = b"Testov " + b"x" * 8_993
    rows = HEADER.replace(b"surname", b"notes") + b"".join(
        b'<row r="%d"><c r="A%d" t="s"><v>0</v></c></row>' % (n, n) for n in range(2, 202))
    with pytest.raises(TableError, match=f"holds more than 1{N}000{N}000 characters of text"):
        read_table(xlsx(sheet(rows), strings=sst(b"<si><t>" + text + b"</t></si>")), "t.xlsx",
                   limits=TableLimits(max_table_chars=1_000_000))


# ------------------------------------------------------------------------------------------
# Legitimate files pass


def test_a_partner_file_of_100000_rows_reads() -> None:
    # As Excel writes it: shared strings, numbers, a dimension; 100,000 rows under the header.
    strings = sst("<si><t>personal_number</t></si><si><t>surname</t></si><si><t>Выдумкин</t></si>".encode())
    rows = b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>' + b"".join(
        b'<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d" t="s"><v>2</v></c></row>' % (n, n, 7_000_000 + n, n)
        for n in range(2, 100_002))
    data = xlsx(sheet(rows, head=b'<dimension ref="A1:B100001"/>'), strings=strings)
    table = read_table(data, "captures.xlsx")
    assert len(table.rows) == 100_000
    assert table.rows[-1] == (100_001, ["7100001", "Выдумкин"])


def partner_sheet(rows: int, columns: int) -> tuple[bytes, bytes]:
    """A sheet as Excel writes one: shared strings, numbers, styled date serials, a dimension."""
    def row(n: int) -> bytes:
        cells = [b'<c r="A%d" t="s"><v>%d</v></c>' % (n, n)]
        for column in range(1, columns):
            letter = tabular.column_letter(column).encode()
            if column % 5 == 0:
                cells.append(b'<c r="%s%d" s="1"><v>45352</v></c>' % (letter, n))
            else:
                cells.append(b'<c r="%s%d" t="s"><v>%d</v></c>' % (letter, n, rows + column))
        return b'<row r="%d" spans="1:%d">' % (n, columns) + b"".join(cells) + b"</row>"

    last = tabular.column_letter(columns - 1).encode()
    body = sheet(b"".join(row(n) for n in range(1, rows + 1)),
                 head=b'<dimension ref="A1:%s%d"/>' % (last, rows))
    strings = sst(b"".join(b"<si><t>R-%07d</t></si>" % i for i in range(rows + columns))
                  + b"".join(b"<si><t>Column %d</t></si>" % i for i in range(columns)))
    return body, strings


def test_a_partner_sized_workbook_passes_every_bound() -> None:
    # 100,001 rows of 25 columns, 2.5 million cells: each part through the same checks as an
    # upload (reading it through openpyxl as well would take a minute; the smaller file above
    # goes all the way).
    body, strings = partner_sheet(100_001, 25)
    data = xlsx(body, strings=strings)
    tabular_xlsx.check_container(data, TableLimits())
    with tabular_xlsx.GuardedArchive(data, TableLimits()) as archive:
        for name in archive.namelist():
            archive.open(name).close()


# ------------------------------------------------------------------------------------------
# The scan counts at least what openpyxl builds


CELL_REF = st.one_of(st.none(), st.integers(min_value=1, max_value=40))
ROW = st.tuples(st.one_of(st.none(), st.integers(min_value=1, max_value=60)), st.lists(CELL_REF, max_size=6))


def openpyxl_work(data: bytes) -> tuple[int, int]:
    """Rows openpyxl yields and the cells in them (padding included), read without our checks."""
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    ws = wb.worksheets[0]
    ws.reset_dimensions()
    rows = cells = 0
    for row in ws.iter_rows():
        rows += 1
        cells += len(row)
    wb.close()
    return rows, cells


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=12))
def test_the_scan_never_counts_less_than_openpyxl_builds(shape: list[tuple[int | None, list[int | None]]]) -> None:
    body = b""
    for number, refs in shape:
        attr = b' r="%d"' % number if number else b""
        row_number = number or 1
        cells = b"".join(
            (b'<c r="%s%d"/>' % (tabular.column_letter(ref - 1).encode(), row_number) if ref else b"<c/>")
            for ref in refs)
        body += b"<row%s>%s</row>" % (attr, cells)
    data = xlsx(sheet(body))
    rows, cells = openpyxl_work(data)
    if rows:
        with pytest.raises(TableError, match="rows"):
            read_table(data, "t.xlsx", limits=TableLimits(max_row_elements=rows - 1))
    if cells:
        with pytest.raises(TableError, match="cells|columns"):
            read_table(data, "t.xlsx", limits=TableLimits(max_cells=cells - 1))


# ------------------------------------------------------------------------------------------
# CSV


def test_csv_of_blank_lines_stops_at_the_line_bound() -> None:
    with pytest.raises(TableError, match=f"more than 250{N}000 lines .blank lines count too"):
        read_table(b"surname\n" + b"\n" * 5_000_000, "t.csv")
    with pytest.raises(TableError, match=f"more than 250{N}000 lines"):
        read_table(b"surname\n" + b",,,\r\n" * 3_000_000, "t.csv")


def test_csv_single_enormous_line_refused_before_its_cells_are_built() -> None:
    with pytest.raises(TableError, match=f"Line 2 of the CSV file holds a row longer than 1{N}000{N}000 characters"):
        read_table(b"surname\n" + b"," * 15_000_000, "t.csv")
    # Quoted cells that run over many lines: the record is bounded, not the line.
    cell = b'"' + b"Testov\n" * 15_000 + b'"'
    with pytest.raises(TableError, match=f"Line [\\d{N}]+ of the CSV file holds a row longer than 1{N}000{N}000"):
        read_table(b"surname,notes\n" + b",".join([cell] * 12), "t.csv")
    # A quoted cell that never ends stops at the csv module's own bound on one cell.
    with pytest.raises(TableError, match="could not be read near line .*field limit"):
        read_table(b'surname\n"' + b"Testov\n" * 500_000, "t.csv")


def test_csv_too_many_columns_refused() -> None:
    with pytest.raises(TableError, match=f"Row 2 of the CSV file has 5{N}000 columns; at most 1{N}000"):
        read_table(b"surname\n" + b"a," * 4_999 + b"a\n", "t.csv")


def test_csv_partner_file_of_100000_rows_reads() -> None:
    lines = ["source_ref,surname,notes"] + [f'R-{n},Вигадько,"ранен, ""лёгкое""\nвторая строка"' for n in range(100_000)]
    table = read_table("\r\n".join(lines).encode(), "captures.csv")
    assert len(table.rows) == 100_000
    assert table.rows[0] == (2, ["R-0", "Вигадько", 'ранен, "лёгкое"\nвторая строка'])


def outcome(read: object) -> object:
    try:
        return read()  # type: ignore[operator]
    except TableError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab ,;"\r\n\tё', max_size=80))
def test_csv_reads_as_the_csv_module_reads_a_text_stream(text: str) -> None:
    # The lines are now cut by hand (so that a record is bounded before csv builds it); the
    # outcome must be what csv.reader over io.StringIO(newline="") gives, table or refusal.
    data = "surname\n" + text

    def reference() -> tabular.Table:
        reader = csv.reader(io.StringIO(data, newline=""), delimiter=tabular._sniff_delimiter(data), strict=True)

        def records() -> Iterator[tuple[int, list[str]]]:
            try:
                for n, record in enumerate(reader, start=1):
                    yield n, [cell.strip() for cell in record]
            except csv.Error as exc:
                raise TableError(f"The CSV file could not be read near line {reader.line_num}: {exc}.") from exc

        return tabular._build_table(records(), limits=TableLimits(), kind="csv")

    assert outcome(lambda: read_table(data.encode(), "t.csv")) == outcome(reference)
