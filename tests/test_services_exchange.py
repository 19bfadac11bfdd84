"""Exchange lists: offices, proposals and their order, changes with reasons, freezing, and the
spreadsheet recorded at its first export (all persons fictitious)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select
from support import add_inquiry

from pow_registry.models import (
    AuditEvent,
    ExchangeList,
    ExchangeListEntry,
    ListState,
    PersonStatus,
    User,
)
from pow_registry.services import exchange, registry
from pow_registry.services.errors import Conflict, FieldErrors, Forbidden

TODAY = date(2026, 11, 22)


@pytest.fixture(autouse=True)
def _clock(time_machine: Any) -> None:
    """Every test here starts on TODAY (10:00 UTC, ticking), whatever the real date: the capture
    dates and ages below are written against it. A test moves on with `time_machine.move_to`."""
    time_machine.move_to(datetime.combine(TODAY, time(10), tzinfo=UTC))


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("staff")


@pytest.fixture
def office(session: Session, audit_key: bytes, make_user: Callable[..., User]) -> Any:
    return exchange.create_office(session=session, actor=make_user("admin"), audit_key=audit_key,
                                  data={"name": "Fictitious Ombudsman Office", "country": "UA", "language": "uk",
                                        "contact": "office@example.org", "columns": ""})


@pytest.fixture
def confirmed(session: Session, make_person: Any) -> Callable[..., Any]:
    """A person whose capture is confirmed (set directly: the evidence rules are tested elsewhere)."""

    def factory(**fields: Any) -> Any:
        person = make_person(**fields)
        person.status = PersonStatus.confirmed_captured
        session.add(person)
        session.commit()
        return person

    return factory


def new_list(session: Session, audit_key: bytes, staff: User, office: Any, kind: str = "exchange") -> ExchangeList:
    return exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                data={"office_id": str(office.id), "kind": kind, "title": "Осень 2026"})


def test_offices_are_the_admins_and_checked(session: Session, audit_key: bytes, staff: User, office: Any,
                                            make_user: Callable[..., User]) -> None:
    with pytest.raises(Forbidden):
        exchange.create_office(session=session, actor=staff, audit_key=audit_key, data={"name": "Другой офис"})
    admin = make_user("admin")
    with pytest.raises(FieldErrors) as refused:
        exchange.create_office(session=session, actor=admin, audit_key=audit_key,
                               data={"name": "fictitious ombudsman office", "country": "Ukraine", "language": "de",
                                     "columns": "surname,password"})
    assert set(refused.value.errors) == {"name", "country", "language", "columns"}
    updated = exchange.update_office(session=session, actor=admin, audit_key=audit_key, office_id=office.id,
                                     version=office.version, data={"name": office.name, "language": "en",
                                                                   "columns": "row_number,surname,date_of_birth"})
    assert exchange.office_columns(updated) == ("row_number", "surname", "date_of_birth")


def test_proposals_are_confirmed_men_ordered_by_a_priority_with_reasons(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, make_person: Any
) -> None:
    plain = confirmed(surname="Макетов", date_of_birth="1980", report={"capture_date": "2026-10-01"})
    young = confirmed(surname="Шаблонов", date_of_birth="2005-03-12", service_category="conscript",
                      report={"capture_date": "2024-08-10"})
    wounded = confirmed(surname="Условнов", date_of_birth="1985", health="seriously_wounded",
                        report={"capture_date": "2025-02-01"})
    make_person(surname="Непроверенный")  # reported only: not proposed for exchange
    add_inquiry(session, surname="Шаблонов", person_id=young.id, consent_share=True)
    row = new_list(session, audit_key, staff, office)
    proposed = exchange.proposals(session, row, today=TODAY)
    assert [c.person.id for c in proposed] == [wounded.id, young.id, plain.id]
    assert proposed[0].priority.categories == ("seriously_wounded_or_sick", "long_captivity")
    assert set(proposed[1].priority.categories) == {"young", "conscript", "long_captivity", "with_inquiry"}
    assert proposed[1].inquiry_references
    assert ("age:21", 100) in proposed[1].priority.reasons
    # A verification request may ask about a man whose capture is only reported.
    verification = new_list(session, audit_key, staff, office, kind="verification")
    assert len(exchange.proposals(session, verification, today=TODAY)) == 4


def test_changes_need_reasons_and_a_man_is_on_one_open_list_at_a_time(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any
) -> None:
    first, second, third = (confirmed(surname=s) for s in ("Макетов", "Шаблонов", "Условнов"))
    row = new_list(session, audit_key, staff, office)
    assert exchange.add_proposed(session=session, actor=staff, audit_key=audit_key, list_id=row.id, today=TODAY) == 3
    entries = exchange.list_detail(session, row.id, today=TODAY).entries
    assert [e.entry.position for e in entries] == [1, 2, 3]
    victim = entries[1].entry
    with pytest.raises(FieldErrors):
        exchange.remove_entry(session=session, actor=staff, audit_key=audit_key, entry_id=victim.id,
                              version=victim.version, reason=" ")
    exchange.remove_entry(session=session, actor=staff, audit_key=audit_key, entry_id=victim.id,
                          version=victim.version, reason="Семья просит подождать.")
    detail = exchange.list_detail(session, row.id, today=TODAY)
    assert [e.entry.position for e in detail.entries] == [1, 2]
    assert [e.entry.removed_reason for e in detail.removed] == ["Семья просит подождать."]
    last = detail.entries[-1].entry
    exchange.move_entry(session=session, actor=staff, audit_key=audit_key, entry_id=last.id, version=last.version,
                        position=1, reason="Тяжёлое ранение по новым данным.")
    assert exchange.list_detail(session, row.id).entries[0].entry.id == last.id
    other = new_list(session, audit_key, staff, office)
    busy = next(e.entry.person_id for e in exchange.list_detail(session, row.id).entries)
    with pytest.raises(FieldErrors):
        exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=other.id, person_id=busy,
                            reason="Ещё раз.")
    removed_id = detail.removed[0].entry.person_id
    assert [c.person.id for c in exchange.proposals(session, other, today=TODAY)] == [removed_id]
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity_type == "exchange_list"))]
    assert actions.count("list.add") == 3 and "list.remove" in actions and "list.move" in actions
    assert {first.id, second.id, third.id} >= {busy, removed_id}


def test_a_frozen_list_refuses_every_change(session: Session, audit_key: bytes, staff: User, office: Any,
                                            confirmed: Any) -> None:
    person = confirmed()
    spare = confirmed(surname="Запасной")
    row = new_list(session, audit_key, staff, office)
    entry = exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                person_id=person.id, reason="Мать просила.")
    stale_version = row.version
    session.refresh(row)
    with pytest.raises(Conflict):  # the page was loaded before the last change
        exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=stale_version - 1)
    frozen = exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                  version=row.version, today=TODAY)
    assert frozen.state == ListState.frozen and frozen.number == 1 and frozen.frozen_by_id == staff.id
    for change in (
        lambda: exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                    person_id=spare.id, reason="x"),
        lambda: exchange.remove_entry(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                                      version=entry.version, reason="x"),
        lambda: exchange.move_entry(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                                    version=entry.version, position=1, reason="x"),
        lambda: exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                     version=frozen.version),
        lambda: exchange.add_proposed(session=session, actor=staff, audit_key=audit_key, list_id=row.id),
    ):
        with pytest.raises(exchange.ListFrozen):
            change()
    second = new_list(session, audit_key, staff, office)
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=second.id, person_id=spare.id,
                        reason="Следующий.")
    session.refresh(second)
    assert exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=second.id,
                                version=second.version).number == 2


def test_the_file_is_recorded_at_its_first_export_and_never_changes(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, make_user: Any
) -> None:
    person = confirmed(surname="=HYPERLINK(\"http://example.org\",\"x\")", given_name="@SUM(1)",
                       report={"capture_date": "2024-08-10", "capture_place": "Суджа"})
    row = new_list(session, audit_key, staff, office)
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=person.id,
                        reason="Мать просила.")
    session.refresh(row)
    exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version,
                         today=TODAY)
    first = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    assert first.first and first.filename == "exchange-list-0001.xlsx"
    # The person changes afterwards; the frozen list's file does not.
    registry.update_person(session=session, actor=session.get(User, person.created_by_id), audit_key=audit_key,
                           person_id=person.id, version=person.version,
                           person={"surname": "Макетов", "given_name": "Пётр"})
    again = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    assert not again.first and again.data == first.data and again.sha256 == first.sha256
    session.refresh(row)
    assert row.file_sha256 == first.sha256 and row.file_size == len(first.data)
    import io

    sheet = load_workbook(io.BytesIO(first.data)).worksheets[0]
    values = [cell.value for cell in sheet[2]]
    assert any(isinstance(v, str) and "HYPERLINK" in v for v in values)
    assert all(cell.data_type != "f" for cell in sheet[2])
    snapshot = json.loads(session.exec(select(ExchangeListEntry)).one().snapshot)
    assert snapshot["given_name"] == "@SUM(1)"


def test_a_draft_cannot_be_exported_nor_an_empty_list_frozen(session: Session, audit_key: bytes, staff: User,
                                                              office: Any) -> None:
    row = new_list(session, audit_key, staff, office)
    with pytest.raises(FieldErrors):
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    with pytest.raises(FieldErrors):
        exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version)


def _frozen_list(session: Session, audit_key: bytes, staff: User, office: Any, *persons: Any) -> ExchangeList:
    row = new_list(session, audit_key, staff, office)
    for person in persons:
        exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=person.id,
                            reason="Мать просила.")
    session.refresh(row)
    return exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                version=row.version, today=TODAY)


def test_outcomes_flow_to_the_person_and_every_linked_inquiry(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, time_machine: Any
) -> None:
    from pow_registry.domain.references import access_code_digest
    from pow_registry.models import Inquiry, InquiryStatus, Person
    from pow_registry.services import family

    key = b"k" * 32
    person, other = confirmed(), confirmed(surname="Макетов", given_name="Пётр", date_of_birth="1990-06-01")
    mother = add_inquiry(session, person_id=person.id, status=InquiryStatus.match_found,
                         access_code_digest=access_code_digest("AAAA-BBBB-CCCC-DDDD", key))
    sister = add_inquiry(session, person_id=person.id, status=InquiryStatus.searching, requester_name="Сестра")
    row = _frozen_list(session, audit_key, staff, office, person, other)
    for inquiry in (mother, sister):
        session.refresh(inquiry)
        assert inquiry.status == InquiryStatus.on_exchange_list
    # The family sees it only once staff cleared it, and then with the date the name was sent.
    seen = family.check_status(session, reference=mother.reference, code="AAAA-BBBB-CCCC-DDDD", key=key)
    assert seen is not None and seen.status == InquiryStatus.received and seen.since is None
    mother.family_status = InquiryStatus.on_exchange_list
    session.add(mother)
    session.commit()
    view = family.check_status(session, reference=mother.reference, code="AAAA-BBBB-CCCC-DDDD", key=key)
    assert view is not None and view.since == row.frozen_at.date()
    entries = {e.entry.person_id: e.entry for e in exchange.list_detail(session, row.id).entries}
    entry = entries[person.id]
    with pytest.raises(FieldErrors) as refused:
        exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                                version=entry.version, outcome="exchanged")
    assert set(refused.value.errors) == {"outcome_date"}
    time_machine.move_to(datetime(2026, 11, 30, 15, tzinfo=UTC))
    exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                            version=entry.version, outcome="exchanged", outcome_date="30.11.2026",
                            note="Обмен 30 ноября (вымышленный).")
    session.expire_all()
    assert session.get(Person, person.id).status == PersonStatus.exchanged
    assert {i.status for i in session.exec(select(Inquiry))} == {InquiryStatus.returned}
    assert session.get(ExchangeList, row.id).state == ListState.frozen  # one answer still missing
    mother = session.get(Inquiry, mother.id)
    mother.family_status = InquiryStatus.returned
    session.add(mother)
    session.commit()
    view = family.check_status(session, reference=mother.reference, code="AAAA-BBBB-CCCC-DDDD", key=key)
    assert view is not None and view.since == date(2026, 11, 30)
    last = entries[other.id]
    exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=last.id,
                            version=last.version, outcome="not_found")
    session.expire_all()
    assert session.get(ExchangeList, row.id).state == ListState.closed
    assert session.get(Person, other.id).status == PersonStatus.confirmed_captured
    history = exchange.submission_history(session, person.id)
    assert [(r.number, e.outcome.value) for r, e in history] == [(1, "exchanged")]
    # "not found" is a final answer: he may be proposed again.
    second = new_list(session, audit_key, staff, office)
    assert [c.person.id for c in exchange.proposals(session, second, today=TODAY)] == [other.id]


def test_answers_only_on_frozen_lists(session: Session, audit_key: bytes, staff: User, office: Any,
                                      confirmed: Any) -> None:
    person = confirmed()
    row = new_list(session, audit_key, staff, office)
    entry = exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                person_id=person.id, reason="Мать просила.")
    with pytest.raises(FieldErrors):
        exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                                version=entry.version, outcome="acknowledged")


def test_export_list_on_the_command_line(app: Any, session: Session, audit_key: bytes, staff: User, office: Any,
                                         confirmed: Any, tmp_path: Any) -> None:
    import hashlib
    import stat

    row = _frozen_list(session, audit_key, staff, office, confirmed())
    runner = app.test_cli_runner()
    out = tmp_path / "list.xlsx"
    result = runner.invoke(args=["export", "list", str(row.id), str(out)])
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest in result.output and "recorded now" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = runner.invoke(args=["export", "list", str(row.id), str(tmp_path / "again.xlsx")])
    assert (tmp_path / "again.xlsx").read_bytes() == out.read_bytes() and "the same as recorded" in again.output
    draft = new_list(session, audit_key, staff, office)
    refused = runner.invoke(args=["export", "list", str(draft.id), str(tmp_path / "draft.xlsx")])
    assert refused.exit_code != 0 and "frozen" in refused.output
    assert runner.invoke(args=["export", "list", "999", str(tmp_path / "none.xlsx")]).exit_code != 0


def test_the_offices_answers_come_back_in_its_own_spreadsheet(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, time_machine: Any
) -> None:
    import io

    from pow_registry.models import Person

    first, second, third = (confirmed(surname=s, given_name=g, date_of_birth=d) for s, g, d in (
        ("Выдумкин", "Виталий", "2005-03-12"), ("Макетов", "Пётр", "1990-06-01"), ("Шаблонов", "Олег", "1987")))
    row = _frozen_list(session, audit_key, staff, office, first, second, third)
    sent = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id).data
    book = load_workbook(io.BytesIO(sent))
    sheet = book.worksheets[0]
    answer_column = sheet.max_column + 1
    sheet.cell(row=1, column=answer_column, value="Відповідь")
    sheet.cell(row=1, column=answer_column + 1, value="Дата обміну")
    sheet.cell(row=2, column=answer_column, value="обміняно")
    sheet.cell(row=2, column=answer_column + 1, value="01.12.2026")
    sheet.cell(row=3, column=answer_column, value="не знайдено")
    # row 4: no answer yet
    for extra in book.worksheets[1:]:
        book.remove(extra)
    returned = io.BytesIO()
    book.save(returned)
    time_machine.move_to(datetime(2026, 12, 2, 9, tzinfo=UTC))  # the answer arrives the day after

    def answer(data: bytes, dry_run: bool = False) -> Any:
        return exchange.import_outcomes(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                        data=data, filename="answer.xlsx", dry_run=dry_run)

    dry = answer(returned.getvalue(), dry_run=True)
    assert dry.ok and dry.rows_created == 2 and dry.rows_skipped == 1
    assert all(e.outcome is None for e in session.exec(select(ExchangeListEntry)))
    report = answer(returned.getvalue())
    assert report.ok and report.rows_created == 2
    session.expire_all()
    outcomes = {e.person_id: (e.outcome.value if e.outcome else None, e.outcome_date)
                for e in session.exec(select(ExchangeListEntry))}
    assert outcomes == {first.id: ("exchanged", "2026-12-01"), second.id: ("not_found", None), third.id: (None, None)}
    assert session.get(Person, first.id).status == PersonStatus.exchanged
    # A bad answer anywhere: nothing recorded, every bad row named.
    sheet.cell(row=4, column=answer_column, value="может быть")
    sheet.cell(row=2, column=answer_column + 1, value="")
    bad = io.BytesIO()
    book.save(bad)
    refused = answer(bad.getvalue())
    assert {(e.row, e.column) for e in refused.errors} == {(2, "outcome_date"), (4, "outcome")}


def test_later_downloads_are_the_kept_file_and_a_tampered_copy_is_refused(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any
) -> None:
    row = _frozen_list(session, audit_key, staff, office, confirmed())
    assert not exchange.regenerate_matches_record(session, row.id, audit_key=audit_key)  # nothing recorded yet
    first = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    assert exchange.regenerate_matches_record(session, row.id, audit_key=audit_key)
    stored = session.get(ExchangeList, row.id)
    middle = len(first.data) // 2
    stored.file_data = first.data[:middle] + bytes([first.data[middle] ^ 0xFF]) + first.data[middle + 1 :]
    session.add(stored)
    session.commit()
    with pytest.raises(Conflict):
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)


def _tamper(session: Session, statement: str, **values: Any) -> None:
    """A change made straight in the database, as someone with access to it but without the audit
    key would make it (no service, no audit event)."""
    from sqlalchemy import text

    session.exec(text(statement).bindparams(**values))
    session.commit()
    session.expire_all()


def _swapped_file(session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any) -> tuple[ExchangeList, bytes, bytes]:
    """A list exported once, and another spreadsheet (a list naming someone else) to swap in."""
    row = _frozen_list(session, audit_key, staff, office, confirmed(surname="Выдумкин"))
    sent = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id).data
    other = _frozen_list(session, audit_key, staff, office, confirmed(surname="Макетов", given_name="Пётр"))
    forged = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=other.id).data
    assert forged != sent
    return row, sent, forged


def test_a_file_swapped_with_its_hash_column_is_refused_against_the_audit_log(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any
) -> None:
    import hashlib

    row, sent, forged = _swapped_file(session, audit_key, staff, office, confirmed)
    assert exchange.recorded_sha256(session, audit_key=audit_key, list_id=row.id) == hashlib.sha256(sent).hexdigest()
    # The file and the hash beside it rewritten together: the row agrees with itself, not with the log.
    _tamper(session, "UPDATE exchange_list SET file_data = :data, file_sha256 = :digest, file_size = :size "
                     "WHERE id = :id", data=forged, digest=hashlib.sha256(forged).hexdigest(), size=len(forged),
            id=row.id)
    with pytest.raises(exchange.TamperedExport):
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    # Put back, the kept file is served again, and the hash given is the log's.
    _tamper(session, "UPDATE exchange_list SET file_data = :data WHERE id = :id", data=sent, id=row.id)
    again = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    assert again.data == sent and again.sha256 == hashlib.sha256(sent).hexdigest() and not again.first


def test_an_export_event_rewritten_without_the_audit_key_is_refused(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any
) -> None:
    import hashlib

    from pow_registry.models import AuditEvent

    row, sent, forged = _swapped_file(session, audit_key, staff, office, confirmed)
    # The event is checked with the audit key: the genuine one does not verify under another key.
    assert exchange.recorded_sha256(session, audit_key=audit_key, list_id=row.id) == hashlib.sha256(sent).hexdigest()
    with pytest.raises(exchange.TamperedExport):
        exchange.recorded_sha256(session, audit_key=b"not the audit key" * 2, list_id=row.id)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "list.export",
                                                  AuditEvent.entity_id == row.id)).one()
    digest = hashlib.sha256(forged).hexdigest()
    _tamper(session, "UPDATE exchange_list SET file_data = :data, file_sha256 = :digest WHERE id = :id",
            data=forged, digest=digest, id=row.id)
    _tamper(session, "UPDATE audit_event SET changes = :changes WHERE id = :id",
            changes=json.dumps({"file_sha256": [None, digest], "file_size": [None, len(forged)]}), id=event.id)
    with pytest.raises(exchange.TamperedExport):
        exchange.recorded_sha256(session, audit_key=audit_key, list_id=row.id)
    with pytest.raises(exchange.TamperedExport):
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)


def test_a_file_without_its_export_event_or_an_event_without_its_file_is_refused(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any
) -> None:
    row, sent, _forged = _swapped_file(session, audit_key, staff, office, confirmed)
    _tamper(session, "UPDATE exchange_list SET file_data = NULL WHERE id = :id", id=row.id)
    with pytest.raises(exchange.TamperedExport):  # not made afresh and recorded a second time
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)
    _tamper(session, "UPDATE exchange_list SET file_data = :data WHERE id = :id", data=sent, id=row.id)
    _tamper(session, "DELETE FROM audit_event WHERE action = 'list.export' AND entity_id = :id", id=row.id)
    with pytest.raises(exchange.TamperedExport):  # a kept file no export recorded
        exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id)


@pytest.mark.parametrize(("answered", "accepted"), [
    (date(2026, 11, 21), False),  # the day before the freeze
    (date(2026, 11, 22), True),   # the day of the freeze: today
    (date(2026, 11, 23), True),   # tomorrow in UTC is already today east of it
    (date(2026, 11, 24), False),  # the future
])
def test_an_exchange_is_dated_between_the_freeze_and_today(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, answered: date, accepted: bool
) -> None:
    row = _frozen_list(session, audit_key, staff, office, confirmed())
    entry = exchange.list_detail(session, row.id).entries[0].entry

    def record() -> Any:
        return exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                                       version=entry.version, outcome="exchanged",
                                       outcome_date=answered.strftime("%d.%m.%Y"))

    if accepted:
        assert record().outcome_date == answered.isoformat()
    else:
        with pytest.raises(FieldErrors) as refused:
            record()
        assert set(refused.value.errors) == {"outcome_date"}
        session.rollback()
        assert session.get(ExchangeListEntry, entry.id).outcome is None


def _every_cell_text(data: bytes) -> str:
    import io

    book = load_workbook(io.BytesIO(data))
    return "\n".join(str(cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
                     if cell.value is not None)


@pytest.mark.parametrize("consent", [False, True])
def test_consent_governs_what_reaches_the_office_and_the_reference_never_does(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, consent: bool
) -> None:
    """Without the family's consent to share, nothing about them reaches the office: no "a family
    is asking" category, no points for it. With it, the category, and still never their
    reference, which is their key to the status page (an office refers to a man as P-000123)."""
    son = confirmed(surname="Выдумкин")
    mother = add_inquiry(session, person_id=son.id, consent_share=consent, notes="Пишу тайно от соседей.",
                         requester_name="Выдумкина Анна")
    row = new_list(session, audit_key, staff, office)
    proposed = {c.person.id: c for c in exchange.proposals(session, row, today=TODAY)}[son.id]
    assert ("with_inquiry" in proposed.priority.categories) is consent
    assert proposed.inquiry_references == [mother.reference]  # staff still see who is asking
    # An office that once asked for the reference column gets the list without it.
    office.columns = "row_number,person_ref,surname,inquiry_reference"
    session.add(office)
    session.commit()
    frozen = _frozen_list(session, audit_key, staff, office, son)
    data = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=frozen.id).data
    text = _every_cell_text(data)
    assert mother.reference not in text and "INQ-" not in text
    assert "Пишу тайно" not in text and "Выдумкина Анна" not in text
    import io

    cover = {row[0]: row[1] for row in load_workbook(io.BytesIO(data)).worksheets[1].iter_rows(values_only=True)}
    assert cover[exchange_xlsx_label("with_inquiry")] == (1 if consent else 0)
    entry = session.exec(select(ExchangeListEntry).where(ExchangeListEntry.list_id == frozen.id)).one()
    assert mother.reference not in entry.snapshot and ("with_inquiry" in entry.categories) is consent


def exchange_xlsx_label(category: str) -> str:
    from pow_registry.domain.exchange_xlsx import CATEGORY_LABELS

    return CATEGORY_LABELS[category]["uk"]  # the fixture office reads Ukrainian


def test_a_list_that_names_one_man_twice_is_not_frozen_until_the_pair_is_settled(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, make_user: Callable[..., User]
) -> None:
    from pow_registry.models import MatchCandidate
    from pow_registry.services import reviews

    first = confirmed(surname="Выдумкин", date_of_birth="2005-03-12", unit="в/ч 12345")
    second = confirmed(surname="Выдумкін", given_name="Віталій", date_of_birth="2005-03-12", unit="в/ч 12345")
    other = confirmed(surname="Макетов", given_name="Пётр", date_of_birth="1980")
    pair = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "person",
                                                     MatchCandidate.right_kind == "person")).one()
    assert {pair.left_id, pair.right_id} == {first.id, second.id}
    row = new_list(session, audit_key, staff, office)
    for person in (first, other):
        exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=person.id,
                            reason="Мать просила.")
    assert exchange.duplicates_on_list(session, row.id) == []  # only one of the two is on it
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=second.id,
                        reason="Из другого видео.")
    [found] = exchange.duplicates_on_list(session, row.id)
    assert found.match_id == pair.id and set(found.person_ids) == {first.id, second.id}
    assert exchange.list_detail(session, row.id).duplicates == [found]
    session.refresh(row)
    with pytest.raises(FieldErrors) as refused:
        exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version)
    assert "the same man" in str(refused.value.errors["list"].template)
    assert session.get(ExchangeList, row.id).state == ListState.draft
    # A researcher decides they are two men: the list may be frozen.
    researcher = make_user("researcher")
    session.refresh(pair)
    reviews.reject(session=session, actor=researcher, audit_key=audit_key, match_id=pair.id, version=pair.version,
                    reason="Разные люди: другое отчество на видео.")
    assert exchange.duplicates_on_list(session, row.id) == []
    session.refresh(row)
    exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version)


def test_a_russian_office_gets_every_name_in_russian_letters_and_where_the_spelling_came_from(
    session: Session, audit_key: bytes, staff: User, make_user: Callable[..., User], confirmed: Any
) -> None:
    import io

    from pow_registry.models import InquiryStatus

    russian = exchange.create_office(session=session, actor=make_user("admin"), audit_key=audit_key,
                                     data={"name": "Вымышленный омбудсмен", "country": "RU", "language": "ru",
                                           "contact": "office@example.org", "columns": ""})
    asked = confirmed(surname="Eskizov", given_name="Maxim", patronymic="", date_of_birth="2004-05-06")
    add_inquiry(session, person_id=asked.id, status=InquiryStatus.match_found, consent_share=True,
                surname="Эскизов", given_name="Максим", patronymic="Олегович", date_of_birth="2004-05-06")
    ukrainian = confirmed(surname="Вигадько", given_name="Олексій", patronymic="Євгенович", date_of_birth="1990-01-02")
    private = confirmed(surname="Maketov", given_name="Petr", patronymic="", date_of_birth="1987-07-08")
    add_inquiry(session, person_id=private.id, status=InquiryStatus.match_found, consent_share=False,
                surname="Макетов", given_name="Пётр", patronymic="Тайнович", date_of_birth="1987-07-08")
    russian_already = confirmed(surname="Небывалов", given_name="Григорий", patronymic="Ильич",
                                date_of_birth="2001-02-03")
    frozen = _frozen_list(session, audit_key, staff, russian, asked, ukrainian, private, russian_already)
    data = exchange.export_list(session=session, actor=staff, audit_key=audit_key, list_id=frozen.id).data
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = {label: index for index, label in enumerate(rows[0])}
    sent = {row[header["Фамилия (как записано)"]]: (row[header["Фамилия"]], row[header["Имя"]],
                                                     row[header["Отчество"]] or "", row[header["Написание ФИО"]])
            for row in rows[1:]}
    assert sent["Eskizov"] == ("Эскизов", "Максим", "Олегович", "как пишет семья")
    assert sent["Вигадько"] == ("Вигадько", "Алексей", "Евгеньевич", "преобразовано, просим проверить")
    # A family that did not agree to share gives nothing, not even its spelling.
    assert sent["Maketov"] == ("Макетов", "Пётр", "", "преобразовано, просим проверить")
    assert sent["Небывалов"] == ("Небывалов", "Григорий", "Ильич", "как в реестре")
    assert "Тайнович" not in _every_cell_text(data)


def test_men_the_office_would_read_under_one_name_are_pointed_out() -> None:
    """Found in a browser walk: «Выдумкин Виталий Евгеньевич» and «Выдумкін Віталій Євгенович»
    (different birth dates, so the matcher pairs them with no one) went on one list without a
    word, and the Russian office's file named him twice."""
    from pow_registry.models import Person

    russian = Person(id=1, surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич", date_of_birth="2005-03-12")
    ukrainian = Person(id=2, surname="Выдумкін", given_name="Віталій", patronymic="Євгенович", date_of_birth="1999")
    other = Person(id=3, surname="Макетов", given_name="Пётр", patronymic="", date_of_birth="1990")
    views = [exchange.EntryView(None, person, None, []) for person in (russian, ukrainian, other)]  # type: ignore[arg-type]
    found = exchange.same_names_on_list(views, "ru", [])
    assert [(printed, [p.id for p in persons]) for printed, persons in found] == [
        ("Выдумкин Виталий Евгеньевич", [1, 2])]
    # A pair the matcher already proposes is settled in the duplicates banner, not twice.
    pair = exchange.DuplicateOnList(match_id=7, person_ids=(1, 2), score=0.9)
    assert exchange.same_names_on_list(views, "ru", [pair]) == []


@pytest.mark.parametrize("kind", ["exchange", "verification"])
def test_a_man_without_a_surname_is_not_proposed_added_or_frozen_on_a_list(
    session: Session, audit_key: bytes, staff: User, office: Any, confirmed: Any, make_user: Callable[..., User],
    kind: str,
) -> None:
    """Issue 13: the registry takes a man by his call sign, but an office cannot look for "Unknown
    (call sign Sokol)": he is held back from the proposals, refused when added by number, and a
    list that came to hold one (his surname taken out of his record) is refused at freezing with
    the rows named, until he is named or taken off."""
    named = confirmed(surname="Макетов", given_name="Пётр", date_of_birth="1980")
    nameless = confirmed(surname="", given_name="Виктор", patronymic="", date_of_birth="", unit="в/ч 12345")
    call_sign = confirmed(surname="", given_name="", patronymic="", date_of_birth="", call_sign="Сокол")
    row = new_list(session, audit_key, staff, office, kind=kind)
    assert [c.person.id for c in exchange.proposals(session, row, today=TODAY)] == [named.id]
    assert exchange.held_back(session, row) == ([nameless, call_sign], 2)
    before = session.exec(select(AuditEvent.id)).all()
    with pytest.raises(FieldErrors) as refused:
        exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                            person_id=call_sign.id, reason="Видео.")
    assert refused.value.errors == {"person_id": exchange.NO_SURNAME}
    assert session.exec(select(AuditEvent.id)).all() == before
    assert exchange.add_proposed(session=session, actor=staff, audit_key=audit_key, list_id=row.id, today=TODAY) == 1

    # Named when he was added; the surname found to be wrong and taken out of his record later.
    researcher = make_user("researcher")
    later = confirmed(surname="Шаблонов", given_name="Олег", date_of_birth="1990")
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=row.id, person_id=later.id,
                        reason="Мать просила.")
    registry.update_person(session=session, actor=researcher, audit_key=audit_key, person_id=later.id,
                           version=later.version, person={"given_name": "Олег", "date_of_birth": "1990"})
    detail = exchange.list_detail(session, row.id, today=TODAY)
    assert [v.person.id for v in detail.unnamed] == [later.id]
    assert detail.same_names == []
    session.refresh(row)
    with pytest.raises(FieldErrors) as refused:
        exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id, version=row.version)
    message = refused.value.errors["list"]
    assert "without a surname" in message.template and message.params["rows"] == f"2 (P-{later.id:06d})"
    assert session.get(ExchangeList, row.id).state == ListState.draft
    # Named again: the list is frozen, and every row of its file has a surname.
    registry.update_person(session=session, actor=researcher, audit_key=audit_key, person_id=later.id,
                           version=session.get(type(later), later.id).version,
                           person={"surname": "Шаблонов", "given_name": "Олег", "date_of_birth": "1990"})
    session.refresh(row)
    frozen = exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=row.id,
                                  version=row.version)
    rows = exchange.list_export(session, frozen).rows
    assert [r.surname for r in rows] == ["Макетов", "Шаблонов"]
