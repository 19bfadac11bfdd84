"""Russian and Ukrainian case forms of names: back to the nominative, and feminine surname forms
told apart.

Families copy names from letters and official answers, where they stand in the genitive
(«разыскиваю Выдумкина Виталия Евгеньевича»), and relatives' lists carry the feminine form of
a surname (Выдумкина). Both must meet the nominative masculine form a registry holds
(Выдумкин), and the matcher must say which of the two it assumed (matching.md).

Two levels, chosen at run time:

- **pymorphy3** with its Russian and Ukrainian dictionaries (``pymorphy3-dicts-ru``,
  ``pymorphy3-dicts-uk``; a word with a letter only Ukrainian has is read as Ukrainian, another
  as Russian and, when Russian knows no name in it, as Ukrainian too):
  a morphological analyser that knows surnames (the ``Surn`` tag), given names (``Name``) and
  patronymics (``Patr``), and guesses unknown surnames from their endings. Only singular
  parses are used. The analyser is loaded lazily, once per process (about 0.1 s, 15 MB).
- **suffix rules** when pymorphy3 is missing (or knows no surname parse of a word): the
  endings of Russian and Ukrainian surname declension (-ина → -ин, -ова → -ов, -ого → -ой/-ий,
  -ской → -ский, -енка → -енко, -я → -й/-ь, ...). The rules over-generate; that is harmless,
  since a de-inflected form only ever brings candidates together and earns a weaker level than
  the name as written.

`backend()` says which level is in use; the matcher repeats it in its explanations.

All functions take one word (one name part) and return lower-case forms, never the word itself.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "Nominative",
    "available",
    "backend",
    "given_name_nominatives",
    "is_feminine_surname",
    "patronymic_nominatives",
    "surname_nominatives",
]

How = Literal["genitive", "oblique", "feminine", "feminine oblique"]


@dataclass(frozen=True, slots=True)
class Nominative:
    """A masculine nominative form the word may stand for, and how the word relates to it.

    ``genitive``: the genitive (or the identical animate accusative) of a man's name, as in a
    letter; ``oblique``: another case (dative, instrumental, prepositional); ``feminine``: the
    woman's form of the surname (Выдумкина for Выдумкин); ``feminine oblique``: a case of it.
    """

    form: str
    how: How


_lock = threading.Lock()
_state: dict[str, Any] = {}


def _analyser(lang: str = "ru") -> Any | None:
    """The pymorphy3 analyser for `lang` (ru, uk), loaded on first use; None when the package or
    that language's dictionaries are not installed."""
    key = f"morph:{lang}"
    if key not in _state:
        with _lock:
            if key not in _state:
                try:
                    import pymorphy3  # noqa: PLC0415 - optional, loaded on first use

                    _state[key] = pymorphy3.MorphAnalyzer(lang=lang)
                except (ImportError, ValueError):  # the package or its dictionaries are missing
                    _state[key] = None
    return _state[key]


def available() -> bool:
    """Whether the dictionary-based level (pymorphy3) is in use."""
    return _analyser() is not None


def backend() -> str:
    """A short description of the level in use, for explanations and the benchmark."""
    if available():
        languages = "Russian and Ukrainian" if _analyser("uk") is not None else "Russian"
        return f"pymorphy3 {languages} dictionaries (with suffix rules for unknown surnames)"
    return "suffix rules only (pymorphy3 is not installed)"


def _word(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().lower()


_CYRILLIC = re.compile(r"[а-яёіїєґ]")


def _is_cyrillic(word: str) -> bool:
    return bool(_CYRILLIC.search(word))


# --- surnames -------------------------------------------------------------------------------

# (ending, replacements, how). Checked longest ending first; every matching rule applies.
_SURNAME_RULES: tuple[tuple[str, tuple[str, ...], tuple[How, ...]], ...] = (
    # possessive -ов/-ев/-ин/-ын: genitive masculine = feminine nominative
    ("ова", ("ов",), ("genitive", "feminine")),
    ("ева", ("ев",), ("genitive", "feminine")),
    ("ёва", ("ёв",), ("genitive", "feminine")),
    ("ина", ("ин",), ("genitive", "feminine")),
    ("ына", ("ын",), ("genitive", "feminine")),
    ("іна", ("ін",), ("genitive", "feminine")),
    ("ову", ("ов",), ("oblique",)),
    ("еву", ("ев",), ("oblique",)),
    ("ину", ("ин",), ("oblique",)),
    ("ыну", ("ын",), ("oblique",)),
    ("овым", ("ов",), ("oblique",)),
    ("евым", ("ев",), ("oblique",)),
    ("иным", ("ин",), ("oblique",)),
    ("ове", ("ов",), ("oblique",)),
    ("ине", ("ин",), ("oblique",)),
    ("овой", ("ов",), ("feminine oblique",)),
    ("евой", ("ев",), ("feminine oblique",)),
    ("иной", ("ин",), ("feminine oblique",)),
    ("ыной", ("ын",), ("feminine oblique",)),
    # adjectival -ский/-цкий/-ой/-ый/-ий (Russian and Ukrainian spelling)
    ("ского", ("ский",), ("genitive",)),
    ("цкого", ("цкий",), ("genitive",)),
    ("ського", ("ський",), ("genitive",)),
    ("цького", ("цький",), ("genitive",)),
    ("ого", ("ой", "ый", "ий"), ("genitive",)),
    ("его", ("ий",), ("genitive",)),
    ("ому", ("ой", "ый", "ий"), ("oblique",)),
    ("ему", ("ий",), ("oblique",)),
    ("ским", ("ский",), ("oblique",)),
    ("ская", ("ский",), ("feminine",)),
    ("цкая", ("цкий",), ("feminine",)),
    ("ська", ("ський",), ("feminine",)),
    ("цька", ("цький",), ("feminine",)),
    ("ской", ("ский",), ("feminine oblique",)),
    ("цкой", ("цкий",), ("feminine oblique",)),
    ("ая", ("ой", "ый", "ий"), ("feminine",)),
    # Ukrainian -енко/-ко decline in Ukrainian (Шевченка), not in Russian
    ("енка", ("енко",), ("genitive",)),
    ("енку", ("енко",), ("oblique",)),
)
_SURNAME_RULES_BY_LENGTH = sorted(_SURNAME_RULES, key=lambda rule: -len(rule[0]))
_CONSONANTS = set("бвгґджзклмнпрстфхцчшщ")

# Latin spellings of an inflected surname (a list romanised from a letter): the obvious ones.
_LATIN_SURNAME_RULES: tuple[tuple[str, str, tuple[How, ...]], ...] = (
    ("ova", "ov", ("genitive", "feminine")),
    ("eva", "ev", ("genitive", "feminine")),
    ("ina", "in", ("genitive", "feminine")),
    ("yna", "yn", ("genitive", "feminine")),
    ("skaya", "skiy", ("feminine",)),
    ("skaia", "skii", ("feminine",)),
    ("skogo", "skiy", ("genitive",)),
)


def _surname_rules(word: str) -> list[Nominative]:
    found: list[Nominative] = []
    if _is_cyrillic(word):
        for ending, replacements, hows in _SURNAME_RULES_BY_LENGTH:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                stem = word[: -len(ending)]
                for replacement in replacements:
                    for how in hows:
                        found.append(Nominative(stem + replacement, how))
        if not found and len(word) > 3:
            # consonant-stem surnames: Шевчука → Шевчук, Гоголя → Гоголь, Гайдая → Гайдай
            if word.endswith("а") and word[-2] in _CONSONANTS:
                found.append(Nominative(word[:-1], "genitive"))
            elif word.endswith("я") and word[-2] in _CONSONANTS | {"а", "е", "о", "у", "і"}:
                if word[-2] in _CONSONANTS:
                    found.append(Nominative(word[:-1] + "ь", "genitive"))
                else:
                    found.append(Nominative(word[:-1] + "й", "genitive"))
            elif word.endswith("ем") and word[-3] in _CONSONANTS:
                found.append(Nominative(word[:-2] + "ь", "oblique"))
            elif word.endswith("ом") and word[-3] in _CONSONANTS:
                found.append(Nominative(word[:-2], "oblique"))
    else:
        for ending, replacement, hows in _LATIN_SURNAME_RULES:
            if word.endswith(ending) and len(word) > len(ending) + 1:
                for how in hows:
                    found.append(Nominative(word[: -len(ending)] + replacement, how))
    return found


_UKRAINIAN_LETTERS = re.compile(r"[іїєґ'’ʼ]")
_NAME_TAGS = ("Surn", "Name", "Patr")


def _parses(word: str) -> list[Any]:
    """Dictionary parses: Ukrainian for a word with a letter only Ukrainian has, Russian
    otherwise, and Ukrainian too when Russian knows no name in the word («Шевченка»)."""
    if not _is_cyrillic(word):
        return []
    ukrainian = _analyser("uk")
    if _UKRAINIAN_LETTERS.search(word) and ukrainian is not None:
        return list(ukrainian.parse(word))
    russian = _analyser("ru")
    parses: list[Any] = list(russian.parse(word)) if russian is not None else []
    if ukrainian is not None and not any(tag in parse.tag for parse in parses for tag in _NAME_TAGS):
        parses.extend(ukrainian.parse(word))
    return parses


def _singular(tag: Any) -> bool:
    # The Ukrainian dictionaries leave the number out of a singular noun's tag.
    return tag.number in ("sing", None)


def _dedupe(found: list[Nominative], word: str) -> tuple[Nominative, ...]:
    seen: dict[tuple[str, str], Nominative] = {}
    for item in found:
        form = unicodedata.normalize("NFC", item.form)
        if form and form != word and (form, item.how) not in seen:
            seen[(form, item.how)] = Nominative(form, item.how)
    return tuple(seen.values())


@lru_cache(maxsize=200_000)
def surname_nominatives(word: str) -> tuple[Nominative, ...]:
    """Masculine nominative surnames `word` may be a case form or a feminine form of.

    «Выдумкина» → (выдумкин, genitive), (выдумкин, feminine); «Вишневского» → (вишневский,
    genitive); «Лейкин» → (). Dictionary parses when pymorphy3 is there and knows the word as a
    surname, else the suffix rules.
    """
    word = _word(word)
    if not word or not _may_be_inflected(word):
        return ()
    found: list[Nominative] = []
    known_surname = False
    for parse in _parses(word):
        tag = parse.tag
        if "Surn" not in tag or not _singular(tag):
            continue
        known_surname = True
        case, gender = tag.case, tag.gender
        if gender == "masc" and case != "nomn":
            found.append(Nominative(parse.normal_form, _case_how(case)))
        elif gender == "femn":
            how: How = "feminine" if case == "nomn" else "feminine oblique"
            found.append(Nominative(parse.normal_form, how))
    if not known_surname:
        found.extend(_surname_rules(word))
    return _dedupe(found, word)


_CASE_ENDINGS = ("ом", "ем", "ым", "им", "ой", "ою", "ею", "ого", "его")


def _may_be_inflected(word: str) -> bool:
    """Whether a surname can be anything but a man's nominative (saves the analyser's time).

    A man's nominative surname ends in a consonant, -ь, -й (Толстой only with -ой), -о (-енко)
    or -ых/-их; case forms and feminine forms end in a vowel or in -ом/-ем/-ым/-им/-ой.
    """
    last = word[-1]
    if last in "аяуюеиыіa":
        return not word.endswith(("ых", "их"))
    return word.endswith(_CASE_ENDINGS)


def _case_how(case: str | None) -> How:
    return "genitive" if case in {"gent", "accs"} else "oblique"


@lru_cache(maxsize=50_000)
def is_feminine_surname(word: str) -> bool:
    """Whether `word` can be the nominative of a woman's surname (Выдумкина, Вишневская).

    True also when it can equally be a man's genitive (Выдумкина): the caller decides from
    the rest of the name (a genitive given name makes the genitive reading the likely one).
    """
    return any(item.how == "feminine" for item in surname_nominatives(word))


# --- given names and patronymics ----------------------------------------------------------

# Candidate nominatives for given names; the caller keeps those its name table knows, so these
# may over-generate freely. Russian and Ukrainian declension.
_GIVEN_RULES: tuple[tuple[str, tuple[str, ...], How], ...] = (
    ("ия", ("ий",), "genitive"),  # Виталия → Виталий
    ("ія", ("ій",), "genitive"),  # Олексія → Олексій
    ("ея", ("ей",), "genitive"),  # Сергея → Сергей
    ("ая", ("ай",), "genitive"),  # Николая → Николай
    ("ля", ("ль", "ло"), "genitive"),  # Рамиля → Рамиль
    ("ря", ("рь",), "genitive"),  # Игоря → Игорь
    ("ла", ("ел", "ло", "л"), "genitive"),  # Павла → Павел, Павло; Михаила → Михаил
    ("ьва", ("ев",), "genitive"),  # Льва → Лев
    ("тра", ("тр", "тро"), "genitive"),  # Петра → Пётр, Петро; Дмитра → Дмитро
    ("а", ("",), "genitive"),  # Олега → Олег
    ("а", ("о",), "genitive"),  # Данила → Данило (Ukrainian)
    ("ы", ("а",), "genitive"),  # Никиты → Никита
    ("и", ("а", "я"), "genitive"),  # Миколи → Микола; Ильи → Илья
    ("ью", ("ья",), "oblique"),  # Ильёй/Илью
    ("ию", ("ий",), "oblique"),
    ("ею", ("ей",), "oblique"),
    ("ем", ("",), "oblique"),
    ("ом", ("",), "oblique"),
    ("ием", ("ий",), "oblique"),
    ("у", ("", "а"), "oblique"),
    ("ю", ("й", "ь", "я"), "oblique"),
    ("е", ("", "а"), "oblique"),
)


@lru_cache(maxsize=50_000)
def given_name_nominatives(word: str) -> tuple[Nominative, ...]:
    """Candidate nominatives of a man's given name in another case (Виталия → виталий).

    Over-generates; keep the ones a name table knows.
    """
    word = _word(word)
    if len(word) < 3 or not _is_cyrillic(word):
        return ()
    found: list[Nominative] = []
    for parse in _parses(word):
        tag = parse.tag
        if "Name" in tag and _singular(tag) and tag.case != "nomn":
            found.append(Nominative(parse.normal_form, _case_how(tag.case)))
    for ending, replacements, how in _GIVEN_RULES:
        if word.endswith(ending) and len(word) > len(ending) + 1:
            stem = word[: -len(ending)]
            found.extend(Nominative(stem + replacement, how) for replacement in replacements)
    return _dedupe(found, word)


_PATRONYMIC_CASE = re.compile(r"(вич|ич|іч)(а|у|ем|ом|е)$")
_LATIN_PATRONYMIC_CASE = re.compile(r"(vich|ich|ych|vych)(a|u|em|om)$")


@lru_cache(maxsize=50_000)
def patronymic_nominatives(word: str) -> tuple[Nominative, ...]:
    """The nominative of a patronymic in another case (Евгеньевича → евгеньевич)."""
    word = _word(word)
    found: list[Nominative] = []
    for parse in _parses(word):
        tag = parse.tag
        if "Patr" in tag and _singular(tag) and tag.case != "nomn" and tag.gender == "masc":
            found.append(Nominative(parse.normal_form, _case_how(tag.case)))
    pattern = _PATRONYMIC_CASE if _is_cyrillic(word) else _LATIN_PATRONYMIC_CASE
    match = pattern.search(word)
    if match:
        how: How = "genitive" if match.group(2) in {"а", "a"} else "oblique"
        found.append(Nominative(word[: match.start(2)], how))
    return _dedupe(found, word)
