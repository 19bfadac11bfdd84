"""The newcomer's journey through the real app in a real browser (README, "Try: ...").

Everything runs against waitress on a fresh database with the fictitious demo data, CSRF on.
Selectors use names, hrefs and classes rather than words, so the tests hold in every language;
where words matter (the Ukrainian test) they come from the compiled catalogue itself.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

TRANSLATIONS = Path(__file__).resolve().parents[2] / "pow_registry" / "translations"
PERSON = "Выдумкин Виталий Евгеньевич"
PERSON_UK = "Выдумкін Віталій Євгенович"  # the same fictitious man as entered from a Ukrainian source
LATIN_QUERY = "Vydumkin Vitaliy"
EVIDENCE_URL = "https://example.org/e2e/vydumkin/capture-video-1"
DEMO_PASSWORD = "demo-password-2026"  # the printed demo password (pow_registry.demo)
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def tiny_png() -> bytes:
    """A valid 2×2 RGB PNG, made here so the test needs no fixture file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\xc0\x20\x20\x20\x20\xc0" for _ in range(2))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------------------------
# Steps


def log_in(page: Any, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("main form[action$='/login'] button[type=submit]")
    if page.url.endswith("/login/code"):
        # The second factor, as the demo account's authenticator app would show it. A code works
        # once: a second sign-in within the same 30 s takes the next one (one step of drift).
        import pyotp

        from pow_registry import clock
        from pow_registry.demo import DEMO_TOTP_SECRETS

        totp = pyotp.TOTP(DEMO_TOTP_SECRETS[email])
        for ahead in (0, totp.interval):
            page.fill("input[name=code]", totp.at(clock.timestamp() + ahead))
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            if not page.url.endswith("/login/code"):
                break
    assert "/login" not in page.url, f"login as {email} failed: {page.inner_text('main')}"
    assert page.locator(f"header.top .tools a:has-text('{email}')").count() == 1


def log_out(page: Any) -> None:
    with page.expect_navigation():
        page.click("header.top form[action$='/logout'] button")
    assert page.url.endswith("/login")
    assert page.locator("form[action$='/logout']").count() == 0


def search(page: Any, query: str) -> list[str]:
    page.click("header.top nav a[href$='/registry/']")
    page.fill("form.search input[name=q]", query)
    with page.expect_navigation():
        page.click("form.search button[type=submit]")
    return [name.strip() for name in page.locator("table.list tbody td a[href*='/registry/persons/']").all_inner_texts()]


def open_person(page: Any, full_name: str) -> int:
    search(page, LATIN_QUERY)
    with page.expect_navigation():
        page.click(f"table.list tbody a:text-is('{full_name}')")
    match = re.search(r"/registry/persons/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def evidence_row(page: Any, url: str) -> Any:
    row = page.locator("tr[id^='evidence-']", has=page.locator(f"td.url a[href='{url}']"))
    assert row.count() == 1, f"evidence {url} is not on the page exactly once"
    return row


def status_line(page: Any) -> str:
    return " ".join(page.inner_text("p.status-line").split())


# ------------------------------------------------------------------------------------------------
# Tests


def test_newcomer_journey(page: Any, live_server: Any, tmp_path: Path) -> None:
    # 1. The researcher logs in and finds a man entered in Cyrillic by a Latin spelling.
    log_in(page, "researcher@demo.invalid")
    names = search(page, LATIN_QUERY)
    assert PERSON in names, f"{LATIN_QUERY!r} did not find {PERSON!r}: {names}"
    assert PERSON_UK in names, f"{LATIN_QUERY!r} did not find {PERSON_UK!r}: {names}"
    assert all(not name.startswith(("Макетов", "Шаблонов")) for name in names), names

    # 2. Opens him, adds a capture report (partial date, place) ...
    person_id = open_person(page, PERSON)
    assert page.inner_text("h1").startswith(f"#{person_id} {PERSON}")
    reports_before = page.locator("article.report").count()
    with page.expect_navigation():
        page.click(f"p.actions a[href$='/registry/persons/{person_id}/reports/new']")
    page.select_option("select[name=claim]", "captured")
    page.fill("input[name=capture_date]", "2024-08")
    page.fill("input[name=capture_place]", "Коренево, Курская область")
    page.fill("textarea[name=circumstances]", "E2E: fictitious report seen in a fictitious video.")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    match = re.search(r"/registry/reports/(\d+)/evidence/new$", page.url)
    assert match, f"after saving the report: {page.url}\n{page.inner_text('main')}"
    report_id = int(match.group(1))

    # 3. ... and the evidence for it, with a PNG as the archived copy (through the file chooser).
    png = tiny_png()
    png_file = tmp_path / "vydumkin-capture.png"
    png_file.write_bytes(png)
    page.fill("input[name=url]", EVIDENCE_URL)
    page.select_option("select[name=kind]", "video")
    page.fill("input[name=publisher]", "Demo E2E Channel (fictitious)")
    page.fill("input[name=published_at]", "2024-08-22")
    page.select_option("select[name=source_reliability]", "B")
    page.select_option("select[name=info_credibility]", "2")
    with page.expect_file_chooser() as chooser:
        page.click("input[name=archive]")
    chooser.value.set_files(str(png_file))
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.endswith(f"/registry/persons/{person_id}"), f"{page.url}\n{page.inner_text('main')}"
    assert page.locator("article.report").count() == reports_before + 1
    assert page.locator(f"article#report-{report_id}").count() == 1
    row = evidence_row(page, EVIDENCE_URL)
    evidence_id = int((row.get_attribute("id") or "").removeprefix("evidence-"))
    assert page.locator(f"article#report-{report_id} tr#evidence-{evidence_id}").count() == 1
    digest = row.locator("code.hash").inner_text().strip()
    assert HEX64.match(digest), digest
    assert digest == hashlib.sha256(png).hexdigest()
    assert row.locator("a[download]").inner_text().strip() == png_file.name
    assert row.locator(".verif-unverified").count() == 1
    assert row.locator("form.verify").count() == 0  # its author cannot verify it
    page.screenshot(path=str(tmp_path / "person-page.png"), full_page=True)
    log_out(page)

    # 4. A second researcher verifies it: the evidence and the status line change.
    log_in(page, "researcher2@demo.invalid")
    page.goto(f"/registry/persons/{person_id}")
    before = status_line(page)
    row = evidence_row(page, EVIDENCE_URL)
    row.locator(f"select[name='e{evidence_id}-decision']").select_option("verified")
    row.locator(f"input[name='e{evidence_id}-note']").fill("E2E: checked against the archived copy.")
    with page.expect_navigation():
        row.locator("form.verify button[type=submit]").click()
    assert page.locator(".flash-error").count() == 0, page.inner_text("main")
    row = evidence_row(page, EVIDENCE_URL)
    assert row.locator(".verif-verified").count() == 1, row.inner_text()
    after = status_line(page)
    assert after != before, f"the status line did not change: {before!r}"
    assert page.locator("p.status-line .status-confirmed_captured").count() == 1
    log_out(page)

    # 5. The admin sees the new report and evidence in the audit log, by the first researcher.
    log_in(page, "admin@demo.invalid")
    with page.expect_navigation():
        page.click("header.top nav a[href$='/admin/audit']")

    def audit_rows() -> list[list[str]]:
        return [[" ".join(cell.split()) for cell in tr.locator("td").all_inner_texts()]
                for tr in page.locator("table.audit tbody tr").all()]

    # The log in the admin's language (Russian): what happened and to which record, in words.
    def expect_events(rows: list[list[str]]) -> None:
        seen = {(r[2], r[3], r[4]) for r in rows}
        wanted = {
            ("researcher@demo.invalid", "Добавлено сообщение о пленении", f"Сообщение о пленении #{report_id}"),
            ("researcher@demo.invalid", "Добавлено доказательство", f"Доказательство #{evidence_id}"),
            ("researcher2@demo.invalid", "Доказательство проверено", f"Доказательство #{evidence_id}"),
        }
        assert wanted <= seen, f"missing audit events: {wanted - seen}"

    expect_events(audit_rows())
    page.fill("form.search input[name=actor]", "researcher@demo.invalid")
    page.select_option("form.search select[name=entity_type]", "evidence")
    with page.expect_navigation():
        page.click("form.search button[type=submit]")
    filtered = audit_rows()
    assert filtered and all(r[2] == "researcher@demo.invalid" and r[4].startswith("Доказательство #") for r in filtered)
    created = [r for r in filtered if r[3] == "Добавлено доказательство" and r[4] == f"Доказательство #{evidence_id}"]
    assert len(created) == 1
    assert digest in created[0][5] and EVIDENCE_URL in created[0][5]


def _compiled_catalogue(language: str) -> Any | None:
    mo = TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo"
    if not mo.is_file():
        return None
    from babel.support import Translations

    return Translations.load(str(TRANSLATIONS), [language])


def test_login_page_switches_to_ukrainian(page: Any) -> None:
    page.goto("/login")
    assert page.get_attribute("html", "lang") == "ru"  # the browser asks for Russian
    with page.expect_navigation():
        page.click("header.top form[action$='/language'] button[lang='uk']")
    assert page.url.endswith("/login")
    assert page.get_attribute("html", "lang") == "uk"
    assert "current" in (page.get_attribute("header.top button[lang='uk']", "class") or "")
    catalogue = _compiled_catalogue("uk")
    if catalogue is not None:
        expected = catalogue.gettext("Log in")
        assert expected != "Log in", "the Ukrainian catalogue does not translate 'Log in'"
        assert page.inner_text("main h1").strip() == expected
        assert page.inner_text("label[for=email]").strip() == catalogue.gettext("Email")
    # The choice lasts: the next page is Ukrainian too.
    page.reload()
    assert page.get_attribute("html", "lang") == "uk"


OVERFLOW_JS = """
(viewportWidth) => {
  const limit = viewportWidth + 1;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.classList.length ? '.' + [...el.classList].join('.') : '');
  const where = (el) => {
    const path = [];
    for (let p = el; p && p !== document.body; p = p.parentElement) path.unshift(describe(p));
    return path.join(' > ');
  };
  // The innermost boxes sticking out, grouped by the block that carries them (a table, a form...).
  const blocks = new Map();
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || r.right <= limit) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > limit)) continue;
    const block = el.closest('table, pre, form, img, video, ul, ol, p, h1, h2, h3') || el;
    const b = block.getBoundingClientRect();
    const key = where(block);
    const entry = blocks.get(key) || {key, right: Math.round(b.right), width: Math.round(b.width), cells: []};
    if (entry.cells.length < 3) entry.cells.push(`${describe(el)} ${JSON.stringify((el.innerText || '').slice(0, 30))}`);
    blocks.set(key, entry);
  }
  return [...blocks.values()].map(e => `${e.key}: right edge ${e.right}px, width ${e.width}px (e.g. ${e.cells.join('; ')})`);
}
"""


class PageOverflows(AssertionError):
    """The page is wider than the phone."""


def test_person_page_fits_a_phone(new_page: Any, tmp_path: Path) -> None:
    width, height = 390, 844
    page = new_page(viewport={"width": width, "height": height}, device_scale_factor=3, is_mobile=True,
                    has_touch=True)
    log_in(page, "researcher@demo.invalid")
    page.goto("/registry/?q=" + LATIN_QUERY.replace(" ", "+"))
    # Follow the link rather than tap it: on a page wider than the phone, Chromium zooms out and
    # Playwright's taps land beside their target.
    href = page.locator(f"table.list tbody a:text-is('{PERSON}')").get_attribute("href")
    assert href and re.fullmatch(r"/registry/persons/\d+", href), href
    page.goto(href)
    assert page.inner_text("h1").endswith(PERSON)
    page.screenshot(path=str(tmp_path / "person-page-phone.png"), full_page=True)  # for debugging
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth,"
                          " document.documentElement.clientWidth]")
    scroll_width, inner_width, client_width = sizes
    fits = scroll_width <= inner_width + 1 and scroll_width <= width + 1 and inner_width <= width + 1
    if not fits:
        offenders = page.evaluate(OVERFLOW_JS, width)
        raise PageOverflows(f"the person page scrolls sideways on a {width}px phone: scrollWidth={scroll_width}, "
                             f"innerWidth={inner_width}, clientWidth={client_width}; overflowing elements:\n  "
                             + "\n  ".join(offenders[:15]))
