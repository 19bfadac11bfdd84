"""Ombudsman offices and exchange lists in the browser's terms: admins keep the offices, staff
build a list from the app's proposals, change it with reasons, freeze it and download its
spreadsheet; a frozen list refuses every change (all persons and offices fictitious)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select
from support import add_inquiry, job_page_after, snapshot

from pow_registry import clock
from pow_registry.domain.exchange import age_on
from pow_registry.models import (
    ExchangeList,
    ExchangeListEntry,
    ListState,
    OmbudsmanOffice,
    PersonStatus,
    User,
)
from pow_registry.services import exchange

pytestmark = pytest.mark.db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def login_in_english(login: Any, user: User, client: Any) -> None:
    """Log in and read the pages in English, whatever the translations say."""
    login(user, test_client=client)
    assert client.post("/language", data={"lang-language": "en"}).status_code == 302


@pytest.fixture
def staff(client: Any, make_user: Callable[..., User], login: Any) -> User:
    user = make_user("staff")
    login_in_english(login, user, client)
    return user


@pytest.fixture
def office(session: Session, audit_key: bytes, make_user: Callable[..., User]) -> OmbudsmanOffice:
    row = exchange.create_office(session=session, actor=make_user("admin"), audit_key=audit_key,
                                 data={"name": "Вымышленный омбудсмен", "country": "UA", "language": "uk",
                                       "contact": "office@example.org"})
    session.commit()
    return row


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


def _list(session: Session, list_id: int) -> ExchangeList:
    row = session.exec(select(ExchangeList).where(ExchangeList.id == list_id)
                       .execution_options(populate_existing=True)).one()
    session.commit()  # SQLite: end the test's read so the app can write
    return row


def _entries(session: Session, list_id: int) -> list[ExchangeListEntry]:
    rows = list(session.exec(select(ExchangeListEntry).where(ExchangeListEntry.list_id == list_id)
                             .order_by(ExchangeListEntry.position, ExchangeListEntry.id)  # type: ignore[arg-type]
                             .execution_options(populate_existing=True)))
    session.commit()
    return rows


def _new_list(client: Any, office: OmbudsmanOffice, kind: str = "exchange") -> int:
    response = client.post("/lists/new", data={"office_id": str(office.id), "kind": kind, "title": "Осень 2026",
                                               "notes": "для переговоров"})
    assert response.status_code == 302
    match = re.search(r"/lists/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


# --- offices -----------------------------------------------------------------------------------


def test_an_admin_adds_and_edits_an_office(client: Any, session: Session, make_user: Callable[..., User],
                                           login: Any) -> None:
    login_in_english(login, make_user("admin"), client)
    page = client.get("/admin/offices/new").get_data(as_text=True)
    assert "Date of birth" in page and 'value="surname"' in page  # the columns, labelled in English
    # Ticked out of order: kept in the spreadsheet's order.
    response = client.post("/admin/offices/new", data={"name": "Вымышленный омбудсмен", "country": "ua",
                                                       "language": "uk", "contact": "office@example.org",
                                                       "columns": ["date_of_birth", "surname", "row_number"]})
    assert response.status_code == 302
    office = session.exec(select(OmbudsmanOffice)).one()
    session.commit()
    assert (office.country, office.language, office.columns) == ("UA", "uk", "row_number,surname,date_of_birth")
    listing = client.get("/admin/offices/").get_data(as_text=True)
    assert "Вымышленный омбудсмен" in listing and "Surname" in listing

    edit = client.get(f"/admin/offices/{office.id}/edit").get_data(as_text=True)
    assert re.search(r'value="surname"[^>]*checked|checked[^>]*value="surname"', edit)
    response = client.post(f"/admin/offices/{office.id}/edit",
                           data={"version": office.version, "name": "Вымышленный омбудсмен", "country": "UA",
                                 "language": "en", "contact": "другой адрес", "columns": []})
    assert response.status_code == 302
    session.refresh(office)
    session.commit()
    assert (office.language, office.contact, office.columns, office.is_active) == ("en", "другой адрес", "", True)
    assert exchange.office_columns(office)[0] == "row_number"  # none ticked: every column

    # Refused input: the errors on the form, nothing written.
    before = snapshot(session)
    bad = client.post("/admin/offices/new", data={"name": "Другой омбудсмен", "country": "Ukraine",
                                                  "language": "de", "columns": ["surname", "password"]})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "A two-letter country code, such as UA." in text and text.count("Choose one of the listed values.") == 2
    taken = client.post("/admin/offices/new", data={"name": "Вымышленный омбудсмен", "language": "ru"})
    assert taken.status_code == 400
    assert "An office with this name exists already." in taken.get_data(as_text=True)
    stale = client.post(f"/admin/offices/{office.id}/edit", data={"version": office.version - 1, "name": "Новое имя"})
    assert stale.status_code == 409
    assert snapshot(session) == before


def test_an_office_is_deactivated_and_activated_again(client: Any, session: Session,
                                                      make_user: Callable[..., User], login: Any,
                                                      office: OmbudsmanOffice) -> None:
    login_in_english(login, make_user("admin"), client)
    response = client.post(f"/admin/offices/{office.id}/active", data={"version": office.version, "active": "0"})
    assert response.status_code == 302
    session.refresh(office)
    session.commit()
    assert not office.is_active and office.contact == "office@example.org"
    assert "This office takes no new lists." in client.get(f"/admin/offices/{office.id}/edit").get_data(as_text=True)
    # Staff cannot start a list for it any more.
    staff_client = client.application.test_client()
    login_in_english(login, make_user("staff"), staff_client)
    assert "Вымышленный омбудсмен" not in staff_client.get("/lists/new").get_data(as_text=True)
    assert staff_client.post("/lists/new", data={"office_id": str(office.id), "kind": "exchange"}).status_code == 400
    assert session.exec(select(ExchangeList)).first() is None
    session.commit()
    response = client.post(f"/admin/offices/{office.id}/active", data={"version": office.version, "active": "1"})
    assert response.status_code == 302
    session.refresh(office)
    session.commit()
    assert office.is_active


def test_staff_cannot_touch_the_offices(client: Any, session: Session, staff: User, office: OmbudsmanOffice) -> None:
    before = snapshot(session)
    assert client.get("/admin/offices/").status_code == 403
    assert client.get(f"/admin/offices/{office.id}/edit").status_code == 403
    assert client.post("/admin/offices/new", data={"name": "Другой офис"}).status_code == 403
    assert client.post(f"/admin/offices/{office.id}/edit",
                       data={"version": office.version, "name": "Другой офис"}).status_code == 403
    assert client.post(f"/admin/offices/{office.id}/active",
                       data={"version": office.version, "active": "0"}).status_code == 403
    assert snapshot(session) == before
    assert "/admin/offices/" not in client.get("/lists/").get_data(as_text=True)  # no nav link either


# --- building, freezing and downloading a list ---------------------------------------------------


def test_staff_build_change_freeze_and_download_a_list(client: Any, session: Session, staff: User,
                                                       office: OmbudsmanOffice, confirmed: Any,
                                                       make_person: Any) -> None:
    young = confirmed(surname="Шаблонов", given_name="Пётр", date_of_birth="2005-03-12", service_category="conscript",
                      report={"capture_date": "2024-08-10", "capture_place": "Суджа"})
    wounded = confirmed(surname="Условнов", date_of_birth="1985", health="seriously_wounded",
                        report={"capture_date": "2025-02-01"})
    plain = confirmed(surname="Макетов", date_of_birth="1980", report={"capture_date": "2026-10-01"})
    make_person(surname="Непроверенный")  # reported only: not proposed for exchange
    add_inquiry(session, surname="Шаблонов", given_name="Пётр", person_id=young.id, consent_share=True)

    assert "Вымышленный омбудсмен" in client.get("/lists/new").get_data(as_text=True)
    list_id = _new_list(client, office)
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    # The proposals, best first, with their categories and the reasons in words.
    proposals = page[page.index('id="proposals"'):]
    assert proposals.index("Условнов") < proposals.index("Шаблонов") < proposals.index("Макетов")
    assert "Непроверенный" not in page
    youngest, oldest = age_on("2005-03-12", clock.today()) or (0, 0)
    assert youngest == oldest
    for words in (f"age {youngest}", "days in captivity", "time in captivity", "conscript", "a family is asking",
                  "seriously wounded", "Seriously wounded or sick", "Young (18–25)", "Family inquiry on file"):
        assert words in proposals, words
    assert "age:" not in page and "captivity_days:" not in page and "with_inquiry<" not in page

    # "Add all proposed" adds those shown, in their order.
    ids = ",".join(str(p.id) for p in (wounded, young, plain))
    response = client.post(f"/lists/{list_id}/add-proposed", data={"person_ids": ids})
    assert response.status_code == 302
    entries = _entries(session, list_id)
    assert [e.person_id for e in entries] == [wounded.id, young.id, plain.id]
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert "The app has no one to propose for this list." in page
    assert "Seriously wounded or sick" in page[:page.index('id="entries"')]  # the counts per category

    # Removing needs a reason: without one, 4xx and nothing changed.
    victim = entries[2]
    before = snapshot(session)
    refused = client.post(f"/lists/{list_id}/entries/{victim.id}/remove", data={"version": victim.version, "reason": " "})
    assert 400 <= refused.status_code < 500
    assert "Say why." in refused.get_data(as_text=True)
    assert snapshot(session) == before
    response = client.post(f"/lists/{list_id}/entries/{victim.id}/remove",
                           data={"version": victim.version, "reason": "Семья просит подождать."})
    assert response.status_code == 302
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    removed = page[page.index('id="removed"'):]
    assert "Макетов" in removed and "Семья просит подождать." in removed
    assert "Макетов" in page[page.index('id="proposals"'):]  # proposed again

    # Moving needs a row number and a reason.
    mover = _entries(session, list_id)[1]
    assert mover.person_id == young.id
    before = snapshot(session)
    refused = client.post(f"/lists/{list_id}/entries/{mover.id}/move",
                          data={"version": mover.version, "position": "first", "reason": ""})
    assert refused.status_code == 400 and snapshot(session) == before
    response = client.post(f"/lists/{list_id}/entries/{mover.id}/move",
                           data={"version": mover.version, "position": "1", "reason": "Срочное обращение семьи."})
    assert response.status_code == 302
    active = [e for e in _entries(session, list_id) if e.removed_at is None]
    assert [e.person_id for e in active] == [young.id, wounded.id]

    # Freezing needs the box ticked and the list as the page showed it.
    row = _list(session, list_id)
    before = snapshot(session)
    assert client.post(f"/lists/{list_id}/freeze", data={"version": row.version}).status_code == 400
    assert client.post(f"/lists/{list_id}/freeze", data={"version": row.version - 1, "confirm": "y"}).status_code == 409
    assert snapshot(session) == before
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert "can never be changed" in page
    response = client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"})
    assert response.status_code == 302
    row = _list(session, list_id)
    assert row.state == ListState.frozen and row.number == 1 and row.file_sha256 is None

    # Download: a POST; the first makes the file in a job and records its SHA-256, which the page then shows.
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert f"/lists/{list_id}/download" in page and "its SHA-256 recorded; every later download" in page
    made = job_page_after(client, client.post(f"/lists/{list_id}/download"), client.application).get_data(as_text=True)
    assert "The spreadsheet of list №1 is ready" in made and f'action="/lists/{list_id}/download"' in made
    first = client.post(f"/lists/{list_id}/download")
    assert first.status_code == 200
    assert first.mimetype == XLSX
    assert first.headers["Content-Disposition"] == "attachment; filename=exchange-list-0001.xlsx"
    assert "no-store" in first.headers["Cache-Control"]
    data = first.get_data()
    workbook = load_workbook(io.BytesIO(data))
    cells = [str(c) for sheet in workbook.worksheets for r in sheet.iter_rows(values_only=True) for c in r if c]
    assert any("Шаблонов" in c for c in cells) and any("Условнов" in c for c in cells)
    assert not any("Макетов" in c for c in cells)  # removed before freezing
    digest = hashlib.sha256(data).hexdigest()
    assert _list(session, list_id).file_sha256 == digest
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert digest in page
    second = client.post(f"/lists/{list_id}/download")
    assert second.status_code == 200 and second.get_data() == data
    assert client.get(f"/lists/{list_id}/download").status_code == 405  # never a GET


def test_a_frozen_list_shows_no_change_forms_and_refuses_every_change(
    client: Any, session: Session, staff: User, office: OmbudsmanOffice, confirmed: Any, audit_key: bytes
) -> None:
    first, second = confirmed(surname="Шаблонов"), confirmed(surname="Условнов")
    list_id = _new_list(client, office)
    client.post(f"/lists/{list_id}/add", data={"person_id": str(first.id), "reason": "Тяжёлое ранение."})
    entry = _entries(session, list_id)[0]
    row = _list(session, list_id)
    assert client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"}).status_code == 302
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    for gone in ("/remove", "/move", "/add", "/freeze", 'name="reason"'):
        assert gone not in page, gone
    assert "Тяжёлое ранение." in page and "no answer yet" in page

    row = _list(session, list_id)
    before = snapshot(session)
    attempts = {
        f"/lists/{list_id}/entries/{entry.id}/remove": {"version": entry.version, "reason": "Передумали."},
        f"/lists/{list_id}/entries/{entry.id}/move": {"version": entry.version, "position": "1", "reason": "Так."},
        f"/lists/{list_id}/add": {"person_id": str(second.id), "reason": "Ещё один."},
        f"/lists/{list_id}/add-proposed": {"person_ids": str(second.id)},
        f"/lists/{list_id}/freeze": {"version": row.version, "confirm": "y"},
    }
    for url, data in attempts.items():
        response = client.post(url, data=data)
        assert response.status_code == 409, url
        assert "This list is frozen: it cannot be changed any more." in response.get_data(as_text=True)
    assert snapshot(session) == before


def test_adding_by_registry_number_is_checked(client: Any, session: Session, staff: User, office: OmbudsmanOffice,
                                              confirmed: Any, make_person: Any) -> None:
    man = confirmed(surname="Шаблонов")
    unconfirmed = make_person(surname="Непроверенный")
    list_id = _new_list(client, office)
    before = snapshot(session)
    cases = [
        ({"person_id": "сто", "reason": "Так."}, "A registry number, such as 123."),
        ({"person_id": "999999", "reason": "Так."}, "No such person."),
        ({"person_id": str(unconfirmed.id), "reason": "Так."}, "Only a confirmed prisoner can be proposed for exchange."),
        ({"person_id": str(man.id), "reason": ""}, "Say why."),
    ]
    for data, message in cases:
        response = client.post(f"/lists/{list_id}/add", data=data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), message
    # A proposal's own "add" without a reason: the error shows on that proposal's row.
    response = client.post(f"/lists/{list_id}/add", data={"person_id": str(man.id), "proposal": "1", "reason": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    row = page[page.index(f'id="proposal-{man.id}"'):]
    assert "Say why." in row[:row.index("</tr>")]
    assert snapshot(session) == before
    response = client.post(f"/lists/{list_id}/add", data={"person_id": f" {man.id} ", "reason": "Мать просит."})
    assert response.status_code == 302
    assert [(e.person_id, e.added_reason) for e in _entries(session, list_id)] == [(man.id, "Мать просит.")]
    # A man on one open list is not added to another.
    other = _new_list(client, office)
    response = client.post(f"/lists/{other}/add", data={"person_id": str(man.id), "reason": "Ещё раз."})
    assert response.status_code == 400
    assert "This person is already on another open list." in response.get_data(as_text=True)
    # An entry is changed only through its own list.
    entry = _entries(session, list_id)[0]
    assert client.post(f"/lists/{other}/entries/{entry.id}/remove",
                       data={"version": entry.version, "reason": "Так."}).status_code == 404
    assert client.get("/lists/999999").status_code == 404


def test_the_index_pages_the_lists_newest_first(make_app: Any, session: Session, make_user: Callable[..., User],
                                                login: Any, office: OmbudsmanOffice, audit_key: bytes) -> None:
    app = make_app(PAGE_SIZE=2)
    client = app.test_client()
    user = make_user("staff")
    made = [exchange.create_list(session=session, actor=user, audit_key=audit_key,
                                 data={"office_id": str(office.id), "kind": kind, "title": f"Список {i}"})
            for i, kind in enumerate(("exchange", "verification", "exchange"))]
    session.commit()
    login_in_english(login, user, client)
    first = client.get("/lists/").get_data(as_text=True)
    assert first.index("Список 2") < first.index("Список 1") and "Список 0" not in first
    assert "draft" in first and "Verification request" in first and "Вымышленный омбудсмен" in first
    second = client.get("/lists/?page=2").get_data(as_text=True)
    assert "Список 0" in second and "Список 2" not in second
    assert f"/lists/{made[0].id}" in second


def test_lists_are_for_staff_only(client: Any, session: Session, make_user: Callable[..., User], login: Any,
                                  office: OmbudsmanOffice, audit_key: bytes) -> None:
    row = exchange.create_list(session=session, actor=make_user("staff"), audit_key=audit_key,
                               data={"office_id": str(office.id), "kind": "exchange"})
    session.commit()
    for role in ("researcher", "admin"):
        other = client.application.test_client()
        login(make_user(role), test_client=other)
        before = snapshot(session)
        assert other.get("/lists/").status_code == 403
        assert other.get(f"/lists/{row.id}").status_code == 403
        assert other.get("/lists/new").status_code == 403
        assert other.post("/lists/new", data={"office_id": str(office.id), "kind": "exchange"}).status_code == 403
        assert other.post(f"/lists/{row.id}/freeze", data={"version": row.version, "confirm": "y"}).status_code == 403
        assert other.post(f"/lists/{row.id}/download").status_code == 403
        assert snapshot(session) == before
        assert 'href="/lists/"' not in other.get("/").get_data(as_text=True)


# --- the person's page ---------------------------------------------------------------------------


def test_the_person_page_shows_the_submission_history(client: Any, session: Session, staff: User,
                                                      office: OmbudsmanOffice, confirmed: Any,
                                                      make_user: Callable[..., User], login: Any) -> None:
    man = confirmed(surname="Шаблонов", report={"capture_date": "2024-08-10"})
    page = client.get(f"/registry/persons/{man.id}").get_data(as_text=True)
    assert "Submission history" in page and "He has not been on an exchange list." in page
    list_id = _new_list(client, office)
    client.post(f"/lists/{list_id}/add", data={"person_id": str(man.id), "reason": "Долгий плен."})
    page = client.get(f"/registry/persons/{man.id}").get_data(as_text=True)
    history = page[page.index('id="submissions"'):]
    assert "not yet: the list is a draft" in history and "Вымышленный омбудсмен" in history
    days = (clock.today() - date(2024, 8, 10)).days
    assert f"{days} days" in history and "since 2024-08-10" in history
    row = _list(session, list_id)
    client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"})
    row = _list(session, list_id)
    page = client.get(f"/registry/persons/{man.id}").get_data(as_text=True)
    history = page[page.index('id="submissions"'):]
    assert "№ 1" in history and f'href="/lists/{list_id}"' in history and "no answer yet" in history
    assert row.frozen_at is not None and row.frozen_at.strftime("%Y-%m-%d %H:%M") in history
    sent_days = (row.frozen_at.date() - date(2024, 8, 10)).days
    assert f"<td>{sent_days}</td>" in history
    # A researcher sees the history too, without the staff-only link to the list.
    researcher = client.application.test_client()
    login_in_english(login, make_user("researcher"), researcher)
    page = researcher.get(f"/registry/persons/{man.id}").get_data(as_text=True)
    assert "№ 1" in page and f'href="/lists/{list_id}"' not in page


def _frozen(client: Any, session: Session, office: OmbudsmanOffice, *persons: Any) -> int:
    list_id = _new_list(client, office)
    for person in persons:
        client.post(f"/lists/{list_id}/add", data={"person_id": str(person.id), "reason": "семья просит"})
    row = _list(session, list_id)
    assert client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"}).status_code == 302
    return list_id


def test_answers_are_recorded_by_hand_and_from_the_offices_spreadsheet(
    client: Any, session: Session, staff: User, office: OmbudsmanOffice, confirmed: Any
) -> None:
    from pow_registry.models import Person

    first = confirmed(surname="Выдумкин")
    second = confirmed(surname="Макетов", given_name="Пётр", date_of_birth="1990-06-01")
    list_id = _frozen(client, session, office, first, second)
    entries = _entries(session, list_id)
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert f"/lists/{list_id}/entries/{entries[0].id}/outcome" in page and f"/lists/{list_id}/answers" in page
    # exchanged without a date: refused, nothing recorded
    refused = client.post(f"/lists/{list_id}/entries/{entries[0].id}/outcome",
                          data={"version": entries[0].version, "outcome": "exchanged"})
    assert refused.status_code == 400 and _entries(session, list_id)[0].outcome is None
    done = client.post(f"/lists/{list_id}/entries/{entries[0].id}/outcome",
                       data={"version": entries[0].version, "outcome": "exchanged",
                             "outcome_date": clock.today().isoformat()})  # frozen today, exchanged today
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Person, entries[0].person_id).status == PersonStatus.exchanged
    session.commit()
    answers = "№,Відповідь\n2,не знайдено\n".encode()
    uploaded = client.post(f"/lists/{list_id}/answers", data={"file": (io.BytesIO(answers), "answers.csv")},
                           content_type="multipart/form-data")
    done = job_page_after(client, uploaded, client.application).get_data(as_text=True)
    assert "Recorded 1 answers; 0 rows had no answer yet." in done and f'href="/lists/{list_id}"' in done
    assert [e.outcome.value if e.outcome else None for e in _entries(session, list_id)] == ["exchanged", "not_found"]
    assert _list(session, list_id).state == ListState.closed
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert f"/lists/{list_id}/entries/{entries[0].id}/outcome" not in page  # closed: nothing more to record


def test_the_same_man_twice_is_flagged_at_once_and_blocks_the_freeze(
    client: Any, session: Session, staff: User, office: OmbudsmanOffice, confirmed: Any,
    make_user: Callable[..., User], login: Any
) -> None:
    first = confirmed(surname="Выдумкин", date_of_birth="2005-03-12", unit="в/ч 12345")
    second = confirmed(surname="Выдумкін", given_name="Віталій", date_of_birth="2005-03-12", unit="в/ч 12345")
    list_id = _new_list(client, office)
    assert client.post(f"/lists/{list_id}/add", data={"person_id": str(first.id), "reason": "Мать просила."}
                       ).headers["Location"].endswith("#entries")
    added = client.post(f"/lists/{list_id}/add", data={"person_id": str(second.id), "reason": "Другое видео."})
    assert added.headers["Location"].endswith(f"/lists/{list_id}#duplicates")  # warned at once
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert "may be the same man as someone already on it" in page and 'id="duplicates"' in page
    banner = page[page.index('id="duplicates"'):page.index('id="entries"')]
    assert f"P-{first.id:06d}" in banner and f"P-{second.id:06d}" in banner
    assert "Ask a researcher to review pair" in banner and "/duplicates/" not in banner  # staff may not go there
    row = _list(session, list_id)
    refused = client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"})
    assert refused.status_code == 400 and "may be the same man" in refused.get_data(as_text=True)
    assert _list(session, list_id).state == ListState.draft
    # Someone who is also a researcher gets the link to decide.
    both = client.application.test_client()
    login_in_english(login, make_user("staff", "researcher"), both)
    banner = both.get(f"/lists/{list_id}").get_data(as_text=True)
    assert re.search(r'href="/duplicates/\d+">Compare and decide</a>', banner)
    # Taking one of the two off the list settles it for this list.
    entry = next(e for e in _entries(session, list_id) if e.person_id == second.id)
    client.post(f"/lists/{list_id}/entries/{entry.id}/remove", data={"version": entry.version,
                                                                     "reason": "Тот же человек."})
    assert 'id="duplicates"' not in client.get(f"/lists/{list_id}").get_data(as_text=True)
    row = _list(session, list_id)
    assert client.post(f"/lists/{list_id}/freeze", data={"version": row.version, "confirm": "y"}).status_code == 302


def test_the_list_page_points_out_two_men_the_office_would_read_as_one(
    client: Any, session: Session, staff: User, office: OmbudsmanOffice, confirmed: Any
) -> None:
    first = confirmed(surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич", date_of_birth="2005-03-12",
                      unit="в/ч 11111")
    second = confirmed(surname="Выдумкін", given_name="Віталій", patronymic="Євгенович", date_of_birth="1999",
                       unit="в/ч 22222")
    list_id = _new_list(client, office)
    for person in (first, second):
        client.post(f"/lists/{list_id}/add", data={"person_id": str(person.id), "reason": "семья просит"})
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    # Either the matcher pairs them (the duplicates banner, which stops the freeze) or the names
    # say it (a warning): never nothing.
    banners = "".join(page.split(f'id="{name}"', 1)[1].split("</section>", 1)[0]
                      for name in ("duplicates", "same-names") if f'id="{name}"' in page)
    assert f"P-{first.id:06d}" in banners and f"P-{second.id:06d}" in banners


def test_a_swapped_file_is_not_downloaded_and_the_page_shows_the_hash_the_audit_log_recorded(
    client: Any, session: Session, staff: User, office: OmbudsmanOffice, confirmed: Any
) -> None:
    from sqlalchemy import text

    list_id = _frozen(client, session, office, confirmed(surname="Выдумкин"))
    job_page_after(client, client.post(f"/lists/{list_id}/download"), client.application)  # made in a job
    sent = client.post(f"/lists/{list_id}/download").get_data()
    recorded = hashlib.sha256(sent).hexdigest()
    forged = sent.replace(b"docProps", b"docprops")  # another file, any other bytes will do
    forged_sha256 = hashlib.sha256(forged).hexdigest()
    # Rewritten straight in the database, the hash column too, without the audit key.
    session.exec(text("UPDATE exchange_list SET file_data = :data, file_sha256 = :digest WHERE id = :id")
                 .bindparams(data=forged, digest=forged_sha256, id=list_id))
    session.commit()
    refused = client.post(f"/lists/{list_id}/download")
    assert refused.status_code == 409 and refused.mimetype != XLSX
    assert "no longer matches the one recorded at the first export" in refused.get_data(as_text=True)
    page = client.get(f"/lists/{list_id}").get_data(as_text=True)
    assert recorded in page and forged_sha256 not in page
