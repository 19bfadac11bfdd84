"""Issue 12's journeys in a real browser, in Russian: a staff member starts on the home page,
previews what a family will read and the family then reads exactly that on its own page, and a
list that would name the same man twice warns and refuses to be frozen.

All people are fictitious demo data (pow_registry.demo).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select
from test_newcomer_journey import log_in

from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE
from pow_registry.models import Inquiry, MatchCandidate, MatchStatus

pytestmark = pytest.mark.e2e

MESSAGE = "Мы продолжаем поиск по спискам. (Вымышленное сообщение.)"


def _open_pair(live_server: Any) -> tuple[int, int]:
    """Two records the matcher proposes as the same man (an open pair in /duplicates/)."""
    with Session(live_server.app.extensions["pow_registry.engine"]) as session:
        pair = session.exec(select(MatchCandidate).where(
            MatchCandidate.left_kind == "person", MatchCandidate.right_kind == "person",
            MatchCandidate.status == MatchStatus.candidate).order_by(col(MatchCandidate.score).desc())).first()
        assert pair is not None, "the demo data has no open duplicate pair"
        return pair.left_id, pair.right_id


def _inquiry_id(live_server: Any) -> int:
    with Session(live_server.app.extensions["pow_registry.engine"]) as session:
        row = session.exec(select(Inquiry).where(Inquiry.reference == DEMO_INQUIRY_REFERENCE)).one()
        assert row.id is not None
        return row.id


def test_a_staff_day_in_russian(new_page: Any, live_server: Any) -> None:
    page = new_page()
    log_in(page, "staff@demo.invalid")
    # 1. Staff start on their home page: the counts and what waits on them.
    assert page.url.endswith("/home/"), page.url
    assert page.locator("h1").inner_text() == "Моя работа"
    assert page.locator("#new").count() == 1 and page.locator(".home-counts li").count() >= 5
    assert "Ждёт сотрудников" in page.inner_text("main")

    # 2. The preview is what the family will read, word for word.
    inquiry_id = _inquiry_id(live_server)
    page.goto(f"/inquiries/{inquiry_id}/family")
    page.fill("textarea[name=family_message]", MESSAGE)
    with page.expect_navigation():
        page.click("button[name=action][value=preview]")
    preview = page.locator(".family-view section.family-answer").last.inner_text()
    assert MESSAGE in preview
    with page.expect_navigation():
        page.click("button[name=action][value=save]")
    family = new_page()
    family.goto("/status")
    family.fill("input[name=reference]", DEMO_INQUIRY_REFERENCE)
    family.fill("input[name=access_code]", DEMO_ACCESS_CODE)
    with family.expect_navigation():
        family.click("main form button[type=submit]")
    assert family.locator("section.family-answer").inner_text() == preview

    # 3. A list that would name the same man twice warns at once and is not frozen.
    first, second = _open_pair(live_server)
    page.goto("/lists/new")
    page.select_option("select[name=kind]", "verification")
    page.fill("input[name=title]", "Проверка (вымышленная)")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    for person_id in (first, second):
        page.fill("#add-person-id", str(person_id))
        page.fill("#add-person-reason", "семья просит")
        with page.expect_navigation():
            page.click("form[action$='/add'] button[type=submit] >> nth=-1")
    warning = page.locator("#duplicates")
    assert warning.count() == 1, page.inner_text("main")
    assert f"P-{first:06d}" in warning.inner_text() and f"P-{second:06d}" in warning.inner_text()
    page.check("#freeze-confirm")
    with page.expect_navigation():
        page.click("form[action$='/freeze'] button[type=submit]")
    assert "записи об одном и том же человеке" in page.inner_text("main")
    assert page.locator("form[action$='/freeze']").count() == 1  # still a draft
