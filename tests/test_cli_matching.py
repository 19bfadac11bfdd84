"""`pow-registry match` and `pow-registry export matches` (contract.md), on the test database."""

from __future__ import annotations

import csv
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, select
from support import add_inquiry

from pow_registry.models import Inquiry, MatchCandidate, MatchRecordState
from pow_registry.services import matching


def test_match_finds_what_changed_outside_the_app_and_prints_the_counts(
    app: Any, session: Session, make_person: Any
) -> None:
    person = make_person(report={"capture_date": "2024-08-10", "capture_place": "Суджа", "source_ref": "vid-9"})
    inquiry = add_inquiry(session, source_ref="letter-4")
    # As if the rows came from before matching existed: nothing known to the matcher.
    session.exec(delete(MatchCandidate))  # type: ignore[call-overload]
    session.exec(delete(MatchRecordState))  # type: ignore[call-overload]
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["match"])
    assert result.exit_code == 0, result.output
    assert "Matched 2 records: 1 new candidates" in result.output
    assert "inquiry-person 1" in result.output
    again = runner.invoke(args=["match"])
    assert "Matched 0 records" in again.output  # nothing new or changed
    # A change made with plain SQL (no hook): the next `match` sees it.
    session.exec(update(Inquiry).where(Inquiry.id == inquiry.id).values(surname="Небывалов",  # type: ignore[call-overload]
                                                                        given_name="Пётр", date_of_birth="1970"))
    session.commit()
    changed = runner.invoke(args=["match"])
    assert "Matched 1 records: 0 new candidates, 1 dropped" in changed.output
    assert session.exec(select(MatchCandidate)).all() == []
    session.commit()
    assert runner.invoke(args=["match", "--all"]).exit_code == 0
    assert person.id is not None


def test_export_matches_writes_the_contract_csv_for_its_owner_only(
    app: Any, session: Session, make_person: Any, tmp_path: Path
) -> None:
    person = make_person(report={"capture_date": "2024-08-10", "capture_place": "Суджа", "source_ref": "vid-9"})
    inquiry = add_inquiry(session, source_ref="letter-4")
    out = tmp_path / "matches.csv"
    result = app.test_cli_runner().invoke(args=["export", "matches", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 candidate pairs" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == matching.MATCHES_CSV_COLUMNS
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["inquiry_reference"], row["inquiry_source_ref"], row["person_id"], row["person_source_refs"]) == (
        inquiry.reference, "letter-4", str(person.id), "vid-9")
    assert 0.2 <= float(row["score"]) <= 1 and row["status"] == "candidate" and row["reasons"]


def test_export_to_a_folder_that_does_not_exist_fails_cleanly(app: Any, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(args=["export", "matches", str(tmp_path / "missing" / "m.csv")])
    assert result.exit_code != 0


def test_match_explain_model_shows_the_model_in_use_and_match_all_learns_it(
    app: Any, session: Session, make_person: Any, monkeypatch: Any
) -> None:
    from pow_registry.domain.matching import estimate

    runner = app.test_cli_runner()
    before = runner.invoke(args=["match", "--explain-model"])
    assert before.exit_code == 0, before.output
    assert "hand-set defaults (not learned)" in before.output
    assert "capture / contact  soon after" in before.output
    make_person(report={"capture_date": "2024-08-10", "capture_place": "Суджа", "source_ref": "vid-9"})
    add_inquiry(session, source_ref="letter-4")
    for i in range(3):
        make_person(surname=f"Небывалов{'а' * i}", given_name="Пётр", date_of_birth=f"19{80 + i}-02-0{i + 1}",
                    report={"capture_date": "2024-08-1" + str(i), "source_ref": f"vid-{20 + i}"})
        add_inquiry(session, source_ref=f"letter-{20 + i}", surname=f"Сказкин{i}", given_name="Олег")
    # Too few records: `match --all` keeps the hand-set model and says why.
    assert runner.invoke(args=["match", "--all"]).exit_code == 0
    kept = runner.invoke(args=["match", "--explain-model"]).output
    assert "hand-set defaults (not learned)" in kept
    assert "not learned: 4 inquiries and 4 persons, fewer than 200 of each" in kept
    # With the threshold lowered the same data is enough to learn from.
    monkeypatch.setattr(estimate, "MIN_RECORDS", 2)
    assert runner.invoke(args=["match", "--all"]).exit_code == 0
    learned = runner.invoke(args=["match", "--explain-model"]).output
    assert "Match model: learned from the data" in learned
    assert "learned from 4 inquiries and 4 persons" in learned
