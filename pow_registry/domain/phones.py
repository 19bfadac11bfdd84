"""Requesters' phone numbers: checked with phonenumbers, stored in E.164 beside what was typed.

A relative types a number the way it is written at home: the Russian trunk `8 9xx ...` means
nothing without a default region, and `+7 7xx ...` is Kazakhstan, not Russia. So the default
region is always explicit, the region stored is the one of the parsed number, and a number must
be *valid* (an assigned range), not merely possible (the right length). Every problem is an
`InvalidPhone` with a message for the form, never another exception (security.md, "Names and
phones as input"; domain.md, "Inquiry").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

__all__ = ["MAX_PHONE_LENGTH", "InvalidPhone", "PhoneNumber", "parse_phone", "parse_phones"]

MAX_PHONE_LENGTH = 40

# Only what people write inside a number: ASCII digits, a leading plus, the usual punctuation and
# spaces. Anything else (letters, so also extensions, other scripts' digits, control or invisible
# characters) is refused before phonenumbers sees it, because it would otherwise be read
# leniently (`x5` becomes an extension, Arabic-Indic digits become digits).
_ALLOWED = frozenset("0123456789+-(). \t\u00a0")
# Separators between several numbers in one field: comma, semicolon or any line break.
_SEPARATORS = re.compile(r"[,;\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class InvalidPhone(ValueError):
    """The number cannot be accepted; the message can be shown to the user as is."""


@dataclass(frozen=True)
class PhoneNumber:
    """A checked number: `raw` as the requester typed it, `e164` to store and compare, `region`
    (ISO 3166 code, or "001" for non-geographic numbers) taken from the number itself."""

    raw: str
    e164: str
    region: str


def _check_default_region(default_region: str) -> None:
    # A wrong default region is a programming or configuration error, not a field error, so it
    # is a plain ValueError rather than an InvalidPhone.
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"Unknown default region {default_region!r}.")


def _check_characters(raw: str) -> None:
    for char in raw:
        if char in _ALLOWED:
            continue
        if char.isalpha():
            raise InvalidPhone("A phone number must not contain letters or an extension.")
        raise InvalidPhone(
            "A phone number may contain only the digits 0-9, spaces, '+', '-', '(', ')' and '.'."
        )


def parse_phone(raw: str, default_region: str) -> PhoneNumber:
    """Check one number; `default_region` (e.g. "RU") says how to read one without `+`."""
    _check_default_region(default_region)
    if not isinstance(raw, str):
        raise InvalidPhone("The phone number must be text.")
    raw = raw.strip()
    if not raw:
        raise InvalidPhone("The phone number is empty.")
    if len(raw) > MAX_PHONE_LENGTH:
        raise InvalidPhone(f"The phone number is longer than {MAX_PHONE_LENGTH} characters.")
    _check_characters(raw)
    if not any(char.isdigit() for char in raw):
        raise InvalidPhone("The phone number contains no digits.")
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException as exc:
        raise InvalidPhone("This does not look like a phone number.") from exc
    if number.extension:  # unreachable with letters refused; kept as a second line of defence
        raise InvalidPhone("A phone number must not contain letters or an extension.")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("This is not a valid phone number; please check the digits.")
    region = phonenumbers.region_code_for_number(number)
    if not region:  # a valid number always has one; refuse rather than store a blank
        raise InvalidPhone("This is not a valid phone number; please check the digits.")
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneNumber(raw=raw, e164=e164, region=region)


def parse_phones(
    text: str, default_region: str
) -> tuple[list[PhoneNumber], list[tuple[str, str]]]:
    """Check every number in a field where a requester wrote several.

    Numbers are separated by commas, semicolons or line breaks (not spaces: spaces occur inside
    numbers). Returns the accepted numbers in order, without a second copy of the same E.164
    number, and the refused pieces as `(raw, message)` so the form can show each problem.
    """
    _check_default_region(default_region)
    parsed: list[PhoneNumber] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for piece in _SEPARATORS.split(text):
        piece = piece.strip()
        if not piece:
            continue
        try:
            phone = parse_phone(piece, default_region)
        except InvalidPhone as exc:
            errors.append((piece, str(exc)))
            continue
        if phone.e164 not in seen:
            seen.add(phone.e164)
            parsed.append(phone)
    return parsed, errors
