"""Busy databases, simultaneous logins, a full disk and unexpected errors (issue 14): a clear page
in the user's language with a request id, never a 500 for a busy database, nothing half-written,
and reads that keep working. Runs on SQLite and PostgreSQL. Fictitious accounts only."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select
from support import TEST_PASSWORD, snapshot

from pow_registry import clock
from pow_registry.models import AuditEvent, User
from pow_registry.services import two_factor

BACKEND = os.environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite")


@pytest.fixture
def app(make_app: Any) -> Any:
    # A short wait for a lock, so that "busy" comes in a second, not in fifteen.
    return make_app(DATABASE_BUSY_TIMEOUT_SECONDS=1)


@contextlib.contextmanager
def write_lock_held(app: Any, user_id: int) -> Iterator[None]:
    """Another writer holds the lock a write needs: SQLite's whole-database write lock, or on
    PostgreSQL the account's row (what a login writes)."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite"):
        other = sqlite3.connect(make_url(url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
    else:
        with app.extensions["pow_registry.engine"].connect() as other:
            other.execute(text("SELECT id FROM user_account WHERE id = :id FOR UPDATE"), {"id": user_id})
            try:
                yield
            finally:
                other.rollback()


def _logins(session: Session, user: User, action: str = "auth.login") -> int:
    count = session.exec(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.entity_id == user.id)).one()
    session.commit()
    return int(count)


def test_ten_simultaneous_correct_logins_to_one_account_all_succeed(app: Any, session: Session, make_user: Any) -> None:
    user = make_user("researcher")
    version = user.version
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def sign_in() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=sign_in) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302] * 10
    assert _logins(session, user) == 10
    stored = session.exec(select(User).where(User.id == user.id).execution_options(populate_existing=True)).one()
    session.commit()
    # The time of sign-in is bookkeeping, not an edit: an admin's form opened before stays valid.
    assert stored.version == version and stored.last_login_at is not None


def test_the_same_code_sent_twice_at_once_signs_in_exactly_once(make_app: Any, session: Session, make_user: Any) -> None:
    app = make_app(DATABASE_BUSY_TIMEOUT_SECONDS=5, TWO_FACTOR_ROLES=["staff"])
    user = make_user("staff")
    secret = pyotp.random_base32()
    two_factor.enrol_with_secret(session, user, secret)
    session.commit()
    clients = [app.test_client() for _ in range(2)]
    for client in clients:
        assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
    code = pyotp.TOTP(secret).at(clock.timestamp())
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(client: Any) -> None:
        barrier.wait()
        statuses.append(client.post("/login/code", data={"code": code}).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302, 401]  # one in, the other refused like a used code; never a 500


def test_a_login_that_cannot_get_the_lock_says_try_again_and_is_no_failed_attempt(
    app: Any, client: Any, session: Session, make_user: Any
) -> None:
    user = make_user("researcher")
    before = snapshot(session)
    with write_lock_held(app, user.id):
        for _ in range(7):  # more than the free failures a throttle allows
            busy = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                               headers={"Accept-Language": "ru"})
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "5"
            page = busy.get_data(as_text=True)
            assert "База данных занята" in page and "Ничего не сохранено" in page
            assert busy.headers["X-Request-ID"] in page
    assert snapshot(session) == before  # nothing half-written, no failed sign-in recorded
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's write lock: PostgreSQL has no such lock to take")
def test_a_signed_in_post_takes_no_lock_to_know_who_sends_it_and_reads_keep_working(
    app: Any, client: Any, login: Any, make_user: Any
) -> None:
    user = make_user("researcher")
    login(user)
    with write_lock_held(app, user.id):
        # Loading the account used to begin the write transaction: every POST waited, then failed.
        same_language = client.post("/language", data={"lang-language": user.preferred_language, "lang-next": "/"})
        assert same_language.status_code == 302
        assert client.get("/registry/").status_code == 200


@pytest.mark.skipif(BACKEND != "sqlite", reason="the database's size cap is SQLite's (max_page_count)")
def test_a_full_disk_saves_nothing_says_so_and_reads_keep_working(
    app: Any, client: Any, session: Session, login: Any, make_user: Any
) -> None:
    user = make_user("researcher")
    login(user)
    engine = app.extensions["pow_registry.engine"]
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        # The file may not grow by a single page: SQLite answers SQLITE_FULL, as on a full disk.
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    before = snapshot(session)
    form = {"surname": "Выдуманный" * 3, "given_name": "Пробный", "notes": "x" * 9000}
    for n in range(40):  # enough rows to need a new page
        response = client.post("/registry/persons/new", data={**form, "personal_number": f"ZZ-{n}"},
                               headers={"Accept-Language": "uk"})
        if response.status_code == 503:
            break
        assert response.status_code in {200, 302}
    else:
        pytest.fail("the database never filled up")
    assert "закончилось место на диске" in response.get_data(as_text=True)  # the account's language
    assert response.headers["Retry-After"] == "300"
    # The rows saved before the disk filled are intact, and pages still open.
    assert client.get("/registry/").status_code == 200
    after = snapshot(session)
    assert {k: v for k, v in after.items() if k not in {"person", "capture_report", "audit_event", "audit_head"}} == \
           {k: v for k, v in before.items() if k not in {"person", "capture_report", "audit_event", "audit_head"}}


def test_an_unexpected_error_is_a_page_in_the_users_language_with_the_id_of_its_log_line(
    make_app: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from pow_registry.services import accounts

    client = make_app(PROPAGATE_EXCEPTIONS=False).test_client()  # as in production, not re-raised to the test
    user = make_user("researcher")

    def broken(**_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(accounts, "record_sign_in", broken)
    with caplog.at_level(logging.ERROR, logger="pow_registry"):
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                               headers={"Accept-Language": "uk"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    request_id = response.headers["X-Request-ID"]
    assert "щось пішло не так" in page and request_id in page
    assert "Traceback" not in page and "RuntimeError" not in page
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and logged[0].request_id == request_id and logged[0].exc_info


def test_a_row_changed_meanwhile_is_a_conflict_page_not_a_server_error(
    app: Any, client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm.exc import StaleDataError

    from pow_registry.services import accounts

    user = make_user("researcher")

    def stale(**_kwargs: Any) -> None:
        raise StaleDataError("UPDATE statement on table 'user_account' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr(accounts, "record_sign_in", stale)
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 409
    assert "Someone else changed this record" in response.get_data(as_text=True)


def test_static_files_are_served_without_a_session_or_the_database(
    app: Any, client: Any, login: Any, make_user: Any
) -> None:
    login(make_user("researcher"))
    queries: list[str] = []
    engine = app.extensions["pow_registry.engine"]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        queries.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/static/app.css")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200 and b"--fg" in response.get_data()
    assert queries == []
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_access_log_names_no_one(app: Any, client: Any, make_user: Any, caplog: Any) -> None:
    user = make_user("researcher", email="access.log.person@example.org")
    with caplog.at_level(logging.INFO, logger="pow_registry.access"):
        client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
        client.get("/registry/?q=Выдуманный")
        client.post("/status", data={"reference": "ZZZZ-ZZZZ", "code": "SECRETCODE1234"})
    lines = [r for r in caplog.records if r.name == "pow_registry.access"]
    assert [(r.method, r.path, r.status) for r in lines][:2] == [("POST", "/login", 302), ("GET", "/registry/", 200)]
    assert lines[1].user_id == user.id and lines[0].request_id
    everything = " ".join(repr(vars(r)) for r in lines)
    for secret in ("access.log.person", TEST_PASSWORD, "Выдуманный", "SECRETCODE1234", "ZZZZ-ZZZZ"):
        assert secret not in everything


def test_a_command_that_waits_too_long_for_the_lock_says_so_without_a_traceback(
    app: Any, make_user: Any, tmp_path: Path
) -> None:
    user = make_user("researcher")
    rows = tmp_path / "captures.csv"
    rows.write_text("source_ref,surname,given_name\nbusy-1,Выдуманный,Пробный\n", encoding="utf-8")
    env = {**os.environ, "POW_REGISTRY_DATABASE_URL": app.config["DATABASE_URL"],
           "POW_REGISTRY_DATABASE_BUSY_TIMEOUT_SECONDS": "1", "POW_REGISTRY_SECRET_KEY": secrets.token_urlsafe(48),
           "POW_REGISTRY_INSTANCE_PATH": str(tmp_path / "instance"),
           "POW_REGISTRY_CONTACT_DATA_KEYS": Fernet.generate_key().decode(),
           "POW_REGISTRY_CONTACT_INDEX_KEY": secrets.token_urlsafe(32)}
    with write_lock_held(app, user.id):
        if not app.config["DATABASE_URL"].startswith("sqlite"):
            pytest.skip("an import takes no lock a PostgreSQL row lock on an account would block")
        done = subprocess.run([sys.executable, "-c", "from pow_registry.cli import main; main()",  # noqa: S603
                               "import", "captures", str(rows), "--user", user.email], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 75, done.stderr
    assert "busy" in done.stderr and "Nothing was written" in done.stderr
    assert "Traceback" not in done.stderr


def test_metrics_are_for_admins_and_a_scraper_with_the_token_and_name_no_one(
    make_app: Any, make_user: Any, make_person: Any, login: Any, caplog: Any
) -> None:
    app = make_app(METRICS_TOKEN="a-long-random-metrics-token-for-tests-only")
    with caplog.at_level(logging.INFO, logger="pow_registry.services.matching"):
        make_person(surname="Выдумкин")  # writing him builds this process's index of the database
        make_person(surname="Макетов", given_name="Пробний")
    built = [r for r in caplog.records if r.getMessage() == "match index built"]
    assert built and built[0].records >= 1 and built[0].duration_ms >= 0  # the operator sees who paid, how long
    client = app.test_client()
    assert client.get("/registry/?q=Выдуманный").status_code == 302  # not signed in: to the login page
    assert client.get("/admin/metrics").status_code == 302
    assert client.get("/admin/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 302
    login(make_user("researcher"), test_client=client)
    assert client.get("/admin/metrics").status_code == 403
    scraped = app.test_client().get("/admin/metrics",
                                    headers={"Authorization": "Bearer a-long-random-metrics-token-for-tests-only"})
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    text_format = scraped.get_data(as_text=True)
    assert 'pow_registry_http_requests_total{endpoint="registry.persons",method="GET",status="302"} 1.0' in text_format
    assert "pow_registry_http_request_duration_seconds_bucket" in text_format
    assert "pow_registry_match_index_records 2.0" in text_format  # the two men
    assert "Выдуманный" not in text_format and "?q=" not in text_format
    admin_client = app.test_client()
    login(make_user("admin"), test_client=admin_client)
    assert admin_client.get("/admin/metrics").status_code == 200


def test_the_log_is_json_lines_with_the_request_id_and_once_only(make_app: Any, make_user: Any) -> None:
    import io
    import json

    from pow_registry import observability

    stream = io.StringIO()
    observability.configure_logging("INFO", "json", stream=stream, logger="pow_registry")
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)  # as waitress.serve()'s logging.basicConfig() adds
    logging.getLogger().addHandler(root_handler)
    try:
        response = make_app().test_client().get("/healthz")
    finally:
        logging.getLogger().removeHandler(root_handler)
        logger = logging.getLogger("pow_registry")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "pow_registry.access"]
    assert access and access[0]["path"] == "/healthz" and access[0]["status"] == 200
    assert access[0]["request_id"] == response.headers["X-Request-ID"] and access[0]["level"] == "INFO"
    assert "pow_registry.access" not in root_stream.getvalue()  # not written a second time
