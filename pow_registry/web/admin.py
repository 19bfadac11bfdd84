"""Administration: accounts and roles, the audit log, undoing merges, re-scoring every record."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pow_registry import auth, db
from pow_registry.domain.dates import InvalidDate, NoSuchDate, PartialDate
from pow_registry.domain.spreadsheet import safe_cell_text
from pow_registry.i18n import gettext as _
from pow_registry.models import User
from pow_registry.services import accounts, audit, registry
from pow_registry.services.errors import FieldErrors, NotFound, ServiceError
from pow_registry.web import audit_view
from pow_registry.web.forms import (
    AdminPasswordForm,
    MergeUndoForm,
    UserEditForm,
    UserForm,
)
from pow_registry.web.helpers import (
    MAX_ID,
    apply_errors,
    flash_error,
    page_number,
    parse_int,
    translate,
    version_field,
)

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Prometheus's text format (pow_registry/metrics.py): admins, or a scraper with METRICS_TOKEN."""
    from pow_registry import metrics as app_metrics

    return app_metrics.response()


@bp.get("/matching")
def matching() -> str:
    """Re-scoring everything (`pow-registry match --all`) as a job: the open candidates now and
    the last runs."""
    from pow_registry.services import code_display, jobs
    from pow_registry.services import matching as matching_service
    from pow_registry.web.forms import JobButtonForm
    from pow_registry.web.jobs import STATUS_LABELS

    session = db.session()
    runs, _total = jobs.jobs_of(session, auth.actor(), page=1, page_size=5, kind=jobs.MATCH_ALL)
    return render_template("admin/matching.html", counts=matching_service.candidate_counts(session), runs=runs,
                           statuses=STATUS_LABELS,
                           outcomes={job.id: jobs.outcome_of(job) for job in runs},
                           running=jobs.open_job_for(session, kind=jobs.MATCH_ALL),
                           form=JobButtonForm(formdata=None, submission=code_display.new_token()))


@bp.post("/matching/rescore")
def rescore() -> ResponseReturnValue:
    from pow_registry.services import jobs
    from pow_registry.web.forms import JobButtonForm
    from pow_registry.web.jobs import start_job

    return start_job(JobButtonForm(), jobs.MATCH_ALL)


@bp.get("/users")
def users() -> str:
    return render_template("admin/users.html", users=accounts.list_users(db.session()))


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> ResponseReturnValue:
    form = UserForm()
    if form.validate_on_submit():
        try:
            accounts.create_user(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                 passwords=auth.passwords(), policy=auth.password_policy(),
                                 email=form.email.data or "", password=form.password.data or "",
                                 roles=list(form.roles.data or []), display_name=form.display_name.data or "",
                                 must_change_password=True)
        except FieldErrors as exc:
            db.session().rollback()
            apply_errors(form, exc)
        else:
            flash(_("The account was created."), "info")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int) -> ResponseReturnValue:
    user = db.session().get(User, user_id)
    if user is None:
        abort(404)
    form = UserEditForm(obj=user) if request.method == "GET" else UserEditForm()
    if request.method == "GET":
        form.roles.data = sorted(r.value for r in user.role_set)
    if form.validate_on_submit():
        try:
            accounts.update_user(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                 user_id=user_id, version=version_field(form.version.data),
                                 roles=list(form.roles.data or []), is_active=bool(form.is_active.data),
                                 display_name=form.display_name.data or "")
        except FieldErrors as exc:
            db.session().rollback()
            apply_errors(form, exc)
        except ServiceError as exc:
            db.session().rollback()
            flash_error(exc)
        else:
            flash(_("Saved."), "info")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user, password_form=AdminPasswordForm())


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int) -> ResponseReturnValue:
    user = db.session().get(User, user_id)
    if user is None:
        abort(404)
    form = AdminPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                     passwords=auth.passwords(), policy=auth.password_policy(), user=user,
                                     current_password=None, new_password=form.new_password.data or "")
        except FieldErrors as exc:
            db.session().rollback()
            flash(" ".join(translate(m) for m in exc.errors.values()), "error")
        else:
            flash(_("The password was reset; the account's sessions were ended."), "info")
    return redirect(url_for("admin.user_edit", user_id=user_id))


def _record_number(raw: str) -> int | None:
    """The record-number filter: None when not given; a number no row can have (-1) when it is
    beyond the database's INTEGER, which would otherwise overflow in the query."""
    value = parse_int(raw, limit=MAX_ID + 1)
    return -1 if value == MAX_ID + 1 else value


def _audit_filters() -> dict[str, Any]:
    """The audit log's filters from the query string; a date that is not one is ignored and said."""
    filters: dict[str, Any] = {
        "action": request.args.get("action") or None,
        "entity_type": request.args.get("entity_type") or None,
        "entity_id": _record_number(request.args.get("entity_id", "")),
        "actor": (request.args.get("actor") or "")[:254] or None,
    }
    for name in ("since", "until"):
        raw = (request.args.get(name) or "").strip()
        filters[name] = None
        if raw:
            try:
                day = PartialDate.parse(raw)
            except NoSuchDate:
                flash(_("This date does not exist."), "error")
                continue
            except InvalidDate:
                flash(_("A date in the filter is not a date: use DD.MM.YYYY."), "error")
                continue
            filters[name] = day.earliest() if name == "since" else day.latest()
    return filters


@bp.get("/audit")
def audit_log() -> str:
    page = page_number()
    events, total = audit.search(db.session(), **_audit_filters(), page=page, page_size=50)
    args = {k: v for k, v in request.args.items() if k != "page"}
    actions = sorted(audit_view.ACTION_LABELS, key=lambda code: audit_view.action_label(code).lower())
    entities = sorted(audit_view.ENTITY_LABELS, key=lambda code: audit_view.entity_label(code).lower())
    return render_template("admin/audit.html", events=events, total=total, page=page,
                           pages=max(1, -(-total // 50)), args=args, actions=actions, entities=entities)


@bp.get("/audit.csv")
def audit_csv() -> Response:
    """The filtered log as CSV (UTF-8 with a BOM, so spreadsheet programs read Cyrillic), every
    text made safe to open in a spreadsheet, contact data never included."""
    events, _total = audit.search(db.session(), **_audit_filters(), page_size=None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Number"), _("When (UTC)"), _("Who"), _("What"), _("Action code"), _("Record"),
                     _("Record number"), _("Changes")])
    for ev in events:
        changes = "; ".join(line.striptags() for line in audit_view.change_lines(ev.changes, ev.entity_type))
        writer.writerow([ev.id, ev.at.strftime("%Y-%m-%d %H:%M:%S"), safe_cell_text(ev.actor_email or ""),
                         safe_cell_text(audit_view.action_label(ev.action)), ev.action,
                         safe_cell_text(audit_view.entity_label(ev.entity_type)), ev.entity_id or "",
                         safe_cell_text(changes)])
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=audit-log.csv"
    return response


@bp.get("/merges")
def merges() -> str:
    return render_template("admin/merges.html", merges=registry.merge_history(db.session()))


@bp.route("/merges/<int:merge_id>/undo", methods=["GET", "POST"])
def merge_undo(merge_id: int) -> ResponseReturnValue:
    """Undo asks first: it shows what goes back to the merged record, and wants a reason and a
    confirmation."""
    try:
        entry = registry.merge_entry(db.session(), merge_id)
    except NotFound:
        abort(404)
    form = MergeUndoForm()
    status = 200
    if entry.merge.undone_at is not None:
        if request.method == "POST":  # a reload or a second tab: nothing more to do
            flash(_("This merge was already undone."), "info")
    elif form.validate_on_submit():
        try:
            registry.undo_merge(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                merge_id=merge_id, reason=form.reason.data or "")
        except ServiceError as exc:
            db.session().rollback()
            flash_error(exc)
            status = 409
        else:
            flash(_("The merge was undone."), "info")
            return redirect(url_for("admin.merges"))
    elif request.method == "POST":
        status = 400
    return render_template("admin/merge_undo.html", entry=entry, form=form), status
