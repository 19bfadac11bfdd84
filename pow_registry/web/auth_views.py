"""Login, logout, own password, language choice."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from pow_registry import auth, db, security
from pow_registry.i18n import gettext as _
from pow_registry.services import accounts
from pow_registry.services.errors import FieldErrors
from pow_registry.web.forms import EmptyForm, LanguageForm, LoginForm, PasswordForm
from pow_registry.web.helpers import apply_errors

bp = Blueprint("auth", __name__)


def _login_account_key() -> str:
    return "account:" + accounts.normalise_email(request.form.get("email", ""))[:254]


def _failed(response: Response) -> bool:
    """Only failed attempts count towards the throttle."""
    return response.status_code != 302


def init_app(app: Flask) -> None:
    """Throttle failed logins per account and per address, with this app's own limiter.

    Applied here rather than as decorators at import time: a Flask-Limiter instance keeps its
    storage on itself, so one module-level limiter shared by several apps (the CLI, tests) would
    share and reset their counts.
    """
    limiter = security.limiter(app)
    view: Any = app.view_functions["auth.login"]
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"], key_func=auth.remote_address,
                         methods=["POST"], deduct_when=_failed, scope="login-address")(view)
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_PER_ACCOUNT"], key_func=_login_account_key,
                         methods=["POST"], deduct_when=_failed, scope="login-account")(view)
    app.view_functions["auth.login"] = view


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = auth.safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = accounts.authenticate(session=db.session(), passwords=auth.passwords(),
                                     email=form.email.data or "", password=form.password.data or "")
        if user is not None:
            auth.start_session(user)  # a fresh session on login: no fixation
            session["lang"] = user.preferred_language
            return redirect(auth.safe_next(form.next.data) or url_for("public.index"))
        flash(_("The email or password is not correct."), "error")
    return render_template("login.html", form=form), (401 if request.method == "POST" else 200)  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    form = EmptyForm(prefix="logout")
    if form.validate_on_submit() and current_user.is_authenticated:
        accounts.rotate_session_token(session=db.session(), user=auth.actor())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> ResponseReturnValue:
    form = LanguageForm(prefix="lang")
    if form.validate_on_submit() and form.language.data in current_app.config["LANGUAGES"]:
        session["lang"] = form.language.data
        if current_user.is_authenticated:
            accounts.set_language(session=db.session(), user=auth.actor(), language=form.language.data)
    return redirect(auth.safe_next(form.next.data) or url_for("public.index"))


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> ResponseReturnValue:
    form = PasswordForm()
    if form.validate_on_submit():
        user = auth.actor()
        try:
            accounts.change_password(session=db.session(), actor=user, audit_key=auth.audit_key(),
                                     passwords=auth.passwords(), policy=auth.password_policy(), user=user,
                                     current_password=form.current_password.data or "",
                                     new_password=form.new_password.data or "")
        except FieldErrors as exc:
            db.session().rollback()
            apply_errors(form, exc)
        else:
            # The token rotated: every other session of this account has ended; keep this one.
            login_user(user)
            flash(_("Your password was changed. Other sessions were logged out."), "info")
            return redirect(url_for("public.index"))
    return render_template("password.html", form=form)
