"""Imports write in bulk (registry.create_captures, inquiries.create_inquiries): exactly what the
one-by-one services write — the same rows, status history and audit events in the same order —
all or nothing, cross-referenced at commit, and the access codes they hand out work.

Both paths run in the same fresh database, one after the other; ids and the row's own
references (source_ref, inquiry reference) are compared by position. Every name is invented.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain.references import access_code_matches
from pow_registry.models import (
    AuditEvent,
    CaptureReport,
    Evidence,
    Inquiry,
    InquiryChannel,
    InquiryPhone,
    MatchCandidate,
    Person,
    StatusChange,
    User,
)
from pow_registry.services import audit, family, imports, inquiries, registry

CAPTURES = [
    # person, report, evidence
    ({"surname": "Выдумкин", "given_name": "Виталий", "date_of_birth": "2005-03-12", "unit": "в/ч 12345",
      "service_category": "conscript", "health": "wounded", "notes": "Fictitious."},
     {"capture_date": "2024-08-10", "capture_place": "Суджа"},
     [{"url": "https://example.org/bulk/1", "kind": "video", "source_reliability": "B", "info_credibility": "2"},
      {"url": "https://example.org/bulk/2"}]),
    # his report names another unit than his own: a conflict, flagged when he is created
    ({"given_name": "Сергей", "call_sign": "«Сокол»", "unit": "в/ч 54321"},
     {"capture_date": "2024-08", "reported_unit": "в/ч 11111"}, []),
    ({"surname": "Vydumkin-Макетов", "appearance": "scar on the left cheek"},
     {"claim": "killed", "capture_place": "Sudzha"},
     [{"url": "https://news.example.org/bulk/3", "kind": "photo", "source_reliability": "C", "info_credibility": "3"}]),
]


@pytest.fixture
def researcher(make_user: Any) -> User:
    return make_user("researcher")


@pytest.fixture
def staff(make_user: Any) -> User:
    return make_user("staff")


@pytest.fixture
def access_key(app: Any) -> bytes:
    return app.config["ACCESS_CODE_KEY_BYTES"]


def _max_id(session: Session, model: Any) -> int:
    return max(session.exec(select(model.id)).all(), default=0) or 0


def _marks(session: Session) -> dict[Any, int]:
    return {model: _max_id(session, model) for model in (Person, CaptureReport, Evidence, StatusChange, AuditEvent,
                                                         Inquiry, InquiryPhone)}


def _written(session: Session, since: dict[Any, int], refs: list[str]) -> dict[str, Any]:
    """Everything written after `since`, ids (and each row's own references) replaced by their
    position, timestamps left out (checked apart)."""
    session.expire_all()
    new = {model: list(session.exec(select(model).where(col(model.id) > since[model]).order_by(col(model.id))))
           for model in since}
    number = {(model.__name__, row.id): i for model, rows in new.items() for i, row in enumerate(rows)}
    names = {"person": Person, "capture_report": CaptureReport, "evidence": Evidence, "inquiry": Inquiry}
    text_ids = {value: f"<ref {i}>" for i, value in enumerate(refs)}

    def plain(row: Any) -> dict[str, Any]:
        data = row.model_dump()
        for name in ("id", "created_at", "updated_at", "at", "access_code_issued_at", "access_code_digest",
                     "last_checked_at"):  # when the cross-referencing last looked: the commit's
            data.pop(name, None)
        for name, model in (("person_id", Person), ("capture_report_id", CaptureReport), ("inquiry_id", Inquiry)):
            if name in data:
                data[name] = number.get((model.__name__, data[name]), data[name])
        return {k: text_ids.get(v, v) if isinstance(v, str) else v for k, v in data.items()}

    def event(row: AuditEvent) -> tuple[Any, ...]:
        changes = json.loads(row.changes)
        for name, model in (("person_id", Person), ("capture_report_id", CaptureReport)):
            if name in changes:
                changes[name] = [None, number[(model.__name__, changes[name][1])]]
        for name in ("source_ref", "reference"):
            if name in changes:
                changes[name] = [None, text_ids.get(changes[name][1], changes[name][1])]
        entity = number.get((names[row.entity_type].__name__, row.entity_id)) if row.entity_type in names else None
        return (row.actor_id, row.actor_email, row.action, row.entity_type, entity, changes)

    out: dict[str, Any] = {model.__name__: [plain(row) for row in rows]
                           for model, rows in new.items() if model is not AuditEvent}
    out["events"] = [event(row) for row in new[AuditEvent]]
    out["_rows"] = new
    return out


def test_bulk_captures_write_exactly_what_the_one_by_one_path_writes(session, audit_key, researcher):
    started = clock.now()
    mark = _marks(session)
    for i, (person, report, evidence) in enumerate(CAPTURES):
        _person, row = registry.create_person_with_report(
            session=session, actor=researcher, audit_key=audit_key, person=person,
            report={**report, "source_ref": f"ONE-{i}"}, commit=False)
        for item in evidence:
            registry.add_evidence(session=session, actor=researcher, audit_key=audit_key, report_id=row.id,
                                  evidence=item, commit=False)
    session.commit()
    one_by_one = _written(session, mark, [f"ONE-{i}" for i in range(len(CAPTURES))])

    mark = _marks(session)
    captures = [registry.NewCapture(registry.parse_person(person),
                                    registry.parse_report({**report, "source_ref": f"BULK-{i}"}),
                                    [registry.parse_evidence(item) for item in evidence])
                for i, (person, report, evidence) in enumerate(CAPTURES)]
    created = registry.create_captures(session=session, actor=researcher, audit_key=audit_key, captures=captures)
    session.commit()
    bulk = _written(session, mark, [f"BULK-{i}" for i in range(len(CAPTURES))])
    finished = clock.now()

    for name in ("Person", "CaptureReport", "Evidence", "StatusChange", "events"):
        assert bulk[name] == one_by_one[name], name
    assert [e[2] for e in bulk["events"]] == [
        "person.create", "report.create", "evidence.create", "evidence.create",
        "person.create", "report.create", "person.conflict",
        "person.create", "report.create", "evidence.create"]
    rows = bulk["_rows"]
    assert [p.conflict for p in rows[Person]] == [False, True, False]
    assert [p.version for p in rows[Person]] == [p.version for p in one_by_one["_rows"][Person]] == [1, 2, 1]
    assert [(c.person_id, c.report_id, c.evidence_ids) for c in created] == [
        (p.id, r.id, [e.id for e in rows[Evidence] if e.capture_report_id == r.id])
        for p, r in zip(rows[Person], rows[CaptureReport], strict=True)]
    # Times come from the clock, in the chain's order.
    stamps = [p.created_at for p in rows[Person]] + [e.at for e in rows[AuditEvent]]
    assert all(started <= stamp.replace(tzinfo=started.tzinfo) <= finished for stamp in stamps)
    assert [e.at for e in rows[AuditEvent]] == sorted(e.at for e in rows[AuditEvent])
    assert audit.verify_chain(session, key=audit_key).ok
    # The records are like any other: searchable, and editable with the version they carry.
    edited = registry.update_person(session=session, actor=researcher, audit_key=audit_key,
                                    person_id=rows[Person][0].id, version=1,
                                    person={**CAPTURES[0][0], "notes": "Edited."})
    assert edited.version == 2 and audit.verify_chain(session, key=audit_key).ok


GOOD_INQUIRY = {"surname": "Макетов", "given_name": "Алексей", "date_of_birth": "2004", "unit": "в/ч 12345",
                "requester_name": "Макетова Ирина", "requester_relationship": "сестра",
                "phones": "8 999 000 00 01, +7 701 000 0003", "requester_email": "maketova@example.org"}
INQUIRIES = [GOOD_INQUIRY, {"given_name": "Олексій", "requester_name": "Шаблонова Марія", "preferred_language": "uk",
                            "notes": "Fictitious."}]


def test_bulk_inquiries_write_exactly_what_create_inquiry_writes(session, audit_key, access_key, staff):
    mark = _marks(session)
    one = [inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key, access_key=access_key,
                                    data=data, channel=InquiryChannel.imported, source_ref=f"ONE-{i}", commit=False)
           for i, data in enumerate(INQUIRIES)]
    session.commit()
    one_by_one = _written(session, mark, [*(f"ONE-{i}" for i in range(2)), *(i.inquiry.reference for i in one)])

    mark = _marks(session)
    items = [inquiries.NewInquiry(inquiries.parse_inquiry(data), f"BULK-{i}") for i, data in enumerate(INQUIRIES)]
    issued = inquiries.create_inquiries(session=session, actor=staff, audit_key=audit_key, access_key=access_key,
                                        items=items)
    session.commit()
    bulk = _written(session, mark, [*(f"BULK-{i}" for i in range(2)), *(i.inquiry.reference for i in issued)])

    for name in ("Inquiry", "InquiryPhone", "events"):
        assert bulk[name] == one_by_one[name], name
    assert [e[2] for e in bulk["events"]] == ["inquiry.create", "inquiry.create"]
    rows = bulk["_rows"][Inquiry]
    assert [r.reference for r in rows] == [i.inquiry.reference for i in issued]
    assert len({r.reference for r in rows} | {i.inquiry.reference for i in one}) == 4
    assert all(access_code_matches(i.access_code, r.access_code_digest, access_key) for i, r in zip(issued, rows, strict=True))
    # Neither the code nor its digest, nor the family's contact data, reaches the audit log.
    text = " ".join(e.changes for e in bulk["_rows"][AuditEvent])
    assert not any(i.access_code in text or r.access_code_digest in text for i, r in zip(issued, rows, strict=True))
    assert "Макетова" not in text and "maketova@example.org" not in text
    assert audit.verify_chain(session, key=audit_key).ok


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode()


def test_an_imported_inquirys_code_opens_the_familys_status_page(session, audit_key, access_key, staff):
    data = _csv([["source_ref", "surname", "given_name", "requester_name"],
                 ["FAM-1", "Выдумкин", "Виталий", "Выдумкина Ольга"],
                 ["FAM-2", "Макетов", "Алексей", "Макетова Ирина"]])
    report = imports.import_inquiries(session=session, actor=staff, audit_key=audit_key, access_key=access_key,
                                      data=data, filename="families.csv")
    assert report.ok and len(report.codes) == 2
    first, second = report.codes
    view = family.check_status(session, reference=first.reference, code=first.access_code, key=access_key)
    assert view is not None and view.reference == first.reference and view.status.value == "received"
    assert family.check_status(session, reference=first.reference, code=second.access_code, key=access_key) is None


def test_a_bad_row_in_the_middle_of_a_large_file_leaves_nothing(session, audit_key, researcher, monkeypatch):
    """Rows are written a chunk at a time; a bad row after the first chunks is still found before
    anything is written, and a row the database refuses in a later chunk undoes the earlier ones."""
    monkeypatch.setattr(imports, "WRITE_CHUNK", 3)
    header = ["source_ref", "surname", "date_of_birth"]
    rows = [[f"MID-{i}", f"Макетов{'аеиоу'[i % 5]}", "2001"] for i in range(10)]
    before = _marks(session)
    bad = [*rows[:5], ["MID-X", "Шаблонов", "31.02.2001"], *rows[5:]]
    report = imports.import_captures(session=session, actor=researcher, audit_key=audit_key,
                                     data=_csv([header, *bad]), filename="bad.csv")
    assert [(e.row, e.column) for e in report.errors] == [(7, "date_of_birth")]
    assert _marks(session) == before
    # The database refuses row 9 (MID-7, saved meanwhile) in the third chunk: nothing is kept.
    assert imports.import_captures(session=session, actor=researcher, audit_key=audit_key,
                                   data=_csv([header, rows[7]]), filename="one.csv").ok
    before = _marks(session)
    real = imports._existing_refs
    looked = iter(range(10))
    monkeypatch.setattr(imports, "_existing_refs", lambda *args: set() if next(looked) == 0 else real(*args))
    report = imports.import_captures(session=session, actor=researcher, audit_key=audit_key,
                                     data=_csv([header, *rows]), filename="all.csv")
    assert [(e.row, e.column) for e in report.errors] == [(9, "source_ref")] and report.rows_created == 0
    assert _marks(session) == before
    assert audit.verify_chain(session, key=audit_key).ok


def test_imported_records_are_cross_referenced_when_the_import_commits(session, audit_key, access_key, staff,
                                                                          make_person):
    person = make_person(surname="Vydumkin", given_name="Vitalii", patronymic="", date_of_birth="2005")
    data = _csv([["source_ref", "surname", "given_name", "date_of_birth", "requester_name"],
                 ["X-1", "Выдумкин", "Виталий", "2005", "Выдумкина Ольга"]])
    report = imports.import_inquiries(session=session, actor=staff, audit_key=audit_key, access_key=access_key,
                                      data=data, filename="inquiries.csv")
    assert report.ok
    inquiry = session.exec(select(Inquiry).where(Inquiry.source_ref == "X-1")).one()
    assert session.exec(select(MatchCandidate).where(
        MatchCandidate.left_kind == "inquiry", MatchCandidate.left_id == inquiry.id,
        MatchCandidate.right_kind == "person", MatchCandidate.right_id == person.id)).first() is not None
