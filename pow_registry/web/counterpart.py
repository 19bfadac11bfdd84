"""Counterpart lists (staff): import a list received from elsewhere, see which names the matcher
linked to whom, and what nobody matched. The pairs themselves are reviewed in the matches queue.
Reading a list and matching its names (on import, and again later) run in a job (web/jobs.py)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from pow_registry import db
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import CounterpartList
from pow_registry.services import code_display, counterpart, jobs
from pow_registry.services.errors import FieldErrors, NotFound
from pow_registry.web.forms import JobButtonForm, options
from pow_registry.web.helpers import apply_errors

bp = Blueprint("counterpart", __name__, url_prefix="/counterpart")

KIND_CHOICES = [("returned", _l("Those returned in an exchange")),
                ("held", _l("Those the other side says it holds"))]


class CounterpartForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"))
    kind = SelectField(_l("What the list says"), choices=options(KIND_CHOICES))
    title = StringField(_l("Title"), validators=[Length(max=200)])
    source = StringField(_l("Who published or sent it"), validators=[Length(max=500)])
    received_on = StringField(_l("Received on (YYYY-MM-DD)"), validators=[Optional(), Length(max=20)])
    exchange_date = StringField(_l("Date of the exchange, for a list of those returned"),
                                validators=[Optional(), Length(max=20)])
    dry_run = BooleanField(_l("Only check the file, write nothing"))
    submission = HiddenField()  # one-time token: a reload starts no second job (services/jobs.py)


DETAILS = ("kind", "title", "source", "received_on", "exchange_date")


@bp.get("/")
def index() -> str:
    return render_template("counterpart/index.html", rows=counterpart.lists(db.session()))


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """The list's details are checked here (shown on the form); the file is read, stored and
    matched in a job, whose page says what it found."""
    from pow_registry.web.jobs import start_import

    form = CounterpartForm()
    details = {name: getattr(form, name).data or "" for name in DETAILS}

    def details_ok() -> bool:
        try:
            counterpart.check_details(details)
        except FieldErrors as exc:
            apply_errors(form, exc)
            return False
        return True

    started = start_import(form, jobs.COUNTERPART_IMPORT, params={"details": details}, check=details_ok)
    if started is not None:
        return started
    return render_template("counterpart/new.html", form=form), 400 if form.is_submitted() else 200


@bp.get("/<int:list_id>")
def detail(list_id: int) -> str:
    try:
        view = counterpart.list_detail(db.session(), list_id)
    except NotFound:
        abort(404)
    return render_template("counterpart/detail.html", d=view, kinds=dict(KIND_CHOICES),
                           reconcile_form=JobButtonForm(prefix="reconcile", formdata=None,
                                                        submission=code_display.new_token()))


@bp.post("/<int:list_id>/reconcile")
def reconcile(list_id: int) -> ResponseReturnValue:
    """Match the list's names again, in a job (its page says what it found)."""
    from pow_registry.web.jobs import start_job

    if db.session().get(CounterpartList, list_id) is None:
        abort(404)
    db.session().rollback()  # end the read
    return start_job(JobButtonForm(prefix="reconcile"), jobs.COUNTERPART_RECONCILE, params={"list_id": list_id})
