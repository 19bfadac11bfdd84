"""Matching off the request path, the production way (MATCHING_IN_JOBS): a commit queues the
records it changed, the process that runs jobs matches them. A web request never builds the
registry's index; the worker builds it when it starts; nothing queued is lost when the queue is
down or a record changes again while it is being matched (all persons fictitious)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from support import add_inquiry, run_queued_jobs
from test_jobs import _kill, _start_worker, _worker_env, captures_csv, subprocess_app  # noqa: F401 - a fixture

from pow_registry import worker
from pow_registry.models import Inquiry, MatchCandidate, MatchPending, User
from pow_registry.services import matching

FORM = {
    "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "2005-03-12",
    "unit": "", "service_category": "conscript", "last_contact_date": "", "last_known_place": "",
    "notes": "", "requester_name": "Выдумкина Ольга", "requester_relationship": "мать",
    "phones": "+7 999 000-00-01", "requester_country": "RU", "requester_email": "",
    "preferred_language": "ru", "consent_contact": "y",
}


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    """The app as `serve` runs it: commits queue their records for the worker."""
    return make_app(MATCHING_IN_JOBS=True)


def _pending(session: Session) -> list[tuple[str, int]]:
    rows = session.exec(select(MatchPending.kind, MatchPending.record_id)).all()
    session.commit()  # SQLite: end the test's read so that others can write
    return sorted((kind, record_id) for kind, record_id in rows)


def _candidates(session: Session) -> list[tuple[str, int, str, int]]:
    rows = session.exec(select(MatchCandidate.left_kind, MatchCandidate.left_id, MatchCandidate.right_kind,
                               MatchCandidate.right_id)).all()
    session.commit()
    return sorted(tuple(row) for row in rows)  # type: ignore[misc]


def _engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]


def test_a_web_inquiry_is_queued_and_the_worker_matches_it(
    app: Any, client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    person = make_person()  # «Выдумкин Виталий Евгеньевич», born 2005-03-12
    assert _pending(session) == [("person", person.id)]
    assert run_queued_jobs(app) == 1 and _pending(session) == []
    login(make_user("staff"))
    page = client.get("/inquiries/new").get_data(as_text=True)
    token = re.search(r'name="submission" type="hidden" value="([A-Za-z0-9_-]{32})"', page)
    assert token
    response = client.post("/inquiries/new", data={**FORM, "submission": token.group(1)})
    assert response.status_code == 303
    inquiry = session.exec(select(Inquiry)).one()
    session.commit()

    # The request wrote the inquiry and queued it; it did not match it (no candidate yet).
    assert _pending(session) == [("inquiry", inquiry.id)]
    assert _candidates(session) == []
    waiting = client.get(f"/matches/?inquiry={inquiry.id}").get_data(as_text=True)  # staff read Russian
    assert "Эта запись изменена только что и ещё сопоставляется" in waiting

    assert run_queued_jobs(app) == 1  # the worker's task, as the worker runs it
    assert _pending(session) == []
    assert _candidates(session) == [("inquiry", inquiry.id, "person", person.id)]
    page = client.get(f"/matches/?inquiry={inquiry.id}").get_data(as_text=True)
    assert "сопоставляется" not in page and inquiry.reference in page


def test_web_requests_never_build_the_index(
    app: Any, client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any,
    caplog: pytest.LogCaptureFixture
) -> None:
    """Only the worker's task builds an index: requests that write (a person, an inquiry) and the
    pages that read candidates build none."""
    caplog.set_level("INFO", logger="pow_registry.services.matching")
    researcher = make_user("researcher")
    login(researcher)
    response = client.post("/registry/persons/new", data={
        "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "12.03.2005",
        "report_claim": "captured", "report_capture_date": "2024-08", "report_capture_place": "Суджа"})
    assert response.status_code == 302
    add_inquiry(session)
    client.get("/matches/")
    assert len(_pending(session)) == 2

    def built() -> list[Any]:
        return [r for r in caplog.records if r.getMessage() == "match index built"]

    assert built() == []
    run_queued_jobs(app)
    assert [r.records for r in built()] == [2]  # type: ignore[attr-defined]
    assert matching.index_size(_engine(app)) == 2
    assert len(_candidates(session)) == 1


def test_a_failed_write_queues_nothing_and_wakes_nobody(app: Any, session: Session, make_person: Any) -> None:
    make_person()
    run_queued_jobs(app)
    session.add(Inquiry(surname="Выдумкин", given_name="Виталий", requester_name="Выдумкина Анна",
                        reference="INQ-TEST-0001", access_code_digest="0" * 64))
    session.flush()
    session.rollback()
    assert _pending(session) == []
    assert not worker.queue(app).matching_waits()


def test_records_queued_while_the_queue_was_down_are_found_by_the_sweep(
    app: Any, session: Session, make_person: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = worker.queue(app)
    queue.huey  # noqa: B018 - made, with its tasks

    def down() -> None:
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(queue, "_match_task", down)
    person = make_person()  # the commit succeeds; waking the worker fails and is logged
    add_inquiry(session)
    assert len(_pending(session)) == 2 and not queue.matching_waits()
    monkeypatch.undo()
    with app.app_context():
        assert queue.sweep_matching() is True  # a wake-up is put on the queue
        assert queue.sweep_matching() is False  # and only one
    assert run_queued_jobs(app) == 1
    assert _pending(session) == []
    assert [(c[2], c[3]) for c in _candidates(session)] == [("person", person.id)]


def test_a_record_changed_while_it_is_matched_is_matched_again(
    app: Any, session: Session, make_person: Any, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    """The worker removes only the queue rows it read: a change committed after the worker read
    the record is matched in its next round, not dropped with the older one. (On SQLite the
    worker holds the write lock from reading the queue to removing from it, so no change can come
    in between: PostgreSQL only.)"""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite's writer holds the lock from reading the queue to removing from it")
    person = make_person()
    inquiry = add_inquiry(session, surname="Сказкин", given_name="Олег", patronymic="Петрович",
                          date_of_birth="1990-01-01")  # nobody in the registry
    real_load_records = matching.load_records
    changed: list[int] = []

    def load_then_someone_edits(match_session: Session, keys: Any = None) -> Any:
        records = real_load_records(match_session, keys)
        if keys is not None and ("inquiry", inquiry.id) in set(keys) and not changed:
            changed.append(1)  # the worker has read the old surname; staff correct it now
            with Session(_engine(app)) as other:
                row = other.get(Inquiry, inquiry.id)
                assert row is not None
                # Now he is the man in the registry.
                row.surname, row.given_name, row.patronymic = "Выдумкин", "Виталий", "Евгеньевич"
                row.date_of_birth = "2005-03-12"
                other.add(row)
                other.commit()  # queued again, with a new token
        return records

    monkeypatch.setattr(matching, "load_records", load_then_someone_edits)
    run_queued_jobs(app)
    assert changed == [1]
    assert _pending(session) == []
    assert _candidates(session) == [("inquiry", inquiry.id, "person", person.id)]


def test_commands_match_at_once_and_match_clears_the_queue(
    app: Any, session: Session, make_person: Any
) -> None:
    person = make_person()
    add_inquiry(session)
    assert len(_pending(session)) == 2 and _candidates(session) == []
    # `pow-registry match` (an operator's command, no worker needed) matches what is queued.
    result = app.test_cli_runner().invoke(args=["match"])
    assert result.exit_code == 0, result.output
    assert _pending(session) == []
    assert [(c[2], c[3]) for c in _candidates(session)] == [("person", person.id)]
    # A command that writes matches before it returns, whatever the app's setting.
    csv = "source_ref,surname,given_name,date_of_birth\nvid-9,Выдумкин,Виталий,2005-03-12\n"
    path = Path(app.instance_path) / "captures.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["import", "captures", str(path)])
    assert result.exit_code == 0, result.output
    assert _pending(session) == []
    assert len(_candidates(session)) == 3  # the inquiry ↔ both men, and the two men as duplicates


@pytest.fixture
def worker_log(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "worker.log"


def _log_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_the_worker_builds_the_index_when_it_starts_and_matches_what_requests_queue(
    subprocess_app: Any, make_app: Callable[..., Any], tmp_path: Path, worker_log: Path  # noqa: F811
) -> None:
    app = subprocess_app
    queued = make_app(**{k: app.config[k] for k in ("SECRET_KEY", "CONTACT_DATA_KEYS", "CONTACT_INDEX_KEY",
                                                    "JOB_QUEUE_NAME")}, MATCHING_IN_JOBS=True)
    from pow_registry.services import accounts, registry

    with Session(_engine(app)) as session:  # matched at once: the match state exists
        actor = accounts.create_user(session=session, actor=None, audit_key=app.config["AUDIT_KEY_BYTES"],
                                     passwords=app.extensions["pow_registry.passwords"],
                                     policy=accounts.PasswordPolicy(), email="r@example.org",
                                     password="a long enough test password 2026", roles=["researcher"])
        for i in range(3):
            registry.create_person(session=session, actor=actor, audit_key=app.config["AUDIT_KEY_BYTES"],
                                   person={"surname": f"Выдумкин{'а' * i}", "given_name": "Виталий"},
                                   report={"capture_date": "2024-08-10", "source_ref": f"vid-{i}"})
    process = _start_worker(_worker_env(app, tmp_path / "instance"), worker_log)
    try:
        deadline = time.monotonic() + 60
        while not any(line.get("message") == "match index ready" for line in _log_lines(worker_log)):
            assert process.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.1)
        ready = next(line for line in _log_lines(worker_log) if line.get("message") == "match index ready")
        assert ready["records"] == 3  # built before any record was queued

        with Session(_engine(queued)) as session:
            inquiry = add_inquiry(session, surname="Выдумкин", date_of_birth="")
            inquiry_id = inquiry.id
        while True:  # the worker, woken by the commit, matches it
            with Session(_engine(queued)) as session:
                if not session.exec(select(MatchPending)).first() and session.exec(
                        select(MatchCandidate).where(MatchCandidate.left_id == inquiry_id)).first():
                    break
            assert process.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.1)
    finally:
        _kill(process)


def test_operators_see_the_backlog_in_the_metrics(make_app: Callable[..., Any], make_person: Any) -> None:
    token = "a-long-random-metrics-token-for-tests-only"
    app = make_app(MATCHING_IN_JOBS=True, METRICS_TOKEN=token)

    def scrape() -> str:
        response = app.test_client().get("/admin/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    make_person()
    make_person(surname="Макетов", given_name="Пробний")
    metrics = scrape()
    assert "pow_registry_match_pending_records 2.0" in metrics
    assert 'pow_registry_jobs{status="queued"} 0.0' in metrics and 'pow_registry_jobs{status="running"} 0.0' in metrics
    run_queued_jobs(app)
    assert "pow_registry_match_pending_records 0.0" in scrape()


def test_an_import_job_queues_its_men_and_the_worker_matches_them_after_it(
    app: Any, client: Any, session: Session, make_user: Callable[..., User], login: Any
) -> None:
    """The bulk import writes its rows past the session; they are queued all the same, in the
    import's transaction, and matched after the job (the job itself does no matching)."""
    inquiry = add_inquiry(session, surname="Выдумкин", given_name="Виталий", patronymic="", date_of_birth="")
    run_queued_jobs(app)
    login(make_user("researcher"))
    data = captures_csv(3).decode() + "Z1,Выдумкин,Виталий,,,2024-08,Суджа\n"
    queue = worker.queue(app)
    response = client.post("/registry/import", data={"file": (io.BytesIO(data.encode()), "c.csv")})
    assert response.status_code == 303
    task = queue.huey.dequeue()  # the import job's own task
    assert task is not None and task.name == worker.TASK_NAME
    queue.huey.execute(task)
    assert len(_pending(session)) == 4  # the four new men, queued by the import's commit
    assert _candidates(session) == []
    assert queue.matching_waits()
    assert run_queued_jobs(app) == 1
    assert _pending(session) == []
    assert any(c[:2] == ("inquiry", inquiry.id) for c in _candidates(session))
