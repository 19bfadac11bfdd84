"""Issue 4's journey in a real browser: demo staff build an exchange list for the demo office
from the app's proposals, remove one man with a reason, freeze, download; LibreOffice opens the
file (headless conversion to CSV) with the right rows and a hostile name as plain text; recording
"exchanged" moves the man's inquiry, and the family's page says so once staff clear it.

All people are fictitious; the hostile "name" is a test string, not a person.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from sqlmodel import select
from test_import_job_journey import jobs_running  # noqa: F401 - the fixture
from test_newcomer_journey import log_in, log_out

from pow_registry import clock

pytestmark = pytest.mark.e2e

HOSTILE = '=HYPERLINK("http://example.org/x","click")'
DEMO_REFERENCE, DEMO_CODE = "INQ-DEM0-0001", "DEM0-C0DE-2026-0001"  # published demo values
MESSAGE = "Ваш сын вернулся домой. (Вымышленное сообщение.)"


def _prepare(app: Any) -> tuple[int, int]:
    """Server side, as researchers and staff would have left it: the demo mother's son confirmed
    captured and linked to her inquiry, and a confirmed man with a hostile "name"."""
    from pow_registry import db
    from pow_registry.models import Inquiry, InquiryStatus, Person, PersonStatus

    with app.app_context():
        session = db.session()
        son = session.exec(select(Person).where(Person.surname == "Выдумкин", Person.given_name == "Виталий")).first()
        assert son is not None
        hostile = session.exec(select(Person).where(Person.surname == "Условнов")).first()
        assert hostile is not None
        hostile.surname, hostile.given_name = HOSTILE, "@SUM(1)"
        for person in (son, hostile):
            person.status = PersonStatus.confirmed_captured
            session.add(person)
        inquiry = session.exec(select(Inquiry).where(Inquiry.reference == DEMO_REFERENCE)).one()
        inquiry.person_id, inquiry.status = son.id, InquiryStatus.match_found
        session.add(inquiry)
        session.commit()
        return son.id or 0, inquiry.id or 0


def _soffice_csv(xlsx: Path, out: Path) -> list[list[str]]:
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("LibreOffice (soffice) is required in CI")
        pytest.skip("LibreOffice (soffice) is not installed")
    profile = out / "lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",  # noqa: S603 - our own file
                    "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(out), str(xlsx)],
                   check=True, capture_output=True, timeout=120)
    with (out / (xlsx.stem + ".csv")).open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_build_freeze_export_and_answer_an_exchange_list(new_page: Any, live_server: Any, tmp_path: Path,
                                                        jobs_running: Any) -> None:  # noqa: F811
    son_id, inquiry_id = _prepare(live_server.app)
    page = new_page()
    log_in(page, "staff@demo.invalid")

    # A new list for the demo office.
    page.goto("/lists/new")
    office = page.locator("select[name=office_id] option", has_text="Fictitious Ombudsman Office (demo)")
    page.select_option("select[name=office_id]", office.get_attribute("value"))
    page.select_option("select[name=kind]", "exchange")
    page.fill("input[name=title]", "E2E: осень 2026")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    match = re.search(r"/lists/(\d+)$", page.url)
    assert match, page.url
    list_id = int(match.group(1))

    # The proposals, with their categories and reasons; the man with an inquiry among them.
    proposals = page.locator("table.proposals tbody tr")
    assert proposals.count() >= 2
    assert page.locator(f"table.proposals a[href$='/registry/persons/{son_id}']").count() == 1
    with page.expect_navigation():
        page.click("form[action$='/add-proposed'] button[type=submit]")
    rows = page.locator("table.entries tbody tr")
    count = rows.count()
    assert count >= 2

    # Remove one (not the son, not the hostile name) with a reason.
    victim = rows.filter(has_not=page.locator(f"a[href$='/registry/persons/{son_id}']")) \
                 .filter(has_not_text="HYPERLINK").first
    victim.locator("input[name=reason]").last.fill("E2E: семья просит подождать")
    with page.expect_navigation():
        victim.locator("form[action$='/remove'] button[type=submit]").click()
    assert page.locator("table.entries tbody tr").count() == count - 1
    assert "E2E: семья просит подождать" in page.inner_text("table.removed")

    # Freeze, then download.
    page.check("input#freeze-confirm")
    with page.expect_navigation():
        page.click("form[action$='/freeze'] button[type=submit]")
    assert page.locator("form[action$='/remove']").count() == 0
    # The first download makes the file in a job: its page offers the file when it is ready.
    with page.expect_navigation():
        page.click("form[action$='/download'] button[type=submit]")
    assert re.search(r"/jobs/\d+$", page.url), page.url
    jobs_running.start()
    page.wait_for_selector("form.job-download button[type=submit]", timeout=60_000)
    with page.expect_download() as download:
        page.click("form.job-download button[type=submit]")
    xlsx = tmp_path / "list.xlsx"
    download.value.save_as(xlsx)

    # LibreOffice reads it: a header, then one row per man in order; hostile text stays text.
    table = _soffice_csv(xlsx, tmp_path)
    assert len(table) == count  # header + (count - 1) men
    body = "\n".join(",".join(row) for row in table[1:])
    assert "HYPERLINK(" in body and "@SUM(1)" in body
    assert "click" not in [cell for row in table for cell in row]  # never evaluated
    assert [row[0] for row in table[1:]] == [str(n) for n in range(1, count)]

    # The office answers: the son was exchanged, today (the list was frozen today: any earlier day
    # would be refused, and so would a day to come).
    exchanged_on = clock.today()
    page.goto(f"/lists/{list_id}")
    son_row = page.locator("table.entries tbody tr", has=page.locator(f"a[href$='/registry/persons/{son_id}']"))
    son_row.locator("select[name=outcome]").select_option("exchanged")
    son_row.locator("input[name=outcome_date]").fill(exchanged_on.isoformat())
    with page.expect_navigation():
        son_row.locator("form[action$='/outcome'] button[type=submit]").click()
    assert exchanged_on.isoformat() in son_row.inner_text()

    # The inquiry has followed; staff clear it for the family.
    page.goto(f"/inquiries/{inquiry_id}/family")
    page.select_option("select[name=family_status]", "returned")
    page.fill("textarea[name=family_message]", MESSAGE)
    with page.expect_navigation():
        page.click("button[name=action][value=preview]")
    with page.expect_navigation():
        page.click("button[name=action][value=save]")
    log_out(page)

    family = new_page()
    family.goto("/status")
    family.fill("input[name=reference]", DEMO_REFERENCE)
    family.fill("input[name=access_code]", DEMO_CODE)
    with family.expect_navigation():
        family.click("main form[action$='/status'] button[type=submit]")
    text = family.inner_text("main")
    assert MESSAGE in text
    # the date of the exchange, in the family's language ("7 декабря 2026 г.")
    assert format_date(exchanged_on, "long", locale="ru") in text
