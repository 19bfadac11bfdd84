"""The security promises of design/security.md, each as a test that fails when it breaks.

CSRF is off in the default test config; the tests here that need it turn it on.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from support import PNG, TEST_PASSWORD, WORLD_ACCESS_CODE, registry_rows, snapshot

from pow_registry import clock
from pow_registry.models import Evidence, User
from pow_registry.services import accounts, registry

NEW_PASSWORD = "a different horse battery 2026"
CSRF_RE = re.compile(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"')


# ---------------------------------------------------------------------------------------------
# helpers




def first_report_id(session: Any, person_id: int) -> int:
    report_id = registry.person_detail(session, person_id).reports[0].report.id
    session.commit()  # end the read before the app writes
    return report_id


def files_under(path: str | Path) -> list[str]:
    root = Path(path)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def csrf_token(client: Any, url: str = "/login") -> str:
    page = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login_with_token(client: Any, user: User, password: str = TEST_PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post("/login", data={"email": user.email, "password": password, "csrf_token": token})
    assert response.status_code == 302, "login failed"


def post_login(client: Any, email: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def is_logged_in(client: Any) -> bool:
    response = client.get("/account/password")
    return response.status_code == 200


def stays_on_site(location: str) -> bool:
    """Where a browser would go: same scheme and host as the app, no backslash tricks."""
    if "\\" in location or "%5c" in location.lower():
        return False
    resolved = urlsplit(urljoin("http://localhost/login", location))
    return resolved.scheme == "http" and resolved.netloc == "localhost"


@dataclass
class World:
    actor: User  # every role, so every endpoint lets it in
    author: User  # a second researcher who entered the evidence
    other: User  # an account for the admin pages
    person_id: int
    person2_id: int
    report_id: int
    evidence_id: int
    merge_id: int
    inquiry_id: int
    match_id: int  # an inquiry ↔ person candidate
    duplicate_id: int  # a person ↔ person candidate
    office_id: int
    list_id: int  # a draft exchange list (a verification request) with one entry
    entry_id: int
    frozen_list_id: int  # a frozen one, its spreadsheet not downloaded yet
    frozen_entry_id: int
    counterpart_list_id: int  # a counterpart list with one name the matcher links to the person
    job_id: int  # a finished inquiries import whose access codes wait for their one download


@pytest.fixture
def world(app: Any, session: Any, audit_key: bytes, make_user: Any, make_person: Any) -> World:
    actor = make_user("admin", "researcher", "staff", email="actor@example.org")
    author = make_user("researcher", email="author@example.org")
    other = make_user("staff", email="other@example.org")
    ids = registry_rows(app=app, session=session, audit_key=audit_key, author=author, make_person=make_person,
                        job_owner=actor)
    person2 = make_person(author, surname="Выдумкін", report={"capture_date": "2024-08-10", "claim": "killed"})
    registry.add_capture_report(session=session, actor=author, audit_key=audit_key, person_id=person2.id,
                                report={"capture_date": "2024-08-10", "claim": "captured"})  # a conflict
    from sqlmodel import select

    from pow_registry.models import MatchCandidate

    duplicate = session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == "person",
                                                          MatchCandidate.right_kind == "person")).first()
    session.commit()
    assert duplicate is not None, "the world needs a pair of persons the matcher proposes"
    return World(actor, author, other, ids["person_id"], person2.id, ids["report_id"], ids["evidence_id"],
                 ids["merge_id"], ids["inquiry_id"], ids["match_id"], duplicate.id, ids["office_id"],
                 ids["list_id"], ids["entry_id"], ids["frozen_list_id"], ids["frozen_entry_id"],
                 ids["counterpart_list_id"], ids["job_id"])


def _answers_csv() -> tuple[Any, str]:
    import io

    return (io.BytesIO("№,Відповідь\n1,отримано\n".encode()), "answers.csv")


def _counterpart_csv() -> tuple[Any, str]:
    import io

    return (io.BytesIO("surname,given_name\nМакетов,Виталий\n".encode()), "returned.csv")


def _import_csv() -> tuple[Any, str]:
    import io

    data = "source_ref,surname,capture_date\nCSRF-1,Выдумкин,2024-08-10\n".encode()
    return (io.BytesIO(data), "captures.csv")


def _inquiries_csv() -> tuple[Any, str]:
    import io

    data = "source_ref,surname,requester_name\nCSRF-I1,Выдумкин,Выдумкина Анна\n".encode()
    return (io.BytesIO(data), "inquiries.csv")


def post_requests(w: World, session: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """For every POST endpoint: a URL and form data that change something when accepted."""
    from pow_registry.models import (
        CaptureReport,
        ExchangeList,
        ExchangeListEntry,
        Inquiry,
        MatchCandidate,
        OmbudsmanOffice,
        Person,
    )

    person = session.get(Person, w.person_id)
    person2 = session.get(Person, w.person2_id)
    report = session.get(CaptureReport, w.report_id)
    evidence = session.get(Evidence, w.evidence_id)
    inquiry = session.get(Inquiry, w.inquiry_id)
    match = session.get(MatchCandidate, w.match_id)
    duplicate = session.get(MatchCandidate, w.duplicate_id)
    office = session.get(OmbudsmanOffice, w.office_id)
    draft = session.get(ExchangeList, w.list_id)
    entry = session.get(ExchangeListEntry, w.entry_id)
    frozen_entry = session.get(ExchangeListEntry, w.frozen_entry_id)
    assert inquiry is not None and match is not None and duplicate is not None
    assert office is not None and draft is not None and entry is not None and frozen_entry is not None
    session.commit()
    e = f"e{w.evidence_id}"
    i = w.inquiry_id
    return {
        "inquiries.new": ("/inquiries/new", {"surname": "Макетов", "requester_name": "Макетова Ирина"}),
        "inquiries.edit": (f"/inquiries/{i}/edit", {"version": inquiry.version, "surname": "Макетов",
                                                   "requester_name": "Макетова Анна"}),
        "inquiries.status": (f"/inquiries/{i}/status", {"version": inquiry.version, "status": "closed",
                                                       "closed_reason": "withdrawn"}),
        "inquiries.family": (f"/inquiries/{i}/family", {"version": inquiry.version, "family_status": "received",
                                                       "family_message": "Ищем.", "action": "save"}),
        "inquiries.reissue": (f"/inquiries/{i}/access-code", {"confirm": "y"}),
        "inquiries.assign": (f"/inquiries/{i}/assign", {"version": inquiry.version, "take": "1"}),
        "inquiries.erase_contact": (f"/inquiries/{i}/contact-data/erase", {"version": inquiry.version,
                                                                           "reason": "Семья попросила.", "confirm": "y"}),
        "matches.confirm": (f"/matches/{w.match_id}/confirm", {"confirm-version": match.version}),
        "matches.reject": (f"/matches/{w.match_id}/reject", {"reject-version": match.version,
                                                             "reject-reason": "Другой человек."}),
        "duplicates.confirm": (f"/duplicates/{w.duplicate_id}/confirm", {"confirm-version": duplicate.version}),
        "duplicates.reject": (f"/duplicates/{w.duplicate_id}/reject", {"reject-version": duplicate.version,
                                                                       "reject-reason": "Братья."}),
        "family.status": ("/status", {"reference": inquiry.reference, "access_code": WORLD_ACCESS_CODE}),
        "family.inquire": ("/inquire", {"surname": "Небывалов", "given_name": "Пётр", "requester_name": "Небывалова Вера",
                                        "requester_country": "RU", "phones": "+7 999 000 00 07",
                                        "preferred_language": "ru", "consent_contact": "y"}),
        "auth.login": ("/login", {"email": w.actor.email, "password": TEST_PASSWORD}),
        "auth.logout": ("/logout", {}),
        "auth.language": ("/language", {"lang-language": "en"}),
        "auth.password": ("/account/password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}),
        "auth.login_code": ("/login/code", {"code": "123456"}),
        "auth.two_factor_setup": ("/account/two-factor", {"code": "123456"}),
        "registry.person_new": ("/registry/persons/new", {"surname": "Макетов", "report_capture_date": "2024-08-10"}),
        "registry.person_edit": (f"/registry/persons/{w.person_id}/edit",
                                 {"version": person.version, "surname": "Выдумкин", "given_name": "Изменён"}),
        "registry.report_new": (f"/registry/persons/{w.person_id}/reports/new", {"capture_date": "2024-08-12"}),
        "registry.report_edit": (f"/registry/reports/{w.report_id}/edit",
                                 {"version": report.version, "capture_date": "2024-08-11", "capture_place": "Суджа"}),
        "registry.evidence_new": (f"/registry/reports/{w.report_id}/evidence/new",
                                  {"url": "https://example.org/post/2", "kind": "video"}),
        "registry.evidence_verify": (f"/registry/evidence/{w.evidence_id}/verify",
                                     {f"{e}-version": evidence.version, f"{e}-decision": "verified"}),
        "registry.person_status": (f"/registry/persons/{w.person_id}/status",
                                   {"version": person.version, "status": "deceased", "reason": "сообщение"}),
        "registry.person_conflict": (f"/registry/persons/{w.person2_id}/conflict",
                                     {"version": person2.version, "note": "проверено"}),
        "registry.person_merge": (f"/registry/persons/{w.person_id}/merge",
                                  {"merge_id": str(w.person2_id), "keep_version": person.version,
                                   "merge_version": person2.version, "reason": "один человек"}),
        "registry.import_captures": ("/registry/import", {"file": _import_csv()}),
        "inquiries.import_inquiries": ("/inquiries/import", {"file": _inquiries_csv()}),
        "jobs.codes": (f"/jobs/{w.job_id}/codes", {}),
        "admin.user_new": ("/admin/users/new", {"email": "new@example.org", "password": NEW_PASSWORD,
                                                "roles": ["staff"]}),
        "admin.user_edit": (f"/admin/users/{w.other.id}", {"version": w.other.version, "roles": ["staff"],
                                                           "display_name": "Макетов"}),
        "admin.user_password": (f"/admin/users/{w.other.id}/password", {"new_password": NEW_PASSWORD}),
        "admin.merge_undo": (f"/admin/merges/{w.merge_id}/undo", {"reason": "разные люди", "confirm": "y"}),
        "admin.rescore": ("/admin/matching/rescore", {}),
        "offices.new": ("/admin/offices/new", {"name": "Другой вымышленный офис", "country": "UA",
                                               "language": "ru", "columns": ["surname", "date_of_birth"]}),
        "offices.edit": (f"/admin/offices/{w.office_id}/edit", {"version": office.version, "name": office.name,
                                                                "country": "UA", "language": "en"}),
        "offices.active": (f"/admin/offices/{w.office_id}/active", {"version": office.version, "active": "0"}),
        "lists.new": ("/lists/new", {"office_id": str(w.office_id), "kind": "exchange", "title": "Осень"}),
        "lists.add": (f"/lists/{w.list_id}/add", {"person_id": str(w.person2_id), "reason": "спрашивает мать"}),
        "lists.add_proposed": (f"/lists/{w.list_id}/add-proposed", {"person_ids": str(w.person2_id)}),
        "lists.remove": (f"/lists/{w.list_id}/entries/{w.entry_id}/remove",
                         {"version": entry.version, "reason": "семья просит подождать"}),
        "lists.move": (f"/lists/{w.list_id}/entries/{w.entry_id}/move",
                       {"version": entry.version, "position": "1", "reason": "первым"}),
        "lists.freeze": (f"/lists/{w.list_id}/freeze", {"version": draft.version, "confirm": "y"}),
        "lists.download": (f"/lists/{w.frozen_list_id}/download", {}),
        "lists.outcome": (f"/lists/{w.frozen_list_id}/entries/{w.frozen_entry_id}/outcome",
                          {"version": frozen_entry.version, "outcome": "acknowledged", "note": "получено"}),
        "lists.answers": (f"/lists/{w.frozen_list_id}/answers", {"file": _answers_csv()}),
        "counterpart.new": ("/counterpart/new", {"file": _counterpart_csv(), "kind": "returned",
                                                 "title": "Вымышленный обмен"}),
        "counterpart.reconcile": (f"/counterpart/{w.counterpart_list_id}/reconcile", {}),
    }


def test_every_post_endpoint_has_a_csrf_case(app: Any, world: World, session: Any) -> None:
    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods}
    assert posts == set(post_requests(world, session)), "a new POST endpoint needs a case in post_requests()"


@pytest.mark.parametrize("endpoint", sorted([
    "auth.login", "auth.logout", "auth.language", "auth.password", "auth.login_code", "auth.two_factor_setup",
    "registry.person_new", "registry.person_edit",
    "registry.report_new", "registry.report_edit", "registry.evidence_new", "registry.evidence_verify",
    "registry.person_status", "registry.person_conflict", "registry.person_merge", "registry.import_captures",
    "inquiries.import_inquiries", "jobs.codes",
    "admin.user_new", "admin.user_edit", "admin.user_password", "admin.merge_undo", "admin.rescore",
    "inquiries.new", "inquiries.edit", "inquiries.status", "inquiries.family", "inquiries.reissue",
    "inquiries.erase_contact", "inquiries.assign", "matches.confirm", "matches.reject", "duplicates.confirm", "duplicates.reject", "family.status",
    "family.inquire", "offices.new", "offices.edit", "offices.active", "lists.new", "lists.add",
    "lists.add_proposed", "lists.remove", "lists.move", "lists.freeze", "lists.download", "lists.outcome",
    "lists.answers", "counterpart.new", "counterpart.reconcile",
]))
def test_a_post_without_csrf_token_is_refused_and_changes_nothing(make_app: Any, world: World, session: Any,
                                                                   endpoint: str) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    url, data = post_requests(world, session)[endpoint]
    client = app.test_client()
    if endpoint not in ("auth.login", "family.status", "family.inquire"):
        login_with_token(client, world.actor)
    before, files_before = snapshot(session), files_under(app.config["EVIDENCE_DIR"])

    response = client.post(url, data=data)
    assert response.status_code == 400
    assert snapshot(session) == before
    assert files_under(app.config["EVIDENCE_DIR"]) == files_before
    if endpoint in ("auth.login", "family.status", "family.inquire"):
        assert not is_logged_in(client)
    else:
        assert is_logged_in(client)  # not even logged out

    # Control: the same request with the token does change something (the family's status
    # page changes nothing: it shows the status instead of the refusal).
    url, data = post_requests(world, session)[endpoint]
    token = csrf_token(client, "/login")
    response = client.post(url, data={**data, "csrf_token": token})
    if endpoint in ("auth.login_code", "auth.two_factor_setup"):
        # Past the CSRF check, a made-up code is refused on its merits (no sign-in pending, or
        # the wrong code): the token is what let it get that far.
        assert response.status_code in (200, 302, 401)
        return
    assert response.status_code in (200, 302, 303)
    if endpoint == "family.status":
        assert data["reference"] in response.get_data(as_text=True)
        assert snapshot(session) == before
    else:
        assert snapshot(session) != before


def test_a_wrong_csrf_token_is_refused(make_app: Any, world: World, session: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login_with_token(client, world.actor)
    before = snapshot(session)
    other = app.test_client()
    foreign_token = csrf_token(other)  # valid, but for someone else's session
    response = client.post("/registry/persons/new", data={"surname": "Макетов", "csrf_token": foreign_token})
    assert response.status_code == 400
    assert snapshot(session) == before


# ---------------------------------------------------------------------------------------------
# Login


def test_unknown_email_and_wrong_password_look_the_same(client: Any, make_user: Any) -> None:
    user = make_user("researcher", email="vydumkin@example.org")
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": TEST_PASSWORD})
    wrong = client.post("/login", data={"email": user.email, "password": "not the password at all"})
    assert unknown.status_code == wrong.status_code == 401
    body_unknown = unknown.get_data(as_text=True).replace("nobody@example.org", "EMAIL")
    body_wrong = wrong.get_data(as_text=True).replace(user.email, "EMAIL")
    assert body_unknown == body_wrong
    assert unknown.headers.get("Set-Cookie", "").split("=")[0] == wrong.headers.get("Set-Cookie", "").split("=")[0]


def test_a_deactivated_account_cannot_log_in(client: Any, make_user: Any, session: Any, audit_key: bytes) -> None:
    admin = make_user("admin")
    user = make_user("researcher")
    accounts.update_user(session=session, actor=admin, audit_key=audit_key, user_id=user.id, version=user.version,
                         roles=["researcher"], is_active=False, display_name="")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    wrong = client.post("/login", data={"email": user.email, "password": "not the password at all"})
    assert response.status_code == 401
    assert response.get_data() == wrong.get_data()
    assert not is_logged_in(client)


def test_the_email_is_case_insensitive_and_a_long_password_is_refused_cheaply(client: Any, make_user: Any) -> None:
    user = make_user("researcher", email="makETov@example.org")
    assert post_login(client, "MAKETOV@example.org", TEST_PASSWORD).status_code == 302
    other = make_user("researcher")
    assert post_login(client, other.email, "x" * 5000).status_code == 401
    assert user.email == "maketov@example.org"


# Login throttling (growing delays per account+address and per address): tests/test_login_throttle.py


# ---------------------------------------------------------------------------------------------
# Sessions


def _copy_session(source: Any, target: Any) -> None:
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def test_new_session_on_login(app: Any, make_user: Any, login: Any) -> None:
    user = make_user("researcher")
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        s["planted"] = "by someone else"
    login(user, test_client=client)
    with client.session_transaction() as s:
        assert "planted" not in s


def test_a_cookie_copied_before_logout_stops_working(app: Any, make_user: Any, login: Any) -> None:
    user = make_user("researcher")
    client, thief = app.test_client(), app.test_client()
    login(user, test_client=client)
    assert client.get("/registry/").status_code == 200
    _copy_session(client, thief)
    assert thief.get("/registry/").status_code == 200
    assert client.post("/logout").status_code == 302
    response = thief.get("/registry/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_password_change_ends_the_other_sessions(app: Any, make_user: Any, login: Any) -> None:
    user = make_user("researcher")
    here, there = app.test_client(), app.test_client()
    login(user, test_client=here)
    login(user, test_client=there)
    response = here.post("/account/password", data={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert here.get("/registry/").status_code == 200  # this one goes on
    assert there.get("/registry/").status_code == 302
    assert post_login(app.test_client(), user.email, TEST_PASSWORD).status_code == 401
    assert post_login(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


def test_a_wrong_current_password_changes_nothing(app: Any, make_user: Any, login: Any) -> None:
    user = make_user("researcher")
    client = app.test_client()
    login(user, test_client=client)
    response = client.post("/account/password", data={"current_password": "wrong password!",
                                                      "new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert post_login(app.test_client(), user.email, TEST_PASSWORD).status_code == 302


def test_deactivation_by_an_admin_ends_the_users_sessions(app: Any, make_user: Any, login: Any,
                                                          session: Any) -> None:
    admin = make_user("admin")
    user = make_user("researcher")
    admin_client, user_client = app.test_client(), app.test_client()
    login(admin, test_client=admin_client)
    login(user, test_client=user_client)
    assert user_client.get("/registry/").status_code == 200
    page = admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    response = admin_client.post(f"/admin/users/{user.id}", data={"version": version, "roles": ["researcher"],
                                                                  "display_name": ""})  # is_active unticked
    assert response.status_code == 302
    assert user_client.get("/registry/").status_code == 302
    assert post_login(app.test_client(), user.email, TEST_PASSWORD).status_code == 401


def test_an_admin_password_reset_ends_the_users_sessions(app: Any, make_user: Any, login: Any) -> None:
    admin = make_user("admin")
    user = make_user("researcher")
    admin_client, user_client = app.test_client(), app.test_client()
    login(admin, test_client=admin_client)
    login(user, test_client=user_client)
    admin_client.post(f"/admin/users/{user.id}/password", data={"new_password": NEW_PASSWORD})
    assert user_client.get("/registry/").status_code == 302
    assert admin_client.get("/admin/users").status_code == 200


def test_a_role_removed_takes_effect_on_the_next_request(app: Any, make_user: Any, login: Any,
                                                         session: Any, audit_key: bytes) -> None:
    admin = make_user("admin")
    user = make_user("researcher", "staff")
    client = app.test_client()
    login(user, test_client=client)
    assert client.get("/registry/persons/new").status_code == 200
    session.refresh(user)  # logging in updated the row
    accounts.update_user(session=session, actor=admin, audit_key=audit_key, user_id=user.id, version=user.version,
                         roles=["staff"], is_active=True, display_name="")
    assert client.get("/registry/persons/new").status_code == 403


def test_inactivity_timeout_logs_out(make_app: Any, make_user: Any, login: Any, time_machine: Any) -> None:
    """Idle for exactly the limit is still in; one second more is out. Each request restarts the wait."""
    time_machine.move_to(clock.now(), tick=False)
    app = make_app(SESSION_INACTIVITY_SECONDS=60)
    user = make_user("researcher")
    client = app.test_client()
    login(user, test_client=client)
    assert client.get("/registry/").status_code == 200
    time_machine.shift(60)
    assert client.get("/registry/").status_code == 200  # at the limit; and it restarts the wait
    time_machine.shift(60)
    assert client.get("/registry/").status_code == 200
    time_machine.shift(61)
    response = client.get("/registry/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/registry/").status_code == 302  # and stays logged out


def test_absolute_session_lifetime(make_app: Any, make_user: Any, login: Any, time_machine: Any) -> None:
    """An active session still ends after PERMANENT_SESSION_LIFETIME: a stolen cookie is not forever."""
    time_machine.move_to(clock.now(), tick=False)
    app = make_app(PERMANENT_SESSION_LIFETIME=3600, SESSION_INACTIVITY_SECONDS=1800)
    user = make_user("researcher")
    client = app.test_client()
    login(user, test_client=client)
    for _ in range(3):  # busy all along: 3 × 1200 s = the whole hour
        time_machine.shift(1200)
        assert client.get("/registry/").status_code == 200
    time_machine.shift(1)
    assert client.get("/registry/").status_code == 302
    login(user, test_client=client)  # a new login starts a new hour
    assert client.get("/registry/").status_code == 200


def test_session_cookie_flags(client: Any, make_user: Any) -> None:
    user = make_user("researcher")
    response = post_login(client, user.email, TEST_PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie or "SameSite=Strict" in cookie


def test_secure_cookie_flag_is_on_unless_overridden(make_app: Any, db_url: str, tmp_path: Path, make_user: Any) -> None:
    from pow_registry.app import create_app

    make_app()  # the fixture's environment: a clean POW_REGISTRY_* and a temporary instance folder
    app = create_app({"TESTING": True, "SECRET_KEY": "s" * 8 + "0123456789abcdefghijklmnopqrstuvwxyz",
                      "DATABASE_URL": db_url, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
                      "ARGON2_PARALLELISM": 1, "EVIDENCE_DIR": str(tmp_path / "evidence"),
                      "WTF_CSRF_ENABLED": False})
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
        user = make_user("researcher")
        response = app.test_client().post("/login", data={"email": user.email, "password": TEST_PASSWORD},
                                          base_url="https://localhost")
        assert response.status_code == 302
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        app.extensions["pow_registry.engine"].dispose()


# ---------------------------------------------------------------------------------------------
# Safe `next`


def test_next_accepts_a_same_site_path(client: Any, make_user: Any) -> None:
    user = make_user("researcher")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD,
                                           "next": "/registry/?q=Vydumkin"})
    assert response.headers["Location"] == "/registry/?q=Vydumkin"


@pytest.mark.parametrize("target", [
    "http:evil.com", "//evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "javascript:alert(1)",
    "/%5Cevil.com", "/%5cevil.com", "/%2F%2Fevil.com", "%2F%2Fevil.com", "/\t/evil.com", " //evil.com",
    "http://localhost@evil.com", "/registry/\r\nLocation: https://evil.com", "///evil.com", "https:/evil.com",
    "data:text/html,<script>alert(1)</script>",
])
def test_next_refuses_anything_off_site(client: Any, make_user: Any, target: str) -> None:
    user = make_user("researcher")
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert re.search(r'<input id="next" name="next" type="hidden" value="">', page), "next kept in the form"
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "next": target})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert stays_on_site(location), location
    assert location == "/"


def test_language_switch_next_is_checked_too(client: Any) -> None:
    response = client.post("/language", data={"lang-language": "en", "lang-next": "//evil.com"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = client.post("/language", data={"lang-language": "en", "lang-next": "/login?x=1"})
    assert response.headers["Location"] == "/login?x=1"


def test_anonymous_redirect_carries_a_safe_next(client: Any, make_user: Any) -> None:
    response = client.get("/registry/?q=Vydumkin")
    assert response.status_code == 302
    user = make_user("researcher")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    match = re.search(r'name="next" type="hidden" value="([^"]*)"', page)
    assert match and match.group(1).replace("&amp;", "&").startswith("/registry/")
    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD,
                                           "next": match.group(1).replace("&amp;", "&")})
    assert response.headers["Location"].startswith("/registry/")


# ---------------------------------------------------------------------------------------------
# Headers, limits, uploads


def _check_page_headers(response: Any) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp, "no CSP"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp or "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_security_headers(app: Any, client: Any, make_user: Any, make_person: Any, login: Any) -> None:
    user = make_user("researcher", "admin")
    person = make_person(user)
    _check_page_headers(client.get("/login"))
    _check_page_headers(client.get("/registry/"))  # the redirect too
    login(user)
    for url in ("/registry/", f"/registry/persons/{person.id}", "/admin/audit", "/admin/users", "/nowhere"):
        _check_page_headers(client.get(url))
    _check_page_headers(client.post("/login", data={"email": "x@example.org", "password": "wrong"}))


def test_max_content_length_is_set(app: Any) -> None:
    assert app.config["MAX_CONTENT_LENGTH"]
    assert app.config["MAX_CONTENT_LENGTH"] >= app.config["EVIDENCE_MAX_BYTES"]
    assert app.config["MAX_CONTENT_LENGTH"] <= 100 * 1024 * 1024


def test_an_oversized_upload_is_refused_with_413(make_app: Any, make_user: Any, make_person: Any, session: Any,
                                                 login: Any) -> None:
    import io

    app = make_app(MAX_CONTENT_LENGTH=20_000)
    user = make_user("researcher")
    person = make_person(user)
    report_id = first_report_id(session, person.id)
    client = app.test_client()
    login(user, test_client=client)
    before = snapshot(session)
    big = PNG + b"\x00" * 30_000
    response = client.post(f"/registry/reports/{report_id}/evidence/new",
                           data={"url": "https://example.org/a", "archive": (io.BytesIO(big), "big.png")})
    assert response.status_code == 413
    response = client.post("/registry/import", data={"file": (io.BytesIO(b"a" * 30_000), "big.csv")})
    assert response.status_code == 413
    assert snapshot(session) == before
    assert files_under(app.config["EVIDENCE_DIR"]) == []


def test_an_oversized_import_is_refused(make_app: Any, make_user: Any, session: Any, login: Any) -> None:
    import io

    app = make_app(IMPORT_MAX_BYTES=1000)
    user = make_user("researcher")
    client = app.test_client()
    login(user, test_client=client)
    before = snapshot(session)
    data = ("source_ref,surname\n" + "".join(f"R{i},Выдумкин\n" for i in range(200))).encode()
    response = client.post("/registry/import", data={"file": (io.BytesIO(data), "big.csv")})
    assert response.status_code == 200
    assert snapshot(session) == before


@pytest.fixture
def evidence_with_archive(app: Any, session: Any, audit_key: bytes, make_user: Any, make_person: Any) -> Evidence:
    from pow_registry.services.archive import EvidenceStore

    author = make_user("researcher")
    person = make_person(author)
    report_id = first_report_id(session, person.id)
    html = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    store = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    return registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report_id,
                                 evidence={"url": "https://example.org/page", "kind": "post"},
                                 archive=(html, "page<script>.html"), store=store)


def test_archived_evidence_is_always_a_download(client: Any, make_user: Any, login: Any,
                                                evidence_with_archive: Evidence) -> None:
    login(make_user("staff"))
    response = client.get(f"/registry/evidence/{evidence_with_archive.id}/archive")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "<" not in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert "no-store" in response.headers["Cache-Control"]
    assert response.data.startswith(b"<!doctype html>")


def test_archive_of_evidence_without_a_copy_is_404(client: Any, make_user: Any, login: Any, session: Any,
                                                   audit_key: bytes, make_person: Any) -> None:
    author = make_user("researcher")
    person = make_person(author)
    report_id = first_report_id(session, person.id)
    row = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report_id,
                                evidence={"url": "https://example.org/page"})
    login(author)
    assert client.get(f"/registry/evidence/{row.id}/archive").status_code == 404
    assert client.get("/registry/evidence/999999/archive").status_code == 404


@pytest.mark.parametrize("name,data", [
    ("tool.elf", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 100),
    ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 100),
    ("photos.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 100),
    ("evil.png", b"MZ\x90\x00" + b"\x00" * 100),  # the name says image; the bytes do not
])
def test_an_unaccepted_file_type_is_refused(app: Any, client: Any, make_user: Any, make_person: Any,
                                            session: Any, login: Any, name: str, data: bytes) -> None:
    import io

    user = make_user("researcher")
    person = make_person(user)
    report_id = first_report_id(session, person.id)
    login(user)
    before = snapshot(session)
    response = client.post(f"/registry/reports/{report_id}/evidence/new",
                           data={"url": "https://example.org/a", "archive": (io.BytesIO(data), name)})
    assert response.status_code == 200
    assert "has-error" in response.get_data(as_text=True)
    assert snapshot(session) == before
    assert files_under(app.config["EVIDENCE_DIR"]) == []


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "http:evil.com",
    "https://", "https:///path", "ftp://example.org/x", "//example.org/x", "https://user@example.org/",
    "https://example", "vbscript:msgbox(1)", "https://exa mple.org/",
])
def test_evidence_url_is_validated_through_the_form(client: Any, make_user: Any, make_person: Any, session: Any,
                                                    login: Any, url: str) -> None:
    user = make_user("researcher")
    person = make_person(user)
    report_id = first_report_id(session, person.id)
    login(user)
    before = snapshot(session)
    response = client.post(f"/registry/reports/{report_id}/evidence/new", data={"url": url, "kind": "post"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'class="field[^"]*has-error"[^>]*>\s*<label for="url"', page), "no error on the url field"
    assert snapshot(session) == before


def test_an_https_evidence_url_is_accepted_and_rendered_safely(client: Any, make_user: Any, make_person: Any,
                                                               session: Any, login: Any) -> None:
    user = make_user("researcher")
    person = make_person(user)
    report_id = first_report_id(session, person.id)
    login(user)
    response = client.post(f"/registry/reports/{report_id}/evidence/new",
                           data={"url": "https://Example.org/post?a=1&b=2", "kind": "post"})
    assert response.status_code == 302
    page = client.get(f"/registry/persons/{person.id}").get_data(as_text=True)
    assert 'href="https://example.org/post?a=1&amp;b=2"' in page
    assert 'rel="noopener noreferrer' in page


# ---------------------------------------------------------------------------------------------
# Output and search


def test_names_are_escaped_on_list_and_person_pages(client: Any, make_user: Any, make_person: Any, login: Any) -> None:
    user = make_user("researcher")
    payload = "<script>alert(1)</script>"
    person = make_person(user, surname=payload, given_name='"><img src=x onerror=alert(1)>',
                         report={"capture_place": payload, "circumstances": payload})
    login(user)
    for url in ("/registry/", f"/registry/persons/{person.id}", f"/registry/persons/{person.id}/edit"):
        page = client.get(url).get_data(as_text=True)
        assert payload not in page, url
        assert "<img src=x" not in page, url
        assert "&lt;script&gt;" in page, url


@pytest.mark.parametrize("field,value", [("q", "%"), ("q", "_"), ("q", "%%"), ("q", "_%_"), ("place", "%"),
                                         ("place", "_"), ("unit", "%"), ("unit", "_"), ("q", "Выд%")])
def test_search_wildcards_do_not_match_everything(client: Any, make_user: Any, make_person: Any, login: Any,
                                                  field: str, value: str) -> None:
    user = make_user("researcher")
    make_person(user, surname="Выдумкин", given_name="Виталий", unit="в/ч 12345",
                report={"capture_place": "Суджа"})
    make_person(user, surname="Макетов", given_name="Алексей", unit="в/ч 54321",
                report={"capture_place": "Курск"})
    login(user)
    page = client.get("/registry/", query_string={field: value}).get_data(as_text=True)
    assert response_names(page).count("Макетов") == 0, f"{field}={value!r} matched everything"


def response_names(page: str) -> list[str]:
    return re.findall(r'<a href="/registry/persons/\d+">([^<]+)</a>', page)


def test_a_plain_search_still_works(client: Any, make_user: Any, make_person: Any, login: Any) -> None:
    user = make_user("researcher")
    make_person(user, surname="Выдумкин", given_name="Виталий")
    make_person(user, surname="Макетов", given_name="Алексей")
    login(user)
    assert len(response_names(client.get("/registry/").get_data(as_text=True))) == 2
    names = response_names(client.get("/registry/", query_string={"q": "Makyetov"}).get_data(as_text=True))
    assert len(names) <= 1
    names = response_names(client.get("/registry/", query_string={"q": "Макетов"}).get_data(as_text=True))
    assert names == ["Макетов Алексей Евгеньевич"]


def test_paging_is_capped(client: Any, make_user: Any, login: Any) -> None:
    login(make_user("researcher", "admin"))
    for url in ("/registry/?page=99999999999999999999", "/registry/?page=-1", "/registry/?page=abc",
                "/admin/audit?page=99999999999999999999", "/admin/audit?entity_id=99999999999999999999999",
                "/admin/audit?entity_id=²"):
        assert client.get(url).status_code == 200, url
    for url in ("/registry/persons/99999999999999999999", "/registry/persons/2147483648",
                "/registry/evidence/99999999999999999999/archive", "/admin/users/99999999999999999999"):
        assert client.get(url).status_code == 404, url


def test_a_hostile_import_file_is_shown_escaped(app: Any, client: Any, make_user: Any, login: Any, session: Any) -> None:
    """What the file says comes back escaped on the job's page (the job ran it, nothing was imported)."""
    import io

    from support import job_page_after

    login(make_user("researcher"))
    before = snapshot(session)
    for header in ("<b>bold</b>", "100%", "%(mb)d", "<script>alert(1)</script>"):
        data = f"source_ref,surname,{header}\nR1,Выдумкин,x\n".encode()
        response = client.post("/registry/import", data={"file": (io.BytesIO(data), "hostile.csv")})
        response = job_page_after(client, response, app)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, header
        assert "<b>bold</b>" not in page and "<script>alert" not in page
        assert "Unknown columns" in page or "Неизвестн" in page or "column" in page.lower()
        if header == "100%":
            assert "100%" in page and "100%%" not in page
    after = snapshot(session)
    assert {t: rows for t, rows in after.items() if t != "job"} == {t: rows for t, rows in before.items() if t != "job"}
    assert len(after["job"]) == 4


# ---------------------------------------------------------------------------------------------
# Garbage in: never a server error


GARBAGE = ["", "x", "²", "-1", "9" * 30, "9" * 5000, "<script>alert(1)</script>", "\u202eevil", "%", "'; --"]
GET_ARGS = ("q", "dob", "unit", "place", "status", "conflict", "page", "actor", "action", "entity_type", "entity_id",
            "other", "next")


def _garbled(data: dict[str, Any], value: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, old in data.items():
        if isinstance(old, tuple):  # a file: keep it
            out[key] = old
        elif isinstance(old, list):
            out[key] = [value]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: repr(v[:12]))
def test_garbage_posted_to_any_form_is_never_a_server_error(app: Any, world: World, session: Any,
                                                            login: Any, value: str) -> None:
    for endpoint, (url, data) in post_requests(world, session).items():
        client = app.test_client()
        login(world.actor, test_client=client)
        fields = {**data, "version": "", "keep_version": "", "merge_version": "", "merge_id": "", "decision": ""}
        if endpoint == "registry.import_captures":
            fields["file"] = _import_csv()
        if endpoint == "inquiries.import_inquiries":
            fields["file"] = _inquiries_csv()
        response = client.post(url, data=_garbled(fields, value))
        assert response.status_code < 500, (endpoint, value[:20])


@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: repr(v[:12]))
def test_garbage_in_query_strings_is_never_a_server_error(app: Any, world: World, login: Any, value: str) -> None:
    client = app.test_client()
    login(world.actor, test_client=client)
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        from flask import url_for

        ids = {"person_id": world.person_id, "report_id": world.report_id, "evidence_id": world.evidence_id,
               "user_id": world.other.id, "merge_id": world.merge_id, "inquiry_id": world.inquiry_id,
               "match_id": world.match_id, "office_id": world.office_id, "list_id": world.list_id,
               "entry_id": world.entry_id, "job_id": world.job_id}
        with app.test_request_context():
            url = url_for(rule.endpoint, **{a: ids[a] for a in rule.arguments})
        response = client.get(url, query_string={name: value for name in GET_ARGS})
        assert response.status_code < 500, (url, value[:20])


def test_a_nul_anywhere_is_refused_before_the_database(client: Any, make_user: Any, login: Any, session: Any) -> None:
    user = make_user("researcher")
    before = snapshot(session)
    assert client.post("/login", data={"email": "a\x00b@example.org", "password": "x"}).status_code == 400
    login(user)
    assert client.post("/registry/persons/new", data={"surname": "Вы", "notes": "a\x00b"}).status_code == 400
    assert client.get("/registry/", query_string={"q": "a\x00"}).status_code == 400
    after = snapshot(session)
    assert after["person"] == before["person"]


# ---------------------------------------------------------------------------------------------
# A GET changes nothing, and on SQLite does not wait for writers


sqlite_only = pytest.mark.skipif(
    __import__("os").environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite") != "sqlite", reason="SQLite locking")


@sqlite_only
def test_pages_answer_while_a_long_write_holds_the_lock(app: Any, client: Any, make_user: Any, make_person: Any,
                                                        login: Any, db_url: str) -> None:
    import sqlite3

    user = make_user("researcher")
    person = make_person(user)
    login(user)
    writer = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # an import half-way through
        writer.execute("UPDATE person SET notes = 'в процессе'")
        started = time.monotonic()
        assert client.get("/registry/").status_code == 200
        assert client.get(f"/registry/persons/{person.id}").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert time.monotonic() - started < 5
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    assert client.post("/registry/persons/new", data={"surname": "Макетов"}).status_code == 302


@sqlite_only
def test_a_get_cannot_write(make_app: Any, make_user: Any, login: Any) -> None:
    import sqlalchemy.exc

    from pow_registry import db
    from pow_registry.models import Person

    app = make_app()

    def writes_on_get() -> str:
        db.session().add(Person(surname="Выдумкин"))
        db.session().commit()
        return "written"

    app.add_url_rule("/registry/write-on-get", "registry.write_on_get", writes_on_get, methods=["GET", "POST"])
    client = app.test_client()
    login(make_user("researcher"), test_client=client)
    with pytest.raises(sqlalchemy.exc.OperationalError, match="readonly"):
        client.get("/registry/write-on-get")
    assert client.post("/registry/write-on-get").data == b"written"
