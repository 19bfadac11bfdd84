"""`pow-registry audit anchor` and `pow-registry audit verify --anchor FILE` (issue 14): an
anchor kept outside the database catches a log cut short, rewritten or wiped since, whatever
was done to the head; the exit status says so (0 intact, 2 broken, 1 not an anchor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from pow_registry.services import audit


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]


def append(engine: Any, audit_key: bytes, n: int) -> None:
    with Session(engine) as session:
        for i in range(n):
            audit.record(session, key=audit_key, actor=None, action="test.cli", entity_type="test", entity_id=i)
            session.commit()


def sql(engine: Any, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def anchor_file(runner: Any, tmp_path: Path, name: str = "anchor.json") -> Path:
    result = runner.invoke(args=["audit", "anchor"])
    assert result.exit_code == 0, result.output
    path = tmp_path / name
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_an_anchor_is_printed_and_the_log_verifies_against_it(runner, engine, audit_key, tmp_path):
    append(engine, audit_key, 4)
    path = anchor_file(runner, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert (document["type"], document["event_count"]) == ("pow-registry audit anchor", 4)
    assert {"event_id", "event_hash", "at", "mac"} <= set(document)
    append(engine, audit_key, 2)
    result = runner.invoke(args=["audit", "verify", "--anchor", str(path)])
    assert result.exit_code == 0, result.output
    assert "intact: 6 events" in result.stdout and "goes on from it" in result.stdout


def test_a_cut_to_before_the_anchor_with_the_head_repointed_fails(runner, engine, audit_key, tmp_path):
    append(engine, audit_key, 5)
    path = anchor_file(runner, tmp_path)
    append(engine, audit_key, 3)
    with engine.connect() as conn:
        second = conn.execute(text("SELECT id, hash FROM audit_event ORDER BY id LIMIT 1 OFFSET 1")).one()
    sql(engine, "DELETE FROM audit_event WHERE id > :id", id=second.id)
    sql(engine, "UPDATE audit_head SET last_event_id = :id, last_hash = :h, event_count = 2", id=second.id, h=second.hash)
    result = runner.invoke(args=["audit", "verify", "--anchor", str(path)])
    assert result.exit_code == 2
    assert "BROKEN" in result.stderr and "proves 5 events" in result.stderr and "deleted since" in result.stderr
    plain = runner.invoke(args=["audit", "verify"])
    assert plain.exit_code == 2 and "head does not match its MAC" in plain.stderr


def test_a_wiped_log_fails_against_its_anchor(runner, engine, audit_key, tmp_path):
    append(engine, audit_key, 3)
    path = anchor_file(runner, tmp_path)
    sql(engine, "DELETE FROM audit_event")
    sql(engine, "DELETE FROM audit_head")
    result = runner.invoke(args=["audit", "verify", "--anchor", str(path)])
    assert result.exit_code == 2 and "the log is empty" in result.stderr


def test_a_tampered_anchor_fails(runner, engine, audit_key, tmp_path):
    append(engine, audit_key, 3)
    path = anchor_file(runner, tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["event_count"] = 2
    path.write_text(json.dumps(document), encoding="utf-8")
    result = runner.invoke(args=["audit", "verify", "--anchor", str(path)])
    assert result.exit_code == 2 and "does not match its MAC" in result.stderr


def test_a_file_that_is_no_anchor_is_a_clear_error(runner, engine, audit_key, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Выдумкин, 3 events\n", encoding="utf-8")
    result = runner.invoke(args=["audit", "verify", "--anchor", str(path)])
    assert result.exit_code == 1
    assert "is not an audit anchor" in result.stderr and "Traceback" not in result.output


def test_nothing_to_anchor_and_a_broken_log_are_refused(runner, engine, audit_key):
    empty = runner.invoke(args=["audit", "anchor"])
    assert empty.exit_code == 1 and "no event yet" in empty.stderr and empty.stdout == ""
    append(engine, audit_key, 3)
    sql(engine, "UPDATE audit_event SET entity_id = 99 WHERE id = (SELECT min(id) FROM audit_event)")
    broken = runner.invoke(args=["audit", "anchor"])
    assert broken.exit_code == 2 and "does not verify" in broken.stderr and broken.stdout == ""
