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


def safe_cell_text(value: str) -> str:
    """Return ``value`` as text that is stored as a plain string and never read as a formula.

    Control characters XML cannot hold become U+FFFD (visible, instead of an exception) and
    line ends become LF; risky leading characters and error literals get a leading apostrophe,
    the usual CSV injection defence; over-long text is cut to Excel's limit with a visible "…".
    """
    text = value if isinstance(value, str) else str(value)
    text = _NOT_XML.sub(_REPLACEMENT, _ILLEGAL.sub(_REPLACEMENT, text))
    # XML turns a raw CR into LF on reading; normalise now so what we write is what is read.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    stripped = text.strip()
    # Leading spaces count too: some importers trim them before looking for a formula.
    if text.startswith(RISKY_PREFIXES) or stripped.startswith(RISKY_PREFIXES) or (
        stripped.upper() in ERROR_LITERALS
    ):
        text = "'" + text
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text


def write_text_cell(ws: Any, row: int, col: int, value: str) -> Cell:
    """Set a cell of a normal (not write-only) worksheet to safe text, forced to string type.

    Returns the cell so callers can style it.
    """
    cell = ws.cell(row=row, column=col)
    cell.value = safe_cell_text(value)
    cell.data_type = "s"
    return cell


def text_cell(ws: Any, value: str) -> Cell:
    """A ``WriteOnlyCell`` holding safe text, forced to string type, for write-only workbooks."""
    cell = WriteOnlyCell(ws, value=safe_cell_text(value))
    cell.data_type = "s"
    return cell
