"""Login, the session token in flask-login's id, roles, and the safe `next` after login."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, request, session
from flask_login import LoginManager, current_user, login_user, logout_user

from pow_registry import clock, db, security
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import Role, User
from pow_registry.services.accounts import PasswordPolicy, Passwords
from pow_registry.services.transactions import reading
from pow_registry.throttle import Backoff

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit() or not token:
        return None
    session = db.session()
    if request.method in db.READ_ONLY_METHODS:  # the request's one read-only transaction
        user = session.get(User, int(raw_id))
    else:
        with reading(session):  # a POST takes the write lock when it writes, not to know who sent it
            user = session.get(User, int(raw_id))
    if user is None or not user.is_active or not hmac.compare_digest(user.session_token, token):
        return None
    return user


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.extensions["pow_registry.passwords"] = Passwords(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
    )

    @app.before_request
    def _session_timeouts() -> None:
        """End a session idle for SESSION_INACTIVITY_SECONDS, or older than PERMANENT_SESSION_LIFETIME.

        The absolute limit matters because every request refreshes the signed cookie: without it
        a copied cookie kept busy would live until the next logout.
        """
        if not current_user.is_authenticated:
            return
        now = clock.timestamp()
        last = _int(session.get("last_seen"), now)
        started = _int(session.get("login_at"), now)
        if (now - last > app.config["SESSION_INACTIVITY_SECONDS"]
                or now - started > app.permanent_session_lifetime.total_seconds()):
            logout_user()
            session.clear()
            return
        session["last_seen"] = now
        session.setdefault("login_at", started)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def start_session(user: User) -> None:
    """A fresh session for a successful login: nothing carried over from before (no fixation)."""
    session.clear()
    login_user(user)
    now = clock.timestamp()
    session["login_at"] = now
    session["last_seen"] = now


def passwords() -> Passwords:
    return current_app.extensions["pow_registry.passwords"]


def password_policy() -> PasswordPolicy:
    config = current_app.config
    return PasswordPolicy(config["PASSWORD_MIN_LENGTH"], config["PASSWORD_MAX_LENGTH"], config["PASSWORD_MIN_STRENGTH"])


def backoff(scope: str, *, per_address: bool = False) -> Backoff:
    """This app's growing delays for failed password checks under `scope` (see throttle.py).

    `per_address` is the cap across accounts: one address spraying guesses over many accounts.
    """
    config = current_app.config
    return Backoff(
        storage=security.limiter(current_app).storage,
        scope=scope,
        secret=str(config["SECRET_KEY"]).encode(),
        free=int(config["LOGIN_THROTTLE_ADDRESS_FREE_FAILURES" if per_address else "LOGIN_THROTTLE_FREE_FAILURES"]),
        max_delay=int(config["LOGIN_THROTTLE_MAX_DELAY_SECONDS"]),
        window=int(config["LOGIN_THROTTLE_WINDOW_SECONDS"]),
    )


def audit_key() -> bytes:
    return current_app.config["AUDIT_KEY_BYTES"]


def actor() -> User:
    """The logged-in user as a row of this request's session."""
    user = current_user._get_current_object()  # noqa: SLF001 - flask-login's proxy
    if not isinstance(user, User):
        abort(401)
    return user


def roles_required(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Narrow an endpoint below its blueprint's roles (web/__init__.py is the one list)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        view.required_roles = set(roles)  # type: ignore[attr-defined]

        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return view(*args, **kwargs)

        wrapped.required_roles = set(roles)  # type: ignore[attr-defined]
        return wrapped

    return decorator


def _same_site_path(target: str, *, allow_space: bool = False) -> bool:
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    # Browsers drop tabs and line breaks anywhere in a URL: "/\t/evil" is "//evil" to them.
    if any(ord(c) < 0x20 or ord(c) == 0x7F or (c == " " and not allow_space) for c in target):
        return False
    parts = urlsplit(target)
    return not (parts.scheme or parts.netloc)


def safe_next(target: str | None) -> str | None:
    """Only a same-site absolute path; `http:evil.com`, `//evil`, `/\\evil` are refused.

    Every decoded form must pass too (`/%5Cevil.com`, `/%2F%2Fevil.com`, `/%255Cevil.com`): a
    proxy or a browser that decodes the path before resolving it must not leave the site either.
    """
    if not target or len(target) > 2000:
        return None
    candidate = target
    for _ in range(3):
        if not _same_site_path(candidate, allow_space=candidate is not target):
            return None
        decoded = unquote(candidate)
        if decoded == candidate:
            return target
        candidate = decoded
    return None  # still encoded after three rounds: nobody needs that


def remote_address() -> str:
    """Who is asking, as every limit and throttle counts it: the client's address, and for IPv6
    its /64, which one subscriber usually holds whole (an address per request from it would
    otherwise be a fresh budget per request)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
