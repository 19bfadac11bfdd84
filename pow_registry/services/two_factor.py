"""Two-factor sign-in (issue 12): a time-based one-time code (TOTP, RFC 6238, with pyotp) from an
authenticator app, or one of ten single-use recovery codes. Required for the roles in
TWO_FACTOR_ROLES (admins, and staff, who read family data).

The secret is stored encrypted like families' contact data (models.EncryptedText); a code is
accepted once (the time step it belongs to is remembered) and within one step of the clock either
way; recovery codes are kept only as SHA-256 hashes and each works once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import pyotp
import segno
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from pow_registry import clock
from pow_registry.models import Role, User
from pow_registry.services import audit
from pow_registry.services.errors import N_, FieldErrors

__all__ = ["RECOVERY_CODES", "enrol", "enrolled", "new_secret", "provisioning_uri", "qr_svg", "recovery_left",
           "required", "verify"]

RECOVERY_CODES = 10
ISSUER = "pow_registry"
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from paper


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as inline SVG (no script, no external image)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff"))


def enrolled(user: User) -> bool:
    return bool(user.totp_secret)


def required(user: User, roles: list[str]) -> bool:
    return any(user.has_role(Role(role)) for role in roles if role in Role.__members__)


def recovery_left(user: User) -> int:
    return len(json.loads(user.recovery_codes or "[]"))


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _step_of(secret: str, code: str) -> int | None:
    """The time step whose code `code` is, within one step of now either way, or None."""
    totp = pyotp.TOTP(secret)
    now = clock.timestamp()
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if hmac.compare_digest(totp.at(at), code):
            return int(at // totp.interval)
    return None


def verify(session: Session, user: User, code: str) -> bool:
    """A code from the app (once per time step) or an unused recovery code (then used up).
    The caller commits."""
    typed = "".join(ch for ch in (code or "") if not ch.isspace())
    if not user.totp_secret or not typed or len(typed) > 32:
        return False
    if typed.isdigit() and len(typed) == 6:
        step = _step_of(user.totp_secret, typed)
        if step is None or step <= user.totp_last_step:
            return False  # wrong, or already used: a code seen over a shoulder does not work twice
        # Used up in one conditional UPDATE: of two requests with the same code at the same moment
        # exactly one wins, and the other is refused like a used code (not a stale-version error).
        won = session.execute(update(User).where(col(User.id) == user.id, col(User.totp_last_step) < step)
                              .values(totp_last_step=step))
        if won.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
            return False
        set_committed_value(user, "totp_last_step", step)
        return True
    hashes = json.loads(user.recovery_codes or "[]")
    digest = _digest(typed)
    if digest not in hashes:
        return False
    hashes.remove(digest)
    remaining = json.dumps(hashes)
    won = session.execute(update(User).where(col(User.id) == user.id, col(User.recovery_codes) == user.recovery_codes)
                          .values(recovery_codes=remaining))
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(user, "recovery_codes", remaining)
    return True


def _recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def enrol(*, session: Session, actor: User, audit_key: bytes, user: User, secret: str, code: str) -> list[str]:
    """Turn two-factor sign-in on with `secret` once the app shows a right code for it; returns the
    recovery codes, to be shown once (only their hashes are kept)."""
    typed = "".join(ch for ch in (code or "") if not ch.isspace())
    step = _step_of(secret, typed) if typed.isdigit() and len(typed) == 6 else None
    if step is None:
        raise FieldErrors({"code": N_("This code is not right: type the six digits the app shows now.")})
    codes = _recovery_codes()
    user.totp_secret = secret
    user.totp_last_step = step
    user.recovery_codes = json.dumps([_digest(c) for c in codes])
    session.add(user)
    audit.record(session, key=audit_key, actor=actor, action="user.two_factor", entity_type="user",
                 entity_id=user.id, changes={"two_factor": [False, True]})
    session.commit()
    return codes


def enrol_with_secret(session: Session, user: User, secret: str) -> None:
    """For the demo accounts and `users create --totp`: the secret is printed to whoever set it up
    (no recovery codes; the caller audits and commits)."""
    pyotp.TOTP(secret).now()  # a valid base32 secret or an error here, not at sign-in
    user.totp_secret = secret
    user.totp_last_step = 0
    session.add(user)
