"""Counterpart lists in the browser's terms: import, the unmatched names, review, apply."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, select
from support import job_page_after

from pow_registry.models import CounterpartEntry, MatchCandidate, Person, PersonStatus, User

LIST = ("№,Фамилия,Имя,Дата рождения\n1,Vydumkin,Vitaliy,12.03.2005\n2,Небывалов,Пётр,1970\n").encode()


def _upload(client: Any, data: bytes = LIST, **fields: str) -> Any:
    form = {"kind": "returned", "title": "Вымышленный обмен", "source": "example.org", "received_on": "2026-11-30",
            "exchange_date": "2026-11-30", **fields, "file": (io.BytesIO(data), "returned.csv")}
    return client.post("/counterpart/new", data=form, content_type="multipart/form-data")


def test_staff_import_a_list_and_confirm_a_name(client: Any, session: Session, make_user: Callable[..., User],
                                                login: Any, make_person: Any) -> None:
    person = make_person()
    session.commit()
    login(make_user("staff"))
    client.post("/language", data={"lang-language": "en"})
    done = job_page_after(client, _upload(client), client.application).get_data(as_text=True)
    assert "Imported 2 names: 1 candidate pairs to review, 1 names nobody matched." in done
    list_id = session.exec(select(CounterpartEntry)).first().list_id
    session.commit()
    assert f'href="/counterpart/{list_id}"' in done
    page = client.get(f"/counterpart/{list_id}").get_data(as_text=True)
    assert "Небывалов" in page  # reported as unmatched, not dropped
    pair = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "counterpart")).one()
    session.commit()
    queue = client.get(f"/matches/?kinds=counterpart-person&counterpart={session.exec(select(CounterpartEntry)).first().list_id}")
    session.commit()
    assert f"/matches/{pair.id}" in queue.get_data(as_text=True)
    detail = client.get(f"/matches/{pair.id}").get_data(as_text=True)
    assert "Vydumkin" in detail and "Выдумкин" in detail
    assert client.post(f"/matches/{pair.id}/confirm", data={"confirm-version": pair.version}).status_code == 302
    session.expire_all()
    assert session.get(Person, person.id).status == PersonStatus.exchanged


def test_a_bad_file_is_refused_whole_and_others_may_not(client: Any, session: Session,
                                                         make_user: Callable[..., User], login: Any) -> None:
    login(make_user("staff"))
    page = job_page_after(client, _upload(client, data=LIST + b"3,,,\n"), client.application).get_data(as_text=True)
    assert "flash-error" in page and "<td>4</td>" in page
    assert session.exec(select(CounterpartEntry)).all() == []
    session.commit()
    researcher = client.application.test_client()
    login(make_user("researcher"), test_client=researcher)
    assert researcher.get("/counterpart/").status_code == 403
    assert _upload(researcher).status_code == 403
