"""Blocking: the keys a prepared record is indexed under and looks up, so that only plausible
pairs are ever compared (see the package's docstring, step 2)."""

from __future__ import annotations

from pow_registry.domain.given_names import (
    NameReading,
)


def _deletions(key: str) -> set[str]:
    return {key} | {key[:i] + key[i + 1 :] for i in range(len(key))}


def _given_tokens(reading: NameReading | None) -> tuple[str, ...]:
    if reading is None:
        return ()
    if reading.classes:
        return reading.classes
    return ("~" + reading.skeleton,)


def _one_way(index: set[str], query: set[str], key: str, tags: tuple[str, str], *, named: bool) -> None:
    """Keys that bring records without a surname together with named ones, never two named."""
    named_tag, unnamed_tag = tags
    index.add((named_tag if named else unnamed_tag) + key)
    query.add((unnamed_tag if named else named_tag) + key)


def blocking_keys(
    sur_keys: frozenset[str],
    primary: str,
    given: NameReading | None,
    patronymic: NameReading | None,
    year: int | None,
    unit: str | None,
    dob_day: str | None = None,
    places: tuple[str, ...] = (),
    call_sign: str = "",
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
    for token in [t for t in places if t[0] != "@"][:2]:  # the given name garbled, no birth date
        both.update(f"L|{key}|{token}" for key in sur_keys)
    if call_sign:  # two reports of one call sign (in any script)
        both.add(f"c|{call_sign}")
    if dob_day is not None:  # both names garbled or swapped away: the birth day and the place
        both.update(f"P|{dob_day}|{token}" for token in [t for t in places if t[0] != "@"][:2])
    # A record without a surname (a given name and a unit from a video, a given name and a birth
    # year) looks among all records of that given name and unit, or given name and birth year,
    # and is found by them; records with surnames do not look among each other this way.
    for token in given_tokens:
        if unit is not None:
            _one_way(index, query, f"|{unit}|{token}", ("v", "V"), named=bool(primary))
        if year is not None:
            _one_way(index, query, f"|{token}|{year}", ("n", "N"), named=bool(primary))
    index |= both
    query |= both
    return tuple(sorted(index)), tuple(sorted(query))
