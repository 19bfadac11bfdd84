"""Who goes first on an exchange list, and why: the categories negotiators use and a transparent
priority (domain.md, "Exchange list"; Geneva Convention III Art. 109–110).

Pure functions: the services pass in what they know of a man; every point of the priority comes
with the reason it was given, so staff can see (and defend) the order.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from pow_registry.domain.dates import InvalidDate, PartialDate

__all__ = [
    "CATEGORIES",
    "LONG_CAPTIVITY_DAYS",
    "Priority",
    "SoughtMan",
    "age_on",
    "days_in_captivity",
    "priority",
]

#: The categories, in the order they are shown.
CATEGORIES = ("seriously_wounded_or_sick", "young", "conscript", "long_captivity", "with_inquiry")
#: Captivity at least this long counts as long (half a year).
LONG_CAPTIVITY_DAYS = 180
YOUNG_AGES = (18, 25)

# Points per category: the seriously wounded and sick come first (Art. 109–110 oblige their
# repatriation), then the categories agreed in recent exchanges. Each day of captivity adds a
# little, so among equals the man held longest goes first.
_POINTS = {"seriously_wounded_or_sick": 1000, "young": 100, "conscript": 100, "long_captivity": 50,
           "with_inquiry": 30}
_POINTS_PER_30_DAYS = 1


@dataclass(frozen=True)
class SoughtMan:
    """What the priority reads of a person."""

    health: str  # unknown, healthy, wounded, seriously_wounded, sick
    service_category: str | None
    date_of_birth: str | None  # partial
    capture_date: str | None  # partial: the earliest capture
    has_inquiry: bool


@dataclass(frozen=True)
class Priority:
    categories: tuple[str, ...]
    points: int
    reasons: tuple[tuple[str, int], ...]  # (reason code with its value, points), e.g. ("age:19", 100)


def _partial(text: str | None) -> PartialDate | None:
    if not text:
        return None
    try:
        return PartialDate.parse(text)
    except InvalidDate:
        return None


def age_on(date_of_birth: str | None, today: date) -> tuple[int, int] | None:
    """The youngest and oldest age he can be today, from a possibly partial birth date."""
    born = _partial(date_of_birth)
    if born is None:
        return None
    return _age(born.latest(), today), _age(born.earliest(), today)


def _age(born: date, today: date) -> int:
    """Whole years on `today`. A man born on 29 February comes of age on 28 February in a common
    year, as Russian and Ukrainian law count a term in years (Civil Code art. 192: no such day,
    the last day of that month)."""
    birthday = (born.month, born.day)
    if birthday == (2, 29) and not calendar.isleap(today.year):
        birthday = (2, 28)
    return today.year - born.year - ((today.month, today.day) < birthday)


def days_in_captivity(capture_date: str | None, today: date) -> int | None:
    """Days he has certainly been held: counted from the last day a partial capture date can
    mean ("2024-08" from 31 August), so the number and the long-captivity category are true by
    every reading, as the 18–25 category is. A date after today is no captivity yet."""
    captured = _partial(capture_date)
    if captured is None:
        return None
    return max(0, (today - captured.latest()).days)


def priority(man: SoughtMan, today: date) -> Priority:
    categories: list[str] = []
    reasons: list[tuple[str, int]] = []
    if man.health in ("seriously_wounded", "sick"):
        categories.append("seriously_wounded_or_sick")
        reasons.append((f"health:{man.health}", _POINTS["seriously_wounded_or_sick"]))
    ages = age_on(man.date_of_birth, today)
    if ages is not None and YOUNG_AGES[0] <= ages[0] and ages[1] <= YOUNG_AGES[1]:
        categories.append("young")
        reasons.append((f"age:{ages[0]}" if ages[0] == ages[1] else f"age:{ages[0]}-{ages[1]}", _POINTS["young"]))
    if man.service_category == "conscript":
        categories.append("conscript")
        reasons.append(("conscript", _POINTS["conscript"]))
    days = days_in_captivity(man.capture_date, today)
    if days is not None and days >= LONG_CAPTIVITY_DAYS:
        categories.append("long_captivity")
        reasons.append((f"captivity_days:{days}", _POINTS["long_captivity"]))
    if days:
        reasons.append((f"days:{days}", days // 30 * _POINTS_PER_30_DAYS))
    if man.has_inquiry:
        categories.append("with_inquiry")
        reasons.append(("with_inquiry", _POINTS["with_inquiry"]))
    return Priority(tuple(categories), sum(points for _code, points in reasons), tuple(reasons))
