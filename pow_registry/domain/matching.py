"""The matcher: which inquiries, persons and reports are about the same man, and why.

A pure library (no Flask, no database). It links inquiry ↔ person, person ↔ person (the same
man reported twice) and inquiry ↔ inquiry (two relatives asking about one son), in the shape
matching.md describes:

1. **Prepare** each record once (`prepare`): name skeletons per part, including de-inflected
   forms of a surname copied from a letter (Выдумкина → Выдумкин) and alternative Latin
   readings; the given name and the patronymic read as name classes across Russian,
   Ukrainian and Latin, diminutives included (given_names); the birth date as a PartialDate;
   the five-digit unit number; the place as skeleton tokens; the event date (capture for a
   person, last contact for an inquiry); the service category.
2. **Block** in several passes so one noisy field does not lose the pair: surname key +
   given-name class; surname key + full birth date; surname with one letter deleted + given-name
   class (typos); the first five letters of a long surname + given-name class; unit number +
   given-name class + the surname's first letter; given-name class + patronymic class + birth
   year; given-name class + full birth date; and, only when the given name cannot be relied on
   (missing, unknown, fuzzy, an ambiguous diminutive), surname key (or one letter deleted) +
   birth year ±1. Each pass also runs with surname and given name swapped. Blocks larger than
   `block_cap` are skipped. The cost grows with the number of plausible pairs (about 14
   candidates per inquiry against 50,000 persons), not with the product of the table sizes.
3. **Score** each candidate pair field by field with Fellegi–Sunter weights, log2(m/u) bits,
   where m is how often a true match lands on that level and u how often a non-match does.
   Agreement on a surname, given name, patronymic or unit is adjusted by how common the value
   is in the indexed records (term frequency: agreeing on Иванов is weak evidence, on
   Выдумкин strong). Disagreeing birth dates and units weigh strongly against: namesakes must
   not outrank the true man. The weights and a prior make a probability in [0, 1]; the
   per-field weights are kept as the explanation (`Match.fields`, `Match.explain()`).

`MatchIndex` holds prepared records and can be changed one record at a time (add, update,
remove) and queried for one record's candidates; `link` and `dedupe` are the batch forms and
give exactly the pairs querying one by one gives (they are built on the same query), spread
over processes for large inputs.

The morphology level (pymorphy3 or suffix rules only) is optional; `morphology.backend()` says
which one runs, and each explanation that relied on it says so.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz.distance import OSA, JaroWinkler

from pow_registry.domain import morphology
from pow_registry.domain.dates import InvalidDate, PartialDate
from pow_registry.domain.given_names import (
    NameReading,
    listed_given_name,
    read_given_name,
    read_patronymic,
)
from pow_registry.domain.names import clean_name, name_skeleton, skeleton_variants
from pow_registry.domain.units import unit_number

__all__ = [
    "DEFAULT_BLOCK_CAP",
    "DEFAULT_THRESHOLD",
    "PRIOR_LOG2_ODDS",
    "FieldEvidence",
    "Match",
    "MatchIndex",
    "MatchRecord",
    "PreparedRecord",
    "compare",
    "dedupe",
    "link",
    "normalise_service_category",
    "prepare",
]

Kind = Literal["person", "inquiry"]

#: Probability at or above which a pair is proposed as a candidate for review. Chosen on
#: bench/matching.py at 50,000 persons × 150,000 inquiries (see bench/README.md): at 0.2
#: precision 0.92 and recall 0.976; 0.3 gives 0.94 / 0.970, 0.1 gives 0.87 / 0.983.
DEFAULT_THRESHOLD = 0.2
#: Prior log2 odds that a record and one indexed record picked at random are the same man,
#: for an index of up to 2^14 records; a larger index of n records uses -log2(n) (a man is in
#: it about once, so the more records, the less likely any one of them is he).
PRIOR_LOG2_ODDS = -14.0
#: A block (one blocking key) with more records than this is skipped as uninformative.
DEFAULT_BLOCK_CAP = 1000
#: Pseudo-count of the term-frequency estimate: small indexes lean on the default frequency.
_TF_PSEUDO = 1000.0


def _log2(m: float, u: float) -> float:
    return math.log2(m / u)


# --- records --------------------------------------------------------------------------------


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
    place_text: str
    event: tuple[int, int] | None
    category: str | None
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
        token = "@" + stem if stem and (followed or len(key) >= len(stem) + 2) else key
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


def _deletions(key: str) -> set[str]:
    return {key} | {key[:i] + key[i + 1 :] for i in range(len(key))}


def _given_tokens(reading: NameReading | None) -> tuple[str, ...]:
    if reading is None:
        return ()
    if reading.classes:
        return reading.classes
    return ("~" + reading.skeleton,)


def _keys(
    sur_keys: frozenset[str],
    primary: str,
    given: NameReading | None,
    patronymic: NameReading | None,
    year: int | None,
    unit: str | None,
    dob_day: str | None = None,
    *,
    light: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(keys to index the record under, keys to look up for it); `light`: the surname + year and
    surname + given-name passes only."""
    index: set[str] = set()
    query: set[str] = set()
    given_tokens = _given_tokens(given)
    # Surname + birth year (±1) alone brings in every namesake's brother: looked up only when
    # the given name cannot be relied on; otherwise surname + full birth date.
    unsure = given is None or given.level in ("unknown", "fuzzy", "ambiguous diminutive")
    both: set[str] = set()
    for key in sur_keys:
        if year is not None:
            index.add(f"s|{key}|{year}")
            if unsure:
                query.update(f"s|{key}|{y}" for y in (year - 1, year, year + 1))
        if dob_day is not None:
            both.add(f"S|{key}|{dob_day}")
        for token in given_tokens:
            both.add(f"g|{key}|{token}")
    if light:
        index |= both
        query |= both
        return tuple(sorted(index)), tuple(sorted(query))
    for key in sur_keys:
        # one letter deleted, with the given name: two spellings one edit apart share a key
        # (the key itself counts, so that a short name meets the longer one it lost a letter of)
        deleted = _deletions(key) if len(key) >= 4 else {key}
        for token in given_tokens[:1]:
            both.update(f"e|{d}|{token}" for d in deleted)
        if year is not None:  # with the birth year instead: when the given name is unsure
            index.update(f"d|{d}|{year}" for d in deleted)
            if unsure:
                query.update(f"d|{d}|{year}" for d in deleted)
    if len(primary) >= 7:  # a long surname: its first five letters and the given name
        both.update(f"x|{primary[:5]}|{token}" for token in given_tokens)
    if unit is not None:  # the unit, the given name and the surname's first letter
        both.update(f"u|{unit}|{token}|{primary[:1]}" for token in given_tokens)
    if year is not None and patronymic is not None and patronymic.classes:
        for token in given_tokens:
            both.update(f"p|{token}|{p}|{year}" for p in patronymic.classes)
    if dob_day is not None:  # the surname quite different, the given name and the day the same
        both.update(f"b|{token}|{dob_day}" for token in given_tokens)
    if year is not None:
        # A record without a surname looks among all of that given name and birth year, and is
        # found by them; records with surnames do not look among each other this way.
        for token in given_tokens:
            if primary:
                index.add(f"n|{token}|{year}")
                query.add(f"N|{token}|{year}")
            else:
                index.add(f"N|{token}|{year}")
                query.add(f"n|{token}|{year}")
    index |= both
    query |= both
    return tuple(sorted(index)), tuple(sorted(query))


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
        place=_place_tokens(place_text) if place_text else (),
        place_text=place_text,
        event=_interval(_partial(record.event_date)),
        category=normalise_service_category(record.service_category),
    )
    year = dob.year if dob is not None else None
    dob_day = str(dob) if dob is not None and dob.day is not None else None
    prepared.index_keys, prepared.query_keys = _keys(
        sur_keys, primary, given, patronymic, year, unit, dob_day
    )
    if swap is not None:
        prepared.swap_index_keys, prepared.swap_query_keys = _keys(
            swap.sur_keys,
            swap.sur,
            swap.given,
            patronymic,
            year,
            unit,
            light=swap.light,
        )
    return prepared


# --- evidence -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    """One field's contribution: its level, its weight in bits (log2 m/u) and why."""

    field: str
    level: str
    weight: float
    detail: str  # the English sentence (the CLI and tests read it); `says` is the same, translatable
    says: tuple[Say, ...] = ()


def N_(message: str) -> str:
    """Marks an explanation message for the translation catalogue (the web layer translates it;
    this library knows nothing of languages)."""
    return message


@dataclass(frozen=True, slots=True)
class Ref:
    """A value of an explanation that is a code, not data: a given-name class (``class``), a
    spelling key (``key``), a service category (``category``) or how a name was read
    (``reading``). The web layer shows it in the reader's language."""

    kind: str
    code: str

    def __str__(self) -> str:
        return self.code if self.kind in ("category", "reading") else repr(self.code)


@dataclass(frozen=True, slots=True)
class Say:
    """One sentence of an explanation: an English message with %(name)s placeholders and its
    values (data as typed, numbers, codes as Ref, or another Say). str() is the English text."""

    text: str
    values: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        return self.text % {name: str(value) for name, value in self.values} if self.values else self.text

    def as_json(self) -> list[Any]:
        def value(v: Any) -> Any:
            if isinstance(v, Say):
                return {"say": v.as_json()}
            if isinstance(v, Ref):
                return {"ref": [v.kind, v.code]}
            return v

        return [self.text, {name: value(v) for name, v in self.values}]


def _say(text: str, **values: Any) -> Say:
    return Say(text, tuple(values.items()))


_NOT_GIVEN = _say(N_("not given on both sides"))


@dataclass(frozen=True, slots=True)
class Match:
    """A candidate pair with its probability and the evidence field by field.

    ``weight``: the match weight in bits (the prior plus the field weights);
    ``probability`` = 1 / (1 + 2^-weight). ``notes``: what a reviewer must know beyond the
    fields (a man matched to a woman's surname form, swapped name order, the morphology level).
    """

    left_id: str
    left_kind: str
    right_id: str
    right_kind: str
    probability: float
    weight: float
    fields: tuple[FieldEvidence, ...]
    notes: tuple[str, ...] = ()
    prior: float = PRIOR_LOG2_ODDS
    note_says: tuple[Say, ...] = ()

    @property
    def pair(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return (self.left_kind, self.left_id), (self.right_kind, self.right_id)

    def explain(self) -> str:
        """A plain-text waterfall: one line per field, then the notes."""
        lines = [
            f"{self.left_kind} {self.left_id} ↔ {self.right_kind} {self.right_id}: "
            f"probability {self.probability:.3f} (match weight {self.weight:+.1f} bits: "
            f"prior {self.prior:+.1f}, fields {self.weight - self.prior:+.1f})"
        ]
        for item in self.fields:
            lines.append(f"  {item.field:<17} {item.level:<28} {item.weight:+6.1f}  {item.detail}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _probability(weight: float) -> float:
    if weight >= 60:
        return 1.0
    if weight <= -60:
        return 0.0
    return 1.0 / (1.0 + 2.0 ** (-weight))


class _Stats:
    """Value counts over the indexed records, for the term-frequency adjustment."""

    __slots__ = ("given", "n", "patronymic", "surname", "unit")

    def __init__(self) -> None:
        self.n = 0
        self.surname: Counter[str] = Counter()
        self.given: Counter[str] = Counter()
        self.patronymic: Counter[str] = Counter()
        self.unit: Counter[str] = Counter()

    def _change(self, record: PreparedRecord, step: int) -> None:
        self.n += step
        for counter, value in (
            (self.surname, record.sur),
            (self.given, record.given_key),
            (self.patronymic, record.patronymic_key),
            (self.unit, record.unit),
        ):
            if value:
                counter[value] += step
                if counter[value] <= 0:
                    del counter[value]

    def add(self, record: PreparedRecord) -> None:
        self._change(record, 1)

    def remove(self, record: PreparedRecord) -> None:
        self._change(record, -1)

    def u(self, counter: Counter[str], value: str, default: float) -> float:
        """How often a random record has this value: smoothed towards `default`."""
        return (counter.get(value, 0) + _TF_PSEUDO * default) / (self.n + _TF_PSEUDO)

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "surname": dict(self.surname), "given": dict(self.given),
                "patronymic": dict(self.patronymic), "unit": dict(self.unit)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> _Stats:
        stats = cls()
        n = data.get("n", 0)
        stats.n = n if isinstance(n, int) else 0
        for name in ("surname", "given", "patronymic", "unit"):
            counts = data.get(name) or {}
            if not isinstance(counts, dict):
                raise ValueError(f"statistics: {name} must be a mapping of value to count")
            setattr(stats, name, Counter({str(k): int(v) for k, v in counts.items()}))
        return stats


_NO_STATS = _Stats()

# Default frequencies (before the index has data): a surname, a given-name class, a father's
# name class, a unit number shared by two random men.
_U_SURNAME = 0.0005
_U_GIVEN = 0.02
_U_PATRONYMIC = 0.03
_U_UNIT = 0.002

# m-probabilities (relative) of the agreeing levels; the weight is log2(m / u_tf).
_M_SURNAME = {
    "exact": 0.9,
    "transliteration": 0.9,
    "genitive": 0.6,
    "case form": 0.4,
    "feminine form": 0.3,
}
_M_GIVEN = {
    "exact": 0.95,
    "transliteration": 0.93,
    "ru-uk equivalent": 0.9,
    "English equivalent": 0.85,
    "equivalent form": 0.9,
    "genitive": 0.85,
    "case form": 0.8,
    "diminutive": 0.8,
    "fuzzy": 0.6,
    "ambiguous diminutive": 0.45,
}
_MAX_NAME_WEIGHT = 16.0
_MAX_UNIT_WEIGHT = 10.0

# A surname one edit away (or close by Jaro-Winkler): m relative to the exact level, and u the
# surname's own frequency plus that of the other surnames near any surname.
_M_SURNAME_TYPO = 0.1
_M_SURNAME_FUZZY = 0.05
_U_SURNAME_NEIGHBOURS = 0.0003
W_SURNAME_FLOOR = 1.0
W_SURNAME_WEAK = _log2(0.02, 0.03)
W_SURNAME_DISAGREE = _log2(0.01, 0.95)
W_GIVEN_DISAGREE = _log2(0.03, 0.95)
W_GIVEN_DISAGREE_WEAK = _log2(0.1, 0.9)  # one side only a diminutive or a fuzzy reading
W_GIVEN_FUZZY = _log2(0.05, 0.02)
W_PATRONYMIC_DISAGREE = _log2(0.04, 0.95)
W_PATRONYMIC_FUZZY = _log2(0.05, 0.02)

_DAYS = 365 * 35  # birth dates spread over about 35 years
W_DOB_EXACT = _log2(0.6, 1 / _DAYS)
W_DOB_MONTH = _log2(0.07, 1 / 420)
W_DOB_YEAR_ONLY = _log2(0.25, 1 / 35)
W_DOB_SWAPPED = _log2(0.015, 1 / _DAYS)
W_DOB_TYPO = _log2(0.02, 10 / _DAYS)
W_DOB_SAME_MONTH = _log2(0.01, 1 / 420)
W_DOB_SAME_YEAR = _log2(0.02, 1 / 35)
W_DOB_YEAR_OFF = _log2(0.05, 2 / 35)
W_DOB_YEAR_OFF_FULL = _log2(0.01, 2 / _DAYS) - 1.0
W_DOB_DISAGREE = _log2(0.01, 0.9)

W_UNIT_TYPO = _log2(0.03, 0.01)
W_UNIT_DISAGREE = _log2(0.1, 0.97)
W_PLACE_AGREE = _log2(0.4, 0.04)
W_PLACE_FUZZY = _log2(0.15, 0.05)
W_PLACE_REGION = _log2(0.3, 0.2)
W_PLACE_DISAGREE = _log2(0.45, 0.91)
W_EVENT_CONSISTENT = _log2(0.75, 0.08)
W_EVENT_IMPRECISE = _log2(0.9, 0.6)
W_EVENT_MONTHS_AFTER = _log2(0.12, 0.15)
W_EVENT_LONG_AFTER = _log2(0.05, 0.35)
W_EVENT_CONTACT_AFTER = _log2(0.05, 0.4)
W_EVENT_SAME = _log2(0.6, 0.05)
W_EVENT_NEAR = _log2(0.2, 0.15)
W_EVENT_DISAGREE = _log2(0.2, 0.8)
W_CATEGORY_DISAGREE = _log2(0.12, 0.7)
_CATEGORY_SHARE = {
    "conscript": 0.1,
    "contract": 0.35,
    "mobilised": 0.4,
    "volunteer": 0.08,
    "pmc": 0.05,
    "other": 0.02,
}

_Evidence = tuple[str, float, tuple[Say, ...]]  # level, weight, detail (() on the fast path)


def _q(text: str) -> str:
    return f"«{text}»"


def _share(count: int, n: int) -> tuple[Say, ...]:
    if n <= 0:
        return ()
    return (_say(N_("; %(count)s of %(n)s indexed records share it"), count=count, n=n),)


def _surname(
    a: PreparedRecord,
    b: PreparedRecord,
    stats: _Stats,
    detail: bool,
    a_sur: tuple[str, frozenset[str], dict[str, str], str, str] | None = None,
) -> tuple[str, float, tuple[Say, ...], Say | None]:
    """(level, weight, detail, note): the note flags a woman's surname form."""
    a_primary, a_keys, a_how, a_text, a_norm = a_sur or (
        a.sur, a.sur_keys, a.sur_how, a.surname, a.sur_text
    )  # fmt: skip
    if not a_primary or not b.sur:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else (), None
    if a_primary == b.sur:
        exact = a_norm == b.sur_text
        level = "exact" if exact else "transliteration"
        u = stats.u(stats.surname, b.sur, _U_SURNAME)
        weight = min(_log2(_M_SURNAME[level], u), _MAX_NAME_WEIGHT)
        text: tuple[Say, ...] = ()
        if detail:
            said = (_say(N_("%(a)s / %(b)s: same spelling"), a=_q(a_text), b=_q(b.surname)) if exact else
                    _say(N_("%(a)s / %(b)s: same spelling key %(key)s"), a=_q(a_text), b=_q(b.surname),
                         key=Ref("key", b.sur)))
            text = (said, *_share(stats.surname.get(b.sur, 0), stats.n))
        return level, weight, text, None
    shared = a_keys & b.sur_keys
    if shared:
        best: tuple[float, str, str, str] | None = None
        for key in shared:
            hows = {a_how.get(key, "as written"), b.sur_how.get(key, "as written")}
            level = _surname_case_level(hows, a, b)
            u = stats.u(stats.surname, key, _U_SURNAME)
            m = _M_SURNAME[level] if level in _M_SURNAME else _M_SURNAME["transliteration"]
            weight = min(_log2(m, u), _MAX_NAME_WEIGHT)
            if best is None or weight > best[0]:
                best = (weight, level, key, "+".join(sorted(hows - {"as written"})))
        assert best is not None
        weight, level, key, how = best
        note = None
        text = ()
        if level == "feminine form":
            woman = a_text if "feminine" in a_how.get(key, "") else b.surname
            note = _say(N_("surname %(woman)s is a woman's form of %(key)s: a man's record is matched to a "
                           "feminine surname form"), woman=_q(woman), key=Ref("key", key))
        if detail:
            text = (_say(N_("%(a)s / %(b)s: both read as %(key)s (%(how)s; morphology: %(backend)s)"),
                         a=_q(a_text), b=_q(b.surname), key=Ref("key", key), how=Ref("reading", how),
                         backend=morphology.backend()),
                    *_share(stats.surname.get(key, 0), stats.n))
        return level, weight, text, note
    similarity = 0.0
    for x in a_keys:
        for y in b.sur_keys:
            s = JaroWinkler.normalized_similarity(x, y)
            if s > similarity:
                similarity = s
    edits = OSA.distance(a_primary, b.sur, score_cutoff=2)
    u_tf = stats.u(stats.surname, b.sur, _U_SURNAME)
    if edits <= 1 and min(len(a_primary), len(b.sur)) >= 4:
        # as strong as the surname is rare, less the chance that it is another family's name
        weight = max(_log2(_M_SURNAME_TYPO, u_tf + _U_SURNAME_NEIGHBOURS), W_SURNAME_FLOOR)
        level = "typo (1 edit)"
    elif similarity >= 0.92:
        weight = max(_log2(_M_SURNAME_FUZZY, u_tf + 4 * _U_SURNAME_NEIGHBOURS), W_SURNAME_FLOOR)
        level = f"fuzzy (Jaro-Winkler {similarity:.2f})"
    elif similarity >= 0.85:
        level, weight = f"fuzzy (Jaro-Winkler {similarity:.2f})", W_SURNAME_WEAK
    else:
        level, weight = "disagree", W_SURNAME_DISAGREE
    text = (_say(N_("%(a)s / %(b)s: keys %(x)s / %(y)s"), a=_q(a_text), b=_q(b.surname), x=Ref("key", a_primary),
                 y=Ref("key", b.sur)),) if detail else ()
    return level, weight, text, None


def _surname_case_level(hows: set[str], a: PreparedRecord, b: PreparedRecord) -> str:
    readings = set()
    for how in hows:
        readings.update(how.split("+"))
    readings.discard("as written")
    if not readings or readings == {"reading"}:
        return "transliteration"
    case_context = a.case_form or b.case_form
    if "genitive" in readings and (case_context or "feminine" not in readings):
        return "genitive"
    if "feminine" in readings or "feminine oblique" in readings:
        if case_context and "feminine oblique" not in readings:
            return "genitive"
        return "feminine form"
    return "case form"


_NAME_RANK = {
    "name": 0,
    "genitive": 1,
    "oblique": 1,
    "diminutive": 2,
    "fuzzy": 3,
    "ambiguous diminutive": 4,
}


def _given_level(x: NameReading, y: NameReading, x_text: str, y_text: str) -> str:
    worst = x if _NAME_RANK.get(x.level, 5) >= _NAME_RANK.get(y.level, 5) else y
    if worst.level != "name":
        if worst.level == "oblique":
            return "case form"
        return worst.level
    if x_text == y_text:
        return "exact"
    if x.skeleton == y.skeleton:
        return "transliteration"
    xl, yl = x.languages, y.languages
    if xl != yl and (("ru" in xl and "uk" in yl) or ("uk" in xl and "ru" in yl)):
        return "ru-uk equivalent"
    if xl == {"latin"} or yl == {"latin"}:
        return "English equivalent"
    return "equivalent form"


def _name_part(
    x: NameReading | None,
    y: NameReading | None,
    x_text: str,
    y_text: str,
    counter: Counter[str],
    default_u: float,
    stats: _Stats,
    disagree: float,
    fuzzy: float,
    detail: bool,
) -> _Evidence:
    if x is None or y is None:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    common = [c for c in x.classes if c in y.classes]
    if common:
        cls = common[0]
        level = _given_level(x, y, x_text, y_text)
        u = stats.u(counter, cls, default_u)
        weight = min(_log2(_M_GIVEN[level], u), _MAX_NAME_WEIGHT)
        text: tuple[Say, ...] = ()
        if detail:
            forms = {r.form for r in (x, y) if r.form and r.level != "name"}
            both = (_say(N_("%(a)s / %(b)s: both %(name)s (via %(forms)s)"), a=_q(x.text), b=_q(y.text),
                         name=Ref("class", cls), forms=", ".join(sorted(forms))) if forms else
                    _say(N_("%(a)s / %(b)s: both %(name)s"), a=_q(x.text), b=_q(y.text), name=Ref("class", cls)))
            text = (both, *_share(counter.get(cls, 0), stats.n))
        return level, weight, text
    if not x.classes or not y.classes:
        # at least one name the table does not know: compare the spellings
        if x.skeleton == y.skeleton:
            token = "~" + x.skeleton
            level = "exact" if x_text == y_text else "transliteration"
            u = stats.u(counter, token, default_u)
            weight = min(_log2(_M_GIVEN[level], u), _MAX_NAME_WEIGHT)
            text = (_say(N_("%(a)s / %(b)s: same spelling key"), a=_q(x.text), b=_q(y.text)),) if detail else ()
            return level, weight, text
        similarity = JaroWinkler.normalized_similarity(x.skeleton, y.skeleton)
        if similarity >= 0.92:
            text = (_say("%(a)s / %(b)s", a=_q(x.text), b=_q(y.text)),) if detail else ()
            return f"fuzzy (Jaro-Winkler {similarity:.2f})", fuzzy, text
    weak = {x.level, y.level} & {"ambiguous diminutive", "fuzzy", "diminutive"}
    text = ()
    if detail:
        text = (_say("%(a)s / %(b)s: %(x)s ≠ %(y)s", a=_q(x.text), b=_q(y.text), x=_classes(x), y=_classes(y)),)
    return "disagree", (W_GIVEN_DISAGREE_WEAK if weak else disagree), text


def _classes(reading: NameReading) -> Any:
    """The name classes a reading may be (in the reader's language), or its spelling key."""
    if len(reading.classes) == 1:
        return Ref("class", reading.classes[0])
    if not reading.classes:
        return reading.skeleton
    return "/".join(reading.classes)


def _given(
    a: PreparedRecord,
    b: PreparedRecord,
    stats: _Stats,
    detail: bool,
    a_given: tuple[NameReading, str] | None = None,
) -> _Evidence:
    x, x_text = (a.given, a.given_text) if a_given is None else a_given
    return _name_part(
        x, b.given, x_text, b.given_text, stats.given, _U_GIVEN, stats,
        W_GIVEN_DISAGREE, W_GIVEN_FUZZY, detail,
    )  # fmt: skip


def _patronymic(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    return _name_part(
        a.patronymic, b.patronymic, a.patronymic_text, b.patronymic_text, stats.patronymic,
        _U_PATRONYMIC, stats, W_PATRONYMIC_DISAGREE, W_PATRONYMIC_FUZZY, detail,
    )  # fmt: skip


def _dob(a: PreparedRecord, b: PreparedRecord, detail: bool) -> _Evidence:
    x, y = a.dob, b.dob
    if x is None or y is None:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    text = (_say("%(a)s / %(b)s", a=a.dob_text, b=b.dob_text),) if detail else ()
    if x.year == y.year:
        if x.month is None or y.month is None:
            return "year only", W_DOB_YEAR_ONLY, text
        if x.month == y.month:
            if x.day is None or y.day is None:
                return "year and month", W_DOB_MONTH, text
            if x.day == y.day:
                return "exact", W_DOB_EXACT, text
            if OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
                return "typo (one digit)", W_DOB_TYPO, text
            return "same month, other day", W_DOB_SAME_MONTH, text
        if x.day is not None and y.day is not None:
            if x.day == y.month and y.day == x.month:
                return "day-month swapped", W_DOB_SWAPPED, text
            if OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
                return "typo (one digit)", W_DOB_TYPO, text
        return "same year, other month", W_DOB_SAME_YEAR, text
    full = x.day is not None and y.day is not None
    same_day = full and x.month == y.month and x.day == y.day
    if abs(x.year - y.year) == 1:
        if same_day:
            return "year off by one", W_DOB_YEAR_OFF_FULL, text
        if not full:
            return "year off by one", W_DOB_YEAR_OFF, text
    if full and OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
        return "typo (one digit)", W_DOB_TYPO, text  # 1964 / 1946: two digits transposed
    return "disagree", W_DOB_DISAGREE, text


def _unit(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    x, y = a.unit, b.unit
    if x is None or y is None:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    if x == y:
        u = stats.u(stats.unit, x, _U_UNIT)
        text = (_say(N_("unit %(unit)s"), unit=x), *_share(stats.unit.get(x, 0), stats.n)) if detail else ()
        return "exact", min(_log2(0.7, u), _MAX_UNIT_WEIGHT), text
    text = (_say(N_("unit %(a)s / %(b)s"), a=x, b=y),) if detail else ()
    if OSA.distance(x, y, score_cutoff=2) <= 1:
        return "typo (one digit)", W_UNIT_TYPO, text
    return "disagree", W_UNIT_DISAGREE, text


def _place(a: PreparedRecord, b: PreparedRecord, detail: bool) -> _Evidence:
    if not a.place or not b.place:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    text = (_say("%(a)s / %(b)s", a=_q(a.place_text), b=_q(b.place_text)),) if detail else ()
    best, region = 0.0, ""
    for x in a.place:
        for y in b.place:
            if (x[0] == "@") != (y[0] == "@"):
                continue
            if x == y and x[0] != "@":
                return "agree", W_PLACE_AGREE, text + ((_say(N_(": both %(key)s"), key=Ref("key", x)),) if detail else ())
            s = JaroWinkler.normalized_similarity(x, y)
            if x[0] == "@":
                if s >= 0.85:
                    region = x[1:]
            elif s > best:
                best = s
    if best >= 0.88:
        return f"fuzzy (Jaro-Winkler {best:.2f})", W_PLACE_FUZZY, text
    if region:
        return "same region", W_PLACE_REGION, text + ((_say(": %(key)s", key=Ref("key", region)),) if detail else ())
    return "disagree", W_PLACE_DISAGREE, text


def _event(a: PreparedRecord, b: PreparedRecord, detail: bool) -> _Evidence:
    x, y = a.event, b.event
    if x is None or y is None:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    text: tuple[Say, ...] = ()
    if detail:
        text = (_say("%(a)s / %(b)s", a=_event_name(a), b=_event_name(b)),)
    kinds = (a.record.kind, b.record.kind)
    if kinds[0] != kinds[1]:
        capture, contact = (x, y) if kinds[0] == "person" else (y, x)
        earliest = capture[0] - contact[1]  # days from last contact to capture, at least
        latest = capture[1] - contact[0]  # and at most
        if max(capture[1] - capture[0], contact[1] - contact[0]) > 62:
            return (
                "imprecise dates",
                W_EVENT_IMPRECISE if latest >= -2 else W_EVENT_CONTACT_AFTER,
                text,
            )
        if latest < -2:
            return "contact after capture", W_EVENT_CONTACT_AFTER, text
        if earliest <= 45:
            return "captured soon after last contact", W_EVENT_CONSISTENT, text
        if earliest <= 180:
            return "captured months after last contact", W_EVENT_MONTHS_AFTER, text
        return "captured long after last contact", W_EVENT_LONG_AFTER, text
    gap = max(0, max(x[0], y[0]) - min(x[1], y[1]))
    if kinds[0] == "person":
        if gap <= 3:
            return "same capture date", W_EVENT_SAME, text
        if gap <= 30:
            return "capture dates within a month", W_EVENT_NEAR, text
        return "disagree", W_EVENT_DISAGREE, text
    if gap <= 7:
        return "same last contact", W_EVENT_SAME - 1.0, text
    if gap <= 60:
        return "last contacts within two months", 0.0, text
    return "disagree", W_EVENT_DISAGREE, text


def _event_name(record: PreparedRecord) -> Say:
    if record.record.kind == "person":
        return _say(N_("person captured %(date)s"), date=record.record.event_date)
    return _say(N_("inquiry last contact %(date)s"), date=record.record.event_date)


def _category(a: PreparedRecord, b: PreparedRecord, detail: bool) -> _Evidence:
    x, y = a.category, b.category
    if x is None or y is None:
        return "missing", 0.0, (_NOT_GIVEN,) if detail else ()
    text = (_say("%(a)s / %(b)s", a=Ref("category", x), b=Ref("category", y)),) if detail else ()
    if x == y:
        return "exact", _log2(0.85, _CATEGORY_SHARE.get(x, 0.05)), text
    return "disagree", W_CATEGORY_DISAGREE, text


def _names(
    a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool
) -> tuple[tuple[str, float, tuple[Say, ...], Say | None], _Evidence, bool]:
    """Surname and given-name evidence, trying the swapped order when either side allows it."""
    surname = _surname(a, b, stats, detail)
    given = _given(a, b, stats, detail)
    best = (surname, given, False)
    if surname[1] > 0 or (a.swap is None and b.swap is None):
        return best  # the surnames agree as written: no reason to read them swapped
    # A record whose surname field holds a given name is the one to read swapped; only when
    # neither does (names the table does not know) is either read so, and only if the given
    # names disagree too.
    light = (a.swap is None or a.swap.light) and (b.swap is None or b.swap.light)
    if light and given[1] > 0:
        return best
    score = surname[1] + given[1]
    for first, second in ((a, b), (b, a)):
        swap = first.swap
        if swap is None or (swap.light and not light):
            continue
        s_sur = _surname(
            first, second, stats, detail,
            a_sur=(swap.sur, swap.sur_keys, swap.sur_how, swap.surname, swap.sur_text),
        )  # fmt: skip
        s_giv = _given(first, second, stats, detail, a_given=(swap.given, swap.given_text))
        if s_sur[1] + s_giv[1] > score + 1e-9:
            score = s_sur[1] + s_giv[1]
            best = (s_sur, s_giv, True)
    return best


def _weight(a: PreparedRecord, b: PreparedRecord, stats: _Stats) -> float:
    """The total field weight of a pair (no prior), without building explanations."""
    surname, given, _ = _names(a, b, stats, False)
    return (
        surname[1]
        + given[1]
        + _patronymic(a, b, stats, False)[1]
        + _dob(a, b, False)[1]
        + _unit(a, b, stats, False)[1]
        + _place(a, b, False)[1]
        + _event(a, b, False)[1]
        + _category(a, b, False)[1]
    )


def _explain(a: PreparedRecord, b: PreparedRecord, stats: _Stats, prior: float) -> Match:
    surname, given, swapped = _names(a, b, stats, True)
    evidence: list[tuple[str, _Evidence]] = [
        ("surname", surname[:3]),
        ("given name", given),
        ("patronymic", _patronymic(a, b, stats, True)),
        ("date of birth", _dob(a, b, True)),
        ("unit", _unit(a, b, stats, True)),
        ("place", _place(a, b, True)),
        ("capture / contact", _event(a, b, True)),
        ("service category", _category(a, b, True)),
    ]
    total = prior + sum(item[1] for _, item in evidence)
    notes: list[Say] = []
    if surname[3]:
        notes.append(surname[3])
    if swapped:
        notes.append(_say(N_("surname and given name are swapped on one side")))
    if surname[0] in ("genitive", "case form") and not morphology.available():
        notes.append(_say(N_("case forms read by suffix rules only: pymorphy3 is not installed")))
    return Match(
        left_id=a.record.record_id,
        left_kind=a.record.kind,
        right_id=b.record.record_id,
        right_kind=b.record.kind,
        probability=round(_probability(total), 6),
        weight=round(total, 3),
        fields=tuple(
            FieldEvidence(name, item[0], round(item[1], 2), "".join(str(say) for say in item[2]), item[2])
            for name, item in evidence
        ),
        notes=tuple(str(note) for note in notes),
        note_says=tuple(notes),
        prior=round(prior, 3),
    )


def compare(
    a: MatchRecord | PreparedRecord,
    b: MatchRecord | PreparedRecord,
    *,
    index: MatchIndex | None = None,
) -> Match:
    """Score one pair, with the explanation. Term frequencies come from `index` if given."""
    pa = a if isinstance(a, PreparedRecord) else prepare(a)
    pb = b if isinstance(b, PreparedRecord) else prepare(b)
    if index is not None:
        return _explain(pa, pb, index._stats, index.prior)
    return _explain(pa, pb, _NO_STATS, PRIOR_LOG2_ODDS)


# --- the index ------------------------------------------------------------------------------


def _threshold_weight(threshold: float, prior: float) -> float:
    if not 0.0 < threshold < 1.0:
        raise ValueError("the threshold is a probability strictly between 0 and 1")
    return math.log2(threshold / (1.0 - threshold)) - prior


class MatchIndex:
    """Prepared records, blocked, ready to be queried one record at a time.

    Records are identified by (kind, record_id); adding one that is already there replaces it.
    Term frequencies follow the indexed records, so a pair's score depends on what the index
    holds, never on the order records were added in; or they are frozen (`statistics=`, with a
    fixed `prior`), and then a pair's score depends on the pair alone.

    Blocking is not symmetric (a record with an unsure given name looks among its surname's
    birth years; a sure one does not), so "whom does X find" and "who finds X" differ. With
    ``mutual=True`` the index also remembers every record's lookup keys and
    ``query(record, mutual=True)`` returns both: what a record added last would have found
    plus what every other record would find of it. That is what keeps matching one record at a
    time, as records arrive, equal to matching everything at once (`dedupe`).
    """

    def __init__(
        self,
        records: Iterable[MatchRecord | PreparedRecord] = (),
        *,
        threshold: float = DEFAULT_THRESHOLD,
        prior: float | None = None,
        block_cap: int = DEFAULT_BLOCK_CAP,
        mutual: bool = False,
        statistics: dict[str, object] | None = None,
    ) -> None:
        self.threshold = threshold
        self._fixed_prior = prior
        self.block_cap = block_cap
        self.mutual = mutual
        _threshold_weight(threshold, PRIOR_LOG2_ODDS)
        self._slots: list[PreparedRecord | None] = []
        self._free: list[int] = []
        self._by_key: dict[tuple[str, str], int] = {}
        self._normal: dict[str, list[int]] = {}
        self._swapped: dict[str, list[int]] = {}
        # Only with mutual: lookup key → the records that look it up (plainly / swapped).
        self._looks: dict[str, list[int]] = {}
        self._swap_looks: dict[str, list[int]] = {}
        # Frozen statistics (from `statistics()` of an earlier index) make a pair's score depend
        # on the pair alone, not on which records happen to be indexed yet: then matching
        # records one by one as they arrive gives exactly what matching them all at once gives.
        self._frozen = statistics is not None
        self._stats = _Stats.from_dict(statistics) if statistics is not None else _Stats()
        for record in records:
            self.add(record)

    @property
    def prior(self) -> float:
        """The prior log2 odds in use: fixed if given, else from the number of records."""
        if self._fixed_prior is not None:
            return self._fixed_prior
        return min(PRIOR_LOG2_ODDS, -math.log2(max(len(self._by_key), 1)))

    def __len__(self) -> int:
        return len(self._by_key)

    def statistics(self) -> dict[str, object]:
        """The term frequencies in use, as plain data (JSON-safe) for `MatchIndex(statistics=)`."""
        return self._stats.as_dict()

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[PreparedRecord]:
        for slot in self._by_key.values():
            record = self._slots[slot]
            assert record is not None
            yield record

    def get(self, kind: str, record_id: str) -> PreparedRecord | None:
        slot = self._by_key.get((kind, record_id))
        return None if slot is None else self._slots[slot]

    def add(self, record: MatchRecord | PreparedRecord) -> PreparedRecord:
        """Index a record (replacing the one with the same kind and id, if any)."""
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        if prepared.key in self._by_key:
            self.remove(*prepared.key)
        if self._free:
            slot = self._free.pop()
            self._slots[slot] = prepared
        else:
            slot = len(self._slots)
            self._slots.append(prepared)
        self._by_key[prepared.key] = slot
        for key in prepared.index_keys:
            self._normal.setdefault(key, []).append(slot)
        for key in prepared.swap_index_keys:
            self._swapped.setdefault(key, []).append(slot)
        if self.mutual:
            for key in prepared.query_keys:
                self._looks.setdefault(key, []).append(slot)
            for key in prepared.swap_query_keys:
                self._swap_looks.setdefault(key, []).append(slot)
        if not self._frozen:
            self._stats.add(prepared)
        return prepared

    def update(self, record: MatchRecord | PreparedRecord) -> PreparedRecord:
        """Replace a record by its new version (the same as add)."""
        return self.add(record)

    def remove(self, kind: str, record_id: str) -> None:
        """Take a record out of the index; KeyError when it is not there."""
        slot = self._by_key.pop((kind, record_id))
        prepared = self._slots[slot]
        assert prepared is not None
        tables = [(self._normal, prepared.index_keys), (self._swapped, prepared.swap_index_keys)]
        if self.mutual:
            tables += [(self._looks, prepared.query_keys), (self._swap_looks, prepared.swap_query_keys)]
        for blocks, keys in tables:
            for key in keys:
                block = blocks[key]
                block.remove(slot)
                if not block:
                    del blocks[key]
        if not self._frozen:
            self._stats.remove(prepared)
        self._slots[slot] = None
        self._free.append(slot)

    def _candidate_slots(self, prepared: PreparedRecord) -> set[int]:
        cap = self.block_cap
        found: set[int] = set()
        normal, swapped = self._normal, self._swapped
        for key in prepared.query_keys:
            block = normal.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
            block = swapped.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
        for key in prepared.swap_query_keys:
            block = normal.get(key)
            if block is not None and len(block) <= cap:
                found.update(block)
        own = self._by_key.get(prepared.key)
        if own is not None:
            found.discard(own)
        return found

    def _finders(self, prepared: PreparedRecord) -> set[int]:
        """The indexed records whose own lookup would find `prepared` (the mirror of
        _candidate_slots, with the same block-size rule)."""
        if not self.mutual:
            raise ValueError("this index was built without mutual=True")
        cap = self.block_cap
        found: set[int] = set()
        normal, swapped, looks, swap_looks = self._normal, self._swapped, self._looks, self._swap_looks
        for key in prepared.index_keys:
            if len(normal.get(key, ())) + (prepared.key not in self._by_key) > cap:
                continue
            found.update(looks.get(key, ()))
            found.update(swap_looks.get(key, ()))
        for key in prepared.swap_index_keys:
            if len(swapped.get(key, ())) + (prepared.key not in self._by_key) > cap:
                continue
            found.update(looks.get(key, ()))
        own = self._by_key.get(prepared.key)
        if own is not None:
            found.discard(own)
        return found

    def candidates(self, record: MatchRecord | PreparedRecord, *, mutual: bool = False) -> list[PreparedRecord]:
        """The records blocking brings together with this one (before any scoring); with
        `mutual`, also those that would find it."""
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        slots = self._slots
        found = self._candidate_slots(prepared)
        if mutual:
            found |= self._finders(prepared)
        return [r for s in sorted(found) if (r := slots[s]) is not None]

    def score(self, a: MatchRecord | PreparedRecord, b: MatchRecord | PreparedRecord) -> Match:
        """Score one pair with this index's term frequencies and prior."""
        return compare(a, b, index=self)

    def query(
        self,
        record: MatchRecord | PreparedRecord,
        *,
        threshold: float | None = None,
        limit: int | None = None,
        mutual: bool = False,
        oriented: bool = False,
    ) -> list[Match]:
        """The indexed records that may be the same man, best first, at or above `threshold`.

        The record itself (same kind and id) is never its own candidate. `mutual` (on an index
        built with mutual=True): also the records whose own query would find this one.
        `oriented`: each pair scored as (smaller (kind, id), larger) whichever record asked, so
        a pair has one score (term frequencies make scores slightly asymmetric); the record
        asked about is then on either side.
        """
        prepared = record if isinstance(record, PreparedRecord) else prepare(record)
        prior = self.prior
        cutoff = _threshold_weight(self.threshold if threshold is None else threshold, prior)
        stats, slots = self._stats, self._slots
        found: list[Match] = []
        candidate_slots = self._candidate_slots(prepared)
        if mutual:
            candidate_slots |= self._finders(prepared)
        for slot in candidate_slots:
            other = slots[slot]
            assert other is not None
            a, b = (other, prepared) if oriented and other.key < prepared.key else (prepared, other)
            if _weight(a, b, stats) >= cutoff - 1e-9:
                found.append(_explain(a, b, stats, prior))
        found.sort(key=lambda m: (-m.weight, m.right_kind, m.right_id, m.left_kind, m.left_id))
        return found if limit is None else found[:limit]


# --- batch ----------------------------------------------------------------------------------

_WORKER_INDEX: list[MatchIndex] = []


def _query_chunk(args: tuple[Sequence[MatchRecord], float]) -> list[list[Match]]:
    chunk, threshold = args
    index = _WORKER_INDEX[0]
    return [index.query(record, threshold=threshold) for record in chunk]


def _workers(requested: int | None, size: int) -> int:
    if requested is not None:
        return max(1, requested)
    if size < 20_000:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _query_all(
    index: MatchIndex, records: Sequence[MatchRecord], threshold: float, workers: int
) -> list[list[Match]]:
    """index.query for each record, in order; across `workers` forked processes if > 1."""
    if workers <= 1 or len(records) < 2:
        return [index.query(record, threshold=threshold) for record in records]
    import multiprocessing  # noqa: PLC0415 - only for the batch path

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: one process
        return [index.query(record, threshold=threshold) for record in records]
    size = max(1, math.ceil(len(records) / (workers * 8)))
    chunks = [(records[i : i + size], threshold) for i in range(0, len(records), size)]
    _WORKER_INDEX[:] = [index]
    try:
        with context.Pool(workers) as pool:
            results = pool.map(_query_chunk, chunks, chunksize=1)
    finally:
        _WORKER_INDEX.clear()
    return [matches for chunk in results for matches in chunk]


def link(
    left: Iterable[MatchRecord],
    right: Iterable[MatchRecord | PreparedRecord],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
    index: MatchIndex | None = None,
) -> list[Match]:
    """Every (left, right) pair at or above `threshold`: each left record queried against an
    index of the right ones, so the result is exactly what querying one by one gives.

    Sorted by left record (in input order), then best first. `workers`: processes to spread the
    queries over (default: all cores for 20,000 or more left records, else one). Pass `index`
    to reuse an index already built over `right` (then `right` is ignored).
    """
    if index is None:
        index = MatchIndex(right, threshold=threshold)
    records = list(left)
    per_record = _query_all(index, records, threshold, _workers(workers, len(records)))
    return [match for matches in per_record for match in matches]


def dedupe(
    records: Iterable[MatchRecord | PreparedRecord],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    workers: int | None = None,
) -> list[Match]:
    """Pairs of records (of any kinds) that may be the same man, each pair once.

    The union over records of querying each against an index of all of them; each pair is
    reported once, oriented so that (left kind, left id) < (right kind, right id).
    """
    index = MatchIndex(records, threshold=threshold)
    prepared = list(index)
    originals = [p.record for p in prepared]
    per_record = _query_all(index, originals, threshold, _workers(workers, len(originals)))
    seen: dict[tuple[tuple[str, str], tuple[str, str]], Match] = {}
    for matches in per_record:
        for match in matches:
            left, right = match.pair
            if left > right:
                left, right = right, left
            if (left, right) in seen:
                continue
            if match.pair[0] == left:
                seen[(left, right)] = match
            else:
                a, b = index.get(*left), index.get(*right)
                assert a is not None and b is not None
                seen[(left, right)] = _explain(a, b, index._stats, index.prior)
    return sorted(seen.values(), key=lambda m: (m.left_kind, m.left_id, -m.weight, m.right_id))
