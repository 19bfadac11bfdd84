"""The job queue and the worker that runs it (services/jobs.py says what a job is).

Huey carries the wake-up calls: by default a SQLite file of its own in `instance/jobs/` (no
server to start), or Redis when `JOB_QUEUE_URL` is `redis://...`. A message holds a job's id and
nothing else, and is signed with a key derived from SECRET_KEY: whoever can write to the queue
(a Redis shared with others) cannot make a worker unpickle anything of theirs.

A consumer runs in `pow-registry worker` (its own process; huey's signal handling: Ctrl+C waits
for the running job, a second one stops at once) or inside `pow-registry serve` as threads
(`JOB_WORKERS_IN_SERVE`). Beside the consumer, a sweeper thread calls `jobs.sweep` at start and
every SWEEP_SECONDS: a job whose worker stopped runs again or is marked failed, never stays
"running".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from huey.serializer import SignedSerializer
from sqlalchemy import event
from sqlmodel import Session

from pow_registry import config, db
from pow_registry.services import jobs, matching

log = logging.getLogger(__name__)

TASK_NAME = "run_job"
#: The task that matches the records commits queued (services/matching.py, `match_queued`).
MATCH_TASK_NAME = "match_queued"
#: How often a worker looks for jobs whose worker stopped (and lost messages).
SWEEP_SECONDS = 5.0
# On SQLite the heartbeat thread waits this long for the write lock at most, then writes its file.
BEAT_BUSY_TIMEOUT_MS = 250
EXTENSION = "pow_registry.jobs"


def jobs_dir(app: Flask) -> Path:
    """instance/jobs: the embedded queue's file and the progress files (owner only)."""
    path = Path(app.instance_path) / "jobs"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def check_queue_url(url: str) -> None:
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise config.ConfigError(f"JOB_QUEUE_URL must be empty (the embedded queue in instance/jobs/) or a Redis URL "
                                 f"such as redis://127.0.0.1:6379/0, not {url!r}.")


class JobQueue:
    """This app's queue: created on first use, so commands that never touch it create nothing."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._huey: Huey | None = None
        self._lock = threading.Lock()
        self._runtime: jobs.Runtime | None = None
        self._task: Any = None
        self.worker_id = jobs.worker_identity()

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                self._huey = self._make_huey()
            return self._huey

    def _make_huey(self) -> Huey:
        url = str(self.app.config.get("JOB_QUEUE_URL") or "")
        check_queue_url(url)
        secret = hmac.new(str(self.app.config["SECRET_KEY"]).encode(), b"pow_registry job queue", hashlib.sha256).hexdigest()
        serializer = SignedSerializer(secret=secret, salt="pow_registry")
        name = str(self.app.config.get("JOB_QUEUE_NAME") or "pow_registry")
        huey: Huey
        if url:
            huey = RedisHuey(name, url=url, results=False, serializer=serializer)
        else:
            huey = SqliteHuey(name, filename=str(jobs_dir(self.app) / "queue.sqlite3"), results=False,
                              serializer=serializer, fsync=True, timeout=30)
        self._task = huey.task(name=TASK_NAME)(self._run)
        self._match_task = huey.task(name=MATCH_TASK_NAME)(self._match)
        return huey

    @property
    def embedded(self) -> bool:
        return not self.app.config.get("JOB_QUEUE_URL")

    def runtime(self) -> jobs.Runtime:
        with self._lock:
            if self._runtime is None:
                self._runtime = self._make_runtime()
            return self._runtime

    def _make_runtime(self) -> jobs.Runtime:
        app = self.app
        crypto = app.extensions["pow_registry.contact_crypto"]
        engine = app.extensions["pow_registry.engine"]
        beat_engine = db.make_engine(app.config["DATABASE_URL"])  # touches no contact field
        if beat_engine.dialect.name == "sqlite":

            @event.listens_for(beat_engine, "connect")
            def _short_wait(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout={BEAT_BUSY_TIMEOUT_MS}")
                cursor.close()

        return jobs.Runtime(engine=engine, read_engine=engine.execution_options(**{db.READ_ONLY: True}),
                            beat_engine=beat_engine, crypto=crypto,
                            audit_key=app.config["AUDIT_KEY_BYTES"], access_key=app.config["ACCESS_CODE_KEY_BYTES"],
                            max_bytes=int(app.config["IMPORT_MAX_BYTES"]), progress_dir=jobs_dir(app),
                            worker_id=self.worker_id)

    def _run(self, job_id: int) -> None:
        with self.app.app_context():
            jobs.run_job(self.runtime(), int(job_id))

    def _match(self) -> None:
        """Match the records commits queued (the index is brought up to date outside the write lock)."""
        rt = self.runtime()
        started = time.perf_counter()
        with Session(rt.engine) as session, Session(rt.read_engine) as read_session:
            result = matching.match_queued(session, read_session=read_session)
        if result.records:
            log.info("records matched", extra={"records": result.records, "new_candidates": result.new_candidates,
                                               "duration_ms": round((time.perf_counter() - started) * 1000, 1)})

    def warm_index(self) -> None:
        """Build the match index now (a worker starting), not when the first records arrive."""
        rt = self.runtime()
        started = time.perf_counter()
        with Session(rt.read_engine) as session:
            records = matching.warm_index(session)
        log.info("match index ready", extra={"records": records or 0,
                                             "duration_ms": round((time.perf_counter() - started) * 1000, 1)})

    # -- the web side ------------------------------------------------------------------------

    def enqueue(self, job_id: int) -> bool:
        """Put the job on the queue; False when the queue cannot be reached (the job stays queued
        in the database and a worker's sweeper puts it on the queue again later)."""
        try:
            self.huey  # noqa: B018 - made on first use, with its task
            self._task(job_id)
        except Exception:  # noqa: BLE001 - a queue that is down must not lose the job: the row keeps it
            log.exception("job %s: could not be put on the queue; a worker's sweeper will put it there", job_id)
            return False
        return True

    def enqueue_matching(self) -> bool:
        """Wake a worker to match the records a commit queued; False when the queue cannot be
        reached (the rows stay in match_pending and a worker's sweeper wakes one later)."""
        try:
            self.huey  # noqa: B018 - made on first use, with its tasks
            self._match_task()
        except Exception:  # noqa: BLE001 - the queued rows keep the work
            log.exception("matching: could not be put on the queue; a worker's sweeper will put it there")
            return False
        return True

    def matching_waits(self) -> bool:
        return any(getattr(task, "name", "") == MATCH_TASK_NAME for task in self.huey.pending())

    def sweep_matching(self) -> bool:
        """Records queued for matching but no wake-up on the queue (it was down at the commit, a
        command queued them, a worker stopped half-way): put one there. True when it did."""
        rt = self.runtime()
        with Session(rt.read_engine) as session:
            waiting = matching.queued_count(session)
        if waiting and not self.matching_waits():
            return self.enqueue_matching()
        return False

    def pending_ids(self) -> set[int]:
        ids = set()
        for task in self.huey.pending():
            if getattr(task, "name", "") == MATCH_TASK_NAME:
                continue
            if task.args:
                try:
                    ids.add(int(task.args[0]))
                except (TypeError, ValueError):
                    continue
        return ids

    # -- the worker side ---------------------------------------------------------------------

    def sweep(self) -> jobs.Swept:
        return jobs.sweep(self.runtime(), pending=self.pending_ids, enqueue=self.enqueue)

    def start_sweeper(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            try:
                with self.app.app_context():
                    self.warm_index()
            except Exception:  # noqa: BLE001 - the first records to match build it instead
                log.exception("building the match index at start failed")
            while True:
                try:
                    with self.app.app_context():
                        self.sweep()
                        self.sweep_matching()
                except Exception:  # noqa: BLE001 - the next sweep tries again
                    log.exception("sweeping the jobs failed")
                if stop.wait(SWEEP_SECONDS):
                    return

        thread = threading.Thread(target=loop, name="jobs-sweeper", daemon=True)
        thread.start()
        return thread

    def consumer(self, threads: int, cls: type[Consumer] = Consumer) -> Consumer:
        return cls(self.huey, workers=max(1, threads), worker_type="thread", periodic=False,
                   initial_delay=0.1, backoff=1.15, max_delay=1.0, check_worker_health=True)

    def run_forever(self, threads: int = 1) -> None:
        """`pow-registry worker`: the consumer in the foreground with huey's signal handling."""
        stop = threading.Event()
        self.start_sweeper(stop)
        try:
            self.consumer(threads).run()
        finally:
            stop.set()

    def start_in_process(self, threads: int = 1) -> InProcess:
        """Consumer threads inside this process (`serve`, the tests): no signal handlers of their own."""
        consumer = self.consumer(threads, _QuietConsumer)
        consumer.start()
        stop = threading.Event()
        sweeper = self.start_sweeper(stop)
        return InProcess(consumer, stop, sweeper)


class _QuietConsumer(Consumer):
    """A consumer that leaves the process's signals alone (the server's Ctrl+C stays the server's)."""

    def _set_signal_handlers(self) -> None:
        return None


@dataclass
class InProcess:
    consumer: Consumer
    stop_event: threading.Event
    sweeper: threading.Thread

    def stop(self, graceful: bool = True) -> None:
        self.stop_event.set()
        self.consumer.stop(graceful=graceful)
        self.sweeper.join(10)


def queue(app: Flask | None = None) -> JobQueue:
    target = app or current_app
    return target.extensions[EXTENSION]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    check_queue_url(str(app.config.get("JOB_QUEUE_URL") or ""))
    job_queue = app.extensions[EXTENSION] = JobQueue(app)
    if app.config.get("MATCHING_IN_JOBS", True):
        # Commits queue the records they change; the process that runs jobs matches them.
        matching.match_in_jobs(app.extensions["pow_registry.engine"], job_queue.enqueue_matching)
