"""Fixtures: a fresh database per test, on SQLite by default or PostgreSQL when asked.

`POW_REGISTRY_TEST_DATABASE=postgresql` runs the database tests against the server named by
`POW_REGISTRY_TEST_PG_URL` (default: postgres@127.0.0.1:5432): a new database is created for the
run and every table emptied between tests. Without a reachable server those tests are skipped
with the reason, except in CI (`CI=true`), where that is a failure.
"""

from __future__ import annotations

import os

# openpyxl reads and writes with lxml whenever it can import it, and the dev extra installs lxml
# (for tests/test_domain_exchange_xlsx.py, which writes the export both ways in child processes).
# Production does not install it: the rest of the suite runs openpyxl the way production does.
os.environ.setdefault("OPENPYXL_LXML", "False")

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import text
from sqlmodel import Session, SQLModel
from support import TEST_PASSWORD, fast_app_config

import pow_registry.models  # noqa: F401 - registers the tables
from pow_registry.db import make_engine
from pow_registry.models import User

BACKEND = os.environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite")
PG_URL = os.environ.get("POW_REGISTRY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-" + "x" * 40
_CLOCK = pytest.StashKey["time_machine.travel"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pow_registry", "the clock the whole run sees")
    group.addoption("--clock-shift-days", type=int, default=0, metavar="DAYS",
                    help="run every test with the clock moved this many days from now (negative: back)")
    group.addoption("--clock-at", default=None, metavar="WHEN",
                    help="run every test with the clock starting at this UTC moment (2028-02-29 or "
                         "2027-12-31T23:00); DAYS from --clock-shift-days are added to it")


def _clock_target(config: pytest.Config) -> datetime | None:
    """Where --clock-at and --clock-shift-days put the clock, or None for the real one."""
    at, days = config.getoption("clock_at"), config.getoption("clock_shift_days")
    if at is None and not days:
        return None
    start = datetime.now(UTC)
    if at:
        start = datetime.fromisoformat(at)
        if len(at) == 10:  # a day alone: its noon, far from either midnight
            start = start.replace(hour=12)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    return start + timedelta(days=days)


def pytest_configure(config: pytest.Config) -> None:
    """Move the one clock for the whole run (time-machine patches datetime.now, date.today and
    time.time, and keeps ticking from there; monotonic time, and so sleeps and timeouts, are
    untouched). Tests that pin the clock themselves still do, on top of this."""
    target = _clock_target(config)
    if target is not None:
        traveller = time_machine.travel(target, tick=True)
        traveller.start()
        config.stash[_CLOCK] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_CLOCK, None)
    if traveller is not None:
        traveller.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "db_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def pytest_report_header(config: pytest.Config) -> list[str]:
    target = _clock_target(config)
    clock = f"moved to {target.isoformat()} and ticking" if target else "the real one"
    return [f"pow_registry test database: {BACKEND}", f"pow_registry clock: {clock}"]


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    """A brand-new PostgreSQL database for this run, dropped at the end."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    name = f"pow_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                password=url.password, dbname=url.database or "postgres", autocommit=True,
                                connect_timeout=3)
    except psycopg.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    test_url = url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(test_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    yield test_url
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if BACKEND == "postgresql":
        url: str = request.getfixturevalue("_pg_database")
        yield url
        engine = make_engine(url)
        with engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'test.sqlite3'}"
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        yield url


def _test_config(db_url: str, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config = {"TESTING": True, "SECRET_KEY": TEST_SECRET, "WTF_CSRF_ENABLED": False,
              **fast_app_config(db_url, tmp_path)}
    config.update(overrides)
    return config


@pytest.fixture
def make_app(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Build an app on this test's database; keyword arguments override the test config."""
    from pow_registry.app import create_app

    monkeypatch.setenv("POW_REGISTRY_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in list(os.environ):
        if name.startswith("POW_REGISTRY_") and name not in {"POW_REGISTRY_INSTANCE_PATH", "POW_REGISTRY_TEST_DATABASE", "POW_REGISTRY_TEST_PG_URL"}:
            monkeypatch.delenv(name)
    created = []

    def factory(**overrides: Any) -> Any:
        app = create_app(_test_config(db_url, tmp_path, **overrides))
        created.append(app)
        return app

    yield factory
    for app in created:
        app.extensions["pow_registry.engine"].dispose()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def session(app: Any) -> Iterator[Session]:
    with Session(app.extensions["pow_registry.engine"], expire_on_commit=False) as s:
        yield s


@pytest.fixture
def audit_key(app: Any) -> bytes:
    return app.config["AUDIT_KEY_BYTES"]


@pytest.fixture
def make_user(app: Any, session: Session, audit_key: bytes) -> Callable[..., User]:
    from pow_registry.services import accounts

    counter = iter(range(1, 10_000))

    def factory(*roles: str, email: str | None = None, password: str = TEST_PASSWORD) -> User:
        return accounts.create_user(
            session=session, actor=None, audit_key=audit_key, passwords=app.extensions["pow_registry.passwords"],
            policy=accounts.PasswordPolicy(), email=email or f"user{next(counter)}@example.org",
            password=password, roles=list(roles or ("researcher",)),
        )

    return factory


@pytest.fixture
def login(client: Any) -> Callable[..., Any]:
    def do_login(user: User, password: str = TEST_PASSWORD, test_client: Any = None) -> Any:
        response = (test_client or client).post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, "login failed"
        return response

    return do_login


@pytest.fixture
def make_person(session: Session, audit_key: bytes, make_user: Callable[..., User]) -> Callable[..., Any]:
    """A person with one capture report; fields override the fictitious defaults."""
    from pow_registry.services import registry

    default_actor: list[User] = []

    def factory(actor: User | None = None, report: dict[str, str] | None = None, **fields: str) -> Any:
        if actor is None:
            if not default_actor:
                default_actor.append(make_user("researcher"))
            actor = default_actor[0]
        person = {"surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич",
                  "date_of_birth": "2005-03-12", **fields}
        return registry.create_person(session=session, actor=actor, audit_key=audit_key, person=person,
                                      report=report if report is not None else {"capture_date": "2024-08-10", "capture_place": "Суджа"})

    return factory
