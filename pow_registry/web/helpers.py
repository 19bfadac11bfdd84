"""Small pieces the views share: turning service errors into form errors and flashes, paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.local import LocalProxy

from pow_registry.i18n import gettext as _
from pow_registry.services.errors import FieldErrors, Msg, ServiceError


def translate(message: str, params: dict[str, Any] | None = None) -> str:
    """A service message in the user's language: translate the English template, then fill it.

    Plain text, never markup, so the template escapes it like any other value.
    """
    template = message
    if isinstance(message, Msg):
        template, params = message.template, {**message.params, **(params or {})}
    text = _(template)
    return text % params if params else text


def apply_errors(form: FlaskForm, exc: FieldErrors, prefix_map: dict[str, str] | None = None) -> None:
    """Put each service field error on its form field; the rest become one flash."""
    leftover = []
    for name, message in exc.errors.items():
        field = getattr(form, (prefix_map or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            if isinstance(field.errors, tuple):
                field.errors = list(field.errors)
            field.errors.append(translate(message))
        else:
            leftover.append(translate(message))
    flash(translate(exc.message) + (" " + " ".join(leftover) if leftover else ""), "error")


def flash_error(exc: ServiceError) -> None:
    flash(translate(exc.message), "error")


MAX_ID = 2**31 - 1  # the database's INTEGER


def parse_int(raw: str | None, *, limit: int = MAX_ID) -> int | None:
    """A whole number typed or posted by anyone: ASCII digits only ("²".isdigit() is True),
    None for anything else, and never beyond `limit` (a bigger number is capped, so it cannot
    overflow a query)."""
    raw = (raw or "").strip()
    if not raw or not raw.isascii() or not raw.isdigit():
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(limit)):  # also keeps int() clear of its 4,300-digit limit
        return limit
    return min(int(digits), limit)


def version_field(raw: str | None) -> int:
    """The version a form was loaded with; -1 (never a row's version) when it is not a number."""
    value = parse_int(raw)
    return -1 if value is None else value


def page_number() -> int:
    return max(1, min(parse_int(request.args.get("page")) or 1, 100_000))


def uploaded_file(field: Any) -> tuple[bytes, str] | None:
    """The bytes and name of a file a form sent (at most one byte more than an import may hold,
    so the service can say it is too large), or None with a field error when none was chosen."""
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        field.errors = [_("Choose a file.")]
        return None
    return upload.read(current_app.config["IMPORT_MAX_BYTES"] + 1), upload.filename or ""


def form_fields(form: FlaskForm, names: list[str]) -> dict[str, Any]:
    """Only the form's own fields reach a service (no mass assignment)."""
    return {name: getattr(form, name).data for name in names if hasattr(form, name)}


def _per_request(name: str, make: Callable[[], Any]) -> Any:
    """A value made when a template first touches it, then kept for the rest of the request."""

    def value() -> Any:
        made = g.get(f"_template_{name}")
        if made is None:
            made = make()
            setattr(g, f"_template_{name}", made)
        return made

    return LocalProxy(value)


def init_app(app: Flask) -> None:
    from pow_registry.models import Role

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from pow_registry.web.forms import EmptyForm, LanguageForm

        # formdata=None: these forms only render. Binding them to the request would read its body
        # again, and on the 413 page that raises once more (a 500 instead of "too large").
        # Made on first use in the page, once per request: a page without them (the family's
        # status answer, an error page) does not pay for two forms and their CSRF tokens.
        return {"Role": Role,
                "logout_form": _per_request("logout_form", lambda: EmptyForm(prefix="logout", formdata=None)),
                "language_form": _per_request("language_form", lambda: LanguageForm(prefix="lang", formdata=None))}

    register_filters(app)


def utc_minute(value: Any) -> str:
    """A moment as the app shows one everywhere: to the minute, in UTC."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def register_filters(app: Flask) -> None:
    from pow_registry.web import labels

    app.jinja_env.filters["label"] = labels.label
    app.jinja_env.filters["person_name"] = labels.person_name
    app.jinja_env.globals["status_basis"] = labels.status_basis
    app.jinja_env.globals["tr"] = translate
    app.jinja_env.filters["dt"] = utc_minute
    from pow_registry.web import audit_view

    app.jinja_env.globals["audit_view"] = audit_view


# --- a code shown once (Post/Redirect/Get: services/code_display.py) ---------------------------


def form_token(form: FlaskForm) -> str:
    """The one-time token a form came with; a fresh one for a page from before tokens existed
    (that send still counts once)."""
    from pow_registry.services import code_display

    field = form.submission  # type: ignore[attr-defined]
    if not code_display.valid_token(field.data):
        field.data = code_display.new_token()
    return str(field.data)


def to_code_page(token: str, endpoint: str) -> Any:
    """Redirect to the page that shows the code once; the session carries the token, never the code."""
    session["code_display"] = token
    return redirect(url_for(endpoint), 303)


def code_shown_once() -> Any:
    """The code of this session's last send, the first time only (None: no such send)."""
    from sqlmodel import Session

    from pow_registry import db
    from pow_registry.services import code_display

    # Showing the code erases it, so this GET writes: its own session, not the read-only one.
    with Session(db.engine(), expire_on_commit=False) as writable:
        return code_display.show_once(writable, key=current_app.config["ACCESS_CODE_KEY_BYTES"],
                                      token=session.get("code_display"))
