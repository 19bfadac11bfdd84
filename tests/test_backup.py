"""`pow-registry backup` / `restore` (issue 14): a backup holds the whole database and a manifest,
restores all or nothing into an empty database, refuses what it must, and the app runs on the copy.

Every test here runs on SQLite and again on PostgreSQL (they ask for `db_url`). The slow ones
(writers during the backup, a backup killed half-way) are in test_backup_faults.py.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backup_support import empty_databases, require_pg_tools, rewrite_backup
from sqlmodel import Session
from support import TEST_PASSWORD, registry_rows, snapshot

from pow_registry.db import make_engine
from pow_registry.migrations_runner import upgrade
from pow_registry.services import audit
from pow_registry.services.backup import (
    BackupError,
    create_backup,
    database_state,
    read_manifest,
    restore_backup,
    verify_backup,
)

BACKEND = os.environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite")
OTHER_KIND = {"sqlite": ("postgresql", "database.pgdump"), "postgresql": ("sqlite", "database.sqlite3")}


@pytest.fixture(autouse=True)
def _pg_tools() -> None:
    require_pg_tools(BACKEND)


@pytest.fixture
def new_database(db_url: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """New, empty databases of the backend under test, to restore into."""
    with empty_databases(BACKEND, tmp_path) as factory:
        yield factory


@pytest.fixture
def world(app: Any, session: Session, audit_key: bytes, make_user: Callable[..., Any],
          make_person: Callable[..., Any]) -> dict[str, Any]:
    """Rows in every kind of table (persons, reports, evidence, a merge, an inquiry and its match,
    exchange lists, accounts, the audit chain), and the researcher who wrote them."""
    author = make_user("researcher", email="backup-author@example.org")
    ids = registry_rows(app=app, session=session, audit_key=audit_key, author=author, make_person=make_person)
    return {"author": author, **ids}


@pytest.fixture
def some_rows(make_person: Callable[..., Any]) -> Any:
    """A person with a report, the researcher who entered him and their audit events: enough for
    the refusals, which never get as far as the rows."""
    return make_person()


def rows_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the database at `url`."""
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return snapshot(s)
    finally:
        engine.dispose()


def chain_of(url: str, key: bytes) -> Any:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return audit.verify_chain(s, key=key)
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# The round trip


def test_a_backup_restores_every_row_and_the_app_runs_on_the_copy(db_url, world, tmp_path, new_database, make_app,
                                                                   audit_key, session):
    session.close()
    backup_file = tmp_path / "registry.backup"
    report = create_backup(db_url, backup_file)

    manifest = report.manifest
    live = database_state(db_url)
    assert manifest.state.tables == live.tables and manifest.state.audit_head == live.audit_head
    assert manifest.state.tables["person"] >= 3 and manifest.state.tables["audit_event"] > 10
    assert manifest.state.audit_head.event_id == manifest.state.tables["audit_event"]
    assert read_manifest(backup_file) == manifest

    target = new_database()
    restored = restore_backup(target, backup_file)
    assert restored.rows_replaced == 0 and not restored.needs_migration
    assert rows_of(target) == rows_of(db_url)
    assert database_state(target).audit_head == manifest.state.audit_head
    assert chain_of(target, audit_key).ok

    # The app on the restored database: the researcher signs in and reads the register.
    restored_app = make_app(DATABASE_URL=target)
    client = restored_app.test_client()
    login = client.post("/login", data={"email": "backup-author@example.org", "password": TEST_PASSWORD})
    assert login.status_code == 302
    page = client.get(f"/registry/persons/{world['person_id']}")
    assert page.status_code == 200 and "Выдумкин" in page.get_data(as_text=True)


def test_the_backup_file_is_readable_by_its_owner_only(db_url, some_rows, tmp_path):
    old = os.umask(0)
    try:
        create_backup(db_url, tmp_path / "private.backup")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private.backup").stat().st_mode) == 0o600
    # and nothing else is left in the folder: no working copy, no dump
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == ["private.backup"]


def test_the_manifest_is_readable_with_tar_alone(db_url, world, tmp_path):
    """An operator can see what a backup holds without the app (tar xOf FILE manifest.json)."""
    create_backup(db_url, tmp_path / "registry.backup")
    with tarfile.open(tmp_path / "registry.backup") as archive:
        assert archive.getnames()[0] == "manifest.json"
        document = json.loads(archive.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert document["database"] == BACKEND
    assert document["tables"]["audit_event"] == document["audit_head"]["event_id"]
    assert len(document["audit_head"]["hash"]) == 64 and len(document["payload"]["sha256"]) == 64


def test_verify_checks_a_backup_without_the_database(db_url, world, tmp_path, audit_key):
    backup_file = tmp_path / "registry.backup"
    create_backup(db_url, backup_file)
    before = rows_of(db_url)
    report = verify_backup(backup_file, audit_key=audit_key)
    assert any("rows per table" in step for step in report.checked)
    if BACKEND == "sqlite":
        assert report.chain is not None and report.chain.ok
        assert report.chain.events_checked == report.manifest.state.audit_head.event_id
        # Another instance's key: the chain does not verify.
        assert not verify_backup(backup_file, audit_key=b"another instance's key").chain.ok
    assert rows_of(db_url) == before


# ---------------------------------------------------------------------------------------------
# Refusals


def test_a_backup_never_overwrites_a_file_or_follows_a_symlink(db_url, some_rows, tmp_path):
    existing = tmp_path / "existing.backup"
    existing.write_bytes(b"an earlier backup")
    with pytest.raises(BackupError, match="already exists"):
        create_backup(db_url, existing)
    assert existing.read_bytes() == b"an earlier backup"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dangling = tmp_path / "dangling.backup"
    dangling.symlink_to(elsewhere / "not-yet.backup")
    with pytest.raises(BackupError, match="already exists"):
        create_backup(db_url, dangling)
    assert not (elsewhere / "not-yet.backup").exists()

    pointing = tmp_path / "pointing.backup"
    pointing.symlink_to(existing)
    with pytest.raises(BackupError, match="already exists"):
        create_backup(db_url, pointing)
    assert existing.read_bytes() == b"an earlier backup"
    assert sorted(p.name for p in tmp_path.iterdir() if ".incomplete-" in p.name) == []


def test_restore_refuses_a_database_that_holds_data_unless_forced(db_url, world, tmp_path, new_database, session,
                                                                  make_app, audit_key):
    session.close()
    backup_file = tmp_path / "registry.backup"
    create_backup(db_url, backup_file)
    target = new_database()
    restore_backup(target, backup_file)
    expected = rows_of(target)

    # Someone adds a person to the restored database, then the backup is restored over it again.
    target_app = make_app(DATABASE_URL=target)
    from pow_registry.services import accounts, registry

    with Session(target_app.extensions["pow_registry.engine"]) as s:
        author = accounts.get_by_email(s, "backup-author@example.org")
        registry.create_person(session=s, actor=author, audit_key=audit_key,
                               person={"surname": "Позднов", "given_name": "Пётр"}, report={"capture_date": "2024-09-01"})
    target_app.extensions["pow_registry.engine"].dispose()
    changed = rows_of(target)
    assert changed != expected

    with pytest.raises(BackupError, match="already holds .* rows: nothing was restored"):
        restore_backup(target, backup_file)
    assert rows_of(target) == changed

    forced = restore_backup(target, backup_file, force=True)
    assert forced.rows_replaced == sum(len(rows) for name, rows in changed.items() if name != "alembic_version")
    assert rows_of(target) == expected
    assert chain_of(target, audit_key).ok


def test_restore_refuses_a_backup_of_the_other_kind_of_database(db_url, some_rows, tmp_path, new_database):
    backup_file = tmp_path / "registry.backup"
    create_backup(db_url, backup_file)
    other, payload_name = OTHER_KIND[BACKEND]

    def other_kind(document: dict[str, Any]) -> None:
        document["database"] = other
        document["payload"]["name"] = payload_name

    foreign = rewrite_backup(backup_file, tmp_path / "foreign.backup", manifest=other_kind)
    target = new_database()
    with pytest.raises(BackupError, match="backup of a .* database, and the configured database is"):
        restore_backup(target, foreign)
    assert database_state(target).tables == {}


def test_restore_refuses_a_backup_from_a_newer_schema(db_url, some_rows, tmp_path, new_database):
    backup_file = tmp_path / "registry.backup"
    create_backup(db_url, backup_file)

    def newer(document: dict[str, Any]) -> None:
        document["schema_revision"] = "9999"

    from_the_future = rewrite_backup(backup_file, tmp_path / "newer.backup", manifest=newer)
    target = new_database()
    with pytest.raises(BackupError, match="schema revision 9999, which this version of pow_registry does not know"):
        restore_backup(target, from_the_future)
    assert database_state(target).tables == {}


def test_a_backup_from_an_older_schema_restores_and_then_migrates(db_url, tmp_path, new_database):
    old = new_database()
    upgrade(old, "0009")
    backup_file = tmp_path / "old.backup"
    assert create_backup(old, backup_file).manifest.state.schema_revision == "0009"
    target = new_database()
    assert restore_backup(target, backup_file).needs_migration
    assert database_state(target).schema_revision == "0009"
    upgrade(target)
    assert database_state(target).schema_revision == _newest_revision()


def _newest_revision() -> str:
    """The schema revision this version migrates to (whichever migration is the newest)."""
    from alembic.script import ScriptDirectory

    from pow_registry.migrations_runner import alembic_config

    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())


@pytest.mark.parametrize("damage", ["a flipped byte", "cut short", "cut inside the manifest", "cut before the payload's last byte",
                                    "not a backup"])
def test_a_damaged_backup_is_refused_and_restores_nothing(db_url, some_rows, tmp_path, new_database, damage):
    backup_file = tmp_path / "registry.backup"
    create_backup(db_url, backup_file)
    damaged = tmp_path / "damaged.backup"
    if damage == "a flipped byte":
        rewrite_backup(backup_file, damaged, payload=lambda data: data[:5000] + bytes([data[5000] ^ 1]) + data[5001:])
    elif damage.startswith("cut"):
        data = backup_file.read_bytes()
        # tar pads the payload with zero bytes: its last non-zero byte is at most its last byte.
        cut = {"cut short": len(data) * 2 // 3, "cut inside the manifest": 1500,
               "cut before the payload's last byte": len(data.rstrip(b"\0")) - 1}[damage]
        damaged.write_bytes(data[:cut])
    else:
        damaged.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000)
    with pytest.raises(BackupError, match="incomplete|damaged|not a pow_registry backup"):
        verify_backup(damaged)
    target = new_database()
    with pytest.raises(BackupError, match="incomplete|damaged|not a pow_registry backup"):
        restore_backup(target, damaged)
    assert database_state(target).tables == {}


# ---------------------------------------------------------------------------------------------
# The command line


def test_the_commands_back_up_verify_and_restore(app, world, tmp_path, new_database, make_app, session):
    session.close()
    backup_file = tmp_path / "cli.backup"
    runner = app.test_cli_runner()
    made = runner.invoke(args=["backup", str(backup_file)])
    assert made.exit_code == 0, made.output
    assert "rows in" in made.stdout and "audit head event" in made.stdout

    again = runner.invoke(args=["backup", str(backup_file)])
    assert again.exit_code != 0 and "already exists" in again.stderr

    checked = runner.invoke(args=["backup", "--verify", str(backup_file)])
    assert checked.exit_code == 0, checked.output
    assert "a complete backup" in checked.stdout

    target_app = make_app(DATABASE_URL=new_database())
    target_runner = target_app.test_cli_runner()
    restored = target_runner.invoke(args=["restore", str(backup_file)])
    assert restored.exit_code == 0, restored.output
    assert "Restored the backup" in restored.stdout and "Audit chain intact" in restored.stdout

    refused = target_runner.invoke(args=["restore", str(backup_file)])
    assert refused.exit_code != 0 and "--force" in refused.stderr
    forced = target_runner.invoke(args=["restore", "--force", str(backup_file)])
    assert forced.exit_code == 0, forced.output


def test_the_commands_say_why_they_refuse(app, some_rows, tmp_path):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["backup", "--verify", str(tmp_path / "nowhere.backup")])
    assert missing.exit_code != 0 and "does not exist" in missing.stderr
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    refused = runner.invoke(args=["restore", "--force", str(junk)])
    assert refused.exit_code != 0 and "not a pow_registry backup" in refused.stderr
    assert "Traceback" not in refused.output


@pytest.mark.skipif(BACKEND != "postgresql", reason="pg_dump and pg_restore are PostgreSQL's tools")
def test_the_password_never_reaches_a_command_line(db_url, some_rows, tmp_path, monkeypatch):
    """pg_dump gets the password through a passfile of mode 0600, not its arguments (which `ps`
    shows every user) nor PGPASSWORD. (The test server trusts local connections, so a wrapper
    around the real pg_dump looks at what it was given.)"""
    import shutil

    from sqlalchemy.engine import make_url

    real = shutil.which("pg_dump")
    assert real
    seen = tmp_path / "seen.json"
    wrapper = tmp_path / "bin" / "pg_dump"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, stat, sys\n"
        "passfile = os.environ.get('PGPASSFILE', '')\n"
        "mode = stat.S_IMODE(os.stat(passfile).st_mode) if passfile else None\n"
        "text = open(passfile).read() if passfile else ''\n"
        f"print(json.dumps({{'argv': sys.argv, 'pgpassword': os.environ.get('PGPASSWORD'), 'mode': mode, "
        f"'passfile': text}}), file=open({str(seen)!r}, 'a'))\n"
        f"os.execv({real!r}, [{real!r}] + sys.argv[1:])\n", encoding="utf-8")
    wrapper.chmod(0o700)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PGPASSWORD", "an inherited password")
    password = "s3cret:with\\colon"
    url = make_url(db_url).set(password=password).render_as_string(hide_password=False)
    create_backup(url, tmp_path / "with-password.backup")
    calls = [json.loads(line) for line in seen.read_text(encoding="utf-8").splitlines()]
    assert not any("s3cret" in argument for call in calls for argument in call["argv"])
    [given] = [call for call in calls if any(a.startswith("--snapshot=") for a in call["argv"])]
    assert given["pgpassword"] is None
    assert given["mode"] == 0o600 and given["passfile"] == "*:*:*:*:s3cret\\:with\\\\colon\n"
