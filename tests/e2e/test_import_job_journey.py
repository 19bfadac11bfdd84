"""A researcher's import as a job, in a real browser on a 390-px phone: upload → the job's page
with its progress bar → the outcome, found again under "My jobs"; and the same page without
JavaScript, which reloads itself until the job has ended.

The server is the e2e waitress on SQLite; the jobs run in consumer threads of the same process, as
`pow-registry serve` runs them by default. Selectors use names, hrefs and classes, not words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from test_newcomer_journey import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
SURNAMES = ["Выдумкин", "Макетов", "Шаблонов", "Черновиков", "Пробнов", "Эскизов", "Набросков", "Заготовкин"]
GIVEN = ["Алексей", "Виталий", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим"]


def captures_csv(rows: int, prefix: str) -> bytes:
    lines = ["source_ref,surname,given_name,date_of_birth,unit,capture_date"]
    for i in range(rows):
        lines.append(f"{prefix}{i},{SURNAMES[i % 8]},{GIVEN[(i // 8) % 8]},{1970 + i % 37}-{1 + i % 12:02d}-"
                     f"{1 + i % 28:02d},в/ч {20000 + i},2024-{1 + i % 12:02d}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def jobs_running(live_server: Any) -> Iterator[Any]:
    from pow_registry import worker

    queue = worker.queue(live_server.app)

    class Control:
        running: Any = None

        def start(self) -> None:
            self.running = queue.start_in_process(1)

    control = Control()
    yield control
    if control.running is not None:
        control.running.stop(graceful=True)


def fits_the_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide on a {PHONE['width']}-px phone"


def upload(page: Any, data: bytes, name: str, *, dry_run: bool = False) -> int:
    page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    if dry_run:
        page.check("input[name=dry_run]")
    with page.expect_navigation():
        page.click("form.import-form button[type=submit]")
    match = re.search(r"/jobs/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def test_an_import_runs_as_a_job_with_a_progress_bar(new_page: Any, live_server: Any, jobs_running: Any) -> None:
    page = new_page(viewport=PHONE)
    log_in(page, "researcher@demo.invalid")
    page.goto("/registry/import")
    fits_the_phone(page)
    job_id = upload(page, captures_csv(300, "E2E-"), "captures.csv")

    # No worker yet: the page shows the job waiting, with its bar, and says so in words.
    assert page.locator("#job-progress progress").count() == 1
    assert page.locator("#job-progress [data-job=phase]").inner_text().strip()
    fits_the_phone(page)
    # A reload is a GET of the job's page (Post/Redirect/Get): no second job.
    page.reload()
    assert page.url.endswith(f"/jobs/{job_id}")

    jobs_running.start()
    # The script moves the bar while rows are written, then reloads to the outcome.
    page.wait_for_function("() => { const bar = document.querySelector('#job-progress progress');"
                           " return !bar || bar.value > 0; }", timeout=60_000)
    page.wait_for_selector("section.report .flash-info", timeout=120_000)
    assert "300" in page.inner_text("section.report")
    assert page.locator("#job-progress").count() == 0
    fits_the_phone(page)

    # Leave and come back: "My jobs" lists it, and leads back to its outcome.
    page.goto("/registry/import")
    with page.expect_navigation():
        page.click("main a[href$='/jobs/']")
    fits_the_phone(page)
    with page.expect_navigation():
        page.click(f"table.jobs a[href$='/jobs/{job_id}']")
    assert page.locator("section.report .flash-info").count() == 1

    from sqlmodel import Session, func, select

    from pow_registry.models import CaptureReport

    with Session(live_server.app.extensions["pow_registry.engine"]) as session:
        imported = session.exec(select(func.count()).select_from(CaptureReport)
                                .where(CaptureReport.source_ref.startswith("E2E-"))).one()  # type: ignore[attr-defined]
        session.commit()
    assert imported == 300


def test_the_job_page_works_without_javascript(new_page: Any, live_server: Any, jobs_running: Any) -> None:
    page = new_page(viewport=PHONE, java_script_enabled=False)
    log_in(page, "researcher@demo.invalid")
    page.goto("/registry/import")
    job_id = upload(page, captures_csv(40, "NOJS-"), "captures.csv", dry_run=True)
    assert page.locator("#job-progress progress").count() == 1
    jobs_running.start()
    # The page reloads itself (a meta refresh inside <noscript>) until the outcome is there.
    page.wait_for_selector("section.report .flash-info", timeout=120_000)
    assert page.url.endswith(f"/jobs/{job_id}")
    assert "40" in page.inner_text("section.report")
    fits_the_phone(page)
