"""Long work off the request path (design/architecture.md, point 12).

A page validates an upload and calls `create_import_job` (or `create_job` for work without a
file), which keeps the file (encrypted) and what the job is for (`params`) in a `Job` row; the
caller then puts the job's id on the queue. A worker calls `run_job`, which runs the very service
function the command line or the page ran before (services/imports.py, the office's answers and
the list's spreadsheet in services/exchange.py, services/counterpart.py, re-matching in
services/matching.py): the file is parsed and every row checked before the write transaction
opens, the rows are written in one transaction, and the job's outcome is written in that same
transaction (all or nothing, outcome included).

Re-matching everything (`match_all`) is the one exception: services/matching.py commits on its
own, so its outcome is recorded just after; a worker that stops between the two commits leaves a
job that runs again (re-scoring is idempotent: the rerun's outcome counts what it changed then).

The row is the truth, the queue only a wake-up call: the page reads progress and outcome from
the database, and a job whose worker stopped is found by its stale heartbeat (`sweep`), then run
again from the start (nothing of the stopped attempt was committed) or, after MAX_ATTEMPTS,
marked failed with the reason. Each attempt is numbered, and only the attempt that owns the row
can finish it: a worker that was given up for dead and wakes up again cannot commit its import.

Progress and heartbeat are written by a thread of their own in short transactions. On SQLite the
import's write transaction holds the only write lock for as long as it writes, so during that
phase they go to a small file beside the queue (`progress_dir/job-<id>.json`: numbers only) and
`progress_of` reads it; on PostgreSQL they always go to the row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, func, select

from pow_registry import clock
from pow_registry.models import ExchangeList, Job, JobStatus, Role, User
from pow_registry.services import counterpart, exchange, imports, matching
from pow_registry.services.errors import Conflict, FieldErrors, NotFound, ServiceError

__all__ = [
    "BEAT_SECONDS", "CODES_KEEP", "IMPORT_KINDS", "JOB_KINDS", "LEASE", "MAX_ATTEMPTS", "JobSuperseded", "Outcome",
    "Progress", "Runtime", "codes_csv_rows", "create_import_job", "create_job", "find_submission", "job_params",
    "jobs_of", "open_job_for", "outcome_of", "progress_of", "run_job", "sweep", "take_codes", "visible_job",
    "worker_identity",
]

log = logging.getLogger(__name__)

# What a job can be, and the role its owner needs for it (the role of the page that starts it).
IMPORT_CAPTURES, IMPORT_INQUIRIES = "import_captures", "import_inquiries"
IMPORT_KINDS = {IMPORT_CAPTURES: Role.researcher, IMPORT_INQUIRIES: Role.staff}
OFFICE_ANSWERS = "office_answers"  # an office's answers to a frozen exchange list, from its spreadsheet
COUNTERPART_IMPORT = "counterpart_import"  # a counterpart list read, stored and reconciled
COUNTERPART_RECONCILE = "counterpart_reconcile"  # a counterpart list matched again
MATCH_ALL = "match_all"  # `pow-registry match --all`: frequencies, model, every record re-scored
LIST_EXPORT = "list_export"  # a frozen exchange list's spreadsheet, made and recorded once
JOB_KINDS = {**IMPORT_KINDS, OFFICE_ANSWERS: Role.staff, COUNTERPART_IMPORT: Role.staff,
             COUNTERPART_RECONCILE: Role.staff, MATCH_ALL: Role.admin, LIST_EXPORT: Role.staff}
#: Jobs that work on an uploaded file: without it (erased when a job ends) they cannot run again.
FILE_KINDS = frozenset({IMPORT_CAPTURES, IMPORT_INQUIRIES, OFFICE_ANSWERS, COUNTERPART_IMPORT})

# Phases of the jobs that are not imports (imports.PHASE_* are the imports' own).
PHASE_MATCHING = "matching"
PHASE_BUILDING = "building"
#: Phases in which the job's transaction may hold SQLite's write lock: the beat writes its file.
WRITE_PHASES = frozenset({imports.PHASE_WRITING, imports.PHASE_SAVING, PHASE_MATCHING, PHASE_BUILDING})

#: How often the running job's thread writes its progress and heartbeat.
BEAT_SECONDS = 1.0
#: A running job whose heartbeat is older than this has lost its worker.
LEASE = timedelta(seconds=30)
#: Attempts before a job whose worker keeps stopping is marked failed (a file that kills the
#: worker, e.g. by exhausting its memory, must not take it down for ever).
MAX_ATTEMPTS = 2
#: A queued job still waiting this long after it was put on the queue, and not on it any more,
#: is put on it again (the message was lost: the queue was down, or a worker took it and died).
REQUEUE_AFTER = timedelta(seconds=30)
#: New inquiries' access codes wait sealed this long for their one download, then are erased
#: (staff can re-issue a code per inquiry).
CODES_KEEP = timedelta(hours=24)

# Why a job failed (the page says it in the reader's language).
FAILURE_WORKER_STOPPED = "worker_stopped"
FAILURE_ERROR = "error"
FAILURE_NOT_ALLOWED = "not_allowed"

# Columns of an inquiries file that hold a family's contact data: the problems the job keeps
# about them say where, never what (a wrong phone number is shown masked).
CONTACT_COLUMNS = frozenset({"requester_name", "requester_relationship", "requester_phone", "requester_email"})


class JobSuperseded(RuntimeError):
    """This attempt no longer owns the job (it was given up for dead and started again)."""


def worker_identity() -> str:
    """host:pid:random: a sweeper on the same host can tell that a job's worker process is gone
    (the random part tells a restarted worker that got the same pid, as in a container, from the old one)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{os.urandom(4).hex()}"


# --- creating and finding jobs (the web side) --------------------------------------------------


def _submission_digest(key: bytes, token: str) -> str:
    return hmac.new(key, b"job-submission:" + token.encode("ascii"), hashlib.sha256).hexdigest()


def find_submission(session: Session, *, key: bytes, token: str) -> Job | None:
    """The job this form send already made, if any (a reload, Back and resend, a double click)."""
    return session.exec(select(Job).where(Job.submission_digest == _submission_digest(key, token))).first()


def create_import_job(session: Session, *, actor: User, crypto: Any, key: bytes, token: str, kind: str,
                      data: bytes, filename: str, dry_run: bool, params: dict[str, Any] | None = None) -> Job:
    """A queued job holding the file, encrypted with the contact-data key; the same form send
    (same one-time `token`) gives the same job. The caller enqueues `job.id` after this commits."""
    if kind not in FILE_KINDS:
        raise ValueError(kind)
    return _create(session, key=key, token=token, fields={
        "kind": kind, "owner_id": actor.id or 0, "dry_run": dry_run, "filename": filename[:255], "file_bytes": len(data),
        "file_sha256": hashlib.sha256(data).hexdigest(), "payload": crypto.encrypt_bytes(data),
        "params": json.dumps(params, ensure_ascii=False) if params is not None else None})


def create_job(session: Session, *, actor: User, key: bytes, token: str, kind: str,
               params: dict[str, Any] | None = None) -> Job:
    """A queued job without a file (re-matching, a list's spreadsheet, a counterpart list matched
    again); the same form send gives the same job."""
    if kind not in JOB_KINDS or kind in FILE_KINDS:
        raise ValueError(kind)
    return _create(session, key=key, token=token, fields={
        "kind": kind, "owner_id": actor.id or 0,
        "params": json.dumps(params, ensure_ascii=False) if params is not None else None})


def _create(session: Session, *, key: bytes, token: str, fields: dict[str, Any]) -> Job:
    existing = find_submission(session, key=key, token=token)
    if existing is not None:
        return existing
    now = clock.now()
    job = Job(**fields, status=JobStatus.queued, submission_digest=_submission_digest(key, token), created_at=now,
              enqueued_at=now)
    session.add(job)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # the other send of this form won the race: its job is this one
        existing = find_submission(session, key=key, token=token)
        if existing is None:
            raise
        return existing
    return job


def job_params(job: Job) -> dict[str, Any]:
    """What the job works on (empty for an import)."""
    try:
        value = json.loads(job.params) if job.params else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def open_job_for(session: Session, *, kind: str, list_id: int | None = None) -> Job | None:
    """A job of this kind (for this list) still waiting or running: a second click, by anyone,
    joins it instead of doing the same work twice."""
    rows = session.exec(select(Job).where(Job.kind == kind, col(Job.status).in_([JobStatus.queued, JobStatus.running]))
                        .order_by(col(Job.id))).all()
    for job in rows:
        if list_id is None or job_params(job).get("list_id") == list_id:
            return job
    return None


def visible_job(session: Session, job_id: int, user: User) -> Job:
    """The job, for its owner or an admin; NotFound for anyone else (whether it exists is not told)."""
    job = session.get(Job, job_id)
    if job is None or (job.owner_id != user.id and not user.has_role(Role.admin)):
        raise NotFound()
    return job


def jobs_of(session: Session, user: User, *, page: int, page_size: int, kind: str | None = None) -> tuple[list[Job], int]:
    """The user's jobs (of one kind), newest first (an admin's list: everyone's)."""
    query = select(Job)
    count = select(func.count()).select_from(Job)
    if kind is not None:
        query = query.where(Job.kind == kind)
        count = count.where(Job.kind == kind)
    if not user.has_role(Role.admin):
        query = query.where(Job.owner_id == user.id)
        count = count.where(Job.owner_id == user.id)
    total = session.exec(count).one()
    rows = session.exec(query.order_by(col(Job.created_at).desc(), col(Job.id).desc())
                        .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), total


def owners_of(session: Session, rows: list[Job]) -> dict[int, str]:
    """The email of each job's owner (an admin's list names them)."""
    ids = sorted({job.owner_id for job in rows})
    if not ids:
        return {}
    return {user.id or 0: user.email for user in session.exec(select(User).where(col(User.id).in_(ids)))}


# --- progress and outcome (what the page shows) -----------------------------------------------


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int
    at: datetime | None  # the last sign of life of the job's worker

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


def _progress_file(progress_dir: Path, job_id: int) -> Path:
    return progress_dir / f"job-{job_id}.json"


def _file_progress(progress_dir: Path, job_id: int, attempt: int) -> Progress | None:
    try:
        raw = json.loads(_progress_file(progress_dir, job_id).read_text(encoding="utf-8"))
        if raw["attempt"] != attempt:
            return None  # an earlier attempt's
        return Progress(str(raw["phase"]), int(raw["done"]), int(raw["total"]), datetime.fromisoformat(raw["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def progress_of(job: Job, progress_dir: Path | None) -> Progress:
    """Where the job stands: its row, or the progress file its worker writes while an SQLite
    write transaction keeps the row out of reach (whichever is newer for this attempt)."""
    best = Progress(job.phase, job.rows_done, job.rows_total, job.heartbeat_at)
    if job.status != JobStatus.running or progress_dir is None or job.id is None:
        return best
    written = _file_progress(progress_dir, job.id, job.attempts)
    if written is not None and written.at is not None and (best.at is None or written.at > best.at):
        return written
    return best


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str  # the English template, translated by the page
    params: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    dry_run: bool
    rows_total: int
    rows_created: int
    rows_skipped: int
    persons_created: int
    evidence_created: int
    inquiries_created: int
    errors: list[Problem] = field(default_factory=list)
    #: The other jobs' numbers: list_id, candidates, unmatched (counterpart lists); records,
    #: new_candidates, dropped_candidates, reopened (re-matching); number, file_size (a list's file).
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _mask(value: Any) -> Any:
    if isinstance(value, int):
        return value
    text = str(value)
    return "…" + text[-2:] if len(text) > 4 else "…"


def _outcome_json(report: imports.ImportReport, counts: dict[str, int] | None = None) -> str:
    errors = []
    for error in report.errors:
        template = getattr(error.message, "template", error.message)
        params = {**getattr(error.message, "params", {}), **error.params}
        if error.column in CONTACT_COLUMNS:
            params = {name: _mask(value) for name, value in params.items()}
        else:
            params = {name: value if isinstance(value, int) else str(value) for name, value in params.items()}
        errors.append({"row": error.row, "column": error.column, "message": str(template), "params": params})
    return json.dumps({
        "dry_run": report.dry_run, "rows_total": report.rows_total, "rows_created": report.rows_created,
        "rows_skipped": report.rows_skipped, "persons_created": report.persons_created,
        "evidence_created": report.evidence_created, "inquiries_created": report.inquiries_created,
        "errors": errors, "counts": counts or {},
    }, ensure_ascii=False)


def outcome_of(job: Job) -> Outcome | None:
    """The report of a finished job (None while it runs, or when it failed before one existed)."""
    if not job.outcome:
        return None
    raw = json.loads(job.outcome)
    errors = [Problem(int(e["row"]), str(e["column"]), str(e["message"]), dict(e["params"])) for e in raw["errors"]]
    return Outcome(dry_run=bool(raw["dry_run"]), rows_total=int(raw["rows_total"]),
                   rows_created=int(raw["rows_created"]), rows_skipped=int(raw["rows_skipped"]),
                   persons_created=int(raw["persons_created"]), evidence_created=int(raw["evidence_created"]),
                   inquiries_created=int(raw["inquiries_created"]), errors=errors,
                   counts={str(k): int(v) for k, v in (raw.get("counts") or {}).items()})


# --- the access codes of imported inquiries: sealed, handed over once -------------------------


def _codes_fernet(key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pow_registry job codes seal").derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def _seal_codes(key: bytes, codes: list[imports.IssuedCode]) -> str:
    plain = json.dumps([[c.source_ref, c.reference, c.access_code] for c in codes], ensure_ascii=False)
    return _codes_fernet(key).encrypt(plain.encode("utf-8")).decode("ascii")


def take_codes(session: Session, *, job: Job, key: bytes) -> list[imports.IssuedCode] | None:
    """The new inquiries' access codes, the first time only, then erased; None when they were
    taken already, or kept unseen longer than CODES_KEEP (staff re-issue a code per inquiry)."""
    sealed = job.sealed_codes
    if sealed is None or job.finished_at is None or job.finished_at + CODES_KEEP < clock.now():
        return None
    taken = session.exec(update(Job).where(col(Job.id) == job.id, col(Job.sealed_codes).is_not(None))  # type: ignore[call-overload]
                         .values(sealed_codes=None, codes_taken_at=clock.now()))
    session.commit()
    if taken.rowcount != 1:
        return None  # another click took them a moment ago
    try:
        rows = json.loads(_codes_fernet(key).decrypt(sealed.encode("ascii")))
    except InvalidToken:  # the access-code key changed since: the codes are lost
        return None
    return [imports.IssuedCode(str(ref), str(reference), str(code)) for ref, reference, code in rows]


def codes_csv_rows(codes: list[imports.IssuedCode]) -> list[list[str]]:
    """The rows of the codes file, as `pow-registry import inquiries --codes` writes them."""
    from pow_registry.domain.spreadsheet import safe_cell_text

    return [["source_ref", "reference", "access_code"],
            *([safe_cell_text(c.source_ref), c.reference, c.access_code] for c in codes)]


# --- the worker side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    """What a worker needs to run jobs (built by pow_registry.worker from the app's config)."""

    engine: Engine  # the import's writes and the job's own changes
    read_engine: Engine  # the sweeper's look: read-only, so on SQLite it never waits behind an import
    beat_engine: Engine  # heartbeats: on SQLite a short busy timeout, never waiting behind an import
    crypto: Any  # domain.contact_crypto.ContactCrypto
    audit_key: bytes
    access_key: bytes
    max_bytes: int
    progress_dir: Path
    worker_id: str

    @property
    def sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


def _owned(job_id: int, attempt: int) -> Any:
    return (col(Job.id) == job_id, col(Job.attempts) == attempt, col(Job.status) == JobStatus.running)


def _claim(rt: Runtime, job_id: int) -> int | None:
    """Take a queued job for this worker; its attempt number, or None when it is not queued
    (another worker has it, it is finished, or the message was a duplicate)."""
    now = clock.now()
    with Session(rt.engine) as session:
        claimed = session.exec(update(Job).where(col(Job.id) == job_id, col(Job.status) == JobStatus.queued)  # type: ignore[call-overload]
                               .values(status=JobStatus.running, attempts=Job.attempts + 1, worker=rt.worker_id,
                                       phase=imports.PHASE_READING, rows_done=0, rows_total=0, heartbeat_at=now,
                                       started_at=func.coalesce(Job.started_at, now)))
        if claimed.rowcount != 1:
            session.rollback()
            return None
        attempt = session.exec(select(Job.attempts).where(Job.id == job_id)).one()
        session.commit()
    return int(attempt)


class _Beat:
    """The running job's heartbeat and progress, written every BEAT_SECONDS by a thread of its
    own (the import's thread only sets numbers in memory)."""

    def __init__(self, rt: Runtime, job_id: int, attempt: int) -> None:
        self.rt, self.job_id, self.attempt = rt, job_id, attempt
        self.state: tuple[str, int, int] = (imports.PHASE_READING, 0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-beat", daemon=True)

    def update(self, phase: str, done: int, total: int) -> None:
        self.state = (phase, done, total)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        try:
            _progress_file(self.rt.progress_dir, self.job_id).unlink(missing_ok=True)
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat must never stop the job
                log.debug("job %s: heartbeat not written", self.job_id, exc_info=True)

    def beat(self) -> None:
        phase, done, total = self.state
        if self.rt.sqlite and phase in WRITE_PHASES:
            self._write_file(phase, done, total)  # the import holds SQLite's write lock
            return
        try:
            with Session(self.rt.beat_engine) as session:
                session.exec(update(Job).where(*_owned(self.job_id, self.attempt))  # type: ignore[call-overload]
                             .values(phase=phase, rows_done=done, rows_total=total, heartbeat_at=clock.now()))
                session.commit()
        except OperationalError:
            if not self.rt.sqlite:
                raise
            self._write_file(phase, done, total)  # another writer holds the lock just now

    def _write_file(self, phase: str, done: int, total: int) -> None:
        path = _progress_file(self.rt.progress_dir, self.job_id)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"attempt": self.attempt, "phase": phase, "done": done, "total": total,
                       "at": clock.now().isoformat()}, handle)
        os.replace(temporary, path)


def _finish(session: Session, rt: Runtime, job_id: int, attempt: int, report: imports.ImportReport,
            counts: dict[str, int] | None = None) -> None:
    """Record the outcome, in the caller's transaction (the import's own when rows were written)."""
    now = clock.now()
    values: dict[str, Any] = {
        "status": JobStatus.done, "phase": "", "rows_total": report.rows_total, "rows_done": report.rows_total,
        "outcome": _outcome_json(report, counts), "payload": None, "finished_at": now, "heartbeat_at": now,
        "codes_count": len(report.codes),
        "sealed_codes": _seal_codes(rt.access_key, report.codes) if report.codes else None,
    }
    finished = session.exec(update(Job).where(*_owned(job_id, attempt)).values(**values))  # type: ignore[call-overload]
    if finished.rowcount != 1:
        raise JobSuperseded(f"job {job_id}: attempt {attempt} no longer owns it")


def _fail(rt: Runtime, job_id: int, attempt: int, failure: str) -> None:
    with Session(rt.engine) as session:
        session.exec(update(Job).where(*_owned(job_id, attempt))  # type: ignore[call-overload]
                     .values(status=JobStatus.failed, failure=failure, phase="", payload=None,
                             finished_at=clock.now()))
        session.commit()


def run_job(rt: Runtime, job_id: int) -> None:
    """Run a queued job to its end (the queue's task). A job that is not queued is left alone."""
    attempt = _claim(rt, job_id)
    if attempt is None:
        return
    beat = _Beat(rt, job_id, attempt)
    beat.start()
    started = time.perf_counter()
    try:
        _run_claimed(rt, job_id, attempt, beat)
    except JobSuperseded:
        log.warning("job %s: attempt %s was superseded; nothing of it was kept", job_id, attempt)
    except Exception:
        log.exception("job %s failed", job_id)  # the traceback, never the file's content
        _fail(rt, job_id, attempt, FAILURE_ERROR)
    finally:
        beat.stop()
        _phase, done, total = beat.state
        # Numbers only (the file's name and content stay out of the log).
        log.info("job %s ended", job_id, extra={"job_id": job_id, "attempt": attempt, "rows_done": done,
                                                "rows_total": total,
                                                "duration_ms": round((time.perf_counter() - started) * 1000, 1)})


@dataclass
class _Context:
    """A claimed job as its runner sees it: the session its writes go in, its owner, its input."""

    rt: Runtime
    job_id: int
    attempt: int
    kind: str
    beat: _Beat
    session: Session
    owner: User
    data: bytes
    filename: str
    dry_run: bool
    params: dict[str, Any]

    def finish(self, report: imports.ImportReport, counts: dict[str, int] | None = None) -> None:
        _finish(self.session, self.rt, self.job_id, self.attempt, report, counts)

    def finish_alone(self, report: imports.ImportReport, counts: dict[str, int] | None = None) -> None:
        """Nothing was written (a dry run, problems found, a refusal): end the work's transaction
        (on SQLite it may hold the write lock) and record the outcome in one of its own."""
        self.session.rollback()
        self.finish(report, counts)
        self.session.commit()


def _run_claimed(rt: Runtime, job_id: int, attempt: int, beat: _Beat) -> None:
    with Session(rt.engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        assert job is not None  # claimed a moment ago; jobs are never deleted while they run
        owner = session.get(User, job.owner_id)
        payload, kind, filename, dry_run, params = job.payload, job.kind, job.filename, job.dry_run, job_params(job)
        session.commit()  # end the read before the long work
        role = JOB_KINDS.get(kind)
        if owner is None or not owner.is_active or role is None or not owner.has_role(role):
            _fail(rt, job_id, attempt, FAILURE_NOT_ALLOWED)  # deactivated, or the role taken away meanwhile
            return
        data = b""
        if kind in FILE_KINDS:
            if payload is None:
                raise RuntimeError(f"job {job_id} has no file")
            data = rt.crypto.decrypt_bytes(payload)
        del payload
        _RUNNERS[kind](_Context(rt, job_id, attempt, kind, beat, session, owner, data, filename, dry_run, params))


def _run_import(ctx: _Context) -> None:
    def work(on_written: Callable[..., None]) -> tuple[imports.ImportReport, dict[str, int]]:
        common: dict[str, Any] = {"session": ctx.session, "actor": ctx.owner, "audit_key": ctx.rt.audit_key,
                                  "data": ctx.data, "filename": ctx.filename, "dry_run": ctx.dry_run,
                                  "max_bytes": ctx.rt.max_bytes, "progress": ctx.beat.update,
                                  "on_written": lambda report: on_written(report, {})}
        if ctx.kind == IMPORT_INQUIRIES:
            return imports.import_inquiries(access_key=ctx.rt.access_key, **common), {}
        return imports.import_captures(**common), {}

    _with_outcome(ctx, work)


def _refusal(exc: ServiceError, dry_run: bool) -> imports.ImportReport:
    """A service's refusal (the list is gone, still a draft, ...) as the job's problems."""
    report = imports.ImportReport(dry_run=dry_run)
    if isinstance(exc, FieldErrors):
        for column, message in exc.errors.items():
            report.errors.append(imports.RowError(0, "" if column in ("file", "list") else column, message))
    else:
        report.errors.append(imports.RowError(0, "", exc.message, dict(getattr(exc, "params", {}))))
    return report


def _with_outcome(ctx: _Context, work: Callable[[Callable[..., None]], tuple[imports.ImportReport, dict[str, int]]]) -> None:
    """Run a service that calls `on_written(...)` just before it commits what it wrote: the
    job's outcome goes in that commit. When it wrote nothing (a dry run, problems, a refusal)
    the outcome is recorded on its own."""
    written = False

    def on_written(report: imports.ImportReport, counts: dict[str, int]) -> None:
        nonlocal written
        ctx.finish(report, counts)
        written = True

    try:
        report, counts = work(on_written)
    except ServiceError as exc:
        report, counts = _refusal(exc, ctx.dry_run), {}
    if not written:
        ctx.finish_alone(report, counts)


def _run_office_answers(ctx: _Context) -> None:
    list_id = int(ctx.params["list_id"])
    counts = {"list_id": list_id}
    ctx.beat.update(imports.PHASE_CHECKING, 0, 0)

    def work(on_written: Callable[..., None]) -> tuple[imports.ImportReport, dict[str, int]]:
        report = exchange.import_outcomes(
            session=ctx.session, actor=ctx.owner, audit_key=ctx.rt.audit_key, list_id=list_id, data=ctx.data,
            filename=ctx.filename, dry_run=ctx.dry_run, max_bytes=ctx.rt.max_bytes,
            on_written=lambda report: on_written(report, counts))
        return report, counts

    _with_outcome(ctx, work)


def _counterpart_counts(report: counterpart.CounterpartReport) -> dict[str, int]:
    counts = {"candidates": report.candidates, "unmatched": report.unmatched}
    if report.list_id is not None:
        counts["list_id"] = report.list_id
    return counts


def _run_counterpart_import(ctx: _Context) -> None:
    ctx.beat.update(imports.PHASE_CHECKING, 0, 0)

    def work(on_written: Callable[..., None]) -> tuple[imports.ImportReport, dict[str, int]]:
        def written(report: counterpart.CounterpartReport) -> None:
            on_written(report, _counterpart_counts(report))

        ctx.beat.update(PHASE_MATCHING, 0, 0)
        report = counterpart.import_list(
            session=ctx.session, actor=ctx.owner, audit_key=ctx.rt.audit_key, data=ctx.data, filename=ctx.filename,
            details=ctx.params.get("details") or {}, dry_run=ctx.dry_run, max_bytes=ctx.rt.max_bytes,
            on_written=written)
        return report, _counterpart_counts(report)

    _with_outcome(ctx, work)


def _run_counterpart_reconcile(ctx: _Context) -> None:
    list_id = int(ctx.params["list_id"])
    ctx.beat.update(PHASE_MATCHING, 0, 0)

    def work(on_written: Callable[..., None]) -> tuple[imports.ImportReport, dict[str, int]]:
        def counts(result: tuple[int, int]) -> dict[str, int]:
            return {"list_id": list_id, "candidates": result[0], "unmatched": result[1]}

        result = counterpart.reconcile(session=ctx.session, actor=ctx.owner, list_id=list_id,
                                       on_written=lambda r: on_written(imports.ImportReport(dry_run=False), counts(r)))
        return imports.ImportReport(dry_run=False), counts(result)

    _with_outcome(ctx, work)


def _run_match_all(ctx: _Context) -> None:
    """`match --all`, as the command line runs it. The service commits on its own: the outcome
    follows in a transaction of its own (see the module's docstring)."""
    ctx.beat.update(PHASE_MATCHING, 0, 0)
    result = matching.match_everything(ctx.session, everything=True)
    counts = {"records": result.records, "new_candidates": result.new_candidates,
              "dropped_candidates": result.dropped_candidates, "reopened": result.reopened}
    ctx.finish_alone(imports.ImportReport(dry_run=False, rows_total=result.records), counts)


def _run_list_export(ctx: _Context) -> None:
    """The list's spreadsheet, made once and recorded in the audit log (services/exchange.py);
    a list exported meanwhile (another job, the command line) is only checked and kept."""
    list_id = int(ctx.params["list_id"])
    ctx.beat.update(PHASE_BUILDING, 0, 0)
    with Session(ctx.rt.read_engine) as reader:
        number = reader.exec(select(ExchangeList.number).where(ExchangeList.id == list_id)).first()
        reader.commit()
    base = {"list_id": list_id, "number": int(number or 0)}

    def work(on_written: Callable[..., None]) -> tuple[imports.ImportReport, dict[str, int]]:
        def export() -> exchange.ExportedFile:
            return exchange.export_list(
                session=ctx.session, actor=ctx.owner, audit_key=ctx.rt.audit_key, list_id=list_id,
                on_written=lambda f: on_written(imports.ImportReport(dry_run=False), {**base, "file_size": len(f.data)}))

        try:
            exported = export()
        except exchange.TamperedExport:
            raise
        except Conflict:
            exported = export()  # exported by someone else meanwhile: now only checked against its record
        return imports.ImportReport(dry_run=False), {**base, "file_size": len(exported.data)}

    _with_outcome(ctx, work)


_RUNNERS: dict[str, Callable[[_Context], None]] = {
    IMPORT_CAPTURES: _run_import, IMPORT_INQUIRIES: _run_import, OFFICE_ANSWERS: _run_office_answers,
    COUNTERPART_IMPORT: _run_counterpart_import, COUNTERPART_RECONCILE: _run_counterpart_reconcile,
    MATCH_ALL: _run_match_all, LIST_EXPORT: _run_list_export,
}


# --- the sweeper: jobs whose worker stopped, messages that were lost, codes left unseen ---------


@dataclass
class Swept:
    restarted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    codes_erased: int = 0


def _worker_gone(worker: str, me: str) -> bool:
    """Whether a job's worker process is known to be gone: on this host, with no such process
    (or with this very pid but another random part: a restarted worker got the old one's pid)."""
    host, _sep, rest = worker.partition(":")
    pid_text, _sep, token = rest.partition(":")
    my_host, _sep, my_rest = me.partition(":")
    my_pid, _sep, my_token = my_rest.partition(":")
    if host != my_host or not pid_text.isdigit():
        return False
    if pid_text == my_pid:
        return token != my_token
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, another user's
        return False
    return False


def sweep(rt: Runtime, *, pending: Callable[[], set[int]], enqueue: Callable[[int], object]) -> Swept:
    """Run by every worker at start and every few seconds. A running job whose worker is gone
    (its process is gone from this host, or no heartbeat for LEASE) is queued again from the start
    while it has attempts left and its file (when it works on one), else marked failed; nothing of the stopped attempt was
    committed, so either way nothing is half-written. A queued job whose message was lost is put
    on the queue again. Sealed codes older than CODES_KEEP are erased. Every change is conditional
    on what was seen, so two sweepers (or a sweeper and a worker) never undo each other."""
    swept = Swept()
    now = clock.now()
    with Session(rt.read_engine) as session:
        running = session.exec(select(Job.id, Job.attempts, Job.worker, Job.heartbeat_at,  # type: ignore[call-overload]
                                      col(Job.payload).is_not(None), Job.kind).where(Job.status == JobStatus.running)).all()
        waiting = session.exec(select(Job.id).where(Job.status == JobStatus.queued,
                                                    col(Job.enqueued_at) < now - REQUEUE_AFTER)).all()
        session.commit()
    for job_id, attempt, worker, heartbeat_at, has_file, kind in running:
        assert job_id is not None
        written = _file_progress(rt.progress_dir, job_id, attempt)
        beats = [at for at in (heartbeat_at, written.at if written else None) if at is not None]
        alive = bool(beats) and max(beats) > now - LEASE
        if alive and not _worker_gone(worker, rt.worker_id):
            continue
        try:
            with Session(rt.engine) as session:
                stale = (*_owned(job_id, attempt), col(Job.worker) == worker)
                if attempt < MAX_ATTEMPTS and (has_file or kind not in FILE_KINDS):
                    changed = session.exec(update(Job).where(*stale).values(  # type: ignore[call-overload]
                        status=JobStatus.queued, phase="", rows_done=0, worker="", enqueued_at=now))
                    (swept.restarted if changed.rowcount else []).append(job_id)
                else:
                    changed = session.exec(update(Job).where(*stale).values(  # type: ignore[call-overload]
                        status=JobStatus.failed, failure=FAILURE_WORKER_STOPPED, phase="", payload=None,
                        finished_at=now))
                    (swept.failed if changed.rowcount else []).append(job_id)
                session.commit()
        except OperationalError:
            log.info("job %s: the database is busy; it is looked at again on the next sweep", job_id)
            continue
        _progress_file(rt.progress_dir, job_id).unlink(missing_ok=True)
        if job_id in swept.restarted:
            log.warning("job %s: its worker stopped during attempt %s; it runs again from the start", job_id, attempt)
            enqueue(job_id)
        elif job_id in swept.failed:
            log.warning("job %s: its worker stopped during attempt %s; marked failed, nothing was imported",
                        job_id, attempt)
    if waiting:
        on_queue = pending()
        for job_id in waiting:
            assert job_id is not None
            if job_id in on_queue:
                continue
            try:
                with Session(rt.engine) as session:
                    changed = session.exec(update(Job).where(col(Job.id) == job_id, col(Job.status) == JobStatus.queued)  # type: ignore[call-overload]
                                           .values(enqueued_at=now))
                    session.commit()
            except OperationalError:
                continue
            if changed.rowcount:
                swept.requeued.append(job_id)
                enqueue(job_id)
    try:
        with Session(rt.engine) as session:
            erased = session.exec(update(Job).where(col(Job.sealed_codes).is_not(None),  # type: ignore[call-overload]
                                                    col(Job.finished_at) < now - CODES_KEEP)
                                  .values(sealed_codes=None))
            session.commit()
            swept.codes_erased = erased.rowcount
    except OperationalError:
        pass
    return swept
