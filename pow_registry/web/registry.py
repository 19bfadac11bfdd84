"""Registry pages: search, person, capture reports, evidence, verification, status, merge, import."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.http import dump_options_header

from pow_registry import auth, db
from pow_registry.i18n import gettext as _
from pow_registry.models import CaptureReport, Evidence, Role
from pow_registry.services import registry
from pow_registry.services.archive import EvidenceStore, download_as
from pow_registry.services.errors import Conflict, FieldErrors, Forbidden, NotFound, ServiceError
from pow_registry.web.forms import (
    ConflictForm,
    EvidenceForm,
    ImportForm,
    MergeForm,
    NewPersonForm,
    PersonForm,
    ReportForm,
    SearchForm,
    StatusForm,
    VerifyForm,
)
from pow_registry.web.helpers import (
    apply_errors,
    flash_error,
    form_fields,
    page_number,
    parse_int,
    translate,
)

bp = Blueprint("registry", __name__, url_prefix="/registry")
researcher_only = auth.roles_required(Role.researcher)


def evidence_store() -> EvidenceStore:
    return EvidenceStore(current_app.config["EVIDENCE_DIR"], current_app.config["EVIDENCE_MAX_BYTES"])


def _fail(exc: ServiceError, form: Any = None) -> None:
    db.session().rollback()
    if isinstance(exc, NotFound):
        abort(404)
    if isinstance(exc, Forbidden):
        flash_error(exc)
        return
    if isinstance(exc, FieldErrors) and form is not None:
        apply_errors(form, exc)
    else:
        flash_error(exc)


@bp.get("/")
def persons() -> str:
    form = SearchForm(request.args)
    query = registry.PersonQuery(
        text=form.q.data or "", date_of_birth=form.dob.data or "", unit=form.unit.data or "",
        place=form.place.data or "", status=form.status.data or "", conflict_only=bool(form.conflict.data),
    )
    page, size = page_number(), current_app.config["PAGE_SIZE"]
    try:
        rows, total = registry.search_persons(db.session(), query, page=page, page_size=size)
    except FieldErrors as exc:
        apply_errors(form, exc, {"date_of_birth": "dob"})
        rows, total = [], 0
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("registry/persons.html", form=form, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // size)), args=args)


@bp.route("/persons/new", methods=["GET", "POST"])
@researcher_only
def person_new() -> ResponseReturnValue:
    form = NewPersonForm()
    if form.validate_on_submit():
        person_data = form_fields(form, registry.PERSON_FIELDS)
        report_data = {name: getattr(form, "report_" + name).data for name in registry.REPORT_FIELDS}
        try:
            person = registry.create_person(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                            person=person_data, report=report_data)
        except ServiceError as exc:
            _fail(exc, form)
        else:
            flash(_("The person was added. Now add the evidence the report rests on."), "info")
            return redirect(url_for("registry.person", person_id=person.id))
    return render_template("registry/person_form.html", form=form, person=None)


@bp.get("/persons/<int:person_id>")
def person(person_id: int) -> str:
    return _person_page(person_id)


def _person_page(person_id: int, failed: tuple[int, VerifyForm] | None = None) -> str:
    """The person page; `failed`: an evidence item's verification form that was refused, shown
    with its errors beside that item (not in a flash at the top of a long page)."""
    try:
        detail = registry.person_detail(db.session(), person_id)
    except NotFound:
        abort(404)
    person = detail.person
    from pow_registry.web.exchange import person_submissions

    verify_forms = {e.id: VerifyForm(version=e.version, prefix=f"e{e.id}", formdata=None)
                    for rv in detail.reports for e in rv.evidence}
    if failed is not None:
        verify_forms[failed[0]] = failed[1]
    return render_template(
        "registry/person.html", d=detail, p=person,
        status_form=StatusForm(version=person.version), conflict_form=ConflictForm(version=person.version),
        verify_forms=verify_forms, actor=auth.actor(),
        submissions=person_submissions(db.session(), person_id, detail.reports),
    )


@bp.route("/persons/<int:person_id>/edit", methods=["GET", "POST"])
@researcher_only
def person_edit(person_id: int) -> ResponseReturnValue:
    try:
        row = registry.get_person(db.session(), person_id)
    except NotFound:
        abort(404)
    form = PersonForm(obj=row) if request.method == "GET" else PersonForm()
    if request.method == "GET":
        form.service_category.data = row.service_category.value if row.service_category else ""
        form.health.data = row.health.value
    if form.validate_on_submit():
        try:
            registry.update_person(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                   person_id=person_id, version=form.version.data,
                                   person=form_fields(form, registry.PERSON_FIELDS))
        except ServiceError as exc:
            _fail(exc, form)
        else:
            flash(_("Saved."), "info")
            return redirect(url_for("registry.person", person_id=person_id))
    return render_template("registry/person_form.html", form=form, person=row)


@bp.route("/persons/<int:person_id>/reports/new", methods=["GET", "POST"])
@researcher_only
def report_new(person_id: int) -> ResponseReturnValue:
    try:
        person = registry.get_person(db.session(), person_id)
    except NotFound:
        abort(404)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            report = registry.add_capture_report(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                                 person_id=person_id, report=form_fields(form, registry.REPORT_FIELDS))
        except ServiceError as exc:
            _fail(exc, form)
        else:
            flash(_("The capture report was added."), "info")
            return redirect(url_for("registry.evidence_new", report_id=report.id))
    return render_template("registry/report_form.html", form=form, person=person, report=None)


@bp.route("/reports/<int:report_id>/edit", methods=["GET", "POST"])
@researcher_only
def report_edit(report_id: int) -> ResponseReturnValue:
    report = db.session().get(CaptureReport, report_id)
    if report is None:
        abort(404)
    form = ReportForm(obj=report) if request.method == "GET" else ReportForm()
    if request.method == "GET":
        form.claim.data = report.claim.value
    if form.validate_on_submit():
        try:
            registry.update_capture_report(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                           report_id=report_id, version=form.version.data,
                                           report=form_fields(form, registry.REPORT_FIELDS))
        except ServiceError as exc:
            _fail(exc, form)
        else:
            flash(_("Saved."), "info")
            return redirect(url_for("registry.person", person_id=report.person_id))
    person = registry.get_person(db.session(), report.person_id)
    return render_template("registry/report_form.html", form=form, person=person, report=report)


@bp.route("/reports/<int:report_id>/evidence/new", methods=["GET", "POST"])
@researcher_only
def evidence_new(report_id: int) -> ResponseReturnValue:
    report = db.session().get(CaptureReport, report_id)
    if report is None:
        abort(404)
    form = EvidenceForm()
    if form.validate_on_submit():
        upload = form.archive.data
        archive = (upload.read(), upload.filename or "") if upload and getattr(upload, "filename", "") else None
        try:
            registry.add_evidence(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                  report_id=report_id, evidence=form_fields(form, registry.EVIDENCE_FIELDS),
                                  archive=archive, store=evidence_store())
        except ServiceError as exc:
            _fail(exc, form)
        else:
            flash(_("The evidence was added. Another researcher must verify it."), "info")
            return redirect(url_for("registry.person", person_id=report.person_id))
    person = registry.get_person(db.session(), report.person_id)
    return render_template("registry/evidence_form.html", form=form, person=person, report=report)


@bp.post("/evidence/<int:evidence_id>/verify")
@researcher_only
def evidence_verify(evidence_id: int) -> ResponseReturnValue:
    row = db.session().get(Evidence, evidence_id)
    if row is None:
        abort(404)
    report = db.session().get(CaptureReport, row.capture_report_id)
    assert report is not None
    form = VerifyForm(prefix=f"e{evidence_id}")
    if form.validate_on_submit():
        try:
            registry.verify_evidence(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                     evidence_id=evidence_id, version=form.version.data,
                                     decision=form.decision.data or "", note=form.note.data or "")
        except (FieldErrors, Conflict) as exc:
            # Shown beside the item with what was typed; a stale form is a conflict (409), shown
            # with the item as it is now.
            db.session().rollback()
            if isinstance(exc, FieldErrors):
                apply_errors(form, exc)
            else:
                form.version.errors = [translate(exc.message)]
            fresh = db.session().get(Evidence, evidence_id)
            form.version.data = str(fresh.version if fresh is not None else row.version)
            return _person_page(report.person_id, failed=(evidence_id, form)), 409 if isinstance(exc, Conflict) else 400
        except ServiceError as exc:
            _fail(exc)
        else:
            flash(_("The verification was recorded."), "info")
    else:
        flash(_("The form was not accepted. Please try again."), "error")
    return redirect(url_for("registry.person", person_id=report.person_id, _anchor=f"evidence-{evidence_id}"))


def _attachment(filename: str, fallback: str) -> str:
    """`attachment` with the name; a non-ASCII name as RFC 6266's filename* with an ASCII
    fallback (a header is Latin-1 on the wire: a raw Cyrillic name would not get there)."""
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        stem, dot, ext = filename.rpartition(".")
        simple = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii").strip()
        simple = "".join(c for c in simple if c.isalnum() or c in "-_ ") or fallback
        return dump_options_header("attachment", {"filename": simple + dot + ext,
                                                  "filename*": "UTF-8''" + quote(filename, safe="")})
    return dump_options_header("attachment", {"filename": filename})


@bp.get("/evidence/<int:evidence_id>/archive")
def evidence_archive(evidence_id: int) -> ResponseReturnValue:
    """Always a download, never rendered: an archived page could carry script."""
    row = db.session().get(Evidence, evidence_id)
    if row is None or not row.archive_sha256:
        abort(404)
    try:
        data = evidence_store().read(row.archive_sha256)
    except (OSError, ValueError):
        abort(404)
    # Named and typed from its bytes, never by the uploader's extension alone: an .hta, .bat or
    # .html must not run when the download is opened (archive.download_as).
    filename, content_type = download_as(data, row.archive_filename, f"evidence-{row.id}")
    response = Response(data, content_type=content_type)
    response.headers["Content-Disposition"] = _attachment(filename, f"evidence-{row.id}")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/persons/<int:person_id>/status")
@researcher_only
def person_status(person_id: int) -> ResponseReturnValue:
    form = StatusForm()
    if form.validate_on_submit():
        try:
            registry.set_manual_status(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                       person_id=person_id, version=form.version.data,
                                       status=form.status.data or "", reason=form.reason.data or "")
        except ServiceError as exc:
            _fail(exc)
            if isinstance(exc, FieldErrors):
                flash(" ".join(translate(m) for m in exc.errors.values()), "error")
        else:
            flash(_("The status was changed."), "info")
    return redirect(url_for("registry.person", person_id=person_id))


@bp.post("/persons/<int:person_id>/conflict")
@researcher_only
def person_conflict(person_id: int) -> ResponseReturnValue:
    form = ConflictForm()
    if form.validate_on_submit():
        try:
            registry.resolve_conflict(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                      person_id=person_id, version=form.version.data, note=form.note.data or "")
        except ServiceError as exc:
            _fail(exc)
            if isinstance(exc, FieldErrors):
                flash(" ".join(translate(m) for m in exc.errors.values()), "error")
        else:
            flash(_("The conflict was marked as resolved."), "info")
    return redirect(url_for("registry.person", person_id=person_id))


@bp.route("/persons/<int:person_id>/merge", methods=["GET", "POST"])
@researcher_only
def person_merge(person_id: int) -> ResponseReturnValue:
    try:
        keep = registry.get_person(db.session(), person_id)
    except NotFound:
        abort(404)
    form = MergeForm()
    other = None
    other_id = parse_int((form.merge_id.data or request.args.get("other", "")).strip().lstrip("#"))
    if other_id is not None:
        other = db.session().get(type(keep), other_id)
    # The duplicate's version travels as "id:version" of the record that was shown, so a merge
    # always merges what the researcher saw side by side.
    if request.method == "GET":
        form.keep_version.data = str(keep.version)
        if other is not None:
            form.merge_id.data = str(other.id)
            form.merge_version.data = f"{other.id}:{other.version}"
    elif form.validate_on_submit():
        shown_id, _sep, shown_version = (form.merge_version.data or "").strip().rpartition(":")
        if other is None:
            form.merge_id.errors = [_("There is no record with this number.")]
        elif not shown_version or (shown_id and shown_id != str(other.id)):
            # A number typed straight in (or changed after comparing): show the two records side
            # by side first, then merge what was seen.
            form.merge_version.data = f"{other.id}:{other.version}"
            flash(_("Check the two records side by side, then merge."), "info")
        else:
            try:
                registry.merge_persons(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                       keep_id=keep.id or 0, merge_id=other.id or 0,
                                       keep_version=form.keep_version.data, merge_version=shown_version,
                                       reason=form.reason.data or "")
            except ServiceError as exc:
                _fail(exc, form)
            else:
                flash(_("The records were merged."), "info")
                return redirect(url_for("registry.person", person_id=keep.id))
    return render_template("registry/merge.html", form=form, keep=keep, other=other)


@bp.route("/import", methods=["GET", "POST"])
@researcher_only
def import_captures() -> ResponseReturnValue:
    """The file goes to a job (web/jobs.py): this page redirects to its progress and outcome."""
    from pow_registry.services.jobs import IMPORT_CAPTURES
    from pow_registry.web.jobs import start_import

    form = ImportForm()
    started = start_import(form, IMPORT_CAPTURES)
    if started is not None:
        return started
    return render_template("registry/import.html", form=form)
