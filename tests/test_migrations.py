"""Migrations that match the models, go down and up again, and an `init-db` that can run twice.

Each test gets an empty database of its own (conftest's `db_url` already has the tables made
by `create_all`): a new SQLite file, or a new PostgreSQL database created and dropped here.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import pow_registry.models  # noqa: F401 - registers the tables
from pow_registry.db import make_engine
from pow_registry.migrations_runner import alembic_config, downgrade, upgrade

BACKEND = os.environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite")
PG_URL = os.environ.get("POW_REGISTRY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def empty_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all. Asks for `db_url` so it runs on both backends."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    name = f"pow_migr_{secrets.token_hex(4)}"
    admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                            dbname=url.database or "postgres", autocommit=True, connect_timeout=3)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def schema_diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def _table_named(difference: Any) -> str | None:
    """The table one entry of `schema_diff` is about: ('add_column', schema, table, column),
    ('add_index', index), ('add_table', table), or a list of ('modify_...', schema, table, ...)."""
    entry = difference[0] if isinstance(difference, list) else difference
    if len(entry) >= 3 and isinstance(entry[2], str):
        return str(entry[2])
    item = entry[1]
    name = getattr(getattr(item, "table", None), "name", None) or getattr(item, "name", None)
    return str(name) if name else None


def _diff_tables(item: Any) -> set[str]:
    """The tables one entry of an Alembic schema diff is about."""
    if isinstance(item, list):
        return set().union(*(_diff_tables(part) for part in item))
    names = set()
    for part in item[1:]:
        if isinstance(part, str):
            names.add(part)
        else:
            table = getattr(part, "table", None) if not hasattr(part, "columns") else part
            if getattr(table, "name", None):
                names.add(table.name)
    return names


def schema_diff_of(url: str, table: str) -> list[Any]:
    """The schema diff for one table alone: a migration before the head is compared with the
    models on the tables it made or changed (later migrations add other tables)."""
    return [item for item in schema_diff(url) if table in _diff_tables(item)]


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def revisions_in_order() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def test_one_head_and_a_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "several heads: merge them"
    for rev in script.walk_revisions():
        assert rev.down_revision is None or isinstance(rev.down_revision, str)
        assert rev.module.downgrade.__code__.co_code, f"{rev.revision} has no downgrade"


def test_upgrade_head_yields_the_models_schema(empty_db: str) -> None:
    assert tables(empty_db) == set()
    upgrade(empty_db)
    assert tables(empty_db) == {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version"}
    assert schema_diff(empty_db) == []
    assert current_revision(empty_db) == revisions_in_order()[-1]


def test_each_migration_goes_down_and_up_again(empty_db: str) -> None:
    revisions = revisions_in_order()
    previous = "base"
    for revision in revisions:
        upgrade(empty_db, revision)
        assert current_revision(empty_db) == revision
        downgrade(empty_db, previous)
        assert current_revision(empty_db) == (None if previous == "base" else previous)
        upgrade(empty_db, revision)
        assert current_revision(empty_db) == revision
        previous = revision
    downgrade(empty_db, "base")
    assert tables(empty_db) <= {"alembic_version"}
    upgrade(empty_db)
    assert schema_diff(empty_db) == []


def test_the_migrated_schema_holds_data(empty_db: str, tmp_path: Path) -> None:
    """The app runs on a migrated database (not only on one made by create_all)."""
    from pow_registry.app import create_app
    from pow_registry.services import accounts

    upgrade(empty_db)
    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 8 + secrets.token_hex(20), "DATABASE_URL": empty_db,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1,
                      "EVIDENCE_DIR": str(tmp_path / "evidence"), "WTF_CSRF_ENABLED": False})
    try:
        from sqlmodel import Session

        with Session(app.extensions["pow_registry.engine"]) as session:
            accounts.create_user(session=session, actor=None, audit_key=app.config["AUDIT_KEY_BYTES"],
                                 passwords=app.extensions["pow_registry.passwords"], policy=accounts.PasswordPolicy(),
                                 email="vydumkin@example.org", password="a long enough password", roles=["researcher"])
        client = app.test_client()
        response = client.post("/login", data={"email": "vydumkin@example.org", "password": "a long enough password"})
        assert response.status_code == 302
        response = client.post("/registry/persons/new", data={"surname": "Выдумкин", "report_capture_date": "2024-08"})
        assert response.status_code == 302
        assert client.get(response.headers["Location"]).status_code == 200
    finally:
        app.extensions["pow_registry.engine"].dispose()


def test_offline_sql_can_be_generated(tmp_path: Path, capsys: Any) -> None:
    """`alembic upgrade --sql` for a DBA who applies the schema by hand."""
    from alembic import command

    command.upgrade(alembic_config("postgresql+psycopg://nobody@127.0.0.1:1/none"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE person" in sql and "CREATE TABLE audit_event" in sql
    assert "alembic_version" in sql


def _cli_env(instance: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_")}
    env.update({"POW_REGISTRY_INSTANCE_PATH": str(instance), "POW_REGISTRY_DATABASE_URL": url})
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The installed `pow-registry` script (or the same entry point through this interpreter)."""
    script = Path(sys.executable).parent / "pow-registry"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from pow_registry.cli import main; main()"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True,  # noqa: S603 - fixed arguments
                          timeout=120, check=False)


def test_init_db_twice_in_a_row(empty_db: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    first = run_cli(_cli_env(instance, empty_db), "init-db")
    assert first.returncode == 0, first.stderr
    assert "SECRET_KEY" in first.stdout
    config_file = instance / "config.py"
    written = config_file.read_text(encoding="utf-8")
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    second = run_cli(_cli_env(instance, empty_db), "init-db")
    assert second.returncode == 0, second.stderr
    assert "SECRET_KEY" not in second.stdout
    assert config_file.read_text(encoding="utf-8") == written  # the key is written once
    assert current_revision(empty_db) == revisions_in_order()[-1]
    assert schema_diff(empty_db) == []


def test_init_db_with_a_weak_secret_in_the_environment_fails_clearly(empty_db: str, tmp_path: Path) -> None:
    env = _cli_env(tmp_path / "instance", empty_db)
    env["POW_REGISTRY_SECRET_KEY"] = "dev"
    result = run_cli(env, "init-db")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert tables(empty_db) == set()


def test_alembic_version_table_is_the_only_extra(empty_db: str) -> None:
    upgrade(empty_db)
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [revisions_in_order()[-1]]


# ---------------------------------------------------------------------------------------------
# 0007: families' contact data encrypted at rest


def _inquiry_row(reference: str, **fields: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    at = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    row = {"reference": reference, "access_code_digest": "0" * 64, "access_code_issued_at": at, "source_ref": None,
           "channel": "staff", "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "", "surname_key": "vidumkin",
           "given_name_key": "vitalii", "name_needs_review": False, "unit": "", "last_known_place": "", "notes": "",
           "requester_name": "Выдумкина Ольга", "requester_relationship": "мать",
           "requester_email": "vydumkina@example.org", "requester_country": "RU", "preferred_language": "ru",
           "consent_contact": True, "consent_share": False, "status": "searching", "family_message": "",
           "created_at": at, "updated_at": at, "version": 1}
    row.update(fields)
    return row


def _fill_at_0006(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for row in (_inquiry_row("INQ-AAAA-0001"),
                        _inquiry_row("INQ-AAAA-0002", requester_name="Макетова Ирина", requester_email="",
                                     status="closed", closed_reason="withdrawn")):
                columns = ", ".join(row)
                conn.execute(text(f"INSERT INTO inquiry ({columns}) VALUES ({', '.join(':' + c for c in row)})"), row)  # noqa: S608
            ids = conn.execute(text("SELECT id FROM inquiry ORDER BY id")).scalars().all()
            for position, (raw, e164) in enumerate([("8 999 000-00-01", "+79990000001"), ("+7 999 000 00 02", "+79990000002")]):
                conn.execute(text("INSERT INTO inquiry_phone (inquiry_id, position, raw, e164, region) "
                                  "VALUES (:i, :p, :raw, :e164, 'RU')"),
                             {"i": ids[0], "p": position, "raw": raw, "e164": e164})
    finally:
        engine.dispose()


def _raw_text(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = [*conn.execute(text("SELECT * FROM inquiry")).all(), *conn.execute(text("SELECT * FROM inquiry_phone")).all()]
    finally:
        engine.dispose()
    return repr(rows)


def test_0007_encrypts_existing_contact_data_and_goes_back(empty_db: str, tmp_path: Path) -> None:
    from sqlmodel import Session, select

    from pow_registry.domain.contact_crypto import (
        ContactCrypto,
        generate_data_key,
        generate_index_key,
    )
    from pow_registry.models import Inquiry, InquiryStatus
    from pow_registry.services import contact_data, inquiries

    data_key, index_key = generate_data_key(), generate_index_key()
    crypto = ContactCrypto([data_key], index_key)
    upgrade(empty_db, "0006")
    _fill_at_0006(empty_db)

    with pytest.raises(RuntimeError, match="CONTACT_DATA_KEYS"):  # data and no keys: nothing changes
        upgrade(empty_db)
    assert current_revision(empty_db) == "0006"
    assert "Выдумкина Ольга" in _raw_text(empty_db)

    upgrade(empty_db, contact_crypto=crypto)
    assert schema_diff(empty_db) == []
    stored = _raw_text(empty_db)
    for clear in ("Выдумкина", "Макетова", "vydumkina", "9990000001", "9990000002", "999 000"):
        assert clear not in stored, clear

    from pow_registry.app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 8 + secrets.token_hex(20), "DATABASE_URL": empty_db,
                      "EVIDENCE_DIR": str(tmp_path / "evidence"), "CONTACT_DATA_KEYS": [data_key],
                      "CONTACT_INDEX_KEY": index_key})
    try:
        with Session(app.extensions["pow_registry.engine"]) as session:
            first, second = session.exec(select(Inquiry).order_by(Inquiry.id)).all()
            assert (first.requester_name, first.requester_email) == ("Выдумкина Ольга", "vydumkina@example.org")
            assert [(p.raw, p.e164) for p in inquiries.phones_of(session, first.id)] == [
                ("8 999 000-00-01", "+79990000001"), ("+7 999 000 00 02", "+79990000002")]
            found, total = inquiries.search_inquiries(session, inquiries.InquiryQuery(phone="8 999 000 00 02"))
            assert [i.reference for i in found] == ["INQ-AAAA-0001"]
            # The closed one's retention period counts from its last update; the open one has none.
            assert second.status == InquiryStatus.closed and second.closed_at == second.updated_at
            assert first.closed_at is None and first.contact_erased_at is None
            assert contact_data.retention_due(session, days=1)[0].reference == "INQ-AAAA-0002"
    finally:
        app.extensions["pow_registry.engine"].dispose()

    downgrade(empty_db, "0006", contact_crypto=crypto)
    assert "Выдумкина Ольга" in _raw_text(empty_db) and "+79990000002" in _raw_text(empty_db)
    upgrade(empty_db, contact_crypto=crypto)
    assert schema_diff(empty_db) == []
    assert "Выдумкина" not in _raw_text(empty_db)


def test_init_db_on_a_populated_0006_database_encrypts_with_the_keys_it_writes(empty_db: str, tmp_path: Path) -> None:
    """The upgrade path of an instance configured by its instance/config.py: the first init-db of
    this version writes contact-data keys beside the secret and encrypts with them."""
    upgrade(empty_db, "0006")
    _fill_at_0006(empty_db)
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(f"SECRET_KEY = {secrets.token_urlsafe(48)!r}\n", encoding="utf-8")
    result = run_cli(_cli_env(instance, empty_db), "init-db")
    assert result.returncode == 0, result.stderr
    assert "CONTACT_DATA_KEYS and CONTACT_INDEX_KEY" in result.stdout and "back them up" in result.stdout
    assert current_revision(empty_db) == revisions_in_order()[-1]
    stored = _raw_text(empty_db)
    assert "Выдумкина" not in stored and "9990000001" not in stored
    search = run_cli(_cli_env(instance, empty_db), "retention", "run", "--dry-run")
    assert search.returncode == 0 and "INQ-AAAA-0002" in search.stdout  # closed, long ago, keys readable


@pytest.mark.skipif(BACKEND == "postgresql", reason="the bytes of a SQLite file")
def test_no_clear_contact_data_survives_in_the_sqlite_file(empty_db: str) -> None:
    """Dropped columns and rebuilt tables leave free pages: secure_delete overwrites them."""
    from pow_registry.domain.contact_crypto import (
        ContactCrypto,
        generate_data_key,
        generate_index_key,
    )

    upgrade(empty_db, "0006")
    _fill_at_0006(empty_db)
    upgrade(empty_db, contact_crypto=ContactCrypto([generate_data_key()], generate_index_key()))
    import sqlite3

    path = Path(empty_db.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as raw:  # outside any transaction, which a checkpoint needs
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for clear in ("Выдумкина", "vydumkina@example.org", "+79990000001", "8 999 000-00-01"):
        assert clear.encode() not in data, clear


# ---------------------------------------------------------------------------------------------
# 0010: partial identities (a call sign and an appearance; the surname may be empty)


def _person_row(**fields: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    at = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
    row = {"version": 1, "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "", "surname_key": "vidumkin",
           "given_name_key": "vitalii", "patronymic_key": "", "name_needs_review": False, "place_of_birth": "",
           "place_of_birth_key": "", "rank": "", "unit": "в/ч 12345", "unit_number": "12345", "personal_number": "",
           "father_name": "", "mother_maiden_name": "", "person_to_inform": "", "home_region": "",
           "health": "unknown", "status": "reported", "status_basis": "no_verified_evidence", "status_reason": "",
           "conflict": False, "conflict_note": "", "conflict_resolved_signature": "", "notes": "",
           "created_at": at, "updated_at": at}
    row.update(fields)
    return row


def _insert_person(url: str, row: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO person ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})"), row)  # noqa: S608
    finally:
        engine.dispose()


def _persons(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM person ORDER BY id"))]
    finally:
        engine.dispose()


def test_0010_adds_call_signs_and_appearances_and_keeps_every_person(empty_db: str, tmp_path: Path) -> None:
    upgrade(empty_db, "0009")
    _insert_person(empty_db, _person_row())
    upgrade(empty_db, "0010")
    assert [d for d in schema_diff(empty_db) if _table_named(d) == "person"] == []  # later revisions add the rest
    [before] = _persons(empty_db)
    assert (before["surname"], before["call_sign"], before["call_sign_key"], before["appearance"]) == (
        "Выдумкин", "", "", "")
    # What 0010 is for: a man recorded by his call sign and what a video shows, no surname.
    _insert_person(empty_db, _person_row(surname="", surname_key="", given_name="", given_name_key="",
                                         call_sign="Сокол", call_sign_key="sokol", appearance="Шрам над бровью"))
    engine = make_engine(empty_db)
    try:
        assert "ix_person_call_sign_key" in {i["name"] for i in inspect(engine).get_indexes("person")}
    finally:
        engine.dispose()

    from sqlmodel import Session

    from pow_registry.app import create_app
    from pow_registry.services.registry import PersonQuery, search_persons

    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 8 + secrets.token_hex(20), "DATABASE_URL": empty_db,
                      "EVIDENCE_DIR": str(tmp_path / "evidence")})
    try:
        with Session(app.extensions["pow_registry.engine"]) as session:
            found, _total = search_persons(session, PersonQuery(text="Sokol"))
            assert [(p.surname, p.call_sign) for p in found] == [("", "Сокол")]
    finally:
        app.extensions["pow_registry.engine"].dispose()

    downgrade(empty_db, "0009")  # the call sign and the appearance go; both men stay
    assert [(p["surname"], "call_sign" in p) for p in _persons(empty_db)] == [("Выдумкин", False), ("", False)]
    upgrade(empty_db)
    assert schema_diff(empty_db) == []
    assert [p["call_sign"] for p in _persons(empty_db)] == ["", ""]


# ---------------------------------------------------------------------------------------------
# 0011_audit: the audit chain's head keyed (count, MAC, where it was found changed)

LEGACY_AUDIT_KEY = b"legacy audit key of a fictitious instance, 32+ bytes"


def _legacy_log(url: str, key: bytes, count: int) -> list[Any]:
    """`count` events chained with `key` and their head, as the app before 0011 wrote them."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from pow_registry.models import AuditEvent
    from pow_registry.services.audit import _digest

    table: Any = AuditEvent.__table__  # type: ignore[attr-defined]
    engine = make_engine(url)
    prev = ""
    try:
        with engine.begin() as conn:
            for number in range(count):
                row = {"at": datetime(2025, 1, 10, 9, number, tzinfo=UTC) + timedelta(microseconds=number),
                       "actor_id": None, "actor_email": "", "action": "legacy.event", "entity_type": "test",
                       "entity_id": number, "changes": "{}"}
                digest = _digest(key, prev, SimpleNamespace(**row))
                conn.execute(table.insert().values(**row, prev_hash=prev, hash=digest))
                prev = digest
            events = conn.execute(text("SELECT id, hash FROM audit_event ORDER BY id")).all()
            conn.execute(text("INSERT INTO audit_head (id, last_event_id, last_hash) VALUES (1, :id, :h)"),
                         {"id": events[-1].id, "h": events[-1].hash})
    finally:
        engine.dispose()
    return list(events)


def _verify(url: str, key: bytes) -> Any:
    from sqlmodel import Session

    from pow_registry.services import audit

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return audit.verify_chain(session, key=key)
    finally:
        engine.dispose()


def _execute(url: str, statement: str, **params: Any) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def test_0011_seals_the_head_of_an_intact_log_and_needs_the_key_for_it(empty_db: str) -> None:
    upgrade(empty_db, "0010")
    events = _legacy_log(empty_db, LEGACY_AUDIT_KEY, 5)
    with pytest.raises(RuntimeError, match="audit key"):
        upgrade(empty_db)
    assert current_revision(empty_db) == "0010"
    upgrade(empty_db, audit_key=LEGACY_AUDIT_KEY)
    assert schema_diff(empty_db) == []
    report = _verify(empty_db, LEGACY_AUDIT_KEY)
    assert report.ok and report.events_checked == 5 and report.last_event_id == events[-1].id
    # Sealed: the attack 0011 is for (cut the tail, copy the new last hash into the head) now fails.
    _execute(empty_db, "DELETE FROM audit_event WHERE id > :id", id=events[2].id)
    _execute(empty_db, "UPDATE audit_head SET last_event_id = :id, last_hash = :h, event_count = 3",
             id=events[2].id, h=events[2].hash)
    assert not _verify(empty_db, LEGACY_AUDIT_KEY).ok
    downgrade(empty_db, "0010")
    assert current_revision(empty_db) == "0010"


def test_0011_marks_a_log_that_does_not_verify_instead_of_vouching_for_it(empty_db: str) -> None:
    upgrade(empty_db, "0010")
    events = _legacy_log(empty_db, LEGACY_AUDIT_KEY, 5)
    _execute(empty_db, "DELETE FROM audit_event WHERE id = :id", id=events[-1].id)  # the head still names it
    upgrade(empty_db, audit_key=LEGACY_AUDIT_KEY)
    report = _verify(empty_db, LEGACY_AUDIT_KEY)
    assert not report.ok and report.first_bad_event_id == events[-1].id
    assert "did not match its MAC" in report.problem


def test_0011_on_a_log_without_events_needs_no_key(empty_db: str) -> None:
    upgrade(empty_db, "0010")
    upgrade(empty_db)
    assert schema_diff(empty_db) == []
    assert _verify(empty_db, LEGACY_AUDIT_KEY).ok


# ---------------------------------------------------------------------------------------------
# init-db writes AUDIT_KEY and ACCESS_CODE_KEY down: SECRET_KEY may then rotate (issue 14)


def _instance_app(instance: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app as that instance's files configure it (test mode only for cheap hashing and no CSRF)."""
    from pow_registry.app import create_app

    monkeypatch.setenv("POW_REGISTRY_INSTANCE_PATH", str(instance))
    return create_app({"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False, "ARGON2_TIME_COST": 1,
                       "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1, "TWO_FACTOR_ROLES": [],
                       "EVIDENCE_DIR": str(instance / "evidence")})


def _config_values(instance: Path) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec((instance / "config.py").read_text(encoding="utf-8"), namespace)  # noqa: S102 - the test's own file
    return namespace


def test_init_db_on_a_new_instance_writes_random_server_keys(empty_db: str, tmp_path: Path) -> None:
    from pow_registry import config

    instance = tmp_path / "instance"
    result = run_cli(_cli_env(instance, empty_db), "init-db")
    assert result.returncode == 0, result.stderr
    assert "Wrote new random AUDIT_KEY and ACCESS_CODE_KEY" in result.stdout
    values = _config_values(instance)
    for name in ("AUDIT_KEY", "ACCESS_CODE_KEY"):
        assert isinstance(values[name], str) and not config.weak_secret(values[name])
        assert values[name].encode() != config.derived_key(values["SECRET_KEY"], name)
    assert values["AUDIT_KEY"] != values["ACCESS_CODE_KEY"]


def test_init_db_with_the_secret_key_in_the_environment_says_where_the_new_keys_are(empty_db: str,
                                                                                    tmp_path: Path) -> None:
    env = _cli_env(tmp_path / "instance", empty_db)
    env["POW_REGISTRY_SECRET_KEY"] = secrets.token_urlsafe(48)
    result = run_cli(env, "init-db")
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY comes from the environment" in result.stdout
    assert "POW_REGISTRY_AUDIT_KEY and POW_REGISTRY_ACCESS_CODE_KEY" in result.stdout


def test_init_db_writes_down_the_keys_an_instance_derived_then_secret_key_rotates(
        empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance that has run on keys derived from SECRET_KEY: init-db writes those values
    down, after which a new SECRET_KEY leaves the chain, an anchor and a family's code intact."""
    from sqlmodel import Session

    from pow_registry import config
    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key
    from pow_registry.services import accounts, inquiries

    instance = tmp_path / "instance"
    instance.mkdir()
    old_secret = secrets.token_urlsafe(48)
    (instance / "config.py").write_text(
        f"SECRET_KEY = {old_secret!r}\nCONTACT_DATA_KEYS = [{generate_data_key()!r}]\n"
        f"CONTACT_INDEX_KEY = {generate_index_key()!r}\n", encoding="utf-8")
    upgrade(empty_db)
    app = _instance_app(instance, empty_db, monkeypatch)
    try:
        assert app.config["AUDIT_KEY_BYTES"] == config.derived_key(old_secret, "AUDIT_KEY")
        with Session(app.extensions["pow_registry.engine"], expire_on_commit=False) as session:
            staff = accounts.create_user(session=session, actor=None, audit_key=app.config["AUDIT_KEY_BYTES"],
                                         passwords=app.extensions["pow_registry.passwords"],
                                         policy=accounts.PasswordPolicy(), email="staff@example.org",
                                         password="a long enough password", roles=["staff"])
            issued = inquiries.create_inquiry(
                session=session, actor=staff, audit_key=app.config["AUDIT_KEY_BYTES"],
                access_key=app.config["ACCESS_CODE_KEY_BYTES"],
                data={"surname": "Выдумкин", "given_name": "Виталий", "requester_name": "Выдумкина Ольга",
                      "phones": "8 999 000-00-01", "preferred_language": "ru", "consent_contact": "y"})
    finally:
        app.extensions["pow_registry.engine"].dispose()

    env = _cli_env(instance, empty_db)
    result = run_cli(env, "init-db")
    assert result.returncode == 0, result.stderr
    assert "Wrote AUDIT_KEY and ACCESS_CODE_KEY" in result.stdout and "derived from" in result.stdout
    assert "Audit chain intact" in result.stdout
    values = _config_values(instance)
    for name in ("AUDIT_KEY", "ACCESS_CODE_KEY"):
        assert values[name] == config.derived_key(old_secret, name)
    anchor = run_cli(env, "audit", "anchor")
    assert anchor.returncode == 0, anchor.stderr
    (tmp_path / "anchor.json").write_text(anchor.stdout, encoding="utf-8")

    text_before = (instance / "config.py").read_text(encoding="utf-8")
    (instance / "config.py").write_text(
        text_before.replace(f"SECRET_KEY = {old_secret!r}", f"SECRET_KEY = {secrets.token_urlsafe(48)!r}"),
        encoding="utf-8")
    verified = run_cli(env, "audit", "verify", "--anchor", str(tmp_path / "anchor.json"))
    assert verified.returncode == 0, verified.stderr
    rotated = _instance_app(instance, empty_db, monkeypatch)
    try:
        assert rotated.config["SECRET_KEY"] != old_secret
        reference = issued.inquiry.reference
        page = rotated.test_client().post("/status", data={"reference": reference,
                                                           "access_code": issued.access_code})
        assert reference in page.get_data(as_text=True)
    finally:
        rotated.extensions["pow_registry.engine"].dispose()
    again = run_cli(env, "init-db")
    assert again.returncode == 0 and "Wrote" not in again.stdout


# 0011_jobs: jobs (long work off the request path)


def test_0011_adds_the_job_table_and_keeps_everything_else(empty_db: str) -> None:
    upgrade(empty_db, "0010")
    _insert_person(empty_db, _person_row())
    assert "job" not in tables(empty_db)
    upgrade(empty_db, "0011_jobs")
    assert "job" in tables(empty_db)
    assert [d[0] for d in schema_diff_of(empty_db, "job")] == ["add_column"]  # `params` comes with 0012
    # One form send, one job: the submission digest is unique (a reload finds the job it made).
    engine = make_engine(empty_db)
    try:
        unique = inspect(engine).get_unique_constraints("job")
        assert [c["column_names"] for c in unique] == [["submission_digest"]]
    finally:
        engine.dispose()
    downgrade(empty_db, "0010")
    assert "job" not in tables(empty_db) and len(_persons(empty_db)) == 1
    upgrade(empty_db)
    assert schema_diff(empty_db) == []


# 0012_job_params: what a job works on besides a file


def test_0012_adds_the_jobs_params_and_keeps_the_jobs(empty_db: str) -> None:
    upgrade(empty_db, "0011_jobs")
    engine = make_engine(empty_db)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO user_account (id, version, email, display_name, password_hash, roles, is_active,"
                " session_token, preferred_language, created_at, must_change_password, totp_secret_enc,"
                " totp_last_step, recovery_codes) VALUES (1, 1, 'a@example.org', '', 'x', 'staff', true, 's', 'ru',"
                " '2026-01-01', false, '', 0, '')"))
            conn.execute(text(
                "INSERT INTO job (kind, owner_id, status, dry_run, filename, file_bytes, file_sha256, submission_digest,"
                " phase, rows_done, rows_total, failure, codes_count, attempts, worker, created_at) VALUES"
                " ('import_captures', 1, 'done', false, 'c.csv', 1, '', 'd', '', 1, 1, '', 0, 1, '', '2026-01-01')"))
    finally:
        engine.dispose()
    upgrade(empty_db, "0012_job_params")
    assert schema_diff_of(empty_db, "job") == []
    engine = make_engine(empty_db)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT kind, params FROM job")).all() == [("import_captures", None)]
    finally:
        engine.dispose()
    downgrade(empty_db, "0011_jobs")
    assert [d[0] for d in schema_diff_of(empty_db, "job")] == ["add_column"]
    upgrade(empty_db)
    assert schema_diff(empty_db) == []
