"""The staff home page: my inquiries, counts, and what waits on staff, oldest first (issue 12).
All persons fictitious."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import select
from support import add_inquiry

from pow_registry.models import AuditEvent, Inquiry, InquiryStatus
from pow_registry.services import staff_home


def test_which_inquiries_the_family_reads_differently() -> None:
    def make(status: InquiryStatus, seen: InquiryStatus | None) -> Inquiry:
        return Inquiry(reference="INQ-0000-0000", access_code_digest="0" * 64, status=status, family_status=seen)

    assert not staff_home.family_lags(make(InquiryStatus.received, None))
    assert staff_home.family_lags(make(InquiryStatus.searching, None))
    assert not staff_home.family_lags(make(InquiryStatus.searching, InquiryStatus.searching))
    assert staff_home.family_lags(make(InquiryStatus.returned, InquiryStatus.match_found))
    assert staff_home.family_lags(make(InquiryStatus.searching, InquiryStatus.match_found))  # told too much
    assert staff_home.family_lags(make(InquiryStatus.closed, InquiryStatus.searching))
    assert not staff_home.family_lags(make(InquiryStatus.closed, InquiryStatus.closed))


def test_the_staff_home_page_shows_the_day(app: Any, client: Any, session: Any, make_user: Any,
                                           login: Any) -> None:
    from datetime import timedelta

    from pow_registry import clock

    staff = make_user("staff")
    old = add_inquiry(session, surname="Давнишний", status=InquiryStatus.received,
                      created_at=clock.now() - timedelta(hours=2))
    new = add_inquiry(session, surname="Свежев", status=InquiryStatus.received)
    lagging = add_inquiry(session, surname="Отстающий", status=InquiryStatus.returned,
                          family_status=InquiryStatus.match_found)
    login(staff)
    assert client.post("/language", data={"lang-language": "en"}).status_code == 302
    assert client.get("/").headers["Location"].endswith("/home/")  # staff start here
    page = client.get("/home/").get_data(as_text=True)
    new_section = page.split('id="new"', 1)[1].split("</section>", 1)[0]
    assert new_section.index("Давнишний") < new_section.index("Свежев")  # oldest first
    assert "Received: <strong>2</strong>" in page and "Returned: <strong>1</strong>" in page
    lags = page.split('id="lags"', 1)[1].split("</section>", 1)[0]
    assert lagging.reference in lags and "the family reads: " in lags and old.reference not in lags
    assert "No inquiry is assigned to you" in page

    # "Take it" on the inquiry's page: it is mine, and the log says who gave it to whom.
    detail = client.get(f"/inquiries/{new.id}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', detail)
    assert version
    assert client.post(f"/inquiries/{new.id}/assign", data={"version": version.group(1), "take": "1"}).status_code == 302
    mine = client.get("/home/").get_data(as_text=True).split('id="mine"', 1)[1].split("</section>", 1)[0]
    assert new.reference in mine and old.reference not in mine
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "inquiry.assign")).one()
    session.commit()
    assert event.actor_id == staff.id and event.entity_id == new.id


def test_only_staff_have_a_home_page_and_only_staff_take_inquiries(client: Any, session: Any, make_user: Any,
                                                                   login: Any) -> None:
    inquiry = add_inquiry(session)
    login(make_user("researcher"))
    assert client.get("/home/").status_code == 403
    assert client.post(f"/inquiries/{inquiry.id}/assign", data={"version": "1", "take": "1"}).status_code == 403


def test_the_query_and_the_rule_agree_on_every_status_and_every_view(session: Any) -> None:
    """The home page asks the database (FAMILY_LAGS); the rule is `family_lags`: one meaning."""
    statuses = list(InquiryStatus)
    for status in statuses:
        for seen in [None, *statuses]:
            add_inquiry(session, status=status, family_status=seen)
    rows = session.exec(select(Inquiry)).all()
    lagging = {row.id for row in session.exec(select(Inquiry).where(staff_home.FAMILY_LAGS))}
    session.commit()
    assert len(rows) == len(statuses) * (len(statuses) + 1)
    assert lagging == {row.id for row in rows if staff_home.family_lags(row)}
