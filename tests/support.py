"""Pieces several test modules share (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel

TEST_PASSWORD = "correct horse battery staple"
# A real 1×1 PNG: enough for the archive's type check and for a browser to show.
PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       + b"\x1f\x15\xc4\x89")


def fast_app_config(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Config every test app shares: cheap password hashing, plain-http cookies, its own store."""
    return {
        "DATABASE_URL": db_url,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "EVIDENCE_DIR": str(tmp_path / "evidence"),
        "RATELIMIT_STORAGE_URI": "memory://",
    }


def snapshot(session: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: the whole database, to show that nothing changed."""
    state = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = session.execute(text(f'SELECT * FROM "{table.name}"')).all()  # noqa: S608 - our own table names
        state[table.name] = sorted((tuple(r) for r in rows), key=repr)
    session.commit()  # end the read: SQLite transactions here begin IMMEDIATE
    return state


def registry_rows(*, app: Any, session: Any, audit_key: bytes, author: Any, make_person: Any) -> dict[str, int]:
    """Real rows for every kind of registry id a URL can carry: a person with a report and an
    archived piece of evidence, and a merge of two other records."""
    from pow_registry.services import registry
    from pow_registry.services.archive import EvidenceStore

    person = make_person(author, surname="Выдумкин", report={"capture_date": "2024-08-10"})
    report = registry.add_capture_report(session=session, actor=author, audit_key=audit_key,
                                         person_id=person.id, report={"capture_date": "2024-08-11"})
    store = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    evidence = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report.id,
                                     evidence={"url": "https://example.org/post/1", "kind": "photo"},
                                     archive=(PNG, "photo.png"), store=store)
    kept, duplicate = make_person(author, surname="Макетов"), make_person(author, surname="Макетов")
    merge = registry.merge_persons(session=session, actor=author, audit_key=audit_key, keep_id=kept.id,
                                   merge_id=duplicate.id, keep_version=kept.version,
                                   merge_version=duplicate.version, reason="тот же человек")
    return {"person_id": person.id, "report_id": report.id, "evidence_id": evidence.id, "merge_id": merge.id}
