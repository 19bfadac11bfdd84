"""The model: for every field and comparison level, how often a true match lands there (m) and
how often two different men do (u). A level's weight is log2(m / u) bits (Fellegi–Sunter).

`DEFAULT_MODEL` holds the values the matcher starts from (set by hand from what is known of the
sources); `estimate.estimate_model` learns them from the registry and the inquiries (u from
random pairs, m by expectation maximisation) and the result is frozen with the term frequencies,
so a pair's score depends on the pair and the frozen model alone.

Agreement on a value (a surname, a given name, a unit, a birth date, a place) is weighed by how
common that value is (term frequency): the level's m over the value's own share, not over the
level's average u. `TF_LEVELS` says which levels are so adjusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_DAYS = 365 * 35  # birth dates spread over about 35 years

#: The fields of the model in the order of an explanation. The event has three fields, one per
#: pair of kinds, because what a date says differs: a capture after the family's last contact
#: (inquiry ↔ person), two reports' capture dates (person ↔ person), two last contacts
#: (inquiry ↔ inquiry).
FIELDS = (
    "surname",
    "given name",
    "patronymic",
    "date of birth",
    "unit",
    "place",
    "capture / contact",
    "capture dates",
    "last contacts",
    "service category",
    "call sign",
)

#: (m, u) per level, set by hand: the starting point and the fallback while the registry is too
#: small to learn from. m of different levels are relative (they need not sum to 1 here).
_NAME_LEVELS = {
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
DEFAULT_LEVELS: dict[str, dict[str, tuple[float, float]]] = {
    "surname": {
        "exact": (0.9, 0.0005),
        "transliteration": (0.9, 0.0005),
        "genitive": (0.6, 0.0005),
        "case form": (0.4, 0.0005),
        "feminine form": (0.3, 0.0005),
        "typo": (0.1, 0.0008),
        "fuzzy": (0.05, 0.0017),
        "fuzzy weak": (0.02, 0.03),
        "disagree": (0.01, 0.95),
    },
    "given name": {
        **{level: (m, 0.02) for level, m in _NAME_LEVELS.items()},
        "fuzzy spelling": (0.05, 0.02),
        "disagree weak": (0.1, 0.9),
        "disagree": (0.03, 0.95),
    },
    "patronymic": {
        **{level: (m, 0.03) for level, m in _NAME_LEVELS.items()},
        "fuzzy spelling": (0.05, 0.02),
        "disagree weak": (0.1, 0.9),
        "disagree": (0.04, 0.95),
    },
    "date of birth": {
        "exact": (0.6, 1 / _DAYS),
        "year and month": (0.07, 1 / 420),
        "year only": (0.25, 1 / 35),
        "day-month swapped": (0.015, 1 / _DAYS),
        "typo": (0.02, 10 / _DAYS),
        "same month, other day": (0.01, 1 / 420),
        "same year, other month": (0.02, 1 / 35),
        "year off by one": (0.05, 2 / 35),
        "year off by one, same day": (0.005, 2 / _DAYS),
        "disagree": (0.008, 0.2),  # another year, up to four years apart (an age guessed from a video)
        "years apart": (0.002, 0.7),  # five years or more apart
    },
    "unit": {
        "exact": (0.7, 0.002),
        "typo": (0.03, 0.01),
        "disagree": (0.1, 0.97),
    },
    "place": {
        "agree": (0.4, 0.04),
        "fuzzy": (0.15, 0.05),
        "same region": (0.3, 0.2),
        "disagree": (0.45, 0.91),
    },
    "capture / contact": {
        "soon after": (0.75, 0.08),
        "months after": (0.12, 0.15),
        "long after": (0.05, 0.35),
        "contact after capture": (0.05, 0.4),
        "imprecise": (0.9, 0.6),
        "imprecise, contact after": (0.05, 0.4),
    },
    "capture dates": {
        "same": (0.6, 0.05),
        "within a month": (0.2, 0.15),
        "disagree": (0.2, 0.8),
    },
    "last contacts": {
        "same": (0.3, 0.05),
        "within two months": (0.5, 0.5),
        "disagree": (0.2, 0.8),
    },
    "service category": {
        "exact": (0.85, 0.25),
        "disagree": (0.12, 0.7),
    },
    # a call sign is rare and his own, but sources hear it differently and men change it
    "call sign": {
        "exact": (0.6, 0.002),
        "disagree": (0.4, 0.998),
    },
}

#: Levels whose weight uses the agreed value's own frequency instead of the level's u.
TF_LEVELS: dict[str, frozenset[str]] = {
    "surname": frozenset({"exact", "transliteration", "genitive", "case form", "feminine form"}),
    "given name": frozenset(_NAME_LEVELS),
    "patronymic": frozenset(_NAME_LEVELS),
    "date of birth": frozenset({"exact", "year only"}),
    "unit": frozenset({"exact"}),
    "place": frozenset({"agree"}),
    "service category": frozenset({"exact"}),
    "capture / contact": frozenset({"soon after"}),  # the share of captures in those weeks
    "capture dates": frozenset({"same"}),  # the share of captures within three days
    "call sign": frozenset({"exact"}),
}

#: Expected true matches per inquiry in the registry when nothing is learned: a family asks
#: about a man the registry holds about two times in three.
DEFAULT_MATCHES_PER_RECORD = 0.65


@dataclass(frozen=True)
class Estimation:
    """How a model was learned: shown to admins beside the parameters."""

    inquiries: int = 0
    persons: int = 0
    random_pairs: int = 0
    name_pairs: int = 0  # pairs sharing surname and given name (m of the other fields)
    birth_date_pairs: int = 0  # pairs sharing a full birth date (m of the names)
    confirmed: int = 0
    rejected: int = 0
    iterations: int = 0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Estimation:
        known = cls.__dataclass_fields__
        values: dict[str, Any] = {k: (str(v) if k == "note" else int(v)) for k, v in data.items() if k in known}
        return cls(**values)


@dataclass
class MatchModel:
    """m and u per field and level, and the expected true matches per record (for the prior).

    `learned` is False for the hand-set defaults. Weights are computed once, on creation.
    """

    levels: dict[str, dict[str, tuple[float, float]]]
    #: Per value-agreement level: the chance that two random men agree on the value (the sum of
    #: the squared value shares). A value as common as that weighs the level's own weight; a
    #: rarer one more. None: the level's u (the hand-set defaults are per value already).
    references: dict[str, dict[str, float]] | None = None
    matches_per_record: float = DEFAULT_MATCHES_PER_RECORD
    #: Bits added to the prior so that the probabilities of the pairs blocking proposes add up to
    #: the expected number of true matches (fields are not independent: names written along one
    #: route agree or disagree together, and summing their weights overstates the evidence).
    prior_offset: float = 0.0
    learned: bool = False
    estimation: Estimation = field(default_factory=Estimation)
    weights: dict[str, dict[str, float]] = field(init=False, repr=False)
    ms: dict[str, dict[str, float]] = field(init=False, repr=False)
    tf_base: dict[str, dict[str, float]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in FIELDS:
            if name not in self.levels:
                raise ValueError(f"model: no levels for {name!r}")
            for level, (m, u) in self.levels[name].items():
                if not (0.0 < m <= 1.0 and 0.0 < u <= 1.0):
                    raise ValueError(f"model: {name} / {level}: m and u must be in (0, 1]")
        self.weights = {f: {lv: math.log2(m / u) for lv, (m, u) in lv_mu.items()} for f, lv_mu in self.levels.items()}
        self.ms = {f: {lv: m for lv, (m, _u) in lv_mu.items()} for f, lv_mu in self.levels.items()}
        refs = self.references or {}
        self.tf_base = {
            f: {lv: self.weights[f][lv] + math.log2(refs.get(f, {}).get(lv, self.levels[f][lv][1])) for lv in lvs}
            for f, lvs in TF_LEVELS.items()
        }

    def weight(self, name: str, level: str) -> float:
        return self.weights[name][level]

    def m(self, name: str, level: str) -> float:
        return self.ms[name][level]

    def tf_weight(self, name: str, level: str, share: float) -> float:
        """A value-agreement level's weight for a value that `share` of records have:
        log2(m / u) + log2(reference / share)."""
        return self.tf_base[name][level] - math.log2(share)

    def as_dict(self) -> dict[str, Any]:
        return {
            "levels": {f: {lv: [m, u] for lv, (m, u) in lvs.items()} for f, lvs in self.levels.items()},
            "references": self.references,
            "matches_per_record": self.matches_per_record,
            "prior_offset": self.prior_offset,
            "learned": self.learned,
            "estimation": self.estimation.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        raw = data.get("levels")
        if not isinstance(raw, Mapping):
            raise ValueError("model: levels must be a mapping")
        levels = {str(f): {str(lv): (float(mu[0]), float(mu[1])) for lv, mu in lvs.items()} for f, lvs in raw.items()}
        # a level the stored model does not know (added since) keeps its default
        for name, defaults in DEFAULT_LEVELS.items():
            merged = dict(defaults)
            merged.update(levels.get(name, {}))
            levels[name] = {lv: merged[lv] for lv in defaults}
        refs = data.get("references")
        references = ({str(f): {str(lv): float(v) for lv, v in lvs.items()} for f, lvs in refs.items()}
                      if isinstance(refs, Mapping) else None)  # fmt: skip
        return cls(
            levels=levels,
            references=references,
            matches_per_record=float(data.get("matches_per_record", DEFAULT_MATCHES_PER_RECORD)),
            prior_offset=float(data.get("prior_offset", 0.0)),
            learned=bool(data.get("learned", False)),
            estimation=Estimation.from_dict(data.get("estimation") or {}),
        )

    def explain(self) -> str:
        """The parameters as a plain-text table: one line per field and level."""
        est = self.estimation
        head = [
            "Match model: " + ("learned from the data" if self.learned else "hand-set defaults (not learned)"),
            f"expected true matches per inquiry: {self.matches_per_record:.3f}; prior offset "
            f"{self.prior_offset:+.2f} bits",
        ]
        if self.learned:
            head.append(
                f"learned from {est.inquiries} inquiries and {est.persons} persons: u from {est.random_pairs} "
                f"random pairs; m by expectation maximisation over {est.name_pairs} pairs sharing a name "
                f"and {est.birth_date_pairs} sharing a birth date ({est.iterations} iterations); reviewed "
                f"pairs as labels: {est.confirmed} confirmed, {est.rejected} rejected"
            )
        if est.note:
            head.append(est.note)
        lines = [*head, "", f"{'field':<18} {'level':<26} {'m':>8} {'u':>10} {'weight':>8}"]
        for name in FIELDS:
            for level, (m, u) in self.levels[name].items():
                tf = " (×term frequency)" if level in TF_LEVELS.get(name, ()) else ""
                lines.append(f"{name:<18} {level:<26} {m:8.4f} {u:10.6f} {math.log2(m / u):+8.2f}{tf}")
        return "\n".join(lines)


DEFAULT_MODEL = MatchModel(levels={f: dict(lv) for f, lv in DEFAULT_LEVELS.items()})
