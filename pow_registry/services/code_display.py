"""One submission, one inquiry; the access code shown exactly once (issue 11, finding 4).

A form that issues a code carries a one-time token. Its first POST does the work and leaves the
code here, sealed (Fernet, with a key derived from the access-code key), then redirects; the
page after the redirect shows it once and erases it. Any later POST with the same token (a
reload, Back and resend, a double click) finds the record and only redirects again, so nothing
is created twice, and the code is never in a URL, a flash message or the session cookie: the
session holds only the token, which is worthless once the code was shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.models import CodeDisplay, Inquiry

__all__ = ["KEEP_UNSHOWN", "Shown", "find", "issue_once", "new_token", "record", "show_once", "valid_token"]

#: A code nobody came to see within this time is erased unseen (staff can re-issue one).
KEEP_UNSHOWN = timedelta(hours=1)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def valid_token(token: str | None) -> bool:
    return bool(token) and _TOKEN.fullmatch(token or "") is not None


def _digest(key: bytes, token: str) -> str:
    return hmac.new(key, b"code-display:" + token.encode("ascii"), hashlib.sha256).hexdigest()


def _fernet(key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"pow_registry code display seal").derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def find(session: Session, *, key: bytes, token: str) -> CodeDisplay | None:
    """The submission this token already made, if any."""
    return session.exec(select(CodeDisplay).where(CodeDisplay.token_digest == _digest(key, token))).first()


def record(session: Session, *, key: bytes, token: str, inquiry_id: int, code: str, kind: str) -> CodeDisplay:
    """Remember the submission and its sealed code, in the caller's transaction (the unique token
    makes a racing duplicate fail at commit). Codes left unseen too long are erased on the way."""
    now = clock.now()
    session.exec(update(CodeDisplay).where(col(CodeDisplay.shown_at).is_(None),  # type: ignore[call-overload]
                                           col(CodeDisplay.sealed_code).is_not(None),
                                           col(CodeDisplay.created_at) < now - KEEP_UNSHOWN)
                 .values(sealed_code=None))
    row = CodeDisplay(token_digest=_digest(key, token), inquiry_id=inquiry_id, kind=kind,
                      sealed_code=_fernet(key).encrypt(code.encode("ascii")).decode("ascii"), created_at=now)
    session.add(row)
    return row


def issue_once(session: Session, *, key: bytes, token: str, kind: str, issue: Callable[[], tuple[int, str]]) -> None:
    """Do `issue` once per token and commit it with its sealed code. `issue` writes without
    committing and returns (inquiry id, access code); a FieldErrors it raises goes to the caller.
    A second send of the same form (sequential, or racing this one to the commit) does nothing."""
    if find(session, key=key, token=token) is not None:
        return
    inquiry_id, code = issue()
    record(session, key=key, token=token, inquiry_id=inquiry_id, code=code, kind=kind)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        if find(session, key=key, token=token) is None:
            raise  # not the other send of this form: a real error


@dataclass(frozen=True)
class Shown:
    inquiry: Inquiry
    kind: str
    code: str | None  # None: it was shown already (or left unseen too long), never again


def show_once(session: Session, *, key: bytes, token: str | None) -> Shown | None:
    """The code of this token's submission, the first time only; None for an unknown token."""
    if not valid_token(token):
        return None
    assert token is not None
    row = find(session, key=key, token=token)
    if row is None:
        return None
    inquiry = session.get(Inquiry, row.inquiry_id)
    if inquiry is None:
        return None
    code = None
    if row.sealed_code is not None and row.shown_at is None and row.created_at + KEEP_UNSHOWN > clock.now():
        try:
            code = _fernet(key).decrypt(row.sealed_code.encode("ascii")).decode("ascii")
        except InvalidToken:  # another key since: the code is lost, staff can re-issue
            code = None
    row.sealed_code, row.shown_at = None, row.shown_at or clock.now()
    session.add(row)
    session.commit()
    return Shown(inquiry, row.kind, code)
