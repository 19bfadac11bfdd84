"""Long work off the request path (design/architecture.md, point 12).

A page validates an upload and calls `create_import_job`, which keeps the file (encrypted) in a
`Job` row; the caller then puts the job's id on the queue. A worker calls `run_job`, which runs
the very service function the command line runs (services/imports.py): the file is parsed and
every row checked before the write transaction opens, the rows are written in one transaction,
and the job's outcome is written in that same transaction (all or nothing, outcome included).

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
from pow_registry.models import Job, JobStatus, Role, User
from pow_registry.services import imports
from pow_registry.services.errors import NotFound

__all__ = [
    "BEAT_SECONDS", "CODES_KEEP", "IMPORT_KINDS", "LEASE", "MAX_ATTEMPTS", "JobSuperseded", "Outcome", "Progress",
    "Runtime", "codes_csv_rows", "create_import_job", "find_submission", "jobs_of", "outcome_of", "progress_of",
    "run_job", "sweep", "take_codes", "visible_job", "worker_identity",
]

log = logging.getLogger(__name__)

# What a job can be, and the role its owner needs for it.
IMPORT_CAPTURES, IMPORT_INQUIRIES = "import_captures", "import_inquiries"
IMPORT_KINDS = {IMPORT_CAPTURES: Role.researcher, IMPORT_INQUIRIES: Role.staff}

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
                      data: bytes, filename: str, dry_run: bool) -> Job:
    """A queued import job holding the file, encrypted with the contact-data key; the same form
    send (same one-time `token`) gives the same job. The caller enqueues `job.id` after this commits."""
    if kind not in IMPORT_KINDS:
        raise ValueError(kind)
    existing = find_submission(session, key=key, token=token)
    if existing is not None:
        return existing
    now = clock.now()
    job = Job(kind=kind, owner_id=actor.id or 0, status=JobStatus.queued, dry_run=dry_run, filename=filename[:255],
              file_bytes=len(data), file_sha256=hashlib.sha256(data).hexdigest(),
              submission_digest=_submission_digest(key, token), payload=crypto.encrypt_bytes(data),
              created_at=now, enqueued_at=now)
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


def visible_job(session: Session, job_id: int, user: User) -> Job:
    """The job, for its owner or an admin; NotFound for anyone else (whether it exists is not told)."""
    job = session.get(Job, job_id)
    if job is None or (job.owner_id != user.id and not user.has_role(Role.admin)):
        raise NotFound()
    return job


def jobs_of(session: Session, user: User, *, page: int, page_size: int) -> tuple[list[Job], int]:
    """The user's jobs, newest first (an admin's list: everyone's)."""
    query = select(Job)
    count = select(func.count()).select_from(Job)
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

    @property
    def ok(self) -> bool:
        return not self.errors


def _mask(value: Any) -> Any:
    if isinstance(value, int):
        return value
    text = str(value)
    return "…" + text[-2:] if len(text) > 4 else "…"


def _outcome_json(report: imports.ImportReport) -> str:
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
        "errors": errors,
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
                   inquiries_created=int(raw["inquiries_created"]), errors=errors)


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
        if self.rt.sqlite and phase in (imports.PHASE_WRITING, imports.PHASE_SAVING):
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


def _finish(session: Session, rt: Runtime, job_id: int, attempt: int, report: imports.ImportReport) -> None:
    """Record the outcome, in the caller's transaction (the import's own when rows were written)."""
    now = clock.now()
    values: dict[str, Any] = {
        "status": JobStatus.done, "phase": "", "rows_total": report.rows_total, "rows_done": report.rows_total,
        "outcome": _outcome_json(report), "payload": None, "finished_at": now, "heartbeat_at": now,
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
        _run_import_job(rt, job_id, attempt, beat)
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


def _run_import_job(rt: Runtime, job_id: int, attempt: int, beat: _Beat) -> None:
    with Session(rt.engine, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        assert job is not None  # claimed a moment ago; jobs are never deleted while they run
        owner = session.get(User, job.owner_id)
        payload, kind, filename, dry_run = job.payload, job.kind, job.filename, job.dry_run
        session.commit()  # end the read before the long work
        role = IMPORT_KINDS.get(kind)
        if owner is None or not owner.is_active or role is None or not owner.has_role(role):
            _fail(rt, job_id, attempt, FAILURE_NOT_ALLOWED)  # deactivated, or the role taken away meanwhile
            return
        if payload is None:
            raise RuntimeError(f"job {job_id} has no file")
        data = rt.crypto.decrypt_bytes(payload)
        del payload

        written = False

        def on_written(report: imports.ImportReport) -> None:
            nonlocal written
            _finish(session, rt, job_id, attempt, report)  # committed with the rows, or not at all
            written = True

        common: dict[str, Any] = {"session": session, "actor": owner, "audit_key": rt.audit_key, "data": data,
                                  "filename": filename, "dry_run": dry_run, "max_bytes": rt.max_bytes,
                                  "progress": beat.update, "on_written": on_written}
        if kind == IMPORT_INQUIRIES:
            report = imports.import_inquiries(access_key=rt.access_key, **common)
        else:
            report = imports.import_captures(**common)
        if written:
            return
        # A dry run, or problems found: nothing was written. End the import's transaction (on
        # SQLite it holds the write lock) and record the outcome.
        session.rollback()
        _finish(session, rt, job_id, attempt, report)
        session.commit()


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
    while it has attempts left and its file, else marked failed; nothing of the stopped attempt was
    committed, so either way nothing is half-written. A queued job whose message was lost is put
    on the queue again. Sealed codes older than CODES_KEEP are erased. Every change is conditional
    on what was seen, so two sweepers (or a sweeper and a worker) never undo each other."""
    swept = Swept()
    now = clock.now()
    with Session(rt.read_engine) as session:
        running = session.exec(select(Job.id, Job.attempts, Job.worker, Job.heartbeat_at,  # type: ignore[call-overload]
                                      col(Job.payload).is_not(None)).where(Job.status == JobStatus.running)).all()
        waiting = session.exec(select(Job.id).where(Job.status == JobStatus.queued,
                                                    col(Job.enqueued_at) < now - REQUEUE_AFTER)).all()
        session.commit()
    for job_id, attempt, worker, heartbeat_at, has_file in running:
        assert job_id is not None
        written = _file_progress(rt.progress_dir, job_id, attempt)
        beats = [at for at in (heartbeat_at, written.at if written else None) if at is not None]
        alive = bool(beats) and max(beats) > now - LEASE
        if alive and not _worker_gone(worker, rt.worker_id):
            continue
        try:
            with Session(rt.engine) as session:
                stale = (*_owned(job_id, attempt), col(Job.worker) == worker)
                if attempt < MAX_ATTEMPTS and has_file:
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
