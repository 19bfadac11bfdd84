"""Exchange-list categories and priority: what negotiators ask for, and why each man is where he is."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.exchange import SoughtMan, age_on, days_in_captivity, priority

TODAY = date(2026, 11, 22)


def man(**fields: object) -> SoughtMan:
    values: dict[str, object] = {"health": "unknown", "service_category": None, "date_of_birth": None,
                                 "capture_date": None, "has_inquiry": False, **fields}
    return SoughtMan(**values)  # type: ignore[arg-type]


def test_age_from_a_partial_birth_date_is_a_range() -> None:
    assert age_on("2005-03-12", TODAY) == (21, 21)
    assert age_on("2005", TODAY) == (20, 21)
    assert age_on("2005-12", TODAY) == (20, 20)
    assert age_on("2008-02", TODAY) == (18, 18)
    assert age_on(None, TODAY) is None
    assert age_on("not a date", TODAY) is None


def test_young_only_when_every_possible_age_is_18_to_25() -> None:
    assert "young" in priority(man(date_of_birth="2005"), TODAY).categories
    assert "young" not in priority(man(date_of_birth="2000"), TODAY).categories  # 25 or 26
    assert "young" not in priority(man(date_of_birth="2009-01-01"), TODAY).categories  # 17
    assert "young" not in priority(man(), TODAY).categories


def test_the_seriously_wounded_and_sick_come_first() -> None:
    wounded = priority(man(health="seriously_wounded"), TODAY)
    everything_else = priority(man(date_of_birth="2005", service_category="conscript", capture_date="2024-08-06",
                                   has_inquiry=True), TODAY)
    assert wounded.categories == ("seriously_wounded_or_sick",)
    assert set(everything_else.categories) == {"young", "conscript", "long_captivity", "with_inquiry"}
    assert wounded.points > everything_else.points
    assert priority(man(health="wounded"), TODAY).categories == ()


def test_every_point_has_its_reason() -> None:
    result = priority(man(health="sick", date_of_birth="2005-03-12", service_category="conscript",
                          capture_date="2024-08-10", has_inquiry=True), TODAY)
    assert sum(points for _reason, points in result.reasons) == result.points
    codes = [reason for reason, _points in result.reasons]
    assert codes[:3] == ["health:sick", "age:21", "conscript"]
    assert "captivity_days:834" in codes and "days:834" in codes


def test_longer_captivity_orders_equals() -> None:
    earlier = priority(man(capture_date="2024-08-06"), TODAY)
    later = priority(man(capture_date="2025-10-01"), TODAY)
    assert earlier.points > later.points
    assert days_in_captivity("2026-12-01", TODAY) == 0  # a date in the future is no captivity


@given(st.sampled_from(["unknown", "healthy", "wounded", "seriously_wounded", "sick"]),
       st.one_of(st.none(), st.sampled_from(["conscript", "contract", "mobilised"])),
       st.one_of(st.none(), st.dates(date(1960, 1, 1), date(2012, 12, 31)).map(str)),
       st.one_of(st.none(), st.dates(date(2022, 1, 1), date(2026, 11, 22)).map(str)),
       st.booleans())
def test_priority_is_the_sum_of_its_reasons(health: str, category: str | None, dob: str | None,
                                           captured: str | None, inquiry: bool) -> None:
    result = priority(SoughtMan(health, category, dob, captured, inquiry), TODAY)
    assert result.points == sum(points for _reason, points in result.reasons) >= 0
    assert len(set(result.categories)) == len(result.categories)


# --- the calendar at its edges: every rule that reads "today" has a test at its boundary --------

def test_a_man_is_18_on_his_birthday_and_not_the_day_before() -> None:
    assert age_on("2008-03-12", date(2026, 3, 11)) == (17, 17)
    assert age_on("2008-03-12", date(2026, 3, 12)) == (18, 18)
    assert "young" not in priority(man(date_of_birth="2008-03-12"), date(2026, 3, 11)).categories
    assert "young" in priority(man(date_of_birth="2008-03-12"), date(2026, 3, 12)).categories
    # ... and no longer young on his 26th birthday
    assert "young" in priority(man(date_of_birth="2000-03-12"), date(2026, 3, 11)).categories
    assert "young" not in priority(man(date_of_birth="2000-03-12"), date(2026, 3, 12)).categories


def test_born_on_29_february_he_comes_of_age_on_28_february_in_a_common_year() -> None:
    assert age_on("2008-02-29", date(2026, 2, 27)) == (17, 17)
    assert age_on("2008-02-29", date(2026, 2, 28)) == (18, 18)
    assert age_on("2008-02-29", date(2028, 2, 28)) == (19, 19)  # a leap year has his own day
    assert age_on("2008-02-29", date(2028, 2, 29)) == (20, 20)
    assert age_on("2004-02-29", date(2030, 2, 28)) == (26, 26)


def test_a_year_alone_is_young_only_while_every_day_of_it_is() -> None:
    # born some day in 2008: certainly 18 only on 31 December 2026, certainly not 26 until 1 January 2034
    assert "young" not in priority(man(date_of_birth="2008"), date(2026, 12, 30)).categories
    assert "young" in priority(man(date_of_birth="2008"), date(2026, 12, 31)).categories
    assert "young" in priority(man(date_of_birth="2008"), date(2033, 12, 31)).categories
    assert "young" not in priority(man(date_of_birth="2008"), date(2034, 1, 1)).categories
    # a month alone: from its last day
    assert "young" not in priority(man(date_of_birth="2008-02"), date(2026, 2, 27)).categories
    assert "young" in priority(man(date_of_birth="2008-02"), date(2026, 2, 28)).categories


def test_long_captivity_starts_on_the_180th_day() -> None:
    assert days_in_captivity("2024-08-10", date(2025, 2, 5)) == 179
    assert "long_captivity" not in priority(man(capture_date="2024-08-10"), date(2025, 2, 5)).categories
    assert days_in_captivity("2024-08-10", date(2025, 2, 6)) == 180
    assert "long_captivity" in priority(man(capture_date="2024-08-10"), date(2025, 2, 6)).categories
    # 2024 is a leap year: 29 February counts
    assert days_in_captivity("2024-02-28", date(2024, 3, 1)) == 2


def test_a_partial_capture_date_counts_only_the_days_he_was_certainly_held() -> None:
    # "August 2024" may be the 31st: half a year is certain from 27 February 2025
    assert days_in_captivity("2024-08", date(2025, 2, 26)) == 179
    assert "long_captivity" not in priority(man(capture_date="2024-08"), date(2025, 2, 26)).categories
    assert "long_captivity" in priority(man(capture_date="2024-08"), date(2025, 2, 27)).categories
    assert days_in_captivity("2024", date(2025, 6, 29)) == 180  # from 31 December 2024
    assert days_in_captivity("2024-08-10", date(2024, 8, 10)) == 0
    assert days_in_captivity("2024-08-10", date(2024, 8, 9)) == 0  # captured tomorrow: not yet


_DOB = st.one_of(st.dates(date(1990, 1, 1), date(2015, 12, 31)).map(str),
                 st.dates(date(1990, 1, 1), date(2015, 12, 31)).map(lambda d: f"{d.year:04d}-{d.month:02d}"),
                 st.integers(1990, 2015).map(str))


@given(_DOB, st.dates(date(2020, 1, 1), date(2040, 12, 31)))
def test_young_means_18_to_25_on_every_day_the_birth_date_can_mean(dob: str, today: date) -> None:
    from datetime import timedelta

    from pow_registry.domain.dates import PartialDate

    born = PartialDate.parse(dob)
    days = [born.earliest() + timedelta(days=n) for n in range((born.latest() - born.earliest()).days + 1)]
    ages = {age_on(str(day), today)[0] for day in days}  # type: ignore[index]
    assert age_on(dob, today) == (min(ages), max(ages))
    assert ("young" in priority(man(date_of_birth=dob), today).categories) == all(18 <= a <= 25 for a in ages)


@given(st.one_of(st.dates(date(2022, 1, 1), date(2030, 12, 31)).map(str), st.integers(2022, 2030).map(str)),
       st.dates(date(2022, 1, 1), date(2032, 12, 31)), st.integers(0, 1000))
def test_captivity_never_shrinks_as_time_passes(captured: str, today: date, later: int) -> None:
    from datetime import timedelta

    first = days_in_captivity(captured, today)
    second = days_in_captivity(captured, today + timedelta(days=later))
    assert first is not None and second is not None and 0 <= first <= second <= first + later
