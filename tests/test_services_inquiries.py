"""Family inquiries, staff side (services.inquiries), and their import (services.imports), on
SQLite and PostgreSQL.

Everyone here is invented (Выдумкин, Макетов, Небывалов...); phone numbers are from the +7 999
range, emails under example.org.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from sqlalchemy import String, Text, func
from sqlmodel import Session, SQLModel, select

from pow_registry.domain.references import access_code_matches, normalise_access_code
from pow_registry.models import (
    AuditEvent,
    ClosedReason,
    ImportBatch,
    Inquiry,
    InquiryChannel,
    InquiryPhone,
    InquiryStatus,
    User,
)
from pow_registry.services import audit, imports, inquiries
from pow_registry.services.errors import Conflict, FieldErrors, Forbidden, NotFound
from pow_registry.services.inquiries import InquiryQuery

GOOD = {
    "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "12.03.2005",
    "unit": "в/ч 12345", "service_category": "conscript", "last_contact_date": "2024-08",
    "last_known_place": "Суджа", "notes": "Звонил последний раз в августе.",
    "requester_name": "Выдумкина Ольга", "requester_relationship": "мать",
    "requester_email": "vydumkina@example.org", "requester_country": "RU", "preferred_language": "ru",
    "consent_contact": True, "consent_share": False, "phones": "+7 999 000-00-01\n8 999 000 00 02",
}


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("staff")


@pytest.fixture
def access_key(app: Any) -> bytes:
    return app.config["ACCESS_CODE_KEY_BYTES"]


@pytest.fixture
def svc(session: Session, audit_key: bytes) -> dict[str, Any]:
    return {"session": session, "audit_key": audit_key}


@pytest.fixture
def create(svc: dict[str, Any], access_key: bytes, staff: User) -> Callable[..., inquiries.IssuedInquiry]:
    def do(actor: User | None | str = "staff", **fields: Any) -> inquiries.IssuedInquiry:
        who = staff if actor == "staff" else actor
        channel = fields.pop("channel", InquiryChannel.staff if who is not None else InquiryChannel.family_form)
        return inquiries.create_inquiry(**svc, actor=who, access_key=access_key, data={**GOOD, **fields},
                                        channel=channel)  # type: ignore[arg-type]
    return do


def count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(model)).one())


def text_values(session: Session) -> list[str]:
    """Every text value in every table of the database."""
    values = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        if columns:
            for row in session.execute(select(*columns)).all():
                values.extend(str(v) for v in row if v is not None)
    session.commit()
    return values


def code_forms(code: str) -> list[str]:
    compact = code.replace("-", "")
    return [code, compact, compact.lower()]


# ---------------------------------------------------------------------------------------------
# Parsing


def test_parse_reads_every_field() -> None:
    values = inquiries.parse_inquiry({**GOOD, "surname": " Выдумкин\u200b ", "consent_share": "да"})
    assert values["surname"] == "Выдумкин"
    assert values["date_of_birth"] == "2005-03-12" and values["last_contact_date"] == "2024-08"
    assert values["service_category"].value == "conscript"
    assert (values["consent_contact"], values["consent_share"]) == (True, True)
    assert [(p.e164, p.raw, p.region) for p in values["phones"]] == [
        ("+79990000001", "+7 999 000-00-01", "RU"), ("+79990000002", "8 999 000 00 02", "RU")]


@pytest.mark.parametrize(("phones", "country", "expected"), [
    ("8 999 000 00 01", "RU", [("+79990000001", "RU")]),  # the Russian trunk 8 needs the region
    ("+7 701 000 0003", "RU", [("+77010000003", "KZ")]),  # +7 7… is Kazakhstan
    (["+7 999 000 00 01", "+380 67 000 0005"], "RU", [("+79990000001", "RU"), ("+380670000005", "UA")]),
    ("+7 999 000 00 01, +375 29 100 00 06; 067 000 0005", "UA",
     [("+79990000001", "RU"), ("+375291000006", "BY"), ("+380670000005", "UA")]),
    ("+7 999 000 00 01\n+7 (999) 000-00-01", "RU", [("+79990000001", "RU")]),  # the same number once
    ("", "RU", []),
])
def test_phones_several_numbers_in_order(phones: Any, country: str, expected: list[tuple[str, str]]) -> None:
    values = inquiries.parse_inquiry({**GOOD, "phones": phones, "requester_country": country})
    assert [(p.e164, p.region) for p in values["phones"]] == expected
    assert values["requester_country"] == country


def test_an_invalid_number_names_which_one() -> None:
    with pytest.raises(FieldErrors) as exc:
        inquiries.parse_inquiry({**GOOD, "phones": "+7 999 000 00 01\n8 123"})
    message = exc.value.errors["phones"]
    assert "Number 2 (8 123)" in message and "not a valid phone number" in message
    with pytest.raises(FieldErrors) as exc:
        inquiries.parse_inquiry({**GOOD, "phones": "12\n+7 999 000 00 01\nабв"})
    assert "1 (12)" in exc.value.errors["phones"] and "3 (абв)" in exc.value.errors["phones"]


@pytest.mark.parametrize(("fields", "bad"), [
    ({"surname": "", "given_name": ""}, "surname"),
    ({"requester_name": "  "}, "requester_name"),
    ({"date_of_birth": "31.02.2005"}, "date_of_birth"),
    ({"last_contact_date": "вчера"}, "last_contact_date"),
    ({"last_contact_date": "2100-01"}, "last_contact_date"),  # after today: a typo
    ({"date_of_birth": "2100"}, "date_of_birth"),
    ({"service_category": "general"}, "service_category"),
    ({"requester_email": "not-an-email"}, "requester_email"),
    ({"requester_country": "XX"}, "requester_country"),
    ({"requester_country": "001"}, "requester_country"),
    ({"preferred_language": "de"}, "preferred_language"),
    ({"consent_contact": "maybe"}, "consent_contact"),
    ({"notes": "x" * 10_001}, "notes"),
    ({"surname": "В" * 201}, "surname"),
    ({"phones": "\n".join(f"+7 999 000 00 {n:02d}" for n in range(11))}, "phones"),
])
def test_bad_input_is_refused_field_by_field(fields: dict[str, Any], bad: str) -> None:
    with pytest.raises(FieldErrors) as exc:
        inquiries.parse_inquiry({**GOOD, **fields})
    assert bad in exc.value.errors


def test_a_given_name_alone_is_enough_and_defaults_apply() -> None:
    values = inquiries.parse_inquiry({"given_name": "Виталий", "requester_name": "Выдумкина Ольга"})
    assert values["surname"] == "" and values["requester_country"] == "RU"
    assert values["preferred_language"] == "ru" and values["phones"] == []
    assert (values["consent_contact"], values["consent_share"]) == (False, False)


# ---------------------------------------------------------------------------------------------
# Create and the access code


def test_create_returns_a_code_that_matches_and_is_stored_nowhere(session, create, staff, access_key, audit_key):
    issued = create()
    inquiry = issued.inquiry
    assert inquiry.reference.startswith("INQ-") and normalise_access_code(issued.access_code) == issued.access_code
    assert access_code_matches(issued.access_code, inquiry.access_code_digest, access_key)
    assert not access_code_matches(issued.access_code, inquiry.access_code_digest, b"another key of 32 bytes........")
    # Staff took it: searching; the derived keys are filled.
    assert (inquiry.status, inquiry.channel, inquiry.created_by_id) == (InquiryStatus.searching, InquiryChannel.staff, staff.id)
    assert inquiry.surname_key and inquiry.birth_year == 2005 and inquiry.unit_number == "12345"
    phones = session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry.id)
                          .order_by(InquiryPhone.position)).all()
    assert [(p.e164, p.raw, p.region) for p in phones] == [
        ("+79990000001", "+7 999 000-00-01", "RU"), ("+79990000002", "8 999 000 00 02", "RU")]
    # The code is nowhere in the database (in any spelling), and the audit log has neither it nor its digest.
    stored = text_values(session)
    for form in code_forms(issued.access_code):
        assert not any(form in value for value in stored), form
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "inquiry")).all()
    assert [e.action for e in events] == ["inquiry.create"]
    for event in events:
        assert inquiry.access_code_digest not in event.changes
        assert issued.access_code.replace("-", "") not in event.changes.replace("-", "")
    assert inquiry.reference in events[0].changes
    # The family's contact data is named, never given: keyed digests stand in for the values.
    changes = json.loads(events[0].changes)
    assert {"requester_name", "requester_email", "phones"} <= set(changes)
    for value in ("9990000001", "9990000002", "Выдумкина", "vydumkina"):
        assert value not in events[0].changes
    assert audit.verify_chain(session, key=audit_key).ok


def test_the_family_form_and_roles(session, create, make_user):
    family = create(actor=None, channel=InquiryChannel.family_form)
    assert (family.inquiry.status, family.inquiry.created_by_id) == (InquiryStatus.received, None)
    event = session.exec(select(AuditEvent).where(AuditEvent.entity_id == family.inquiry.id,
                                                  AuditEvent.entity_type == "inquiry")).one()
    assert event.actor_id is None
    before = count(session, Inquiry)
    with pytest.raises(Forbidden):
        create(actor=None, channel=InquiryChannel.staff)  # no actor is not staff
    for role in ("researcher", "admin"):
        with pytest.raises(Forbidden):
            create(actor=make_user(role))
    assert count(session, Inquiry) == before


def test_bad_input_writes_nothing(session, create):
    before = {m: count(session, m) for m in (Inquiry, InquiryPhone, AuditEvent)}
    with pytest.raises(FieldErrors) as exc:
        create(phones="+7 999 000 00 01\n+7 000")
    assert set(exc.value.errors) == {"phones"}
    assert {m: count(session, m) for m in before} == before


def test_a_taken_source_ref_is_refused(session, svc, access_key):
    inquiries.create_inquiry(**svc, actor=None, access_key=access_key, data=GOOD, channel=InquiryChannel.imported,
                             source_ref="SRC-1")
    before = count(session, Inquiry)
    with pytest.raises(FieldErrors) as exc:
        inquiries.create_inquiry(**svc, actor=None, access_key=access_key, data=GOOD,
                                 channel=InquiryChannel.imported, source_ref=" SRC-1 ")
    assert set(exc.value.errors) == {"source_ref"}
    assert count(session, Inquiry) == before


def test_references_are_unique_even_when_the_first_try_collides(session, create, monkeypatch):
    first = create().inquiry
    tries = iter([first.reference, first.reference, "INQ-7KD2-9QXM"])
    monkeypatch.setattr(inquiries, "new_reference", lambda: next(tries))
    assert create().inquiry.reference == "INQ-7KD2-9QXM"


def test_reissue_invalidates_the_old_code(session, create, staff, svc, access_key, make_user):
    issued = create()
    old_digest = issued.inquiry.access_code_digest
    new_code = inquiries.reissue_access_code(**svc, actor=staff, access_key=access_key, inquiry_id=issued.inquiry.id)
    row = session.get(Inquiry, issued.inquiry.id, populate_existing=True)
    assert new_code != issued.access_code and row.access_code_digest != old_digest
    assert access_code_matches(new_code, row.access_code_digest, access_key)
    assert not access_code_matches(issued.access_code, row.access_code_digest, access_key)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.access_code")).one()
    assert new_code.replace("-", "") not in event.changes.replace("-", "") and row.access_code_digest not in event.changes
    for form in code_forms(new_code):
        assert not any(form in value for value in text_values(session))
    with pytest.raises(Forbidden):
        inquiries.reissue_access_code(**svc, actor=make_user("researcher"), access_key=access_key,
                                      inquiry_id=issued.inquiry.id)
    with pytest.raises(NotFound):
        inquiries.reissue_access_code(**svc, actor=staff, access_key=access_key, inquiry_id=999_999)


# ---------------------------------------------------------------------------------------------
# Editing: optimistic locking, phones replaced


def test_update_replaces_the_phones_and_a_stale_version_is_a_conflict(session, create, staff, svc):
    inquiry = create().inquiry
    version = inquiry.version
    updated = inquiries.update_inquiry(**svc, actor=staff, inquiry_id=inquiry.id, version=version,
                                       data={**GOOD, "given_name": "Виталик", "phones": ["+7 701 000 0003"]})
    assert updated.given_name == "Виталик" and updated.version == version + 1
    phones = session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry.id)).all()
    assert [(p.e164, p.region, p.position) for p in phones] == [("+77010000003", "KZ", 0)]
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.update")).one()
    assert "Виталик" in event.changes and "7010000003" not in event.changes
    changes = json.loads(event.changes)
    assert len(changes["phones"][0]) == 2 and len(changes["phones"][1]) == 1  # which changed, not what
    assert "requester_name" not in changes  # unchanged, so not named

    with pytest.raises(Conflict):  # the form was loaded before that change
        inquiries.update_inquiry(**svc, actor=staff, inquiry_id=inquiry.id, version=version,
                                 data={**GOOD, "given_name": "Другое"})
    row = session.get(Inquiry, inquiry.id, populate_existing=True)
    assert row.given_name == "Виталик"
    with pytest.raises(Conflict):
        inquiries.update_inquiry(**svc, actor=staff, inquiry_id=inquiry.id, version="x", data=GOOD)


def test_the_same_numbers_typed_differently_are_still_saved(session, create, staff, svc):
    inquiry = create(phones="+7 999 000 00 01").inquiry
    inquiries.update_inquiry(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version,
                             data={**GOOD, "phones": "8 (999) 000-00-01"})
    assert [p.raw for p in inquiries.phones_of(session, inquiry.id)] == ["8 (999) 000-00-01"]


def test_a_bad_update_changes_nothing(session, create, staff, svc, make_user):
    inquiry = create().inquiry
    admin = make_user("admin")
    before = {m: count(session, m) for m in (InquiryPhone, AuditEvent)}
    with pytest.raises(FieldErrors):
        inquiries.update_inquiry(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version,
                                 data={**GOOD, "phones": "ноль"})
    with pytest.raises(Forbidden):
        inquiries.update_inquiry(**svc, actor=admin, inquiry_id=inquiry.id, version=inquiry.version, data=GOOD)
    assert {m: count(session, m) for m in before} == before
    assert session.get(Inquiry, inquiry.id, populate_existing=True).version == inquiry.version


# ---------------------------------------------------------------------------------------------
# Status and what the family sees


def test_status_triage(session, create, staff, svc):
    inquiry = create(actor=None, channel=InquiryChannel.family_form).inquiry
    assert inquiry.status == InquiryStatus.received
    row = inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version, status="searching")
    assert row.status == InquiryStatus.searching
    with pytest.raises(FieldErrors) as exc:  # closing needs a reason
        inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="closed")
    assert "closed_reason" in exc.value.errors
    with pytest.raises(FieldErrors) as exc:  # a status other services set needs a note by hand
        inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="match_found")
    assert "note" in exc.value.errors
    row = inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="closed",
                                  closed_reason="duplicate", note="Та же семья, второе обращение.")
    assert (row.status, row.closed_reason) == (InquiryStatus.closed, ClosedReason.duplicate)
    row = inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="searching")
    assert (row.status, row.closed_reason) == (InquiryStatus.searching, None)  # reopened
    row = inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version,
                                  status="match_found", note="Подтверждено по видео.")
    assert row.status == InquiryStatus.match_found
    with pytest.raises(Conflict):
        inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=1, status="searching")
    with pytest.raises(FieldErrors):
        inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="lost")
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.status")).all()
    assert len(events) == 4 and "Подтверждено по видео." in events[-1].changes


@pytest.mark.parametrize(("status", "allowed"), [
    (InquiryStatus.received, {"received"}),
    (InquiryStatus.searching, {"received", "searching"}),
    (InquiryStatus.match_found, {"received", "searching", "match_found"}),
    (InquiryStatus.on_exchange_list, {"received", "searching", "match_found", "on_exchange_list"}),
    (InquiryStatus.returned, {"received", "searching", "match_found", "on_exchange_list", "returned"}),
    (InquiryStatus.closed, {"closed"}),
])
def test_the_family_is_never_told_more_than_the_search_reached(status: InquiryStatus, allowed: set[str]) -> None:
    assert {s.value for s in InquiryStatus if inquiries.family_status_allowed(status, s)} == allowed


def test_clear_for_family(session, create, staff, svc, make_user):
    inquiry = create().inquiry  # searching
    researcher = make_user("researcher")
    with pytest.raises(FieldErrors) as exc:
        inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version,
                                   family_status="match_found", message="")
    assert "family_status" in exc.value.errors
    with pytest.raises(FieldErrors):
        inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version,
                                   family_status="closed", message="")
    with pytest.raises(FieldErrors) as exc:
        inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=inquiry.version,
                                   family_status="searching", message="x" * 2001)
    assert "family_message" in exc.value.errors
    with pytest.raises(Forbidden):
        inquiries.clear_for_family(**svc, actor=researcher, inquiry_id=inquiry.id,
                                   version=inquiry.version, family_status="searching", message="")
    row = session.get(Inquiry, inquiry.id, populate_existing=True)
    assert row.family_status is None and row.family_cleared_at is None and row.version == inquiry.version

    loaded = inquiry.version
    row = inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=loaded,
                                     family_status="searching",
                                     message="  Мы ищем.\r\nПозвоним вам.\u202e\x00 ")
    assert (row.family_status, row.family_message) == (InquiryStatus.searching, "Мы ищем.\nПозвоним вам.")
    assert row.family_cleared_by_id == staff.id and row.family_cleared_at is not None
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.family_clear")).one()
    assert "Позвоним" in event.changes
    with pytest.raises(Conflict):  # the form was loaded before that clearance
        inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=loaded,
                                   family_status="received", message="")
    closed = inquiries.change_status(**svc, actor=staff, inquiry_id=inquiry.id, version=row.version, status="closed",
                                     closed_reason="withdrawn")
    row = inquiries.clear_for_family(**svc, actor=staff, inquiry_id=inquiry.id, version=closed.version,
                                     family_status="closed", message="Обращение закрыто по вашей просьбе.")
    assert row.family_status == InquiryStatus.closed


# ---------------------------------------------------------------------------------------------
# Search and the inquiry page


def test_search_by_reference_name_status_and_phone(session, create, staff, svc):
    vydumkin = create().inquiry
    maketov = create(surname="Макетов", given_name="Алексей", phones="+7 701 000 0003", requester_country="KZ").inquiry
    latin = create(surname="Vydumkin", given_name="Vitalii", phones="").inquiry
    zagotkin = create(surname="Zagotkin", given_name="Egor", phones="").inquiry

    def found(**query: Any) -> list[int]:
        rows, total = inquiries.search_inquiries(session, InquiryQuery(**query))
        assert total == len(rows)
        return sorted(r.id for r in rows)

    assert found() == sorted([vydumkin.id, maketov.id, latin.id, zagotkin.id])
    assert found(text=vydumkin.reference.lower().replace("-", " ")) == [vydumkin.id]
    assert found(text=vydumkin.reference.removeprefix("INQ-")) == [vydumkin.id]
    assert found(text="Выдумкин") == sorted([vydumkin.id, latin.id])  # any script
    assert found(text="Vydumkin Vitaly") == sorted([vydumkin.id, latin.id])
    assert found(text="Maketov") == [maketov.id]
    assert found(text="Zagotkin") == [zagotkin.id]  # eight letters that also read as a reference
    assert found(text="Заготкин") == [zagotkin.id]
    assert found(text="%") == [] and found(text="_") == [] and found(text="Вы%") == []
    assert found(phone="8 999 000-00-02") == [vydumkin.id]
    assert found(phone="+77010000003") == [maketov.id]
    inquiries.change_status(**svc, actor=staff, inquiry_id=maketov.id, version=maketov.version, status="closed",
                            closed_reason="found_elsewhere")
    assert found(status="closed") == [maketov.id]
    with pytest.raises(FieldErrors):
        found(status="lost")
    with pytest.raises(FieldErrors):
        found(phone="123")


def test_search_pages_with_a_cap(session, create):
    for n in range(5):
        create(surname=f"Небывалов{'аб'[n % 2]}", phones="")
    rows, total = inquiries.search_inquiries(session, InquiryQuery(), page=2, page_size=2)
    assert total == 5 and len(rows) == 2
    rows, _ = inquiries.search_inquiries(session, InquiryQuery(), page=1, page_size=10_000)
    assert len(rows) == 5


def test_inquiry_detail(session, create, staff, svc, make_person):
    person = make_person()
    mother = create().inquiry
    wife = create(requester_name="Выдумкина Анна", requester_relationship="жена").inquiry
    other = create(surname="Макетов").inquiry
    for row in (mother, wife):  # linked as the matching review would link them
        stored = session.get(Inquiry, row.id)
        stored.sought_group_id, stored.person_id = mother.id, person.id
        session.add(stored)
    session.commit()
    detail = inquiries.inquiry_detail(session, mother.id)
    assert detail.person.id == person.id
    assert [r.id for r in detail.relatives] == [wife.id]
    assert [p.e164 for p in detail.phones] == ["+79990000001", "+79990000002"]
    assert [e.action for e in detail.audit_events] == ["inquiry.create"]
    assert inquiries.inquiry_detail(session, other.id).relatives == []
    with pytest.raises(NotFound):
        inquiries.inquiry_detail(session, 999_999)


# ---------------------------------------------------------------------------------------------
# Import


IMPORT_HEADERS = ["source_ref", "surname", "given_name", "patronymic", "date_of_birth", "unit", "service_category",
                  "last_contact_date", "last_known_place", "requester_name", "requester_relationship",
                  "requester_phone", "requester_email", "preferred_language", "notes"]
IMPORT_ROWS = [
    ["INQ-IMP-1", "Выдумкин", "Виталий", "Евгеньевич", "2005", "в/ч 12345", "conscript", "2024-08-05", "Суджа",
     "Выдумкина Ольга", "мать", "8 999 000 00 01, +7 701 000 0003", "vydumkina@example.org", "ru", ""],
    ["INQ-IMP-2", "Макетов", "", "", "", "", "", "", "", "Макетова Ирина", "сестра", "", "", "uk", "Fictitious."],
    ["INQ-IMP-3", "", "Олексій", "", "2003-05", "", "", "", "", "Шаблонова Марія", "мати", "+380 67 000 0005", "",
     "", ""],
]
RUSSIAN_HEADERS = ["Номер записи", "Фамилия", "Имя", "Отчество", "Дата рождения", "Воинская часть",
                   "Вид службы", "Дата последней связи", "Последнее известное место", "ФИО заявителя",
                   "Степень родства", "Телефон", "Электронная почта", "Язык", "Примечания"]


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def run_import(session: Session, audit_key: bytes, access_key: bytes, staff: User) -> Callable[..., imports.ImportReport]:
    def do(data: bytes, filename: str = "inquiries.csv", *, actor: User | None = None,
           dry_run: bool = False) -> imports.ImportReport:
        return imports.import_inquiries(session=session, actor=actor or staff, audit_key=audit_key,
                                        access_key=access_key, data=data, filename=filename, dry_run=dry_run)
    return do


def state(session: Session) -> dict[str, int]:
    return {m.__name__: count(session, m) for m in (Inquiry, InquiryPhone, AuditEvent, ImportBatch)}


@pytest.mark.parametrize(("fmt", "headers"), [("csv", IMPORT_HEADERS), ("xlsx", IMPORT_HEADERS), ("csv", RUSSIAN_HEADERS)])
def test_import_writes_every_row_with_a_code_and_again_adds_nothing(session, run_import, access_key, staff, audit_key,
                                                                     fmt, headers):
    rows = [headers, *IMPORT_ROWS]
    data = csv_bytes(rows) if fmt == "csv" else xlsx_bytes(rows)
    report = run_import(data, f"inquiries.{fmt}")
    assert report.ok, [e.text() for e in report.errors]
    assert (report.rows_created, report.inquiries_created, report.rows_skipped) == (3, 3, 0)
    assert [c.source_ref for c in report.codes] == ["INQ-IMP-1", "INQ-IMP-2", "INQ-IMP-3"]
    for issued in report.codes:
        row = session.exec(select(Inquiry).where(Inquiry.reference == issued.reference)).one()
        assert row.source_ref == issued.source_ref
        assert (row.channel, row.status, row.created_by_id) == (InquiryChannel.imported, InquiryStatus.received, staff.id)
        assert access_code_matches(issued.access_code, row.access_code_digest, access_key)
    first = session.exec(select(Inquiry).where(Inquiry.source_ref == "INQ-IMP-1")).one()
    assert [(p.e164, p.region) for p in inquiries.phones_of(session, first.id)] == [
        ("+79990000001", "RU"), ("+77010000003", "KZ")]
    stored = text_values(session)
    for issued in report.codes:
        assert not any(issued.access_code in v or issued.access_code.replace("-", "") in v for v in stored)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "import.inquiries")).one().actor_id == staff.id

    before = state(session)
    again = run_import(data, f"inquiries.{fmt}")
    assert again.ok and (again.rows_created, again.rows_skipped, again.codes) == (0, 3, [])
    assert state(session)["Inquiry"] == before["Inquiry"]
    assert audit.verify_chain(session, key=audit_key).ok


def test_import_is_all_or_nothing_and_lists_every_bad_row(session, run_import):
    bad = [IMPORT_HEADERS, *IMPORT_ROWS,
           ["INQ-IMP-4", "", "", "", "", "", "", "", "", "Кто-то", "", "", "", "", ""],
           ["INQ-IMP-5", "Небывалов", "", "", "2005-13", "", "", "", "", "", "", "8 123", "", "de", ""],
           ["INQ-IMP-1", "Небывалов", "", "", "", "", "", "", "", "Небывалова", "", "", "", "", ""],
           ["", "Небывалов", "", "", "", "", "", "", "", "Небывалова", "", "", "", "", ""]]
    before = state(session)
    report = run_import(csv_bytes(bad))
    assert not report.ok and report.codes == [] and report.rows_created == 0
    found = {(e.row, e.column) for e in report.errors}
    assert {(5, "surname"), (6, "date_of_birth"), (6, "requester_name"), (6, "requester_phone"),
            (6, "preferred_language"), (7, "source_ref"), (8, "source_ref")} <= found
    phone_error = next(e for e in report.errors if e.column == "requester_phone")
    assert "Number 1 (8 123)" in phone_error.text()
    assert state(session) == before


def test_import_dry_run_writes_nothing_and_issues_no_code(session, run_import):
    before = state(session)
    report = run_import(csv_bytes([IMPORT_HEADERS, *IMPORT_ROWS]), dry_run=True)
    assert report.ok and (report.rows_created, report.inquiries_created, report.codes) == (3, 3, [])
    assert state(session) == before


@pytest.mark.parametrize(("rows", "where"), [
    ([["source_ref", "surname"], ["R-1", "Макетов"]], "requester_name"),
    ([["source_ref", "requester_name", "patronymic"], ["R-1", "Макетова", "Игоревич"]], "surname/given_name"),
    ([["surname", "requester_name"], ["Макетов", "Макетова"]], "source_ref"),
])
def test_import_required_columns(session, run_import, rows, where):
    report = run_import(csv_bytes(rows))
    assert [(e.row, e.column) for e in report.errors] == [(1, where)]


def test_import_refuses_hostile_or_unknown_files(session, run_import, make_user):
    researcher = make_user("researcher")
    before = state(session)
    assert not run_import(b"\x00\x01 not a spreadsheet", "inquiries.xlsx").ok
    assert not run_import("source_ref,surname,requester_name,capture_place\nR,Макетов,Макетова,Суджа\n".encode()).ok
    assert not run_import(csv_bytes([IMPORT_HEADERS, *IMPORT_ROWS]), "inquiries.txt").ok
    formula = xlsx_bytes([["source_ref", "surname", "requester_name"], ["R-1", "=HYPERLINK(\"x\")", "Макетова"]])
    assert not run_import(formula, "inquiries.xlsx").ok
    refused = run_import(csv_bytes([IMPORT_HEADERS, *IMPORT_ROWS]), actor=researcher)
    assert [e.text() for e in refused.errors] == ["Only staff may import inquiries."]
    assert state(session) == before


def test_a_failure_while_writing_leaves_nothing_and_no_codes(session, run_import, monkeypatch):
    """The third row's source_ref was saved by someone else after the import looked: the
    database refuses it, nothing is kept, no code is handed out, and that row is reported."""
    assert run_import(csv_bytes([IMPORT_HEADERS, IMPORT_ROWS[2]])).ok
    real = imports._existing_refs
    looked = iter(range(10))
    monkeypatch.setattr(imports, "_existing_refs",
                        lambda *args: set() if next(looked) == 0 else real(*args))
    before = state(session)
    report = run_import(csv_bytes([IMPORT_HEADERS, *IMPORT_ROWS]))
    assert not report.ok and report.codes == [] and report.rows_created == 0
    assert [(e.row, e.column) for e in report.errors] == [(4, "source_ref")]
    assert state(session) == before


def test_the_command_line_account_gains_the_staff_role_for_inquiries(session, audit_key, run_import):
    researcher_account = imports.system_actor(session, audit_key=audit_key)
    assert researcher_account.roles == "researcher"
    stand_in = imports.system_actor(session, audit_key=audit_key, create=False, role=imports.Role.staff)
    assert stand_in.id is None and stand_in.has_role(imports.Role.staff)
    assert session.get(User, researcher_account.id, populate_existing=True).roles == "researcher"
    account = imports.system_actor(session, audit_key=audit_key, role=imports.Role.staff)
    assert account.id == researcher_account.id and account.roles == "researcher,staff" and not account.is_active
    assert run_import(csv_bytes([IMPORT_HEADERS, IMPORT_ROWS[0]]), actor=account).ok
    assert audit.verify_chain(session, key=audit_key).ok


def test_demo_inquiries_load_twice_idempotently(app, session, audit_key, access_key):
    from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE, load_demo_data

    passwords = app.extensions["pow_registry.passwords"]
    first = load_demo_data(session=session, audit_key=audit_key, passwords=passwords, access_key=access_key)
    snapshot = state(session)
    second = load_demo_data(session=session, audit_key=audit_key, passwords=passwords, access_key=access_key)
    assert state(session) == snapshot
    assert first.inquiries == second.inquiries == 5
    assert first.family_access == second.family_access == [(DEMO_INQUIRY_REFERENCE, DEMO_ACCESS_CODE)]
    demo = session.exec(select(Inquiry).where(Inquiry.reference == DEMO_INQUIRY_REFERENCE)).one()
    assert access_code_matches(DEMO_ACCESS_CODE, demo.access_code_digest, access_key)
    assert demo.family_status == InquiryStatus.searching
    assert audit.verify_chain(session, key=audit_key).ok
