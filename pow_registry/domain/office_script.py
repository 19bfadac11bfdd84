"""A man's name in the script an ombudsman office reads (issue 12, "Names in the office's script").

A Russian office gets Russian Cyrillic, a Ukrainian office Ukrainian Cyrillic, any other office
Latin letters. The registry holds names as researchers found them: «Eskizov Maxim» from an
English-language post, «Выдумкін Віталій» from a Ukrainian channel, «Выдумкин Виталий» from a
Russian one. This module picks, for one man, the spelling to send and says where it came from:

- ``registry``: the name as entered is already in the office's script;
- ``family``: the spelling of the family that asked about him (when the caller passes one: a
  confirmed inquiry whose family agreed to share), already in the office's script: a mother
  writes her son's name as it is in his passport;
- ``converted``: neither is, so the name was converted, and the office should check it.

How names are converted (documented rules, not guesses per name):

- **Given names and patronymics** through the given-name classes (given_names.tsv): Виталий,
  Віталій, Vitaly and Vitalii are one class, whose main Russian form is Виталий and main
  Ukrainian form Віталій; a patronymic becomes the father's name's patronymic in the office's
  language (Евгеньевич ↔ Євгенович). A name no class holds is converted letter by letter as a
  surname is.
- **Surnames between Russian and Ukrainian** letter by letter, as passport offices render each
  other's names: Ukrainian і ї є ґ ' → Russian и и/йи е г ь, «-ський/-цький» → «-ский/-цкий»,
  and Ukrainian и stays и (Гриценко is Гриценко in both); the other way ы → и, э → е, ё → ьо/йо,
  ъ → ', е after a vowel or at the start → є, «-ский/-цкий» → «-ський/-цький», and и → і,
  except in surnames with a Ukrainian ending (-енко, -ук, -юк, -чук, -ко), which keep it.
- **Latin to Cyrillic** by reversing the romanisations seen in lists, longest letter group
  first (shch → щ, zh → ж, kh → х, ts → ц, ya/ia → я, yu/iu → ю, y after a vowel → й, e at the
  start → э, -iy/-ii → -ий). A Latin spelling with a lone h (Hryhorenko), a yi or a Ukrainian
  ending (-nyk, -chuk, -enko, -ych, -skyi) was romanised from Ukrainian and is reversed with the Ukrainian table (h → г, g → ґ, y → и, i → і,
  ye → є, yi → ї); the result is then converted to the office's language if it differs.
- A "name" with digits or signs in it (not letters with spaces, hyphens, apostrophes or dots
  between them) is sent as entered: there is nothing to convert.
- **Cyrillic to Latin** as before: the ICAO passport table, or the Ukrainian national one when
  any of the man's names has a letter only Ukrainian uses (see romanize.py).

Pure: no Flask, no database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pow_registry.domain import given_names
from pow_registry.domain.romanize import Scheme, romanize

__all__ = ["SOURCES", "OfficeNames", "office_names", "script_of", "to_script"]

Language = Literal["ru", "uk", "en"]
Part = Literal["surname", "given_name", "patronymic"]
SOURCES = ("registry", "family", "converted")
_PARTS: tuple[Part, Part, Part] = ("surname", "given_name", "patronymic")

_CYRILLIC = re.compile("[\u0400-\u04ff\u0500-\u052f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")
_RUSSIAN_ONLY = re.compile("[ыэъёЫЭЪЁ]")
_UKRAINIAN_ONLY = re.compile("[іїєґІЇЄҐ]|[а-яіїєґ]['’ʼ][яюєї]", re.IGNORECASE)
_APOSTROPHES = "'’ʼ"
_VOWELS = set("аеёиоуыэюяіїє")
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*")
# A name: letters, with spaces, hyphens, apostrophes or dots between them. Anything else (a
# digit, a sign, a formula someone typed) is not converted: it goes as entered.
_NAME_LIKE = re.compile(r"[^\W\d_]+(?:[ '’ʼ.\-]+[^\W\d_]+)*\.?")


@dataclass(frozen=True)
class OfficeNames:
    surname: str
    given_name: str
    patronymic: str
    source: str  # one of SOURCES


def script_of(text: str) -> str:
    """``latin``, ``ru`` (a letter only Russian uses), ``uk`` (one only Ukrainian uses),
    ``cyrillic`` (Cyrillic fit for both), ``mixed`` or ``""`` (no letters)."""
    cyrillic, latin = bool(_CYRILLIC.search(text)), bool(_LATIN.search(text))
    if cyrillic and latin:
        return "mixed"
    if latin:
        return "latin"
    if not cyrillic:
        return ""
    russian, ukrainian = bool(_RUSSIAN_ONLY.search(text)), bool(_UKRAINIAN_ONLY.search(text))
    if russian and ukrainian:
        return "mixed"
    return "ru" if russian else "uk" if ukrainian else "cyrillic"


# --- given names and patronymics through the name classes ------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().lower().replace("ё", "е")


def _class_forms(text: str, part: Part) -> dict[str, tuple[str, ...]] | None:
    """The forms per language (ru, uk) of the name class a given name or patronymic reads as
    unambiguously, the usual form first."""
    reading = (given_names.read_given_name(text) if part == "given_name"
               else given_names.read_patronymic(text))
    if reading is None or reading.key is None or reading.level == "fuzzy":
        return None
    cls = given_names.name_class(reading.key)
    if part == "given_name":
        return {"ru": cls.ru, "uk": cls.uk or cls.ru}
    return {"ru": given_names.derive_patronymics(cls, "ru"), "uk": given_names.derive_patronymics(cls, "uk")}


def _language_of(text: str, part: Part) -> str:
    """``ru``, ``uk``, ``both`` or ``""``: which language's spelling a Cyrillic name is."""
    script = script_of(text)
    if script in ("ru", "uk"):
        return script
    if script != "cyrillic":
        return ""
    if part != "surname":
        found = _class_forms(text, part)
        if found is not None:
            folded = _fold(text)
            in_ru = folded in {_fold(f) for f in found["ru"]}
            in_uk = folded in {_fold(f) for f in found["uk"]}
            if in_ru != in_uk:
                return "ru" if in_ru else "uk"
    return "both"


# --- letter rules -----------------------------------------------------------------------------

_UKRAINIAN_ENDINGS = ("енко", "ук", "юк", "чук", "ко", "ишин", "ич")


def _uk_to_ru_word(word: str) -> str:
    w = word.lower()
    for uk, ru in (("ський", "ский"), ("цький", "цкий"), ("зький", "зкий"), ("ій", "ий")):
        if w.endswith(uk):
            w = w[: -len(uk)] + "\0" + ru
            break
    out: list[str] = []
    for i, char in enumerate(w):
        prev = w[i - 1] if i else ""
        nxt = w[i + 1] if i + 1 < len(w) else ""
        if char == "\0":
            continue
        if char in _APOSTROPHES:
            out.append("ь")
        elif char == "і":
            out.append("и")
        elif char == "ї":
            out.append("йи" if (i == 0 or prev in _VOWELS) else "и")
        elif char == "є":
            out.append("е")
        elif char == "ґ":
            out.append("г")
        elif char == "е" and i == 0:
            out.append("э")
        elif char == "ь" and nxt == "о":
            out.append("ё")
        elif char == "о" and prev == "ь":
            continue
        else:
            out.append(char)
    return "".join(out)


def _ru_to_uk_word(word: str) -> str:
    w = word.lower()
    keep_i = w.endswith(_UKRAINIAN_ENDINGS)
    ending = ""
    for ru, uk in (("ский", "ський"), ("цкий", "цький"), ("ской", "ський"), ("цкой", "цький"), ("ый", "ий")):
        if w.endswith(ru):
            w, ending = w[: -len(ru)], uk
            break
    else:
        if w.endswith("ий") and len(w) > 2:
            ending = "ий" if w[-3] in "гкхжшчщ" else "ій"
            w = w[:-2]
    out: list[str] = []
    for i, char in enumerate(w):
        prev = w[i - 1] if i else ""
        nxt = w[i + 1] if i + 1 < len(w) else ""
        if char == "ё":
            out.append("йо" if (i == 0 or prev in _VOWELS or prev in "ъь") else "ьо")
        elif char == "э":
            out.append("е")
        elif char == "ы":
            out.append("и")
        elif char == "ъ":
            out.append("'")
        elif char == "ь" and nxt and nxt in "яюе":
            out.append("'")  # Марьян → Мар'ян, Григорьев → Григор'єв
        elif char == "ь" and nxt == "ё":
            continue  # Воробьёв → Воробйов
        elif char == "е" and (i == 0 or prev in _VOWELS or prev in "ъь"):
            out.append("є")
        elif char == "и" and not keep_i:
            out.append("ї" if prev in _VOWELS else "і")
        else:
            out.append(char)
    return "".join(out) + ending


# Latin letter groups, longest first, to Russian and to Ukrainian Cyrillic.
_FROM_LATIN_RU = (
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("tch", "ч"), ("ts", "ц"), ("tc", "ц"),
    ("ch", "ч"), ("sh", "ш"), ("yu", "ю"), ("iu", "ю"), ("ya", "я"), ("ia", "я"), ("yo", "ё"),
    ("ye", "е"), ("x", "кс"), ("a", "а"), ("b", "б"), ("v", "в"), ("w", "в"), ("g", "г"), ("d", "д"),
    ("e", "е"), ("z", "з"), ("i", "и"), ("j", "й"), ("k", "к"), ("q", "к"), ("c", "к"), ("l", "л"),
    ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"),
    ("f", "ф"), ("h", "х"), ("'", "ь"),
)
_FROM_LATIN_UK = (
    ("shch", "щ"), ("zgh", "зг"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"),
    ("yu", "ю"), ("iu", "ю"), ("ya", "я"), ("ia", "я"), ("ye", "є"), ("ie", "є"), ("yi", "ї"),
    ("x", "кс"), ("a", "а"), ("b", "б"), ("v", "в"), ("w", "в"), ("h", "г"), ("g", "ґ"), ("d", "д"),
    ("e", "е"), ("z", "з"), ("y", "и"), ("i", "і"), ("j", "й"), ("k", "к"), ("q", "к"), ("c", "к"),
    ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
    ("u", "у"), ("f", "ф"), ("'", "ь"),
)
_LATIN_VOWELS = set("aeiouy")
_LATIN_RUN = re.compile("[A-Za-z\u00c0-\u024f]+")
_LONE_H = re.compile(r"(?<![kzcs])h", re.IGNORECASE)


_UKRAINIAN_LATIN_ENDINGS = ("nyk", "chuk", "yuk", "iuk", "enko", "ych", "yshyn", "skyi", "tskyi")


def _romanised_from_ukrainian(text: str) -> bool:
    lowered = text.lower()
    return (bool(_LONE_H.search(text)) or "yi" in lowered
            or any(word.endswith(_UKRAINIAN_LATIN_ENDINGS) for word in lowered.split()))


def _latin_to_ru_word(word: str) -> str:
    w = unicodedata.normalize("NFKD", word.lower())
    w = "".join(c for c in w if not unicodedata.combining(c))
    for latin, cyrillic in (("tskiy", "цкий"), ("tskii", "цкий"), ("tsky", "цкий"), ("skiy", "ский"),
                            ("skii", "ский"), ("sky", "ский"), ("iy", "ий"), ("ii", "ий"), ("yy", "ый"),
                            ("yi", "ый")):
        if w.endswith(latin) and len(w) > len(latin):
            return _latin_to_ru_stem(w[: -len(latin)]) + cyrillic
    return _latin_to_ru_stem(w)


def _latin_to_ru_stem(w: str) -> str:
    return _latin_stem(w, _FROM_LATIN_RU, russian=True)


def _latin_to_uk_word(word: str) -> str:
    w = word.lower()
    for latin, cyrillic in (("tskyi", "цький"), ("skyi", "ський"), ("yi", "ий"), ("ii", "ій")):
        if w.endswith(latin) and len(w) > len(latin):
            return _latin_to_uk_stem(w[: -len(latin)]) + cyrillic
    return _latin_to_uk_stem(w)


def _latin_to_uk_stem(w: str) -> str:
    return _latin_stem(w, _FROM_LATIN_UK, russian=False)


def _latin_stem(w: str, table: tuple[tuple[str, str], ...], *, russian: bool) -> str:
    """Latin letters to Cyrillic, longest letter group first. In a Russian romanisation a y is й
    after a vowel and ы elsewhere, and an e at the start is э; in both an i between a vowel and a
    consonant (or the end) is й (Leikin → Лейкин, Oliinyk → Олійник)."""
    out: list[str] = []
    i = 0
    while i < len(w):
        prev = w[i - 1] if i else ""
        if russian and w[i] == "y" and not w.startswith(("yu", "ya", "yo", "ye"), i):
            out.append("й" if prev in _LATIN_VOWELS else "ы")
        elif w[i] == "i" and prev in _LATIN_VOWELS and (i + 1 == len(w) or w[i + 1] not in _LATIN_VOWELS):
            out.append("й")
        elif russian and w[i] == "e" and (i == 0 or prev in "aou"):
            out.append("э" if i == 0 else "е")
        else:
            for latin, cyrillic in table:
                if w.startswith(latin, i):
                    out.append(cyrillic)
                    i += len(latin)
                    break
            else:
                out.append(w[i])
                i += 1
            continue
        i += 1
    return "".join(out)


def _with_case(converted: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return converted.upper()
    if original[:1].isupper():
        return converted[:1].upper() + converted[1:]
    return converted


def _by_words(text: str, convert: Callable[[str], str]) -> str:
    """`convert` applied to each word of `text`, keeping its case."""
    return _WORD.sub(lambda m: _with_case(convert(m.group(0)), m.group(0)), text)


def _letters_to(text: str, language: str) -> str:
    """Convert a surname (or a name no class holds) to Russian or Ukrainian Cyrillic."""
    script = script_of(text)
    if script == "latin":
        if _romanised_from_ukrainian(text):
            text = _by_words(text, _latin_to_uk_word)
            return text if language == "uk" else _by_words(text, _uk_to_ru_word)
        text = _by_words(text, _latin_to_ru_word)
        return text if language == "ru" else _by_words(text, _ru_to_uk_word)
    if script == "mixed":
        # Latin letters inside a Cyrillic name (a typing slip, or a half-converted name): the
        # Latin runs first, then the whole as Cyrillic.
        text = _LATIN_RUN.sub(lambda m: _with_case(_latin_to_ru_stem(m.group(0).lower()), m.group(0)), text)
    if language == "ru":
        return _by_words(text, _uk_to_ru_word)
    return _by_words(text, _ru_to_uk_word)


# --- one name, one man ------------------------------------------------------------------------


def to_script(text: str, part: Part, language: str, *, others: str = "both") -> str:
    """`text` (one name part) in the office's script; unchanged when it already is.

    `others`: the language the man's other names are spelt in (``ru``, ``uk`` or ``both``); a
    surname fit for both (Лейкин could be either) is taken to be in that language.
    """
    if not text.strip() or not _NAME_LIKE.fullmatch(text.strip()):
        return text
    if language == "en":
        if script_of(text) == "latin":
            return text
        scheme: Scheme = "ua" if others == "uk" or script_of(text) == "uk" else "icao"
        return romanize(text, scheme)
    if _fits(text, part, language, others):
        return text
    if part != "surname":
        found = _class_forms(text, part)
        if found is not None and found[language]:
            return _with_case(found[language][0], text)
    return _letters_to(text, language)


def _fits(text: str, part: Part, language: str, others: str) -> bool:
    if not _NAME_LIKE.fullmatch(text.strip()):
        return True  # not a name: sent as entered, nothing to convert
    if language == "en":
        return script_of(text) == "latin"
    spelt = _language_of(text, part)
    if spelt == "both" and part == "surname":
        spelt = others
    return spelt in (language, "both")


def _set_language(names: tuple[str, str, str]) -> str:
    """The language a man's names are spelt in, judged on all three."""
    found = {_language_of(name, part) for name, part in zip(names, _PARTS, strict=True)}
    if "uk" in found and "ru" not in found:
        return "uk"
    if "ru" in found and "uk" not in found:
        return "ru"
    return "both"


def office_names(registry: tuple[str, str, str], language: str,
                 family: tuple[str, str, str] | None = None) -> OfficeNames:
    """Surname, given name and patronymic for an office writing `language`, and their source.

    The family's spelling (when given, with a surname) wins when it is already in the office's
    script, then the registry's; otherwise the best Cyrillic source (the family's, else the
    registry's) is converted. A part one source lacks is taken from the other.
    """
    parts = _PARTS

    def fits(names: tuple[str, str, str]) -> bool:
        others = _set_language(names)
        return all(_fits(n, p, language, others) for n, p in zip(names, parts, strict=True) if n.strip())

    sources: list[tuple[str, tuple[str, str, str]]] = []
    if family is not None and family[0].strip():
        filled = tuple(f if f.strip() else r for f, r in zip(family, registry, strict=True))
        sources.append(("family", (filled[0], filled[1], filled[2])))
    sources.append(("registry", registry))
    for source, names in sources:
        if fits(names):
            return OfficeNames(*names, source=source)
    # Convert from the Cyrillic source when there is one: a Latin spelling has lost letters.
    names = next((n for _s, n in sources if script_of(" ".join(n)) not in ("latin", "mixed", "")), sources[0][1])
    others = _set_language(names)
    converted = tuple(to_script(n, p, language, others=others) for n, p in zip(names, parts, strict=True))
    return OfficeNames(converted[0], converted[1], converted[2], source="converted")
