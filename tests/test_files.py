"""Files written for a person at the command line (pow_registry.files, and the commands that use
it: export matches, export list, the access codes of import inquiries): always a new file with
mode 0600; an existing file is never reused or overwritten and a link never followed."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from pow_registry import files
from pow_registry.models import PersonStatus, User
from pow_registry.services import exchange

SECRET = "Выдумкин Виталий, в/ч 00000"  # what must not land in the wrong file
EARLIER = b"an earlier file, readable by all\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process's umask for the test, restored after it."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


# ------------------------------------------------------------------------------------------------
# The helper


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277])
def test_a_new_file_is_0600_whatever_the_umask(tmp_path: Path, umask: Callable[[int], None], mask: int) -> None:
    umask(mask)  # 0 would give 0600 from os.open anyway; 0o277 would take the owner's write bit
    target = tmp_path / "out.csv"
    with files.new_private_file(target, "w", encoding="utf-8") as handle:
        handle.write(SECRET)
    assert mode(target) == 0o600
    assert target.read_text(encoding="utf-8") == SECRET


def test_an_existing_file_is_neither_reused_nor_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.xlsx"
    target.write_bytes(EARLIER)
    target.chmod(0o644)
    with pytest.raises(files.NewFileRefused, match="already exists"), files.new_private_file(target) as handle:
        handle.write(SECRET.encode())
    # Not written with the data and left at 0644: not touched at all (and not removed either).
    assert target.read_bytes() == EARLIER and mode(target) == 0o644


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "target.txt"
    target.write_bytes(EARLIER)
    target.chmod(0o644)
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    with pytest.raises(files.NewFileRefused, match="already exists"):
        files.open_new_private(link)
    assert target.read_bytes() == EARLIER and mode(target) == 0o644
    assert link.is_symlink()
    # A dangling link does not make its target either.
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(elsewhere / "would-be-created.txt")
    with pytest.raises(files.NewFileRefused):
        files.open_new_private(dangling)
    assert not (elsewhere / "would-be-created.txt").exists()


def test_a_folder_or_a_missing_folder_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(files.NewFileRefused, match="already exists"):
        files.open_new_private(tmp_path)
    with pytest.raises(files.NewFileRefused, match="cannot create the file"):
        files.open_new_private(tmp_path / "missing" / "out.csv")


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), files.new_private_file(target, "w", encoding="utf-8") as handle:
        handle.write(SECRET)
        raise RuntimeError("the export failed half-way")
    assert not target.exists()


def test_only_writing_modes() -> None:
    with pytest.raises(ValueError):
        files.open_new_private("unused", "a")


# ------------------------------------------------------------------------------------------------
# The commands


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def frozen_list(session: Session, audit_key: bytes, make_user: Callable[..., User], make_person: Any) -> int:
    staff = make_user("staff")
    office = exchange.create_office(session=session, actor=make_user("admin"), audit_key=audit_key,
                                    data={"name": "Fictitious Ombudsman Office", "country": "UA", "language": "uk",
                                          "contact": "office@example.org", "columns": ""})
    person = make_person(surname="Выдумкин", given_name="Виталий")
    person.status = PersonStatus.confirmed_captured
    session.add(person)
    session.commit()
    row = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                               data={"office_id": str(office.id), "kind": "exchange", "title": "Test"})
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=person.id,
                        reason="Мать просила.")
    session.refresh(row)
    exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version)
    return row.id or 0


def _commands(list_id: int, tmp_path: Path) -> list[list[str]]:
    inquiries = tmp_path / "inquiries.csv"
    with inquiries.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["source_ref", "surname", "given_name", "requester_name",
                                       "requester_relationship", "requester_phone"],
                                      ["FILES-1", "Макетов", "Пётр", "Макетова Ирина", "мать", "8 999 000 00 01"]])
    return [["export", "matches"], ["export", "list", str(list_id)],
            ["import", "inquiries", str(inquiries), "--codes"]]


@pytest.mark.parametrize("command", [0, 1, 2], ids=["export matches", "export list", "import inquiries --codes"])
def test_every_command_refuses_an_existing_file_and_a_link(
    runner: Any, frozen_list: int, tmp_path: Path, command: int
) -> None:
    args = _commands(frozen_list, tmp_path)[command]
    existing = tmp_path / "existing.out"
    existing.write_bytes(EARLIER)
    existing.chmod(0o644)
    result = runner.invoke(args=[*args, str(existing)])
    assert result.exit_code != 0 and "already exists" in result.stderr, result.output
    assert existing.read_bytes() == EARLIER and mode(existing) == 0o644

    target = tmp_path / "elsewhere.txt"
    target.write_bytes(EARLIER)
    link = tmp_path / "link.out"
    link.symlink_to(target)
    result = runner.invoke(args=[*args, str(link)])
    assert result.exit_code != 0 and "already exists" in result.stderr, result.output
    assert target.read_bytes() == EARLIER and link.is_symlink()

    fresh = tmp_path / "fresh.out"
    result = runner.invoke(args=[*args, str(fresh)])
    assert result.exit_code == 0, result.output
    assert mode(fresh) == 0o600 and fresh.stat().st_size > 0


def test_export_list_to_a_refused_name_records_no_export(
    runner: Any, session: Session, audit_key: bytes, frozen_list: int, tmp_path: Path, umask: Callable[[int], None]
) -> None:
    existing = tmp_path / "list.xlsx"
    existing.write_bytes(EARLIER)
    assert runner.invoke(args=["export", "list", str(frozen_list), str(existing)]).exit_code != 0
    assert exchange.recorded_sha256(session, audit_key=audit_key, list_id=frozen_list) is None
    session.rollback()  # SQLite: end the test's read so the command can write
    umask(0)
    fresh = tmp_path / "new.xlsx"
    result = runner.invoke(args=["export", "list", str(frozen_list), str(fresh)])
    assert result.exit_code == 0 and "recorded now" in result.output
    assert mode(fresh) == 0o600


def test_a_list_that_cannot_be_exported_leaves_no_file(runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "none.xlsx"
    result = runner.invoke(args=["export", "list", "999", str(out)])
    assert result.exit_code != 0 and "was not exported" in result.stderr
    assert not out.exists()
