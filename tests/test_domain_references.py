"""Inquiry references and access codes: unambiguous to read aloud, forgiving to type, and an
access code stored only as a keyed hash that is checked without raising or leaking timing."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.references import (
    ALPHABET,
    MIN_KEY_LENGTH,
    access_code_digest,
    access_code_matches,
    new_access_code,
    new_reference,
    normalise_access_code,
    normalise_reference,
)

KEY = b"test-key-" + b"k" * 23
OTHER_KEY = b"test-key-" + b"q" * 23
REFERENCE = re.compile(r"INQ-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
ACCESS_CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){3}")

keys = st.binary(min_size=MIN_KEY_LENGTH, max_size=64)
symbols = st.text(alphabet=ALPHABET, min_size=16, max_size=16)


def test_alphabet_is_crockford_base32() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert ALPHABET == "".join(sorted(ALPHABET))


def test_shapes_of_new_values() -> None:
    assert REFERENCE.fullmatch(new_reference())
    assert ACCESS_CODE.fullmatch(new_access_code())


def test_new_values_are_random() -> None:
    assert len({new_reference() for _ in range(200)}) == 200
    assert len({new_access_code() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INQ-7KD2-9QXM", "INQ-7KD2-9QXM"),
        ("inq-7kd2-9qxm", "INQ-7KD2-9QXM"),
        ("  INQ 7KD2 9QXM ", "INQ-7KD2-9QXM"),
        ("INQ7KD29QXM", "INQ-7KD2-9QXM"),
        ("7KD2-9QXM", "INQ-7KD2-9QXM"),  # prefix left out
        ("7kd29qxm", "INQ-7KD2-9QXM"),
        ("INQ--7KD2--9QXM", "INQ-7KD2-9QXM"),
        ("INQ-O0IL-1o1i", "INQ-0011-1011"),  # Crockford: O is 0, I and L are 1
        ("ILO0-1234", "INQ-1100-1234"),
    ],
)
def test_references_are_normalised(text: str, expected: str) -> None:
    assert normalise_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INQ",
        "INQ-",
        "INQ-7KD2",
        "INQ-7KD2-9QX",
        "INQ-7KD2-9QXMM",
        "INQ-7KD2-9QXU",  # U is not a symbol
        "INQ-7KD2-9QX*",
        "INQ-7KD2_9QXM",
        "ABC-7KD2-9QXM",
        "INQ-7KD2-9QXМ",  # Cyrillic М
        "INQ-７KD2-9QXM",  # full-width digit
        "ınq-7kd2-9qxm",  # dotless i upper-cases to I
        "INQ-7KD2-9QXM" + " " * 60,
        "INQ-7KD2-9QXM-9QXM",
    ],
)
def test_malformed_references_are_none(text: str) -> None:
    assert normalise_reference(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7KD2-9QXM-ABCD-EFGH", "7KD2-9QXM-ABCD-EFGH"),
        ("7kd2 9qxm abcd efgh", "7KD2-9QXM-ABCD-EFGH"),
        ("7KD29QXMABCDEFGH", "7KD2-9QXM-ABCD-EFGH"),
        ("oooo-iiii-llll-0000", "0000-1111-1111-0000"),
    ],
)
def test_access_codes_are_normalised(text: str, expected: str) -> None:
    assert normalise_access_code(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "7KD2-9QXM-ABCD", "7KD2-9QXM-ABCD-EFGHJ", "7KD2-9QXM-ABCD-EFGU", "INQ-7KD2-9QXM", "ﬀ" * 8],
)
def test_malformed_access_codes_are_none(text: str) -> None:
    assert normalise_access_code(text) is None


@given(st.text(max_size=80))
def test_normalisation_never_raises_and_is_idempotent(text: str) -> None:
    for normalise in (normalise_reference, normalise_access_code):
        once = normalise(text)
        if once is not None:
            assert normalise(once) == once
            assert not set("ILOU") & set(once.removeprefix("INQ-"))


@given(st.integers(min_value=0, max_value=20))
def test_new_references_round_trip(_: int) -> None:
    reference = new_reference()
    assert normalise_reference(reference) == reference
    assert normalise_reference(reference.lower().replace("-", " ")) == reference
    assert normalise_reference(normalise_reference(reference) or "") == reference
    assert not set("ILOU") & set(reference.removeprefix("INQ-"))


@given(st.integers(min_value=0, max_value=20))
def test_new_access_codes_round_trip(_: int) -> None:
    code = new_access_code()
    assert normalise_access_code(code) == code
    assert not set("ILOU") & set(code)


def test_digest_is_hmac_sha256_hex_of_the_normalised_code() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"7KD2-9QXM-ABCD-EFGH", hashlib.sha256).hexdigest()
    assert access_code_digest("7kd2 9qxm abcd efgh", KEY) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_digest_of_a_malformed_code_or_with_a_short_key_raises() -> None:
    with pytest.raises(ValueError):
        access_code_digest("not a code", KEY)
    with pytest.raises(ValueError):
        access_code_digest(new_access_code(), b"short")
    with pytest.raises(ValueError):
        access_code_matches(new_access_code(), "0" * 64, b"")


@given(code=symbols, key=keys)
def test_the_code_matches_in_any_typed_form(code: str, key: bytes) -> None:
    digest = access_code_digest(code, key)
    spaced = " ".join(code[i : i + 4] for i in range(0, 16, 4))
    assert access_code_matches(code, digest, key)
    assert access_code_matches(code.lower(), digest, key)
    assert access_code_matches(spaced.lower(), digest, key)
    assert access_code_matches(f"  {spaced}\n", digest, key)


@given(code=symbols, other=symbols, key=keys)
def test_any_other_code_does_not_match(code: str, other: str, key: bytes) -> None:
    digest = access_code_digest(code, key)
    assert access_code_matches(other, digest, key) == (
        normalise_access_code(other) == normalise_access_code(code)
    )


@given(code=symbols, key=keys, other_key=keys)
def test_digests_differ_for_different_keys(code: str, key: bytes, other_key: bytes) -> None:
    if key != other_key:
        assert access_code_digest(code, key) != access_code_digest(code, other_key)
        assert not access_code_matches(code, access_code_digest(code, key), other_key)


@given(code=st.text(max_size=80), digest=st.text(max_size=80))
def test_malformed_input_gives_false_never_an_error(code: str, digest: str) -> None:
    assert access_code_matches(code, digest, KEY) is False


@pytest.mark.parametrize(
    ("code", "digest"),
    [
        ("", None),
        ("not a code", None),
        (None, None),
        (None, "valid"),
        ("valid", ""),
        ("valid", "x" * 64),
        ("valid", "É" * 64),
        ("valid", "upper"),
        ("valid", "short"),
        ("valid", 123),
    ],
)
def test_malformed_code_or_digest_is_false(code: object, digest: object) -> None:
    real_code = "7KD2-9QXM-ABCD-EFGH"
    real_digest = access_code_digest(real_code, KEY)
    code = real_code if code == "valid" else code
    digest = {
        None: real_digest,
        "upper": real_digest.upper(),
        "short": real_digest[:-1],
    }.get(digest, digest)  # type: ignore[arg-type]
    assert access_code_matches(code, digest, KEY) is False  # type: ignore[arg-type]


def test_a_wrong_code_and_a_malformed_code_do_the_same_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pow_registry.domain.references as references

    calls: list[str] = []
    real_hmac = references._hmac_hex
    real_compare = references.hmac.compare_digest

    def counting_hmac(normalised: str, key: bytes) -> str:
        calls.append("hmac")
        return real_hmac(normalised, key)

    def counting_compare(a: str, b: str) -> bool:
        calls.append("compare")
        return real_compare(a, b)

    monkeypatch.setattr(references, "_hmac_hex", counting_hmac)
    monkeypatch.setattr(references.hmac, "compare_digest", counting_compare)
    digest = access_code_digest("7KD2-9QXM-ABCD-EFGH", KEY)
    for code, stored in [
        ("7KD2-9QXM-ABCD-EFGH", digest),
        ("0000-0000-0000-0000", digest),
        ("rubbish", digest),
        ("7KD2-9QXM-ABCD-EFGH", "not hex"),
    ]:
        calls.clear()
        access_code_matches(code, stored, KEY)
        assert calls == ["hmac", "compare"]
