"""Exchange lists (staff) and the ombudsman offices they go to (admins).

Two blueprints: `offices` (/admin/offices/, admins: who receives lists, in which language and
with which columns) and `lists` (/lists/, staff: build a draft from the app's proposals, add,
remove and reorder with a reason, freeze it, download its spreadsheet). The services do the
checking; these views only carry the forms there and the answers back.

The spreadsheet is downloaded by a POST (a form with its CSRF token), never a GET: the first
download records the file's SHA-256, and a GET changes nothing (security.md). The first one
makes the file in a job (web/jobs.py; the job's page offers the download when it is ready);
every later one returns the kept file at once, checked against the audit log's record. The
office's answers are read and recorded in a job too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pow_registry import auth, clock, db
from pow_registry.domain.exchange import CATEGORIES, days_in_captivity
from pow_registry.i18n import gettext as _
from pow_registry.models import (
    ExchangeList,
    ExchangeListEntry,
    ListState,
    OmbudsmanOffice,
    ReportClaim,
    Role,
    User,
)
from pow_registry.services import code_display, exchange, jobs
from pow_registry.services.errors import FieldErrors, Forbidden, NotFound, ServiceError
from pow_registry.web.forms import (
    AnswersImportForm,
    EntryMoveForm,
    EntryOutcomeForm,
    EntryRemoveForm,
    ExportForm,
    ListAddForm,
    ListAddProposedForm,
    ListForm,
    ListFreezeForm,
    OfficeActiveForm,
    OfficeForm,
    office_column_choices,
    options,
)
from pow_registry.web.helpers import (
    apply_errors,
    flash_error,
    page_number,
    parse_int,
    translate,
    version_field,
)
from pow_registry.web.labels import priority_reason

bp = Blueprint("lists", __name__, url_prefix="/lists")
offices_bp = Blueprint("offices", __name__, url_prefix="/admin/offices")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refused(exc: ServiceError, form: Any = None) -> int:
    """Roll back, put the service's answer on the form or in a flash; the status to answer with."""
    db.session().rollback()
    if isinstance(exc, NotFound):
        abort(404)
    if isinstance(exc, FieldErrors):
        if form is not None:
            apply_errors(form, exc)
        else:
            flash(" ".join(translate(m) for m in exc.errors.values()), "error")
        return 400
    flash_error(exc)  # Forbidden, Conflict, ListFrozen
    return 403 if isinstance(exc, Forbidden) else 409


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(wanted)))
    return {u.id: u.display_name or u.email for u in users if u.id is not None}


# --- offices (admins) ------------------------------------------------------------------------


def _office(office_id: int) -> OmbudsmanOffice:
    try:
        return exchange.get_office(db.session(), office_id)
    except NotFound:
        abort(404)


def _office_data(form: OfficeForm) -> dict[str, Any]:
    """Only the form's own fields reach the service; the ticked columns in the spreadsheet's order
    (anything unknown is passed on for the service to refuse)."""
    order = [key for key, _label in office_column_choices()]
    ticked = [c for c in (form.columns.data or []) if c]
    columns = sorted((c for c in ticked if c in order), key=order.index) + [c for c in ticked if c not in order]
    return {"name": form.name.data or "", "country": form.country.data or "", "language": form.language.data or "",
            "contact": form.contact.data or "", "columns": columns}


def _office_page(form: OfficeForm, office: OmbudsmanOffice | None, active_form: OfficeActiveForm | None = None,
                 status: int = 200) -> ResponseReturnValue:
    if office is not None and active_form is None:
        active_form = OfficeActiveForm(formdata=None, version=office.version, active="0" if office.is_active else "1")
    return render_template("offices/form.html", form=form, office=office, active_form=active_form), status


def _name_taken(form: OfficeForm) -> int:
    """The database refused a second office of the same name: the service's own check compares
    lower(name), which SQLite folds for ASCII letters only, so "Омбудсмен" can slip past it."""
    db.session().rollback()
    form.name.errors = [*form.name.errors, _("An office with this name exists already.")]
    flash(_("Please correct the errors below."), "error")
    return 400


@offices_bp.get("/", endpoint="index")
def office_index() -> str:
    rows = exchange.offices(db.session())
    labels = dict(office_column_choices())
    return render_template("offices/index.html", offices=rows, column_labels=labels,
                           office_columns=exchange.office_columns)


@offices_bp.route("/new", methods=["GET", "POST"], endpoint="new")
def office_new() -> ResponseReturnValue:
    form = OfficeForm()
    if form.validate_on_submit():
        try:
            exchange.create_office(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                   data=_office_data(form))
        except ServiceError as exc:
            return _office_page(form, None, status=_refused(exc, form))
        except IntegrityError:
            return _office_page(form, None, status=_name_taken(form))
        flash(_("The office was added."), "info")
        return redirect(url_for("offices.index"))
    return _office_page(form, None, status=400 if request.method == "POST" else 200)


@offices_bp.route("/<int:office_id>/edit", methods=["GET", "POST"], endpoint="edit")
def office_edit(office_id: int) -> ResponseReturnValue:
    office = _office(office_id)
    if request.method == "GET":
        form = OfficeForm(formdata=None, obj=office)
        form.columns.data = [c for c in office.columns.split(",") if c]
    else:
        form = OfficeForm()
    if form.validate_on_submit():
        try:
            exchange.update_office(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                   office_id=office_id, version=version_field(form.version.data),
                                   data=_office_data(form), active=office.is_active)
        except ServiceError as exc:
            status = _refused(exc, form)
            return _office_page(form, _office(office_id), status=status)
        except IntegrityError:
            status = _name_taken(form)
            return _office_page(form, _office(office_id), status=status)
        flash(_("Saved."), "info")
        return redirect(url_for("offices.index"))
    return _office_page(form, office, status=400 if request.method == "POST" else 200)


@offices_bp.post("/<int:office_id>/active", endpoint="active")
def office_active(office_id: int) -> ResponseReturnValue:
    """Stop (or resume) sending lists to an office: its lists and history stay."""
    office = _office(office_id)
    active_form = OfficeActiveForm()
    want = active_form.active.data == "1"
    data = {"name": office.name, "country": office.country, "language": office.language,
            "contact": office.contact, "columns": office.columns}
    try:
        exchange.update_office(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                               office_id=office_id, version=version_field(active_form.version.data), data=data,
                               active=want)
    except ServiceError as exc:
        status = _refused(exc)
        office = _office(office_id)
        form = OfficeForm(formdata=None, obj=office)
        form.columns.data = [c for c in office.columns.split(",") if c]
        return _office_page(form, office, status=status)
    flash(_("The office takes lists again.") if want else _("The office takes no new lists."), "info")
    return redirect(url_for("offices.index"))


# --- lists (staff) ---------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    page, size = page_number(), current_app.config["PAGE_SIZE"]
    rows, total = exchange.lists(db.session(), page=page, page_size=size)
    return render_template("lists/index.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // size)), args={})


def _office_choices(form: ListForm) -> bool:
    choices = [(str(o.id), f"{o.name} ({o.country})" if o.country else o.name)
               for o in exchange.offices(db.session(), active_only=True)]
    form.office_id.choices = options(choices)  # type: ignore[assignment]
    return bool(choices)


def _bounded_id(raw: str | None) -> str:
    """An id as the database can hold it (services.exchange.create_list reads it with int())."""
    value = parse_int(raw)
    return "" if value is None else str(value)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    form = ListForm()
    any_office = _office_choices(form)
    status = 200
    if form.validate_on_submit():
        try:
            row = exchange.create_list(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                       data={"office_id": _bounded_id(form.office_id.data), "kind": form.kind.data or "",
                                             "title": form.title.data or "", "notes": form.notes.data or ""})
        except ServiceError as exc:
            status = _refused(exc, form)
            _office_choices(form)
        else:
            flash(_("The list was created. Add the persons to propose, then freeze it."), "info")
            return redirect(url_for("lists.detail", list_id=row.id))
    elif request.method == "POST":
        status = 400
    return render_template("lists/form.html", form=form, any_office=any_office), status


@dataclass
class _Forms:
    """The forms on a list's page; a refused one is shown again with its errors in its place."""

    remove: dict[int, EntryRemoveForm]
    move: dict[int, EntryMoveForm]
    add: dict[int, ListAddForm]  # per proposed person
    add_person: ListAddForm
    add_proposed: ListAddProposedForm
    freeze: ListFreezeForm
    download: ExportForm
    outcome: dict[int, EntryOutcomeForm]
    answers: AnswersImportForm


def _render(list_id: int, status: int = 200, *, remove: tuple[int, EntryRemoveForm] | None = None,
            move: tuple[int, EntryMoveForm] | None = None, add: ListAddForm | None = None,
            freeze: ListFreezeForm | None = None, outcome: tuple[int, EntryOutcomeForm] | None = None,
            answers: AnswersImportForm | None = None) -> ResponseReturnValue:
    session = db.session()
    today = clock.today()  # one reading for the whole page: its day counts and proposals agree
    try:
        d = exchange.list_detail(session, list_id, today=today)
    except NotFound:
        abort(404)
    row = d.exchange_list
    draft = row.state == ListState.draft
    proposals = exchange.proposals(session, row, today=today) if draft else []
    held_back, held_back_total = exchange.held_back(session, row) if draft else ([], 0)
    forms = _Forms(
        remove={v.entry.id or 0: EntryRemoveForm(formdata=None, version=v.entry.version) for v in d.entries},
        move={v.entry.id or 0: EntryMoveForm(formdata=None, version=v.entry.version, position=v.entry.position)
              for v in d.entries},
        add={c.person.id or 0: ListAddForm(formdata=None, person_id=c.person.id, proposal="1") for c in proposals},
        add_person=ListAddForm(formdata=None),
        add_proposed=ListAddProposedForm(formdata=None, person_ids=",".join(str(c.person.id) for c in proposals)),
        freeze=freeze or ListFreezeForm(formdata=None, version=row.version),
        download=ExportForm(formdata=None, submission=code_display.new_token()),
        outcome={v.entry.id or 0: EntryOutcomeForm(formdata=None, version=v.entry.version,
                                                   outcome=v.entry.outcome.value if v.entry.outcome else "acknowledged",
                                                   outcome_date=v.entry.outcome_date or "", note=v.entry.outcome_note)
                 for v in d.entries},
        answers=answers or AnswersImportForm(formdata=None, submission=code_display.new_token()),
    )
    if outcome is not None:
        forms.outcome[outcome[0]] = outcome[1]
    if remove is not None:
        forms.remove[remove[0]] = remove[1]
    if move is not None:
        forms.move[move[0]] = move[1]
    if add is not None:
        person_id = parse_int(add.person_id.data)
        if add.proposal.data == "1" and person_id in forms.add:
            forms.add[person_id] = add  # type: ignore[index]
        else:
            forms.add_person = add
    users = _names(session, {row.created_by_id, row.frozen_by_id}
                   | {v.entry.removed_by_id for v in d.removed} | {v.entry.added_by_id for v in d.entries})
    counts = [(c, d.counts[c]) for c in CATEGORIES if d.counts.get(c)]
    counts += [(c, n) for c, n in sorted(d.counts.items()) if c not in CATEGORIES]
    # The hash shown is the one the audit log recorded at the first export, not the list row's copy
    # (which anyone able to write to the database could change along with the file).
    file_sha256, file_problem = None, ""
    if not draft:
        try:
            file_sha256 = exchange.recorded_sha256(session, audit_key=auth.audit_key(), list_id=list_id)
        except exchange.TamperedExport as exc:
            file_problem = translate(exc.message)
    body = render_template(
        "lists/detail.html", d=d, row=row, draft=draft, proposals=proposals, forms=forms, users=users,
        file_sha256=file_sha256, file_problem=file_problem,
        counts=counts, priority_reason=priority_reason, shown=_shown,
        held_back=held_back, held_back_total=held_back_total,
        on_list={v.entry.person_id: v.person for v in d.entries},
        may_review_duplicates=auth.actor().has_role(Role.researcher),
        proposal_days={c.person.id: days_in_captivity(c.capture_date, today) for c in proposals},
    )
    return body, status


def _shown(view: exchange.EntryView) -> dict[str, Any]:
    """A row as it was sent (the snapshot taken at freezing), else as the registry has it now."""
    person = view.person
    if view.entry.snapshot:
        sent = json.loads(view.entry.snapshot)
        return {"surname": sent.get("surname", ""), "given_name": sent.get("given_name", ""),
                "patronymic": sent.get("patronymic", ""), "date_of_birth": sent.get("date_of_birth")}
    if person is None:
        return {"surname": "", "given_name": "", "patronymic": "", "date_of_birth": None}
    # What the name line needs for a man whose surname is not known yet (labels.person_name).
    return {"surname": person.surname, "given_name": person.given_name, "patronymic": person.patronymic,
            "date_of_birth": person.date_of_birth, "call_sign": person.call_sign, "unit": person.unit,
            "unit_number": person.unit_number, "personal_number": person.personal_number,
            "appearance": person.appearance}


def _list(list_id: int) -> ExchangeList:
    try:
        return exchange.get_list(db.session(), list_id)
    except NotFound:
        abort(404)


def _entry(list_id: int, entry_id: int) -> ExchangeListEntry:
    entry = db.session().get(ExchangeListEntry, entry_id)
    if entry is None or entry.list_id != list_id:
        abort(404)
    return entry


def _done(list_id: int, message: str, anchor: str = "") -> ResponseReturnValue:
    flash(message, "info")
    return redirect(url_for("lists.detail", list_id=list_id) + (f"#{anchor}" if anchor else ""))


@bp.get("/<int:list_id>")
def detail(list_id: int) -> ResponseReturnValue:
    return _render(list_id)


@bp.post("/<int:list_id>/add")
def add(list_id: int) -> ResponseReturnValue:
    """Add one person: a proposal's "add" button or a registry number typed in, with a reason."""
    _list(list_id)
    form = ListAddForm()
    if not form.validate_on_submit():
        return _render(list_id, 400, add=form)
    person_id = parse_int(form.person_id.data)
    if person_id is None:
        form.person_id.errors = [_("A registry number, such as 123.")]
        return _render(list_id, 400, add=form)
    try:
        exchange.add_person(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(), list_id=list_id,
                            person_id=person_id, reason=form.reason.data or "")
    except ServiceError as exc:
        return _render(list_id, _refused(exc, form), add=form)
    if any(person_id in pair.person_ids for pair in exchange.duplicates_on_list(db.session(), list_id)):
        flash(_("Added to the list, but he may be the same man as someone already on it: settle the pair "
                "before freezing."), "warn")
        return redirect(url_for("lists.detail", list_id=list_id) + "#duplicates")
    return _done(list_id, _("Added to the list."), "entries")


@bp.post("/<int:list_id>/add-proposed")
def add_proposed(list_id: int) -> ResponseReturnValue:
    """Add the proposals the page showed (those still proposed), in their order."""
    _list(list_id)
    form = ListAddProposedForm()
    if not form.validate_on_submit():
        return _render(list_id, 400)
    ids = [parse_int(part) for part in (form.person_ids.data or "").split(",")]
    wanted = [i for i in ids if i is not None]
    if not wanted:
        flash(_("No proposal was chosen."), "error")
        return _render(list_id, 400)
    try:
        added = exchange.add_proposed(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                      list_id=list_id, person_ids=wanted)
    except ServiceError as exc:
        return _render(list_id, _refused(exc))
    return _done(list_id, _("%(n)d added to the list.", n=added), "entries")


@bp.post("/<int:list_id>/entries/<int:entry_id>/remove")
def remove(list_id: int, entry_id: int) -> ResponseReturnValue:
    _entry(list_id, entry_id)
    form = EntryRemoveForm()
    if not form.validate_on_submit():
        return _render(list_id, 400, remove=(entry_id, form))
    try:
        exchange.remove_entry(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                              entry_id=entry_id, version=version_field(form.version.data),
                              reason=form.reason.data or "")
    except ServiceError as exc:
        return _render(list_id, _refused(exc, form), remove=(entry_id, form))
    return _done(list_id, _("Removed from the list."), "removed")


@bp.post("/<int:list_id>/entries/<int:entry_id>/move")
def move(list_id: int, entry_id: int) -> ResponseReturnValue:
    _entry(list_id, entry_id)
    form = EntryMoveForm()
    if not form.validate_on_submit():
        return _render(list_id, 400, move=(entry_id, form))
    try:
        exchange.move_entry(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                            entry_id=entry_id, version=version_field(form.version.data),
                            position=parse_int(form.position.data), reason=form.reason.data or "")
    except ServiceError as exc:
        return _render(list_id, _refused(exc, form), move=(entry_id, form))
    return _done(list_id, _("Moved."), f"entry-{entry_id}")


@bp.post("/<int:list_id>/freeze")
def freeze(list_id: int) -> ResponseReturnValue:
    _list(list_id)
    form = ListFreezeForm()
    if not form.validate_on_submit():
        return _render(list_id, 400, freeze=form)
    if not form.confirm.data:
        form.confirm.errors = [_("Tick the box to confirm: a frozen list can never be changed.")]
        return _render(list_id, 400, freeze=form)
    try:
        row = exchange.freeze_list(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                   list_id=list_id, version=version_field(form.version.data))
    except ServiceError as exc:
        return _render(list_id, _refused(exc, form), freeze=form)
    return _done(list_id, _("List %(number)d is frozen. Download its spreadsheet to send it.", number=row.number or 0))


@bp.post("/<int:list_id>/entries/<int:entry_id>/outcome")
def outcome(list_id: int, entry_id: int) -> ResponseReturnValue:
    """What the office answered for one man (frozen lists only; the service refuses drafts)."""
    _entry(list_id, entry_id)
    form = EntryOutcomeForm()
    if not form.validate_on_submit():
        return _render(list_id, 400, outcome=(entry_id, form))
    try:
        exchange.record_outcome(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                entry_id=entry_id, version=version_field(form.version.data),
                                outcome=form.outcome.data or "", outcome_date=form.outcome_date.data or "",
                                note=form.note.data or "")
    except ServiceError as exc:
        return _render(list_id, _refused(exc, form), outcome=(entry_id, form))
    return _done(list_id, _("The answer was recorded."), f"entry-{entry_id}")


@bp.post("/<int:list_id>/answers")
def answers(list_id: int) -> ResponseReturnValue:
    """The office's answers from the spreadsheet it sent back, read and recorded in a job (all
    rows or none): this only keeps the file and goes to the job's page."""
    from pow_registry.web.jobs import start_import

    row = _list(list_id)
    form = AnswersImportForm()

    def frozen() -> bool:
        if row.state == ListState.draft:  # the job would refuse it: say so at once (a draft's page has no such form)
            flash(_("Answers are recorded on frozen lists only."), "error")
            return False
        return True

    started = start_import(form, jobs.OFFICE_ANSWERS, params={"list_id": list_id}, check=frozen)
    if started is not None:
        return started
    return _render(list_id, 400, answers=form)


@bp.post("/<int:list_id>/download")
def download(list_id: int) -> ResponseReturnValue:
    """The frozen list's .xlsx, always the same bytes. The first time it is made in a job (which
    records its SHA-256 in the audit log) and this goes to the job's page; once made, every
    download is the kept file, checked against that record (409 when it does not match)."""
    from pow_registry.web.jobs import start_job

    row = _list(list_id)
    form = ExportForm()
    if not form.validate_on_submit():
        return _render(list_id, 400)
    try:
        made = row.state != ListState.draft and exchange.recorded_sha256(
            db.session(), audit_key=auth.audit_key(), list_id=list_id) is not None
    except ServiceError as exc:  # TamperedExport
        return _render(list_id, _refused(exc))
    if not made and row.state != ListState.draft:
        db.session().rollback()  # end the read
        return start_job(form, jobs.LIST_EXPORT, params={"list_id": list_id})
    try:
        exported = exchange.export_list(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(),
                                        list_id=list_id)
    except ServiceError as exc:
        return _render(list_id, _refused(exc))
    response = Response(exported.data, mimetype=XLSX_MIMETYPE)
    response.headers.set("Content-Disposition", "attachment", filename=exported.filename)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# --- a person's submission history (shown on the registry's person page) --------------------


@dataclass
class Submission:
    exchange_list: ExchangeList
    office: OmbudsmanOffice | None
    entry: ExchangeListEntry
    days_when_sent: int | None  # days in captivity on the day the list was frozen


@dataclass
class SubmissionHistory:
    rows: list[Submission]
    capture_date: str | None  # the earliest reported capture
    days: int | None  # in captivity today


def person_submissions(session: Session, person_id: int, reports: list[Any]) -> SubmissionHistory:
    """Which lists a person was on, when, what came back, and his captivity clock.
    `reports`: the person's capture reports (registry.person_detail(...).reports)."""
    captures = sorted(
        (r.report.capture_date for r in reports if r.report.claim == ReportClaim.captured and r.report.capture_date),
    )
    capture = captures[0] if captures else None
    rows = []
    offices: dict[int, OmbudsmanOffice | None] = {}
    for exchange_list, entry in exchange.submission_history(session, person_id):
        if exchange_list.office_id not in offices:
            offices[exchange_list.office_id] = session.get(OmbudsmanOffice, exchange_list.office_id)
        sent = exchange_list.frozen_at.date() if exchange_list.frozen_at else None
        rows.append(Submission(exchange_list, offices[exchange_list.office_id], entry,
                               days_in_captivity(capture, sent) if sent else None))
    return SubmissionHistory(rows, capture, days_in_captivity(capture, clock.today()))
