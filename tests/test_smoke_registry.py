"""The newcomer's path through the registry, over HTTP."""

import re


def test_researcher_finds_cyrillic_name_by_latin_spelling(client, make_user, make_person, login):
    researcher = make_user("researcher")
    make_person(researcher, surname="Выдумкин", given_name="Виталий")
    make_person(researcher, surname="Макетов", given_name="Алексей")
    login(researcher)
    page = client.get("/registry/", query_string={"q": "Vitaliy Vydumkin"}).get_data(as_text=True)
    names = re.findall(r'<a href="/registry/persons/\d+">([^<]+)</a>', page)
    assert names == ["Выдумкин Виталий Евгеньевич"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
