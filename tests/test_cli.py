"""The `pow-registry` command line, through Flask's CLI runner on the test app and database."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from pow_registry.models import AuditEvent, CaptureReport, Evidence, Person, User
from pow_registry.services import accounts, audit

PASSWORD = "a fictitious long password"
HEADERS = ["source_ref", "surname", "given_name", "date_of_birth", "capture_date", "capture_place", "evidence_url"]
ROWS = [
    ["CLI-001", "Выдумкин", "Виталий", "2005-03-12", "2024-08-10", "Суджа", "https://example.org/cli/1"],
    ["CLI-002", "Макетов", "Алексей", "2004", "2024-08-11", "Коренево", ""],
    ["CLI-003", "Шаблонов", "Николай", "2003-05", "2024-08", "Sudzha", "https://example.org/cli/3"],
]


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]


def count(engine: Any, model: Any, *where: Any) -> int:
    """Counted on a fresh session, so nothing this test holds open can hide or block a row."""
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# users create


def test_users_create_reads_the_password_from_stdin(app, runner, engine):
    result = runner.invoke(args=["users", "create", "Vydumkin.Admin@Example.org", "--role", "admin",
                                 "--role", "researcher", "--password-stdin", "--name", "Выдумкин (admin)"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "vydumkin.admin@example.org" in result.stdout
    with Session(engine) as s:
        user = accounts.get_by_email(s, "vydumkin.admin@example.org")
        assert user is not None
        assert user.roles == "admin,researcher" and user.display_name == "Выдумкин (admin)"
        assert app.extensions["pow_registry.passwords"].verify(user.password_hash, PASSWORD)
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "user.create")).one()
        assert event.entity_id == user.id
    assert PASSWORD not in result.output


def test_users_create_refuses_a_duplicate_email(runner, engine):
    args = ["users", "create", "makteov@example.org", "--role", "staff", "--password-stdin"]
    assert runner.invoke(args=args, input=PASSWORD + "\n").exit_code == 0
    result = runner.invoke(args=["users", "create", "MAKTEOV@example.org", "--role", "admin", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code != 0
    assert "already exists" in result.stderr
    assert count(engine, User) == 1


@pytest.mark.parametrize(("args", "stdin", "reason"), [
    (["not-an-email", "--role", "staff", "--password-stdin"], PASSWORD + "\n", "email"),
    (["shablonov@example.org", "--role", "staff", "--password-stdin"], "short\n", "password"),
    (["shablonov@example.org", "--role", "staff", "--password-stdin"], "password1234\n", "too common"),
    (["shablonov@example.org", "--role", "staff", "--password-stdin"], "Shablonov-1917-x\n", "email"),
    (["shablonov@example.org", "--role", "staff", "--password-stdin"], " " * 12 + "\n", "only spaces"),
    (["shablonov@example.org", "--role", "staff"], PASSWORD + "\n", "--password-stdin"),
    (["shablonov@example.org", "--role", "janitor", "--password-stdin"], PASSWORD + "\n", "janitor"),
])
def test_users_create_refuses_bad_input_with_the_reason(runner, engine, args, stdin, reason):
    result = runner.invoke(args=["users", "create", *args], input=stdin)
    assert result.exit_code != 0
    assert reason in result.stderr
    assert count(engine, User) == 0


# ---------------------------------------------------------------------------------------------
# import captures


def test_import_dry_run_reports_counts_and_writes_nothing(runner, engine, tmp_path):
    path = write_csv(tmp_path / "captures.csv", [HEADERS, *ROWS])
    result = runner.invoke(args=["import", "captures", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "3 row(s) would be imported (3 persons, 2 evidence items)" in result.stdout
    for model in (Person, CaptureReport, Evidence, User, AuditEvent):
        assert count(engine, model) == 0, model


def test_import_writes_and_is_attributed(runner, engine, tmp_path, audit_key):
    path = write_csv(tmp_path / "captures.csv", [HEADERS, *ROWS])
    result = runner.invoke(args=["import", "captures", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 row(s) imported" in result.stdout
    assert count(engine, Person) == 3 and count(engine, Evidence) == 2
    with Session(engine) as s:
        system = s.exec(select(User).where(User.email == "system@pow-registry.invalid")).one()
        assert not system.is_active
        assert {p.created_by_id for p in s.exec(select(Person)).all()} == {system.id}
    again = runner.invoke(args=["import", "captures", str(path)])
    assert again.exit_code == 0
    assert "0 row(s) imported" in again.stdout and "3 already imported" in again.stdout
    assert count(engine, Person) == 3
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_rows_without_a_surname_are_imported_from_the_command_line(runner, engine, tmp_path):
    """Issue 13: a man known by a given name and a unit, or by a call sign, comes in like anyone."""
    path = write_csv(tmp_path / "partial.csv", [[*HEADERS, "позывной", "в/ч"],
                                                ["CLI-P01", "", "Виктор", "", "2024-08-10", "Суджа", "", "", "12345"],
                                                ["CLI-P02", "", "", "", "2024-08-11", "", "", "«Сокол»", ""]])
    result = runner.invoke(args=["import", "captures", str(path)])
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        stored = {(p.surname, p.given_name, p.call_sign, p.unit_number) for p in s.exec(select(Person))}
    assert stored == {("", "Виктор", "", "12345"), ("", "", "Сокол", None)}


def test_import_attributed_to_a_named_researcher(runner, engine, tmp_path, make_user):
    researcher = make_user("researcher", email="uslovnov@example.org")
    path = write_csv(tmp_path / "captures.csv", [HEADERS, ROWS[0]])
    result = runner.invoke(args=["import", "captures", str(path), "--user", "USLOVNOV@example.org"])
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        assert s.exec(select(Person)).one().created_by_id == researcher.id


@pytest.mark.parametrize(("user", "reason"), [("nobody@example.org", "No active account"), ("staff", "researchers")])
def test_import_refuses_an_unknown_or_unqualified_user(runner, engine, tmp_path, make_user, user, reason):
    if user == "staff":
        user = make_user("staff").email
    path = write_csv(tmp_path / "captures.csv", [HEADERS, *ROWS])
    result = runner.invoke(args=["import", "captures", str(path), "--user", user])
    assert result.exit_code != 0
    assert reason in result.stderr
    assert count(engine, Person) == 0


def test_a_bad_file_exits_non_zero_listing_every_problem(runner, engine, tmp_path):
    rows = [HEADERS, *ROWS,
            ["CLI-004", "Образчиков", "Юрий", "2005-02-30", "2024-08-10", "", ""],
            ["CLI-005", "", "", "", "2024-08-10", "", "ftp://example.org/x"]]  # nothing identifies him
    path = write_csv(tmp_path / "bad.csv", rows)
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(args=["import", "captures", str(path), *extra])
        assert result.exit_code == 1
        assert "row 5, column date_of_birth" in result.stderr
        assert "row 6, column surname" in result.stderr
        assert "row 6, column evidence_url" in result.stderr
        assert "Nothing was imported: 3 problem(s) found." in result.stderr
    assert count(engine, Person) == 0 and count(engine, CaptureReport) == 0


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("list.xlsx", b"this is not a spreadsheet", "not a valid .xlsx"),
    ("list.ods", b"whatever", "Only .xlsx and .csv"),
    ("list.csv", b"source_ref,surname,shoe_size\nX-1,Vymyslov,44\n", "Unknown columns"),
    ("blank.csv", b"source_ref,surname\n" + b"\n" * 300_000, "more than 250\u00a0000 lines (blank lines count too)"),
])
def test_an_unreadable_file_exits_non_zero_with_the_reason(runner, engine, tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    result = runner.invoke(args=["import", "captures", str(path)])
    assert result.exit_code == 1
    assert reason in result.stderr
    assert count(engine, Person) == 0


def test_a_too_large_file_is_refused(make_app, engine, tmp_path):
    runner = make_app(IMPORT_MAX_BYTES=50).test_cli_runner()
    path = write_csv(tmp_path / "captures.csv", [HEADERS, *ROWS])
    result = runner.invoke(args=["import", "captures", str(path)])
    assert result.exit_code != 0
    assert "too large" in result.stderr
    assert count(engine, Person) == 0


def test_a_missing_file_exits_non_zero(runner, tmp_path):
    result = runner.invoke(args=["import", "captures", str(tmp_path / "nowhere.csv")])
    assert result.exit_code != 0
    assert "nowhere.csv" in result.stderr


# ---------------------------------------------------------------------------------------------
# audit verify


def test_audit_verify_exits_0_when_intact_and_2_after_tampering(runner, engine, tmp_path):
    path = write_csv(tmp_path / "captures.csv", [HEADERS, *ROWS])
    assert runner.invoke(args=["import", "captures", str(path)]).exit_code == 0
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor_email = 'someone@example.org' WHERE id = "
                          "(SELECT min(id) + 2 FROM audit_event)"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 2
    assert "BROKEN" in result.stderr


def test_audit_verify_on_an_empty_log(runner):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0
    assert "0 events" in result.stdout


# ---------------------------------------------------------------------------------------------
# demo-data


def test_demo_data_is_idempotent_and_prints_the_logins(app, runner, engine, audit_key):
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0, first.output
    counts = {m: count(engine, m) for m in (Person, CaptureReport, Evidence, User)}
    assert counts[Person] == 33 and counts[CaptureReport] == 33 and counts[User] == 4  # 3 partly identified
    second = runner.invoke(args=["demo-data"])
    assert second.exit_code == 0, second.output
    assert {m: count(engine, m) for m in (Person, CaptureReport, Evidence, User)} == counts
    for output in (first.stdout, second.stdout):
        assert "33 persons" in output
        assert "demo-password-2026" in output
        for email in ("admin@demo.invalid", "researcher@demo.invalid", "researcher2@demo.invalid", "staff@demo.invalid"):
            assert email in output
    with Session(engine) as s:
        demo_user = accounts.get_by_email(s, "researcher@demo.invalid")
        assert app.extensions["pow_registry.passwords"].verify(demo_user.password_hash, "demo-password-2026")
        # Only invented people and example.org links.
        assert all(e.url.startswith("https://example.org/") for e in s.exec(select(Evidence)).all())
        assert audit.verify_chain(s, key=audit_key).ok
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


# ---------------------------------------------------------------------------------------------
# tokens create


def test_tokens_create_prints_a_working_token(runner, engine, make_user: Callable[..., User]):
    user = make_user("staff", email="zagotovkin@example.org")
    result = runner.invoke(args=["tokens", "create", "zagotovkin@example.org"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("pow_")
    import hashlib

    with Session(engine) as s:
        assert s.get(User, user.id).api_token_hash == hashlib.sha256(token.encode()).hexdigest()
    missing = runner.invoke(args=["tokens", "create", "nobody@example.org"])
    assert missing.exit_code != 0 and "nobody@example.org" in missing.stderr
