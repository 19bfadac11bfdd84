"""Counterpart lists (staff): import a list received from elsewhere, see which names the matcher
linked to whom, and what nobody matched. The pairs themselves are reviewed in the matches queue."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, Optional

from pow_registry import auth, db
from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.services import counterpart
from pow_registry.services.errors import FieldErrors, NotFound
from pow_registry.web.forms import EmptyForm, options
from pow_registry.web.helpers import apply_errors, uploaded_file

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


@bp.get("/")
def index() -> str:
    return render_template("counterpart/index.html", rows=counterpart.lists(db.session()))


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    form = CounterpartForm()
    report = None
    if form.validate_on_submit():
        upload = uploaded_file(form.file)
        if upload is not None:
            data, filename = upload
            details = {name: getattr(form, name).data for name in ("kind", "title", "source", "received_on",
                                                                    "exchange_date")}
            try:
                report = counterpart.import_list(
                    session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(), data=data,
                    filename=filename, details=details, dry_run=bool(form.dry_run.data),
                    max_bytes=current_app.config["IMPORT_MAX_BYTES"])
            except FieldErrors as exc:
                db.session().rollback()
                apply_errors(form, exc)
            else:
                if report.ok and not report.dry_run and report.list_id is not None:
                    flash(_("Imported %(n)d names: %(c)d candidate pairs to review, %(u)d names nobody matched.",
                            n=report.rows_created, c=report.candidates, u=report.unmatched), "info")
                    return redirect(url_for("counterpart.detail", list_id=report.list_id))
    return render_template("counterpart/new.html", form=form, report=report)


@bp.get("/<int:list_id>")
def detail(list_id: int) -> str:
    try:
        view = counterpart.list_detail(db.session(), list_id)
    except NotFound:
        abort(404)
    return render_template("counterpart/detail.html", d=view, kinds=dict(KIND_CHOICES),
                           reconcile_form=EmptyForm(prefix="reconcile"))


@bp.post("/<int:list_id>/reconcile")
def reconcile(list_id: int) -> ResponseReturnValue:
    form = EmptyForm(prefix="reconcile")
    if not form.validate_on_submit():
        abort(400)
    try:
        candidates, unmatched = counterpart.reconcile(session=db.session(), actor=auth.actor(), list_id=list_id)
    except NotFound:
        abort(404)
    flash(_("Matched again: %(c)d candidate pairs, %(u)d names nobody matched.", c=candidates, u=unmatched), "info")
    return redirect(url_for("counterpart.detail", list_id=list_id))
