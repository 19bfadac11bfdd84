"""Comparing two prepared records field by field: levels, weights in bits, the explanation."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
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
from pow_registry.domain.matching.model import DEFAULT_MODEL, MatchModel
from pow_registry.domain.matching.records import PreparedRecord

#: Pseudo-count of the term-frequency estimate: small indexes lean on the default frequency.
_TF_PSEUDO = 1000.0


class _Tally(Counter[str]):
    """Value counts, and how many records have a value at all: a value's share is of those (a
    place of several words counts its record once)."""

    records: int = 0


class _Stats:
    """Value counts over the indexed records (for the term-frequency adjustment) and the model
    whose parameters the weights come from: frozen together, they make a pair's score depend on
    the pair alone."""

    __slots__ = ("_capture_index", "call_sign", "capture", "category", "dob", "given", "model", "n", "patronymic",
                 "place", "surname", "unit", "year")

    _COUNTERS = ("surname", "given", "patronymic", "unit", "dob", "year", "place", "category", "capture", "call_sign")

    def __init__(self, model: MatchModel = DEFAULT_MODEL) -> None:
        self.n = 0
        self.model = model
        self.surname = _Tally()
        self.given = _Tally()
        self.patronymic = _Tally()
        self.unit = _Tally()
        self.dob = _Tally()  # full birth dates
        self.year = _Tally()  # birth years
        self.place = _Tally()  # place words
        self.category = _Tally()
        self.call_sign = _Tally()
        self.capture = _Tally()  # persons' capture days (ordinal), when known to the month
        self._capture_index: tuple[list[int], list[int]] | None = None  # days sorted, running counts

    def _change(self, record: PreparedRecord, step: int) -> None:
        self.n += step
        dob = record.dob
        values: list[tuple[_Tally, tuple[str, ...]]] = [
            (self.surname, (record.sur,)),
            (self.given, (record.given_key,)),
            (self.patronymic, (record.patronymic_key,)),
            (self.unit, (record.unit or "",)),
            (self.dob, (record.dob_text if dob is not None and dob.day is not None else "",)),
            (self.year, (str(dob.year) if dob is not None else "",)),
            (self.category, (record.category or "",)),
            (self.call_sign, (record.call_sign,)),
            (self.place, record.place),
        ]
        event = record.event
        if record.record.kind == "person" and event is not None and event[1] - event[0] <= 62:
            values.append((self.capture, (str(event[0]),)))
            self._capture_index = None
        for tally, found in values:
            found = tuple(value for value in found if value)
            if not found:
                continue
            tally.records += step
            for value in found:
                tally[value] += step
                if tally[value] <= 0:
                    del tally[value]

    def add(self, record: PreparedRecord) -> None:
        self._change(record, 1)

    def remove(self, record: PreparedRecord) -> None:
        self._change(record, -1)

    def agreement(self) -> dict[str, float]:
        """Per counter: the chance that two random records with a value agree on it."""
        out = {}
        for name in self._COUNTERS:
            tally: _Tally = getattr(self, name)
            if tally.records > 0 and tally:
                out[name] = sum((c / tally.records) ** 2 for c in tally.values())
        return out

    def captured_between(self, first: int, last: int, default: float) -> float:
        """The share of persons captured from day `first` to day `last` (ordinals), smoothed
        towards `default`: how often "captured soon after the last contact" happens by chance."""
        if self._capture_index is None:
            days = sorted(int(day) for day in self.capture)
            running, total = [], 0
            for day in days:
                total += self.capture[str(day)]
                running.append(total)
            self._capture_index = (days, running)
        days, running = self._capture_index
        lo, hi = bisect_left(days, first), bisect_right(days, last)
        count = (running[hi - 1] if hi else 0) - (running[lo - 1] if lo else 0)
        return (count + _TF_PSEUDO * default) / (self.capture.records + _TF_PSEUDO)

    def u(self, tally: _Tally, value: str, default: float) -> float:
        """How often a random record has this value: smoothed towards `default`."""
        return (tally.get(value, 0) + _TF_PSEUDO * default) / (tally.records + _TF_PSEUDO)

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"n": self.n}
        for name in self._COUNTERS:
            data[name] = dict(getattr(self, name))
        data["totals"] = {name: getattr(self, name).records for name in self._COUNTERS}
        data["model"] = self.model.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> _Stats:
        model_data = data.get("model")
        if model_data is not None and not isinstance(model_data, dict):
            raise ValueError("statistics: model must be a mapping")
        stats = cls(MatchModel.from_dict(model_data) if model_data else DEFAULT_MODEL)
        n = data.get("n", 0)
        stats.n = n if isinstance(n, int) else 0
        totals = data.get("totals") or {}
        if not isinstance(totals, dict):
            raise ValueError("statistics: totals must be a mapping of counter to count")
        for name in cls._COUNTERS:
            counts = data.get(name) or {}
            if not isinstance(counts, dict):
                raise ValueError(f"statistics: {name} must be a mapping of value to count")
            tally = _Tally({str(k): int(v) for k, v in counts.items()})
            tally.records = int(totals.get(name, stats.n))  # frozen before totals were kept: every record
            setattr(stats, name, tally)
        return stats


_NO_STATS = _Stats()

# Default frequencies of a value (before the index has data): a surname, a given-name class, a
# father's name class, a unit number, a birth date, a birth year, a place word.
_U_SURNAME = 0.0005
_U_GIVEN = 0.02
_U_PATRONYMIC = 0.03
_U_UNIT = 0.002
_U_DOB = 1 / (365 * 35)
_U_YEAR = 1 / 35
_U_PLACE = 0.04
_U_SOON_AFTER = 0.08  # a capture within 45 days after a last contact, by chance
_U_SAME_CAPTURE = 0.05  # two men captured within three days of each other, by chance
_MAX_NAME_WEIGHT = 16.0
_MAX_UNIT_WEIGHT = 10.0
_MAX_DOB_WEIGHT = 16.0
_MAX_PLACE_WEIGHT = 8.0
_U_SURNAME_NEIGHBOURS = 0.0003  # the other surnames near any surname (one edit away)
W_SURNAME_FLOOR = 1.0  # a surname one edit away never counts against
_CATEGORY_SHARE = {
    "conscript": 0.1,
    "contract": 0.35,
    "mobilised": 0.4,
    "volunteer": 0.08,
    "pmc": 0.05,
    "other": 0.02,
}

# (level key, level as shown, weight, detail (() on the fast path))
_Evidence = tuple[str, str, float, tuple[Say, ...]]
_MISSING = ("missing", "missing", 0.0, ())


def _missing(detail: bool) -> _Evidence:
    return ("missing", "missing", 0.0, (_NOT_GIVEN,)) if detail else _MISSING


def _tf(model: MatchModel, name: str, level: str, u: float, cap: float) -> float:
    """A value-agreement level's weight: its m over the agreed value's own frequency."""
    return min(model.tf_weight(name, level, u), cap)


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
) -> tuple[_Evidence, Say | None]:
    """(evidence, note): the note flags a woman's surname form."""
    model = stats.model
    a_primary, a_keys, a_how, a_text, a_norm = a_sur or (
        a.sur, a.sur_keys, a.sur_how, a.surname, a.sur_text
    )  # fmt: skip
    if not a_primary or not b.sur:
        return _missing(detail), None
    if a_primary == b.sur:
        exact = a_norm == b.sur_text
        level = "exact" if exact else "transliteration"
        weight = _tf(model, "surname", level, stats.u(stats.surname, b.sur, _U_SURNAME), _MAX_NAME_WEIGHT)
        text: tuple[Say, ...] = ()
        if detail:
            said = (_say(N_("%(a)s / %(b)s: same spelling"), a=_q(a_text), b=_q(b.surname)) if exact else
                    _say(N_("%(a)s / %(b)s: same spelling key %(key)s"), a=_q(a_text), b=_q(b.surname),
                         key=Ref("key", b.sur)))
            text = (said, *_share(stats.surname.get(b.sur, 0), stats.n))
        return (level, level, weight, text), None
    shared = a_keys & b.sur_keys
    if shared:
        best: tuple[float, str, str, str] | None = None
        for key in shared:
            hows = {a_how.get(key, "as written"), b.sur_how.get(key, "as written")}
            level = _surname_case_level(hows, a, b)
            weight = _tf(model, "surname", level, stats.u(stats.surname, key, _U_SURNAME), _MAX_NAME_WEIGHT)
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
        return (level, level, weight, text), note
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
        key, shown = "typo", "typo (1 edit)"
        weight = max(math.log2(model.m("surname", key) / (u_tf + _U_SURNAME_NEIGHBOURS)), W_SURNAME_FLOOR)
    elif similarity >= 0.92:
        key, shown = "fuzzy", f"fuzzy (Jaro-Winkler {similarity:.2f})"
        weight = max(math.log2(model.m("surname", key) / (u_tf + 4 * _U_SURNAME_NEIGHBOURS)), W_SURNAME_FLOOR)
    elif similarity >= 0.85:
        key, shown = "fuzzy weak", f"fuzzy (Jaro-Winkler {similarity:.2f})"
        weight = model.weight("surname", key)
    else:
        key = shown = "disagree"
        weight = model.weight("surname", key)
    text = (_say(N_("%(a)s / %(b)s: keys %(x)s / %(y)s"), a=_q(a_text), b=_q(b.surname), x=Ref("key", a_primary),
                 y=Ref("key", b.sur)),) if detail else ()
    return (key, shown, weight, text), None


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
    name: str,
    x: NameReading | None,
    y: NameReading | None,
    x_text: str,
    y_text: str,
    counter: _Tally,
    default_u: float,
    stats: _Stats,
    detail: bool,
) -> _Evidence:
    if x is None or y is None:
        return _missing(detail)
    model = stats.model
    common = [c for c in x.classes if c in y.classes]
    if common:
        cls = common[0]
        level = _given_level(x, y, x_text, y_text)
        weight = _tf(model, name, level, stats.u(counter, cls, default_u), _MAX_NAME_WEIGHT)
        text: tuple[Say, ...] = ()
        if detail:
            forms = {r.form for r in (x, y) if r.form and r.level != "name"}
            both = (_say(N_("%(a)s / %(b)s: both %(name)s (via %(forms)s)"), a=_q(x.text), b=_q(y.text),
                         name=Ref("class", cls), forms=", ".join(sorted(forms))) if forms else
                    _say(N_("%(a)s / %(b)s: both %(name)s"), a=_q(x.text), b=_q(y.text), name=Ref("class", cls)))
            text = (both, *_share(counter.get(cls, 0), stats.n))
        return level, level, weight, text
    if not x.classes or not y.classes:
        # at least one name the table does not know: compare the spellings
        if x.skeleton == y.skeleton:
            token = "~" + x.skeleton
            level = "exact" if x_text == y_text else "transliteration"
            weight = _tf(model, name, level, stats.u(counter, token, default_u), _MAX_NAME_WEIGHT)
            text = (_say(N_("%(a)s / %(b)s: same spelling key"), a=_q(x.text), b=_q(y.text)),) if detail else ()
            return level, level, weight, text
        similarity = JaroWinkler.normalized_similarity(x.skeleton, y.skeleton)
        if similarity >= 0.92:
            text = (_say("%(a)s / %(b)s", a=_q(x.text), b=_q(y.text)),) if detail else ()
            return ("fuzzy spelling", f"fuzzy (Jaro-Winkler {similarity:.2f})",
                    model.weight(name, "fuzzy spelling"), text)
    weak = {x.level, y.level} & {"ambiguous diminutive", "fuzzy", "diminutive"}
    text = ()
    if detail:
        text = (_say("%(a)s / %(b)s: %(x)s ≠ %(y)s", a=_q(x.text), b=_q(y.text), x=_classes(x), y=_classes(y)),)
    key = "disagree weak" if weak else "disagree"
    return key, "disagree", model.weight(name, key), text


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
    return _name_part("given name", x, b.given, x_text, b.given_text, stats.given, _U_GIVEN, stats, detail)


def _patronymic(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    return _name_part("patronymic", a.patronymic, b.patronymic, a.patronymic_text, b.patronymic_text,
                      stats.patronymic, _U_PATRONYMIC, stats, detail)  # fmt: skip


def _dob_level(a: PreparedRecord, b: PreparedRecord) -> str:
    x, y = a.dob, b.dob
    assert x is not None and y is not None
    if x.year == y.year:
        if x.month is None or y.month is None:
            return "year only"
        if x.month == y.month:
            if x.day is None or y.day is None:
                return "year and month"
            if x.day == y.day:
                return "exact"
            if OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
                return "typo"
            return "same month, other day"
        if x.day is not None and y.day is not None:
            if x.day == y.month and y.day == x.month:
                return "day-month swapped"
            if OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
                return "typo"
        return "same year, other month"
    full = x.day is not None and y.day is not None
    if abs(x.year - y.year) == 1:
        if full and x.month == y.month and x.day == y.day:
            return "year off by one, same day"
        if not full:
            return "year off by one"
    if full and OSA.distance(a.dob_text, b.dob_text, score_cutoff=2) <= 1:
        return "typo"  # 1964 / 1946: two digits transposed
    return "years apart" if abs(x.year - y.year) >= 5 else "disagree"


_DOB_SHOWN = {"typo": "typo (one digit)", "year off by one, same day": "year off by one",
              "years apart": "five years or more apart"}


def _dob(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    if a.dob is None or b.dob is None:
        return _missing(detail)
    level = _dob_level(a, b)
    model = stats.model
    if level == "exact":  # as strong as the date is rare (1 January, a year of many)
        weight = _tf(model, "date of birth", level, stats.u(stats.dob, b.dob_text, _U_DOB), _MAX_DOB_WEIGHT)
    elif level == "year only":
        weight = _tf(model, "date of birth", level, stats.u(stats.year, str(b.dob.year), _U_YEAR), _MAX_DOB_WEIGHT)
    else:
        weight = model.weight("date of birth", level)
    text = (_say("%(a)s / %(b)s", a=a.dob_text, b=b.dob_text),) if detail else ()
    return level, _DOB_SHOWN.get(level, level), weight, text


def _unit(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    x, y = a.unit, b.unit
    if x is None or y is None:
        return _missing(detail)
    model = stats.model
    if x == y:
        u = stats.u(stats.unit, x, _U_UNIT)
        text = (_say(N_("unit %(unit)s"), unit=x), *_share(stats.unit.get(x, 0), stats.n)) if detail else ()
        return "exact", "exact", _tf(model, "unit", "exact", u, _MAX_UNIT_WEIGHT), text
    text = (_say(N_("unit %(a)s / %(b)s"), a=x, b=y),) if detail else ()
    if OSA.distance(x, y, score_cutoff=2) <= 1:
        return "typo", "typo (one digit)", model.weight("unit", "typo"), text
    return "disagree", "disagree", model.weight("unit", "disagree"), text


def _place(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    if not a.place or not b.place:
        return _missing(detail)
    model = stats.model
    text = (_say("%(a)s / %(b)s", a=_q(a.place_text), b=_q(b.place_text)),) if detail else ()
    best, region = 0.0, ""
    agreed: list[str] = []
    for x, x_consonants in zip(a.place, a.place_consonants, strict=True):
        for y, y_consonants in zip(b.place, b.place_consonants, strict=True):
            if (x[0] == "@") != (y[0] == "@"):
                continue
            if x[0] != "@" and (x == y or (len(x) >= 4 and x_consonants == y_consonants)):
                agreed.append(x)
                continue
            s = JaroWinkler.normalized_similarity(x, y)
            if x[0] == "@":
                if s >= 0.85:
                    region = x[1:]
            elif s > best:
                best = s
    if agreed:  # the rarest word both share (a village counts more than a town)
        u, word = min((stats.u(stats.place, word, _U_PLACE), word) for word in agreed)
        more = (_say(N_(": both %(key)s"), key=Ref("key", word)),) if detail else ()
        return "agree", "agree", _tf(model, "place", "agree", u, _MAX_PLACE_WEIGHT), text + more
    if best >= 0.88:
        return "fuzzy", f"fuzzy (Jaro-Winkler {best:.2f})", model.weight("place", "fuzzy"), text
    if region:
        more = (_say(": %(key)s", key=Ref("key", region)),) if detail else ()
        return "same region", "same region", model.weight("place", "same region"), text + more
    return "disagree", "disagree", model.weight("place", "disagree"), text


_EVENT_SHOWN = {
    "soon after": "captured soon after last contact",
    "months after": "captured months after last contact",
    "long after": "captured long after last contact",
    "imprecise": "imprecise dates",
    "imprecise, contact after": "imprecise dates",
}


def _event_level(a: PreparedRecord, b: PreparedRecord) -> tuple[str, str]:
    """(model field, level) of the capture and contact dates of a pair of records."""
    x, y = a.event, b.event
    assert x is not None and y is not None
    kinds = (a.record.kind, b.record.kind)
    if kinds[0] != kinds[1]:
        capture, contact = (x, y) if kinds[0] == "person" else (y, x)
        earliest = capture[0] - contact[1]  # days from last contact to capture, at least
        latest = capture[1] - contact[0]  # and at most
        if max(capture[1] - capture[0], contact[1] - contact[0]) > 62:
            return "capture / contact", "imprecise" if latest >= -2 else "imprecise, contact after"
        if latest < -2:
            return "capture / contact", "contact after capture"
        if earliest <= 45:
            return "capture / contact", "soon after"
        if earliest <= 180:
            return "capture / contact", "months after"
        return "capture / contact", "long after"
    gap = max(0, max(x[0], y[0]) - min(x[1], y[1]))
    if kinds[0] == "person":
        return "capture dates", "same" if gap <= 3 else "within a month" if gap <= 30 else "disagree"
    return "last contacts", "same" if gap <= 7 else "within two months" if gap <= 60 else "disagree"


_EVENT_SHOWN_BY_FIELD = {
    "capture dates": {"same": "same capture date", "within a month": "capture dates within a month"},
    "last contacts": {"same": "same last contact", "within two months": "last contacts within two months"},
}


def _event(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    if a.event is None or b.event is None:
        return _missing(detail)
    name, level = _event_level(a, b)
    shown = _EVENT_SHOWN_BY_FIELD.get(name, _EVENT_SHOWN).get(level, level)
    text = (_say("%(a)s / %(b)s", a=_event_name(a), b=_event_name(b)),) if detail else ()
    if level == "soon after":
        # as telling as it is rare: when every capture falls in the weeks after everyone's last
        # contact (one offensive), it tells nothing
        contact = b.event if b.record.kind == "inquiry" else a.event
        share = stats.captured_between(contact[0] - 2, contact[1] + 45, _U_SOON_AFTER)
        return level, shown, _tf(stats.model, name, level, share, _MAX_NAME_WEIGHT), text
    if name == "capture dates" and level == "same":  # two reports: as telling as that day is rare
        share = stats.captured_between(a.event[0] - 3, a.event[1] + 3, _U_SAME_CAPTURE)
        return level, shown, _tf(stats.model, name, level, share, _MAX_NAME_WEIGHT), text
    return level, shown, stats.model.weight(name, level), text


def _event_name(record: PreparedRecord) -> Say:
    if record.record.kind == "person":
        return _say(N_("person captured %(date)s"), date=record.record.event_date)
    return _say(N_("inquiry last contact %(date)s"), date=record.record.event_date)


def _category(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    x, y = a.category, b.category
    if x is None or y is None:
        return _missing(detail)
    text = (_say("%(a)s / %(b)s", a=Ref("category", x), b=Ref("category", y)),) if detail else ()
    if x == y:
        u = stats.u(stats.category, x, _CATEGORY_SHARE.get(x, 0.05))
        return "exact", "exact", _tf(stats.model, "service category", "exact", u, _MAX_NAME_WEIGHT), text
    return "disagree", "disagree", stats.model.weight("service category", "disagree"), text


_U_CALL_SIGN = 0.002


def _call_sign(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> _Evidence:
    if not a.call_sign or not b.call_sign:
        return _missing(detail)
    text = (_say("%(a)s / %(b)s", a=_q(a.call_sign_text), b=_q(b.call_sign_text)),) if detail else ()
    if a.call_sign == b.call_sign:
        u = stats.u(stats.call_sign, a.call_sign, _U_CALL_SIGN)
        more = _share(stats.call_sign.get(a.call_sign, 0), stats.n) if detail else ()
        return "exact", "exact", _tf(stats.model, "call sign", "exact", u, _MAX_NAME_WEIGHT), text + more
    return "disagree", "disagree", stats.model.weight("call sign", "disagree"), text


def _names(
    a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool
) -> tuple[tuple[_Evidence, Say | None], _Evidence, bool]:
    """Surname and given-name evidence, trying the swapped order when either side allows it."""
    surname = _surname(a, b, stats, detail)
    given = _given(a, b, stats, detail)
    best = (surname, given, False)
    if surname[0][2] > 0 or (a.swap is None and b.swap is None):
        return best  # the surnames agree as written: no reason to read them swapped
    # A record whose surname field holds a given name is the one to read swapped; only when
    # neither does (names the table does not know) is either read so, and only if the given
    # names disagree too.
    light = (a.swap is None or a.swap.light) and (b.swap is None or b.swap.light)
    if light and given[2] > 0:
        return best
    score = surname[0][2] + given[2]
    for first, second in ((a, b), (b, a)):
        swap = first.swap
        if swap is None or (swap.light and not light):
            continue
        s_sur = _surname(
            first, second, stats, detail,
            a_sur=(swap.sur, swap.sur_keys, swap.sur_how, swap.surname, swap.sur_text),
        )  # fmt: skip
        s_giv = _given(first, second, stats, detail, a_given=(swap.given, swap.given_text))
        if s_sur[0][2] + s_giv[2] > score + 1e-9:
            score = s_sur[0][2] + s_giv[2]
            best = (s_sur, s_giv, True)
    return best


def evidence(a: PreparedRecord, b: PreparedRecord, stats: _Stats, detail: bool) -> tuple[
    tuple[tuple[str, _Evidence], ...], Say | None, bool
]:
    """Every field's evidence for a pair, (explanation field name, evidence) in order, the
    surname note and whether the names were read swapped."""
    (surname, note), given, swapped = _names(a, b, stats, detail)
    fields: tuple[tuple[str, _Evidence], ...] = (
        ("surname", surname),
        ("given name", given),
        ("patronymic", _patronymic(a, b, stats, detail)),
        ("date of birth", _dob(a, b, stats, detail)),
        ("unit", _unit(a, b, stats, detail)),
        ("place", _place(a, b, stats, detail)),
        ("capture / contact", _event(a, b, stats, detail)),
        ("service category", _category(a, b, stats, detail)),
    )
    if a.call_sign or b.call_sign:  # said only where a report has one (inquiries never do)
        fields += (("call sign", _call_sign(a, b, stats, detail)),)
    return fields, note, swapped


def levels(a: PreparedRecord, b: PreparedRecord, stats: _Stats) -> tuple[tuple[str, str], ...]:
    """The pair's comparison vector: (model field, level) for every field given on both sides."""
    fields, _, _ = evidence(a, b, stats, False)
    out = []
    for name, item in fields:
        if item[0] == "missing":
            continue
        if name == "capture / contact":
            out.append(_event_level(a, b))
        else:
            out.append((name, item[0]))
    return tuple(out)


_NAME_PARTS = ("surname", "given name", "patronymic")
#: A surname agreement below this many bits is a name many men bear (one in about 1,000 or more).
_COMMON_NAME_BITS = 10.0
_SETTLES = {"date of birth": N_("the date of birth"), "unit": N_("the unit number"),
            "place": N_("the place"), "capture / contact": N_("the capture or last contact date")}


def _name_only(fields: tuple[tuple[str, _Evidence], ...]) -> list[Say]:
    """Notes for a pair whose names agree and nothing else is known on both sides: a namesake
    would score the same, so say so and say what would settle it."""
    known = {name: item for name, item in fields if item[0] != "missing"}
    if not known or set(known) - set(_NAME_PARTS) or known.get("surname", _MISSING)[2] <= 0:
        return []
    surname = known["surname"][2]
    first = (_say(N_("common name, nothing else known: ask the family for the date of birth or unit"))
             if surname < _COMMON_NAME_BITS else _say(N_("only the name is known on both sides")))
    missing = [Say(_SETTLES[name]) for name, item in fields if name in _SETTLES and item[0] == "missing"]
    if not missing:
        return [first]
    listed = missing[0]
    for more in missing[1:]:
        listed = _say(N_("%(a)s, %(b)s"), a=listed, b=more)
    return [first, _say(N_("what would settle it: %(fields)s"), fields=listed)]


def _weight(a: PreparedRecord, b: PreparedRecord, stats: _Stats) -> float:
    """The total field weight of a pair (no prior), without building explanations."""
    (surname, _note), given, _ = _names(a, b, stats, False)
    return (
        surname[2]
        + given[2]
        + _patronymic(a, b, stats, False)[2]
        + _dob(a, b, stats, False)[2]
        + _unit(a, b, stats, False)[2]
        + _place(a, b, stats, False)[2]
        + _event(a, b, stats, False)[2]
        + _category(a, b, stats, False)[2]
        + _call_sign(a, b, stats, False)[2]
    )


def _explain(a: PreparedRecord, b: PreparedRecord, stats: _Stats, prior: float) -> Match:
    fields, surname_note, swapped = evidence(a, b, stats, True)
    total = prior + sum(item[2] for _, item in fields)
    notes: list[Say] = []
    if surname_note:
        notes.append(surname_note)
    if swapped:
        notes.append(_say(N_("surname and given name are swapped on one side")))
    if fields[0][1][0] in ("genitive", "case form") and not morphology.available():
        notes.append(_say(N_("case forms read by suffix rules only: pymorphy3 is not installed")))
    notes.extend(_name_only(fields))
    return Match(
        left_id=a.record.record_id,
        left_kind=a.record.kind,
        right_id=b.record.record_id,
        right_kind=b.record.kind,
        probability=round(_probability(total), 6),
        weight=round(total, 3),
        fields=tuple(
            FieldEvidence(name, item[1], round(item[2], 2), "".join(str(say) for say in item[3]), item[3])
            for name, item in fields
        ),
        notes=tuple(str(note) for note in notes),
        note_says=tuple(notes),
        prior=round(prior, 3),
    )
