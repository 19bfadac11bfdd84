"""The family's public pages over HTTP: /status (reference + access code, POST only) and
/inquire (a family sends an inquiry themselves). security.md, "The family's page"; domain.md,
"What a family may see".

The /status tests write inquiries straight to the database through the models, so they do not
depend on the staff-side inquiry service.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import event, update
from sqlmodel import col, select
from support import snapshot

from pow_registry import clock
from pow_registry.domain import references
from pow_registry.domain.references import access_code_digest
from pow_registry.models import Inquiry, InquiryChannel, InquiryPhone, InquiryStatus
from pow_registry.services import family as family_service
from pow_registry.web.family import FAMILY_STATUS_TEXT

REFERENCE = "INQ-4TQW-8HNR"
CODE = "7KD2-9QXM-ABCD-EF12"
OTHER_REFERENCE = "INQ-M4KE-T0V0"
OTHER_CODE = "NEBY-VA10-VQ00-0001"
UNKNOWN_REFERENCE = "INQ-ZZZZ-ZZZZ"
WRONG_CODE = "7KD2-9QXM-ABCD-EF13"
CSRF_VALUE_RE = re.compile(r'(name="(?:[\w-]+-)?csrf_token" type="hidden" value=")[^"]+(")')
ENGLISH = {
    InquiryStatus.received: "We have received your inquiry.",
    InquiryStatus.searching: "We are searching for him.",
    InquiryStatus.match_found: "We have found information about him. A case worker will contact you.",
    InquiryStatus.on_exchange_list: "His name has been submitted for an exchange.",
    InquiryStatus.returned: "He has been returned.",
    InquiryStatus.closed: "Your inquiry is closed.",
}


# ---------------------------------------------------------------------------------------------
# helpers


def add_inquiry(app: Any, session: Any, reference: str = REFERENCE, code: str = CODE, **fields: Any) -> Inquiry:
    """An inquiry made through the models, then `fields` set as staff (or the matcher, for
    `last_checked_at`) would have set them: by a plain UPDATE, so they stay exactly as given."""
    inquiry = Inquiry(reference=reference,
                      access_code_digest=access_code_digest(code, app.config["ACCESS_CODE_KEY_BYTES"]),
                      surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                      unit="в/ч 12345", requester_name="Небывалова Анна Петровна",
                      requester_email="nebyvalova@example.org", preferred_language="ru")
    session.add(inquiry)
    session.flush()
    session.commit()
    session.add(InquiryPhone(inquiry_id=inquiry.id, raw="+7 999 123-45-67", e164="+79991234567", region="RU",
                             e164_index=app.extensions["pow_registry.contact_crypto"].blind_index("+79991234567")))
    session.commit()
    session.exec(update(Inquiry).where(col(Inquiry.id) == inquiry.id).values(**{"last_checked_at": None, **fields}))
    session.commit()
    return inquiry


def post_status(client: Any, reference: str = REFERENCE, code: str = CODE, address: str = "10.0.0.1",
                **extra: str) -> Any:
    return client.post("/status", data={"reference": reference, "access_code": code, **extra},
                       environ_base={"REMOTE_ADDR": address})


def english(client: Any) -> None:
    assert client.post("/language", data={"lang-language": "en"}).status_code == 302


def headers_without_date(response: Any) -> list[tuple[str, str]]:
    """Every header but the date and the request id (random for every request, the same length:
    it tells nothing about the reference or the code)."""
    assert len(response.headers.get("X-Request-ID", "")) == 16
    return sorted((k, v) for k, v in response.headers.items() if k not in {"Date", "X-Request-ID"})


def decoded_headers(app: Any, response: Any) -> list[tuple[str, str]]:
    """Headers apart from Date, the session cookie as what it holds: its signed form carries a
    timestamp (itsdangerous), so it changes from one second to the next whatever the request."""
    headers = []
    for name, value in headers_without_date(response):
        if name == "Set-Cookie" and value.startswith("session="):
            cookie, _sep, attributes = value.partition(";")
            content = app.session_interface.get_signing_serializer(app).loads(cookie.removeprefix("session="))
            value = f"session={sorted(content.items())!r};{attributes}"
        headers.append((name, value))
    return headers


def masked(text: str) -> str:
    return CSRF_VALUE_RE.sub(r"\1TOKEN\2", text)


@pytest.fixture
def work(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts of the work a request did: access-code comparisons, HMACs and SQL statements."""
    counts = {"matches": 0, "hmac": 0, "sql": 0}
    real_matches, real_hmac = references.access_code_matches, references._hmac_hex

    def counting_matches(code: str, digest: str, key: bytes) -> bool:
        counts["matches"] += 1
        return real_matches(code, digest, key)

    def counting_hmac(normalised: str, key: bytes) -> str:
        counts["hmac"] += 1
        return real_hmac(normalised, key)

    def count_sql(*_args: Any) -> None:
        counts["sql"] += 1

    monkeypatch.setattr(family_service, "access_code_matches", counting_matches)
    monkeypatch.setattr(references, "_hmac_hex", counting_hmac)
    engine = app.extensions["pow_registry.engine"]
    event.listen(engine, "before_cursor_execute", count_sql)
    yield counts
    event.remove(engine, "before_cursor_execute", count_sql)


def reset(counts: dict[str, int]) -> None:
    for name in counts:
        counts[name] = 0


# ---------------------------------------------------------------------------------------------
# /status: the answer


def test_the_right_reference_and_code_show_the_status(app: Any, client: Any, session: Any) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.searching, family_message="Мы ищем.",
                last_checked_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC))
    english(client)
    response = post_status(client, " inq 4tqw 8hnr", "7kd2 9qxm abcd ef12")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert REFERENCE in page
    assert "We are searching for him." in page
    assert "March 12, 2025" in page
    assert "Мы ищем." in page
    assert 'href="/inquire"' in page  # the two pages link to each other


@pytest.mark.parametrize("status", list(InquiryStatus))
def test_each_cleared_tier_has_its_own_family_wording(app: Any, client: Any, session: Any,
                                                       status: InquiryStatus) -> None:
    add_inquiry(app, session, status=status, family_status=status)
    english(client)
    page = post_status(client).get_data(as_text=True)
    assert ENGLISH[status] in page
    assert [text for other, text in ENGLISH.items() if other != status and text in page] == []


def test_only_what_staff_cleared_is_shown(app: Any, client: Any, session: Any, make_person: Any) -> None:
    person = make_person(surname="Макетов", given_name="Небыл", patronymic="Выдумович")
    session.commit()
    # Inside, a match was found; the family was told nothing yet.
    add_inquiry(app, session, status=InquiryStatus.match_found, person_id=person.id)
    english(client)
    page = post_status(client).get_data(as_text=True)
    assert "We have received your inquiry." in page
    assert ENGLISH[InquiryStatus.match_found] not in page
    for secret in ("match_found", "Match found", "Макетов", "Небыл", "Выдумович",  # the registry's man
                   "Выдумкин", "Виталий", "Евгеньевич", "12345",  # the sought man as the family wrote him
                   "Небывалова", "nebyvalova@example.org", "999", "/registry", "http"):
        assert secret not in page, secret


def test_the_message_is_escaped_and_keeps_its_line_breaks(app: Any, client: Any, session: Any) -> None:
    message = "Позвоните нам в среду.\n<script>alert(1)</script> & <b>спасибо</b>"
    add_inquiry(app, session, family_status=InquiryStatus.searching, family_message=message)
    page = post_status(client).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<b>спасибо" not in page
    assert ('<p class="note">Позвоните нам в среду.\n&lt;script&gt;alert(1)&lt;/script&gt; &amp; '
            "&lt;b&gt;спасибо&lt;/b&gt;</p>") in page


def test_one_reference_never_shows_another_inquirys_message(app: Any, client: Any, session: Any) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.searching, family_message="Сообщение первой семье")
    add_inquiry(app, session, reference=OTHER_REFERENCE, code=OTHER_CODE, family_status=InquiryStatus.returned,
                family_message="Сообщение второй семье")
    english(client)
    mine = post_status(client).get_data(as_text=True)
    theirs = post_status(client, OTHER_REFERENCE, OTHER_CODE).get_data(as_text=True)
    assert "Сообщение первой семье" in mine and "Сообщение второй семье" not in mine and OTHER_REFERENCE not in mine
    assert "Сообщение второй семье" in theirs and "Сообщение первой семье" not in theirs and REFERENCE not in theirs
    assert ENGLISH[InquiryStatus.returned] in theirs and ENGLISH[InquiryStatus.returned] not in mine
    # One family's code does not open the other's inquiry.
    assert post_status(client, REFERENCE, OTHER_CODE).status_code == 403
    assert post_status(client, OTHER_REFERENCE, CODE).status_code == 403


@pytest.mark.parametrize(("language", "date_text"), [
    ("ru", "12 марта 2025"), ("uk", "12 березня 2025"), ("en", "March 12, 2025"),
])
def test_status_page_in_each_language(app: Any, client: Any, session: Any, language: str, date_text: str) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.searching, preferred_language="ru",
                last_checked_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC))
    assert client.post("/language", data={"lang-language": language}).status_code == 302
    page = post_status(client).get_data(as_text=True)
    with app.test_request_context(), force_locale(language):
        expected = str(FAMILY_STATUS_TEXT[InquiryStatus.searching])
    assert f'<html lang="{language}">' in page
    assert expected in page
    assert date_text in page
    # The form page follows the switcher too, and switching comes back to the same page.
    assert f'<html lang="{language}">' in client.get("/status").get_data(as_text=True)
    response = client.post("/language", data={"lang-language": "en", "lang-next": "/status"})
    assert response.headers["Location"].endswith("/status")


def test_without_a_chosen_language_the_answer_is_in_the_familys_language(app: Any, client: Any, session: Any) -> None:
    add_inquiry(app, session, preferred_language="uk", last_checked_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC))
    page = client.post("/status", data={"reference": REFERENCE, "access_code": CODE},
                       headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="uk">' in page and "12 березня 2025" in page
    english(client)  # an explicit choice wins
    assert '<html lang="en">' in post_status(client).get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# /status: failures all look the same


FAILURES = {
    "unknown reference": (UNKNOWN_REFERENCE, CODE),
    "wrong code": (REFERENCE, WRONG_CODE),
    "another family's code": (REFERENCE, OTHER_CODE),
    "malformed reference": ("INQ-4TQW", CODE),
    "malformed code": (REFERENCE, "не помню"),
    "both empty": ("", ""),
    "markup": ('<b>"INQ"</b>', "<script>"),
    "very long": ("INQ-" + "4" * 5000, "7" * 5000),
}


def test_unknown_reference_wrong_code_and_malformed_input_get_identical_answers(app: Any, session: Any) -> None:
    """CSRF is off in the test config, so nothing on the page changes per request or session:
    the answers must be identical byte for byte, headers too (apart from Date)."""
    add_inquiry(app, session)
    add_inquiry(app, session, reference=OTHER_REFERENCE, code=OTHER_CODE)
    responses = {name: post_status(app.test_client(), reference, code) for name, (reference, code) in FAILURES.items()}
    first = responses["unknown reference"]
    assert first.status_code == 403
    for name, response in responses.items():
        assert response.status_code == first.status_code, name
        assert response.get_data() == first.get_data(), name
        assert headers_without_date(response) == headers_without_date(first), name
    # Nothing typed is echoed back: not the reference, not the code.
    body = first.get_data(as_text=True)
    for typed in (UNKNOWN_REFERENCE, REFERENCE, "4TQW", CODE, WRONG_CODE, "не помню"):
        assert typed not in body
    # Also from one client, one request after another.
    client = app.test_client()
    answers = {post_status(client, reference, code).get_data() for reference, code in FAILURES.values()}
    assert answers == {first.get_data()}


def test_with_csrf_on_the_answers_differ_only_in_the_csrf_token(make_app: Any, session: Any) -> None:
    """With CSRF on, each page carries a fresh signed token (Flask-WTF signs it with a timestamp),
    so the bodies are compared with the token's value masked, and the session cookie (signed with
    a timestamp too) by what it holds; nothing else may differ."""
    app = make_app(WTF_CSRF_ENABLED=True)
    add_inquiry(app, session)
    client = app.test_client()
    token = CSRF_VALUE_RE.search(client.get("/status").get_data(as_text=True))
    assert token
    value = re.search(r'value="([^"]+)"', token.group(0))
    assert value
    answers = []
    for number, (reference, code) in enumerate(FAILURES.values()):
        if number == 1:
            time.sleep(1.05)  # across a second boundary: the signed values' timestamps change
        answers.append(post_status(client, reference, code, csrf_token=value.group(1)))
    assert {a.status_code for a in answers} == {403}
    assert len({masked(a.get_data(as_text=True)) for a in answers}) == 1
    assert len({tuple(decoded_headers(app, a)) for a in answers}) == 1
    assert "TOKEN" in masked(answers[0].get_data(as_text=True))


def test_unknown_reference_and_wrong_code_both_cost_exactly_one_hmac(app: Any, client: Any, session: Any,
                                                                     work: dict[str, int]) -> None:
    """The timing sanity check, by counting rather than timing: one comparison and one HMAC for
    each answer, right or wrong, known or unknown, well-formed or not."""
    add_inquiry(app, session)
    for reference, code in [(UNKNOWN_REFERENCE, CODE), (REFERENCE, WRONG_CODE), ("INQ-4TQW", CODE),
                            (REFERENCE, "не помню"), ("", ""), (REFERENCE, CODE)]:
        reset(work)
        post_status(client, reference, code)
        assert (work["matches"], work["hmac"]) == (1, 1), (reference, code)


def test_a_get_with_the_reference_and_code_in_the_url_checks_nothing(app: Any, client: Any, session: Any,
                                                                     work: dict[str, int]) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.searching, family_message="Секретное сообщение")
    plain = client.get("/status")
    reset(work)
    response = client.get("/status", query_string={"reference": REFERENCE, "access_code": CODE, "code": CODE})
    assert response.status_code == 200
    assert response.get_data() == plain.get_data()  # the empty form, as if nothing were in the URL
    page = response.get_data(as_text=True)
    assert REFERENCE not in page and CODE not in page and "Секретное сообщение" not in page
    assert work == {"matches": 0, "hmac": 0, "sql": 0}
    # The form itself posts, and to a URL without anything in it.
    assert '<form method="post" action="/status"' in page


def test_the_front_door_is_the_familys_and_staff_get_a_discreet_link(client: Any, make_user: Any,
                                                                   login: Any) -> None:
    for url in ("/", "/status", "/inquire", "/privacy"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store"
    english(client)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/inquire"' in home and 'href="/status"' in home and 'class="staff-link"' in home
    assert 'href="/login"' in home
    page = client.get("/status").get_data(as_text=True)
    assert 'href="/inquire"' in page and 'href="/login"' not in page  # the staff link only at the door
    assert 'href="/status"' in client.get("/inquire").get_data(as_text=True)
    # Typed on a phone: no autofill, capitals, no autocorrect.
    assert re.search(r'<input autocapitalize="characters" autocomplete="off" autocorrect="off" id="access_code"', page)
    # Someone signed in goes to their work, as before.
    login(make_user("researcher"))
    assert client.get("/").headers["Location"].endswith("/registry/")


@pytest.mark.parametrize("url", ["/", "/status", "/inquire", "/privacy"])
def test_every_family_page_names_the_organisation_its_contact_and_the_privacy_notice(make_app: Any,
                                                                                   url: str) -> None:
    app = make_app(ORGANISATION_NAME="Fictitious Search Group", ORGANISATION_NAME_RU="Вымышленная поисковая группа",
                   ORGANISATION_CONTACT="help@search-group.example.org")
    client = app.test_client()
    english(client)
    page = client.get(url).get_data(as_text=True)
    assert "Fictitious Search Group" in page and "help@search-group.example.org" in page
    assert 'href="/privacy"' in page
    client.post("/language", data={"lang-language": "ru"})
    page = client.get(url).get_data(as_text=True)
    assert "Вымышленная поисковая группа" in page and "Fictitious Search Group" not in page


def test_the_privacy_notice_says_what_is_kept_and_how_to_erase_it_or_is_the_instances_own(make_app: Any) -> None:
    app = make_app(ORGANISATION_CONTACT="help@search-group.example.org", CONTACT_DATA_RETENTION_DAYS=365)
    client = app.test_client()
    english(client)
    page = client.get("/privacy").get_data(as_text=True)
    for words in ("What we keep", "Who sees it", "never sent to an ombudsman office",
                  "write to help@search-group.example.org", "365 days after your inquiry is closed"):
        assert words in page, words
    for language, words in (("ru", "Что мы храним"), ("uk", "Що ми зберігаємо")):
        client.post("/language", data={"lang-language": language})
        assert words in client.get("/privacy").get_data(as_text=True), language
    own = make_app(PRIVACY_NOTICE_EN="Our own notice.\n\nSecond <b>paragraph</b>.").test_client()
    english(own)
    page = own.get("/privacy").get_data(as_text=True)
    assert "<p>Our own notice.</p>" in page and "Second &lt;b&gt;paragraph&lt;/b&gt;." in page
    assert "<h2>What we keep</h2>" not in page


def test_the_result_says_what_the_tier_means_and_what_happens_next(app: Any, session: Any) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.on_exchange_list)
    client = app.test_client()
    english(client)
    page = post_status(client).get_data(as_text=True)
    assert "What happens next" in page and "Exchanges are negotiated between the two sides" in page


def test_switching_language_on_the_result_shows_the_same_answer(app: Any, session: Any) -> None:
    add_inquiry(app, session, family_status=InquiryStatus.searching, family_message="Мы ищем.")
    client = app.test_client()
    english(client)
    page = post_status(client).get_data(as_text=True)
    assert "We are searching for him." in page
    # The language buttons send the page's hidden form: the same check, in Ukrainian.
    assert 'form="recheck-form" name="set_language" value="uk"' in page
    again = post_status(client, set_language="uk", recheck="1")
    text = again.get_data(as_text=True)
    assert again.status_code == 200 and REFERENCE in text and "Мы ищем." in text
    assert "We are searching for him." not in text and "Ми шукаємо його." in text
    # ... and the next page stays in Ukrainian.
    assert "Ми шукаємо його." in post_status(client).get_data(as_text=True)


def test_switching_language_on_a_form_keeps_what_was_typed_and_sends_nothing(app: Any, session: Any) -> None:
    client = app.test_client()
    english(client)
    half = post_status(client, REFERENCE, "", set_language="ru")
    assert half.status_code == 200 and f'value="{REFERENCE}"' in half.get_data(as_text=True)
    assert "Проверить" in half.get_data(as_text=True) or "Проверка" in half.get_data(as_text=True)
    typed = valid_inquiry(surname="Выдумкин", notes="Пишу из дома.")
    response = client.post("/inquire", data={**typed, "set_language": "uk"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Пишу из дома." in page and 'value="Выдумкин"' in page
    assert fetch_inquiries(session) == []  # nothing was sent
    assert "Надіслати запит" in page


def test_the_limit_page_is_the_familys_own_and_says_when_to_try_again(make_app: Any, session: Any,
                                                                      time_machine: Any) -> None:
    time_machine.move_to(clock.now(), tick=False)
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="1 per hour")
    client = app.test_client()
    client.post("/language", data={"lang-language": "ru"})
    post_status(client, REFERENCE, WRONG_CODE)
    time_machine.shift(20 * 60)
    limited = post_status(client, REFERENCE, WRONG_CODE)
    page = limited.get_data(as_text=True)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) in range(2390, 2402)
    assert '<html lang="ru">' in page and re.search(r"через 4[01] минут", page) and 'href="/privacy"' in page


# ---------------------------------------------------------------------------------------------
# /status: rate limits


LOOSE = {"STATUS_FAILED_CHECKS_PER_ADDRESS": "1000 per day", "STATUS_CHECKS_PER_ADDRESS": "1000 per day"}


def test_wrong_codes_from_many_addresses_never_block_the_right_code(make_app: Any, session: Any) -> None:
    """References are printed in lists: anyone may type one. No per-reference count to spend."""
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="3 per day")
    add_inquiry(app, session)
    for i in range(20):
        for _ in range(3):
            assert post_status(app.test_client(), REFERENCE, WRONG_CODE, f"10.0.0.{i}").status_code == 403
        assert post_status(app.test_client(), REFERENCE, WRONG_CODE, f"10.0.0.{i}").status_code == 429
    # Sixty wrong codes for this reference later, the family (anywhere else) gets in, however it is spelled.
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.1.1").status_code == 200
    assert post_status(app.test_client(), "inq 4tqw 8hnr", CODE, "10.0.1.2").status_code == 200


def test_no_overall_limit_however_many_addresses_fail(make_app: Any, session: Any) -> None:
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="2 per day", STATUS_CHECKS_PER_ADDRESS="5 per day")
    add_inquiry(app, session)
    for i in range(100):  # 100 addresses, each spending all it may
        address = f"10.0.{4 + i // 250}.{i % 250}"
        assert [post_status(app.test_client(), f"INQ-0000-{i:04d}", CODE, address).status_code
                for _ in range(3)] == [403, 403, 429]
    for i in range(5):
        assert post_status(app.test_client(), REFERENCE, CODE, f"10.0.8.{i}").status_code == 200


def test_a_familys_own_checks_do_not_use_up_its_failures(make_app: Any, session: Any) -> None:
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="2 per day")
    add_inquiry(app, session)
    for _ in range(10):
        assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.1").status_code == 200
    # Two typos are still allowed, then the address waits (before any work), even with the right code.
    assert post_status(app.test_client(), REFERENCE, WRONG_CODE, "10.0.3.1").status_code == 403
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.1").status_code == 200
    assert post_status(app.test_client(), UNKNOWN_REFERENCE, CODE, "10.0.3.1").status_code == 403
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.1").status_code == 429
    # Another address is not affected.
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.2").status_code == 200


def test_the_failures_per_address_hold_across_references(make_app: Any, session: Any) -> None:
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="4 per day")
    add_inquiry(app, session)
    for i in range(4):
        assert post_status(app.test_client(), f"INQ-0000-000{i}", CODE, "10.0.3.1").status_code == 403
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.1").status_code == 429
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.3.2").status_code == 200


def test_malformed_and_empty_references_are_failures_too(make_app: Any, session: Any) -> None:
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="2 per day")
    for reference in ("", "garbage"):
        address = f"10.0.2.{len(reference)}"
        assert [post_status(app.test_client(), reference, CODE, address).status_code for _ in range(3)] == [
            403, 403, 429]


def test_every_check_counts_toward_the_checks_per_address(make_app: Any, session: Any) -> None:
    """Someone with a right code of their own (an inquiry they sent) cannot make the server
    look it up without end: every check counts here, successful or not."""
    app = make_app(STATUS_CHECKS_PER_ADDRESS="3 per minute")
    add_inquiry(app, session)
    assert [post_status(app.test_client(), REFERENCE, CODE, "10.0.5.1").status_code for _ in range(4)] == [
        200, 200, 200, 429]
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.5.2").status_code == 200


def test_the_two_limits_answer_with_the_same_page(make_app: Any, session: Any, time_machine: Any) -> None:
    time_machine.move_to(clock.now(), tick=False)  # the page says when to try again: the same moment for all
    pages = []
    for tight in ("STATUS_FAILED_CHECKS_PER_ADDRESS", "STATUS_CHECKS_PER_ADDRESS"):
        app = make_app(**{**LOOSE, tight: "1 per day"})
        post_status(app.test_client(), REFERENCE, CODE, "10.0.6.1")
        response = post_status(app.test_client(), REFERENCE, CODE, "10.0.6.1")
        assert response.status_code == 429, tight
        pages.append((response.get_data(), headers_without_date(response)))
    assert pages[0] == pages[1]
    assert REFERENCE not in pages[0][0].decode()


def test_once_limited_no_hashing_and_no_database_work(make_app: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="1 per day")
    add_inquiry(app, session)
    counts = {"matches": 0, "sql": 0}
    real_matches = references.access_code_matches

    def counting_matches(code: str, digest: str, key: bytes) -> bool:
        counts["matches"] += 1
        return real_matches(code, digest, key)

    def count_sql(*_args: Any) -> None:
        counts["sql"] += 1

    monkeypatch.setattr(family_service, "access_code_matches", counting_matches)
    engine = app.extensions["pow_registry.engine"]
    event.listen(engine, "before_cursor_execute", count_sql)
    try:
        assert post_status(app.test_client(), REFERENCE, CODE).status_code == 200
        assert post_status(app.test_client(), REFERENCE, WRONG_CODE).status_code == 403
        assert counts["matches"] == 2 and counts["sql"] >= 1  # the counters do see the work
        counts.update(matches=0, sql=0)
        assert post_status(app.test_client(), REFERENCE, CODE).status_code == 429
        assert counts == {"matches": 0, "sql": 0}
    finally:
        event.remove(engine, "before_cursor_execute", count_sql)


def test_a_get_is_never_limited(make_app: Any) -> None:
    app = make_app(STATUS_CHECKS_PER_ADDRESS="1 per day")
    client = app.test_client()
    for _ in range(3):
        assert client.get("/status").status_code == 200


# ---------------------------------------------------------------------------------------------
# CSRF


def test_a_post_without_csrf_token_is_refused(make_app: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    add_inquiry(app, session)
    calls = []
    monkeypatch.setattr(family_service, "access_code_matches", lambda *a: calls.append(a) or False)
    client = app.test_client()
    assert post_status(client).status_code == 400
    assert calls == []
    before = snapshot(session)
    assert client.post("/inquire", data=valid_inquiry()).status_code == 400
    assert snapshot(session) == before


def test_with_a_csrf_token_both_forms_work(make_app: Any, session: Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    add_inquiry(app, session)
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/status").get_data(as_text=True))
    assert token
    assert post_status(client, csrf_token=token.group(1)).status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/inquire").get_data(as_text=True))
    assert token
    assert "Write these down" in client.post("/inquire", data={**valid_inquiry(), "csrf_token": token.group(1)},
                                             headers={"Accept-Language": "en"},
                                             follow_redirects=True).get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# /inquire


def valid_inquiry(**fields: str) -> dict[str, str]:
    return {
        "surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "12.03.2005",
        "unit": "в/ч 12345", "service_category": "mobilised", "last_contact_date": "2024-08",
        "last_known_place": "Суджа", "notes": "Позывной «Тихий».\nВысокий.",
        "requester_name": "Небывалова Анна Петровна", "requester_relationship": "мать",
        "requester_country": "RU", "phones": "8 999 123-45-67\n+380 67 123 4567",
        "requester_email": "nebyvalova@example.org", "preferred_language": "uk",
        "consent_contact": "y", "consent_share": "y", **fields,
    }


def fetch_inquiries(session: Any) -> list[Inquiry]:
    rows = list(session.exec(select(Inquiry).execution_options(populate_existing=True)).all())
    session.commit()
    return rows


def form_token(client: Any) -> str:
    """The one-time token of a fresh copy of the inquiry form, as a browser would send it back."""
    match = re.search(r'id="submission" name="submission" type="hidden" value="([A-Za-z0-9_-]{32})"',
                      client.get("/inquire").get_data(as_text=True))
    assert match
    return match.group(1)


def test_a_family_sends_an_inquiry_and_sees_its_code_once(app: Any, client: Any, session: Any) -> None:
    english(client)
    data = valid_inquiry(submission=form_token(client))
    response = client.post("/inquire", data=data)
    # Post/Redirect/Get: the answer to the POST is a redirect, so a reload re-sends nothing.
    assert response.status_code == 303 and response.headers["Location"] == "/inquire/sent"
    [inquiry] = fetch_inquiries(session)
    assert inquiry.channel == InquiryChannel.family_form
    assert inquiry.status == InquiryStatus.received and inquiry.family_status is None
    assert (inquiry.surname, inquiry.requester_name, inquiry.preferred_language) == (
        "Выдумкин", "Небывалова Анна Петровна", "uk")
    assert inquiry.consent_contact and inquiry.consent_share and inquiry.created_by_id is None
    phones = session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry.id)).all()
    session.commit()
    assert sorted(p.e164 for p in phones) == ["+380671234567", "+79991234567"]

    # The reference and the code, shown on the page after the redirect, once.
    page = client.get("/inquire/sent").get_data(as_text=True)
    assert inquiry.reference in page
    match = re.search(r'<dd class="code">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</dd>', page)
    assert match
    code = match.group(1)
    assert "Write these down now: the access code cannot be shown again." in page
    assert 'href="/status"' in page
    assert references.access_code_matches(code, inquiry.access_code_digest, app.config["ACCESS_CODE_KEY_BYTES"])
    # Not in the session cookie (it carries only the form's token), a URL or the database.
    cookie = client.get_cookie("session")
    assert cookie is not None
    stored = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert code not in repr(stored) and inquiry.reference not in repr(stored)
    assert code.replace("-", "") not in repr(snapshot(session))
    # A reload shows the reference and says the code was shown; no page shows the code again.
    again = client.get("/inquire/sent").get_data(as_text=True)
    assert inquiry.reference in again and code not in again and "shown once" in again
    for url in ("/inquire", "/status"):
        assert code not in client.get(url).get_data(as_text=True)
    # Back and send again, or the browser re-sending the form: still one inquiry, no new code.
    resent = client.post("/inquire", data=data)
    assert resent.status_code == 303 and resent.headers["Location"] == "/inquire/sent"
    assert len(fetch_inquiries(session)) == 1
    assert code not in client.get("/inquire/sent").get_data(as_text=True)


def test_a_double_click_sends_one_inquiry_and_its_code_is_still_shown_once(app: Any, session: Any) -> None:
    """Two sends of one form arrive before either answer: the second finds the first (or loses
    the race at commit) and only redirects; whichever answer the browser keeps, the page after
    it shows the one code once."""
    first, second = app.test_client(), app.test_client()
    english(first)
    token = form_token(first)
    for client in (first, second):
        assert client.post("/inquire", data=valid_inquiry(submission=token)).status_code == 303
    assert len(fetch_inquiries(session)) == 1
    pages = [client.get("/inquire/sent").get_data(as_text=True) for client in (second, first)]
    codes = [re.findall(r'<dd class="code">([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})</dd>', page) for page in pages]
    assert codes[0] and not codes[1]


def test_an_unseen_code_is_erased_after_an_hour(app: Any, client: Any, session: Any, time_machine: Any) -> None:
    time_machine.move_to(clock.now(), tick=False)
    english(client)
    client.post("/inquire", data=valid_inquiry(submission=form_token(client)))
    time_machine.shift(3601)
    page = client.get("/inquire/sent").get_data(as_text=True)
    assert "shown once" in page and "Write these down" not in page
    # ... and a page opened directly, without sending anything, leads back to the form.
    assert app.test_client().get("/inquire/sent").headers["Location"].endswith("/inquire")


@pytest.mark.parametrize(("change", "field"), [
    ({"consent_contact": ""}, "consent_contact"),
    ({"phones": "", "requester_email": ""}, "phones"),
    ({"surname": "", "given_name": ""}, "surname"),
    ({"requester_name": ""}, "requester_name"),
    ({"date_of_birth": "31.02.2005"}, "date_of_birth"),
])
def test_what_a_family_must_give(app: Any, client: Any, session: Any, change: dict[str, str], field: str) -> None:
    before = snapshot(session)
    data = {k: v for k, v in valid_inquiry(**change).items() if v != ""}
    page = client.post("/inquire", data=data).get_data(as_text=True)
    assert snapshot(session) == before
    assert re.search(rf'<div class="field  has-error">\s*(<label>)?\s*(<label for="{field}">|<input [^>]*id="{field}")',
                     page), field


def test_the_form_and_the_service_errors_show_together(client: Any, session: Any) -> None:
    english(client)
    data = valid_inquiry(phones="12345")
    del data["consent_contact"]
    page = client.post("/inquire", data=data).get_data(as_text=True)
    assert page.count('class="error"') == 2
    assert fetch_inquiries(session) == []


def test_a_limit_lifts_when_its_window_has_passed_and_not_before(make_app: Any, session: Any,
                                                                 time_machine: Any) -> None:
    time_machine.move_to(clock.now(), tick=False)
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="2 per hour")
    add_inquiry(app, session)
    assert [post_status(app.test_client(), REFERENCE, WRONG_CODE, "10.0.4.1").status_code for _ in range(3)] == [
        403, 403, 429]
    time_machine.shift(59 * 60)
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.4.1").status_code == 429
    time_machine.shift(61)  # an hour and a second after the first try
    assert post_status(app.test_client(), REFERENCE, CODE, "10.0.4.1").status_code == 200


def test_consent_boxes_start_unticked(client: Any) -> None:
    page = client.get("/inquire").get_data(as_text=True)
    for name in ("consent_contact", "consent_share"):
        box = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert box and "checked" not in box.group(0) and 'type="checkbox"' in box.group(0)


def test_the_inquiry_form_is_limited_per_address_only(make_app: Any, session: Any) -> None:
    app = make_app(INQUIRY_FORM_SENT_PER_ADDRESS="2 per day")

    numbers = iter(range(10, 100))

    def send(address: str) -> int:
        # A family of its own each time (its own phone): the same family sending the same inquiry
        # again within a day is recognised and not counted as a new one (test_contact_data.py).
        data = valid_inquiry(phones=f"+7 999 123 45 {next(numbers)}")
        return int(app.test_client().post("/inquire", data=data, environ_base={"REMOTE_ADDR": address}).status_code)

    assert [send("10.1.0.1"), send("10.1.0.1"), send("10.1.0.1")] == [303, 303, 429]
    # Any number of other addresses each send theirs: nothing overall to use up.
    assert [send(f"10.1.1.{i}") for i in range(12)] == [303] * 12
    assert len(fetch_inquiries(session)) == 14


def test_invalid_inquiries_use_up_nothing_other_families_need(make_app: Any, session: Any) -> None:
    app = make_app(INQUIRY_FORM_POSTS_PER_ADDRESS="5 per hour", INQUIRY_FORM_SENT_PER_ADDRESS="5 per hour")
    numbers = iter(range(100, 1000))

    def send(address: str, **fields: str) -> int:
        # Each valid one from a family of its own (its own phone): a repeat would be recognised.
        data = valid_inquiry(**{"phones": f"+7 999 123 4{next(numbers)}", **fields})
        return int(app.test_client().post("/inquire", data=data, environ_base={"REMOTE_ADDR": address}).status_code)

    for i in range(40):  # 200 invalid inquiries from 40 addresses
        assert [send(f"10.2.0.{i}", phones="12345") for _ in range(5)] == [200] * 5
        assert send(f"10.2.0.{i}") == 429  # that address has had its say, valid or not
    assert [send(f"10.2.1.{i}") for i in range(5)] == [303] * 5
    assert len(fetch_inquiries(session)) == 5


@pytest.mark.parametrize("value", ["", "x", "²", "-1", "9" * 30, "9" * 5000, "<script>alert(1)</script>",
                                   "\u202eevil", "%", "'; --", "\U0001f600" * 300],
                         ids=lambda v: repr(v[:12]))
def test_garbage_in_every_field_is_never_a_server_error(app: Any, session: Any, value: str) -> None:
    add_inquiry(app, session)
    client = app.test_client()
    status = post_status(client, value, value)
    assert status.status_code == 403
    assert value not in status.get_data(as_text=True) or value in ("", "x", "%", "-1")
    data = {name: value for name in valid_inquiry()}
    response = client.post("/inquire", data=data, environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert response.status_code == 200
    assert len(fetch_inquiries(session)) == 1  # only the one made above


def test_one_ipv6_subscriber_is_one_address(make_app: Any, session: Any) -> None:
    """A /64 is one subscriber's: a fresh address per request must not be a fresh budget."""
    app = make_app(STATUS_FAILED_CHECKS_PER_ADDRESS="2 per day")
    add_inquiry(app, session)
    assert [post_status(app.test_client(), REFERENCE, WRONG_CODE, f"2001:db8:1:2::{i:x}").status_code
            for i in range(1, 4)] == [403, 403, 429]
    assert post_status(app.test_client(), REFERENCE, CODE, "2001:db8:1:3::1").status_code == 200
    assert post_status(app.test_client(), REFERENCE, CODE, "::ffff:10.0.9.1").status_code == 200
