"""A man shown by name when his name is not (all) known (issue 13, partial identities): every page
that names a person says what is known and, in words of the reader's language, what is not;
never an empty cell, a dangling comma or a bare "None". All persons fictitious.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from flask_babel import force_locale
from sqlmodel import Session, select
from support import add_inquiry

from pow_registry.models import MatchCandidate, Person, PersonStatus, User
from pow_registry.services import exchange, registry
from pow_registry.web.labels import person_name

pytestmark = pytest.mark.db


def man(**fields: Any) -> Person:
    values = {"id": 123, "surname": "", "given_name": "", "patronymic": "", "call_sign": "", "unit": "",
              "unit_number": None, "personal_number": "", "date_of_birth": None, "appearance": ""}
    return Person(**{**values, **fields})


@pytest.mark.parametrize(("fields", "ref", "expected"), [
    # The surname known: the names as entered, as before.
    ({"surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "call_sign": "Сокол"}, True,
     {"ru": "Выдумкин Виталий Евгеньевич"}),
    ({"surname": "Выдумкин"}, False, {"ru": "Выдумкин"}),
    # A given name without a surname: said so, with the call sign or else the unit.
    ({"given_name": "Виктор", "unit": "в/ч 12345", "unit_number": "12345"}, True,
     {"ru": "Виктор (в/ч 12345, фамилия неизвестна)", "uk": "Виктор (в/ч 12345, прізвище невідоме)",
      "en": "Виктор (military unit 12345, surname unknown)"}),
    ({"given_name": "Виктор", "patronymic": "Петрович", "call_sign": "Сокол", "unit_number": "12345"}, False,
     {"ru": "Виктор Петрович (позывной «Сокол», фамилия неизвестна)",
      "en": "Виктор Петрович (call sign “Сокол”, surname unknown)"}),
    ({"given_name": "Виктор"}, False, {"ru": "Виктор (фамилия неизвестна)"}),
    # No name at all: "Unknown", what tells him apart, and his registry reference where asked.
    ({"call_sign": "Сокол"}, True,
     {"ru": "Неизвестный (позывной «Сокол»), P-000123", "uk": "Невідомий (позивний «Сокол»), P-000123",
      "en": "Unknown man (call sign “Сокол”), P-000123"}),
    ({"call_sign": "Сокол"}, False, {"ru": "Неизвестный (позывной «Сокол»)"}),
    ({"unit": "76 ДШД"}, True, {"ru": "Неизвестный (76 ДШД), P-000123"}),
    ({"personal_number": "АБ-123456", "date_of_birth": "1990"}, True,
     {"ru": "Неизвестный (личный номер АБ-123456), P-000123"}),
    ({"date_of_birth": "1990-05"}, True,
     {"ru": "Неизвестный (1990-05 г. р.), P-000123", "uk": "Невідомий (1990-05 р. н.), P-000123"}),
    ({"appearance": "Шрам над левой бровью,\nборода, татуировка «ВДВ» на правом плече"}, True,
     {"ru": "Неизвестный (приметы: Шрам над левой бровью, борода…), P-000123",
      "uk": "Невідомий (прикмети: Шрам над левой бровью, борода…), P-000123"}),
    ({}, True, {"ru": "Неизвестный, P-000123", "en": "Unknown man, P-000123"}),
])
def test_every_shape_of_a_partial_identity_reads_as_words(app: Any, fields: dict[str, Any], ref: bool,
                                                         expected: dict[str, str]) -> None:
    with app.test_request_context():
        for language, text in expected.items():
            with force_locale(language):
                assert person_name(man(**fields), ref=ref) == text


def test_other_records_and_frozen_rows_read_the_same_way(app: Any) -> None:
    """An inquiry or a counterpart entry (no call sign, no registry reference) and a list's frozen
    row (a mapping) go through the same words."""
    with app.test_request_context(), force_locale("ru"):
        assert person_name(SimpleNamespace(id=5, surname="", given_name="Виктор", patronymic="", unit="",
                                           unit_number="12345"), ref=True) == "Виктор (в/ч 12345, фамилия неизвестна)"
        assert person_name({"surname": "Макетов", "given_name": "Пётр", "patronymic": ""}) == "Макетов Пётр"
        assert person_name({"surname": "", "given_name": "", "patronymic": ""}, ref=True) == "Неизвестный"


# ---------------------------------------------------------------------------------------------
# Every page that names a man


def _visible(page: str) -> str:
    body = re.split(r"<body[^>]*>", page, maxsplit=1)[-1]
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def _no_gaps(page: str) -> None:
    text = _visible(page)
    assert "None" not in text
    assert not re.search(r"\(\s*\)|,\s*,|\(\s*,|,\s*\)", text), text
    assert not re.search(r'<a href="/registry/persons/\d+">\s*</a>', page)


@pytest.fixture
def world(session: Session, audit_key: bytes, make_user: Callable[..., User], make_person: Any) -> dict[str, Any]:
    researcher = make_user("researcher")
    staff = make_user("staff", email="staff@example.org")
    admin = make_user("admin", email="admin@example.org")
    viktor = make_person(researcher, surname="", given_name="Виктор", patronymic="", date_of_birth="",
                         unit="в/ч 12345", report={"capture_date": "2024-08-10"})
    sokol = make_person(researcher, surname="", given_name="", patronymic="", date_of_birth="", call_sign="Сокол",
                        report={"capture_date": "2024-08-11"})
    twin = make_person(researcher, surname="", given_name="", patronymic="", date_of_birth="", call_sign="Сокол",
                       report={"capture_date": "2024-08-11"})
    registry.merge_persons(session=session, actor=researcher, audit_key=audit_key, keep_id=sokol.id,
                           merge_id=twin.id, keep_version=sokol.version, merge_version=twin.version,
                           reason="Одно и то же видео.")
    named = make_person(researcher, surname="Макетов", given_name="Пётр", date_of_birth="1980")
    for person in (viktor, sokol, named):
        stored = session.get(Person, person.id)
        stored.status = PersonStatus.confirmed_captured
        session.add(stored)
    session.commit()
    inquiry = add_inquiry(session, surname="", given_name="Виктор", patronymic="", date_of_birth=None,
                          unit="в/ч 12345")
    office = exchange.create_office(session=session, actor=admin, audit_key=audit_key,
                                    data={"name": "Вымышленный омбудсмен", "language": "ru"})
    draft = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                 data={"office_id": str(office.id), "kind": "exchange"})
    match = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "inquiry",
                                                      MatchCandidate.right_id == viktor.id)).one()
    session.commit()
    return {"researcher": researcher, "staff": staff, "admin": admin, "viktor": viktor, "sokol": sokol,
            "named": named, "inquiry": inquiry, "list": draft, "match": match}


def _client(app: Any, login: Any, user: User, language: str = "ru") -> Any:
    client = app.test_client()
    login(user, test_client=client)
    assert client.post("/language", data={"lang-language": language}).status_code == 302
    return client


def test_the_registry_pages_name_a_partly_identified_man(app: Any, login: Any, world: dict[str, Any]) -> None:
    client = _client(app, login, world["researcher"])
    viktor, sokol = world["viktor"], world["sokol"]
    persons = client.get("/registry/").get_data(as_text=True)
    assert "Виктор (в/ч 12345, фамилия неизвестна)" in persons and "Неизвестный (позывной «Сокол»)" in persons
    assert _visible(persons).index("Макетов") < _visible(persons).index("Неизвестный")  # the named first
    _no_gaps(persons)
    page = client.get(f"/registry/persons/{sokol.id}").get_data(as_text=True)
    assert f"<title>Неизвестный (позывной «Сокол»), P-{sokol.id:06d}" in page
    assert f"#{sokol.id} Неизвестный (позывной «Сокол»)</h1>" in page
    assert "Фамилия</th><td>пока неизвестна" in page and "Позывной</th><td>Сокол" in page
    _no_gaps(page)
    for url in (f"/registry/persons/{viktor.id}/reports/new", f"/registry/persons/{sokol.id}/merge?other={viktor.id}"):
        form = client.get(url).get_data(as_text=True)
        assert "Неизвестный (позывной «Сокол»)" in form or "Виктор (в/ч 12345, фамилия неизвестна)" in form
        _no_gaps(form)


def test_the_staff_pages_name_a_partly_identified_man(app: Any, login: Any, world: dict[str, Any]) -> None:
    client = _client(app, login, world["staff"])
    inquiry, match = world["inquiry"], world["match"]
    home = client.get("/home/").get_data(as_text=True)
    assert "Виктор (в/ч 12345, фамилия неизвестна)" in home  # the inquiry about him, without a surname
    _no_gaps(home)
    for url in ("/inquiries/", f"/inquiries/{inquiry.id}", "/matches/", f"/matches/{match.id}"):
        page = client.get(url).get_data(as_text=True)
        assert "Виктор (в/ч 12345, фамилия неизвестна)" in page, url
        _no_gaps(page)
    compare = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert compare.count("Виктор (в/ч 12345, фамилия неизвестна)") >= 2  # the family's and the registry's
    # The exchange-list builder: the named man is proposed; the others are listed as held back.
    page = client.get(f"/lists/{world['list'].id}").get_data(as_text=True)
    proposals = page.split('id="proposals"', 1)[1].split('id="add-person"', 1)[0]
    held = proposals.split('id="held-back"', 1)[1]
    assert "Макетов Пётр" in proposals.split('id="held-back"', 1)[0]
    assert "Не предложено: 2 человека" in held
    assert f"P-{world['viktor'].id:06d}" in held and "Неизвестный (позывной «Сокол»)" in held
    _no_gaps(page)


def test_the_admin_pages_name_a_partly_identified_man(app: Any, login: Any, world: dict[str, Any]) -> None:
    client = _client(app, login, world["admin"])
    merges = client.get("/admin/merges").get_data(as_text=True)
    assert merges.count("Неизвестный (позывной «Сокол»)") == 2  # the kept record and the duplicate
    _no_gaps(merges)
    audit = client.get(f"/admin/audit?entity_type=person&entity_id={world['sokol'].id}").get_data(as_text=True)
    assert "Позывной: — → Сокол" in audit
    _no_gaps(audit)


def test_a_list_with_a_man_who_lost_his_surname_names_the_rows(app: Any, login: Any, session: Session,
                                                               audit_key: bytes, world: dict[str, Any]) -> None:
    named, staff = world["named"], world["staff"]
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=world["list"].id,
                        person_id=named.id, reason="Мать просила.")
    registry.update_person(session=session, actor=world["researcher"], audit_key=audit_key, person_id=named.id,
                           version=session.get(Person, named.id).version,
                           person={"given_name": "Пётр", "date_of_birth": "1980"})
    client = _client(app, login, staff)
    page = client.get(f"/lists/{world['list'].id}").get_data(as_text=True)
    warning = page.split('id="unnamed"', 1)[1].split("</section>", 1)[0]
    assert "Офис не может искать человека без фамилии" in warning
    assert f"Строка 1: <a href=\"/registry/persons/{named.id}\">P-{named.id:06d}</a> Пётр (фамилия неизвестна)" in warning
    version = re.search(r'id="freeze-version" name="version" type="hidden" value="(\d+)"', page)
    assert version
    refused = client.post(f"/lists/{world['list'].id}/freeze", data={"version": version.group(1), "confirm": "y"})
    assert refused.status_code == 400
    assert f"(строка, номер в реестре): 1 (P-{named.id:06d})" in refused.get_data(as_text=True)
