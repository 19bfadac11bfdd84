"""What anyone may reach: the front door (the family's two doors; staff go to their work) and the
health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text
from werkzeug.wrappers import Response

from pow_registry import db
from pow_registry.models import Role

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        from pow_registry.web import family

        return family.home()
    if current_user.has_role(Role.staff):
        return redirect(url_for("home.index"))  # staff start from their day's work
    if current_user.has_role_any_registry():
        return redirect(url_for("registry.persons"))
    return redirect(url_for("admin.users"))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the app and its database answer; 503 otherwise (says nothing else)."""
    try:
        db.session().exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok"), 200
