"""Romanisation of Russian and Ukrainian names under the schemes seen in real lists.

The matcher never needs these to *match* (it compares spelling-insensitive skeletons, see
names.name_skeleton); they exist so that every Latin spelling of a stored name can be derived
rather than typed (domain.md, "Names"), and so that the tests and the benchmark can produce the
spellings families and lists really use. Each scheme is a small hand-checked table:

- ``icao``: ICAO Doc 9303 as used in Russian passports since 2014 (Лейкин Виталий → Leikin
  Vitalii; ъ → ie, ю → iu, я → ia).
- ``gost52535``: the 2010–2013 Russian passport table (ц → tc, ю → iu, я → ia).
- ``bgn``: BGN/PCGN 1947 for Russian (Leykin Vitaliy; е → ye at the start, after a vowel, й, ъ, ь).
- ``gost779b``: GOST 7.79-2000 system B (х → x, ц → cz/c, щ → shh, ы → y').
- ``press``: English-language press usage (Vitaly, Yevgeny, Alexei: -ий → -y, кс → x).
- ``ua``: the Ukrainian national system (Cabinet resolution 55 of 2010: г → h, и → y, є/ї/ю/я
  as ye/yi/yu/ya at the start of a word, ie/i/iu/ia elsewhere, зг → zgh). Applied to Ukrainian
  spelling (Олексій → Oleksii) or, as happens, straight to the Russian spelling.

Only letters are transliterated; anything else (spaces, hyphens, digits) is kept.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["SCHEMES", "Scheme", "romanize"]

Scheme = Literal["icao", "gost52535", "bgn", "gost779b", "press", "ua"]
SCHEMES: tuple[Scheme, ...] = ("icao", "gost52535", "bgn", "gost779b", "press", "ua")

_VOWELS = set("аеёиоуыэюяіїє")

_COMMON: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e",
    "є": "ie", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k",
    "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "",
    "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia", "'": "", "’": "", "ʼ": "",
}  # fmt: skip

_TABLES: dict[str, dict[str, str]] = {
    "icao": {**_COMMON, "ъ": "ie"},
    "gost52535": {**_COMMON, "ц": "tc"},
    "bgn": {
        **_COMMON, "е": "e", "ё": "ë", "й": "y", "ъ": "\"", "ь": "'", "ю": "yu", "я": "ya",
        "є": "ye", "ї": "yi",
    },
    "gost779b": {
        **_COMMON, "ё": "yo", "й": "j", "х": "x", "ц": "cz", "щ": "shh", "ъ": "``",
        "ы": "y'", "ь": "`", "э": "e`", "ю": "yu", "я": "ya", "і": "i", "ї": "yi",
        "є": "ye", "ґ": "g`",
    },
    "press": {
        **_COMMON, "ё": "yo", "й": "y", "ю": "yu", "я": "ya", "є": "ye", "ї": "yi",
    },
    "ua": {
        **_COMMON, "г": "h", "и": "y", "ы": "y", "ё": "io", "є": "ie", "ї": "i", "й": "i",
        "ю": "iu", "я": "ia", "э": "e",
    },
}  # fmt: skip

# Letters written differently at the start of a word (and, for BGN/press, after a vowel).
_INITIAL: dict[str, dict[str, str]] = {
    "bgn": {"е": "ye", "ё": "yë"},
    "press": {"е": "ye", "ё": "yo"},
    "ua": {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya", "ё": "yo"},
}


def _letter(word: str, i: int, scheme: str) -> str:
    char = word[i]
    table = _TABLES[scheme]
    prev = word[i - 1] if i > 0 else ""
    nxt = word[i + 1] if i + 1 < len(word) else ""
    initial = _INITIAL.get(scheme, {})
    if char in initial and (
        i == 0 or (scheme in {"bgn", "press"} and (prev in _VOWELS or prev in "йъь"))
    ):
        return initial[char]
    if scheme == "gost779b" and char == "ц" and nxt in {"е", "и", "ы", "й", "і", "є", "ї"}:
        return "c"
    if scheme == "ua" and char == "г" and word[:i].rstrip("ь'’ʼ").endswith("з"):
        return "gh"  # зг → zgh, so that it is not read as ж (a soft sign between, written as nothing, too)
    if scheme == "press":
        # -ий / -ый at the end of a word are written -y (Vitaly, Yury); кс → x (Alexei).
        if char in "иы" and nxt == "й" and i + 2 == len(word):
            return "y"
        if char == "й" and prev in "иы" and i + 1 == len(word):
            return ""
        if char == "к" and nxt == "с":
            return "x"
        if char == "с" and prev == "к":
            return ""
    return table.get(char, char)


_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*")


def _romanize_word(word: str, scheme: str) -> str:
    lowered = word.lower()
    out: list[str] = []
    for i, char in enumerate(lowered):
        latin = _letter(lowered, i, scheme)
        if word[i] != char and latin:  # the original letter was upper case
            latin = (
                latin.upper() if word.isupper() and len(word) > 1 else latin[0].upper() + latin[1:]
            )
        out.append(latin)
    return "".join(out)


def romanize(text: str, scheme: Scheme) -> str:
    """Romanise Cyrillic `text` under `scheme`, keeping upper case where the original had it.

    Latin letters and anything that is not a letter pass through unchanged.
    """
    if scheme not in _TABLES:
        raise ValueError(f"unknown romanisation scheme {scheme!r}; use one of {SCHEMES}")
    text = unicodedata.normalize("NFC", text)
    return _WORD.sub(lambda m: _romanize_word(m.group(0), scheme), text)
