"""The staff home page: my inquiries, the counts, and what waits on staff (services/staff_home.py)."""

from __future__ import annotations

from flask import Blueprint, render_template

from pow_registry import auth, db
from pow_registry.services import staff_home

bp = Blueprint("home", __name__, url_prefix="/home")


@bp.get("/")
def index() -> str:
    home = staff_home.staff_home(db.session(), auth.actor())
    return render_template("home/index.html", home=home, tiers=staff_home.TIER_ORDER)
