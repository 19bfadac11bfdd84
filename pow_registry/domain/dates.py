"""Partial dates: a birth or capture date is often known only to the year or the month.

Storing 1 January for "1994" would invent a fact and break matching ("born 1994" agrees with
any day of 1994), so the precision is kept and comparisons use the possible range of days.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

__all__ = ["MAX_YEAR", "MIN_YEAR", "InvalidDate", "NoSuchDate", "PartialDate", "is_in_the_future", "parse_optional"]

MIN_YEAR = 1900
MAX_YEAR = 2100

Precision = Literal["year", "month", "day"]

_FORMATS_HELP = "YYYY-MM-DD, DD.MM.YYYY, YYYY-MM, MM.YYYY or YYYY"

# ASCII digits only: `\d` would also accept Arabic-Indic and other digits.
_ISO_DAY = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})")
_DOTTED_DAY = re.compile(r"(?P<day>[0-9]{1,2})\.(?P<month>[0-9]{1,2})\.(?P<year>[0-9]{4})")
_ISO_MONTH = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})")
_DOTTED_MONTH = re.compile(r"(?P<month>[0-9]{1,2})\.(?P<year>[0-9]{4})")
_YEAR = re.compile(r"(?P<year>[0-9]{4})")
_PATTERNS = (_ISO_DAY, _DOTTED_DAY, _ISO_MONTH, _DOTTED_MONTH, _YEAR)


class InvalidDate(ValueError):
    """The text is not a date we accept; the message can be shown to the user as is."""


class NoSuchDate(InvalidDate):
    """The shape was right but there is no such day, month or year (31.02.2004, 13.2004):
    the user needs "this date does not exist", not the list of formats again."""


def _shown(text: str) -> str:
    """Quote user input in an error message without letting it run on for a page."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


@dataclass(frozen=True, slots=True)
class PartialDate:
    """A calendar date known to the year, the month or the day.

    Ordered by the first possible day, then the last, which is consistent with equality:
    1994 sorts after 1994-01-01 and before 1994-01-02.
    """

    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        # bool is an int subclass and a float would slip through the range checks.
        if type(self.year) is not int:
            raise InvalidDate("The year must be a whole number.")
        for name in ("month", "day"):
            value = getattr(self, name)
            if value is not None and type(value) is not int:
                raise InvalidDate(f"The {name} must be a whole number.")
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise NoSuchDate(
                f"The year must be between {MIN_YEAR} and {MAX_YEAR}, not {self.year}."
            )
        if self.month is None:
            if self.day is not None:
                raise InvalidDate("A day needs a month: give the month too, or only the year.")
            return
        if not 1 <= self.month <= 12:
            raise NoSuchDate(f"The month must be between 1 and 12, not {self.month}.")
        if self.day is not None:
            last = calendar.monthrange(self.year, self.month)[1]
            if not 1 <= self.day <= last:
                raise NoSuchDate(
                    f"{self.year:04d}-{self.month:02d} has days 1 to {last}, not {self.day}."
                )

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Read `YYYY-MM-DD`, `DD.MM.YYYY` (or `D.M.YYYY`), `YYYY-MM`, `MM.YYYY` or `YYYY`.

        Raises InvalidDate for any other shape and for dates that do not exist (31.02.2000).
        """
        stripped = text.strip()
        for pattern in _PATTERNS:
            match = pattern.fullmatch(stripped)
            if match is None:
                continue
            parts = match.groupdict()
            return cls(
                year=int(parts["year"]),
                month=int(parts["month"]) if "month" in parts else None,
                day=int(parts["day"]) if "day" in parts else None,
            )
        if not stripped:
            raise InvalidDate(f"Enter a date as {_FORMATS_HELP}.")
        raise InvalidDate(f"{_shown(stripped)} is not a date: use {_FORMATS_HELP}.")

    @classmethod
    def from_date(cls, value: date) -> PartialDate:
        """A fully known date (a datetime counts as its calendar day)."""
        return cls(value.year, value.month, value.day)

    @property
    def precision(self) -> Precision:
        if self.day is not None:
            return "day"
        if self.month is not None:
            return "month"
        return "year"

    def earliest(self) -> date:
        """The first day this date could be."""
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date:
        """The last day this date could be."""
        if self.month is None:
            return date(self.year, 12, 31)
        if self.day is None:
            return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])
        return date(self.year, self.month, self.day)

    def _key(self) -> tuple[date, date]:
        return (self.earliest(), self.latest())

    def __lt__(self, other: PartialDate) -> bool:
        if not isinstance(other, PartialDate):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: PartialDate) -> bool:
        if not isinstance(other, PartialDate):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: PartialDate) -> bool:
        if not isinstance(other, PartialDate):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: PartialDate) -> bool:
        if not isinstance(other, PartialDate):
            return NotImplemented
        return self._key() >= other._key()

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def parse_optional(text: str | None) -> PartialDate | None:
    """Like PartialDate.parse, but a missing or blank field is simply no date."""
    if text is None or not text.strip():
        return None
    return PartialDate.parse(text)


# "Today" is the UTC day (pow_registry.clock); east of UTC, where the users are, the calendar
# may already show tomorrow, so one day ahead still counts as today.
_AHEAD_OF_UTC = timedelta(days=1)


def is_in_the_future(value: PartialDate, today: date) -> bool:
    """True when no reading of `value` has happened yet: a capture, a birth or an exchange
    dated after today is a typo (2052 for 2025), never a fact."""
    return value.earliest() > today + _AHEAD_OF_UTC
