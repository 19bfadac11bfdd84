"""Login, the session token in flask-login's id, roles, and the safe `next` after login."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request, session
from flask_login import LoginManager, current_user, logout_user

from pow_registry import db
from pow_registry.models import Role, User
from pow_registry.services.accounts import PasswordPolicy, Passwords
from pow_registry.i18n import lazy_gettext as _l

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    raw_id, _, token = user_id.partition(":")
    if not raw_id.isdigit() or not token:
        return None
    user = db.session().get(User, int(raw_id))
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
    def _inactivity_timeout() -> None:
        if not current_user.is_authenticated:
            return
        now = int(time.time())
        last = session.get("last_seen", now)
        if now - int(last) > app.config["SESSION_INACTIVITY_SECONDS"]:
            logout_user()
            session.clear()
            return
        session["last_seen"] = now


def passwords() -> Passwords:
    return current_app.extensions["pow_registry.passwords"]


def password_policy() -> PasswordPolicy:
    return PasswordPolicy(current_app.config["PASSWORD_MIN_LENGTH"], current_app.config["PASSWORD_MAX_LENGTH"])


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


def safe_next(target: str | None) -> str | None:
    """Only a same-site absolute path; `http:evil.com`, `//evil`, `/\\evil` are refused."""
    if not target or len(target) > 2000:
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def remote_address() -> str:
    return request.remote_addr or "unknown"
