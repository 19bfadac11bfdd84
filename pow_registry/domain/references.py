"""Inquiry references and access codes that a family can read aloud, type and mistype safely.

Both use Crockford's base32 alphabet: no I, L, O or U, so nothing is confused with 1 or 0 (or
spells a word), and a mistyped O, I or L is read as 0, 1 and 1. A reference (`INQ-7KD2-9QXM`,
40 random bits) names an inquiry and is not a secret. The access code (80 random bits) is shown
once and stored only as an HMAC with a server key: a fast keyed hash is enough for a random code
of this length, and a slow KDF would let anyone exhaust the CPU (security.md, "The family's
page"; domain.md, "Inquiry").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "ACCESS_CODE_GROUPS",
    "ALPHABET",
    "MIN_KEY_LENGTH",
    "REFERENCE_PREFIX",
    "access_code_digest",
    "access_code_matches",
    "new_access_code",
    "new_reference",
    "normalise_access_code",
    "normalise_reference",
]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: 32 symbols, 5 bits each
REFERENCE_PREFIX = "INQ"
REFERENCE_GROUPS = 2  # 2 x 4 symbols = 40 bits
ACCESS_CODE_GROUPS = 4  # 4 x 4 symbols = 80 bits
GROUP_SIZE = 4
MIN_KEY_LENGTH = 16
# Longer input is refused before any work: nobody types 64 characters for a 19-character code.
_MAX_INPUT_LENGTH = 64

_SYMBOLS = frozenset(ALPHABET)
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_IGNORED = re.compile(r"[\s\-]+")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# Hashed in place of a malformed code so a wrong-looking code costs the same as a wrong one.
_DUMMY_CODE = "-".join(["0" * GROUP_SIZE] * ACCESS_CODE_GROUPS)


def _random_symbols(count: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(count))


def _group(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_SIZE] for i in range(0, len(symbols), GROUP_SIZE))


def _compact(text: object) -> str | None:
    """Upper-case ASCII without spaces and hyphens, or None if it cannot be a code at all."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT_LENGTH or not text.isascii():
        return None
    return _IGNORED.sub("", text).upper()


def _symbols(text: str, count: int) -> str | None:
    """`count` Crockford symbols after the O/I/L aliases, or None."""
    if len(text) != count:
        return None
    text = text.translate(_CROCKFORD_ALIASES)
    if not all(char in _SYMBOLS for char in text):
        return None
    return text


def new_reference() -> str:
    """A fresh random reference such as `INQ-7KD2-9QXM` (uniqueness is the database's job)."""
    return f"{REFERENCE_PREFIX}-{_group(_random_symbols(REFERENCE_GROUPS * GROUP_SIZE))}"


def normalise_reference(text: str) -> str | None:
    """The canonical `INQ-XXXX-XXXX` form of what a family typed, or None if malformed.

    Case, spaces and hyphens do not matter and the `INQ` prefix may be left out.
    """
    compact = _compact(text)
    if compact is None:
        return None
    count = REFERENCE_GROUPS * GROUP_SIZE
    if len(compact) == len(REFERENCE_PREFIX) + count and compact.startswith(REFERENCE_PREFIX):
        compact = compact[len(REFERENCE_PREFIX) :]
    symbols = _symbols(compact, count)
    if symbols is None:
        return None
    return f"{REFERENCE_PREFIX}-{_group(symbols)}"


def new_access_code() -> str:
    """A fresh 80-bit access code, `XXXX-XXXX-XXXX-XXXX`, to show the family once."""
    return _group(_random_symbols(ACCESS_CODE_GROUPS * GROUP_SIZE))


def normalise_access_code(text: str) -> str | None:
    """The canonical `XXXX-XXXX-XXXX-XXXX` form of a typed code, or None if malformed."""
    compact = _compact(text)
    if compact is None:
        return None
    symbols = _symbols(compact, ACCESS_CODE_GROUPS * GROUP_SIZE)
    return None if symbols is None else _group(symbols)


def _check_key(key: bytes) -> None:
    # A missing or short server key is a configuration error and must never pass silently.
    if not isinstance(key, bytes) or len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"The access-code key must be at least {MIN_KEY_LENGTH} bytes.")


def _hmac_hex(normalised: str, key: bytes) -> str:
    return hmac.new(key, normalised.encode("ascii"), hashlib.sha256).hexdigest()


def access_code_digest(code: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised code: what is stored instead of the code."""
    _check_key(key)
    normalised = normalise_access_code(code)
    if normalised is None:
        raise ValueError("Malformed access code.")
    return _hmac_hex(normalised, key)


def access_code_matches(code: str, digest: str, key: bytes) -> bool:
    """Whether a typed code matches a stored digest; False, never an error, for bad input.

    A malformed code or digest still costs one HMAC and one constant-time comparison, so the
    answer takes the same work either way. (An unknown reference should likewise be checked
    against a dummy digest by the caller.)
    """
    _check_key(key)
    normalised = normalise_access_code(code)
    code_ok = normalised is not None
    digest_ok = isinstance(digest, str) and _HEX_DIGEST.fullmatch(digest) is not None
    computed = _hmac_hex(normalised if normalised is not None else _DUMMY_CODE, key)
    expected = digest if digest_ok else "0" * len(computed)
    same = hmac.compare_digest(computed, expected)
    return same and code_ok and digest_ok
