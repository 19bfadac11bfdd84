"""Jobs: the import pages start one (`start_import`: captures, inquiries, an office's answers, a
counterpart list), other pages one without a file (`start_job`: re-matching everything, a list's
spreadsheet, a counterpart list matched again); the job's page shows its progress and its
outcome, "My jobs" lists them. A job is seen by its owner and by admins; anyone else gets a 404.

The job's page works without JavaScript (it reloads itself while the job runs: a meta refresh
inside <noscript>); with it, static/jobs.js asks `/jobs/<id>/progress` every few seconds and
moves the bar, then reloads once the job has ended.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    url_for,
)
from flask.typing import ResponseReturnValue

from pow_registry import auth, clock, db, worker
from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import Job, JobStatus, Role
from pow_registry.services import jobs
from pow_registry.services.errors import NotFound
from pow_registry.web.forms import EmptyForm, ExportForm, ImportForm
from pow_registry.web.helpers import form_token, page_number

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

KIND_LABELS = {jobs.IMPORT_CAPTURES: _l("Import of captures"), jobs.IMPORT_INQUIRIES: _l("Import of inquiries"),
               jobs.OFFICE_ANSWERS: _l("An office's answers"), jobs.COUNTERPART_IMPORT: _l("Import of a counterpart list"),
               jobs.COUNTERPART_RECONCILE: _l("A counterpart list matched again"),
               jobs.MATCH_ALL: _l("Everything re-scored"), jobs.LIST_EXPORT: _l("An exchange list's spreadsheet")}
PHASE_LABELS = {
    "": _l("Waiting for the worker"),
    "reading": _l("Reading the file"),
    "checking": _l("Checking every row"),
    "writing": _l("Writing the rows"),
    "saving": _l("Cross-referencing the new records and saving"),
    jobs.PHASE_MATCHING: _l("Matching against the registry"),
    jobs.PHASE_BUILDING: _l("Making the spreadsheet"),
}
STATUS_LABELS = {JobStatus.queued: _l("Waiting"), JobStatus.running: _l("Running"), JobStatus.done: _l("Finished"),
                 JobStatus.failed: _l("Failed")}
FAILURES = {
    jobs.FAILURE_WORKER_STOPPED: _l("The worker stopped while this job was running; nothing was imported. "
                                    "Start it again: upload the file once more."),
    jobs.FAILURE_ERROR: _l("The job stopped on an unexpected error; nothing was imported. Try again; if it "
                           "happens again, tell an administrator (the worker's log says why)."),
    jobs.FAILURE_NOT_ALLOWED: _l("Your account may no longer do this; nothing was imported."),
}
# The same, for the jobs that import no file.
FAILURES_NO_FILE = {
    jobs.FAILURE_WORKER_STOPPED: _l("The worker stopped while this job was running; nothing of it was kept. "
                                    "Start it again."),
    jobs.FAILURE_ERROR: _l("The job stopped on an unexpected error; nothing of it was kept. Try again; if it "
                           "happens again, tell an administrator (the worker's log says why)."),
    jobs.FAILURE_NOT_ALLOWED: _l("Your account may no longer do this; nothing was changed."),
}
#: A job still waiting after this long probably has no worker: the page says how to start one.
NO_WORKER_HINT_AFTER = timedelta(seconds=60)
PROBLEMS_PER_PAGE = 100
XLSX_MAGIC = b"PK\x03\x04"


def _submission_key() -> bytes:
    return current_app.config["ACCESS_CODE_KEY_BYTES"]  # type: ignore[no-any-return]


def _check_upload(form: ImportForm) -> tuple[bytes, str] | None:
    """The upload's bytes and name, or None with the reason on the file field: nothing is kept
    and no job is made for a file that is plainly not an import (size, type, empty)."""
    upload = form.file.data
    if not upload or not getattr(upload, "filename", ""):
        form.file.errors = [_("Choose a file.")]
        return None
    limit = int(current_app.config["IMPORT_MAX_BYTES"])
    data = upload.read(limit + 1)
    name = (upload.filename or "").strip()
    if len(data) > limit:
        form.file.errors = [_("The file is too large (at most %(mb)d MB).", mb=limit // 1_000_000)]
    elif not name.lower().endswith((".xlsx", ".csv")):
        form.file.errors = [_("Only .xlsx and .csv files can be imported.")]
    elif not data:
        form.file.errors = [_("The file is empty.")]
    elif name.lower().endswith(".xlsx") and not data.startswith(XLSX_MAGIC):
        form.file.errors = [_("This is not an .xlsx spreadsheet (save it again as .xlsx or .csv).")]
    else:
        return data, name
    return None


def start_import(form: Any, kind: str, params: dict[str, Any] | None = None,
                 check: Callable[[], bool] | None = None) -> ResponseReturnValue | None:
    """The POST of an import page: keep the file in a new job, put it on the queue, and redirect
    to the job's page (Post/Redirect/Get); the same send again goes to the same job. None when
    the page should be shown again (no send, or the upload is refused: the form says why).
    `form` has `file`, `dry_run` and `submission`; `check` looks at the form's other fields
    before anything is kept (False: the form holds the errors)."""
    token = form_token(form)
    if not form.is_submitted():
        return None
    done = jobs.find_submission(db.session(), key=_submission_key(), token=token)
    if done is not None:
        return redirect(url_for("jobs.detail", job_id=done.id), 303)  # a reload or a second click
    if not form.validate_on_submit():
        return None
    if check is not None and not check():
        return None
    upload = _check_upload(form)
    if upload is None:
        return None
    job = jobs.create_import_job(db.session(), actor=auth.actor(), crypto=current_app.extensions["pow_registry.contact_crypto"],
                                 key=_submission_key(), token=token, kind=kind, data=upload[0], filename=upload[1],
                                 dry_run=bool(form.dry_run.data), params=params)
    return _enqueued(job)


def start_job(form: Any, kind: str, params: dict[str, Any] | None = None) -> ResponseReturnValue:
    """The POST of a button that starts a job without a file (`form` has `submission`): the same
    send again, or a job of this kind for the same list already waiting or running (someone
    else's click), goes to that job instead of doing the work twice."""
    token = form_token(form)
    session = db.session()
    done = jobs.find_submission(session, key=_submission_key(), token=token)
    if done is not None:
        return redirect(url_for("jobs.detail", job_id=done.id), 303)
    if not form.validate_on_submit():
        abort(400)
    running = jobs.open_job_for(session, kind=kind, list_id=(params or {}).get("list_id"))
    if running is not None:
        flash(_("This is already being done: here is the job."), "info")
        return redirect(url_for("jobs.detail", job_id=running.id), 303)
    job = jobs.create_job(session, actor=auth.actor(), key=_submission_key(), token=token, kind=kind, params=params)
    return _enqueued(job)


def _enqueued(job: Job) -> ResponseReturnValue:
    if not worker.queue().enqueue(job.id or 0):
        flash(_("The job queue cannot be reached just now: the job waits, and starts once a worker finds it."), "warn")
    return redirect(url_for("jobs.detail", job_id=job.id), 303)


def _visible(job_id: int) -> Job:
    try:
        return jobs.visible_job(db.session(), job_id, auth.actor())
    except NotFound:
        abort(404)


def _progress_dir() -> Any:
    return worker.jobs_dir(current_app._get_current_object())  # type: ignore[attr-defined]  # noqa: SLF001


def _phase_label(job: Job, progress: jobs.Progress) -> str:
    if job.status == JobStatus.queued:
        return str(PHASE_LABELS[""])
    return str(PHASE_LABELS.get(progress.phase, PHASE_LABELS["reading"]))


def _rows_text(progress: jobs.Progress) -> str:
    if progress.phase in ("writing", "saving"):
        return _("%(done)d of %(total)d rows written", done=progress.done, total=progress.total)
    if progress.total:
        return _("%(done)d of %(total)d rows checked", done=progress.done, total=progress.total)
    return ""


@dataclass
class ProblemsPage:
    errors: list[jobs.Problem]


def _back(job: Job) -> tuple[str, str]:
    """Where the job came from: the link under its page, and its words."""
    list_id = jobs.job_params(job).get("list_id")
    outcome = jobs.outcome_of(job)
    if outcome is not None and list_id is None:
        list_id = outcome.counts.get("list_id")
    if job.kind in (jobs.OFFICE_ANSWERS, jobs.LIST_EXPORT) and list_id:
        return url_for("lists.detail", list_id=list_id), _("Back to the list")
    if job.kind in (jobs.COUNTERPART_IMPORT, jobs.COUNTERPART_RECONCILE):
        if list_id:
            return url_for("counterpart.detail", list_id=list_id), _("Open the counterpart list")
        return url_for("counterpart.new"), _("Import another file")
    if job.kind == jobs.MATCH_ALL:
        return url_for("admin.matching"), _("Back to matching")
    return (url_for("inquiries.import_inquiries" if job.kind == jobs.IMPORT_INQUIRIES else "registry.import_captures"),
            _("Import another file"))


@bp.get("/")
def index() -> str:
    page, size = page_number(), current_app.config["PAGE_SIZE"]
    rows, total = jobs.jobs_of(db.session(), auth.actor(), page=page, page_size=size)
    outcomes = {job.id: jobs.outcome_of(job) for job in rows}
    progress = {job.id: jobs.progress_of(job, _progress_dir()) for job in rows}
    owners = jobs.owners_of(db.session(), rows) if auth.actor().has_role(Role.admin) else {}
    return render_template("jobs/index.html", rows=rows, outcomes=outcomes, progress=progress, owners=owners, total=total,
                           page=page, pages=max(1, -(-total // size)), kinds=KIND_LABELS, statuses=STATUS_LABELS)


@bp.get("/<int:job_id>")
def detail(job_id: int) -> str:
    job = _visible(job_id)
    progress = jobs.progress_of(job, _progress_dir())
    outcome = jobs.outcome_of(job)
    page = page_number()
    problems = None
    pages = 1
    if outcome is not None and outcome.errors:
        pages = max(1, -(-len(outcome.errors) // PROBLEMS_PER_PAGE))
        page = min(page, pages)
        problems = ProblemsPage(outcome.errors[(page - 1) * PROBLEMS_PER_PAGE:page * PROBLEMS_PER_PAGE])
    finished = job.status in (JobStatus.done, JobStatus.failed)
    waiting_long = job.status == JobStatus.queued and (job.enqueued_at or job.created_at) < clock.now() - NO_WORKER_HINT_AFTER
    codes_until = job.finished_at + jobs.CODES_KEEP if job.finished_at else None
    codes_ready = job.sealed_codes is not None and codes_until is not None and codes_until > clock.now()
    owner = job.owner_id == auth.actor().id  # the codes are for whoever imported the file, not for an admin
    back, back_text = _back(job)
    failures = FAILURES if job.kind in jobs.FILE_KINDS else FAILURES_NO_FILE
    export_ready = (job.kind == jobs.LIST_EXPORT and job.status == JobStatus.done and outcome is not None
                    and outcome.ok and auth.actor().has_role(Role.staff))  # who may download: as on the list's page
    return render_template("jobs/detail.html", job=job, progress=progress, outcome=outcome, problems=problems,
                           page=page, pages=pages, finished=finished, waiting_long=waiting_long,
                           phase=_phase_label(job, progress), rows_text=_rows_text(progress),
                           kind=KIND_LABELS.get(job.kind, job.kind), status=STATUS_LABELS[job.status],
                           failure=failures.get(job.failure, failures[jobs.FAILURE_ERROR]),
                           codes_ready=codes_ready, codes_until=codes_until, codes_form=EmptyForm(), owner=owner,
                           back=back, back_text=back_text, export_ready=export_ready, download_form=ExportForm())


@bp.get("/<int:job_id>/progress")
def progress(job_id: int) -> ResponseReturnValue:
    """Where the job stands, for the page's script (JSON; the page itself works without it)."""
    job = _visible(job_id)
    state = jobs.progress_of(job, _progress_dir())
    return jsonify(status=job.status.value, finished=job.status in (JobStatus.done, JobStatus.failed),
                   phase=_phase_label(job, state), rows=_rows_text(state), done=state.done, total=state.total,
                   percent=state.percent)


@bp.post("/<int:job_id>/codes")
def codes(job_id: int) -> ResponseReturnValue:
    """The new inquiries' access codes as a CSV file, once, for whoever imported them; then they are erased."""
    job = _visible(job_id)
    if job.owner_id != auth.actor().id:
        abort(404)  # an admin sees the job, but the codes are its owner's to hand on
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    taken = jobs.take_codes(db.session(), job=job, key=current_app.config["ACCESS_CODE_KEY_BYTES"])
    if taken is None:
        flash(_("These access codes were downloaded already, or kept too long and erased: they are not shown "
                "again. Re-issue a family's code on its inquiry's page."), "error")
        return redirect(url_for("jobs.detail", job_id=job_id), 303)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(jobs.codes_csv_rows(taken))
    return Response(buffer.getvalue().encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="access-codes-job-{job_id}.csv"'})
