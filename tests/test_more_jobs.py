"""The rest of the long work as jobs (issue 14): an office's answers, a counterpart list (import and
matching again), re-scoring everything, and a list's first spreadsheet. Each page starts a job and
goes to its page; the worker runs the same service; the outcome or the problems show there; one
send makes one job; roles stay those of the pages. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, update
from sqlmodel import Session, select
from support import exchange_rows, job_page_after, run_queued_jobs, snapshot

from pow_registry import clock, worker
from pow_registry.models import (
    AuditEvent,
    CounterpartList,
    ExchangeList,
    ExchangeListEntry,
    Job,
    JobStatus,
    MatchCandidate,
)
from pow_registry.services import jobs

pytestmark = pytest.mark.db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def english(client: Any) -> None:
    client.post("/language", data={"lang-language": "en"})


def job_id_of(response: Any) -> int:
    assert response.status_code == 303, response.status_code
    match = re.fullmatch(r"/jobs/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def fresh(session: Session, model: Any, row_id: int) -> Any:
    session.expire_all()
    row = session.get(model, row_id)
    session.commit()
    return row


def count(session: Session, model: Any) -> int:
    value = int(session.exec(select(func.count()).select_from(model)).one())
    session.commit()
    return value


def token_of(page: str, form_action: str) -> str:
    """The one-time token of the form posting to `form_action`."""
    form = page[page.index(f'action="{form_action}"'):]
    form = form[:form.index("</form>")]
    match = re.search(r'name="(?:[a-z]+-)?submission" type="hidden" value="([^"]+)"', form)
    assert match, f"the form to {form_action} carries a one-time token"
    return match.group(1)


@pytest.fixture
def world(app: Any, session: Session, audit_key: bytes, make_person: Any) -> dict[str, int]:
    """An office, a draft list, a frozen list with one man on it (never exported), a counterpart list."""
    draft_person = make_person(surname="Макетов", given_name="Пётр", date_of_birth="1990-06-01")
    frozen_person = make_person(surname="Шаблонов", given_name="Илья", date_of_birth="1985-01-20")
    session.commit()
    return exchange_rows(app=app, session=session, audit_key=audit_key, draft_person_id=draft_person.id,
                         frozen_person_id=frozen_person.id)


@pytest.fixture
def staff_client(app: Any, make_user: Any, login: Any) -> Any:
    client = app.test_client()
    login(make_user("staff"), test_client=client)
    english(client)
    return client


def _answers(data: bytes, name: str = "answers.csv", **extra: Any) -> dict[str, Any]:
    return {"file": (io.BytesIO(data), name), **extra}


# --- an office's answers -------------------------------------------------------------------------


def test_an_offices_answers_are_recorded_in_a_job(app: Any, session: Session, world: dict[str, int],
                                                  staff_client: Any) -> None:
    list_id = world["frozen_list_id"]
    page = staff_client.get(f"/lists/{list_id}").get_data(as_text=True)
    token = token_of(page, f"/lists/{list_id}/answers")
    send = _answers("№,Відповідь\n1,не знайдено\n".encode(), submission=token)
    response = staff_client.post(f"/lists/{list_id}/answers", data=send, content_type="multipart/form-data")
    job_id = job_id_of(response)
    assert fresh(session, ExchangeListEntry, world["frozen_entry_id"]).outcome is None  # not in the request
    # The same send again (a reload, a second click) goes to the same job.
    again = staff_client.post(f"/lists/{list_id}/answers", content_type="multipart/form-data",
                              data=_answers("№,Відповідь\n1,не знайдено\n".encode(), submission=token))
    assert job_id_of(again) == job_id and count(session, Job) == 1
    text = job_page_after(staff_client, response, app).get_data(as_text=True)
    assert "Recorded 1 answers; 0 rows had no answer yet." in text and f'href="/lists/{list_id}"' in text
    assert fresh(session, ExchangeListEntry, world["frozen_entry_id"]).outcome.value == "not_found"
    job = fresh(session, Job, job_id)
    assert (job.status, job.payload, job.kind) == (JobStatus.done, None, jobs.OFFICE_ANSWERS)
    outcomes = session.exec(select(AuditEvent).where(AuditEvent.action == "list.outcome")).all()
    session.commit()
    assert [e.actor_id for e in outcomes] == [job.owner_id]  # attributed to whoever uploaded the file


def test_a_bad_answers_file_lists_every_problem_translated_and_records_nothing(
        app: Any, session: Session, world: dict[str, int], staff_client: Any) -> None:
    list_id = world["frozen_list_id"]
    before = snapshot(session)
    bad = "№,Відповідь,Дата відповіді\n1,обміняно,\n7,не знайдено,\n".encode()  # no date; no row 7
    text = job_page_after(staff_client, staff_client.post(f"/lists/{list_id}/answers", data=_answers(bad),
                                                          content_type="multipart/form-data"), app).get_data(as_text=True)
    assert "Nothing was recorded: 2 problems found." in text
    assert re.search(r"<tr><td>3</td><td><code>row_number/person_ref</code></td><td>No such row on this list\.</td>", text)
    assert re.search(r"<tr><td>2</td><td><code>outcome_date</code></td>", text)
    after = snapshot(session)
    assert {t: r for t, r in after.items() if t != "job"} == {t: r for t, r in before.items() if t != "job"}
    # A file that is no table at all: its problem is shown in the reader's language, not in English.
    staff_client.post("/language", data={"lang-language": "ru"})  # kept on the account: a change of its own
    before = snapshot(session)
    text = job_page_after(staff_client, staff_client.post(f"/lists/{list_id}/answers", data=_answers(b"\n\n"),
                                                          content_type="multipart/form-data"), app).get_data(as_text=True)
    assert "В файле нет строки заголовков." in text and "The file has no header row." not in text
    after = snapshot(session)
    assert {t: r for t, r in after.items() if t != "job"} == {t: r for t, r in before.items() if t != "job"}


def test_answers_to_a_draft_are_refused_on_the_form_and_make_no_job(session: Session, world: dict[str, int],
                                                                    staff_client: Any) -> None:
    response = staff_client.post(f"/lists/{world['list_id']}/answers", content_type="multipart/form-data",
                                 data=_answers("№,Відповідь\n1,не знайдено\n".encode()))
    assert response.status_code == 400 and "Answers are recorded on frozen lists only." in response.get_data(as_text=True)
    assert count(session, Job) == 0


def test_who_may_send_answers_and_see_their_job(app: Any, session: Session, world: dict[str, int],
                                                 staff_client: Any, make_user: Any, login: Any) -> None:
    list_id = world["frozen_list_id"]
    job_id = job_id_of(staff_client.post(f"/lists/{list_id}/answers", content_type="multipart/form-data",
                                         data=_answers("№,Відповідь\n1,отримано\n".encode())))
    for role in ("researcher", "admin"):  # the list pages are staff's
        other = app.test_client()
        login(make_user(role), test_client=other)
        refused = other.post(f"/lists/{list_id}/answers", content_type="multipart/form-data",
                             data=_answers("№,Відповідь\n1,отримано\n".encode()))
        assert refused.status_code == 403
    assert count(session, Job) == 1
    for roles, expected in ((("staff",), 404), (("researcher",), 404), (("admin",), 200)):
        visitor = app.test_client()
        login(make_user(*roles), test_client=visitor)
        assert visitor.get(f"/jobs/{job_id}").status_code == expected, roles


# --- counterpart lists ---------------------------------------------------------------------------


COUNTERPART = "№,Фамилия,Имя,Дата рождения\n1,Shablonov,Ilya,20.01.1985\n2,Небывалов,Пётр,1970\n".encode()


def _counterpart(data: bytes = COUNTERPART, **fields: Any) -> dict[str, Any]:
    return {"kind": "returned", "title": "Вымышленный обмен", "source": "example.org", "received_on": "2026-11-30",
            "file": (io.BytesIO(data), "returned.csv"), **fields}


def test_a_counterpart_list_is_read_and_matched_in_a_job_then_matched_again(
        app: Any, session: Session, world: dict[str, int], staff_client: Any) -> None:
    lists_before = count(session, CounterpartList)
    response = staff_client.post("/counterpart/new", data=_counterpart(), content_type="multipart/form-data")
    job_id_of(response)
    assert count(session, CounterpartList) == lists_before  # read, stored and matched by the worker
    text = job_page_after(staff_client, response, app).get_data(as_text=True)
    match = re.search(r"Imported 2 names: (\d+) candidate pairs to review, (\d+) names nobody matched\.", text)
    assert match and int(match.group(2)) >= 1, text
    new_list = session.exec(select(CounterpartList).order_by(CounterpartList.id.desc())).first()  # type: ignore[union-attr]
    session.commit()
    assert f'href="/counterpart/{new_list.id}"' in text
    # Matched again from the list's page: a job too, and its reload is the same job.
    page = staff_client.get(f"/counterpart/{new_list.id}").get_data(as_text=True)
    token = token_of(page, f"/counterpart/{new_list.id}/reconcile")
    first = staff_client.post(f"/counterpart/{new_list.id}/reconcile", data={"reconcile-submission": token})
    again = staff_client.post(f"/counterpart/{new_list.id}/reconcile", data={"reconcile-submission": token})
    assert job_id_of(first) == job_id_of(again)
    text = job_page_after(staff_client, first, app).get_data(as_text=True)
    assert re.search(rf"Matched again: {match.group(1)} candidate pairs, {match.group(2)} names nobody matched\.", text)
    assert staff_client.post("/counterpart/999999/reconcile", data={}).status_code == 404


def test_a_counterpart_list_with_bad_rows_or_details_writes_nothing(app: Any, session: Session, world: dict[str, int],
                                                                     staff_client: Any, make_user: Any,
                                                                     login: Any) -> None:
    before = snapshot(session)
    text = job_page_after(staff_client, staff_client.post("/counterpart/new", content_type="multipart/form-data",
                                                          data=_counterpart(COUNTERPART + b"3,,,\n")), app).get_data(as_text=True)
    assert "Nothing was imported: 1 problem found." in text and "<td>4</td>" in text
    after = snapshot(session)
    assert {t: r for t, r in after.items() if t != "job"} == {t: r for t, r in before.items() if t != "job"}
    jobs_before = count(session, Job)
    refused = staff_client.post("/counterpart/new", data=_counterpart(title=""), content_type="multipart/form-data")
    assert refused.status_code == 400 and "Required." in refused.get_data(as_text=True)
    assert count(session, Job) == jobs_before  # the form says why; no job for a send that cannot succeed
    researcher = app.test_client()
    login(make_user("researcher"), test_client=researcher)
    assert researcher.post("/counterpart/new", data=_counterpart(), content_type="multipart/form-data").status_code == 403
    assert researcher.post(f"/counterpart/{world['counterpart_list_id']}/reconcile", data={}).status_code == 403
    assert count(session, Job) == jobs_before


# --- re-scoring everything -------------------------------------------------------------------------


def test_an_admin_rescores_everything_in_a_job(app: Any, session: Session, world: dict[str, int], make_user: Any,
                                               login: Any) -> None:
    from support import add_inquiry

    add_inquiry(session, surname="Шаблонов", given_name="Илья", date_of_birth="1985-01-20")
    admin = app.test_client()
    login(make_user("admin"), test_client=admin)
    english(admin)
    page = admin.get("/admin/matching").get_data(as_text=True)
    assert "Re-score everything" in page and 'href="/admin/matching"' in page
    token = token_of(page, "/admin/matching/rescore")
    first = admin.post("/admin/matching/rescore", data={"submission": token})
    job_id = job_id_of(first)
    assert job_id_of(admin.post("/admin/matching/rescore", data={"submission": token})) == job_id  # a reload
    # Another click while it waits joins it: one re-scoring at a time.
    assert job_id_of(admin.post("/admin/matching/rescore", data={})) == job_id
    assert "Re-scoring is under way" in admin.get("/admin/matching").get_data(as_text=True)
    assert count(session, Job) == 1
    text = job_page_after(admin, first, app).get_data(as_text=True)
    outcome = jobs.outcome_of(fresh(session, Job, job_id))
    assert outcome is not None and outcome.counts["records"] >= 3  # two persons and an inquiry at least
    assert (f"Every record was re-scored: {outcome.counts['records']} records; "
            f"{outcome.counts['new_candidates']} candidate pairs added") in text
    assert count(session, MatchCandidate) >= 1
    assert f"/jobs/{job_id}" in admin.get("/admin/matching").get_data(as_text=True)  # its last runs
    for role in ("staff", "researcher"):
        other = app.test_client()
        login(make_user(role), test_client=other)
        assert other.get("/admin/matching").status_code == 403
        assert other.post("/admin/matching/rescore", data={}).status_code == 403
    assert count(session, Job) == 1


def test_a_rescoring_whose_owner_lost_the_role_fails_cleanly(app: Any, session: Session, make_user: Any,
                                                             audit_key: bytes) -> None:
    from pow_registry.services import accounts

    admin, other = make_user("admin"), make_user("admin")
    job_id = jobs.create_job(session, actor=admin, key=b"k" * 32, token="t" * 32, kind=jobs.MATCH_ALL).id or 0
    accounts.update_user(session=session, actor=other, audit_key=audit_key, user_id=admin.id or 0,
                         version=admin.version, roles=["staff"], is_active=True, display_name="")
    session.commit()  # (on SQLite a transaction left open holds the write lock the worker needs)
    worker.queue(app).enqueue(job_id)
    run_queued_jobs(app)
    failed = fresh(session, Job, job_id)
    assert (failed.status, failed.failure) == (JobStatus.failed, jobs.FAILURE_NOT_ALLOWED)


# --- a list's spreadsheet ---------------------------------------------------------------------------


def test_a_lists_first_spreadsheet_is_made_in_a_job_and_downloaded_from_its_page(
        app: Any, session: Session, world: dict[str, int], staff_client: Any, make_user: Any, login: Any) -> None:
    list_id = world["frozen_list_id"]
    page = staff_client.get(f"/lists/{list_id}").get_data(as_text=True)
    token = token_of(page, f"/lists/{list_id}/download")
    response = staff_client.post(f"/lists/{list_id}/download", data={"submission": token})
    job_id = job_id_of(response)
    assert job_id_of(staff_client.post(f"/lists/{list_id}/download", data={"submission": token})) == job_id
    other_staff = app.test_client()
    login(make_user("staff"), test_client=other_staff)
    assert job_id_of(other_staff.post(f"/lists/{list_id}/download", data={})) == job_id  # joins the waiting job
    assert fresh(session, ExchangeList, list_id).file_data is None and count(session, Job) == 1

    text = job_page_after(staff_client, response, app).get_data(as_text=True)
    assert "The spreadsheet of list №" in text and f'action="/lists/{list_id}/download"' in text
    download = staff_client.post(f"/lists/{list_id}/download", data={})
    assert download.status_code == 200 and download.mimetype == XLSX
    data = download.get_data()
    # The hash the audit log recorded at the first export, made by the job's owner, vouches for the file.
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "list.export")).all()
    session.commit()
    assert len(events) == 1 and json.loads(events[0].changes)["file_sha256"][1] == hashlib.sha256(data).hexdigest()
    assert events[0].actor_id == fresh(session, Job, job_id).owner_id
    assert other_staff.post(f"/lists/{list_id}/download", data={}).get_data() == data  # any staff, the same bytes
    # An admin sees the job but, not being staff, gets no download (as on the list's page).
    admin = app.test_client()
    login(make_user("admin"), test_client=admin)
    english(admin)
    seen = admin.get(f"/jobs/{job_id}")
    assert seen.status_code == 200 and f'action="/lists/{list_id}/download"' not in seen.get_data(as_text=True)
    assert admin.post(f"/lists/{list_id}/download", data={}).status_code == 403
    assert other_staff.get(f"/jobs/{job_id}").status_code == 404  # someone else's job


def test_an_export_whose_worker_stopped_runs_again_and_records_the_file_once(
        app: Any, session: Session, world: dict[str, int], staff_client: Any) -> None:
    """A job without a file can always run again: the sweeper re-queues it (an import is re-queued
    only while its file is kept); the export is then made and recorded once."""
    list_id = world["frozen_list_id"]
    job_id = job_id_of(staff_client.post(f"/lists/{list_id}/download", data={}))
    queue = worker.queue(app)
    queue.huey.flush()  # a worker took the message ...
    session.exec(update(Job).where(Job.id == job_id).values(  # type: ignore[arg-type]
        status=JobStatus.running, attempts=1, worker="elsewhere:1:x",  # ... and stopped: its heartbeat is old
        heartbeat_at=clock.now() - jobs.LEASE - timedelta(seconds=5)))
    session.commit()
    assert fresh(session, ExchangeList, list_id).file_data is None and count_events(session, "list.export") == 0
    assert queue.sweep().restarted == [job_id]
    assert run_queued_jobs(app) == 1
    job = fresh(session, Job, job_id)
    assert (job.status, job.attempts) == (JobStatus.done, 2)
    assert fresh(session, ExchangeList, list_id).file_data is not None and count_events(session, "list.export") == 1
    # On its last attempt a stopped worker makes it fail, with nothing written.
    other = job_id_of(staff_client.post(f"/counterpart/{world['counterpart_list_id']}/reconcile", data={}))
    queue.huey.flush()
    session.exec(update(Job).where(Job.id == other).values(  # type: ignore[arg-type]
        status=JobStatus.running, attempts=jobs.MAX_ATTEMPTS, worker="elsewhere:1:x",
        heartbeat_at=clock.now() - jobs.LEASE - timedelta(seconds=5)))
    session.commit()
    assert queue.sweep().failed == [other]
    english(staff_client)
    text = staff_client.get(f"/jobs/{other}").get_data(as_text=True)
    assert "The worker stopped while this job was running; nothing of it was kept." in text


def test_an_export_job_run_twice_leaves_one_file_and_one_audit_event(
        app: Any, session: Session, world: dict[str, int], staff_client: Any) -> None:
    list_id = world["frozen_list_id"]
    job_id = job_id_of(staff_client.post(f"/lists/{list_id}/download", data={}))
    run_queued_jobs(app)
    made = fresh(session, ExchangeList, list_id).file_sha256
    # The worker stopped after the export's commit (a rerun of a finished export): queued again.
    session.exec(update(Job).where(Job.id == job_id).values(status=JobStatus.queued, outcome=None))  # type: ignore[arg-type]
    session.commit()
    worker.queue(app).enqueue(job_id)
    run_queued_jobs(app)
    job = fresh(session, Job, job_id)
    outcome = jobs.outcome_of(job)
    assert job.status == JobStatus.done and outcome is not None and outcome.ok
    assert fresh(session, ExchangeList, list_id).file_sha256 == made
    assert count_events(session, "list.export") == 1


def count_events(session: Session, action: str) -> int:
    value = len(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())
    session.commit()
    return value


def test_the_jobs_list_names_every_kind(app: Any, session: Session, world: dict[str, int], staff_client: Any) -> None:
    staff_client.post(f"/lists/{world['frozen_list_id']}/download", data={})
    staff_client.post(f"/counterpart/{world['counterpart_list_id']}/reconcile", data={})
    run_queued_jobs(app)
    listing = staff_client.get("/jobs/").get_data(as_text=True)
    assert re.search(r"An exchange list(&#39;|&#x27;|')s spreadsheet", listing) and "A counterpart list matched again" in listing
    assert listing.count("done") >= 2 and "nothing imported" not in listing


# --- a worker killed mid-job ------------------------------------------------------------------------


def _names_csv(rows: int) -> bytes:
    surnames = ["Выдумкин", "Макетов", "Шаблонов", "Черновиков", "Пробнов", "Эскизов", "Набросков", "Заготовкин"]
    given = ["Алексей", "Виталий", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим"]
    lines = ["surname,given_name,date_of_birth"]
    lines += [f"{surnames[i % 8]}{i // 64},{given[(i // 8) % 8]},{1970 + i % 30}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def subprocess_app(make_app: Any) -> Any:
    """An app whose keys a `pow-registry worker` subprocess can be given (as in test_jobs.py)."""
    import secrets

    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key

    return make_app(SECRET_KEY=secrets.token_urlsafe(48), CONTACT_DATA_KEYS=[generate_data_key()],
                    CONTACT_INDEX_KEY=generate_index_key(), JOB_QUEUE_NAME=f"test-{secrets.token_hex(4)}")


def test_a_worker_killed_mid_counterpart_import_leaves_nothing_and_the_next_one_imports_it_once(
        subprocess_app: Any, session: Session, make_user: Any, tmp_path: Any) -> None:
    """kill -9 while the names are being written and matched: no list, no name, no pair is in the
    database and the job is not left "running"; the next worker runs it again from the start."""
    from pathlib import Path

    from test_jobs import _kill, _start_worker, _worker_env, job_row, wait_for

    app = subprocess_app
    client = app.test_client()
    client.post("/login", data={"email": make_user("staff").email, "password": "correct horse battery staple"})
    rows = 4000  # several seconds of writing and matching on either database
    job_id = job_id_of(client.post("/counterpart/new", content_type="multipart/form-data", data={
        "kind": "held", "title": "Вымышленный список", "file": (io.BytesIO(_names_csv(rows)), "held.csv")}))
    env, log = _worker_env(app, Path(app.instance_path)), tmp_path / "worker.log"
    progress_dir = worker.jobs_dir(app)

    def at_work() -> bool:
        job = job_row(session, job_id)
        state = jobs.progress_of(job, progress_dir)
        return (job.attempts == 1 and state.phase == jobs.PHASE_MATCHING and state.at is not None
                and job.started_at is not None and state.at - job.started_at > timedelta(seconds=1))

    process = _start_worker(env, log)
    try:
        wait_for(at_work, 120, "the names to be written and matched")
    finally:
        _kill(process)
    job = job_row(session, job_id)
    assert (job.status, job.attempts) == (JobStatus.running, 1)  # as the dead worker left it
    for model in (CounterpartList, MatchCandidate):
        assert count(session, model) == 0, model  # nothing half-written
    process = _start_worker(env, log)
    try:
        wait_for(lambda: job_row(session, job_id).status == JobStatus.done
                 and not list(progress_dir.glob("job-*.json")), 240, "the job to run again and finish")
    finally:
        _kill(process)
    job = job_row(session, job_id)
    outcome = jobs.outcome_of(job)
    assert job.attempts == 2 and outcome is not None and outcome.ok and outcome.rows_created == rows
    assert count(session, CounterpartList) == 1
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "counterpart.import")).all()
    session.commit()
    assert len(events) == 1
