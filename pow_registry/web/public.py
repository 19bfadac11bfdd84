"""What anyone may reach: the front door (the family's two doors; staff go to their work) and the
health check."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
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


# How long one answer of the database stands for /healthz. A probe every second or a load
# balancer's flood then costs the database one query a second per process, not one per request,
# and /healthz stays as cheap as the app can answer; a database that stops answering shows as
# 503 within this long (and one that comes back, as 200).
DATABASE_CHECK_SECONDS = 1.0


def database_answers() -> bool:
    """Whether the database answered `SELECT 1` within the last DATABASE_CHECK_SECONDS (asked
    again when that answer is older), on a connection of its own: no request session, no ORM."""
    now = time.monotonic()
    checked = current_app.extensions.get("pow_registry.healthz")
    if checked is not None and now - checked[0] < DATABASE_CHECK_SECONDS:
        return bool(checked[1])
    try:
        # Read-only: on SQLite it neither takes nor waits for the write lock a long import holds.
        with db.engine().execution_options(**{db.READ_ONLY: True}).connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        answers = True
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        answers = False
    current_app.extensions["pow_registry.healthz"] = (time.monotonic(), answers)
    return answers


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 when the app and its database answer; 503 otherwise (says nothing else)."""
    if not database_answers():
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok"), 200
