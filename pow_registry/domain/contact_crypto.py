"""A family's contact data at rest: encryption, a keyed blind index for phones, keyed digests.

Families who write to us may live where being in touch with us is dangerous: a stolen backup must
not hand over their names, phone numbers and emails (security.md, "Family data"). The keys live
outside the database and are independent of SECRET_KEY:

- `CONTACT_DATA_KEYS`: Fernet keys (AES-128-CBC + HMAC-SHA256, authenticated). The first one
  encrypts; every one decrypts, so an operator rotates by putting a new key first, re-encrypting
  (`pow-registry keys rotate-contact-data`), then dropping the old key.
- `CONTACT_INDEX_KEY`: the HMAC-SHA256 key of the blind index (an E.164 number → a digest the
  database can search on without holding the number) and, under a label of its own, of the
  digests the audit log keeps instead of values. Rotating it means recomputing every index, so it
  is meant to stay.

Pure Python: no Flask, no database.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["ContactCrypto", "ContactKeyError", "InvalidToken", "generate_data_key", "generate_index_key"]

MIN_INDEX_KEY_LENGTH = 32
_INDEX_LABEL = b"pow_registry contact blind index v1\x00"
_DIGEST_LABEL = b"pow_registry contact audit digest v1"


class ContactKeyError(ValueError):
    """A contact-data key is missing or malformed."""


def generate_data_key() -> str:
    return Fernet.generate_key().decode("ascii")


def generate_index_key() -> str:
    return Fernet.generate_key().decode("ascii")  # 32 random bytes, url-safe base64: any text works


class ContactCrypto:
    """Encrypts and decrypts contact fields, computes the blind index and audit digests."""

    def __init__(self, data_keys: Sequence[str | bytes], index_key: str | bytes) -> None:
        if not data_keys:
            raise ContactKeyError("CONTACT_DATA_KEYS is empty: at least one key is needed.")
        fernets = []
        for number, key in enumerate(data_keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ContactKeyError(
                    f"CONTACT_DATA_KEYS key {number} is not a Fernet key (32 bytes, url-safe base64)."
                ) from None
        index = index_key.encode("utf-8") if isinstance(index_key, str) else bytes(index_key)
        if len(index) < MIN_INDEX_KEY_LENGTH:
            raise ContactKeyError(f"CONTACT_INDEX_KEY must be at least {MIN_INDEX_KEY_LENGTH} characters.")
        self._current = fernets[0]
        self._all = MultiFernet(fernets)
        self._index_key = hmac.new(index, _INDEX_LABEL, hashlib.sha256).digest()
        self._digest_key = hmac.new(index, _DIGEST_LABEL, hashlib.sha256).digest()

    # -- encryption ---------------------------------------------------------------------------

    def encrypt(self, value: str) -> str:
        """A token for a non-empty value; an empty value stays empty (nothing to hide)."""
        if not value:
            return ""
        return self._current.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The value under any configured key; InvalidToken when no key opens it."""
        if not token:
            return ""
        return self._all.decrypt(token.encode("ascii")).decode("utf-8")

    def encrypt_bytes(self, value: bytes) -> bytes:
        """A token for a file that holds contact data (an uploaded inquiries spreadsheet)."""
        return self._current.encrypt(value)

    def decrypt_bytes(self, token: bytes) -> bytes:
        """The file under any configured key; InvalidToken when no key opens it."""
        return self._all.decrypt(token)

    def is_current(self, token: str) -> bool:
        """Whether the token is already encrypted with the first key (rotation skips it)."""
        if not token:
            return True
        try:
            self._current.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same value, encrypted with the first key."""
        if not token:
            return ""
        return self._all.rotate(token.encode("ascii")).decode("ascii")

    # -- digests --------------------------------------------------------------------------------

    def blind_index(self, e164: str) -> str:
        """The searchable stand-in of an E.164 number (hex HMAC-SHA256)."""
        return hmac.new(self._index_key, e164.encode("utf-8"), hashlib.sha256).hexdigest()

    def digest(self, field: str, value: str) -> str:
        """A short keyed digest for the audit log: tells two values apart, never gives one away.

        Keyed, so nobody without the index key can test guesses (a phone number has few enough
        possibilities to try them all against a plain hash); 16 hex characters are plenty to see
        that a value changed.
        """
        message = field.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._digest_key, message, hashlib.sha256).hexdigest()[:16]
