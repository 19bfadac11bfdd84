"""Cross-referencing against the database: incremental on every commit, equal to the batch run,
reviewed pairs kept, rejected pairs staying rejected until a record changes.

All persons are fictitious (invented surnames such as «Выдумкин», «Небывалов»).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session, delete, select
from support import add_inquiry

from pow_registry.domain.references import new_reference
from pow_registry.models import (
    Inquiry,
    InquiryStatus,
    MatchCandidate,
    MatchRecordState,
    MatchState,
    MatchStatus,
    User,
)
from pow_registry.services import matching, registry, reviews
from pow_registry.services.errors import Conflict, FieldErrors, Forbidden


def pairs(session: Session, status: MatchStatus | None = None) -> set[tuple[str, int, str, int]]:
    query = select(MatchCandidate)
    if status is not None:
        query = query.where(MatchCandidate.status == status)
    return {(m.left_kind, m.left_id, m.right_kind, m.right_id) for m in session.exec(query)}


def candidate(session: Session, inquiry: Inquiry, person: Any) -> MatchCandidate:
    return session.exec(select(MatchCandidate).where(
        MatchCandidate.left_kind == "inquiry", MatchCandidate.left_id == inquiry.id,
        MatchCandidate.right_kind == "person", MatchCandidate.right_id == person.id,
    ).execution_options(populate_existing=True)).one()


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("staff")


def test_an_inquiry_in_cyrillic_finds_the_man_entered_in_latin(session: Session, make_person: Any) -> None:
    person = make_person(surname="Vydumkin", given_name="Vitalii", patronymic="", date_of_birth="2005")
    make_person(surname="Небывалов", given_name="Пётр", date_of_birth="1990-01-01")
    inquiry = add_inquiry(session, unit="в/ч 12345", last_known_place="Sudzha")
    assert pairs(session) == {("inquiry", inquiry.id, "person", person.id)}
    row = candidate(session, inquiry, person)
    assert row.status == MatchStatus.candidate and 0.2 <= row.score <= 1
    view = matching.candidate_view(session, row)
    assert {f[0] for f in view.fields} >= {"surname", "given name", "date of birth"}
    assert "Vydumkin" in " ".join(f[3] for f in view.fields)
    session.refresh(inquiry)
    assert inquiry.last_checked_at is not None
    assert inquiry.version == 1, "matching must not make a staff member's open form stale"


def test_a_person_entered_after_the_inquiry_is_found_too(session: Session, make_person: Any) -> None:
    inquiry = add_inquiry(session, surname="Лейкина", given_name="Виталия", patronymic="")  # from a letter
    assert pairs(session) == set()
    person = make_person(surname="Лейкін", given_name="Віталій", patronymic="Євгенович")
    assert pairs(session) == {("inquiry", inquiry.id, "person", person.id)}


def test_a_changed_inquiry_drops_the_candidate_it_no_longer_supports(session: Session, make_person: Any) -> None:
    make_person()
    inquiry = add_inquiry(session)
    assert pairs(session)
    inquiry.surname, inquiry.given_name, inquiry.patronymic = "Небывалов", "Пётр", ""
    inquiry.date_of_birth = "1970"
    session.add(inquiry)
    session.commit()
    assert pairs(session) == set()


def test_editing_what_the_matcher_does_not_read_does_not_rematch(session: Session, make_person: Any) -> None:
    make_person()
    inquiry = add_inquiry(session)
    revision = session.get(MatchState, 1).revision  # type: ignore[union-attr]
    inquiry.notes, inquiry.requester_email = "Звонила ещё раз.", "anna@example.org"
    session.add(inquiry)
    session.commit()
    session.expire_all()
    assert session.get(MatchState, 1).revision == revision  # type: ignore[union-attr]


def test_confirming_links_the_inquiry_and_its_relatives(
    session: Session, audit_key: bytes, make_person: Any, staff: User
) -> None:
    person = make_person()
    mother = add_inquiry(session, requester_name="Выдумкина Анна")
    sister = add_inquiry(session, requester_name="Выдумкина Ольга", given_name="Виталий", patronymic="")
    relatives = session.exec(select(MatchCandidate).where(MatchCandidate.right_kind == "inquiry")).one()
    assert (relatives.left_id, relatives.right_id) == (mother.id, sister.id)
    reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=relatives.id,
                     version=relatives.version, reason="Сестра и мать спрашивают об одном человеке.")
    row = candidate(session, mother, person)
    reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=row.id, version=row.version)
    for inquiry in (mother, sister):
        session.refresh(inquiry)
        assert inquiry.person_id == person.id
        assert inquiry.status == InquiryStatus.match_found
        assert inquiry.sought_group_id == mother.id
    assert mother.reference != sister.reference, "each family keeps its own reference"


def test_a_rejected_pair_stays_rejected_until_a_record_changes(
    session: Session, audit_key: bytes, make_person: Any, staff: User
) -> None:
    person = make_person()
    inquiry = add_inquiry(session)
    row = candidate(session, inquiry, person)
    with pytest.raises(FieldErrors):
        reviews.reject(session=session, actor=staff, audit_key=audit_key, match_id=row.id,
                        version=row.version, reason="  ")
    reviews.reject(session=session, actor=staff, audit_key=audit_key, match_id=row.id,
                    version=row.version, reason="Другой человек: мать прислала фото.")
    matching.match_everything(session, everything=True)  # scores taken afresh: still rejected
    registry.update_person(session=session, actor=person_creator(session, person), audit_key=audit_key,
                           person_id=person.id, version=person.version,
                           person={**person_fields(person), "notes": "Уточнение."})
    assert candidate(session, inquiry, person).status == MatchStatus.rejected
    inquiry.last_known_place = "Суджа"  # something the matcher reads
    session.add(inquiry)
    session.commit()
    assert candidate(session, inquiry, person).status == MatchStatus.candidate


def person_fields(person: Any) -> dict[str, Any]:
    return {name: getattr(person, name) or "" for name in registry.PERSON_FIELDS}


def person_creator(session: Session, person: Any) -> User:
    user = session.get(User, person.created_by_id)
    assert user is not None
    return user


def test_review_is_checked(session: Session, audit_key: bytes, make_person: Any, make_user: Any, staff: User) -> None:
    person = make_person()
    inquiry = add_inquiry(session)
    row = candidate(session, inquiry, person)
    with pytest.raises(Forbidden):
        reviews.confirm(session=session, actor=make_user("researcher"), audit_key=audit_key,
                         match_id=row.id, version=row.version)
    with pytest.raises(Conflict):
        reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=row.id, version=row.version + 1)
    reviews.confirm(session=session, actor=staff, audit_key=audit_key, match_id=row.id, version=row.version)
    row = candidate(session, inquiry, person)
    with pytest.raises(FieldErrors):  # reviewed once
        reviews.reject(session=session, actor=staff, audit_key=audit_key, match_id=row.id,
                        version=row.version, reason="Передумал.")
    twin = make_person(surname="Выдумкин", given_name="Виталий", report={"capture_date": "2024-08-11",
                                                                          "capture_place": "Суджа"})
    dup = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "person")).one()
    assert (dup.left_id, dup.right_id) == (person.id, twin.id)
    with pytest.raises(Forbidden):  # duplicates among persons are the researchers' call
        reviews.reject(session=session, actor=staff, audit_key=audit_key, match_id=dup.id,
                        version=dup.version, reason="Разные люди.")


_SURNAMES = ["Выдумкин", "Небывалов", "Макетов", "Придумкин", "Вымыслов"]
_GIVEN = [("Виталий", "Vitalii", "Віталій"), ("Алексей", "Aleksei", "Олексій"), ("Николай", "Nikolai", "Микола")]
_LATIN = {"Выдумкин": "Vydumkin", "Небывалов": "Nebyvalov", "Макетов": "Maketov", "Придумкин": "Pridumkin",
          "Вымыслов": "Vymyslov"}


def _people(rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    """Namesakes and their spellings, in a random order of arrival."""
    out = []
    for i in range(36):
        surname, given = rng.choice(_SURNAMES), rng.choice(_GIVEN)
        year = rng.choice(["2003", "2004", "2005"])
        dob = rng.choice([year, f"{year}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}", ""])
        if i % 2:
            fields = {"surname": surname, "given_name": rng.choice([given[0], given[2], ""]), "date_of_birth": dob}
            out.append(("inquiry", fields))
        else:
            fields = {"surname": _LATIN[surname], "given_name": given[1], "date_of_birth": dob}
            out.append(("person", fields))
    rng.shuffle(out)
    return out


def test_matching_as_records_arrive_equals_matching_everything_at_once(
    session: Session, make_person: Any
) -> None:
    people = _people(random.Random(7))
    for i, (kind, fields) in enumerate(people):
        if kind == "person":
            make_person(patronymic="", **fields)
        else:
            add_inquiry(session, patronymic="", **{k: v or None if k == "date_of_birth" else v for k, v in fields.items()})
        if i == len(people) // 2:  # name frequencies counted on the first half, then frozen
            matching.match_everything(session, everything=True)
    state = session.exec(select(MatchState)).one()
    assert '"vidumkin"' in state.statistics
    incremental = {(m.left_kind, m.left_id, m.right_kind, m.right_id, m.score) for m in session.exec(select(MatchCandidate))}
    assert len(incremental) > 10, "the data must give candidates to compare"
    # The batch run from nothing but the frozen frequencies: no candidates, no record known.
    for table in (MatchCandidate, MatchRecordState):
        session.exec(delete(table))  # type: ignore[call-overload]
    session.commit()
    result = matching.match_everything(session)
    assert result.records == len(matching.load_records(session))
    batch = {(m.left_kind, m.left_id, m.right_kind, m.right_id, m.score) for m in session.exec(select(MatchCandidate))}
    assert batch == incremental


def test_another_process_changes_are_seen(session: Session, make_person: Any) -> None:
    """Each process keeps its own index; one that missed another's commits catches up."""
    make_person()
    ours = matching._cache_for(session)
    matching._CACHES.clear()  # the next commit runs as if in another process
    person = make_person(surname="Небывалов", given_name="Пётр", date_of_birth="1990-01-01")
    matching._CACHES.clear()
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    matching._CACHES[url] = ours  # back in the first process, behind by one revision
    inquiry = add_inquiry(session, surname="Небывалов", given_name="Петр", date_of_birth="1990-01-01")
    assert ("inquiry", inquiry.id, "person", person.id) in pairs(session)


def test_a_failed_commit_leaves_the_index_rebuilt_from_the_database(session: Session, make_person: Any) -> None:
    person = make_person()
    inquiry = Inquiry(reference=new_reference(), access_code_digest="0" * 64, surname="Выдумкин",
                      given_name="Виталий", date_of_birth="2005-03-12", requester_name="Выдумкина Анна")
    duplicate = Inquiry(reference=inquiry.reference, access_code_digest="0" * 64, surname="Другой")
    session.add_all([inquiry, duplicate])
    with pytest.raises(Exception):  # noqa: B017,PT011 - the database refuses the duplicate reference
        session.commit()
    session.rollback()
    assert pairs(session) == set()
    again = add_inquiry(session)
    assert pairs(session) == {("inquiry", again.id, "person", person.id)}
    assert matching._cache_for(session).index is not None
    assert len(matching._cache_for(session).index) == 2  # type: ignore[arg-type]


def test_merged_persons_and_closed_inquiries_leave_the_index(
    session: Session, audit_key: bytes, make_person: Any
) -> None:
    person = make_person()
    twin = make_person(report={"capture_date": "2024-08-11", "capture_place": "Sudzha"})
    inquiry = add_inquiry(session)
    assert ("inquiry", inquiry.id, "person", twin.id) in pairs(session)
    registry.merge_persons(session=session, actor=person_creator(session, person), audit_key=audit_key,
                           keep_id=person.id, merge_id=twin.id, keep_version=person.version,
                           merge_version=twin.version, reason="Одно и то же видео.")
    assert pairs(session) == {("inquiry", inquiry.id, "person", person.id)}
    inquiry.status = InquiryStatus.closed
    session.add(inquiry)
    session.commit()
    assert pairs(session) == set()


def test_export_rows_follow_the_contract(session: Session, make_person: Any) -> None:
    person = make_person(report={"capture_date": "2024-08-10", "capture_place": "Суджа", "source_ref": "video-17"})
    inquiry = add_inquiry(session, source_ref="mother-letter-3")
    rows = list(matching.export_rows(session))
    assert len(rows) == 1
    row = dict(zip(matching.MATCHES_CSV_COLUMNS, rows[0], strict=True))
    assert row["inquiry_reference"] == inquiry.reference
    assert row["inquiry_source_ref"] == "mother-letter-3"
    assert row["person_id"] == str(person.id)
    assert row["person_source_refs"] == "video-17"
    assert 0 <= float(row["score"]) <= 1
    assert row["status"] == "candidate"
    assert "surname" in row["reasons"]



def test_exported_source_references_cannot_become_formulas(session: Session, make_person: Any) -> None:
    make_person(report={"capture_date": "2024-08-10", "capture_place": "Суджа", "source_ref": "=HYPERLINK(\"x\")"})
    add_inquiry(session, source_ref="@SUM(1)")
    row = dict(zip(matching.MATCHES_CSV_COLUMNS, next(matching.export_rows(session)), strict=True))
    assert row["inquiry_source_ref"] == "'@SUM(1)"
    assert row["person_source_refs"] == "'=HYPERLINK(\"x\")"
    assert matching.candidate_counts(session) == {"inquiry-person": 1, "inquiry-inquiry": 0, "person-person": 0}


def test_partly_identified_men_are_matched_without_a_surname(session: Session, make_person: Any) -> None:
    """Issue 13: a man recorded by a call sign, a given name and a unit, a face or a birth year goes
    through the matcher like anyone else (MatchRecord's names are optional); with nothing but a
    call sign or a description he simply pairs with no one yet."""
    named = make_person()
    call_sign = make_person(surname="", given_name="", patronymic="", date_of_birth="", call_sign="Сокол")
    described = make_person(surname="", given_name="", patronymic="", date_of_birth="",
                            appearance="Шрам над левой бровью")
    given_and_unit = make_person(surname="", given_name="Виктор", patronymic="", date_of_birth="",
                                 unit="в/ч 12345")
    born = make_person(surname="", given_name="", patronymic="", date_of_birth="1990")
    inquiry = add_inquiry(session)
    viktor = add_inquiry(session, surname="", given_name="Виктор", patronymic="", date_of_birth=None,
                         unit="в/ч 12345")
    record = matching.person_record(call_sign, [])
    assert not record.surname and not record.given_name and record.kind == "person"
    result = matching.match_everything(session, everything=True)
    assert result.records == len(matching.load_records(session)) == 7
    found = pairs(session)
    assert ("inquiry", inquiry.id, "person", named.id) in found
    assert ("inquiry", viktor.id, "person", given_and_unit.id) in found  # a given name and a unit can be enough
    persons_paired = {p[1] for p in found if p[0] == "person"} | {p[3] for p in found if p[2] == "person"}
    assert not persons_paired & {call_sign.id, described.id, born.id}


def test_two_reports_of_one_call_sign_become_a_duplicate_candidate(session: Session, make_person: Any) -> None:
    # a man known only by his call sign and unit, reported from two videos (issue 13, partial identities)
    make_person(surname="", given_name="", patronymic="", date_of_birth="", call_sign="Небывалый", unit="в/ч 12345",
                report={"capture_date": "2024-08-10", "source_ref": "vid-31"})
    make_person(surname="", given_name="", patronymic="", date_of_birth="", call_sign="«Nebyvalyi»", unit="12345",
                report={"capture_date": "2024-08-11", "source_ref": "vid-32"})
    pairs = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "person",
                                                      MatchCandidate.right_kind == "person")).all()
    assert len(pairs) == 1
    assert "call sign" in pairs[0].explanation
