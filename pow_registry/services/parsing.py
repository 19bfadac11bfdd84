"""One home for input parsing: the strings a form, an import row or (later) the API hands over,
turned into typed values with a message per bad field (issue 12). Every service uses these, so a
date, a name, a choice or a yes/no means the same wherever it is typed.

Each parser takes the raw value, the field's name and the `errors` dict to fill (field → message,
an English msgid the web layer translates), and returns the value to keep (or a safe default when
it added an error). No Flask, no database.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from pow_registry.domain.dates import InvalidDate, NoSuchDate, is_in_the_future, parse_optional
from pow_registry.domain.names import clean_name
from pow_registry.services.errors import N_, Msg

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "escape_like", "multiline", "partial_date", "plain", "text",
           "choice", "yes_no"]

E = TypeVar("E")

TRUE_WORDS = {"1", "true", "yes", "y", "on", "да", "так", "x"}  # "x": a ticked spreadsheet cell
FALSE_WORDS = {"", "0", "false", "no", "n", "off", "нет", "ні"}


def text(data: Mapping[str, Any], name: str) -> str:
    """The field as text ("" when absent or None)."""
    value = data.get(name)
    return "" if value is None else str(value)


def plain(value: str, limit: int, name: str, errors: dict[str, str]) -> str:
    """One line of text (a name, a unit, a place): cleaned (clean_name) and at most `limit` long."""
    value = clean_name(value)
    if len(value) > limit:
        errors[name] = Msg(N_("Too long (at most %(n)d characters)."), n=limit)
    return value


def multiline(value: str) -> str:
    """Free text kept with its line breaks, minus what nobody can see (format and control
    characters), in NFC: notes and the message a family reads."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    kept = (char for char in value if char in "\n\t" or not unicodedata.category(char).startswith("C"))
    return unicodedata.normalize("NFC", "".join(kept)).strip()


def partial_date(value: str, name: str, errors: dict[str, str], today: date) -> str | None:
    """A partial date, in one of the accepted shapes, that exists, and not after today (a typo,
    never a fact)."""
    try:
        parsed = parse_optional(value)
    except NoSuchDate:
        errors[name] = N_("This date does not exist.")
        return None
    except InvalidDate:
        errors[name] = N_("Enter a date as YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY.")
        return None
    if parsed is not None and is_in_the_future(parsed, today):
        errors[name] = N_("This date is in the future.")
        return None
    return str(parsed) if parsed else None


def choice(enum_cls: type[E], value: str, name: str, errors: dict[str, str], *, default: Any = None) -> Any:
    """One of an enum's values ("" is the default)."""
    value = value.strip()
    if not value:
        return default
    try:
        return enum_cls(value)  # type: ignore[call-arg]
    except ValueError:
        errors[name] = N_("Choose one of the listed values.")
        return default


def yes_no(value: Any, name: str, errors: dict[str, str]) -> bool:
    """A tick box or a spreadsheet's yes/no/да/нет/так/ні."""
    if isinstance(value, bool):
        return value
    word = "" if value is None else str(value).strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        errors[name] = N_("Answer yes or no.")
    return False


def escape_like(value: str) -> str:
    """Search text for a LIKE pattern (with ESCAPE '\\'): what was typed, never a wildcard."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
