"""What a comparison says: a field's level, weight and translatable sentences, and the pair's
match with its probability (the explanation staff read)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Prior log2 odds that a record and one indexed record picked at random are the same man,
#: for an index of up to 2^14 records; a larger index of n records uses -log2(n) (a man is in
#: it about once, so the more records, the less likely any one of them is he).
PRIOR_LOG2_ODDS = -14.0


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
