"""Military unit numbers: the one field two reports of the same man agree on verbatim.

A unit is written «в/ч 12345», «ВЧ-12345», "military unit #12345" or just "12345"; only the
five-digit number identifies it, so that is what the matcher blocks and compares on.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["unit_number"]

# Exactly five ASCII digits, not part of a longer run (a phone number, a six-digit code).
_FIVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{5}(?![0-9])")


def unit_number(text: str | None) -> str | None:
    """Return the five-digit unit number in `text`, whatever wraps it, or None.

    None when there is no such number or when there are two different ones: guessing
    between them would link the wrong men. Leading zeros are kept («в/ч 01662»).
    """
    if not text:
        return None
    # NFKC turns full-width and other compatibility digits into ASCII ones.
    numbers: set[str] = set(_FIVE_DIGITS.findall(unicodedata.normalize("NFKC", text)))
    if len(numbers) != 1:
        return None
    return numbers.pop()
