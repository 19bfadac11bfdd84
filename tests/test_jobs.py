"""Jobs (issue 14): an import page enqueues, a worker runs the import service, the job's page
shows progress and outcome; all or nothing, and a worker killed mid-job leaves nothing written
and no job "running" for ever. On SQLite and PostgreSQL (every test here uses the database);
the Redis queue where a Redis server answers (required in CI).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlmodel import Session, select
from support import job_page_after, run_queued_jobs, snapshot

from pow_registry import clock, worker
from pow_registry.models import AuditEvent, CaptureReport, Inquiry, Job, JobStatus, Person
from pow_registry.services import imports, jobs

pytestmark = pytest.mark.db
IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("POW_REGISTRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Fictitious people only: invented surnames and given names, combined so no two rows are alike.
SURNAMES = ["Выдумкин", "Макетов", "Шаблонов", "Черновиков", "Пробнов", "Эскизов", "Набросков", "Заготовкин",
            "Вигадько", "Макетенко", "Шаблонюк", "Чернетко", "Пробенко", "Ескізенко", "Тестенко", "Заглушко"]
GIVEN = ["Алексей", "Виталий", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим", "Илья", "Егор",
         "Кирилл", "Иван", "Григорий", "Павел", "Роман", "Андрей"]


def captures_csv(rows: int, prefix: str = "J") -> bytes:
    lines = ["source_ref,surname,given_name,date_of_birth,unit,capture_date,capture_place"]
    for i in range(rows):
        lines.append(f"{prefix}{i},{SURNAMES[i % 16]},{GIVEN[(i // 16) % 16]},{1970 + i % 37}-{1 + i % 12:02d}-"
                     f"{1 + i % 28:02d},в/ч {10000 + i},2024-{1 + i % 12:02d},Суджа")
    return ("\n".join(lines) + "\n").encode()


INQUIRIES_CSV = ("source_ref,surname,given_name,requester_name,requester_phone\n"
                 "Q1,Выдумкин,Виталий,Выдумкина Анна,+7 999 000 00 01\n"
                 "Q2,Макетов,Алексей,Макетова Ирина,+7 999 000 00 02\n").encode()


def reading(session: Session) -> Session:
    """A read-only session on the same database, as a GET page has: on SQLite it reads beside a
    worker's write transaction instead of queueing behind it."""
    from pow_registry.db import READ_ONLY

    bind = session.get_bind()
    return Session(bind.execution_options(**{READ_ONLY: True}), expire_on_commit=False)  # type: ignore[union-attr]


def count(session: Session, model: Any) -> int:
    with reading(session) as reader:
        return int(reader.exec(select(func.count()).select_from(model)).one())


def job_row(session: Session, job_id: int) -> Job:
    with reading(session) as reader:
        job = reader.get(Job, job_id)
        assert job is not None
        return job


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def english(client: Any) -> None:
    client.post("/language", data={"lang-language": "en"})


def job_id_of(response: Any) -> int:
    assert response.status_code == 303
    match = re.fullmatch(r"/jobs/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


@pytest.fixture
def consumer(app: Any) -> Iterator[Any]:
    """A real huey consumer (threads in this process) with its sweeper, as `serve` runs it."""
    running = worker.queue(app).start_in_process(1)
    yield running
    running.stop(graceful=True)


# --- end to end --------------------------------------------------------------------------------


def test_a_captures_import_runs_as_a_job_in_a_real_consumer(app: Any, client: Any, session: Session, make_user: Any,
                                                             login: Any, consumer: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="pow_registry.services.jobs")
    researcher = make_user("researcher")
    login(researcher)
    english(client)
    page = client.get("/registry/import").get_data(as_text=True)
    assert 'name="submission"' in page and "/jobs/" in page  # the one-time token, the link to "My jobs"
    started = time.monotonic()
    response = client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(120)), "captures.csv")})
    job_id = job_id_of(response)
    assert time.monotonic() - started < 5  # the request only stores the file and enqueues
    running = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "job-progress" in running or "Imported 120 rows" in running

    wait_for(lambda: job_row(session, job_id).status == JobStatus.done, 120, "the job to finish")
    job = job_row(session, job_id)
    assert (job.rows_done, job.rows_total, job.attempts, job.payload) == (120, 120, 1, None)  # the file is gone
    assert job.started_at is not None and job.finished_at is not None and job.finished_at >= job.started_at
    assert count(session, Person) == 120 and count(session, CaptureReport) == 120
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "import.captures")).all()
    session.commit()
    assert [e.actor_id for e in events] == [researcher.id]  # attributed to whoever uploaded it
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Imported 120 rows" in page and "job-progress" not in page and 'http-equiv="refresh"' not in page
    state = client.get(f"/jobs/{job_id}/progress").get_json()
    assert state["finished"] is True and state["status"] == "done"
    listing = client.get("/jobs/").get_data(as_text=True)
    assert f"/jobs/{job_id}" in listing and "120 rows imported" in listing
    # The log has the job's timing, in numbers only (no file name, no row).
    ended = wait_for(lambda: [r for r in caplog.records if r.getMessage() == f"job {job_id} ended"], 10, "the log")
    assert (ended[0].rows_done, ended[0].rows_total) == (120, 120) and ended[0].duration_ms > 0
    assert "captures.csv" not in repr(vars(ended[0]))


def test_a_bad_file_reports_every_problem_and_writes_nothing(app: Any, client: Any, session: Session,
                                                             make_user: Any, login: Any) -> None:
    login(make_user("researcher"))
    english(client)
    data = captures_csv(5).decode().replace("J3,", "J1,").replace("2024-02", "2099-99").encode()
    before = snapshot(session)
    page = job_page_after(client, client.post("/registry/import", data={"file": (io.BytesIO(data), "c.csv")}), app)
    text = page.get_data(as_text=True)
    assert "Nothing was imported: 2 problems found." in text
    assert re.search(r"<tr><td>5</td><td><code>source_ref</code></td><td>The same source_ref is also on row 3\.</td>", text)
    assert re.search(r"<tr><td>3</td><td><code>capture_date</code></td>", text)
    after = snapshot(session)
    assert {t: r for t, r in after.items() if t != "job"} == {t: r for t, r in before.items() if t != "job"}


def test_a_dry_run_job_writes_nothing(app: Any, client: Any, session: Session, make_user: Any, login: Any) -> None:
    login(make_user("researcher"))
    english(client)
    response = client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(3)), "c.csv"), "dry_run": "y"})
    text = job_page_after(client, response, app).get_data(as_text=True)
    assert "The file is valid: 3 rows would be imported" in text and "Nothing was written" in text
    assert count(session, Person) == 0


def test_an_inquiries_import_hands_the_access_codes_over_once(app: Any, client: Any, session: Session,
                                                              make_user: Any, login: Any) -> None:
    staff = make_user("staff")
    login(staff)
    english(client)
    assert "/inquiries/import" in client.get("/inquiries/").get_data(as_text=True)
    response = client.post("/inquiries/import", data={"file": (io.BytesIO(INQUIRIES_CSV), "inquiries.csv")})
    job_id = job_id_of(response)
    text = job_page_after(client, response, app).get_data(as_text=True)
    assert "Imported 2 inquiries" in text and "Download the access codes" in text
    job = job_row(session, job_id)
    assert job.codes_count == 2 and job.sealed_codes is not None
    for code_part in ("999 000 00 01", "Выдумкина", "INQ-"):  # sealed: no code, no reference, no contact data
        assert code_part not in job.sealed_codes and code_part not in (job.outcome or "")

    download = client.post(f"/jobs/{job_id}/codes")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0] == ["source_ref", "reference", "access_code"] and [r[0] for r in rows[1:]] == ["Q1", "Q2"]
    from pow_registry.domain.references import access_code_digest

    inquiries = {i.source_ref: i for i in session.exec(select(Inquiry))}
    session.commit()
    key = app.config["ACCESS_CODE_KEY_BYTES"]
    for source_ref, reference, code in rows[1:]:
        assert inquiries[source_ref].reference == reference
        assert inquiries[source_ref].access_code_digest == access_code_digest(code, key)
    # Once only: the codes are erased from the job.
    assert job_row(session, job_id).sealed_codes is None
    again = client.post(f"/jobs/{job_id}/codes")
    assert again.status_code == 303 and client.get(again.headers["Location"]).status_code == 200
    assert "were downloaded on" in client.get(f"/jobs/{job_id}").get_data(as_text=True)


def test_codes_left_unseen_are_erased_by_the_sweeper(app: Any, session: Session, make_user: Any) -> None:
    from support import finished_job

    job = finished_job(app=app, session=session, owner=make_user("staff"))
    runtime = worker.queue(app).runtime()
    jobs.sweep(runtime, pending=set, enqueue=lambda _id: None)
    assert job_row(session, job.id or 0).sealed_codes is not None
    session.exec(update(Job).where(Job.id == job.id).values(finished_at=clock.now() - jobs.CODES_KEEP - timedelta(minutes=1)))  # type: ignore[arg-type]
    session.commit()
    assert jobs.sweep(runtime, pending=set, enqueue=lambda _id: None).codes_erased == 1
    assert job_row(session, job.id or 0).sealed_codes is None


def test_problems_about_contact_data_say_where_not_what(app: Any, client: Any, session: Session, make_user: Any,
                                                        login: Any) -> None:
    login(make_user("staff"))
    english(client)
    data = INQUIRIES_CSV.replace(b"+7 999 000 00 02", b"12345678")
    response = client.post("/inquiries/import", data={"file": (io.BytesIO(data), "inquiries.csv")})
    job_id = job_id_of(response)
    text = job_page_after(client, response, app).get_data(as_text=True)
    assert "Nothing was imported: 1 problem found." in text
    # Where (row, column) and what is wrong, as the synchronous report said; the number itself masked.
    assert re.search(r"<tr><td>3</td><td><code>requester_phone</code></td><td>Number …[^<]{0,4} is not a valid phone", text)
    assert "12345678" not in text and "12345678" not in (job_row(session, job_id).outcome or "")
    assert count(session, Inquiry) == 0


# --- who sees what -------------------------------------------------------------------------------


def test_only_the_owner_and_admins_see_a_job(app: Any, make_user: Any, login: Any) -> None:
    owner, other, staff, admin = (make_user("researcher"), make_user("researcher"), make_user("staff"),
                                  make_user("admin"))
    client = app.test_client()
    login(owner, test_client=client)
    job_id = job_id_of(client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(1)), "c.csv")}))
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/progress"):
        assert client.get(path).status_code == 200
        anonymous = app.test_client().get(path)
        assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
        for user, expected in ((other, 404), (staff, 404), (admin, 200)):
            visitor = app.test_client()
            login(user, test_client=visitor)
            assert visitor.get(path).status_code == expected, (user.roles, path)
    visitor = app.test_client()
    login(other, test_client=visitor)
    assert f"/jobs/{job_id}" not in visitor.get("/jobs/").get_data(as_text=True)
    assert visitor.post(f"/jobs/{job_id}/codes").status_code == 404
    login(admin, test_client=visitor)
    assert f"/jobs/{job_id}" in visitor.get("/jobs/").get_data(as_text=True)
    assert visitor.post(f"/jobs/{job_id}/codes").status_code == 404  # an admin sees a job, its codes are the owner's
    assert owner.email in visitor.get("/jobs/").get_data(as_text=True)
    # The import pages keep their roles: staff import inquiries, researchers captures.
    login(staff, test_client=visitor)
    assert visitor.get("/registry/import").status_code == 403
    login(owner, test_client=visitor)
    assert visitor.get("/inquiries/import").status_code == 403


# --- one send, one job ---------------------------------------------------------------------------


def test_a_reload_or_a_second_click_makes_no_second_job(app: Any, client: Any, session: Session, make_user: Any,
                                                        login: Any) -> None:
    login(make_user("researcher"))
    page = client.get("/registry/import").get_data(as_text=True)
    token = re.search(r'name="submission" type="hidden" value="([^"]+)"', page)
    assert token, "the form carries a one-time token"
    send = {"submission": token.group(1)}
    first = client.post("/registry/import", data={**send, "file": (io.BytesIO(captures_csv(2)), "c.csv")})
    again = client.post("/registry/import", data={**send, "file": (io.BytesIO(captures_csv(2)), "c.csv")})
    assert job_id_of(first) == job_id_of(again)
    assert count(session, Job) == 1
    assert run_queued_jobs(app) == 1  # and it is on the queue once
    other = client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(2)), "c.csv")})
    assert job_id_of(other) != job_id_of(first) and count(session, Job) == 2


def test_a_job_queued_while_the_queue_was_down_is_put_on_it_again(app: Any, session: Session, make_user: Any) -> None:
    user = make_user("researcher")
    job = jobs.create_import_job(session, actor=user, crypto=app.extensions["pow_registry.contact_crypto"],
                                 key=b"k" * 32, token=secrets.token_urlsafe(24), kind=jobs.IMPORT_CAPTURES,
                                 data=captures_csv(1), filename="c.csv", dry_run=False)
    queue = worker.queue(app)
    assert queue.pending_ids() == set()  # never enqueued: the queue was unreachable
    assert jobs.sweep(queue.runtime(), pending=queue.pending_ids, enqueue=queue.enqueue).requeued == []  # not yet
    session.exec(update(Job).where(Job.id == job.id).values(enqueued_at=clock.now() - jobs.REQUEUE_AFTER * 2))  # type: ignore[arg-type]
    session.commit()
    assert queue.sweep().requeued == [job.id]
    assert queue.pending_ids() == {job.id}
    assert queue.sweep().requeued == []  # on the queue now: not twice
    assert run_queued_jobs(app) == 1 and job_row(session, job.id or 0).status == JobStatus.done


def test_a_queue_that_cannot_be_reached_keeps_the_job(make_app: Any, session: Session, make_user: Any,
                                                      login: Any) -> None:
    app = make_app(JOB_QUEUE_URL="redis://127.0.0.1:1/0")  # nothing listens there
    client = app.test_client()
    login(make_user("researcher"), test_client=client)
    english(client)
    response = client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(1)), "c.csv")})
    job_id = job_id_of(response)
    assert job_row(session, job_id).status == JobStatus.queued  # kept: a worker's sweeper enqueues it later
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "cannot be reached just now" in page and "Waiting for the worker" in page


# --- all or nothing, and a worker that stops ------------------------------------------------------


def test_an_attempt_given_up_for_dead_cannot_commit(app: Any, session: Session, make_user: Any) -> None:
    """A worker that stalls past its lease and is replaced must not commit its import too."""
    user = make_user("researcher")
    job = jobs.create_import_job(session, actor=user, crypto=app.extensions["pow_registry.contact_crypto"],
                                 key=b"k" * 32, token=secrets.token_urlsafe(24), kind=jobs.IMPORT_CAPTURES,
                                 data=captures_csv(3), filename="c.csv", dry_run=False)
    runtime = worker.queue(app).runtime()
    real_finish = jobs._finish  # noqa: SLF001

    def overtaken(session_: Session, rt: Any, job_id: int, attempt: int, report: Any, *rest: Any) -> None:
        # The sweeper gave this attempt up meanwhile (no heartbeat for LEASE) and queued the job again.
        with Session(rt.beat_engine) as other:
            other.exec(update(Job).where(Job.id == job_id).values(status=JobStatus.queued))  # type: ignore[arg-type]
            other.commit()
        real_finish(session_, rt, job_id, attempt, report, *rest)

    import pow_registry.services.jobs as module

    if runtime.sqlite:
        pytest.skip("on SQLite the import's transaction holds the write lock: nobody can requeue the job meanwhile")
    module._finish = overtaken  # type: ignore[assignment]  # noqa: SLF001
    try:
        jobs.run_job(runtime, job.id or 0)
    finally:
        module._finish = real_finish  # noqa: SLF001
    assert count(session, Person) == 0
    assert job_row(session, job.id or 0).status == JobStatus.queued  # the new attempt will run it


def test_the_sweeper_reruns_then_fails_a_job_whose_worker_stopped(app: Any, session: Session, make_user: Any) -> None:
    user = make_user("researcher")
    job = jobs.create_import_job(session, actor=user, crypto=app.extensions["pow_registry.contact_crypto"],
                                 key=b"k" * 32, token=secrets.token_urlsafe(24), kind=jobs.IMPORT_CAPTURES,
                                 data=captures_csv(2), filename="c.csv", dry_run=False)
    runtime = worker.queue(app).runtime()
    enqueued: list[int] = []

    def stopped_worker(attempt: int, seconds_ago: float) -> None:
        session.exec(update(Job).where(Job.id == job.id).values(  # type: ignore[arg-type]
            status=JobStatus.running, attempts=attempt, worker="elsewhere:1:x",
            heartbeat_at=clock.now() - timedelta(seconds=seconds_ago)))
        session.commit()

    stopped_worker(1, 5)  # a fresh heartbeat from another host: alive
    assert jobs.sweep(runtime, pending=set, enqueue=enqueued.append).restarted == []
    stopped_worker(1, jobs.LEASE.total_seconds() + 5)  # silent past its lease: gone
    assert jobs.sweep(runtime, pending=set, enqueue=enqueued.append).restarted == [job.id]
    assert enqueued == [job.id] and job_row(session, job.id or 0).status == JobStatus.queued
    stopped_worker(jobs.MAX_ATTEMPTS, jobs.LEASE.total_seconds() + 5)  # gone again, on its last attempt
    assert jobs.sweep(runtime, pending=set, enqueue=enqueued.append).failed == [job.id]
    failed = job_row(session, job.id or 0)
    assert (failed.status, failed.failure, failed.payload) == (JobStatus.failed, "worker_stopped", None)
    assert count(session, Person) == 0


def _worker_env(app: Any, instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_")}
    env.update({
        "POW_REGISTRY_INSTANCE_PATH": str(instance),
        "POW_REGISTRY_DATABASE_URL": app.config["DATABASE_URL"],
        "POW_REGISTRY_SECRET_KEY": app.config["SECRET_KEY"],
        "POW_REGISTRY_CONTACT_DATA_KEYS": ",".join(app.config["CONTACT_DATA_KEYS"]),
        "POW_REGISTRY_CONTACT_INDEX_KEY": app.config["CONTACT_INDEX_KEY"],
        "POW_REGISTRY_JOB_QUEUE_URL": app.config.get("JOB_QUEUE_URL") or "",
        "POW_REGISTRY_JOB_QUEUE_NAME": app.config["JOB_QUEUE_NAME"],
    })
    return env


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "pow-registry"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from pow_registry.cli import main; main()"]
    with open(log, "ab") as out:
        return subprocess.Popen([*command, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


@pytest.fixture
def subprocess_app(make_app: Any, tmp_path: Path) -> Any:
    """An app whose keys a `pow-registry worker` subprocess can be given (strong, explicit)."""
    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key

    return make_app(SECRET_KEY=secrets.token_urlsafe(48), CONTACT_DATA_KEYS=[generate_data_key()],
                    CONTACT_INDEX_KEY=generate_index_key(), JOB_QUEUE_NAME=f"test-{secrets.token_hex(4)}")


def test_a_worker_killed_mid_import_leaves_nothing_and_its_job_runs_again(subprocess_app: Any, session: Session,
                                                                         make_user: Any, tmp_path: Path) -> None:
    """kill -9 while the rows are being written: nothing of them is in the database, the job does
    not stay "running"; the next worker runs it again from the start (every row once), and a job
    whose worker is killed on its last attempt is marked failed, still with nothing written."""
    app = subprocess_app
    user = make_user("researcher")
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": "correct horse battery staple"})
    rows = 12_000  # long enough to be caught writing (a thousand rows a second or so, a beat a second)
    job_id = job_id_of(client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(rows)), "c.csv")}))
    env, log = _worker_env(app, Path(app.instance_path)), tmp_path / "worker.log"
    progress_dir = worker.jobs_dir(app)

    def writing() -> bool:
        state = jobs.progress_of(job_row(session, job_id), progress_dir)
        return state.phase == imports.PHASE_WRITING and 0 < state.done < rows

    for attempt in (1, jobs.MAX_ATTEMPTS):
        # The first worker takes the job; the next one finds it "running" with its worker's process
        # gone from this host, and runs it again from the start. Each is killed while writing.
        process = _start_worker(env, log)
        try:
            wait_for(lambda: job_row(session, job_id).attempts == attempt and writing(), 120,  # noqa: B023
                     f"attempt {attempt} to be writing rows")
        finally:
            _kill(process)
        job = job_row(session, job_id)
        assert (job.status, job.attempts) == (JobStatus.running, attempt)  # as the dead worker left it
        assert count(session, Person) == 0 and count(session, CaptureReport) == 0  # nothing half-written
    process = _start_worker(env, log)  # its last attempt was killed: marked failed, never "running" for ever
    try:
        wait_for(lambda: job_row(session, job_id).status == JobStatus.failed, 60, "the job to be marked failed")
    finally:
        _kill(process)
    failed = job_row(session, job_id)
    assert (failed.failure, failed.payload, count(session, Person)) == ("worker_stopped", None, 0)
    english(client)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "The worker stopped while this job was running; nothing was imported." in page


def test_a_worker_killed_once_then_restarted_imports_every_row_once(subprocess_app: Any, session: Session,
                                                                    make_user: Any, tmp_path: Path) -> None:
    app = subprocess_app
    user = make_user("researcher")
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": "correct horse battery staple"})
    # Long enough to be caught writing: rows are written a thousand at a time (about a second
    # each), and the beat shows the progress once a second.
    rows = 12_000
    job_id = job_id_of(client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(rows)), "c.csv")}))
    env, log = _worker_env(app, Path(app.instance_path)), tmp_path / "worker.log"
    progress_dir = worker.jobs_dir(app)
    process = _start_worker(env, log)
    try:
        wait_for(lambda: (s := jobs.progress_of(job_row(session, job_id), progress_dir)).phase == "writing"
                 and 0 < s.done < rows, 120, "the rows to be written")
    finally:
        _kill(process)
    assert count(session, Person) == 0
    process = _start_worker(env, log)
    try:
        # Done, and its progress file gone: the worker removes it just after the job's commit, so
        # a kill at the moment "done" shows would leave it (the sweeper clears it on a rerun only).
        wait_for(lambda: job_row(session, job_id).status == JobStatus.done
                 and not list(progress_dir.glob("job-*.json")), 180, "the job to finish and tidy up")
    finally:
        _kill(process)
    job = job_row(session, job_id)
    assert (job.attempts, count(session, Person), count(session, CaptureReport)) == (2, rows, rows)


# --- the Redis queue -------------------------------------------------------------------------------


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


def test_a_job_through_the_redis_queue(make_app: Any, session: Session, make_user: Any, login: Any) -> None:
    _redis_or_skip()
    app = make_app(JOB_QUEUE_URL=REDIS_URL, JOB_QUEUE_NAME=f"test-{secrets.token_hex(4)}")
    queue = worker.queue(app)
    assert not queue.embedded
    client = app.test_client()
    login(make_user("researcher"), test_client=client)
    try:
        job_id = job_id_of(client.post("/registry/import", data={"file": (io.BytesIO(captures_csv(30)), "c.csv")}))
        assert queue.pending_ids() == {job_id}
        running = queue.start_in_process(1)
        try:
            wait_for(lambda: job_row(session, job_id).status == JobStatus.done, 120, "the job to finish")
        finally:
            running.stop(graceful=True)
        assert count(session, Person) == 30
    finally:
        queue.huey.flush()
