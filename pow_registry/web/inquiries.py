"""Staff pages for family inquiries: take, find, edit, triage, re-issue a code, clear for the family.

Staff only (web/__init__.py). An access code is shown once, on the page the POST that made it
redirects to (services/code_display.py): never in a URL, a flash message or the session cookie,
and a reload or a second send makes nothing twice.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from pow_registry import auth, db
from pow_registry.i18n import LANGUAGE_NAMES
from pow_registry.i18n import gettext as _
from pow_registry.models import Inquiry
from pow_registry.services import code_display, contact_data, inquiries, staff_home
from pow_registry.services import family as family_service
from pow_registry.services.errors import FieldErrors, NotFound, ServiceError
from pow_registry.web import family as family_pages
from pow_registry.web.forms import (
    AssignForm,
    EraseContactForm,
    FamilyClearForm,
    ImportForm,
    InquiryForm,
    InquirySearchForm,
    InquiryStatusForm,
    ReissueCodeForm,
)
from pow_registry.web.helpers import (
    apply_errors,
    code_shown_once,
    flash_error,
    form_fields,
    form_token,
    page_number,
    parse_int,
    to_code_page,
    translate,
)

bp = Blueprint("inquiries", __name__, url_prefix="/inquiries")


def _fail(exc: ServiceError, form: Any = None) -> None:
    db.session().rollback()
    if isinstance(exc, NotFound):
        abort(404)
    if isinstance(exc, FieldErrors) and form is not None:
        apply_errors(form, exc)
    elif isinstance(exc, FieldErrors):
        flash(" ".join(translate(m) for m in exc.errors.values()), "error")
    else:  # Forbidden, Conflict
        flash_error(exc)


def _load(inquiry_id: int) -> Inquiry:
    try:
        return inquiries.get_inquiry(db.session(), inquiry_id)
    except NotFound:
        abort(404)


def _form_data(form: InquiryForm) -> dict[str, Any]:
    """Only the form's own fields reach the service (no mass assignment)."""
    return form_fields(form, inquiries.INQUIRY_FIELDS)


@bp.get("/issued")
def issued() -> ResponseReturnValue:
    """The reference and the code of this session's last new inquiry or re-issue, shown once."""
    shown = code_shown_once()
    if shown is None:
        return redirect(url_for("inquiries.index"))
    return render_template("inquiries/issued.html", inquiry=shown.inquiry, code=shown.code,
                           new=shown.kind != "reissue")


@bp.get("/")
def index() -> str:
    form = InquirySearchForm(request.args)
    query = inquiries.InquiryQuery(text=form.q.data or "", status=form.status.data or "", phone=form.phone.data or "")
    page, size = page_number(), current_app.config["PAGE_SIZE"]
    try:
        rows, total = inquiries.search_inquiries(db.session(), query, page=page, page_size=size)
    except FieldErrors as exc:
        apply_errors(form, exc, {"status": "status", "phone": "phone"})
        rows, total = [], 0
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("inquiries/index.html", form=form, rows=rows, total=total, page=page,
                           pages=max(1, -(-total // size)), args=args)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    form = InquiryForm()
    token = form_token(form)
    key = current_app.config["ACCESS_CODE_KEY_BYTES"]
    if form.is_submitted() and code_display.find(db.session(), key=key, token=token) is not None:
        return to_code_page(token, "inquiries.issued")  # saved already: a reload or a second click
    if form.validate_on_submit():

        def issue() -> tuple[int, str]:
            made = inquiries.create_inquiry(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                            access_key=key, data=_form_data(form), commit=False)
            return made.inquiry.id or 0, made.access_code

        try:
            code_display.issue_once(db.session(), key=key, token=token, kind="staff_new", issue=issue)
        except ServiceError as exc:
            _fail(exc, form)
        else:
            return to_code_page(token, "inquiries.issued")
    return render_template("inquiries/form.html", form=form, inquiry=None)


@bp.route("/import", methods=["GET", "POST"])
def import_inquiries() -> ResponseReturnValue:
    """Inquiries from a partner's spreadsheet, as a job (web/jobs.py); the new inquiries' access
    codes are downloaded once from the job's page."""
    from pow_registry.services.jobs import IMPORT_INQUIRIES
    from pow_registry.web.jobs import start_import

    form = ImportForm()
    started = start_import(form, IMPORT_INQUIRIES)
    if started is not None:
        return started
    return render_template("inquiries/import.html", form=form)


@bp.get("/<int:inquiry_id>")
def detail(inquiry_id: int) -> str:
    try:
        d = inquiries.inquiry_detail(db.session(), inquiry_id)
    except NotFound:
        abort(404)
    row = d.inquiry
    status_form = InquiryStatusForm(formdata=None, version=row.version, status=row.status.value,
                                    closed_reason=row.closed_reason.value if row.closed_reason else "")
    queue_url = (url_for("matches.queue", inquiry=row.id) if "matches.queue" in current_app.view_functions
                 else None)
    return render_template("inquiries/detail.html", d=d, i=row, status_form=status_form,
                           reissue_form=ReissueCodeForm(formdata=None, submission=code_display.new_token()),
                           erase_form=EraseContactForm(formdata=None, version=row.version),
                           assign_form=_assign_form(row),
                           queue_url=queue_url,
                           family_ahead=_family_ahead(row),
                           family_answer=family_pages.answer_html(family_service.view_of(db.session(), row)))


def _assign_form(row: Inquiry) -> AssignForm:
    form = AssignForm(formdata=None, version=row.version,
                      assignee=str(row.assigned_to_id) if row.assigned_to_id else "")
    form.assignee.choices = [("", _("nobody"))] + [
        (str(u.id), u.display_name or u.email) for u in staff_home.staff_members(db.session())]
    return form


@bp.post("/<int:inquiry_id>/assign")
def assign(inquiry_id: int) -> ResponseReturnValue:
    """Give the inquiry to a member of staff ("Take it": to oneself)."""
    _load(inquiry_id)
    form = AssignForm()
    if not form.validate_on_submit():
        flash(_("The form was not accepted. Please try again."), "error")
    else:
        chosen = str(auth.actor().id) if request.form.get("take") else (form.assignee.data or "")
        try:
            staff_home.assign_inquiry(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                      inquiry_id=inquiry_id, version=form.version.data,
                                      assignee_id=parse_int(chosen))
        except ServiceError as exc:
            _fail(exc)  # a redirect follows: the message goes in a flash
        else:
            flash(_("Saved."), "info")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))


def _family_ahead(row: Inquiry) -> bool:
    """The family was told more than the search stands at now (the status went back since)."""
    return row.family_status is not None and not inquiries.family_status_allowed(row.status, row.family_status)


@bp.route("/<int:inquiry_id>/edit", methods=["GET", "POST"])
def edit(inquiry_id: int) -> ResponseReturnValue:
    row = _load(inquiry_id)
    if request.method == "GET":
        form = InquiryForm(obj=row)
        form.service_category.data = row.service_category.value if row.service_category else ""
        form.phones.data = "\n".join(p.raw for p in inquiries.phones_of(db.session(), inquiry_id))
    else:
        form = InquiryForm()
    if form.validate_on_submit():
        try:
            inquiries.update_inquiry(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                     inquiry_id=inquiry_id, version=form.version.data, data=_form_data(form))
        except ServiceError as exc:
            _fail(exc)  # a redirect follows: the message goes in a flash
        else:
            flash(_("Saved."), "info")
            return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))
    return render_template("inquiries/form.html", form=form, inquiry=row)


@bp.post("/<int:inquiry_id>/status")
def status(inquiry_id: int) -> ResponseReturnValue:
    _load(inquiry_id)
    form = InquiryStatusForm()
    if form.validate_on_submit():
        try:
            inquiries.change_status(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                    inquiry_id=inquiry_id, version=form.version.data, status=form.status.data or "",
                                    closed_reason=form.closed_reason.data or None, note=form.note.data or "")
        except ServiceError as exc:
            _fail(exc)
        else:
            flash(_("The status was changed."), "info")
    else:
        flash(_("The form was not accepted. Please try again."), "error")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))


@bp.route("/<int:inquiry_id>/family", methods=["GET", "POST"])
def family(inquiry_id: int) -> ResponseReturnValue:
    """What the family sees: choose it, preview it exactly as the family will read it, save it."""
    row = _load(inquiry_id)
    if request.method == "GET":
        form = FamilyClearForm(formdata=None, version=row.version,
                               family_status=(row.family_status or row.status).value,
                               family_message=row.family_message)
    else:
        form = FamilyClearForm()
    preview = None
    if form.validate_on_submit():
        if request.form.get("action") == "save":
            try:
                inquiries.clear_for_family(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                           inquiry_id=inquiry_id, version=form.version.data,
                                           family_status=form.family_status.data or "",
                                           message=form.family_message.data or "")
            except ServiceError as exc:
                _fail(exc, form)
            else:
                flash(_("The family will now see this."), "info")
                return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))
        else:
            try:
                status, message = inquiries.parse_family_clearance(row.status, form.family_status.data or "",
                                                                   form.family_message.data or "")
            except FieldErrors as exc:
                apply_errors(form, exc)
            else:
                preview = family_pages.answer_html(family_service.view_of(db.session(), row, status=status,
                                                                          message=message))
    return render_template("inquiries/family.html", i=row, form=form, preview=preview,
                           now=family_pages.answer_html(family_service.view_of(db.session(), row)),
                           family_language=LANGUAGE_NAMES.get(row.preferred_language, row.preferred_language))


@bp.post("/<int:inquiry_id>/contact-data/erase")
def erase_contact(inquiry_id: int) -> ResponseReturnValue:
    """The family asked us to forget how to reach them: name, phones and email go; the inquiry,
    the man it is about and the family's reference and code stay."""
    _load(inquiry_id)
    form = EraseContactForm()
    if not form.validate_on_submit():
        flash(_("The form was not accepted. Please try again."), "error")
    else:
        try:
            contact_data.erase_contact_data(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                            inquiry_id=inquiry_id, version=form.version.data,
                                            reason=form.reason.data or "", confirmed=bool(form.confirm.data))
        except ServiceError as exc:
            _fail(exc)
        else:
            flash(_("The family's contact data was erased."), "info")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))


@bp.post("/<int:inquiry_id>/access-code")
def reissue(inquiry_id: int) -> ResponseReturnValue:
    row = _load(inquiry_id)
    form = ReissueCodeForm()
    token = form_token(form)
    key = current_app.config["ACCESS_CODE_KEY_BYTES"]
    if form.is_submitted() and code_display.find(db.session(), key=key, token=token) is not None:
        return to_code_page(token, "inquiries.issued")  # issued already: the code read out keeps working
    if not form.validate_on_submit():
        flash(_("The form was not accepted. Please try again."), "error")
    elif not form.confirm.data:
        flash(_("Tick the box to confirm: the family's current code will stop working."), "error")
    else:

        def issue() -> tuple[int, str]:
            code = inquiries.reissue_access_code(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                                 access_key=key, inquiry_id=inquiry_id, commit=False)
            return row.id or 0, code

        try:
            code_display.issue_once(db.session(), key=key, token=token, kind="reissue", issue=issue)
        except ServiceError as exc:
            _fail(exc)
        else:
            return to_code_page(token, "inquiries.issued")
    return redirect(url_for("inquiries.detail", inquiry_id=inquiry_id))
