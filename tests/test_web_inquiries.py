"""The staff pages for family inquiries (/inquiries), over HTTP.

Everyone here is invented (Выдумкин, Макетов, Небывалов...); numbers are in the +7 999 range.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select
from support import TEST_PASSWORD, snapshot

from pow_registry.domain.references import access_code_matches
from pow_registry.models import AuditEvent, Inquiry, InquiryPhone, InquiryStatus, User
from pow_registry.services import inquiries

FORM = {
    "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "2005",
    "unit": "в/ч 12345", "service_category": "conscript", "last_contact_date": "2024-08-05",
    "last_known_place": "Суджа", "notes": "Звонил в августе.", "requester_name": "Выдумкина Ольга",
    "requester_relationship": "мать", "phones": "+7 999 000-00-01\r\n8 999 000 00 02", "requester_country": "RU",
    "requester_email": "vydumkina@example.org", "preferred_language": "ru", "consent_contact": "y",
}
CODE_RE = re.compile(r'<code class="issued">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</code>')
REFERENCE_RE = re.compile(r'<code class="issued">(INQ-[0-9A-Z]{4}-[0-9A-Z]{4})</code>')
CSRF_RE = re.compile(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"')


def fetch(session: Any, model: Any, row_id: int) -> Any:
    row = session.get(model, row_id, populate_existing=True)
    session.commit()
    return row


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


def english(client: Any) -> None:
    assert client.post("/language", data={"lang-language": "en"}).status_code == 302


@pytest.fixture
def staff(make_user: Any) -> User:
    return make_user("staff", email="staff@example.org")


@pytest.fixture
def staff_client(app: Any, staff: User, login: Any) -> Any:
    client = app.test_client()
    login(staff, test_client=client)
    english(client)
    return client


@pytest.fixture
def inquiry(session: Any, audit_key: bytes, app: Any, staff: User) -> Inquiry:
    data = {k: v for k, v in FORM.items() if k != "consent_contact"}
    issued = inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key,
                                      access_key=app.config["ACCESS_CODE_KEY_BYTES"], data=data)
    session.commit()
    return issued.inquiry


def issued_from(page: str) -> tuple[str, str]:
    reference, code = REFERENCE_RE.search(page), CODE_RE.search(page)
    assert reference and code, "no reference or code on the page"
    return reference.group(1), code.group(1)


def session_text(client: Any) -> str:
    with client.session_transaction() as stored:
        return repr(dict(stored))


def test_staff_take_an_inquiry_and_see_the_code_once(app, session, staff_client, staff):
    page = staff_client.get("/inquiries/new").get_data(as_text=True)
    assert 'name="phones"' in page and "one number per line" in page
    assert '<option selected value="RU">' in page and 'value="KZ"' in page and "Ukraine (UA)" in page

    token = re.search(r'name="submission" type="hidden" value="([A-Za-z0-9_-]{32})"', page)
    assert token
    data = {**FORM, "submission": token.group(1)}
    response = staff_client.post("/inquiries/new", data=data)
    # Post/Redirect/Get: the code is shown once on the page after the redirect, never in the URL.
    assert response.status_code == 303 and response.headers["Location"] == "/inquiries/issued"
    response = staff_client.get("/inquiries/issued")
    page = response.get_data(as_text=True)
    reference, code = issued_from(page)
    assert "Write it down; it cannot be shown again." in page
    # No inline script that could read the code off the page: only the app's own static files.
    assert re.findall(r'<script(?![^>]*\bsrc="/static/[a-z]+\.js")', page) == [] and "onclick" not in page
    assert response.headers["Cache-Control"] == "no-store"
    assert code not in session_text(staff_client) and reference not in session_text(staff_client)

    row = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
    session.commit()
    assert access_code_matches(code, row.access_code_digest, app.config["ACCESS_CODE_KEY_BYTES"])
    assert (row.status, row.created_by_id, row.consent_contact) == (InquiryStatus.searching, staff.id, True)
    phones = session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == row.id)).all()
    session.commit()
    assert sorted(p.e164 for p in phones) == ["+79990000001", "+79990000002"]

    # A reload of that page, or the form sent again (Back, a second click), saves nothing twice
    # and never shows the code again.
    again = staff_client.get("/inquiries/issued").get_data(as_text=True)
    assert reference in again and code not in again and "nothing was saved again" in again
    assert staff_client.post("/inquiries/new", data=data).status_code == 303
    assert len(session.exec(select(Inquiry)).all()) == 1
    session.commit()
    assert code not in staff_client.get("/inquiries/issued").get_data(as_text=True)

    # The detail page shows everything but the code, which is never shown again.
    detail = staff_client.get(f"/inquiries/{row.id}").get_data(as_text=True)
    assert reference in detail and code not in detail and code.replace("-", "") not in detail
    assert "+79990000002" in detail and "8 999 000 00 02" in detail  # E.164 and as typed
    assert "Выдумкина Ольга" in detail and "Inquiry taken" in detail
    # Nothing cleared yet: the family sees "received", in its own language (Russian here).
    assert "Мы ищем его." not in detail
    assert "Мы получили ваш запрос." in detail
    listing = staff_client.get("/inquiries/?q=Vydumkin").get_data(as_text=True)
    assert reference in listing and code not in listing
    assert staff_client.get("/inquiries/?phone=%2B79990000001").get_data(as_text=True).count(reference) == 1


def test_field_errors_are_shown_on_their_fields_and_nothing_is_written(session, staff_client):
    response = staff_client.post("/inquiries/new", data={**FORM, "surname": "", "given_name": "",
                                                          "phones": "+7 999 000 00 01\n12345",
                                                          "requester_email": "nope"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Number 2 (12345) is not a valid phone number for the chosen country." in page
    assert "Give at least the surname or the given name" in page
    assert "Enter a valid email address." in page
    assert page.count('aria-invalid="true"') >= 3
    assert not CODE_RE.search(page)
    assert session.exec(select(Inquiry)).all() == []
    session.commit()


def test_the_form_accepts_only_its_own_fields(session, staff_client):
    response = staff_client.post("/inquiries/new", data={**FORM, "status": "returned", "person_id": "1",
                                                          "access_code_digest": "0" * 64, "reference": "INQ-0000-0000",
                                                          "family_status": "returned", "created_by_id": "999"},
                                 follow_redirects=True)
    reference, _code = issued_from(response.get_data(as_text=True))
    row = session.exec(select(Inquiry)).one()
    session.commit()
    assert row.reference == reference != "INQ-0000-0000"
    assert (row.status, row.person_id, row.family_status) == (InquiryStatus.searching, None, None)
    assert row.access_code_digest != "0" * 64


def test_reissue_needs_confirmation_and_shows_the_new_code_once(app, session, staff_client, inquiry):
    old_digest = inquiry.access_code_digest
    response = staff_client.post(f"/inquiries/{inquiry.id}/access-code", data={})
    assert response.status_code == 302
    assert fetch(session, Inquiry, inquiry.id).access_code_digest == old_digest

    detail = staff_client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    token = re.search(r'name="submission" type="hidden" value="([A-Za-z0-9_-]{32})"', detail)
    assert token
    data = {"confirm": "y", "submission": token.group(1)}
    response = staff_client.post(f"/inquiries/{inquiry.id}/access-code", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/inquiries/issued"
    page = staff_client.get("/inquiries/issued").get_data(as_text=True)
    reference, code = issued_from(page)
    assert reference == inquiry.reference and "The previous access code no longer works." in page
    row = fetch(session, Inquiry, inquiry.id)
    assert row.access_code_digest != old_digest
    assert access_code_matches(code, row.access_code_digest, app.config["ACCESS_CODE_KEY_BYTES"])
    assert code not in session_text(staff_client)
    # A reload of either page issues no third code: the one just read out to the mother keeps working.
    assert staff_client.post(f"/inquiries/{inquiry.id}/access-code", data=data).status_code == 303
    assert code not in staff_client.get("/inquiries/issued").get_data(as_text=True)
    assert access_code_matches(code, fetch(session, Inquiry, inquiry.id).access_code_digest,
                               app.config["ACCESS_CODE_KEY_BYTES"])
    assert staff_client.get(f"/inquiries/{inquiry.id}/access-code").status_code == 405  # never on GET


def test_edit_and_a_stale_version_shows_the_conflict(app, session, staff_client, inquiry, make_user, login):
    other = app.test_client()
    login(make_user("staff"), test_client=other)
    english(other)
    url = f"/inquiries/{inquiry.id}/edit"
    old_page = staff_client.get(url).get_data(as_text=True)
    assert "+7 999 000-00-01" in old_page  # the numbers as typed, one per line
    old_version = hidden(old_page, "version")

    page = other.get(url).get_data(as_text=True)
    response = other.post(url, data={**FORM, "version": hidden(page, "version"), "phones": "+7 701 000 0003",
                                     "requester_country": "KZ"})
    assert response.status_code == 302
    response = staff_client.post(url, data={**FORM, "version": old_version, "given_name": "Виталик"})
    assert response.status_code == 200
    assert "Someone else changed this record" in response.get_data(as_text=True)
    row = fetch(session, Inquiry, inquiry.id)
    assert (row.given_name, row.requester_country) == ("Виталий", "KZ")
    assert [p.e164 for p in inquiries.phones_of(session, inquiry.id)] == ["+77010000003"]
    session.commit()


def test_status_change_and_what_the_family_sees(session, staff_client, inquiry):
    url = f"/inquiries/{inquiry.id}"
    page = staff_client.get(url).get_data(as_text=True)
    response = staff_client.post(f"{url}/status", data={"version": hidden(page, "version"), "status": "closed"})
    assert response.status_code == 302
    assert fetch(session, Inquiry, inquiry.id).status == InquiryStatus.searching
    page = staff_client.get(url).get_data(as_text=True)
    assert "Say why the inquiry is closed." in page

    # Clearing for the family: the preview shows exactly the family's words, and saves nothing.
    family_url = f"{url}/family"
    page = staff_client.get(family_url).get_data(as_text=True)
    version = hidden(page, "version")
    response = staff_client.post(family_url, data={"version": version, "family_status": "match_found",
                                                   "family_message": "", "action": "preview"})
    assert "The family cannot be told more than the search has reached." in response.get_data(as_text=True)
    response = staff_client.post(family_url, data={"version": version, "family_status": "searching",
                                                   "family_message": "Мы ищем <b>вашего</b> сына.",
                                                   "action": "preview"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Мы ищем его." in page and "Мы ищем &lt;b&gt;вашего&lt;/b&gt; сына." in page
    assert fetch(session, Inquiry, inquiry.id).family_status is None
    response = staff_client.post(family_url, data={"version": version, "family_status": "searching",
                                                   "family_message": "Мы ищем <b>вашего</b> сына.",
                                                   "action": "save"})
    assert response.status_code == 302
    row = fetch(session, Inquiry, inquiry.id)
    assert (row.family_status, row.family_message) == (InquiryStatus.searching, "Мы ищем <b>вашего</b> сына.")
    page = staff_client.get(url).get_data(as_text=True)
    assert "Мы ищем его." in page and "Cleared for the family" in page

    response = staff_client.post(f"{url}/status", data={"version": hidden(page, "version"), "status": "closed",
                                                        "closed_reason": "withdrawn", "note": "Семья отозвала."})
    assert response.status_code == 302
    row = fetch(session, Inquiry, inquiry.id)
    assert (row.status, row.closed_reason.value) == (InquiryStatus.closed, "withdrawn")
    page = staff_client.get(url).get_data(as_text=True)
    assert "The family was told more than the search stands at now" in page


def test_links_to_the_person_relatives_and_the_review_queue(app, session, staff_client, inquiry, make_person,
                                                            audit_key, staff):
    person = make_person()
    sister = inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key,
                                      access_key=app.config["ACCESS_CODE_KEY_BYTES"],
                                      data={**FORM, "requester_name": "Выдумкина Анна", "requester_relationship": "сестра"})
    for row_id in (inquiry.id, sister.inquiry.id):
        row = session.get(Inquiry, row_id)
        row.person_id, row.sought_group_id = person.id, inquiry.id
        session.add(row)
    session.commit()
    page = staff_client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    assert f'href="/registry/persons/{person.id}"' in page
    assert f'href="/inquiries/{sister.inquiry.id}"' in page and "Выдумкина Анна" in page
    if "matches.queue" not in app.view_functions:
        assert "/matches" not in page  # the review queue is not there yet: no dead link
        app.add_url_rule("/matches/queue-for-test", "matches.queue", lambda: "")
    page = staff_client.get(f"/inquiries/{inquiry.id}").get_data(as_text=True)
    with app.test_request_context():
        from flask import url_for

        queue = url_for("matches.queue", inquiry=inquiry.id)
    assert f'href="{queue.replace("&", "&amp;")}"' in page


def test_search_and_pages(app, session, staff_client, audit_key, staff):
    for n in range(3):
        inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key,
                                 access_key=app.config["ACCESS_CODE_KEY_BYTES"],
                                 data={**FORM, "surname": "Небывалов", "phones": f"+7 999 000 00 1{n}"})
    page = staff_client.get("/inquiries/?q=Nebyvalov").get_data(as_text=True)
    assert "3 inquiries found" in page
    assert "0 inquiries found" in staff_client.get("/inquiries/?q=%25").get_data(as_text=True)
    page = staff_client.get("/inquiries/?phone=abc").get_data(as_text=True)
    assert "This is not a valid phone number." in page
    for garbage in ("?page=-1", "?page=99999999999", "?status=lost", "?q=%00", "?phone=" + "9" * 100):
        assert staff_client.get("/inquiries/" + garbage).status_code in (200, 400), garbage


@pytest.mark.parametrize("role", ["researcher", "admin"])
def test_other_roles_are_refused_everywhere(app, session, make_user, login, inquiry, role):
    client = app.test_client()
    login(make_user(role), test_client=client)
    before = snapshot(session)
    for method, url, data in [
        ("GET", "/inquiries/", {}), ("GET", "/inquiries/new", {}), ("POST", "/inquiries/new", FORM),
        ("GET", f"/inquiries/{inquiry.id}", {}), ("GET", f"/inquiries/{inquiry.id}/edit", {}),
        ("POST", f"/inquiries/{inquiry.id}/edit", {**FORM, "version": inquiry.version}),
        ("POST", f"/inquiries/{inquiry.id}/status", {"version": inquiry.version, "status": "received"}),
        ("GET", f"/inquiries/{inquiry.id}/family", {}),
        ("POST", f"/inquiries/{inquiry.id}/family", {"version": inquiry.version, "family_status": "searching",
                                                     "action": "save"}),
        ("POST", f"/inquiries/{inquiry.id}/access-code", {"confirm": "y"}),
    ]:
        response = client.open(url, method=method, data=data)
        assert response.status_code == 403, (method, url)
    assert snapshot(session) == before
    page = client.get("/").get_data(as_text=True)
    assert "/inquiries/" not in page  # no link to what they may not use


def test_anonymous_visitors_are_sent_to_login(client, inquiry):
    for url in ("/inquiries/", f"/inquiries/{inquiry.id}"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post(f"/inquiries/{inquiry.id}/access-code", data={"confirm": "y"}).status_code == 302


def test_staff_see_the_nav_links(staff_client):
    page = staff_client.get("/inquiries/").get_data(as_text=True)
    assert 'href="/inquiries/"' in page and 'href="/inquiries/new"' in page


def test_unknown_inquiry_is_404(staff_client):
    for url in ("/inquiries/999999", "/inquiries/999999/edit", "/inquiries/999999/family"):
        assert staff_client.get(url).status_code == 404
    assert staff_client.post("/inquiries/999999/access-code", data={"confirm": "y"}).status_code == 404
    assert staff_client.get("/inquiries/99999999999999").status_code == 404


# ---------------------------------------------------------------------------------------------
# CSRF: the default test config turns it off; these turn it on.


def csrf_token(client: Any, url: str = "/login") -> str:
    match = CSRF_RE.search(client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


@pytest.mark.parametrize("case", ["new", "edit", "status", "family", "access-code"])
def test_a_post_without_csrf_token_is_refused_and_changes_nothing(make_app, session, staff, inquiry, case):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/login", data={"email": staff.email, "password": TEST_PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    version = str(inquiry.version)
    url, data = {
        "new": ("/inquiries/new", FORM),
        "edit": (f"/inquiries/{inquiry.id}/edit", {**FORM, "given_name": "Виталик", "version": version}),
        "status": (f"/inquiries/{inquiry.id}/status", {"status": "received", "version": version}),
        "family": (f"/inquiries/{inquiry.id}/family", {"family_status": "searching", "family_message": "Ищем.",
                                                        "action": "save", "version": version}),
        "access-code": (f"/inquiries/{inquiry.id}/access-code", {"confirm": "y"}),
    }[case]
    before = snapshot(session)
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert not CODE_RE.search(response.get_data(as_text=True))
    assert snapshot(session) == before

    # Control: the same request with the token does change something.
    response = client.post(url, data={**data, "csrf_token": csrf_token(client, "/inquiries/")})
    assert response.status_code in (200, 302, 303)
    assert snapshot(session) != before
    events = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "inquiry")).all()
    session.commit()
    assert len(events) == 2


GARBAGE = ["", "x", "²", "-1", "9" * 30, "9" * 5000, "<script>alert(1)</script>", "\u202eevil", "%", "'; --"]


@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: repr(v[:12]))
def test_garbage_anywhere_is_never_a_server_error(session, staff_client, inquiry, value):
    for url in ("/inquiries/", "/inquiries/new", f"/inquiries/{inquiry.id}", f"/inquiries/{inquiry.id}/edit",
                f"/inquiries/{inquiry.id}/family"):
        response = staff_client.get(url, query_string={n: value for n in ("q", "status", "phone", "page", "inquiry")})
        assert response.status_code < 500, (url, value[:20])
    fields = {**FORM, "version": "", "status": "", "closed_reason": "", "note": "", "family_status": "",
              "family_message": "", "action": "save", "confirm": ""}
    for url in ("/inquiries/new", f"/inquiries/{inquiry.id}/edit", f"/inquiries/{inquiry.id}/status",
                f"/inquiries/{inquiry.id}/family", f"/inquiries/{inquiry.id}/access-code"):
        response = staff_client.post(url, data={k: value for k in fields})
        assert response.status_code < 500, (url, value[:20])


def _answer(page: str) -> str:
    """The last family answer on a page (on staff's page the preview comes after what the family sees now)."""
    found = re.findall(r'<section class="family-answer".*?</section>\s*(?=</div>|<p><a href="/status")', page, re.S)
    assert found, "no family answer on the page"
    return str(found[-1]).strip()


@pytest.mark.parametrize("language", ["ru", "uk", "en"])
def test_the_preview_is_exactly_the_familys_page_for_every_tier(
    app, session, staff_client, staff, audit_key, make_person, make_user, language
):
    """Issue 12, finding 1: for "match found", "received" and "returned" the preview and the family's
    page said different things (and "returned" had a double full stop)."""
    from pow_registry import clock
    from pow_registry.models import PersonStatus
    from pow_registry.services import exchange

    person = make_person()
    person.status = PersonStatus.confirmed_captured  # the evidence rules are tested elsewhere
    session.add(person)
    session.commit()
    issued = inquiries.create_inquiry(session=session, actor=staff, audit_key=audit_key,
                                      access_key=app.config["ACCESS_CODE_KEY_BYTES"],
                                      data={**FORM, "preferred_language": language})
    row = fetch(session, Inquiry, issued.inquiry.id)
    row.person_id, row.status, row.last_checked_at = person.id, InquiryStatus.returned, clock.now()
    session.add(row)
    session.commit()
    office = exchange.create_office(session=session, actor=make_user("admin"), audit_key=audit_key,
                                    data={"name": "Вымышленный офис", "country": "UA", "language": "uk",
                                          "contact": "o@example.org", "columns": ""})
    listed = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                  data={"office_id": office.id, "kind": "exchange", "title": "Осень"})
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=listed.id, person_id=person.id,
                        reason="мать просит")
    session.refresh(listed)
    frozen = exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=listed.id,
                                  version=listed.version)
    entry = exchange.list_detail(session, frozen.id).entries[0].entry
    exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id, version=entry.version, outcome="exchanged", outcome_date=clock.today().isoformat(),
                            note="")
    family_client = app.test_client()
    for tier in ("received", "searching", "match_found", "on_exchange_list", "returned", "closed"):
        row = fetch(session, Inquiry, issued.inquiry.id)
        if tier == "closed":  # the search must have reached a tier before the family is told it
            from pow_registry.models import ClosedReason

            row.status, row.closed_reason = InquiryStatus.closed, ClosedReason.found_elsewhere
            session.add(row)
            session.commit()
        got = staff_client.get(f"/inquiries/{row.id}/family")
        page = got.get_data(as_text=True)
        assert got.status_code == 200, (tier, got.status_code, got.headers.get("Location"), page[-1500:])
        preview = staff_client.post(f"/inquiries/{row.id}/family", data={
            "version": hidden(page, "version"), "family_status": tier, "family_message": "Пишите нам.",
            "action": "preview"})
        assert preview.status_code == 200, tier
        assert staff_client.post(f"/inquiries/{row.id}/family", data={
            "version": hidden(page, "version"), "family_status": tier, "family_message": "Пишите нам.",
            "action": "save"}).status_code == 302
        seen = family_client.post("/status", data={"reference": issued.inquiry.reference,
                                                   "access_code": issued.access_code})
        assert seen.status_code == 200
        family_answer = _answer(seen.get_data(as_text=True))
        staff_answer = _answer(preview.get_data(as_text=True))
        assert staff_answer == family_answer, tier
        assert f'lang="{language}"' in family_answer and ".." not in family_answer
        assert family_answer in staff_client.get(f"/inquiries/{row.id}").get_data(as_text=True)
