"""Requesters' phones: explicit default region, valid (not just possible), E.164 plus raw input.

All numbers are fictitious: Russian +7 999 000-xx-xx, Kazakh +7 701 000 xxxx and Ukrainian
+380 67 000 xxxx, built to pass phonenumbers' range checks only.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.phones import (
    MAX_PHONE_LENGTH,
    InvalidPhone,
    PhoneNumber,
    parse_phone,
    parse_phones,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164", "number_region"),
    [
        ("8 999 000-00-01", "RU", "+79990000001", "RU"),  # Russian trunk 8 needs region RU
        ("8 (999) 000-00-01", "RU", "+79990000001", "RU"),
        ("89990000001", "RU", "+79990000001", "RU"),
        ("+7 999 000 00 01", "RU", "+79990000001", "RU"),
        ("+7 999 000 00 01", "UA", "+79990000001", "RU"),  # the + overrides the default
        ("+7 701 000 0001", "RU", "+77010000001", "KZ"),  # +7 7xx is Kazakhstan
        ("8 701 000 0001", "KZ", "+77010000001", "KZ"),
        ("+380 67 000 0001", "RU", "+380670000001", "UA"),
        ("067 000 0001", "UA", "+380670000001", "UA"),
        ("+380.67.000.00.01", "UA", "+380670000001", "UA"),
        ("+7\u00a0999\u00a0000-00-01", "RU", "+79990000001", "RU"),  # pasted no-break spaces
    ],
)
def test_accepted_numbers(raw: str, region: str, e164: str, number_region: str) -> None:
    assert parse_phone(raw, region) == PhoneNumber(raw=raw, e164=e164, region=number_region)


def test_raw_keeps_the_input_stripped_of_surrounding_whitespace_only() -> None:
    phone = parse_phone("  \t8 (999) 000-00-01 \n", "RU")
    assert phone.raw == "8 (999) 000-00-01"
    assert phone.e164 == "+79990000001"


def test_the_default_region_decides_how_a_national_number_is_read() -> None:
    # The same digits without + mean different countries depending on the default region.
    assert parse_phone("0670000001", "UA").e164 == "+380670000001"
    with pytest.raises(InvalidPhone):
        parse_phone("0670000001", "RU")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+7 000 000 00 00", "RU"),  # possible (right length) but no such range
        ("8 000 000 00 00", "RU"),
        ("+380 00 000 0000", "UA"),
        ("8 999 000", "RU"),  # too short
        ("+7 999 000 00 01 23 45", "RU"),  # too long
        ("999", "RU"),
        ("+", "RU"),
        ("+++", "RU"),
        ("()-.", "RU"),
    ],
)
def test_invalid_numbers_are_refused(raw: str, region: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(raw, region)


@pytest.mark.parametrize(
    "raw",
    [
        "8 999 000-00-01 ext 5",
        "8 999 000-00-01 x5",
        "8 999 000-00-01 доб. 5",
        "+7 999 ООО 00 01",  # Cyrillic О instead of zeros
        "+7 999 000 00 0l",
        "eight nine nine nine",
        "1-800-FLOWERS",
    ],
)
def test_letters_and_extensions_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone, match="letters"):
        parse_phone(raw, "RU")


@pytest.mark.parametrize(
    "raw",
    [
        "+7 999 000\u200b00 01",  # zero-width space
        "+7 999 000\x0000 01",
        "+7 999 000/00/01",
        "+٧ ٩٩٩ ٠٠٠ ٠٠ ٠١",  # Arabic-Indic digits
        "+7 999 000 00 01\n+7 999 000 00 02",  # a line break belongs to parse_phones
    ],
)
def test_other_characters_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(raw, "RU")


@pytest.mark.parametrize("raw", ["", "   ", "\n\t"])
def test_empty_input_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone, match="empty"):
        parse_phone(raw, "RU")


def test_over_long_input_is_refused_before_parsing() -> None:
    # Inner padding counts (surrounding whitespace is stripped first).
    longest = "+7" + " " * (MAX_PHONE_LENGTH - 12) + "9990000001"
    assert len(longest) == MAX_PHONE_LENGTH
    assert parse_phone(longest, "RU").e164 == "+79990000001"
    with pytest.raises(InvalidPhone, match="longer"):
        parse_phone("+7 " + longest[2:], "RU")
    with pytest.raises(InvalidPhone, match="longer"):
        parse_phone("1" * 10_000, "RU")


def test_an_unknown_default_region_is_a_programming_error_not_a_field_error() -> None:
    for region in ("", "XX", "ru", "ZZ"):
        with pytest.raises(ValueError) as caught:
            parse_phone("+7 999 000 00 01", region)
        assert not isinstance(caught.value, InvalidPhone)


@pytest.mark.parametrize(
    ("text", "e164s"),
    [
        ("8 999 000-00-01, +380 67 000 0001", ["+79990000001", "+380670000001"]),
        ("8 999 000-00-01; +7 701 000 0001", ["+79990000001", "+77010000001"]),
        ("8 999 000-00-01\n+7 701 000 0001\r\n", ["+79990000001", "+77010000001"]),
        (" 8 999 000-00-01 ,, ;\n\n", ["+79990000001"]),
        ("", []),
    ],
)
def test_several_numbers_in_one_field(text: str, e164s: list[str]) -> None:
    parsed, errors = parse_phones(text, "RU")
    assert [phone.e164 for phone in parsed] == e164s
    assert errors == []


def test_duplicates_are_removed_keeping_the_first_as_typed() -> None:
    parsed, errors = parse_phones("8 999 000-00-01, +7 (999) 000-00-01; 89990000001", "RU")
    assert parsed == [PhoneNumber(raw="8 999 000-00-01", e164="+79990000001", region="RU")]
    assert errors == []


def test_bad_pieces_are_reported_beside_the_good_ones() -> None:
    parsed, errors = parse_phones("call me, 8 999 000-00-01; +7 000 000 00 00", "RU")
    assert [phone.e164 for phone in parsed] == ["+79990000001"]
    assert [raw for raw, _ in errors] == ["call me", "+7 000 000 00 00"]
    assert all(message for _, message in errors)


_REGIONS = st.sampled_from(["RU", "UA", "KZ", "BY", "GB"])
_PHONEISH = st.text(alphabet="0123456789+-(). \u00a0xX", max_size=50)


@given(raw=st.one_of(st.text(max_size=60), _PHONEISH), region=_REGIONS)
def test_parse_phone_raises_only_invalid_phone(raw: str, region: str) -> None:
    try:
        phone = parse_phone(raw, region)
    except InvalidPhone as exc:
        assert str(exc)
    else:
        assert phone.raw == raw.strip()
        assert phone.e164.startswith("+")
        assert phone.e164[1:].isdigit()
        assert parse_phone(phone.e164, region) == PhoneNumber(phone.e164, phone.e164, phone.region)


@given(text=st.text(max_size=200), region=_REGIONS)
def test_parse_phones_never_raises_and_never_repeats(text: str, region: str) -> None:
    parsed, errors = parse_phones(text, region)
    e164s = [phone.e164 for phone in parsed]
    assert len(e164s) == len(set(e164s))
    assert all(raw and raw == raw.strip() and message for raw, message in errors)


@given(digits=st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_every_russian_999_number_is_accepted_in_both_forms(digits: str) -> None:
    national = parse_phone(f"8 999 {digits}", "RU")
    international = parse_phone(f"+7 999 {digits}", "KZ")
    assert national.e164 == international.e164 == f"+7999{digits}"
    assert national.region == international.region == "RU"
