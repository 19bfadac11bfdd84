"""Estimating the model from the data, as Splink does (matching.md, "Estimate, do not guess").

- **u** (how often two different men land on a level): from random inquiry ↔ person pairs,
  nearly all of which are two different men.
- **m** (how often the same man does): by expectation maximisation over pairs that could be the
  same man. Each EM session takes pairs that agree on some fields and learns the others, whose
  agreement the selection did not force: pairs sharing surname and given name teach the birth
  date, patronymic, unit, place, dates and category; pairs sharing a full birth date teach the
  surname and the given name. u stays fixed, as random pairs measured it.
- **Labels**: pairs staff confirmed count as matches and pairs they rejected as non-matches in
  every session (their posterior is fixed, not estimated).
- **Seeds**: the hand-set values of `model.DEFAULT_LEVELS` start EM and act as a few pseudo-
  observations, so a level seen rarely keeps a sensible value.
- **Matches per record**: with the learned weights, a one-parameter EM over every pair blocking
  proposes gives the share of them that are true, hence the expected number of true matches
  per inquiry; the prior of a pair is that over the registry's size.

A field every pair shares (all captures in the same weeks of one offensive) then gets m ≈ u and
a weight near zero by itself: nobody has to know it.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from pow_registry.domain.matching.compare import _Stats, _weight, levels
from pow_registry.domain.matching.model import (
    DEFAULT_LEVELS,
    DEFAULT_MODEL,
    FIELDS,
    TF_LEVELS,
    Estimation,
    MatchModel,
)
from pow_registry.domain.matching.records import PreparedRecord

#: Fewer inquiries or persons than this and the model stays the hand-set one.
MIN_RECORDS = 200
#: Pseudo-observations of the seed values (per field), for m and for u.
_M_SEED_WEIGHT = 20.0
_U_SEED_WEIGHT = 50.0
#: Pairs per block a session takes at most (a common name's block is sampled).
_MAX_BLOCK = 40
#: Pairs an EM session takes at most (a random sample of them beyond that).
_MAX_PAIRS = 100_000

#: The statistics counter a value-agreement level's value is counted in.
_COUNTER_OF = {"surname": "surname", "given name": "given", "patronymic": "patronymic", "date of birth": "dob",
               "unit": "unit", "place": "place", "service category": "category",
               "call sign": "call_sign"}
_NAME_FIELDS = ("surname", "given name")
_OTHER_FIELDS = tuple(f for f in FIELDS if f not in _NAME_FIELDS)

Pair = tuple[PreparedRecord, PreparedRecord]


def _normalised(levels: dict[str, tuple[float, float]], which: int) -> dict[str, float]:
    total = sum(mu[which] for mu in levels.values())
    return {level: mu[which] / total for level, mu in levels.items()}


def _estimate_u(
    inquiries: Sequence[PreparedRecord], persons: Sequence[PreparedRecord], stats: _Stats, rng: random.Random, n: int
) -> dict[str, dict[str, float]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _ in range(n):
        for name, level in levels(rng.choice(inquiries), rng.choice(persons), stats):
            counts[name][level] += 1
    u: dict[str, dict[str, float]] = {}
    for name in FIELDS:
        seed = _normalised(DEFAULT_LEVELS[name], 1)
        seen = counts.get(name, Counter())
        total = sum(seen.values())
        u[name] = {lv: (seen[lv] + _U_SEED_WEIGHT * s) / (total + _U_SEED_WEIGHT) for lv, s in seed.items()}
    return u


def _blocked_pairs(
    inquiries: Sequence[PreparedRecord],
    persons: Sequence[PreparedRecord],
    key: str,
    rng: random.Random,
) -> list[Pair]:
    """Inquiry ↔ person pairs sharing surname and given name (`name`) or a full birth date (`dob`)."""

    def block_key(record: PreparedRecord) -> str | None:
        if key == "name":
            return f"{record.sur}|{record.given_key}" if record.sur and record.given_key else None
        return record.dob_text if record.dob is not None and record.dob.day is not None else None

    blocks: dict[str, list[PreparedRecord]] = defaultdict(list)
    for person in persons:
        if (k := block_key(person)) is not None:
            blocks[k].append(person)
    pairs: list[Pair] = []
    for inquiry in inquiries:
        k = block_key(inquiry)
        if k is None or k not in blocks:
            continue
        block = blocks[k]
        chosen = block if len(block) <= _MAX_BLOCK else rng.sample(block, _MAX_BLOCK)
        pairs.extend((inquiry, person) for person in chosen)
    return pairs


def _sample(pairs: list[Pair], rng: random.Random) -> list[Pair]:
    """At most _MAX_PAIRS of a session's pairs: EM's estimates settle long before that."""
    return pairs if len(pairs) <= _MAX_PAIRS else rng.sample(pairs, _MAX_PAIRS)


def _em(
    patterns: Counter[tuple[tuple[str, str], ...]],
    labelled: Sequence[tuple[tuple[tuple[str, str], ...], float]],
    fields: Sequence[str],
    u: dict[str, dict[str, float]],
    iterations: int,
) -> tuple[dict[str, dict[str, float]], int]:
    """m of `fields` by EM over comparison patterns (with counts) and labelled patterns
    (posterior fixed); u fixed. Returns (m, iterations run)."""
    m = {name: _normalised(DEFAULT_LEVELS[name], 0) for name in fields}
    lam = 0.5
    run = 0
    total = sum(patterns.values()) + len(labelled)
    for run in range(1, iterations + 1):  # noqa: B007 - `run` is reported
        acc: dict[str, defaultdict[str, float]] = {name: defaultdict(float) for name in fields}
        matched = 0.0
        for pattern, count in patterns.items():
            log_m = math.log(lam) + sum(math.log(m[f][lv]) for f, lv in pattern)
            log_u = math.log(1 - lam) + sum(math.log(u[f][lv]) for f, lv in pattern)
            post = 1.0 / (1.0 + math.exp(min(log_u - log_m, 700.0)))
            matched += count * post
            for f, lv in pattern:
                acc[f][lv] += count * post
        for pattern, post in labelled:
            matched += post
            for f, lv in pattern:
                acc[f][lv] += post
        new_lam = min(max(matched / max(total, 1), 1e-6), 1 - 1e-6)
        change = 0.0
        for name in fields:
            seed = _normalised(DEFAULT_LEVELS[name], 0)
            denominator = sum(acc[name].values()) + _M_SEED_WEIGHT
            for level, s in seed.items():
                value = (acc[name][level] + _M_SEED_WEIGHT * s) / denominator
                change = max(change, abs(value - m[name][level]))
                m[name][level] = value
        change = max(change, abs(new_lam - lam))
        lam = new_lam
        if change < 1e-5:
            break
    return m, run


def _patterns(pairs: Iterable[Pair], fields: Sequence[str], stats: _Stats) -> Counter[tuple[tuple[str, str], ...]]:
    wanted = set(fields)
    out: Counter[tuple[tuple[str, str], ...]] = Counter()
    for a, b in pairs:
        pattern = tuple(item for item in levels(a, b, stats) if item[0] in wanted)
        if pattern:
            out[pattern] += 1
    return out


def estimate_model(
    inquiries: Sequence[PreparedRecord],
    persons: Sequence[PreparedRecord],
    *,
    confirmed: Sequence[Pair] = (),
    rejected: Sequence[Pair] = (),
    candidates: Sequence[tuple[PreparedRecord, Sequence[PreparedRecord]]] | None = None,
    random_pairs: int = 100_000,
    iterations: int = 40,
    seed: int = 20260101,
    min_records: int | None = None,
) -> MatchModel:
    """Learn m and u per field and level from inquiries and persons (see the module's docstring).

    `confirmed` / `rejected`: reviewed (inquiry, person) pairs. `candidates`: (inquiry, the
    persons blocking proposes for it) for some inquiries, to learn the expected matches per
    inquiry; without it that stays the default. Deterministic for a given `seed`.
    """
    min_records = MIN_RECORDS if min_records is None else min_records
    if len(inquiries) < min_records or len(persons) < min_records:
        note = (f"not learned: {len(inquiries)} inquiries and {len(persons)} persons, "
                f"fewer than {min_records} of each; hand-set defaults in use")  # fmt: skip
        return MatchModel(levels=DEFAULT_MODEL.levels, estimation=Estimation(
            inquiries=len(inquiries), persons=len(persons), note=note))  # fmt: skip
    rng = random.Random(seed)  # noqa: S311 - sampling pairs, not secrets
    stats = _Stats(DEFAULT_MODEL)
    for person in persons:
        stats.add(person)
    u = _estimate_u(inquiries, persons, stats, rng, random_pairs)

    def labelled(fields: Sequence[str]) -> list[tuple[tuple[tuple[str, str], ...], float]]:
        wanted = set(fields)
        out = []
        for pairs, post in ((confirmed, 1.0), (rejected, 0.0)):
            for a, b in pairs:
                out.append((tuple(item for item in levels(a, b, stats) if item[0] in wanted), post))
        return out

    by_name = _sample(_blocked_pairs(inquiries, persons, "name", rng), rng)
    by_dob = _sample(_blocked_pairs(inquiries, persons, "dob", rng), rng)
    m_other, run_a = _em(_patterns(by_name, _OTHER_FIELDS, stats), labelled(_OTHER_FIELDS), _OTHER_FIELDS, u,
                         iterations)  # fmt: skip
    m_names, run_b = _em(_patterns(by_dob, _NAME_FIELDS, stats), labelled(_NAME_FIELDS), _NAME_FIELDS, u, iterations)
    m = {**m_other, **m_names}
    model_levels = {name: {lv: (m[name][lv], u[name][lv]) for lv in DEFAULT_LEVELS[name]} for name in FIELDS}
    estimation = Estimation(
        inquiries=len(inquiries), persons=len(persons), random_pairs=random_pairs, name_pairs=len(by_name),
        birth_date_pairs=len(by_dob), confirmed=len(confirmed), rejected=len(rejected),
        iterations=max(run_a, run_b),
    )  # fmt: skip
    agreement = stats.agreement()
    references = {
        name: {level: agreement[counter] for level in tf_levels if counter in agreement}
        for name, tf_levels in TF_LEVELS.items()
        if name in _COUNTER_OF
        for counter in (_COUNTER_OF[name],)
    }
    # "soon after": the level's own rate among random pairs is the average share of captures
    # in the weeks after a last contact
    references["capture / contact"] = {"soon after": u["capture / contact"]["soon after"]}
    references["date of birth"] = {
        level: agreement[counter] for level, counter in (("exact", "dob"), ("year only", "year")) if counter in agreement
    }
    model = MatchModel(levels=model_levels, references=references, learned=True, estimation=estimation)
    if candidates is not None:
        model.matches_per_record, model.prior_offset = prior_parameters(candidates, persons, model)
    return model


def prior_parameters(
    candidates: Sequence[tuple[PreparedRecord, Sequence[PreparedRecord]]],
    persons: Sequence[PreparedRecord],
    model: MatchModel,
    *,
    iterations: int = 200,
) -> tuple[float, float]:
    """(π, offset): the share of inquiries whose man is in the registry, and the bits to add to
    the prior log2(π / N) so that the probabilities of all the pairs blocking proposes add up to
    π per inquiry.

    π comes from EM under "at most one true man per inquiry": an inquiry is about no registered
    man (1 - π) or about one of the N persons, each alike a priori (π / N); its candidates'
    likelihood ratios 2^weight say which. Counting each blocked pair as an independent chance
    instead would count a man's namesakes as more matches. The offset corrects the pairwise
    probabilities for what the sum of field weights overstates (or understates)."""
    stats = _Stats(model)
    for person in persons:
        stats.add(person)
    if not candidates or not persons:
        return DEFAULT_MODEL.matches_per_record, 0.0
    n = len(persons)
    weights = [[_weight(a, b, stats) for b in found] for a, found in candidates]
    # log2 of each inquiry's summed likelihood ratio (None: no candidate at all)
    sums: list[float | None] = []
    for row in weights:
        if not row:
            sums.append(None)
            continue
        top = max(row)
        sums.append(top + math.log2(sum(2.0 ** (w - top) for w in row)))
    share = DEFAULT_MODEL.matches_per_record
    for _ in range(iterations):
        total = 0.0
        for s in sums:
            if s is None:
                continue
            # odds that the inquiry's man is among its candidates: (π / N) S / (1 - π)
            log_odds = math.log2(share / (1 - share)) - math.log2(n) + s
            total += 1.0 / (1.0 + 2.0 ** min(-log_odds, 1000.0))
        new = min(max(total / len(sums), 1e-6), 1 - 1e-6)
        if abs(new - share) < 1e-7:
            share = new
            break
        share = new
    prior = math.log2(share) - math.log2(n)
    flat = [w for row in weights for w in row]
    target = share * len(candidates)

    def mass(offset: float) -> float:
        return sum(1.0 / (1.0 + 2.0 ** min(-(prior + offset + w), 1000.0)) for w in flat)

    low, high = -8.0, 8.0
    if not flat or mass(low) > target or mass(high) < target:
        return share, 0.0
    for _ in range(40):
        middle = (low + high) / 2
        if mass(middle) > target:
            high = middle
        else:
            low = middle
    return share, round((low + high) / 2, 3)
