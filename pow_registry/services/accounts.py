"""Accounts: argon2id passwords, roles, session tokens that end every session when rotated."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select
from zxcvbn import zxcvbn

from pow_registry.models import Role, User, utcnow
from pow_registry.services import audit
from pow_registry.services.errors import N_, Conflict, FieldErrors, Msg, NotFound
from pow_registry.services.transactions import reading

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


@dataclass
class PasswordPolicy:
    """NIST SP 800-63B: a minimum length, no composition rules, and a refusal of passwords that
    are common or derived from the account itself.

    `min_strength` is zxcvbn's score (0-4): below 3 (about 10^8 guesses) means the password is
    on or near its lists of common passwords, words and names, a keyboard walk, a date or a
    repetition.
    """

    min_length: int = 12
    max_length: int = 256
    min_strength: int = 3


# zxcvbn refuses more than 72 characters (its work grows with the length); a strong start makes a
# strong password.
_STRENGTH_CHECKED_CHARACTERS = 72
# zxcvbn keeps the user inputs of the current check in a module-level dictionary: one check at a time.
_STRENGTH_LOCK = threading.Lock()
# A local part this short ("a@...", "li@...") would refuse most passwords; the whole email still counts.
_MIN_LOCAL_PART = 3


class Passwords:
    """argon2id hashing with a dummy check for unknown accounts (no timing oracle)."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 2) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def new_session_token() -> str:
    return secrets.token_hex(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str, policy: PasswordPolicy, email: str) -> str | None:
    """Why this password is refused for the account with this email, or None."""
    if len(password) < policy.min_length:
        return Msg(N_("The password must be at least %(n)d characters long."), n=policy.min_length)
    if len(password) > policy.max_length:
        return Msg(N_("The password must be at most %(n)d characters long."), n=policy.max_length)
    if not password.strip():
        return N_("The password cannot be only spaces.")
    if len(set(password)) == 1:
        return N_("The password cannot be one character repeated.")
    folded = password.casefold()
    email = normalise_email(email).casefold()
    local = email.partition("@")[0]
    if (email and email in folded) or (len(local) >= _MIN_LOCAL_PART and local in folded):
        return N_("The password must not contain the account's email address or its part before the @.")
    inputs = [email, local, *re.split(r"[^\w]+", local)]
    with _STRENGTH_LOCK:
        strength = zxcvbn(password[:_STRENGTH_CHECKED_CHARACTERS], user_inputs=[i for i in inputs if i])
    if int(strength["score"]) < policy.min_strength:
        return N_("This password is too common or too easy to guess. "
                  "A few unrelated words make a strong password that is easy to remember.")
    return None


def parse_roles(values: list[str]) -> list[Role]:
    roles = []
    for value in values:
        try:
            roles.append(Role(value))
        except ValueError:
            raise FieldErrors({"roles": N_("Unknown role.")}) from None
    if not roles:
        raise FieldErrors({"roles": N_("Choose at least one role.")})
    return sorted(set(roles), key=lambda r: r.value)


def get_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == normalise_email(email))).first()


def create_user(
    *,
    session: Session,
    actor: User | None,
    audit_key: bytes,
    passwords: Passwords,
    policy: PasswordPolicy,
    email: str,
    password: str,
    roles: list[str],
    display_name: str = "",
    preferred_language: str = "ru",
    must_change_password: bool = False,
) -> User:
    """A new account. `must_change_password`: an admin chose the password in the web UI (its
    owner replaces it at first sign-in); an operator's `users create` sets one of their own."""
    errors: dict[str, str] = {}
    email = normalise_email(email)
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = N_("Enter a valid email address.")
    elif get_by_email(session, email):
        errors["email"] = N_("An account with this email already exists.")
    problem = check_password(password, policy, email)
    if problem:
        errors["password"] = problem
    try:
        role_list = parse_roles(roles)
    except FieldErrors as exc:
        errors.update(exc.errors)
        role_list = []
    if errors:
        raise FieldErrors(errors)
    user = User(
        email=email,
        display_name=display_name.strip()[:200],
        password_hash=passwords.hash(password),
        roles=",".join(r.value for r in role_list),
        session_token=new_session_token(),
        preferred_language=preferred_language if preferred_language in {"ru", "uk", "en"} else "ru",
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    audit.record(session, key=audit_key, actor=actor or user, action="user.create", entity_type="user",
                 entity_id=user.id, changes={"email": [None, email], "roles": [None, user.roles]})
    session.commit()
    return user


def authenticate(*, session: Session, passwords: Passwords, email: str, password: str) -> User | None:
    """The same work whether the account exists or not; None on any failure.

    The account is read, and the password hashed, outside any writing transaction: on SQLite a
    write lock held through the hashing would queue every other writer behind each login. The
    bookkeeping written after (the time of sign-in, a stronger hash) is no edit of the account,
    so it neither needs nor bumps the row's version: ten simultaneous logins to one account all
    succeed instead of nine failing on a stale version.
    """
    with reading(session):
        user = get_by_email(session, email) if len(password) <= 1024 else None
    ok = passwords.verify(user.password_hash if user else None, password[:1024])
    if not ok or user is None or not user.is_active:
        return None
    signed_in_at = utcnow()
    session.execute(update(User).where(col(User.id) == user.id).values(last_login_at=signed_in_at))
    rehashed = None
    if passwords.needs_rehash(user.password_hash):
        rehashed = passwords.hash(password)
        # Only over the hash just checked: a password changed meanwhile is not put back.
        session.execute(update(User).where(col(User.id) == user.id, col(User.password_hash) == user.password_hash)
                        .values(password_hash=rehashed))
    session.commit()
    set_committed_value(user, "last_login_at", signed_in_at)
    if rehashed is not None:
        session.refresh(user)
    return user


def rotate_session_token(*, session: Session, user: User) -> None:
    user.session_token = new_session_token()
    session.add(user)
    session.commit()


def change_password(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    passwords: Passwords,
    policy: PasswordPolicy,
    user: User,
    current_password: str | None,
    new_password: str,
) -> None:
    """Self-service needs the current password; an admin resetting someone else's does not."""
    if current_password is not None and not passwords.verify(user.password_hash, current_password):
        raise FieldErrors({"current_password": N_("The current password is not correct.")})
    problem = check_password(new_password, policy, user.email)
    if problem:
        raise FieldErrors({"new_password": problem})
    user.password_hash = passwords.hash(new_password)
    user.session_token = new_session_token()
    # A password someone else chose is known to them: its owner replaces it at next sign-in.
    user.must_change_password = actor.id != user.id
    session.add(user)
    audit.record(session, key=audit_key, actor=actor, action="user.password_change",
                 entity_type="user", entity_id=user.id)
    session.commit()


def update_user(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    user_id: int,
    version: int,
    roles: list[str],
    is_active: bool,
    display_name: str,
) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.version != version:
        raise Conflict()
    role_list = parse_roles(roles)
    if user.id == actor.id and (Role.admin not in role_list or not is_active):
        raise FieldErrors({"roles": N_("You cannot remove your own admin role or deactivate yourself.")})
    before = {"roles": user.roles, "is_active": user.is_active, "display_name": user.display_name}
    user.roles = ",".join(r.value for r in role_list)
    user.display_name = display_name.strip()[:200]
    if user.is_active and not is_active:
        user.session_token = new_session_token()
    user.is_active = is_active
    after = {"roles": user.roles, "is_active": user.is_active, "display_name": user.display_name}
    session.add(user)
    audit.record(session, key=audit_key, actor=actor, action="user.update", entity_type="user",
                 entity_id=user.id, changes=audit.diff(before, after))
    session.commit()
    return user


def set_language(*, session: Session, user: User, language: str) -> None:
    """A preference, not an edit of the account: written without the row's version, so a login
    in another tab or an admin's edit at the same moment does not make either fail."""
    if language in {"ru", "uk", "en"} and user.preferred_language != language:
        session.execute(update(User).where(col(User.id) == user.id).values(preferred_language=language))
        session.commit()
        set_committed_value(user, "preferred_language", language)


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.email))).all())


def issue_api_token(*, session: Session, actor: User | None, audit_key: bytes, user: User) -> str:
    """A new bearer token; only its SHA-256 is stored (random tokens need no slow hash)."""
    token = "pow_" + secrets.token_urlsafe(32)
    user.api_token_hash = hashlib.sha256(token.encode()).hexdigest()
    session.add(user)
    audit.record(session, key=audit_key, actor=actor or user, action="user.api_token",
                 entity_type="user", entity_id=user.id)
    session.commit()
    return token


# --- sign-in events in the audit log (issue 12, finding 5) --------------------------------------


def record_sign_in(*, session: Session, audit_key: bytes, user: User) -> None:
    audit.record(session, key=audit_key, actor=user, action="auth.login", entity_type="user", entity_id=user.id)
    session.commit()


def record_failed_sign_in(*, session: Session, audit_key: bytes, email: str) -> None:
    """A failed sign-in: the email as typed (cut short), the account if there is one; never the
    password, nor whether it was the account or the password that was wrong."""
    typed = (email or "").strip()[:254]
    user = session.exec(select(User).where(func.lower(User.email) == typed.lower())).first() if typed else None
    session.rollback()  # nothing else of this request is written
    audit.record(session, key=audit_key, actor=None, action="auth.login_failed", entity_type="user",
                 entity_id=user.id if user is not None else None, changes={"email": typed})
    session.commit()


def record_sign_out(*, session: Session, audit_key: bytes, user: User) -> None:
    audit.record(session, key=audit_key, actor=user, action="auth.logout", entity_type="user", entity_id=user.id)
    session.commit()
