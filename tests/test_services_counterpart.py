"""Counterpart lists: names as the other side wrote them, reconciled with the matcher, applied
when staff confirm; unmatched names reported, never dropped (all names fictitious)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, select
from support import add_inquiry, snapshot

from pow_registry.models import (
    CounterpartEntry,
    CounterpartList,
    Inquiry,
    InquiryStatus,
    MatchCandidate,
    MatchStatus,
    Person,
    PersonStatus,
    User,
)
from pow_registry.services import counterpart, matching, reviews
from pow_registry.services.errors import FieldErrors, Forbidden

RETURNED = (
    "№,Фамилия,Имя,Отчество,Дата рождения\n"
    "1,Vydumkin,Vitaliy,,12.03.2005\n"  # «Выдумкин Виталий» in the registry, in Latin here
    "2,Макетова,Алексея,,2004\n"  # copied from a letter: genitive
    "3,Небывалов,Пётр,Ильич,1970\n"  # nobody we know
).encode()
DETAILS = {"kind": "returned", "title": "Обмен 30 ноября (вымышленный)", "source": "Fictitious ministry",
           "received_on": "2026-11-30", "exchange_date": "2026-11-30"}


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("staff")


def _import(session: Session, audit_key: bytes, staff: User, data: bytes = RETURNED, **details: Any) -> Any:
    return counterpart.import_list(session=session, actor=staff, audit_key=audit_key, data=data,
                                   filename="returned.csv", details={**DETAILS, **details})


def test_misspelled_names_find_their_men_and_the_rest_are_reported(
    session: Session, audit_key: bytes, staff: User, make_person: Any
) -> None:
    vydumkin = make_person()
    maketov = make_person(surname="Макетов", given_name="Алексей", patronymic="", date_of_birth="2004-05-01")
    report = _import(session, audit_key, staff)
    assert report.ok and report.rows_created == 3 and report.unmatched == 1
    detail = counterpart.list_detail(session, report.list_id)
    assert [v.entry.row_number for v in detail.to_review] == [2, 3]
    assert [v.entry.surname for v in detail.unmatched] == ["Небывалов"]
    people = {(r.left_id, r.right_kind, r.right_id) for r in session.exec(select(MatchCandidate).where(
        MatchCandidate.left_kind == "counterpart"))}
    entries = {e.surname: e.id for e in session.exec(select(CounterpartEntry))}
    assert (entries["Vydumkin"], "person", vydumkin.id) in people
    assert (entries["Макетова"], "person", maketov.id) in people
    rows, total = matching.queue(session, matching.QueueFilter(kinds="counterpart-person",
                                                               counterpart_list_id=report.list_id))
    assert total == 2 and {v.left.record.surname for v in rows} == {"Vydumkin", "Макетова"}


def test_a_bad_row_writes_nothing_and_a_dry_run_writes_nothing(session: Session, audit_key: bytes,
                                                               staff: User, make_user: Any) -> None:
    before = snapshot(session)
    bad = _import(session, audit_key, staff, data=RETURNED + b"4,,,,1990\n5,Some,One,,31.02.1990\n")
    assert {(e.row, e.column) for e in bad.errors} == {(5, "surname"), (6, "date_of_birth")}
    dry = counterpart.import_list(session=session, actor=staff, audit_key=audit_key, data=RETURNED,
                                  filename="returned.csv", details=DETAILS, dry_run=True)
    assert dry.ok and dry.rows_created == 3
    assert snapshot(session) == before
    with pytest.raises(FieldErrors):
        _import(session, audit_key, staff, title="", received_on="someday")
    with pytest.raises(Forbidden):
        counterpart.import_list(session=session, actor=make_user("researcher"), audit_key=audit_key,
                                data=RETURNED, filename="returned.csv", details=DETAILS)


def test_confirming_a_returned_name_applies_the_exchange(session: Session, audit_key: bytes, staff: User,
                                                         make_person: Any) -> None:
    person = make_person()
    person.status = PersonStatus.confirmed_captured
    session.add(person)
    session.commit()
    mother = add_inquiry(session, person_id=person.id, status=InquiryStatus.match_found)
    report = _import(session, audit_key, staff)
    pair = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "counterpart",
                                                     MatchCandidate.right_kind == "person")).first()
    assert pair is not None
    session.commit()
    reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=pair.id, version=pair.version,
                     reason="Совпадают фамилия и дата рождения.")
    session.expire_all()
    assert session.get(Person, person.id).status == PersonStatus.exchanged
    assert session.get(Inquiry, mother.id).status == InquiryStatus.returned
    entry = session.get(CounterpartEntry, pair.left_id)
    assert entry.person_id == person.id and entry.applied_at is not None
    assert session.get(MatchCandidate, pair.id).status == MatchStatus.confirmed
    detail = counterpart.list_detail(session, report.list_id)
    assert [v.entry.id for v in detail.linked] == [entry.id]


def test_a_held_list_moves_searching_inquiries_to_match_found(session: Session, audit_key: bytes, staff: User,
                                                               make_person: Any) -> None:
    person = make_person()
    sister = add_inquiry(session, person_id=person.id, status=InquiryStatus.searching)
    _import(session, audit_key, staff, kind="held", exchange_date="")
    pair = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "counterpart",
                                                     MatchCandidate.right_kind == "person")).first()
    assert pair is not None
    session.commit()
    reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=pair.id, version=pair.version)
    session.expire_all()
    assert session.get(Inquiry, sister.id).status == InquiryStatus.match_found
    assert session.get(Person, person.id).status == PersonStatus.reported  # held, not returned
    assert session.exec(select(CounterpartList)).one().kind.value == "held"


def test_rematching_a_person_keeps_the_counterpart_pairs(session: Session, audit_key: bytes, staff: User,
                                                         make_person: Any) -> None:
    person = make_person()
    _import(session, audit_key, staff)
    before = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "counterpart")).all()
    assert before
    person.unit = "в/ч 12345"  # something the matcher reads: the person is re-matched
    session.add(person)
    session.commit()
    after = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "counterpart")).all()
    assert {r.id for r in after} == {r.id for r in before}
