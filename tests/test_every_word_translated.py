"""Every word in the user's language (issue 12, finding 4): a crawler signs in as each role, in
Russian and in Ukrainian, walks every page it can reach from the start page on the demo data (plus a
frozen list with an answer and a merge, so those pages have something to say), and fails on any
English word or raw code on a page that is not data someone typed.

Data (names, notes, units, URLs: anything stored in the database as text) is removed from the page
before looking, so an English note typed by a researcher is not a finding; what is left is what the
app itself wrote.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import Enum, String, Text, select
from sqlmodel import Session, SQLModel

pytestmark = pytest.mark.db

# Latin words that are not English: units, formats, standards, names of things.
ALLOWED = {
    "SHA", "UTC", "PDF", "CSV", "xlsx", "csv", "XLSX", "ICAO", "BGN", "PCGN", "GOST", "ISO", "E164", "TOTP", "QR",
    "English", "OSA", "HMAC", "JSON", "API", "URL", "Admiralty", "DEMO", "INQ", "pow_registry", "GC", "III",
    "Art", "HTTPS", "source_ref", "https", "pymorphy3", "Jaro", "Winkler", "MB", "KB", "mp4", "png", "jpg", "jpeg", "webp", "gif", "txt", "html", "mhtml", "warc",
}
LATIN_WORD = re.compile(r"(?<![\w@./:-])[A-Za-z][A-Za-z']{2,}(?![\w@/-])")
RAW_CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\.[a-z_]+\b")
TAG = re.compile(r"<[^>]+>")
ATTRIBUTE_TEXT = re.compile(r'\s(?:placeholder|title|aria-label|alt)="([^"]*)"')
SKIP_PATHS = ("/logout", "/static/", "/download", "/archive", "/export", "/language", "/healthz")
MAX_PAGES_PER_ROLE = 400


# Columns that hold codes, not what someone typed: a code shown raw on a page is a finding.
CODE_COLUMNS = {"action", "entity_type", "changes", "status_basis", "explanation", "columns", "categories",
                "snapshot", "moved_report_ids", "password_hash", "access_code_digest", "roles", "api_token_hash"}


def _is_text(column_type: Any) -> bool:
    # sqlmodel's AutoString is a TypeDecorator over String
    return isinstance(column_type, String | Text) or isinstance(getattr(column_type, "impl", None), String | Text)


def _data_strings(session: Session) -> list[str]:
    """Every text stored in the database, longest first (so a long note goes before a word in it)."""
    found: set[str] = set()
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns
                   if _is_text(c.type) and not isinstance(c.type, Enum) and not isinstance(getattr(c.type, "impl", None), Enum)
                   and c.name not in CODE_COLUMNS and not c.name.endswith(("_key", "_sha256", "_digest", "_hash"))]
        if not columns:
            continue
        for row in session.execute(select(*columns)):
            for value in row:
                if isinstance(value, str) and value.strip() and not value.lstrip().startswith(("{", "[")):
                    found.add(value.strip())
        # What people typed into an event (a reason, a note) is data too; codes in it are not.
    for (raw,) in session.execute(select(SQLModel.metadata.tables["audit_event"].c.changes)):
        found.update(_typed(json.loads(raw or "{}")))
    session.commit()
    return sorted((value for value in found if len(value) >= 3), key=len, reverse=True)


# The fields of an event that hold what a person typed (a reason, a note, a title): data. Anything
# else the app itself wrote, and so must be in the reader's language.
TYPED_FIELDS = {"reason", "note", "notes", "title", "circumstances", "outcome_note", "verification_note",
                "conflict_note", "family_message", "display_name", "name", "contact"}


def _typed(value: Any, field: str = "") -> set[str]:
    if isinstance(value, dict):
        return {text for key, item in value.items() for text in _typed(item, key)}
    if isinstance(value, list):
        return {text for item in value for text in _typed(item, field)}
    if field in TYPED_FIELDS and isinstance(value, str) and value.strip() and not _written_by_the_app(value):
        return {value.strip()}
    return set()


def _written_by_the_app(text: str) -> bool:
    """A sentence the app once wrote into a record in English (web/labels.py shows it translated)."""
    from pow_registry.web.labels import _SYSTEM_TEXTS

    return any(pattern.search(text) for pattern, _words in _SYSTEM_TEXTS)


def _visible_text(page: str) -> str:
    body = re.split(r"<body[^>]*>", page, maxsplit=1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    attributes = " ".join(ATTRIBUTE_TEXT.findall(body))
    body = re.sub(r"<(code|pre)\b.*?</\1>", " ", body, flags=re.S)  # hashes, references, JSON shown as data
    return html.unescape(TAG.sub(" ", body) + " " + attributes)


def _links(page: str, base: str) -> list[str]:
    out = []
    for href in re.findall(r'href="([^"#]+)', page):
        url = urljoin(base, html.unescape(href))
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != "localhost":
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if any(skip in parts.path for skip in SKIP_PATHS):
            continue
        out.append(path)
    return out


def _findings(text: str, data: list[str]) -> set[str]:
    for value in data:
        if value in text:
            text = text.replace(value, " ")
    words = {w for w in LATIN_WORD.findall(text) if w not in ALLOWED and w.strip("'") not in ALLOWED}
    codes = {c for c in RAW_CODE.findall(text) if c not in ALLOWED}
    return words | codes


@pytest.fixture
def demo(app: Any, session: Session, audit_key: bytes) -> dict[str, Any]:
    from pow_registry import clock
    from pow_registry.demo import DEMO_PASSWORD, load_demo_data
    from pow_registry.models import Person, PersonStatus, User
    from pow_registry.services import exchange, registry

    load_demo_data(session=session, audit_key=audit_key, passwords=app.extensions["pow_registry.passwords"],
                   access_key=app.config["ACCESS_CODE_KEY_BYTES"])
    users = {u.email: u for u in session.exec(select(User)).scalars()}
    staff = users["staff@demo.invalid"]
    researcher = users["researcher@demo.invalid"]
    persons = list(session.exec(select(Person).order_by(Person.id)).scalars())
    for person in persons[:3]:
        person.status = PersonStatus.confirmed_captured
        session.add(person)
    session.commit()
    office = exchange.offices(session)[0]
    listed = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                  data={"office_id": office.id, "kind": "exchange", "title": "Осень"})
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=listed.id,
                        person_id=persons[0].id, reason="семья просит")
    session.refresh(listed)
    frozen = exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=listed.id,
                                  version=listed.version)
    entry = exchange.list_detail(session, frozen.id).entries[0].entry
    exchange.record_outcome(session=session, actor=staff, audit_key=audit_key, entry_id=entry.id,
                            version=entry.version, outcome="exchanged", outcome_date=clock.today().isoformat(),
                            note="")
    keep, other = persons[3], persons[4]
    registry.merge_persons(session=session, actor=researcher, audit_key=audit_key, keep_id=keep.id,
                           merge_id=other.id, keep_version=keep.version, merge_version=other.version,
                           reason="Одно видео.")
    # A draft that names a man whose surname was taken out of his record, and men not proposed
    # for want of a surname (the demo's partly identified men): those warnings speak too.
    draft = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                 data={"office_id": office.id, "kind": "verification", "title": "Проверка"})
    unnamed = persons[5]
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=draft.id,
                        person_id=unnamed.id, reason="семья просит")
    registry.update_person(session=session, actor=researcher, audit_key=audit_key, person_id=unnamed.id,
                           version=session.get(Person, unnamed.id).version,
                           person={"given_name": unnamed.given_name, "date_of_birth": unnamed.date_of_birth})
    session.commit()
    _jobs(app, session, staff=staff, researcher=researcher)
    return {"password": DEMO_PASSWORD}


def _jobs(app: Any, session: Session, *, staff: Any, researcher: Any) -> None:
    """Jobs in every state, so their pages speak too: an inquiries import whose codes wait, one
    that failed, one running, and a captures import that found problems (and a dry run)."""
    import json

    from support import finished_job

    from pow_registry import clock
    from pow_registry.models import JobStatus

    finished_job(app=app, session=session, owner=staff)
    failed = finished_job(app=app, session=session, owner=staff)
    failed.status, failed.failure, failed.outcome, failed.sealed_codes = JobStatus.failed, "worker_stopped", None, None
    running = finished_job(app=app, session=session, owner=staff)
    running.status, running.outcome, running.sealed_codes, running.finished_at = JobStatus.running, None, None, None
    running.phase, running.rows_done, running.rows_total, running.heartbeat_at = "writing", 40, 100, clock.now()
    problems = finished_job(app=app, session=session, owner=researcher, kind="import_captures")
    problems.sealed_codes, problems.codes_count = None, 0
    problems.outcome = json.dumps({"dry_run": False, "rows_total": 2, "rows_created": 0, "rows_skipped": 0,
                                   "persons_created": 0, "evidence_created": 0, "inquiries_created": 0,
                                   "errors": [{"row": 2, "column": "capture_date", "params": {},
                                               "message": "Enter a date as YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY."}]})
    checked = finished_job(app=app, session=session, owner=researcher, kind="import_captures")
    checked.sealed_codes, checked.codes_count, checked.dry_run = None, 0, True
    outcome = json.loads(checked.outcome or "{}")
    checked.outcome = json.dumps({**outcome, "dry_run": True})
    for job in (failed, running, problems, checked):
        session.add(job)
    session.commit()


@pytest.mark.parametrize("language", ["ru", "uk"])
@pytest.mark.parametrize("email", ["staff@demo.invalid", "researcher@demo.invalid", "admin@demo.invalid"])
def test_every_page_speaks_the_users_language(app: Any, session: Session, demo: dict[str, Any], email: str,
                                              language: str) -> None:
    client = app.test_client()
    assert client.post("/language", data={"lang-language": language}).status_code == 302
    signed = client.post("/login", data={"email": email, "password": demo["password"]})
    assert signed.status_code == 302
    if signed.headers["Location"].endswith("/login/code"):  # the demo accounts have a second factor
        import pyotp

        from pow_registry.demo import DEMO_TOTP_SECRETS

        code = pyotp.TOTP(DEMO_TOTP_SECRETS[email]).now()
        assert client.post("/login/code", data={"code": code}).status_code == 302
    data = _data_strings(session)
    seen: set[str] = set()
    queue = ["/"]
    found: dict[str, set[str]] = defaultdict(set)
    contexts: dict[str, str] = {}
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        bare = re.sub(r"([?&])page=\d+", r"\1", path)
        if bare in seen:
            continue
        seen.add(bare)
        response = client.get(path)
        if response.status_code in (301, 302, 303):
            queue.append(response.headers["Location"])
            continue
        if response.status_code != 200 or not response.mimetype == "text/html":
            continue
        page = response.get_data(as_text=True)
        text = _visible_text(page)
        for finding in _findings(text, data):
            found[finding].add(urlsplit(path).path)
            at = text.find(finding)
            contexts.setdefault(finding, " ".join(text[max(0, at - 80):at + 60].split()))
        queue.extend(link for link in _links(page, "http://localhost" + path) if link not in seen)
    report = "\n".join(f"{word!r}: {sorted(paths)[:4]} … {contexts[word]!r}" for word, paths in sorted(found.items()))
    assert not found, f"{len(found)} English words or raw codes on {language} pages as {email}:\n{report}"
