"""What an uploaded table may expand to, and the error that says which bound it passed.

A spreadsheet is a zip of XML: 0.5 MB can unpack to 190 MB of empty rows, and one shared string
can be referenced by a million cells. Every bound here is on what the file *expands to* (parts,
bytes, XML elements, rows, cells, shared strings, characters), checked before or while the file
is parsed, so a hostile file is refused within seconds and a legitimate partner file (100,000
rows of about 25 columns) passes (see design/security.md, "Spreadsheets in and out").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["N_", "TableError", "TableLimits", "count"]


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    """Marks a message for the translation catalogue; the web layer translates it."""
    return message


class TableError(ValueError):
    """The uploaded table cannot be used; the message says why, in plain English.

    ``template`` is the English message with ``%(name)s`` placeholders (extracted into the
    translation catalogue) and ``params`` its values, so whoever shows it can translate the
    template first and fill it in after; ``str()`` is the filled-in English text (the command
    line and the logs read it). Nothing was changed when one is raised.
    """

    def __init__(self, template: str, **params: object) -> None:
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def count(number: int) -> str:
    """A number for a message, its thousands grouped by a no-break space ("200 000 000").

    One form for every language: a comma is a decimal separator in Russian and Ukrainian.
    """
    return f"{number:,}".replace(",", "\u00a0")


@dataclass(frozen=True)
class TableLimits:
    """Bounds on an upload and on what it expands to; the defaults let a partner file of
    100,000 rows of 25 columns through with room to spare and refuse the known attacks."""

    max_bytes: int = 20_000_000
    """The upload itself."""
    max_rows: int = 100_000
    """Data rows (non-empty rows under the header)."""
    max_members: int = 500
    """Parts in the .xlsx zip (a workbook has about ten)."""
    max_uncompressed: int = 200_000_000
    """What the parts unpack to: the sum the zip declares, and the bytes actually unpacked."""
    max_ratio: int = 100
    """A part that unpacks to more than this many times its packed size ..."""
    ratio_floor: int = 5_000_000
    """... and to more than this many bytes is a zip bomb (a generated sheet packs about 10:1)."""
    max_part_bytes: int = 10_000_000
    """Any part other than a worksheet or the shared strings (styles, workbook, relations)."""
    max_part_elements: int = 500_000
    """XML elements the reader keeps in memory: every element of such a part, the elements of
    a worksheet outside its rows, of the shared strings outside their strings."""
    max_elements: int = 20_000_000
    """XML elements in any one part: about five per cell at the cell limit."""
    max_depth: int = 64
    """Nesting of XML elements (a worksheet needs about eight)."""
    max_token_bytes: int = 1_000_000
    """The longest stretch of a part without an element starting or ending: one text, one tag
    with its attributes, one comment (a cell holds at most 10,000 characters)."""
    max_group_bytes: int = 10_000_000
    """One worksheet row or one shared string: the reader holds it whole in memory."""
    max_row_elements: int = 250_000
    """Rows of the sheet, empty ones included: row elements, and the highest row number (the
    reader yields every row up to it)."""
    max_columns: int = 1_000
    """Columns of one row: its cells, and the highest column it reaches (the reader fills the
    gaps with empty cells)."""
    max_cells: int = 4_000_000
    """Cells of the sheet as the reader yields them, empty ones included: 100,000 × 40."""
    max_shared_strings: int = 2_500_000
    """Entries of the shared strings table (100,000 × 25, every cell a different text)."""
    max_shared_chars: int = 100_000_000
    """Characters in the shared strings table, all held in memory by the reader."""
    max_table_chars: int = 100_000_000
    """Characters in the cells of the table read: one shared string may be referenced by
    every cell, so this bounds the memory the table itself takes."""
    max_record_chars: int = 1_000_000
    """One CSV record (a line, or several when a quoted cell spans lines)."""
