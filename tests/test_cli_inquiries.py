"""`pow-registry import inquiries` and the demo inquiries, through Flask's CLI runner.

Every name is invented; numbers are in the +7 999 range.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from pow_registry.domain.references import access_code_matches
from pow_registry.models import AuditEvent, Inquiry, InquiryChannel, User

HEADERS = ["source_ref", "surname", "given_name", "date_of_birth", "requester_name", "requester_relationship",
           "requester_phone"]
ROWS = [
    ["CLI-INQ-1", "Выдумкин", "Виталий", "2005", "Выдумкина Ольга", "мать", "8 999 000 00 01"],
    ["CLI-INQ-2", "Макетов", "Алексей", "", "Макетова Ирина", "сестра", "+7 701 000 0003; +7 999 000 00 04"],
    ["=CLI-INQ-3", "", "Олексій", "2003-05", "Шаблонова Марія", "мати", ""],
]


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]


def count(engine: Any, model: Any) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def read_codes(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_a_real_import_without_codes_file_is_refused(runner, engine, tmp_path):
    path = write_csv(tmp_path / "inquiries.csv", [HEADERS, *ROWS])
    result = runner.invoke(args=["import", "inquiries", str(path)])
    assert result.exit_code != 0
    assert "--codes" in result.stderr and "shown only once" in result.stderr
    assert count(engine, Inquiry) == 0 and count(engine, AuditEvent) == 0 and count(engine, User) == 0


def test_dry_run_needs_no_codes_file_and_writes_nothing(runner, engine, tmp_path):
    path = write_csv(tmp_path / "inquiries.csv", [HEADERS, *ROWS])
    codes = tmp_path / "codes.csv"
    result = runner.invoke(args=["import", "inquiries", str(path), "--dry-run", "--codes", str(codes)])
    assert result.exit_code == 0, result.output
    assert "3 row(s) would be imported (3 inquiries)" in result.stdout
    assert not codes.exists()
    assert count(engine, Inquiry) == 0 and count(engine, AuditEvent) == 0 and count(engine, User) == 0


def test_import_writes_the_codes_file_with_mode_0600_and_is_idempotent(app, runner, engine, tmp_path):
    path = write_csv(tmp_path / "inquiries.csv", [HEADERS, *ROWS])
    codes = tmp_path / "codes.csv"
    old_umask = os.umask(0o022)  # a permissive umask must not widen the file
    try:
        result = runner.invoke(args=["import", "inquiries", str(path), "--codes", str(codes)])
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert "3 row(s) imported (3 inquiries)" in result.stdout and str(codes) in result.stdout
    assert stat.S_IMODE(codes.stat().st_mode) == 0o600
    issued = read_codes(codes)
    assert list(issued[0]) == ["source_ref", "reference", "access_code"]
    # A source_ref that a spreadsheet would read as a formula is written as text.
    assert [r["source_ref"] for r in issued] == ["CLI-INQ-1", "CLI-INQ-2", "'=CLI-INQ-3"]
    key = app.config["ACCESS_CODE_KEY_BYTES"]
    with Session(engine) as s:
        for row in issued:
            inquiry = s.exec(select(Inquiry).where(Inquiry.reference == row["reference"])).one()
            assert inquiry.channel == InquiryChannel.imported
            assert access_code_matches(row["access_code"], inquiry.access_code_digest, key)
        system = s.exec(select(User).where(User.email == "system@pow-registry.invalid")).one()
        assert "staff" in system.roles.split(",") and not system.is_active
        assert {i.created_by_id for i in s.exec(select(Inquiry)).all()} == {system.id}
    # The output never shows a code: only the file has them.
    assert not any(row["access_code"] in result.output for row in issued)

    # Again: nothing new, and an existing codes file is never overwritten.
    again = runner.invoke(args=["import", "inquiries", str(path), "--codes", str(codes)])
    assert again.exit_code != 0 and "already exists" in again.stderr
    assert read_codes(codes) == issued
    codes2 = tmp_path / "codes2.csv"
    again = runner.invoke(args=["import", "inquiries", str(path), "--codes", str(codes2)])
    assert again.exit_code == 0, again.output
    assert "0 row(s) imported" in again.stdout and "3 already imported" in again.stdout
    assert read_codes(codes2) == []
    assert count(engine, Inquiry) == 3
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_a_bad_file_writes_nothing_and_leaves_no_codes_file(runner, engine, tmp_path):
    path = write_csv(tmp_path / "inquiries.csv", [HEADERS, *ROWS, ["CLI-INQ-4", "Небывалов", "", "", "", "", "8 123"]])
    codes = tmp_path / "codes.csv"
    result = runner.invoke(args=["import", "inquiries", str(path), "--codes", str(codes)])
    assert result.exit_code != 0
    assert "row 5, column requester_name" in result.stderr and "row 5, column requester_phone" in result.stderr
    assert "Nothing was imported" in result.stderr
    assert not codes.exists()
    assert count(engine, Inquiry) == 0


def test_attributed_to_a_named_staff_account_and_only_staff(runner, engine, tmp_path, make_user):
    staff = make_user("staff", email="nebyvalova@example.org")
    researcher = make_user("researcher", email="uslovnov@example.org")
    path = write_csv(tmp_path / "inquiries.csv", [HEADERS, ROWS[0]])
    refused = runner.invoke(args=["import", "inquiries", str(path), "--user", researcher.email,
                                  "--codes", str(tmp_path / "refused.csv")])
    assert refused.exit_code != 0 and "Only staff" in refused.stderr
    assert not (tmp_path / "refused.csv").exists()
    result = runner.invoke(args=["import", "inquiries", str(path), "--user", "NEBYVALOVA@example.org",
                                 "--codes", str(tmp_path / "codes.csv")])
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        assert s.exec(select(Inquiry)).one().created_by_id == staff.id


def test_demo_data_prints_the_fixed_demo_access_and_loads_twice(runner, engine):
    from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE

    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0, first.output
    inquiries_after_first = count(engine, Inquiry)
    second = runner.invoke(args=["demo-data"])
    assert second.exit_code == 0, second.output
    assert count(engine, Inquiry) == inquiries_after_first == 5
    for output in (first.stdout, second.stdout):
        assert "5 family inquiries" in output
        assert DEMO_INQUIRY_REFERENCE in output and DEMO_ACCESS_CODE in output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
