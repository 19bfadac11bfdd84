"""Comparing two prepared records field by field: levels, weights in bits, the explanation."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from rapidfuzz.distance import OSA, JaroWinkler

from pow_registry.domain import morphology
from pow_registry.domain.given_names import (
    NameReading,
)
from pow_registry.domain.matching.evidence import (
    _NOT_GIVEN,
    N_,
    FieldEvidence,
    Match,
    Ref,
    Say,
    _probability,
    _say,
)
from pow_registry.domain.matching.records import PreparedRecord

#: Pseudo-count of the term-frequency estimate: small indexes lean on the default frequency.
_TF_PSEUDO = 1000.0


def _log2(m: float, u: float) -> float:
    return math.log2(m / u)


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
