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
