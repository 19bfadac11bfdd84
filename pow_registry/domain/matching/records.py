"""Preparing a record: what the matcher reads of a person or an inquiry, normalised once
(name skeletons and readings, dates, unit, place, event) with its blocking keys."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

from pow_registry.domain import morphology
from pow_registry.domain.dates import InvalidDate, PartialDate
from pow_registry.domain.given_names import (
    NameReading,
    listed_given_name,
    read_given_name,
    read_patronymic,
)
from pow_registry.domain.matching.blocking import blocking_keys
from pow_registry.domain.names import clean_name, name_skeleton, skeleton_variants
from pow_registry.domain.units import unit_number

Kind = Literal["person", "inquiry"]


@dataclass(frozen=True, slots=True)
class MatchRecord:
    """What the matcher reads of a person or an inquiry; every field but the id is optional.

    ``date_of_birth`` and ``event_date``: partial dates (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``
    or the dotted forms PartialDate.parse accepts). ``event_date`` is the capture date for a
    person and the last contact date for an inquiry. ``unit``: as written (в/ч 12345).
    ``place``: capture place for a person, last known place for an inquiry, in any script.
    """

    record_id: str
    kind: Kind
    surname: str | None = None
    given_name: str | None = None
    patronymic: str | None = None
    date_of_birth: str | None = None
    unit: str | None = None
    place: str | None = None
    event_date: str | None = None
    service_category: str | None = None
    call_sign: str | None = None  # a person's nickname in his unit (позывной), as written

    def __post_init__(self) -> None:
        if self.kind not in ("person", "inquiry"):
            raise ValueError(f"kind must be 'person' or 'inquiry', not {self.kind!r}")


@dataclass(frozen=True, slots=True)
class _Swap:
    """The same record read with surname and given name the other way round."""

    surname: str
    sur: str
    sur_text: str
    sur_keys: frozenset[str]
    sur_how: dict[str, str]
    given: NameReading
    given_text: str
    light: bool = False  # no sign of a swap: blocked on fewer keys


@dataclass(eq=False, slots=True)
class PreparedRecord:
    """A record with its keys computed once (see `prepare`). Treat as read-only."""

    record: MatchRecord
    key: tuple[str, str]
    surname: str  # the surname as read (after splitting a full name), cleaned
    sur_text: str  # casefolded, ё → е, for the "exact" level
    sur: str  # primary skeleton, "" when none
    sur_keys: frozenset[str]  # the primary skeleton and alternatives
    sur_how: dict[str, str]  # alternative skeleton → how it was derived
    feminine: bool  # the surname can be a woman's form
    given: NameReading | None
    given_text: str
    patronymic: NameReading | None
    patronymic_text: str
    case_form: bool  # the given name or patronymic is in another case (from a letter)
    swap: _Swap | None
    dob: PartialDate | None
    dob_text: str  # ISO, "" when none
    unit: str | None
    place: tuple[str, ...]
    place_consonants: tuple[str, ...]  # of each place word, computed once (see place_consonants)
    place_text: str
    event: tuple[int, int] | None
    category: str | None
    call_sign: str = ""  # its spelling key, "" when none
    call_sign_text: str = ""
    index_keys: tuple[str, ...] = field(default=())
    query_keys: tuple[str, ...] = field(default=())
    swap_index_keys: tuple[str, ...] = field(default=())
    swap_query_keys: tuple[str, ...] = field(default=())

    @property
    def given_key(self) -> str:
        """The given-name token term frequencies are counted on."""
        return _class_token(self.given)

    @property
    def patronymic_key(self) -> str:
        return _class_token(self.patronymic)


def _class_token(reading: NameReading | None) -> str:
    if reading is None:
        return ""
    if reading.classes:
        return reading.classes[0]
    return "~" + reading.skeleton


_skeleton = lru_cache(maxsize=500_000)(name_skeleton)


def _norm_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return "".join(ch for ch in text if ch.isalnum())


@lru_cache(maxsize=300_000)
def _surname_keys(text: str) -> tuple[str, frozenset[str], tuple[tuple[str, str], ...], bool]:
    """(primary skeleton, all keys, (alternative key, how) pairs, can be feminine)."""
    variants = skeleton_variants(text)
    primary = variants[0]
    how: dict[str, str] = {}
    for variant in variants[1:]:
        how.setdefault(variant, "reading")
    feminine = False
    words = text.split()
    if len(words) == 1:
        for nominative in morphology.surname_nominatives(words[0]):
            key = _skeleton(nominative.form)
            if not key or key == primary:
                continue
            if nominative.how == "feminine":
                feminine = True
            previous = how.get(key)
            # one key, several readings (genitive and feminine): keep them all, "+"-joined
            if previous is None:
                how[key] = nominative.how
            elif nominative.how not in previous.split("+"):
                how[key] = previous + "+" + nominative.how
    keys = frozenset([primary, *how]) if primary else frozenset()
    return primary, keys, tuple(how.items()), feminine


_PATRONYMIC_ENDING = re.compile(r"(вич|ич|іч|vich|vych|ych|ich|vitch|witsch)(а|a|у|u)?$", re.I)


def _looks_like_patronymic(word: str) -> bool:
    if not _PATRONYMIC_ENDING.search(word):
        return False
    reading = read_patronymic(word)
    return reading is not None and bool(reading.classes)


def _split_names(surname: str, given: str, patronymic: str) -> tuple[str, str, str]:
    """Fill the name parts when a field holds more than one (a full name in one field)."""
    if surname and not given and not patronymic and len(surname.split()) >= 2:
        words = surname.split()
        rest = list(words)
        if len(rest) >= 3 and _looks_like_patronymic(rest[-1]):
            patronymic = rest.pop()
        # "Surname Given" (Russian order) or "Given Surname": take the word read as a name
        first, last = rest[0], rest[-1]
        first_reading, last_reading = read_given_name(first), read_given_name(last)
        first_named = bool(first_reading and first_reading.level in _CONFIDENT)
        last_named = bool(last_reading and last_reading.level in _CONFIDENT)
        if first_named and not last_named:
            given, surname = first, " ".join(rest[1:])
        else:
            given, surname = last, " ".join(rest[:-1])
        return surname, given, patronymic
    if given and not patronymic and len(given.split()) >= 2:
        words = given.split()
        if _looks_like_patronymic(words[-1]):
            patronymic = words[-1]
            given = " ".join(words[:-1])
    if given and len(given.split()) >= 2:
        given = given.split()[0]
    return surname, given, patronymic


_CONFIDENT = frozenset({"name", "diminutive", "genitive", "oblique"})

_PLACE_STOP = frozenset(
    _skeleton(word)
    for word in (
        "обл область области регион район района р-н рн г гор город місто міста с село села "
        "сел пгт смт пос поселок посёлок деревня д х хутор станица ст край республика респ "
        "под около возле близ у в на біля під поблизу направление направлении напрямок "
        "oblast obl region district raion rayon city town village settlement near by the of "
        "in at direction area"
    ).split()
)


# Stems of the regions (oblasts) named with the places of the war: a shared region is weak
# evidence, a shared town or village strong.
_REGION_STEMS = tuple(
    _skeleton(word)
    for word in (
        "курск курськ kursk белгород бєлгород bilhorod брянск брянськ донецк донецьк donetsk "
        "луганск луганськ luhansk запорож запоріж zaporizh харьков харків kharkiv херсон "
        "kherson днепропетров дніпропетров dnipropetrov николаев миколаїв mykolai сумск сумськ "
        "sumy сумы суми крым крим crimea"
    ).split()
)


_REGION_WORDS = frozenset(_skeleton(w) for w in "область обл oblast region регион край".split())


_VOWELS = "aeiouy"
_REGION_ADJECTIVE = re.compile(r"(sk)?[aeiouy]+")


def _ending_stripped(key: str) -> str:
    """A place word without its final vowels (Коренево / Кореневе, Малая / Мала): the Russian
    and Ukrainian forms of a place differ most often in the ending alone."""
    stem = key.rstrip(_VOWELS)
    return stem if len(key) >= 5 and len(stem) >= 3 else key


@lru_cache(maxsize=1)
def _place_aliases() -> dict[str, str]:
    """Stem of each listed name → the stem of its line's first name (data/place_names.tsv)."""
    text = resources.files("pow_registry").joinpath("data/place_names.tsv").read_text("utf-8")
    aliases: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        names = [_ending_stripped(_skeleton(name)) for name in line.split("\t") if name.strip()]
        for name in names[1:]:
            if name and name != names[0]:
                aliases[name] = names[0]
    return aliases


def _place_stem(key: str) -> str:
    stem = _ending_stripped(key)
    return _place_aliases().get(stem, stem)


def place_consonants(token: str) -> str:
    """A place word's consonants: joins the Ukrainian і for о or е in a closed syllable
    (Снагость / Снагість, Погребки / Погрібки, Мартыновка / Мартинівка)."""
    return "".join(ch for ch in token if ch not in _VOWELS)


@lru_cache(maxsize=100_000)
def _place_tokens(text: str) -> tuple[str, ...]:
    """Skeletons of the words of a place; region names marked with a leading "@".

    A word is a region when it is a region's adjective (Курская, Донецька) or is followed by
    a word for region (Kursk oblast); Курск or Херсон alone are towns.
    """
    words = [key for word in re.split(r"[^\w'’ʼ]+", text) if (key := _skeleton(word))]
    tokens: list[str] = []
    for i, key in enumerate(words):
        if key in _PLACE_STOP or (len(key) < 4 and len(words) > 1):
            continue
        stem = next((stem for stem in _REGION_STEMS if key.startswith(stem)), None)
        followed = i + 1 < len(words) and words[i + 1] in _REGION_WORDS
        # a region's adjective (Курская, Миколаївська), not a village named after it (Николаевка)
        adjective = stem is not None and len(key) >= len(stem) + 2 and _REGION_ADJECTIVE.fullmatch(key[len(stem) :])
        token = "@" + stem if stem and (followed or adjective) else _place_stem(key)
        if token not in tokens:
            tokens.append(token)
    return tuple(tokens)


_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conscript", ("срочн", "призыв", "строков", "conscri", "draft")),
    ("mobilised", ("мобилиз", "мобіліз", "mobili")),
    ("contract", ("контракт", "contract")),
    ("volunteer", ("добров", "volunt", "барс", "bars")),
    ("pmc", ("чвк", "пвк", "вагнер", "pmc", "wagner", "private military")),
    ("other", ("other", "другое", "інше", "иное")),
)


@lru_cache(maxsize=1_000)
def normalise_service_category(text: str | None) -> str | None:
    """conscript, contract, mobilised, volunteer, pmc or other, from words in any language."""
    if not text or not text.strip():
        return None
    lowered = unicodedata.normalize("NFKC", text).casefold()
    for category, words in _CATEGORY_WORDS:
        if any(word in lowered for word in words):
            return category
    return _norm_text(lowered) or None


def _partial(text: str | None) -> PartialDate | None:
    if not text or not text.strip():
        return None
    try:
        return PartialDate.parse(text)
    except InvalidDate:
        return None


def _interval(value: PartialDate | None) -> tuple[int, int] | None:
    if value is None:
        return None
    return value.earliest().toordinal(), value.latest().toordinal()


def prepare(record: MatchRecord) -> PreparedRecord:
    """Compute a record's keys once: normalised names, readings, dates, unit, place, blocks."""
    surname, given_text, patronymic_text = _split_names(
        clean_name(record.surname or ""),
        clean_name(record.given_name or ""),
        clean_name(record.patronymic or ""),
    )
    primary, sur_keys, sur_how, feminine = (
        _surname_keys(surname) if surname else ("", frozenset(), (), False)
    )
    given = read_given_name(given_text) if given_text else None
    patronymic = read_patronymic(patronymic_text) if patronymic_text else None
    case_form = bool(
        (given is not None and given.level in ("genitive", "oblique"))
        or (patronymic is not None and patronymic.level in ("genitive", "oblique"))
    )
    swap = None
    if surname and given_text and len(surname.split()) == 1:
        # the surname field reads as a given name: a listed form, or any reading when the
        # given-name field does not read as one (серглй / акимов)
        as_given = listed_given_name(surname)
        if as_given is None and given is not None and not given.classes:
            as_given = read_given_name(surname)
        if as_given is not None and as_given.classes:
            g_primary, g_keys, g_how, _ = _surname_keys(given_text)
            if g_primary:
                swap = _Swap(
                    given_text,
                    g_primary,
                    _norm_text(given_text),
                    g_keys,
                    dict(g_how),
                    as_given,
                    _norm_text(surname),
                )
        elif primary:
            # Any other record may be swapped too (Steinert Jack / Jack Steinert): read lightly,
            # the given-name field by its spellings only, the surname field as an unlisted name.
            variants = skeleton_variants(given_text)
            if variants[0]:
                swap = _Swap(
                    given_text,
                    variants[0],
                    _norm_text(given_text),
                    frozenset(variants),
                    {variant: "reading" for variant in variants[1:]},
                    NameReading(surname, primary, (), "unknown"),
                    _norm_text(surname),
                    light=True,
                )
    dob = _partial(record.date_of_birth)
    unit = unit_number(record.unit)
    place_text = clean_name(record.place or "")
    prepared = PreparedRecord(
        record=record,
        key=(record.kind, record.record_id),
        surname=surname,
        sur_text=_norm_text(surname),
        sur=primary,
        sur_keys=sur_keys,
        sur_how=dict(sur_how),
        feminine=feminine,
        given=given,
        given_text=_norm_text(given_text),
        patronymic=patronymic,
        patronymic_text=_norm_text(patronymic_text),
        case_form=case_form,
        swap=swap,
        dob=dob,
        dob_text=str(dob) if dob is not None else "",
        unit=unit,
        place=(place_words := _place_tokens(place_text) if place_text else ()),
        place_consonants=tuple(place_consonants(word) for word in place_words),
        place_text=place_text,
        event=_interval(_partial(record.event_date)),
        category=normalise_service_category(record.service_category),
        call_sign=_skeleton(clean_name(record.call_sign or "").strip("«»\"'“”„ ")),
        call_sign_text=clean_name(record.call_sign or "").strip("«»\"'“”„ "),
    )
    year = dob.year if dob is not None else None
    dob_day = str(dob) if dob is not None and dob.day is not None else None
    prepared.index_keys, prepared.query_keys = blocking_keys(
        sur_keys, primary, given, patronymic, year, unit, dob_day, prepared.place, prepared.call_sign
    )
    if swap is not None:
        prepared.swap_index_keys, prepared.swap_query_keys = blocking_keys(
            swap.sur_keys,
            swap.sur,
            swap.given,
            patronymic,
            year,
            unit,
            light=swap.light,
        )
    return prepared
