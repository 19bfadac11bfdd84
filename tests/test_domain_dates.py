"""Partial dates: parsed from the shapes people type, validated, ranged, ordered."""

from __future__ import annotations

import calendar
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.dates import InvalidDate, PartialDate, parse_optional


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1994-03-07", PartialDate(1994, 3, 7)),
        ("07.03.1994", PartialDate(1994, 3, 7)),
        ("7.3.1994", PartialDate(1994, 3, 7)),
        ("1994-03", PartialDate(1994, 3)),
        ("03.1994", PartialDate(1994, 3)),
        ("3.1994", PartialDate(1994, 3)),
        ("1994", PartialDate(1994)),
        ("  1994-03-07\n", PartialDate(1994, 3, 7)),
        ("\u00a01994\t", PartialDate(1994)),
        ("29.02.2000", PartialDate(2000, 2, 29)),  # leap year
        ("1900", PartialDate(1900)),
        ("2100-12-31", PartialDate(2100, 12, 31)),
    ],
)
def test_parse_accepts_the_documented_shapes(text: str, expected: PartialDate) -> None:
    assert PartialDate.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a date"),
        ("   ", "Enter a date"),
        ("31.02.2000", "has days 1 to 29, not 31"),
        ("29.02.2001", "has days 1 to 28, not 29"),
        ("2000-04-31", "has days 1 to 30, not 31"),
        ("2000-13", "month must be between 1 and 12, not 13"),
        ("00.2000", "month must be between 1 and 12, not 0"),
        ("2000-01-00", "has days 1 to 31, not 0"),
        ("1899", "year must be between 1900 and 2100, not 1899"),
        ("2101-01-01", "year must be between 1900 and 2100, not 2101"),
        ("94", "is not a date"),
        ("07/03/1994", "is not a date"),  # ambiguous between countries: refused
        ("1994-3-", "is not a date"),
        ("1994.03.07", "is not a date"),
        ("March 1994", "is not a date"),
        ("１９９４", "is not a date"),  # full-width digits
        ("١٩٩٤", "is not a date"),  # Arabic-Indic digits
        ("1994-03-07T10:00", "is not a date"),
        ("about 1994", "is not a date"),
    ],
)
def test_parse_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidDate, match=message):
        PartialDate.parse(text)


def test_invalid_date_is_a_value_error() -> None:
    assert issubclass(InvalidDate, ValueError)


def test_long_garbage_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidDate) as info:
        PartialDate.parse("x" * 500)
    assert len(str(info.value)) < 150


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"year": 2000, "day": 5}, "A day needs a month"),
        ({"year": True}, "year must be a whole number"),
        ({"year": 2000, "month": 2.0}, "month must be a whole number"),
        ({"year": 2000, "month": 2, "day": "3"}, "day must be a whole number"),
    ],
)
def test_constructor_validates(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidDate, match=message):
        PartialDate(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text", "precision", "earliest", "latest"),
    [
        (PartialDate(1994), "1994", "year", date(1994, 1, 1), date(1994, 12, 31)),
        (PartialDate(1994, 2), "1994-02", "month", date(1994, 2, 1), date(1994, 2, 28)),
        (PartialDate(1996, 2), "1996-02", "month", date(1996, 2, 1), date(1996, 2, 29)),
        (PartialDate(1994, 11), "1994-11", "month", date(1994, 11, 1), date(1994, 11, 30)),
        (PartialDate(1994, 3, 7), "1994-03-07", "day", date(1994, 3, 7), date(1994, 3, 7)),
    ],
)
def test_text_precision_and_range(
    value: PartialDate, text: str, precision: str, earliest: date, latest: date
) -> None:
    assert str(value) == text
    assert value.precision == precision
    assert value.earliest() == earliest
    assert value.latest() == latest


def test_from_date() -> None:
    assert PartialDate.from_date(date(2001, 9, 4)) == PartialDate(2001, 9, 4)
    assert PartialDate.from_date(datetime(2001, 9, 4, 23, 59)) == PartialDate(2001, 9, 4)


def test_is_frozen_and_hashable() -> None:
    value = PartialDate(1994, 3)
    with pytest.raises(AttributeError):
        value.year = 1995  # type: ignore[misc]
    assert len({value, PartialDate(1994, 3), PartialDate(1994)}) == 2


def test_ordering_is_by_earliest_day_then_latest() -> None:
    values = [
        PartialDate(1995),
        PartialDate(1994, 3, 2),
        PartialDate(1994),
        PartialDate(1994, 3),
        PartialDate(1994, 1, 1),
    ]
    assert sorted(values) == [
        PartialDate(1994, 1, 1),
        PartialDate(1994),
        PartialDate(1994, 3),
        PartialDate(1994, 3, 2),
        PartialDate(1995),
    ]
    assert PartialDate(1994) < PartialDate(1994, 1, 2)
    assert PartialDate(1994, 1, 1) <= PartialDate(1994)
    assert PartialDate(1995) > PartialDate(1994, 12, 31)
    assert PartialDate(1995) >= PartialDate(1995)


def test_ordering_against_other_types_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = PartialDate(1994) < date(1994, 1, 1)  # type: ignore[operator]


@pytest.mark.parametrize("text", [None, "", "  ", "\t\n"])
def test_parse_optional_blank_is_none(text: str | None) -> None:
    assert parse_optional(text) is None


def test_parse_optional_parses_and_refuses() -> None:
    assert parse_optional(" 05.1990 ") == PartialDate(1990, 5)
    with pytest.raises(InvalidDate):
        parse_optional("soon")


# --- properties --------------------------------------------------------------------------


@st.composite
def partial_dates(draw: st.DrawFn) -> PartialDate:
    year = draw(st.integers(1900, 2100))
    precision = draw(st.sampled_from(["year", "month", "day"]))
    if precision == "year":
        return PartialDate(year)
    month = draw(st.integers(1, 12))
    if precision == "month":
        return PartialDate(year, month)
    day = draw(st.integers(1, calendar.monthrange(year, month)[1]))
    return PartialDate(year, month, day)


@given(partial_dates())
def test_str_parse_round_trip(value: PartialDate) -> None:
    assert PartialDate.parse(str(value)) == value
    assert str(PartialDate.parse(str(value))) == str(value)


@given(partial_dates())
def test_dotted_form_parses_to_the_same_date(value: PartialDate) -> None:
    if value.month is None:
        dotted = f"{value.year}"
    elif value.day is None:
        dotted = f"{value.month:02d}.{value.year}"
    else:
        dotted = f"{value.day}.{value.month}.{value.year}"
    assert PartialDate.parse(dotted) == value


@given(partial_dates(), partial_dates())
def test_order_follows_the_range(a: PartialDate, b: PartialDate) -> None:
    assert a.earliest() <= a.latest()
    assert PartialDate.from_date(a.earliest()) <= a <= PartialDate.from_date(a.latest())
    if a.earliest() < b.earliest():
        assert a < b
    assert (a < b) + (a == b) + (a > b) == 1


@given(st.text(max_size=20))
def test_parse_either_returns_a_valid_date_or_raises_invalid_date(text: str) -> None:
    try:
        value = PartialDate.parse(text)
    except InvalidDate:
        return
    assert 1900 <= value.year <= 2100
    assert PartialDate.parse(str(value)) == value
