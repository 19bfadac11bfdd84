"""The registry and administration pages over HTTP, as researchers, staff and admins use them."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

import pytest
from sqlmodel import select
from support import PNG, job_page_after, snapshot

from pow_registry.models import (
    AuditEvent,
    CaptureReport,
    Evidence,
    Person,
    PersonStatus,
    User,
    Verification,
)


def fetch(session: Any, model: Any, row_id: int) -> Any:
    row = session.get(model, row_id, populate_existing=True)
    session.commit()
    return row


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


def english(client: Any) -> None:
    """Messages in English (the msgids) so the tests can read them."""
    assert client.post("/language", data={"lang-language": "en"}).status_code == 302


@pytest.fixture
def two_researchers(app: Any, make_user: Any, login: Any) -> tuple[Any, Any, User, User]:
    author = make_user("researcher", email="vydumkina@example.org")
    checker = make_user("researcher", email="maketova@example.org")
    author_client, checker_client = app.test_client(), app.test_client()
    login(author, test_client=author_client)
    login(checker, test_client=checker_client)
    english(author_client)
    english(checker_client)
    return author_client, checker_client, author, checker


def test_researcher_journey(app: Any, session: Any, two_researchers: Any) -> None:
    author_client, checker_client, author, checker = two_researchers

    # 1. A new person together with the capture report that made us aware of him.
    response = author_client.post("/registry/persons/new", data={
        "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "12.03.2005",
        "unit": "в/ч 12345", "health": "wounded", "report_claim": "captured", "report_capture_date": "2024-08",
        "report_capture_place": "Суджа", "report_circumstances": "Видео в канале example.org",
    })
    assert response.status_code == 302
    person_id = int(re.search(r"/registry/persons/(\d+)$", response.headers["Location"]).group(1))
    person = fetch(session, Person, person_id)
    assert (person.surname, person.date_of_birth, person.status) == ("Выдумкин", "2005-03-12", PersonStatus.reported)
    report = session.exec(select(CaptureReport).where(CaptureReport.person_id == person_id)).one()
    session.commit()
    assert report.capture_date == "2024-08" and report.capture_place == "Суджа"

    # 2. Evidence with an archived copy: its SHA-256 is recorded and shown.
    response = author_client.post(f"/registry/reports/{report.id}/evidence/new", data={
        "url": "https://example.org/video/1", "kind": "video", "publisher": "Канал Пример",
        "published_at": "2024-08-11", "source_reliability": "C", "info_credibility": "3",
        "archive": (io.BytesIO(PNG), "frame.png"),
    })
    assert response.status_code == 302
    evidence = session.exec(select(Evidence).where(Evidence.capture_report_id == report.id)).one()
    session.commit()
    digest = hashlib.sha256(PNG).hexdigest()
    assert evidence.archive_sha256 == digest
    assert evidence.archive_media_type == "image/png" and evidence.archive_size == len(PNG)
    assert evidence.created_by_id == author.id and evidence.verification == Verification.unverified
    page = author_client.get(f"/registry/persons/{person_id}").get_data(as_text=True)
    assert digest in page and "frame.png" in page
    download = checker_client.get(f"/registry/evidence/{evidence.id}/archive")
    assert download.data == PNG and hashlib.sha256(download.data).hexdigest() == digest

    # 3. The author sees no verify form for their own evidence, and cannot verify it by POST.
    verify_url = f"/registry/evidence/{evidence.id}/verify"
    assert verify_url not in page
    response = author_client.post(verify_url, data={f"e{evidence.id}-version": evidence.version,
                                                    f"e{evidence.id}-decision": "verified"})
    assert response.status_code == 302
    followed = author_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "another researcher must verify it" in followed
    assert fetch(session, Evidence, evidence.id).verification == Verification.unverified
    assert fetch(session, Person, person_id).status == PersonStatus.reported

    # 4. A second researcher sees the form and verifies it: the status becomes probable.
    page = checker_client.get(f"/registry/persons/{person_id}").get_data(as_text=True)
    assert verify_url in page
    version = hidden(page, f"e{evidence.id}-version")
    response = checker_client.post(verify_url, data={f"e{evidence.id}-version": version,
                                                     f"e{evidence.id}-decision": "verified", f"e{evidence.id}-note": "сверено"})
    assert response.status_code == 302
    row = fetch(session, Evidence, evidence.id)
    assert row.verification == Verification.verified and row.verified_by_id == checker.id
    person = fetch(session, Person, person_id)
    assert person.status == PersonStatus.probable
    page = author_client.get(f"/registry/persons/{person_id}").get_data(as_text=True)
    assert "status-probable" in page

    # 5. Every step is in the record's audit trail.
    actions = set(session.exec(select(AuditEvent.action)).all())
    session.commit()
    assert {"person.create", "report.create", "evidence.create", "evidence.verify", "person.status"} <= actions


def _evidence_to_check(session: Any, audit_key: bytes, make_person: Any, author: User, checker_client: Any) -> Any:
    """Evidence the author added, and the version the checker's page shows for it."""
    from pow_registry.services import registry

    person = make_person(author)
    report_id = registry.person_detail(session, person.id).reports[0].report.id
    evidence = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report_id,
                                     evidence={"url": "https://example.org/a"})
    page = checker_client.get(f"/registry/persons/{person.id}").get_data(as_text=True)
    return evidence, hidden(page, f"e{evidence.id}-version")


def test_a_stale_verification_is_refused(app: Any, session: Any, two_researchers: Any, make_person: Any,
                                         audit_key: bytes) -> None:
    author_client, checker_client, author, checker = two_researchers
    evidence, version = _evidence_to_check(session, audit_key, make_person, author, checker_client)
    url = f"/registry/evidence/{evidence.id}/verify"
    checker_client.post(url, data={f"e{evidence.id}-version": version, f"e{evidence.id}-decision": "rejected",
                                   f"e{evidence.id}-note": "подделка"})
    assert fetch(session, Evidence, evidence.id).verification == Verification.rejected
    response = checker_client.post(url, data={f"e{evidence.id}-version": version,
                                              f"e{evidence.id}-decision": "verified"})
    assert response.status_code == 409
    assert "Someone else changed this record" in response.get_data(as_text=True)
    assert fetch(session, Evidence, evidence.id).verification == Verification.rejected


def test_a_rejection_without_its_note_is_refused_beside_the_item(app: Any, session: Any, two_researchers: Any,
                                                                 make_person: Any, audit_key: bytes) -> None:
    """Issue 12, finding 7: the error was only in a flash at the top, off the screen."""
    author_client, checker_client, author, checker = two_researchers
    english(checker_client)
    evidence, version = _evidence_to_check(session, audit_key, make_person, author, checker_client)
    response = checker_client.post(f"/registry/evidence/{evidence.id}/verify",
                                   data={f"e{evidence.id}-version": version, f"e{evidence.id}-decision": "rejected"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error_id = f"verify-{evidence.id}-error"
    note = re.search(rf'<input[^>]*id="e{evidence.id}-note"[^>]*>', page)
    assert note and 'aria-invalid="true"' in note.group(0) and f'aria-describedby="{error_id}"' in note.group(0)
    decision = re.search(rf'<select[^>]*id="e{evidence.id}-decision"[^>]*>', page)
    assert decision and "aria-invalid" not in decision.group(0)  # the focus goes to the note, what to fix
    assert 'aria-invalid="None"' not in page and 'aria-describedby="None"' not in page
    assert re.search(rf'<span class="error" id="{error_id}">[^<]+</span>', page)
    assert fetch(session, Evidence, evidence.id).verification == Verification.unverified


def test_an_impossible_date_is_called_so_and_errors_are_tied_to_their_fields(
    client: Any, make_user: Any, login: Any, session: Any
) -> None:
    """Issue 12, finding 7: 31.02.2004 was told to "use the format DD.MM.YYYY"."""
    login(make_user("researcher"))
    english(client)
    page = client.post("/registry/persons/new", data={"surname": "Выдумкин", "date_of_birth": "31.02.2004",
                                                      "report_capture_date": "вчера"}).get_data(as_text=True)
    field = re.search(r'<input[^>]*id="date_of_birth"[^>]*>', page)
    assert field and 'aria-describedby="date_of_birth-error"' in field.group(0)
    assert re.search(r'<span class="error" id="date_of_birth-error">This date does not exist.</span>', page)
    assert re.search(r'<span class="error" id="report_capture_date-error">Enter a date as', page)


def test_the_language_chosen_on_the_login_page_is_kept_after_login(client: Any, session: Any, make_user: Any,
                                                                   login: Any) -> None:
    """Issue 12, finding 7: the language chosen before login was dropped at login."""
    user = make_user("staff")
    assert user.preferred_language == "ru"
    assert client.post("/language", data={"lang-language": "uk"}).status_code == 302
    login(user)
    assert 'lang="uk"' in client.get("/inquiries/").get_data(as_text=True)
    assert fetch(session, User, user.id).preferred_language == "uk"  # and next time too


def test_editing_with_a_stale_version_shows_the_conflict_and_keeps_the_other_change(
        app: Any, session: Any, two_researchers: Any, make_person: Any) -> None:
    author_client, checker_client, author, _checker = two_researchers
    person = make_person(author, surname="Макетов", given_name="Алексей")
    url = f"/registry/persons/{person.id}/edit"
    old_form = author_client.get(url).get_data(as_text=True)
    old_version = hidden(old_form, "version")

    page = checker_client.get(url).get_data(as_text=True)
    response = checker_client.post(url, data={"version": hidden(page, "version"), "surname": "Макетов",
                                              "given_name": "Алексей", "rank": "рядовой", "health": "unknown"})
    assert response.status_code == 302

    response = author_client.post(url, data={"version": old_version, "surname": "Макетов",
                                             "given_name": "Александр", "health": "unknown"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Someone else changed this record" in page
    row = fetch(session, Person, person.id)
    assert (row.given_name, row.rank) == ("Алексей", "рядовой")

    # Reloading and applying again works.
    page = author_client.get(url).get_data(as_text=True)
    response = author_client.post(url, data={"version": hidden(page, "version"), "surname": "Макетов",
                                             "given_name": "Александр", "rank": "рядовой", "health": "unknown"})
    assert response.status_code == 302
    assert fetch(session, Person, person.id).given_name == "Александр"


def test_editing_a_report_with_a_stale_version_changes_nothing(app: Any, session: Any, two_researchers: Any,
                                                               make_person: Any) -> None:
    from pow_registry.services import registry

    author_client, checker_client, author, _checker = two_researchers
    person = make_person(author)
    report_id = registry.person_detail(session, person.id).reports[0].report.id
    session.commit()
    url = f"/registry/reports/{report_id}/edit"
    old_version = hidden(author_client.get(url).get_data(as_text=True), "version")
    page = checker_client.get(url).get_data(as_text=True)
    assert checker_client.post(url, data={"version": hidden(page, "version"), "claim": "captured",
                                          "capture_date": "2024-08-10", "capture_place": "Суджа, окраина"}).status_code == 302
    response = author_client.post(url, data={"version": old_version, "claim": "captured",
                                             "capture_date": "2024-08-10", "capture_place": "Курск"})
    assert "Someone else changed this record" in response.get_data(as_text=True)
    assert fetch(session, CaptureReport, report_id).capture_place == "Суджа, окраина"


def test_person_form_accepts_only_its_own_fields(client: Any, session: Any, make_user: Any, login: Any,
                                                 make_person: Any) -> None:
    """No mass assignment: status, conflict or authorship cannot be posted in."""
    user = make_user("researcher")
    person = make_person(user)
    login(user)
    url = f"/registry/persons/{person.id}/edit"
    version = hidden(client.get(url).get_data(as_text=True), "version")
    response = client.post(url, data={"version": version, "surname": "Выдумкин", "health": "unknown",
                                      "status": "confirmed_captured", "conflict": "y", "created_by_id": "999",
                                      "merged_into_id": "1", "status_basis": "manual"})
    assert response.status_code == 302
    row = fetch(session, Person, person.id)
    assert row.status == PersonStatus.reported and row.conflict is False
    assert row.created_by_id == user.id and row.merged_into_id is None


def test_form_errors_are_shown_on_their_fields(client: Any, make_user: Any, login: Any, session: Any) -> None:
    login(make_user("researcher"))
    english(client)
    before = snapshot(session)
    response = client.post("/registry/persons/new", data={"surname": "Выдумкин", "date_of_birth": "31.02.2005",
                                                          "report_capture_date": "завтра"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'has-error"[^>]*>\s*<label for="date_of_birth"', page)
    assert re.search(r'has-error"[^>]*>\s*<label for="report_capture_date"', page)
    assert snapshot(session) == before


# ---------------------------------------------------------------------------------------------
# Import


BAD_CSV = (
    "source_ref,surname,date_of_birth,evidence_url,source_reliability\n"
    "R1,Выдумкин,2005-03-12,https://example.org/a,B\n"
    "R2,,2005-13-45,javascript:alert(1),B\n"
    "R3,Макетов,not a date,,\n"
    "R1,Выдумкін,2005,,\n"
)
GOOD_CSV = (
    "source_ref,surname,given_name,date_of_birth,capture_date,capture_place,evidence_url,source_reliability\n"
    "G1,Выдумкин,Виталий,2005-03-12,2024-08-10,Суджа,https://example.org/a https://example.org/b,B\n"
    "G2,Макетов,Алексей,2001,2024-08,Курск,,\n"
)


def _error_rows(page: str) -> list[tuple[str, str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr><td>([^<]*)</td><td>(?:<code>)?([^<]*)(?:</code>)?</td><td>", body)


def test_import_of_a_bad_file_lists_every_bad_row_and_writes_nothing(app: Any, client: Any, session: Any,
                                                                     make_user: Any, login: Any) -> None:
    login(make_user("researcher"))
    english(client)
    assert client.get("/registry/import").status_code == 200
    before = snapshot(session)
    response = client.post("/registry/import", data={"file": (io.BytesIO(BAD_CSV.encode()), "captures.csv")})
    response = job_page_after(client, response, app)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nothing was imported" in page
    rows = _error_rows(page)
    assert {row for row, _column in rows} == {"3", "4", "5"}
    assert ("3", "date_of_birth") in rows and ("3", "evidence_url") in rows
    assert ("3", "surname") not in rows  # no surname, but a date was typed: the date is what to fix
    assert ("4", "date_of_birth") in rows and ("5", "source_ref") in rows
    assert "2" not in {row for row, _column in rows}
    assert without_jobs(snapshot(session)) == without_jobs(before)


def without_jobs(state: dict[str, Any]) -> dict[str, Any]:
    """The database but the job table (an import's job records its outcome, nothing else)."""
    return {table: rows for table, rows in state.items() if table != "job"}


def test_import_of_a_good_file_then_again(app: Any, client: Any, session: Any, make_user: Any, login: Any) -> None:
    login(make_user("researcher"))
    english(client)
    before = snapshot(session)
    response = client.post("/registry/import", data={"file": (io.BytesIO(GOOD_CSV.encode()), "captures.csv"),
                                                     "dry_run": "y"})
    assert "Nothing was written" in job_page_after(client, response, app).get_data(as_text=True)
    assert without_jobs(snapshot(session)) == without_jobs(before)
    response = client.post("/registry/import", data={"file": (io.BytesIO(GOOD_CSV.encode()), "captures.csv")})
    assert "Imported 2 rows" in job_page_after(client, response, app).get_data(as_text=True)
    persons = session.exec(select(Person)).all()
    evidence = session.exec(select(Evidence)).all()
    session.commit()
    assert sorted(p.surname for p in persons) == ["Выдумкин", "Макетов"]
    assert len(evidence) == 2
    response = client.post("/registry/import", data={"file": (io.BytesIO(GOOD_CSV.encode()), "captures.csv")})
    assert "2 were imported before" in job_page_after(client, response, app).get_data(as_text=True)
    assert len(session.exec(select(Person)).all()) == 2
    session.commit()


def test_a_hostile_spreadsheet_is_refused_in_the_readers_language(app: Any, client: Any, session: Any, make_user: Any,
                                                                   login: Any) -> None:
    """Issue 14: the bound a file passed is named on the job's page, in Russian or Ukrainian, and
    nothing is written (but the job's own record)."""
    import openpyxl

    login(make_user("researcher"))
    blank_lines = b"source_ref,surname\n" + b"\n" * 300_000
    workbook = openpyxl.Workbook()
    workbook.active.append(["source_ref", "surname"])
    workbook.active.cell(row=2, column=16_384, value="x")  # openpyxl would pad 16,384 cells
    far_right = io.BytesIO()
    workbook.save(far_right)
    cases = [
        ("ru", blank_lines, "captures.csv", "В файле CSV больше 250\u00a0000 строк (пустые строки тоже считаются)"),
        ("uk", blank_lines, "captures.csv", "У файлі CSV понад 250\u00a0000 рядків (порожні рядки теж рахуються)"),
        ("ru", far_right.getvalue(), "captures.xlsx", "Таблица отклонена: её лист объявляет размер A1:XFD2"),
        ("uk", far_right.getvalue(), "captures.xlsx", "Таблицю відхилено: її аркуш оголошує розмір A1:XFD2"),
    ]
    for language, data, name, message in cases:
        assert client.post("/language", data={"lang-language": language}).status_code == 302
        before = snapshot(session)  # choosing a language is remembered on the account
        response = job_page_after(client, client.post("/registry/import", data={"file": (io.BytesIO(data), name)}), app)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert message in page, (language, name)
        after = snapshot(session)
        assert {t: r for t, r in after.items() if t != "job"} == {t: r for t, r in before.items() if t != "job"}


def test_import_without_a_file_or_of_the_wrong_kind(client: Any, session: Any, make_user: Any, login: Any) -> None:
    """Refused on the form itself: no job is made for what is plainly not an import."""
    login(make_user("researcher"))
    english(client)
    before = snapshot(session)
    response = client.post("/registry/import", data={})
    assert response.status_code == 200 and "has-error" in response.get_data(as_text=True)
    response = client.post("/registry/import", data={"file": (io.BytesIO(PNG), "captures.xlsx")})
    assert response.status_code == 200 and "not an .xlsx spreadsheet" in response.get_data(as_text=True)
    response = client.post("/registry/import", data={"file": (io.BytesIO(PNG), "captures.png")})
    assert response.status_code == 200 and "Only .xlsx and .csv" in response.get_data(as_text=True)
    response = client.post("/registry/import", data={"file": (io.BytesIO(b""), "captures.csv")})
    assert response.status_code == 200 and "The file is empty" in response.get_data(as_text=True)
    assert snapshot(session) == before


# ---------------------------------------------------------------------------------------------
# Administration


def _audit_rows(page: str) -> list[tuple[str, str, str]]:
    """(actor, action, record) of each listed event."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr><td>\d+</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>\s*<td>(.*?)</td>", body, re.S)
    return [(actor, action, re.sub(r"<[^>]+>", "", record)) for actor, action, record in rows]


def test_admin_audit_page_lists_and_filters(client: Any, session: Any, make_user: Any, make_person: Any,
                                            login: Any) -> None:
    """Issue 12, finding 5: filters on exact codes only, free-text actions, missing record types,
    links to pages the admin may not open, no sign-ins in the log."""
    admin = make_user("admin", email="admin@example.org")
    first = make_user("researcher", email="first@example.org")
    second = make_user("researcher", email="second@example.org")
    p1 = make_person(first, surname="Выдумкин")
    p2 = make_person(second, surname="Макетов")
    assert client.post("/login", data={"email": "first@example.org", "password": "wrong password"}).status_code == 401
    login(admin)
    english(client)
    page = client.get("/admin/audit").get_data(as_text=True)
    rows = _audit_rows(page)
    total = session.exec(select(AuditEvent)).all()
    session.commit()
    assert len(rows) == len(total)
    assert ("first@example.org", "Person added", f"Person #{p1.id}") in rows
    # Sign-ins are recorded, a failed one too (the email typed, never the password).
    assert ("admin@example.org", "Signed in", f"Account #{admin.id}") in rows
    assert ("—", "Failed sign-in", f"Account #{first.id}") in rows and "wrong password" not in page
    # An admin alone may not open a person's page: no link that would only lead to a refusal.
    assert f'href="/registry/persons/{p1.id}"' not in page and f'href="/admin/users/{first.id}"' in page
    # The action is chosen from a list, in words; every kind of record can be chosen.
    assert '<option value="person.merge">Duplicates merged</option>' in page
    for kind in ("inquiry", "exchange_list", "match", "office", "counterpart_list"):
        assert f'<option value="{kind}">' in page

    # Who: a fragment of the email (or the name), any case.
    rows = _audit_rows(client.get("/admin/audit", query_string={"actor": "SECOND"}).get_data(as_text=True))
    assert rows and {actor for actor, _a, _r in rows} == {"second@example.org"}

    rows = _audit_rows(client.get("/admin/audit", query_string={"action": "person.create"}).get_data(as_text=True))
    assert sorted(rows) == sorted([("first@example.org", "Person added", f"Person #{p1.id}"),
                                   ("second@example.org", "Person added", f"Person #{p2.id}")])

    rows = _audit_rows(client.get("/admin/audit", query_string={"entity_type": "person", "entity_id": p2.id})
                       .get_data(as_text=True))
    assert rows and {record for _a, _b, record in rows} == {f"Person #{p2.id}"}

    rows = _audit_rows(client.get("/admin/audit", query_string={"actor": "first@example.org",
                                                                "action": "user.create"}).get_data(as_text=True))
    assert rows == [("first@example.org", "Account created", f"Account #{first.id}")]
    assert _audit_rows(client.get("/admin/audit", query_string={"actor": "nobody@example.org"}).get_data(as_text=True)) == []

    # A date range (UTC days, both included).
    from datetime import timedelta

    from pow_registry import clock

    today, yesterday = clock.today(), clock.today() - timedelta(days=1)
    rows = _audit_rows(client.get("/admin/audit", query_string={"since": today.strftime("%d.%m.%Y")})
                       .get_data(as_text=True))
    assert len(rows) == len(total)
    assert _audit_rows(client.get("/admin/audit", query_string={"until": yesterday.isoformat()})
                       .get_data(as_text=True)) == []

    # The filtered log as CSV, in the same words.
    download = client.get("/admin/audit.csv", query_string={"action": "person.create"})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    lines = download.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert len(lines) == 3 and all(",Person added,person.create," in line for line in lines[1:])
    assert "Surname: — → Выдумкин" in download.get_data(as_text=True)


def test_audit_page_pages(make_app: Any, session: Any, make_user: Any, make_person: Any, login: Any) -> None:
    app = make_app()
    admin = make_user("admin")
    researcher = make_user("researcher")
    for i in range(26):  # two events each: more than a page of 50
        make_person(researcher, surname=f"Выдумкин{'а' * i}")
    client = app.test_client()
    login(admin, test_client=client)
    first = _audit_rows(client.get("/admin/audit").get_data(as_text=True))
    second = _audit_rows(client.get("/admin/audit?page=2").get_data(as_text=True))
    assert len(first) == 50 and second and len(second) <= 50


def test_admin_creates_a_user_and_edits_roles(app: Any, client: Any, session: Any, make_user: Any,
                                              login: Any) -> None:
    admin = make_user("admin", email="admin@example.org")
    login(admin)
    english(client)
    assert client.get("/admin/users/new").status_code == 200
    response = client.post("/admin/users/new", data={"email": "Novikova@Example.org", "display_name": "Новикова",
                                                     "roles": ["staff"], "password": "a long enough password"})
    assert response.status_code == 302
    user = session.exec(select(User).where(User.email == "novikova@example.org")).one()
    session.commit()
    assert user.roles == "staff" and user.display_name == "Новикова"
    assert "novikova@example.org" in client.get("/admin/users").get_data(as_text=True)

    # A bad form: every problem on its field, nothing created.
    before = snapshot(session)
    response = client.post("/admin/users/new", data={"email": "novikova@example.org", "roles": ["pope"],
                                                     "password": "short"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("email", "password"):
        assert re.search(rf'has-error"[^>]*>\s*<label for="{field}"', page), field
    assert snapshot(session) == before

    # The new account works, with its roles, once its owner has replaced the password the admin
    # chose (issue 12, finding 7): until then every page leads to the password page.
    staff_client = app.test_client()
    login(user, password="a long enough password", test_client=staff_client)
    assert fetch(session, User, user.id).must_change_password
    refused = staff_client.get("/registry/")
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/account/password")
    changed = staff_client.post("/account/password", data={"current_password": "a long enough password",
                                                           "new_password": "Kalina-malina 2031 bereza"})
    assert changed.status_code == 302 and not fetch(session, User, user.id).must_change_password
    assert staff_client.get("/registry/").status_code == 200
    assert staff_client.get("/registry/persons/new").status_code == 403

    # Edit roles: researcher too.
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    response = client.post(f"/admin/users/{user.id}", data={"version": hidden(page, "version"), "is_active": "y",
                                                            "roles": ["researcher", "staff"], "display_name": "Новикова"})
    assert response.status_code == 302
    assert fetch(session, User, user.id).roles == "researcher,staff"
    assert staff_client.get("/registry/persons/new").status_code == 200
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "user",
                                                   AuditEvent.entity_id == user.id)).all()
    session.commit()
    by_admin = [e for e in events if e.actor_id == admin.id]
    assert [e.action for e in by_admin] == ["user.create", "user.update"]
    # The rest is the new user's own: signing in and replacing the password.
    assert {e.action for e in events if e.actor_id != admin.id} == {"auth.login", "user.password_change"}


def test_an_admin_cannot_lock_themselves_out(client: Any, session: Any, make_user: Any, login: Any) -> None:
    admin = make_user("admin")
    login(admin)
    page = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    response = client.post(f"/admin/users/{admin.id}", data={"version": hidden(page, "version"), "roles": ["staff"],
                                                             "is_active": "y"})
    assert response.status_code == 200
    assert fetch(session, User, admin.id).roles == "admin"
    assert client.get("/admin/users").status_code == 200


# ---------------------------------------------------------------------------------------------
# Language


def _lang(page: str) -> str:
    return re.search(r'<html lang="([a-z]+)"', page).group(1)


def test_language_choice_of_a_logged_in_user_persists(app: Any, session: Any, make_user: Any, login: Any) -> None:
    user = make_user("researcher")
    client = app.test_client()
    login(user, test_client=client)
    assert _lang(client.get("/registry/").get_data(as_text=True)) == "ru"
    response = client.post("/language", data={"lang-language": "uk", "lang-next": "/registry/"})
    assert response.status_code == 302 and response.headers["Location"] == "/registry/"
    assert _lang(client.get("/registry/").get_data(as_text=True)) == "uk"
    assert fetch(session, User, user.id).preferred_language == "uk"
    client.post("/logout")
    other = app.test_client()  # another browser: the choice follows the account
    login(user, test_client=other)
    assert _lang(other.get("/registry/").get_data(as_text=True)) == "uk"


def test_language_choice_of_an_anonymous_visitor_is_kept_in_the_session(app: Any) -> None:
    client = app.test_client()
    assert _lang(client.get("/login").get_data(as_text=True)) == "ru"
    client.post("/language", data={"lang-language": "en"})
    assert _lang(client.get("/login").get_data(as_text=True)) == "en"
    assert _lang(app.test_client().get("/login").get_data(as_text=True)) == "ru"
    client.post("/language", data={"lang-language": "xx"})  # not offered: ignored
    assert _lang(client.get("/login").get_data(as_text=True)) == "en"


def test_browser_language_is_the_default(app: Any) -> None:
    page = app.test_client().get("/login", headers={"Accept-Language": "uk-UA,uk;q=0.9"}).get_data(as_text=True)
    assert _lang(page) == "uk"


def test_merges_read_with_names_and_an_undo_asks_what_it_restores_and_why(
    client: Any, session: Any, make_user: Any, make_person: Any, login: Any, audit_key: bytes
) -> None:
    """Issue 12, finding 6: the history showed "#28 → #9" with no names, who or why, and undo asked nothing."""
    from pow_registry.models import PersonMerge
    from pow_registry.services import registry

    researcher = make_user("researcher")
    researcher.display_name = "Макетова Ирина"
    session.add(researcher)
    session.commit()
    keep = make_person(surname="Выдумкин", given_name="Виталий", date_of_birth="2005-03-12")
    other = make_person(surname="Vydumkin", given_name="Vitalii", date_of_birth="2005",
                        report={"capture_date": "2024-08-12", "capture_place": "Шаблоновка"})
    record = registry.merge_persons(session=session, actor=researcher, audit_key=audit_key, keep_id=keep.id,
                                    merge_id=other.id, keep_version=keep.version, merge_version=other.version,
                                    reason="Одно видео, один человек.")
    session.commit()
    admin = make_user("admin")
    login(admin)
    english(client)
    history = client.get("/admin/merges").get_data(as_text=True)
    for text in ("Выдумкин Виталий", "Vydumkin Vitalii", "Макетова Ирина", "Одно видео, один человек."):
        assert text in history
    assert f'/registry/persons/{keep.id}"' not in history  # an admin alone may not open the person page
    page = client.get(f"/admin/merges/{record.id}/undo").get_data(as_text=True)
    assert "Шаблоновка" in page and "2024-08-12" in page  # the report that goes back
    # No reason, or no confirmation: nothing happens.
    for data in ({"reason": "", "confirm": "y"}, {"reason": "Разные люди."}):
        assert client.post(f"/admin/merges/{record.id}/undo", data=data).status_code == 400
        assert fetch(session, PersonMerge, record.id).undone_at is None
    done = client.post(f"/admin/merges/{record.id}/undo", data={"reason": "Разные даты рождения.", "confirm": "y"})
    assert done.status_code == 302
    assert fetch(session, PersonMerge, record.id).undone_at is not None
    history = client.get("/admin/merges").get_data(as_text=True)
    assert "Разные даты рождения." in history and "Undone on" in history
    # Reloading the POST changes nothing more and says so.
    again = client.post(f"/admin/merges/{record.id}/undo", data={"reason": "Ещё раз.", "confirm": "y"})
    assert again.status_code == 200 and "Undone on" in again.get_data(as_text=True)


def test_a_password_an_admin_resets_is_replaced_at_the_next_sign_in_and_the_cli_one_is_not(
    app: Any, client: Any, session: Any, make_user: Any, login: Any
) -> None:
    admin = make_user("admin")
    staff = make_user("staff")
    assert not staff.must_change_password  # an operator's own password (users create, the fixtures)
    login(admin)
    assert client.post(f"/admin/users/{staff.id}/password",
                       data={"new_password": "Ryabina-osen 2031 doroga"}).status_code == 302
    assert fetch(session, User, staff.id).must_change_password
    result = app.test_cli_runner().invoke(args=["users", "create", "cli-made@example.org", "--role", "staff",
                                                "--password-stdin"], input="Zemlyanika-leto 2032 pole\n")
    assert result.exit_code == 0, result.output
    made = session.exec(select(User).where(User.email == "cli-made@example.org")).one()
    session.commit()
    assert not made.must_change_password


def test_a_duplicate_typed_by_number_is_shown_side_by_side_then_merged(
    client: Any, session: Any, make_user: Any, make_person: Any, login: Any
) -> None:
    """Found in a browser walk: typing the duplicate's number and merging always failed with
    "someone else changed this record" (no version was sent for a record never shown)."""
    from pow_registry.models import Person

    researcher = make_user("researcher")
    keep = make_person(researcher, surname="Выдумкин", date_of_birth="2005-03-12")
    other = make_person(researcher, surname="Vydumkin", date_of_birth="2005")
    third = make_person(researcher, surname="Макетов", date_of_birth="1990")
    login(researcher)
    english(client)
    page = client.get(f"/registry/persons/{keep.id}/merge").get_data(as_text=True)
    data = {"keep_version": hidden(page, "keep_version"), "merge_version": "", "merge_id": str(other.id),
            "reason": "Одно видео."}
    shown = client.post(f"/registry/persons/{keep.id}/merge", data=data)
    assert shown.status_code == 200 and "Check the two records side by side" in shown.get_data(as_text=True)
    assert fetch(session, Person, other.id).merged_into_id is None
    seen_version = hidden(shown.get_data(as_text=True), "merge_version")
    # Changing the number after comparing shows the new one first too.
    again = client.post(f"/registry/persons/{keep.id}/merge", data={**data, "merge_version": seen_version,
                                                                     "merge_id": str(third.id)})
    assert "Check the two records side by side" in again.get_data(as_text=True)
    assert fetch(session, Person, third.id).merged_into_id is None
    done = client.post(f"/registry/persons/{keep.id}/merge", data={**data, "merge_version": seen_version})
    assert done.status_code == 302
    assert fetch(session, Person, other.id).merged_into_id == keep.id


# ---------------------------------------------------------------------------------------------
# Partial identities (issue 13), with CSRF on as in production

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _token(client: Any, url: str) -> str:
    match = CSRF_RE.search(client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def test_a_man_known_by_a_given_name_and_a_call_sign_is_added_then_completed(make_app: Any, session: Any,
                                                                            make_user: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    user = make_user("researcher")
    assert client.post("/login", data={"email": user.email, "password": "correct horse battery staple",
                                       "csrf_token": _token(client, "/login")}).status_code == 302
    assert user.preferred_language == "ru"  # the pages below are read in Russian
    form = client.get("/registry/persons/new").get_data(as_text=True)
    assert 'name="call_sign"' in form and 'name="appearance"' in form
    assert not re.search(r'<input[^>]*name="surname"[^>]*required', form)  # a surname is not required

    # Nothing that identifies him: refused on the surname field, nothing written.
    before = snapshot(session)
    response = client.post("/registry/persons/new", data={
        "csrf_token": _token(client, "/registry/persons/new"), "rank": "рядовой", "notes": "Лица не видно.",
        "report_capture_date": "2024-08-10"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<span class="error" id="surname-error">Пока ничто не позволяет его опознать', page)
    assert snapshot(session) == before

    # A given name, a call sign in quotes and a unit are enough.
    response = client.post("/registry/persons/new", data={
        "csrf_token": _token(client, "/registry/persons/new"), "given_name": "Виктор", "call_sign": "«Сокол»",
        "unit": "в/ч 12345", "health": "unknown", "report_capture_date": "2024-08-10",
        "report_capture_place": "Суджа"})
    assert response.status_code == 302
    person_id = int(re.search(r"/registry/persons/(\d+)$", response.headers["Location"]).group(1))
    person = fetch(session, Person, person_id)
    assert (person.surname, person.given_name, person.call_sign, person.unit_number) == ("", "Виктор", "Сокол", "12345")
    page = client.get(f"/registry/persons/{person_id}").get_data(as_text=True)
    assert f"#{person_id} Виктор (позывной «Сокол», фамилия неизвестна)</h1>" in page

    # Later the surname becomes known: the edit form completes the record, the history says so.
    edit = client.get(f"/registry/persons/{person_id}/edit").get_data(as_text=True)
    assert 'value="Сокол"' in edit
    response = client.post(f"/registry/persons/{person_id}/edit", data={
        "csrf_token": CSRF_RE.search(edit).group(1), "version": hidden(edit, "version"), "surname": "Выдумкин",
        "given_name": "Виктор", "call_sign": "Сокол", "unit": "в/ч 12345", "health": "unknown"})
    assert response.status_code == 302
    assert fetch(session, Person, person_id).surname == "Выдумкин"
    page = client.get(f"/registry/persons/{person_id}").get_data(as_text=True)
    assert f"#{person_id} Выдумкин Виктор</h1>" in page
    assert '<div class="change">Фамилия: — → Выдумкин</div>' in page  # the audit trail on his page
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "person.update",
                                                  AuditEvent.entity_id == person_id)).one()
    session.commit()
    assert event.actor_id == user.id and '"surname": ["", "Выдумкин"]' in event.changes
