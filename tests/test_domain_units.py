"""Unit numbers: the five digits, whatever wraps them; nothing when it is not clear."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.units import unit_number


@pytest.mark.parametrize(
    "text",
    [
        "в/ч 12345",
        "В/Ч 12345",
        "ВЧ-12345",
        "в/ч №12345",
        "в/ч № 12345",
        "войсковая часть 12345",
        "Войсковая часть 12345, 2-я рота",
        "військова частина 12345",
        "військова частина А12345",  # Ukrainian numbering has a letter prefix
        "military unit 12345",
        "mil. unit #12345",
        "12345",
        " 12345 ",
        "v/ch 12345",
        "в/ч12345",
        "в/ч 12345 (в/ч 12345)",  # the same number twice is still one unit
        "в/ч 12345, 3 батальон, 1 рота",
        "в/ч 12345, тел. 89161234567",  # a phone number is not a unit
        "в/ч １２３４５",  # full-width digits
    ],
)
def test_finds_the_number_in_any_wrapping(text: str) -> None:
    assert unit_number(text) == "12345"


def test_keeps_leading_zeros() -> None:
    assert unit_number("в/ч 01662") == "01662"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "2nd company",
        "2-я рота",
        "123456",
        "1234",
        "в/ч 1234",
        "в/ч 12345 или 54321",  # two different numbers: we do not guess
        "12345-67890",
        "в/ч 123 45",
        "personal number 1234567890",
    ],
)
def test_none_when_there_is_no_single_five_digit_number(text: str | None) -> None:
    assert unit_number(text) is None


@given(st.text(max_size=40))
def test_result_is_five_ascii_digits_found_in_the_text(text: str) -> None:
    number = unit_number(text)
    if number is not None:
        assert len(number) == 5
        assert number.isascii() and number.isdigit()


@given(st.integers(0, 99999), st.sampled_from(["в/ч ", "ВЧ-", "military unit #", "", "v/ch "]))
def test_any_five_digit_number_is_found(value: int, prefix: str) -> None:
    assert unit_number(f"{prefix}{value:05d}") == f"{value:05d}"
