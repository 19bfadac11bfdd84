"""The one safe way to put text into an exported spreadsheet.

openpyxl turns a string starting with "=" into a live formula and "#N/A" into an error cell,
raises on control characters and cuts text over 32,767 characters without a trace. Exchange
lists go to ombudsman offices and are opened in Excel and LibreOffice, so every text cell goes
through here (design/security.md, "Spreadsheets in and out").
"""

from __future__ import annotations

import re
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, WriteOnlyCell

__all__ = [
    "ERROR_LITERALS",
    "cell_text",
    "MAX_CELL_CHARS",
    "RISKY_PREFIXES",
    "TRUNCATION_MARKER",
    "safe_cell_text",
    "text_cell",
    "write_text_cell",
]

MAX_CELL_CHARS = 32_767
"""Excel's limit for one cell; longer text is cut by Excel or openpyxl without warning."""

TRUNCATION_MARKER = "…"

RISKY_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
"""Leading characters that make Excel, LibreOffice or a CSV import start a formula.

The full-width forms are included because some spreadsheet front ends normalise them.
"""

ERROR_LITERALS = frozenset(
    {
        "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
        "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!",
        "#UNKNOWN!", "#BUSY!", "#PYTHON!",
    }
)
"""Texts a spreadsheet would show (or re-read) as an error value instead of as text."""

_REPLACEMENT = "\ufffd"
_ILLEGAL: re.Pattern[str] = ILLEGAL_CHARACTERS_RE  # openpyxl's own list, so we match its check
# Not in openpyxl's list, yet not XML either: U+FFFE, U+FFFF and lone surrogates make the whole
# file unreadable ("not well-formed") in every spreadsheet program.
_NOT_XML: re.Pattern[str] = re.compile("[\ufffe\uffff\ud800-\udfff]")


def cell_text(value: str) -> tuple[str, bool]:
    """Return ``value`` as text a cell can hold, and whether it must be shown as text with the
    cell's quote-prefix style (it starts like a formula or is an error literal).

    Control characters XML cannot hold become U+FFFD (visible, instead of an exception) and
    line ends become LF; over-long text is cut to Excel's limit with a visible "…". The text is
    otherwise what was typed: an .xlsx keeps it as a string cell with the quote prefix (the
    office sees «=1+2», not «'=1+2», and neither Excel nor LibreOffice makes it a formula, even
    when the cell is edited); a CSV has no styles and uses `safe_cell_text`.
    """
    text = value if isinstance(value, str) else str(value)
    text = _NOT_XML.sub(_REPLACEMENT, _ILLEGAL.sub(_REPLACEMENT, text))
    # XML turns a raw CR into LF on reading; normalise now so what we write is what is read.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stripped = text.strip()
    # Leading spaces count too: some importers trim them before looking for a formula.
    risky = text.startswith(RISKY_PREFIXES) or stripped.startswith(RISKY_PREFIXES) or (
        stripped.upper() in ERROR_LITERALS
    )
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text, risky


def safe_cell_text(value: str) -> str:
    """Return ``value`` as text that is read as a plain string even without cell styles (CSV).

    As `cell_text`, but risky leading characters and error literals get a leading apostrophe,
    the usual CSV injection defence.
    """
    text, risky = cell_text(value)
    if risky:
        text = "'" + text
        if len(text) > MAX_CELL_CHARS:
            text = text[: MAX_CELL_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text


def write_text_cell(ws: Any, row: int, col: int, value: str) -> Cell:
    """Set a cell of a normal (not write-only) worksheet to text, forced to string type, with
    the quote-prefix style when it starts like a formula (see `cell_text`).

    Returns the cell so callers can style it.
    """
    cell = ws.cell(row=row, column=col)
    text, risky = cell_text(value)
    cell.value = text
    cell.data_type = "s"
    if risky:
        cell.quotePrefix = True
    return cell


def text_cell(ws: Any, value: str) -> Cell:
    """A ``WriteOnlyCell`` holding text, forced to string type, quote-prefixed when risky."""
    text, risky = cell_text(value)
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    if risky:
        cell.quotePrefix = True
    return cell
