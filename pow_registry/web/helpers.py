"""Small pieces the views share: turning service errors into form errors and flashes, paging."""

from __future__ import annotations

from typing import Any

from flask import Flask, flash, request
from flask_wtf import FlaskForm

from pow_registry.i18n import gettext as _
from pow_registry.services.errors import FieldErrors, ServiceError


def apply_errors(form: FlaskForm, exc: FieldErrors, prefix_map: dict[str, str] | None = None) -> None:
    """Put each service field error on its form field; the rest become one flash."""
    leftover = []
    for name, message in exc.errors.items():
        field = getattr(form, (prefix_map or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            if isinstance(field.errors, tuple):
                field.errors = list(field.errors)
            field.errors.append(_(message))
        else:
            leftover.append(_(message))
    flash(_(exc.message) + (" " + " ".join(leftover) if leftover else ""), "error")


def flash_error(exc: ServiceError) -> None:
    flash(_(exc.message), "error")


def page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def form_fields(form: FlaskForm, names: list[str]) -> dict[str, Any]:
    """Only the form's own fields reach a service (no mass assignment)."""
    return {name: getattr(form, name).data for name in names if hasattr(form, name)}


def init_app(app: Flask) -> None:
    from pow_registry.models import Role

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from pow_registry.web.forms import EmptyForm, LanguageForm

        return {"Role": Role, "logout_form": EmptyForm(prefix="logout"), "language_form": LanguageForm(prefix="lang")}

    register_filters(app)


def register_filters(app: Flask) -> None:
    from pow_registry.web import labels

    app.jinja_env.filters["label"] = labels.label
    app.jinja_env.globals["status_basis"] = labels.status_basis
    app.jinja_env.filters["dt"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"
