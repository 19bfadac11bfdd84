"""The review queue in the browser's terms: who sees which pairs, the side-by-side page, and
confirming or rejecting (all persons fictitious)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select
from support import add_inquiry

from pow_registry.models import Inquiry, InquiryStatus, MatchCandidate, MatchStatus, User


def _pair(session: Session) -> MatchCandidate:
    row = session.exec(select(MatchCandidate).execution_options(populate_existing=True)).one()
    session.commit()  # SQLite: end the test's read so the app can write
    return row


def test_staff_see_the_candidate_side_by_side_and_confirm_it(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    person = make_person(surname="Vydumkin", given_name="Vitalii", patronymic="", date_of_birth="2005")
    make_person(surname="Vydumkin", given_name="Petr", patronymic="", date_of_birth="1980")  # a namesake
    inquiry = add_inquiry(session, unit="в/ч 12345")
    login(make_user("staff"))
    page = client.get("/matches/").get_data(as_text=True)
    assert inquiry.reference in page and "Vydumkin Vitalii" in page
    row = session.exec(select(MatchCandidate).where(MatchCandidate.right_id == person.id)).one()
    session.commit()
    detail = client.get(f"/matches/{row.id}").get_data(as_text=True)
    for text in ("Выдумкин", "Vydumkin", "Виталий", "Vitalii", "в/ч 12345", "vidumkin"):
        assert text in detail
    response = client.post(f"/matches/{row.id}/confirm", data={"confirm-version": row.version,
                                                                "confirm-reason": "Мать узнала его на видео."})
    assert response.status_code == 302
    session.refresh(inquiry)
    assert inquiry.person_id == person.id and inquiry.status == InquiryStatus.match_found
    assert f"/matches/{row.id}/confirm" not in client.get(f"/matches/{row.id}").get_data(as_text=True)


def test_a_rejection_needs_a_reason_and_changes_nothing_without_one(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    make_person()
    add_inquiry(session)
    row = _pair(session)
    login(make_user("staff"))
    response = client.post(f"/matches/{row.id}/reject", data={"reject-version": row.version, "reject-reason": ""})
    assert response.status_code == 409
    assert _pair(session).status == MatchStatus.candidate
    stale = client.post(f"/matches/{row.id}/reject", data={"reject-version": row.version + 5, "reject-reason": "Нет."})
    assert stale.status_code == 409 and _pair(session).status == MatchStatus.candidate
    client.post(f"/matches/{row.id}/reject", data={"reject-version": row.version, "reject-reason": "Другой человек."})
    assert _pair(session).status == MatchStatus.rejected
    assert f"/matches/{row.id}" not in client.get("/matches/").get_data(as_text=True)
    assert f"/matches/{row.id}" in client.get("/matches/?status=rejected").get_data(as_text=True)
    assert "Другой человек." in client.get(f"/matches/{row.id}").get_data(as_text=True)


def test_inquiry_pairs_are_for_staff_only(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    make_person()
    add_inquiry(session)
    row = _pair(session)
    login(make_user("researcher"))
    assert client.get("/matches/").status_code == 403
    assert client.get(f"/matches/{row.id}").status_code == 403
    assert client.post(f"/matches/{row.id}/confirm", data={"confirm-version": row.version}).status_code == 403
    assert client.get(f"/duplicates/{row.id}").status_code == 404  # not a pair of persons
    assert client.post(f"/duplicates/{row.id}/confirm", data={"confirm-version": row.version}).status_code == 404
    assert _pair(session).status == MatchStatus.candidate
    assert session.exec(select(Inquiry)).one().person_id is None
    session.commit()
    assert client.get("/duplicates/").status_code == 200


def test_duplicate_persons_are_the_researchers_to_judge(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    researcher = make_user("researcher")
    first = make_person(researcher)
    second = make_person(researcher, report={"capture_date": "2024-08-11", "capture_place": "Sudzha"})
    row = _pair(session)
    assert (row.left_kind, row.right_kind) == ("person", "person")
    staff_client = client.application.test_client()
    login(make_user("staff"), test_client=staff_client)
    assert staff_client.get(f"/duplicates/{row.id}").status_code == 403
    assert staff_client.get(f"/matches/{row.id}").status_code == 404
    login(researcher)
    page = client.get("/duplicates/").get_data(as_text=True)
    assert f"#{first.id}" in page and f"#{second.id}" in page
    detail = client.get(f"/duplicates/{row.id}").get_data(as_text=True)
    assert f"/registry/persons/{first.id}/merge?other={second.id}" in detail
    client.post(f"/duplicates/{row.id}/reject", data={"reject-version": row.version, "reject-reason": "Два брата."})
    assert _pair(session).status == MatchStatus.rejected


def test_admins_and_strangers_are_refused(client: Any, make_user: Callable[..., User], login: Any) -> None:
    assert client.get("/matches/").status_code in (302, 401)
    login(make_user("admin"))
    assert client.get("/matches/").status_code == 403
    assert client.get("/duplicates/").status_code == 403


def _statements_for(client: Any, session: Session, url: str) -> int:
    from sqlalchemy import event

    engine = session.get_bind()
    count = [0]

    def counted(*_args: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count[0]


def test_the_review_queue_takes_a_few_queries_whatever_the_page_size(
    app: Any, client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    """Issue 12, finding 8: it took 4-6 queries per pair (100-150 per page of 25)."""
    surnames = ["Выдумкин", "Макетов", "Шаблонов", "Небывалов", "Примеров", "Образцов", "Тестов", "Эскизов",
                "Наброскин", "Черновиков", "Опытов", "Пробин"]
    for number, surname in enumerate(surnames):
        make_person(surname=surname, date_of_birth=f"{1980 + number}-01-0{1 + number % 9}")
        add_inquiry(session, surname=surname, date_of_birth=f"{1980 + number}-01-0{1 + number % 9}")
    session.commit()
    login(make_user("staff"))
    app.config["PAGE_SIZE"] = 3
    small = _statements_for(client, session, "/matches/")
    app.config["PAGE_SIZE"] = 25
    large = _statements_for(client, session, "/matches/")
    page = client.get("/matches/").get_data(as_text=True)
    assert all(surname in page for surname in surnames)  # every pair is on the large page
    assert large == small, (small, large)
    assert large <= 15, large


def test_candidates_read_likely_or_possible_as_their_shown_percentage_says(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    import re

    from sqlalchemy import update

    make_person(surname="Vydumkin", given_name="Vitalii", patronymic="", date_of_birth="2005")
    add_inquiry(session, unit="в/ч 12345")
    row = _pair(session)
    login(make_user("staff"))
    for score, percent, tier in ((0.7996, "80%", "likely"), (0.7949, "79%", "possible"), (0.31, "31%", "possible")):
        session.exec(update(MatchCandidate).where(MatchCandidate.id == row.id).values(score=score))  # type: ignore[call-overload]
        session.commit()
        page = client.get("/matches/").get_data(as_text=True)
        cell = re.search(r"<strong>(\d+%)</strong><br>\s*<span class=\"tier (\w+)\">", page)
        assert cell is not None and cell.groups() == (percent, tier)
        detail = client.get(f"/matches/{row.id}").get_data(as_text=True)
        said = re.search(r"(\d+%)</strong>\s*<span class=\"tier (\w+)\">", detail)
        assert said is not None and said.groups() == (percent, tier)


def test_a_candidate_says_when_another_man_fits_the_same_inquiry(
    client: Any, session: Session, make_user: Callable[..., User], login: Any, make_person: Any
) -> None:
    # two reports that may be two men of one name: the family asks about one of them
    first = make_person(surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич", date_of_birth="2005")
    second = make_person(surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич", date_of_birth="2005",
                         report={"capture_date": "2024-08-12", "capture_place": "Коренево", "source_ref": "vid-2"})
    inquiry = add_inquiry(session)
    rows = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "inquiry",
                                                     MatchCandidate.left_id == inquiry.id)).all()
    session.commit()
    assert {r.right_id for r in rows} == {first.id, second.id}
    login(make_user("staff"))
    to_first = next(r for r in rows if r.right_id == first.id)
    to_second = next(r for r in rows if r.right_id == second.id)
    detail = client.get(f"/matches/{to_first.id}").get_data(as_text=True)
    assert "Под этот запрос подходит и другой человек из реестра" in detail
    assert f'href="/matches/{to_second.id}"' in detail and f"#{second.id} (" in detail
    queue = client.get("/matches/").get_data(as_text=True)
    assert queue.count('class="note rivals"') == 2
    # a rejected pair is no longer a rival
    client.post(f"/matches/{to_second.id}/reject", data={"reject-version": to_second.version,
                                                          "reject-reason": "Другой человек: другая часть."})
    assert "подходит и другой человек" not in client.get(f"/matches/{to_first.id}").get_data(as_text=True)
