"""A family's contact data: encrypted at rest, searchable by phone, never in the audit log,
erasable on request and by retention, re-encryptable under a new key (all people fictitious)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from pow_registry import clock
from pow_registry.domain.contact_crypto import (
    ContactCrypto,
    ContactKeyError,
    InvalidToken,
    generate_data_key,
    generate_index_key,
)
from pow_registry.domain.references import access_code_digest
from pow_registry.models import AuditEvent, Inquiry, InquiryChannel, InquiryPhone
from pow_registry.services import audit, contact_data, inquiries
from pow_registry.services.errors import FieldErrors

FAMILY = {
    "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "2005-03-12",
    "requester_name": "Выдумкина Ольга Петровна", "requester_relationship": "мать",
    "requester_email": "vydumkina@example.org", "requester_country": "RU",
    "phones": "8 999 000-00-01\n+7 999 000 00 02", "preferred_language": "ru", "consent_contact": "y",
}
CLEAR_VALUES = ("Выдумкина", "vydumkina", "9990000001", "9990000002", "999 000")


def raw_rows(session: Session) -> str:
    """Every stored inquiry and phone row as text, read past the ORM."""
    rows = [*session.execute(text("SELECT * FROM inquiry")).all(),
            *session.execute(text("SELECT * FROM inquiry_phone")).all()]
    session.commit()
    return repr(rows)


@pytest.fixture
def staff(make_user: Any) -> Any:
    return make_user("staff", email="staff@example.org")


@pytest.fixture
def create(session: Session, audit_key: bytes, app: Any, staff: Any) -> Any:
    def factory(**fields: Any) -> inquiries.IssuedInquiry:
        return inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key,
                                        access_key=app.config["ACCESS_CODE_KEY_BYTES"], data={**FAMILY, **fields})

    return factory


# ---------------------------------------------------------------------------------------------
# The domain module (no app, no database)


def test_cipher_round_trip_rotation_and_digests() -> None:
    old, new, index = generate_data_key(), generate_data_key(), generate_index_key()
    before = ContactCrypto([old], index)
    token = before.encrypt("+79990000001")
    assert "9990000001" not in token and before.decrypt(token) == "+79990000001"
    assert before.encrypt("") == "" and before.decrypt("") == ""
    after = ContactCrypto([new, old], index)
    assert after.decrypt(token) == "+79990000001" and not after.is_current(token)
    rotated = after.rotate(token)
    assert after.is_current(rotated) and ContactCrypto([new], index).decrypt(rotated) == "+79990000001"
    with pytest.raises(InvalidToken):
        ContactCrypto([old], index).decrypt(rotated)
    # The blind index and the digests depend on the index key only, and differ from each other.
    assert after.blind_index("+79990000001") == before.blind_index("+79990000001")
    assert before.blind_index("+79990000001") != ContactCrypto([old], generate_index_key()).blind_index("+79990000001")
    assert before.digest("phone", "+79990000001") != before.digest("phone", "+79990000002")
    assert before.digest("phone", "+79990000001") not in before.blind_index("+79990000001")
    with pytest.raises(ContactKeyError):
        ContactCrypto([], index)
    with pytest.raises(ContactKeyError):
        ContactCrypto(["not a key"], index)
    with pytest.raises(ContactKeyError):
        ContactCrypto([old], "short")


# ---------------------------------------------------------------------------------------------
# At rest, in search, in the audit log


def test_the_database_holds_no_contact_value_and_search_by_phone_still_finds(session, create, audit_key):
    issued = create()
    stored = raw_rows(session)
    for clear in CLEAR_VALUES:
        assert clear not in stored, clear
    assert "мать" in stored  # the relationship stays in clear: it identifies nobody
    row = session.get(Inquiry, issued.inquiry.id, populate_existing=True)
    assert (row.requester_name, row.requester_email) == ("Выдумкина Ольга Петровна", "vydumkina@example.org")
    assert [p.e164 for p in inquiries.phones_of(session, row.id)] == ["+79990000001", "+79990000002"]
    for typed in ("+7 999 000-00-02", "89990000001"):
        found, total = inquiries.search_inquiries(session, inquiries.InquiryQuery(phone=typed))
        assert [i.id for i in found] == [row.id] and total == 1
    found, total = inquiries.search_inquiries(session, inquiries.InquiryQuery(phone="+7 999 000 00 09"))
    assert total == 0
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "inquiry")).all()
    for event in events:
        for clear in CLEAR_VALUES:
            assert clear not in event.changes, clear
    assert audit.verify_chain(session, key=audit_key).ok


def test_the_admin_audit_page_says_phone_changed_never_the_number(session, create, staff, audit_key, make_user,
                                                                  login, client):
    inquiry = create().inquiry
    inquiries.update_inquiry(session=session, actor=staff, audit_key=audit_key, inquiry_id=inquiry.id,
                             version=inquiry.version, data={**FAMILY, "phones": "+7 999 000 00 03"})
    # An event from before encryption, holding the values themselves: still never shown.
    audit.record(session, key=audit_key, actor=staff, action="inquiry.create", entity_type="inquiry",
                 entity_id=inquiry.id, changes={"requester_name": [None, "Макетова Ирина"],
                                                "phones": [None, ["+79990000077"]], "surname": [None, "Макетов"]})
    session.commit()
    admin = make_user("admin", email="admin@example.org")
    login(admin)
    client.post("/language", data={"lang-language": "en"})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Phone numbers changed" in page and "Name of the person asking changed" in page
    for clear in (*CLEAR_VALUES, "Макетова", "9990000077", "9990000003"):
        assert clear not in page, clear
    assert "Макетов" in page  # the sought man's name stays readable
    assert audit.verify_chain(session, key=audit_key).ok


# ---------------------------------------------------------------------------------------------
# Erasure on request


def test_staff_erase_a_familys_contact_data_and_the_status_page_still_works(app, session, create, staff, login,
                                                                           client, audit_key):
    issued = create()
    inquiry = issued.inquiry
    session.commit()
    login(staff)
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "contact-data/erase" in page
    url = f"/inquiries/{inquiry.id}/contact-data/erase"
    # Without the confirmation, or without a reason: nothing happens.
    for data in ({"version": inquiry.version, "reason": "Семья попросила."}, {"version": inquiry.version, "confirm": "y"}):
        assert client.post(url, data=data).status_code == 302
        assert session.get(Inquiry, inquiry.id, populate_existing=True).requester_name
        session.commit()  # end the read: SQLite transactions here begin IMMEDIATE
    response = client.post(url, data={"version": inquiry.version, "reason": "Мать попросила по телефону.", "confirm": "y"})
    assert response.status_code == 302
    row = session.get(Inquiry, inquiry.id, populate_existing=True)
    assert (row.requester_name, row.requester_email) == ("", "") and row.contact_erased_at is not None
    assert session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry.id)).all() == []
    assert (row.surname, row.given_name, row.reference) == ("Выдумкин", "Виталий", inquiry.reference)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.contact_erase")).one()
    assert json.loads(event.changes) == {"by": "request", "erased": ["requester_name", "requester_email", "phones"],
                                         "reason": "Мать попросила по телефону."}
    assert event.actor_id == staff.id
    assert audit.verify_chain(session, key=audit_key).ok
    session.commit()
    # The family still reads its status with its reference and code.
    family = app.test_client()
    answer = family.post("/status", data={"reference": inquiry.reference, "access_code": issued.access_code})
    assert answer.status_code == 200 and inquiry.reference in answer.get_data(as_text=True)
    # Erased once: the form is gone and the page says when.
    page = client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert "contact-data/erase" not in page


def test_only_staff_may_erase(session, create, make_user, audit_key):
    inquiry = create().inquiry
    with pytest.raises(contact_data.Forbidden):
        contact_data.erase_contact_data(session=session, actor=make_user("admin"), audit_key=audit_key,
                                        inquiry_id=inquiry.id, version=inquiry.version, reason="x", confirmed=True)
    with pytest.raises(FieldErrors) as errors:
        contact_data.erase_contact_data(session=session, actor=make_user("staff"), audit_key=audit_key,
                                        inquiry_id=inquiry.id, version=inquiry.version, reason=" ", confirmed=False)
    assert set(errors.value.errors) == {"reason", "confirm"}
    assert session.get(Inquiry, inquiry.id, populate_existing=True).requester_name


# ---------------------------------------------------------------------------------------------
# Retention and rotation from the command line


def test_retention_run_erases_contact_data_of_long_closed_inquiries(app, session, create, staff, audit_key,
                                                                   time_machine):
    time_machine.move_to(clock.now(), tick=False)
    closed = create().inquiry
    still_open = create(phones="+7 999 000 00 05", requester_email="").inquiry
    inquiries.change_status(session=session, actor=staff, audit_key=audit_key, inquiry_id=closed.id,
                            version=closed.version, status="closed", closed_reason="withdrawn")
    runner = app.test_cli_runner()
    time_machine.shift(timedelta(days=364))
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0 and "Erased the contact data of 0 inquiries closed more than 365 days ago." in result.output
    time_machine.shift(timedelta(days=2))
    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"Would erase the contact data of {closed.reference}" in dry.output
    assert session.get(Inquiry, closed.id, populate_existing=True).requester_name  # nothing erased
    session.commit()
    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert f"Erased the contact data of {closed.reference}" in result.output and "of 1 inquiries" in result.output
    row = session.get(Inquiry, closed.id, populate_existing=True)
    assert row.requester_name == "" and row.contact_erased_at == clock.now()
    assert session.get(Inquiry, still_open.id, populate_existing=True).requester_name  # open: kept
    session.commit()
    again = runner.invoke(args=["retention", "run"])
    assert "of 0 inquiries" in again.output  # idempotent
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.contact_erase")).all()
    assert [json.loads(e.changes)["by"] for e in events] == ["retention"] and events[0].entity_id == closed.id
    session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_keys_rotate_contact_data_re_encrypts_under_the_first_key(make_app, session, create, audit_key):
    create()
    old_keys = session.get_bind().dialect.pow_registry_contact_crypto
    session.commit()
    tokens_before = raw_rows(session)
    from pow_registry.config import _TEST_CONTACT_KEYS

    new_key = generate_data_key()
    rotated_app = make_app(CONTACT_DATA_KEYS=[new_key, _TEST_CONTACT_KEYS[0]], CONTACT_INDEX_KEY=_TEST_CONTACT_KEYS[1])
    runner = rotated_app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate-contact-data"])
    assert result.exit_code == 0, result.output
    assert "1 inquiries and 2 phone numbers" in result.output
    again = runner.invoke(args=["keys", "rotate-contact-data"])
    assert again.exit_code == 0 and "already encrypted with the first key" in again.output
    assert raw_rows(session) != tokens_before
    # Only the new key is needed now: the old one can go.
    only_new = make_app(CONTACT_DATA_KEYS=[new_key], CONTACT_INDEX_KEY=_TEST_CONTACT_KEYS[1])
    with Session(only_new.extensions["pow_registry.engine"]) as fresh:
        row = fresh.exec(select(Inquiry)).one()
        assert row.requester_name == "Выдумкина Ольга Петровна"
        found, _ = inquiries.search_inquiries(fresh, inquiries.InquiryQuery(phone="89990000002"))
        assert [i.id for i in found] == [row.id]
        events = fresh.exec(select(AuditEvent).where(AuditEvent.action == "keys.rotate_contact_data")).all()
        assert [json.loads(e.changes) for e in events] == [{"inquiries": 1, "phone_rows": 2}]
        assert audit.verify_chain(fresh, key=audit_key).ok
    assert old_keys is not None


# ---------------------------------------------------------------------------------------------
# The same family sending the same inquiry twice


def _token(client: Any) -> str:
    match = re.search(r'name="submission" type="hidden" value="([A-Za-z0-9_-]{32})"',
                      client.get("/inquire").get_data(as_text=True))
    assert match
    return match.group(1)


def test_the_same_phone_asking_about_the_same_man_within_a_day_is_recognised(app, session, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    client = app.test_client()  # no language chosen on this device: the one the family asked for
    data = {**FAMILY, "consent_share": "", "requester_name": "Небывалова Вера", "preferred_language": "uk"}
    first = client.post("/inquire", data={**data, "submission": _token(client)})
    assert first.status_code == 303
    reference = session.exec(select(Inquiry)).one().reference
    session.commit()
    # Later that day, another form (a new token), the number typed differently, the name in Latin.
    time_machine.shift(timedelta(hours=20))
    again = client.post("/inquire", data={**data, "phones": "+79990000002", "surname": "Vydumkin",
                                          "given_name": "Vitaliy", "submission": _token(client)})
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and '<html lang="uk">' in page
    assert reference not in page
    assert len(session.exec(select(Inquiry)).all()) == 1
    session.commit()
    # The words (English here: the ru/uk catalogues get them from pending-translations/privacy.tsv).
    english = app.test_client()
    english.post("/language", data={"lang-language": "en"})
    page = english.post("/inquire", data={**data, "submission": _token(english)}).get_data(as_text=True)
    assert "We already have your inquiry" in page and "are still valid" in page and reference not in page
    # Another man from the same phone is a new inquiry; so is the same man a day and more later.
    other = client.post("/inquire", data={**data, "given_name": "Пётр", "submission": _token(client)})
    assert other.status_code == 303
    time_machine.shift(timedelta(hours=5))
    later = client.post("/inquire", data={**data, "submission": _token(client)})
    assert later.status_code == 303
    assert len(session.exec(select(Inquiry)).all()) == 3


def test_a_staff_inquiry_from_the_same_phone_is_not_refused(session, create):
    create()
    create()  # staff take what the family says: two inquiries are theirs to merge or close
    assert len(session.exec(select(Inquiry).where(Inquiry.channel == InquiryChannel.staff)).all()) == 2


def test_a_code_for_an_erased_inquiry_still_matches(app, session, create, staff, audit_key):
    issued = create()
    contact_data.erase_contact_data(session=session, actor=staff, audit_key=audit_key, inquiry_id=issued.inquiry.id,
                                    version=issued.inquiry.version, reason="просьба семьи", confirmed=True)
    row = session.get(Inquiry, issued.inquiry.id, populate_existing=True)
    assert row.access_code_digest == access_code_digest(issued.access_code, app.config["ACCESS_CODE_KEY_BYTES"])


def test_an_erased_inquiry_can_still_be_edited_and_contact_data_given_again(session, create, staff, audit_key):
    issued = create()
    row = contact_data.erase_contact_data(session=session, actor=staff, audit_key=audit_key,
                                          inquiry_id=issued.inquiry.id, version=issued.inquiry.version,
                                          reason="просьба семьи", confirmed=True)
    no_contact = {**FAMILY, "requester_name": "", "requester_email": "", "phones": ""}
    row = inquiries.update_inquiry(session=session, actor=staff, audit_key=audit_key, inquiry_id=row.id,
                                   version=row.version, data={**no_contact, "unit": "в/ч 54321"})
    assert row.unit == "в/ч 54321" and row.contact_erased_at is not None
    with pytest.raises(FieldErrors):  # an inquiry never erased still needs the name of who asks
        create(requester_name="")
    row = inquiries.update_inquiry(session=session, actor=staff, audit_key=audit_key, inquiry_id=row.id,
                                   version=row.version, data={**no_contact, "phones": "+7 999 000 00 04"})
    assert row.contact_erased_at is None  # reachable again: retention applies once more


def test_erased_contact_data_is_not_left_in_the_sqlite_file(app, session, create, staff, audit_key):
    """Erasing overwrites what it deletes (secure_delete): the tokens are gone from the file too."""
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the bytes of a SQLite file")
    import sqlite3
    from pathlib import Path

    issued = create()
    tokens = [t for t in re.findall(r"gAAAAA[\w-]+=*", raw_rows(session))]
    assert len(tokens) == 6  # name, email, two numbers as typed and in E.164
    contact_data.erase_contact_data(session=session, actor=staff, audit_key=audit_key, inquiry_id=issued.inquiry.id,
                                    version=issued.inquiry.version, reason="просьба семьи", confirmed=True)
    session.close()
    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for token in tokens:
        assert token[:40].encode() not in data
