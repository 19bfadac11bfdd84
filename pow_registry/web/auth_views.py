"""Login, logout, own password, language choice."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from pow_registry import auth, clock, db, throttle
from pow_registry.config import ConfigError
from pow_registry.i18n import gettext as _
from pow_registry.models import User
from pow_registry.services import accounts, two_factor
from pow_registry.services.errors import FieldErrors
from pow_registry.throttle import Backoff
from pow_registry.web.forms import CodeForm, EmptyForm, LanguageForm, LoginForm, PasswordForm
from pow_registry.web.helpers import apply_errors

bp = Blueprint("auth", __name__)


THROTTLE_SETTINGS = ("LOGIN_THROTTLE_FREE_FAILURES", "LOGIN_THROTTLE_ADDRESS_FREE_FAILURES",
                     "LOGIN_THROTTLE_MAX_DELAY_SECONDS", "LOGIN_THROTTLE_WINDOW_SECONDS")


def init_app(app: Flask) -> None:
    """Refuse to start with a throttle that would not throttle (growing delays: throttle.py)."""
    for name in THROTTLE_SETTINGS:
        value = app.config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number of 1 or more, not {value!r}.")


def _login_backoffs(email: str) -> list[tuple[Backoff, tuple[str, ...]]]:
    """Per address across accounts (spraying), then per account and address (guessing at one).

    Never per account alone: that would let anyone lock the owner out.
    """
    address = auth.remote_address()
    return [(auth.backoff("login-address", per_address=True), (address,)),
            (auth.backoff("login"), (accounts.normalise_email(email)[:254], address))]


def _too_soon(seconds: int) -> str:
    return _("Too many failed attempts. Try again in %(n)d min.", n=throttle.minutes(seconds))


def _too_soon_for(backoff: Backoff, key: tuple[str, str], field: Any, template: str, form: Any) -> Response | None:
    """A POST that comes before its wait is over: refused before any check, the wait on `field`."""
    if request.method != "POST":
        return None
    seconds = backoff.wait(*key)
    if not seconds:
        return None
    field.errors = [_too_soon(seconds)]
    return _refused(template, seconds, form=form)


def _refused(template: str, seconds: int, **context: Any) -> Response:
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = auth.safe_next(request.args.get("next"))
        return render_template("login.html", form=form)
    # Before any password hashing: a refusal costs a few storage reads. It is the uniform
    # failure, whether the account exists or not and whether the password would have been right.
    (address_backoff, address_key), (account_backoff, account_key) = _login_backoffs(request.form.get("email", ""))
    for backoff, key in ((address_backoff, address_key), (account_backoff, account_key)):
        seconds = backoff.wait(*key)
        if seconds:
            flash(_("The email or password is not correct.") + " " + _too_soon(seconds), "error")
            return _refused("login.html", seconds, form=form)
    if form.validate_on_submit():
        user = accounts.authenticate(session=db.session(), passwords=auth.passwords(),
                                     email=form.email.data or "", password=form.password.data or "")
        if user is not None:
            # Only this account from this address starts afresh: logging in to one's own account
            # must not wipe the count of guesses at others.
            account_backoff.succeeded(*account_key)
            # A language chosen on the login page is the one the user wants: keep it, and keep it
            # for next time too, instead of the account's older choice.
            chosen = session.get("lang")
            if chosen in current_app.config["LANGUAGES"]:
                accounts.set_language(session=db.session(), user=user, language=str(chosen))
            if two_factor.enrolled(user):
                # The password was right; the second factor decides (nothing signed in yet).
                session.clear()
                session["lang"] = user.preferred_language
                session["pending_2fa"] = [user.id, clock.timestamp(), auth.safe_next(form.next.data) or ""]
                return redirect(url_for("auth.login_code"))
            auth.start_session(user)  # a fresh session on login: no fixation
            session["lang"] = user.preferred_language
            accounts.record_sign_in(session=db.session(), audit_key=auth.audit_key(), user=user)
            return redirect(auth.safe_next(form.next.data) or url_for("public.index"))
        address_backoff.failed(*address_key)
        account_backoff.failed(*account_key)
        accounts.record_failed_sign_in(session=db.session(), audit_key=auth.audit_key(), email=form.email.data or "")
        flash(_("The email or password is not correct."), "error")
    return render_template("login.html", form=form), 401


PENDING_2FA_SECONDS = 300  # the code must follow the password within five minutes


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """The second step of signing in: the code from the authenticator app, or a recovery code.
    Wrong codes slow down as wrong passwords do (per account and address)."""
    raw = session.get("pending_2fa")
    pending: list[Any] = raw if isinstance(raw, list) and len(raw) == 3 else [0, 0.0, ""]
    user = db.session().get(User, pending[0]) if pending[0] else None
    if user is None or not user.is_active or clock.timestamp() - float(pending[1]) > PENDING_2FA_SECONDS:
        session.pop("pending_2fa", None)
        flash(_("Sign in again: the code must follow the password within five minutes."), "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    backoff, key = auth.backoff("two-factor"), (str(user.id), auth.remote_address())
    refused = _too_soon_for(backoff, key, form.code, "login_code.html", form)
    if refused is not None:
        return refused
    if form.validate_on_submit():
        if two_factor.verify(db.session(), user, form.code.data or ""):
            db.session().commit()
            backoff.succeeded(*key)
            next_url = str(pending[2])
            auth.start_session(user)
            session["lang"] = user.preferred_language
            accounts.record_sign_in(session=db.session(), audit_key=auth.audit_key(), user=user)
            return redirect(auth.safe_next(next_url) or url_for("public.index"))
        db.session().rollback()
        backoff.failed(*key)
        accounts.record_failed_sign_in(session=db.session(), audit_key=auth.audit_key(), email=user.email)
        form.code.errors = [_("This code is not right, or it was used already.")]
        return render_template("login_code.html", form=form), 401
    return render_template("login_code.html", form=form)


@bp.route("/account/two-factor", methods=["GET", "POST"])
def two_factor_setup() -> ResponseReturnValue:
    """Turn on two-factor sign-in: scan the QR code (or type the key), confirm with a code, write
    down the recovery codes, shown once."""
    user = auth.actor()
    if two_factor.enrolled(user):
        return render_template("two_factor.html", enrolled=True, left=two_factor.recovery_left(user))
    secret = session.get("totp_pending")
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session["totp_pending"] = two_factor.new_secret()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.enrol(session=db.session(), actor=user, audit_key=auth.audit_key(), user=user,
                                     secret=secret, code=form.code.data or "")
        except FieldErrors as exc:
            db.session().rollback()
            apply_errors(form, exc)
        else:
            session.pop("totp_pending", None)
            return render_template("two_factor.html", enrolled=True, codes=codes,
                                   left=two_factor.recovery_left(user))
    uri = two_factor.provisioning_uri(secret, user.email)
    return render_template("two_factor.html", enrolled=False, form=form, secret=secret,
                           qr=Markup(two_factor.qr_svg(uri)))  # noqa: S704 - segno's own SVG of our URI


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    form = EmptyForm(prefix="logout")
    if form.validate_on_submit() and current_user.is_authenticated:
        accounts.rotate_session_token(session=db.session(), user=auth.actor())
        accounts.record_sign_out(session=db.session(), audit_key=auth.audit_key(), user=auth.actor())
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
    user = auth.actor()
    # The current password is a login in disguise (an unlocked screen, a copied cookie): the same
    # growing delays, per account and address, checked before any hashing.
    backoff, key = auth.backoff("account-password"), (str(user.id), auth.remote_address())
    refused = _too_soon_for(backoff, key, form.current_password, "password.html", form)
    if refused is not None:
        return refused
    if form.validate_on_submit():
        try:
            accounts.change_password(session=db.session(), actor=user, audit_key=auth.audit_key(),
                                     passwords=auth.passwords(), policy=auth.password_policy(), user=user,
                                     current_password=form.current_password.data or "",
                                     new_password=form.new_password.data or "")
        except FieldErrors as exc:
            db.session().rollback()
            if "current_password" in exc.errors:
                backoff.failed(*key)
            apply_errors(form, exc)
        else:
            backoff.succeeded(*key)
            # The token rotated: every other session of this account has ended; keep this one.
            login_user(user)
            flash(_("Your password was changed. Other sessions were logged out."), "info")
            return redirect(url_for("public.index"))
    return render_template("password.html", form=form)
