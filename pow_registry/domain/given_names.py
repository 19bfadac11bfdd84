"""Given names and patronymics: one symbol per name across Russian, Ukrainian and Latin.

Алексей, Олексій, Aleksei, Oleksii, Alexei, Alexsey and Лёша are one name; Евгеньевич,
Євгенович, Yevhenovych and Evgenievich are one father's name. The table
(``pow_registry/data/given_names.tsv``) lists each male name once as an equivalence class:
Russian forms, Ukrainian forms, the Latin (English, press) forms no romanisation produces, and
diminutives, those shared by several names marked as ambiguous (Витя: Виктор or Виталий).
Patronymics are derived from the Russian and Ukrainian forms by rule, plus a column of
irregular ones (Ильич, Михайлович, Миколайович).

Lookups are script-blind: a name is looked up by its spelling skeleton (names.name_skeleton),
so every romanisation of a listed form finds its class without being listed. What no table
holds (typos, Alecsandr) is found by a Jaro-Winkler search over the skeletons of the listed
forms, and case forms copied from a letter (Виталия, Евгеньевича) through morphology.

A reading says *how* the class was found (``name``, ``diminutive``, ``ambiguous diminutive``,
``genitive``/``oblique``, ``fuzzy``), so the matcher can weigh and explain it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from rapidfuzz import process
from rapidfuzz.distance import OSA, JaroWinkler

from pow_registry.domain import morphology
from pow_registry.domain.names import name_skeleton, skeleton_variants

__all__ = [
    "FUZZY_CUTOFF",
    "GivenNameClass",
    "NameReading",
    "derive_patronymics",
    "given_name_key",
    "given_name_keys",
    "listed_given_name",
    "name_class",
    "name_classes",
    "patronymic_key",
    "read_given_name",
    "read_patronymic",
]

#: Jaro-Winkler similarity (on skeletons) above which an unlisted spelling is read as a name.
FUZZY_CUTOFF = 0.9
#: Skeletons shorter than this are never read fuzzily (Ян, Али: too little to go on).
_FUZZY_MIN_LENGTH = 4


@dataclass(frozen=True, slots=True)
class GivenNameClass:
    """One male given name in all its forms."""

    id: str
    ru: tuple[str, ...]
    uk: tuple[str, ...]
    latin: tuple[str, ...]
    diminutives: tuple[str, ...]
    ambiguous_diminutives: tuple[str, ...]
    patronymics: tuple[tuple[str, str], ...]  # irregular ones: (language, form)

    @property
    def main_ru(self) -> str:
        return self.ru[0]

    @property
    def main_uk(self) -> str:
        return self.uk[0] if self.uk else self.ru[0]

    def full_forms(self) -> tuple[str, ...]:
        return self.ru + self.uk + self.latin


@dataclass(frozen=True, slots=True)
class NameReading:
    """What one written given name (or patronymic) was read as.

    ``classes``: the name classes it may be, best first (several only for an ambiguous
    diminutive). ``level``: how they were found: ``name`` (a listed form, in any script),
    ``diminutive``, ``ambiguous diminutive``, ``genitive`` / ``oblique`` (a case form, from a
    letter), ``fuzzy`` (an unlisted spelling close to a listed one; ``similarity`` says how
    close), or ``unknown`` (no class: the matcher compares skeletons). ``languages``: which
    columns of the table the matched form is in (``ru``, ``uk``, ``latin``).
    ``form``: the listed form it was matched to.
    """

    text: str
    skeleton: str
    classes: tuple[str, ...]
    level: str
    form: str = ""
    languages: frozenset[str] = frozenset()
    similarity: float = 1.0

    @property
    def key(self) -> str | None:
        """The class id when the reading is unambiguous, else None."""
        return self.classes[0] if len(self.classes) == 1 else None


# --- the table ------------------------------------------------------------------------------


def _split(cell: str) -> tuple[str, ...]:
    return tuple(
        unicodedata.normalize("NFC", part.strip()) for part in cell.split("|") if part.strip()
    )


def _parse_table(text: str) -> dict[str, GivenNameClass]:
    classes: dict[str, GivenNameClass] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 6:
            raise ValueError(f"given_names.tsv line {number}: 6 tab-separated columns expected")
        class_id, ru, uk, latin, diminutives, patronymics = cells
        class_id = class_id.strip()
        if class_id in classes:
            raise ValueError(f"given_names.tsv line {number}: class {class_id!r} twice")
        dims = _split(diminutives)
        classes[class_id] = GivenNameClass(
            id=class_id,
            ru=_split(ru),
            uk=_split(uk),
            latin=_split(latin),
            diminutives=tuple(d for d in dims if not d.endswith("?")),
            ambiguous_diminutives=tuple(d[:-1] for d in dims if d.endswith("?")),
            patronymics=tuple(_language_form(p, number) for p in _split(patronymics)),
        )
    return classes


def _language_form(cell: str, number: int) -> tuple[str, str]:
    language, _, form = cell.partition(":")
    if language not in ("ru", "uk") or not form:
        raise ValueError(f"given_names.tsv line {number}: patronymic {cell!r} needs ru: or uk:")
    return language, form


def _russian_patronymics(name: str) -> list[str]:
    lower = name.lower()
    if lower.endswith("ий"):  # Юрий → Юрьевич, Юриевич
        return [name[:-2] + "ьевич", name[:-2] + "иевич"]
    if lower.endswith(("ей", "ай", "яй", "уй", "ой")):  # Сергей → Сергеевич
        return [name[:-1] + "евич"]
    if lower.endswith("ь"):  # Игорь → Игоревич
        return [name[:-1] + "евич"]
    if lower.endswith(("а", "я")):  # Никита → Никитич, Илья → Ильич
        return [name[:-1] + "ич"]
    if lower.endswith(("и", "е", "о", "у")):  # Али → Алиевич
        return [name + "евич"]
    if lower[-1:] in "жшчщц":
        return [name + "евич"]
    return [name + "ович"]


def _ukrainian_patronymics(name: str) -> list[str]:
    lower = name.lower()
    if lower.endswith(("о", "а")):  # Дмитро → Дмитрович, Микита → Микитович
        return [name[:-1] + "ович"]
    if lower.endswith("я"):
        return [name[:-1] + "ьович"]
    if lower.endswith("і"):  # Алі → Алійович
        return [name + "йович"]
    return [name + "ович"]  # Іван → Іванович, Сергій → Сергійович, Василь → Васильович


def _patronymics_by_language(cls: GivenNameClass) -> list[tuple[str, str]]:
    """(form, language): the irregular ones first, then those derived from each name form."""
    forms: list[tuple[str, str]] = [(form, language) for language, form in cls.patronymics]
    for form in cls.ru:
        forms.extend((p, "ru") for p in _russian_patronymics(form))
    for form in cls.uk:
        forms.extend((p, "uk") for p in _ukrainian_patronymics(form))
    return forms


def derive_patronymics(cls: GivenNameClass, language: str | None = None) -> tuple[str, ...]:
    """The patronymics of a father called by this name, once each, the usual form first.

    `language`: ``ru`` or ``uk`` for one language's forms only (Евгеньевич, Євгенович).
    """
    seen: dict[str, None] = {}
    for form, form_language in _patronymics_by_language(cls):
        if language is None or form_language == language:
            seen.setdefault(form, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class _Entry:
    class_id: str
    form: str
    languages: frozenset[str]


class _Tables:
    """The lookup maps built from the table, once per process."""

    def __init__(self, classes: dict[str, GivenNameClass]) -> None:
        self.classes = classes
        full: dict[str, dict[str, set[str]]] = {}  # skeleton → class id → languages
        forms: dict[tuple[str, str], str] = {}
        diminutive: dict[str, set[str]] = {}
        patronymic: dict[str, set[str]] = {}
        patronymic_languages: dict[str, set[str]] = {}
        for cls in classes.values():
            for language, names in (("ru", cls.ru), ("uk", cls.uk), ("latin", cls.latin)):
                for form in names:
                    key = name_skeleton(form)
                    full.setdefault(key, {}).setdefault(cls.id, set()).add(language)
                    forms.setdefault((key, cls.id), form)
            # the id is a Latin form of the main name: a key of a key is the key itself
            key = name_skeleton(cls.id)
            full.setdefault(key, {}).setdefault(cls.id, set()).add("latin")
            forms.setdefault((key, cls.id), cls.id)
            for form in cls.diminutives + cls.ambiguous_diminutives:
                diminutive.setdefault(name_skeleton(form), set()).add(cls.id)
                forms.setdefault((name_skeleton(form), cls.id), form)
            for form, language in _patronymics_by_language(cls):
                key = name_skeleton(form)
                patronymic.setdefault(key, set()).add(cls.id)
                patronymic_languages.setdefault(key, set()).add(language)
                forms.setdefault(("patronymic:" + key, cls.id), form)
        self.full = {
            key: {cid: frozenset(langs) for cid, langs in by_class.items()}
            for key, by_class in full.items()
        }
        self.forms = forms
        # a diminutive that is also a full form of some class is read as that full form
        self.diminutive = {
            key: tuple(sorted(ids)) for key, ids in diminutive.items() if key not in self.full
        }
        self.patronymic = {key: tuple(sorted(ids)) for key, ids in patronymic.items()}
        self.patronymic_languages = {
            key: frozenset(langs) for key, langs in patronymic_languages.items()
        }
        self.full_choices = sorted(k for k in self.full if len(k) >= _FUZZY_MIN_LENGTH)
        self.patronymic_choices = sorted(self.patronymic)


@cache
def _tables() -> _Tables:
    text = resources.files("pow_registry").joinpath("data/given_names.tsv").read_text("utf-8")
    return _Tables(_parse_table(text))


def name_classes() -> dict[str, GivenNameClass]:
    """All classes of the table by id (a read-only view: do not change it)."""
    return _tables().classes


def name_class(class_id: str) -> GivenNameClass:
    """The class with this id; KeyError when there is none."""
    return _tables().classes[class_id]


# --- reading names --------------------------------------------------------------------------


def _full_reading(text: str, key: str, tables: _Tables, level: str) -> NameReading | None:
    by_class = tables.full.get(key)
    if not by_class:
        return None
    ids = tuple(sorted(by_class))
    languages = frozenset().union(*by_class.values())
    return NameReading(
        text=text,
        skeleton=key,
        classes=ids,
        level=level if len(ids) == 1 else "ambiguous diminutive",
        form=tables.forms.get((key, ids[0]), ""),
        languages=languages,
    )


def _diminutive_reading(text: str, key: str, tables: _Tables, level: str) -> NameReading | None:
    ids = tables.diminutive.get(key)
    if not ids:
        return None
    return NameReading(
        text=text,
        skeleton=key,
        classes=ids,
        level=level if len(ids) == 1 else "ambiguous diminutive",
        form=tables.forms.get((key, ids[0]), ""),
    )


@lru_cache(maxsize=100_000)
def listed_given_name(text: str) -> NameReading | None:
    """Read a given name only if it is a listed form or diminutive (no case forms, no fuzzy
    search): the cheap test of whether some other field holds a given name."""
    tables = _tables()
    variants = skeleton_variants(text)
    if not variants[0]:
        return None
    for variant in variants:
        found = _full_reading(text, variant, tables, "name") or _diminutive_reading(
            text, variant, tables, "diminutive"
        )
        if found:
            return _with_skeleton(found, variants[0])
    return None


@lru_cache(maxsize=100_000)
def read_given_name(text: str) -> NameReading | None:
    """Read one written given name; None when it has no letters.

    Tries, in order: a listed form under any of its spelling's readings; a diminutive; a case
    form of either (Виталия, Саши); the closest listed form by Jaro-Winkler ≥ FUZZY_CUTOFF.
    Otherwise the reading has no class (level ``unknown``) and only its skeleton.
    """
    tables = _tables()
    variants = skeleton_variants(text)
    key = variants[0]
    if not key:
        return None
    for variant in variants:
        found = _full_reading(text, variant, tables, "name")
        if found:
            return _with_skeleton(found, key)
    for variant in variants:
        found = _diminutive_reading(text, variant, tables, "diminutive")
        if found:
            return _with_skeleton(found, key)
    for nominative in morphology.given_name_nominatives(text):
        nominative_key = name_skeleton(nominative.form)
        found = _full_reading(text, nominative_key, tables, nominative.how)
        if found is None:
            found = _diminutive_reading(text, nominative_key, tables, nominative.how)
            if found is not None and len(found.classes) > 1:
                found = NameReading(
                    text, found.skeleton, found.classes, "ambiguous diminutive", found.form
                )
        if found:
            return _with_skeleton(found, key)
    for candidate in (
        key,
        *(name_skeleton(n.form) for n in morphology.given_name_nominatives(text)),
    ):
        if len(candidate) < _FUZZY_MIN_LENGTH:
            continue
        fuzzy = _fuzzy_reading(text, key, candidate, tables.full_choices, lambda c: _full_reading(text, c, tables, "fuzzy"))
        if fuzzy is not None:
            return fuzzy
    return NameReading(text=text, skeleton=key, classes=(), level="unknown")


def _fuzzy_reading(
    text: str, key: str, candidate: str, choices: list[str], read: Callable[[str], NameReading | None],
) -> NameReading | None:
    """A typo'd name: the closest listed skeleton, if it reads as exactly one name."""
    best = _closest(candidate, choices)
    if best is None:
        return None
    choice, similarity = best
    found = read(choice)
    if not found or len(found.classes) != 1:
        return None
    return NameReading(text=text, skeleton=key, classes=found.classes, level="fuzzy", form=found.form,
                       languages=found.languages, similarity=round(float(similarity), 3))


def _closest(key: str, choices: list[str]) -> tuple[str, float] | None:
    """The most similar listed skeleton of about the same length (a typo, not a longer word).

    Jaro-Winkler ≥ FUZZY_CUTOFF first; else a single listed skeleton one edit away (Івац for
    Іван: short names lose too much Jaro-Winkler to one wrong letter).
    """
    for choice, similarity, _ in process.extract(
        key,
        choices,
        scorer=JaroWinkler.normalized_similarity,
        score_cutoff=FUZZY_CUTOFF,
        limit=5,
    ):
        if abs(len(choice) - len(key)) <= max(1, len(key) // 5):
            return choice, float(similarity)
    near = process.extract(key, choices, scorer=OSA.distance, score_cutoff=1, limit=2)
    if len(near) == 1:
        choice = near[0][0]
        return choice, float(JaroWinkler.normalized_similarity(key, choice))
    return None


def _with_skeleton(reading: NameReading, key: str) -> NameReading:
    if reading.skeleton == key:
        return reading
    return NameReading(
        text=reading.text,
        skeleton=key,
        classes=reading.classes,
        level=reading.level,
        form=reading.form,
        languages=reading.languages,
        similarity=reading.similarity,
    )


def _patronymic_reading(text: str, key: str, tables: _Tables, level: str) -> NameReading | None:
    ids = tables.patronymic.get(key)
    if not ids:
        return None
    return NameReading(
        text=text,
        skeleton=key,
        classes=ids,
        level=level,
        form=tables.forms.get(("patronymic:" + key, ids[0]), ""),
        languages=tables.patronymic_languages.get(key, frozenset()),
    )


@lru_cache(maxsize=100_000)
def read_patronymic(text: str) -> NameReading | None:
    """Read one written patronymic as the class of the father's name; None without letters.

    Евгеньевич, Євгенович, Yevhenovych, Evgenievich → evgenii (level ``name``); Евгеньевича →
    evgenii (``genitive``); an unlisted spelling close to a listed one → ``fuzzy``.
    """
    tables = _tables()
    variants = skeleton_variants(text)
    key = variants[0]
    if not key:
        return None
    for variant in variants:
        found = _patronymic_reading(text, variant, tables, "name")
        if found:
            return _with_skeleton(found, key)
    for nominative in morphology.patronymic_nominatives(text):
        found = _patronymic_reading(text, name_skeleton(nominative.form), tables, nominative.how)
        if found:
            return _with_skeleton(found, key)
    if len(key) >= 6:
        fuzzy = _fuzzy_reading(text, key, key, tables.patronymic_choices,
                               lambda c: _patronymic_reading(text, c, tables, "fuzzy"))
        if fuzzy is not None:
            return fuzzy
    return NameReading(text=text, skeleton=key, classes=(), level="unknown")


def given_name_keys(text: str) -> frozenset[str]:
    """The class ids a written given name may stand for (empty when none): script-blind."""
    reading = read_given_name(text)
    return frozenset(reading.classes) if reading else frozenset()


def given_name_key(text: str) -> str | None:
    """The class id of a written given name when it is unambiguous, else None."""
    reading = read_given_name(text)
    return reading.key if reading else None


def patronymic_key(text: str) -> str | None:
    """The class id of the father's name a written patronymic stands for, or None."""
    reading = read_patronymic(text)
    return reading.key if reading else None


def all_forms(classes: Iterable[GivenNameClass] | None = None) -> list[tuple[str, str, str]]:
    """(class id, column, form) for every listed form: for tests and the benchmark."""
    rows: list[tuple[str, str, str]] = []
    for cls in classes if classes is not None else name_classes().values():
        rows.extend((cls.id, "ru", form) for form in cls.ru)
        rows.extend((cls.id, "uk", form) for form in cls.uk)
        rows.extend((cls.id, "latin", form) for form in cls.latin)
        rows.extend((cls.id, "diminutive", form) for form in cls.diminutives)
        rows.extend((cls.id, "ambiguous", form) for form in cls.ambiguous_diminutives)
    return rows
