"""Staff on a 390-px phone, in Russian: freeze a list, its spreadsheet made in a job and downloaded
from the job's page; the office's answers sent back with a mistake (every problem listed in
Russian, nothing recorded), then corrected (recorded). The jobs run in consumer threads of the
server's process, as `pow-registry serve` runs them. Screenshots go to the test's folder
(`E2E_SHOTS` names another) for a person to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from test_import_job_journey import PHONE, fits_the_phone, jobs_running  # noqa: F401 - the fixture
from test_newcomer_journey import log_in

pytestmark = pytest.mark.e2e


def _draft_with_two_men(app: Any) -> int:
    """A draft exchange list for the demo office with two confirmed men of distinct names (the
    demo register holds spellings of one man that would stop the freeze: tested elsewhere)."""
    from pow_registry import db
    from pow_registry.models import OmbudsmanOffice, Person, PersonStatus, User
    from pow_registry.services import exchange

    with app.app_context():
        session = db.session()
        key = app.config["AUDIT_KEY_BYTES"]
        staff = session.exec(select(User).where(User.email == "staff@demo.invalid")).one()
        office = session.exec(select(OmbudsmanOffice)).first()
        assert office is not None
        row = exchange.create_list(session=session, actor=staff, audit_key=key,
                                   data={"office_id": office.id, "kind": "exchange", "title": "E2E: телефон"})
        list_id = row.id or 0
        for surname in ("Модельков", "Примерный"):
            person = session.exec(select(Person).where(Person.surname == surname)).one()
            person.status = PersonStatus.confirmed_captured
            session.add(person)
            session.commit()
            exchange.add_person(session=session, actor=staff, audit_key=key, list_id=list_id,
                                person_id=person.id or 0, reason="семья просит")
        session.commit()
        return list_id


def _answers_recorded(app: Any, list_id: int) -> list[str]:
    from pow_registry import db
    from pow_registry.models import ExchangeListEntry

    with app.app_context():
        session = db.session()
        entries = session.exec(select(ExchangeListEntry).where(ExchangeListEntry.list_id == list_id)).all()
        answers = [e.outcome.value for e in entries if e.outcome is not None]
        session.commit()
        return answers


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("E2E_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _send_answers(page: Any, data: bytes) -> None:
    page.set_input_files("input#answers-file", files=[{"name": "answers.csv", "mimeType": "text/csv", "buffer": data}])
    with page.expect_navigation():
        page.click("form[action$='/answers'] button[type=submit]")
    assert re.search(r"/jobs/\d+$", page.url), page.url


def test_a_lists_spreadsheet_and_the_offices_answers_as_jobs_on_a_phone(new_page: Any, live_server: Any,
                                                                         tmp_path: Path, jobs_running: Any) -> None:  # noqa: F811
    list_id = _draft_with_two_men(live_server.app)
    page = new_page(viewport=PHONE)  # locale ru-RU: the pages answer in Russian
    log_in(page, "staff@demo.invalid")
    page.goto(f"/lists/{list_id}")
    men = page.locator("table.entries tbody tr").count()
    assert men == 2
    page.check("input#freeze-confirm")
    with page.expect_navigation():
        page.click("form[action$='/freeze'] button[type=submit]")
    assert page.locator("form[action$='/freeze']").count() == 0, page.locator(".flash").all_inner_texts()

    # The first download: a job, waiting for its worker, with a bar and words in Russian.
    with page.expect_navigation():
        page.click("form[action$='/download'] button[type=submit]")
    assert re.search(r"/jobs/\d+$", page.url), page.url
    assert page.locator("#job-progress progress").count() == 1
    assert "Таблица списка на обмен" in page.inner_text("h1")
    fits_the_phone(page)
    _shot(page, tmp_path, "1-export-waiting-ru-390")
    jobs_running.start()
    page.wait_for_selector("form.job-download button[type=submit]", timeout=60_000)
    assert "готова" in page.inner_text("section.report")
    fits_the_phone(page)
    _shot(page, tmp_path, "2-export-ready-ru-390")
    with page.expect_download() as download:
        page.click("form.job-download button[type=submit]")
    xlsx = tmp_path / "list.xlsx"
    download.value.save_as(xlsx)
    assert load_workbook(xlsx).active.max_row >= men  # a header row and the men

    # The office's answers with a row that is not on the list: every problem, nothing recorded.
    page.goto(f"/lists/{list_id}")
    _send_answers(page, "№,Ответ\n1,получено\n99,не найден\n".encode())
    page.wait_for_selector("section.report .flash-error", timeout=60_000)
    report = page.inner_text("section.report")
    assert "Ничего не записано" in report and "99" not in report.split("\n")[0]
    assert page.locator("section.report table tbody tr").count() == 1
    fits_the_phone(page)
    _shot(page, tmp_path, "3-answers-problems-ru-390")
    assert _answers_recorded(live_server.app, list_id) == []

    # Corrected: recorded, and the list's page shows it.
    page.goto(f"/lists/{list_id}")
    _send_answers(page, "№,Ответ\n1,получено\n".encode())
    page.wait_for_selector("section.report .flash-info", timeout=60_000)
    assert "Записано ответов: 1" in page.inner_text("section.report")
    fits_the_phone(page)
    _shot(page, tmp_path, "4-answers-recorded-ru-390")
    with page.expect_navigation():
        page.click(f"p.actions a[href$='/lists/{list_id}']")
    assert page.url.endswith(f"/lists/{list_id}")
    assert _answers_recorded(live_server.app, list_id) == ["acknowledged"]
