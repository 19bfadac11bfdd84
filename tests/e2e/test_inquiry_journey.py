"""Issue 3's journey in a real browser: staff take a mother's inquiry in Russian Cyrillic about a
man the registry knows only in Ukrainian spelling, find him as the top candidate with the
explanation, confirm, clear a message, and the family reads it on /status in Russian; a wrong
code and an unknown reference get the same refusal.

All people are fictitious demo data (pow_registry.demo): «Чернетков Дмитро Іванович» is in the
registry only in Ukrainian.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_newcomer_journey import log_in, log_out

pytestmark = pytest.mark.e2e

SOUGHT = {"surname": "Чернетков", "given_name": "Дмитрий", "patronymic": "Иванович"}
REGISTERED = "Чернетков Дмитро Іванович"  # the demo person, Ukrainian spelling only
MESSAGE = "Мы нашли сведения о вашем сыне. Куратор позвонит вам. (Вымышленное сообщение.)"
CSRF = re.compile(r'value="[^"]{40,}"')


def take_inquiry(page: Any) -> tuple[int, str, str]:
    with page.expect_navigation():
        page.click("header.top nav a[href$='/inquiries/new']")
    for name, value in SOUGHT.items():
        page.fill(f"input[name={name}]", value)
    page.fill("input[name=last_known_place]", "Суджа")
    page.fill("input[name=requester_name]", "Чернеткова Галина Петровна")
    page.fill("input[name=requester_relationship]", "мать")
    page.fill("textarea[name=phones]", "8 (999) 000-00-11\n+7 999 000 00 12")
    page.select_option("select[name=requester_country]", "RU")
    page.check("input[name=consent_contact]")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    codes = page.locator("code.issued").all_inner_texts()
    assert len(codes) == 2, page.inner_text("main")
    reference, code = codes
    assert re.fullmatch(r"INQ-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert re.fullmatch(r"([0-9A-Z]{4}-){3}[0-9A-Z]{4}", code)
    assert code not in page.url and reference not in page.url
    with page.expect_navigation():
        page.click("p.actions a[href*='/inquiries/']")
    match = re.search(r"/inquiries/(\d+)$", page.url)
    assert match, page.url
    assert "+79990000011" in page.inner_text("main")  # the trunk 8 read with the chosen country
    return int(match.group(1)), reference, code


def check_status(page: Any, reference: str, code: str) -> tuple[int, str]:
    page.goto("/status")
    page.fill("input[name=reference]", reference)
    page.fill("input[name=access_code]", code)
    with page.expect_navigation() as navigation:
        page.click("main form[action$='/status'] button[type=submit]")
    response = navigation.value
    return response.status, CSRF.sub('value="…"', page.content())


def test_inquiry_to_family_page(new_page: Any, live_server: Any) -> None:
    staff = new_page()
    log_in(staff, "staff@demo.invalid")
    inquiry_id, reference, code = take_inquiry(staff)

    # The candidates for this inquiry: the man in Ukrainian spelling on top, with the why.
    with staff.expect_navigation():
        staff.click("a[href*='/matches/?inquiry=']")
    first = staff.locator("table.matches tbody tr").first
    assert REGISTERED in first.inner_text(), staff.inner_text("main")
    assert first.locator("ul.reasons li.for").count() >= 2
    with staff.expect_navigation():
        first.locator("a[href*='/matches/']").click()
    compare = staff.inner_text("main")
    for text in ("Чернетков", "Дмитрий", "Дмитро", "Иванович", "Іванович"):
        assert text in compare
    assert staff.locator("table.explanation tr.for").count() >= 2
    staff.fill("textarea[name=confirm-reason]", "Мать узнала его по приметам. (E2E)")
    with staff.expect_navigation():
        staff.click("form[action$='/confirm'] button[type=submit]")

    # The inquiry is linked and its status moved; staff clear a message for the family.
    staff.goto(f"/inquiries/{inquiry_id}")
    assert REGISTERED in staff.inner_text("main")
    with staff.expect_navigation():
        staff.click(f"a[href$='/inquiries/{inquiry_id}/family']")
    staff.select_option("select[name=family_status]", "match_found")
    staff.fill("textarea[name=family_message]", MESSAGE)
    with staff.expect_navigation():
        staff.click("button[name=action][value=preview]")
    with staff.expect_navigation():
        staff.click("button[name=action][value=save]")
    log_out(staff)

    # The family, on a phone, in Russian: the cleared message and nothing else.
    family = new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    status, _body = check_status(family, reference.lower().replace("-", " "), code)
    assert status == 200
    text = family.inner_text("main")
    assert MESSAGE in text and reference in text
    for secret in ("Чернетков", "Дмитро", "Галина", "+7999", "example.org"):
        assert secret not in text
    assert family.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # A wrong code and an unknown reference: the same refusal, byte for byte (the CSRF token aside).
    wrong_code = ("0000-0000-0000-0000" if code != "0000-0000-0000-0000" else "1111-1111-1111-1111")
    status_wrong, body_wrong = check_status(family, reference, wrong_code)
    status_unknown, body_unknown = check_status(family, "INQ-ZZZZ-ZZZZ", code)
    assert status_wrong == status_unknown != 200
    assert body_wrong == body_unknown
    assert MESSAGE not in body_wrong and reference not in body_wrong
