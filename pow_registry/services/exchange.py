"""Exchange lists: ombudsman offices, building a list, freezing it, and its spreadsheet.

A list is a draft until it is frozen: staff add (the app proposes candidates with their
categories and the reasons for their priority), remove and reorder, each with a reason that the
audit log keeps. Freezing numbers the list, records who froze it and when, and takes a snapshot
of every row, so the spreadsheet never changes afterwards even when a person's record does: the
same list always gives the same bytes, and the file's SHA-256 recorded at its first export lets
anyone check a copy. After freezing the service refuses every change to the list.

The SHA-256 that counts is the one in the audit event of the first export (`list.export`), whose
keyed hash only the holder of the audit key can make: every later download is checked against
it, never against the copy of the hash kept in the list's own row, which anyone who can write to
the database could rewrite together with the file (`recorded_sha256`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain import exchange_xlsx, office_script
from pow_registry.domain.dates import InvalidDate, NoSuchDate, PartialDate, is_in_the_future
from pow_registry.domain.exchange import Priority, SoughtMan, days_in_captivity, priority
from pow_registry.domain.names import clean_name
from pow_registry.domain.tabular import TableError, normalize_header, read_table
from pow_registry.models import (
    AuditEvent,
    CaptureReport,
    Evidence,
    ExchangeList,
    ExchangeListEntry,
    Inquiry,
    InquiryStatus,
    ListKind,
    ListState,
    MatchCandidate,
    MatchStatus,
    OmbudsmanOffice,
    Outcome,
    Person,
    PersonStatus,
    ReportClaim,
    Role,
    User,
    Verification,
    utcnow,
)
from pow_registry.services import audit, registry
from pow_registry.services.errors import N_, Conflict, FieldErrors, Forbidden, Msg, NotFound
from pow_registry.services.imports import ImportReport, RowError
from pow_registry.services.parsing import text as _text
from pow_registry.services.transactions import check_version as _check_version
from pow_registry.services.transactions import unit_of_work as _unit_of_work

OFFICE_FIELDS = ["name", "country", "language", "contact", "columns"]
LIST_FIELDS = ["office_id", "kind", "title", "notes"]
LANGUAGES = ("ru", "uk", "en")
REASON_MAX = 1000
MAX_PAGE_SIZE = 200


class ListFrozen(Conflict):
    message = N_("This list is frozen: it cannot be changed any more.")


class TamperedExport(Conflict):
    """The kept spreadsheet, or the audit record of its first export, is not what was recorded."""

    message = N_("The stored spreadsheet no longer matches the one recorded at the first export.")


EXPORT_ACTION = "list.export"  # the audit event that records a list's file: its SHA-256 and size


# An office looks a man up by his name: a call sign, a given name and a unit, or a photo are
# enough for the registry (partial identities) but not for a list an office must act on. Such a
# man is not proposed, cannot be added, and a list that holds one (his surname was taken out of
# his record after he was added) is not frozen until he is named or taken off.
NO_SURNAME = N_("His surname is not known yet: an office cannot look for a man without one. Complete his "
                "record first.")


def has_surname(person: Person) -> bool:
    return bool(person.surname.strip())


def _require(actor: User, role: Role) -> None:
    if not actor.has_role(role):
        raise Forbidden()


def _reason(text: str, errors: dict[str, str], *, required: bool = True) -> str:
    reason = clean_name(text)
    if required and not reason:
        errors["reason"] = N_("Say why.")
    elif len(reason) > REASON_MAX:
        errors["reason"] = Msg(N_("Too long (at most %(n)d characters)."), n=REASON_MAX)
    return reason


# --- offices ---------------------------------------------------------------------------------


def parse_office(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = clean_name(_text(data, "name"))
    if not name:
        errors["name"] = N_("Required.")
    elif len(name) > 200:
        errors["name"] = Msg(N_("Too long (at most %(n)d characters)."), n=200)
    country = _text(data, "country").strip().upper()
    if country and (len(country) != 2 or not country.isascii() or not country.isalpha()):
        errors["country"] = N_("A two-letter country code, such as UA.")
    language = _text(data, "language").strip() or "ru"
    if language not in LANGUAGES:
        errors["language"] = N_("Choose one of the listed values.")
    contact = _text(data, "contact").strip()
    if len(contact) > 2000:
        errors["contact"] = Msg(N_("Too long (at most %(n)d characters)."), n=2000)
    raw_columns = data.get("columns") or []
    if isinstance(raw_columns, str):
        raw_columns = [c.strip() for c in raw_columns.replace("\n", ",").split(",")]
    columns = [c for c in raw_columns if c]
    if any(c not in exchange_xlsx.COLUMNS for c in columns) or len(set(columns)) != len(columns):
        errors["columns"] = N_("Choose one of the listed values.")
    if errors:
        raise FieldErrors(errors)
    return {"name": name, "country": country, "language": language, "contact": contact,
            "columns": ",".join(columns)}


def office_columns(office: OmbudsmanOffice) -> tuple[str, ...]:
    """The columns an office wants, in its order (all of them when it said nothing)."""
    chosen = tuple(c for c in office.columns.split(",") if c in exchange_xlsx.COLUMNS)
    return chosen or exchange_xlsx.DEFAULT_COLUMNS


def _checked_office(session: Session, data: Mapping[str, Any], office_id: int | None) -> dict[str, Any]:
    """parse_office, plus: no two offices of the same name (every problem reported at once)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values = parse_office(data)
    except FieldErrors as exc:
        errors = dict(exc.errors)
    name = clean_name(_text(data, "name"))
    # Compared in Python: SQLite's lower() folds ASCII only (Омбудсмен = омбудсмен there). The
    # offices are a handful.
    taken = {other.casefold() for other_id, other in session.exec(select(OmbudsmanOffice.id, OmbudsmanOffice.name))
             if other_id != office_id}
    if name and "name" not in errors and name.casefold() in taken:
        errors["name"] = N_("An office with this name exists already.")
    if errors:
        raise FieldErrors(errors)
    return values


@_unit_of_work
def create_office(*, session: Session, actor: User, audit_key: bytes, data: Mapping[str, Any]) -> OmbudsmanOffice:
    _require(actor, Role.admin)
    values = _checked_office(session, data, None)
    office = OmbudsmanOffice(**values)
    session.add(office)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="office.create", entity_type="office",
                 entity_id=office.id, changes=audit.diff({}, audit.snapshot(office, OFFICE_FIELDS)))
    session.commit()
    return office


@_unit_of_work
def update_office(*, session: Session, actor: User, audit_key: bytes, office_id: int, version: int | str | None,
                  data: Mapping[str, Any], active: bool = True) -> OmbudsmanOffice:
    _require(actor, Role.admin)
    office = get_office(session, office_id)
    _check_version(office, version)
    values = _checked_office(session, data, office_id)
    before = audit.snapshot(office, [*OFFICE_FIELDS, "is_active"])
    for name, value in values.items():
        setattr(office, name, value)
    office.is_active = active
    changes = audit.diff(before, audit.snapshot(office, [*OFFICE_FIELDS, "is_active"]))
    if changes:
        office.updated_at = utcnow()
        session.add(office)
        audit.record(session, key=audit_key, actor=actor, action="office.update", entity_type="office",
                     entity_id=office.id, changes=changes)
        session.commit()
    return office


def get_office(session: Session, office_id: int) -> OmbudsmanOffice:
    office = session.get(OmbudsmanOffice, office_id)
    if office is None:
        raise NotFound()
    return office


def offices(session: Session, *, active_only: bool = False) -> list[OmbudsmanOffice]:
    query = select(OmbudsmanOffice).order_by(col(OmbudsmanOffice.name))
    if active_only:
        query = query.where(col(OmbudsmanOffice.is_active).is_(True))
    return list(session.exec(query))


# --- who may go on a list --------------------------------------------------------------------


@dataclass
class Candidate:
    """A person the app proposes (or who is on the list), with his categories and why."""

    person: Person
    priority: Priority
    capture_date: str | None
    capture_place: str
    # Open inquiries about him, for staff only: never in a list's snapshot or file.
    inquiry_references: list[str] = field(default_factory=list)
    # How many of them the family allowed to share with the ombudsman ("a family is asking").
    shared_inquiries: int = 0


def _earliest_capture(reports: list[CaptureReport]) -> CaptureReport | None:
    captured = [r for r in reports if r.claim == ReportClaim.captured]
    captured.sort(key=lambda r: (r.capture_date is None, r.capture_date or "", r.id or 0))
    return captured[0] if captured else None


def _candidates(session: Session, persons: list[Person], today: date) -> list[Candidate]:
    ids = [p.id for p in persons if p.id is not None]
    reports: dict[int, list[CaptureReport]] = {}
    refs: dict[int, list[str]] = {}
    shared: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for report in session.exec(select(CaptureReport).where(col(CaptureReport.person_id).in_(chunk))):
            reports.setdefault(report.person_id, []).append(report)
        inquiries = session.exec(select(Inquiry).where(col(Inquiry.person_id).in_(chunk),
                                                       Inquiry.status != InquiryStatus.closed))
        for inquiry in inquiries:
            refs.setdefault(inquiry.person_id or 0, []).append(inquiry.reference)
            shared[inquiry.person_id or 0] = shared.get(inquiry.person_id or 0, 0) + inquiry.consent_share
    found = []
    for person in persons:
        assert person.id is not None
        first = _earliest_capture(reports.get(person.id, []))
        man = SoughtMan(
            health=person.health.value, service_category=person.service_category.value if person.service_category else None,
            date_of_birth=person.date_of_birth, capture_date=first.capture_date if first else None,
            # Consent governs disclosure: a family that did not agree to share is not even a
            # category in what goes to an office (security.md, "Family data").
            has_inquiry=shared.get(person.id, 0) > 0,
        )
        found.append(Candidate(person, priority(man, today), man.capture_date, first.capture_place if first else "",
                               sorted(refs.get(person.id, [])), shared.get(person.id, 0)))
    return found


def _rank(candidate: Candidate) -> tuple[int, str, int]:
    return (-candidate.priority.points, candidate.capture_date or "9999", candidate.person.id or 0)


def _busy_person_ids(session: Session, *, but_list: int | None = None) -> set[int]:
    """Persons on an open list (draft or frozen) still waiting for a final answer."""
    query = (
        select(ExchangeListEntry.person_id)
        .join(ExchangeList, col(ExchangeList.id) == col(ExchangeListEntry.list_id))
        .where(col(ExchangeList.state).in_([ListState.draft, ListState.frozen]),
               col(ExchangeListEntry.removed_at).is_(None),
               or_(col(ExchangeListEntry.outcome).is_(None), col(ExchangeListEntry.outcome) == Outcome.acknowledged))
    )
    if but_list is not None:
        query = query.where(ExchangeListEntry.list_id != but_list)
    return set(session.exec(query))


def _eligible_statuses(kind: ListKind) -> list[PersonStatus]:
    # An exchange proposal names only confirmed prisoners; a verification request may ask about
    # anyone reported captured whose fate is not settled.
    if kind == ListKind.exchange:
        return [PersonStatus.confirmed_captured]
    return [PersonStatus.reported, PersonStatus.probable, PersonStatus.confirmed_captured, PersonStatus.disputed]


def _open_for(session: Session, exchange_list: ExchangeList) -> list[Person]:
    """Men the list could take: eligible, not on it, not on another open list."""
    busy = _busy_person_ids(session)
    on_this = {e.person_id for e in _entries(session, exchange_list.id or 0) if e.removed_at is None}
    return [
        p for p in session.exec(select(Person).where(col(Person.merged_into_id).is_(None),
                                                     col(Person.status).in_(_eligible_statuses(exchange_list.kind))))
        if p.id not in busy and p.id not in on_this
    ]


def proposals(session: Session, exchange_list: ExchangeList, *, today: date | None = None,
              limit: int = 500) -> list[Candidate]:
    """Whom the app proposes for this list, best first: eligible, not on it, not on another open
    list, and named (domain.md, "Exchange list"; see NO_SURNAME)."""
    today = today or clock.today()
    persons = [p for p in _open_for(session, exchange_list) if has_surname(p)]
    return sorted(_candidates(session, persons, today), key=_rank)[:limit]


def held_back(session: Session, exchange_list: ExchangeList, *, limit: int = 50) -> tuple[list[Person], int]:
    """Men the list could take but for their unknown surname (not proposed: NO_SURNAME), the
    first `limit` by number, and how many there are: staff see whose record to complete."""
    persons = sorted((p for p in _open_for(session, exchange_list) if not has_surname(p)), key=lambda p: p.id or 0)
    return persons[:limit], len(persons)


# --- lists -----------------------------------------------------------------------------------


def get_list(session: Session, list_id: int) -> ExchangeList:
    row = session.get(ExchangeList, list_id)
    if row is None:
        raise NotFound()
    return row


def _draft(session: Session, list_id: int, version: int | str | None = None) -> ExchangeList:
    row = session.exec(select(ExchangeList).where(ExchangeList.id == list_id)
                       .with_for_update().execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound()
    if row.state != ListState.draft:
        raise ListFrozen()
    if version is not None:
        _check_version(row, version)
    return row


def _entries(session: Session, list_id: int) -> list[ExchangeListEntry]:
    return list(session.exec(select(ExchangeListEntry).where(ExchangeListEntry.list_id == list_id)
                             .order_by(col(ExchangeListEntry.position), col(ExchangeListEntry.id))))


def _touch(session: Session, row: ExchangeList) -> None:
    """A change to a draft's rows moves the list's version on, so a freeze sent from a page that
    was loaded before the change is refused (the UPDATE bumps version_id_col)."""
    flag_modified(row, "notes")
    session.add(row)


@_unit_of_work
def create_list(*, session: Session, actor: User, audit_key: bytes, data: Mapping[str, Any]) -> ExchangeList:
    _require(actor, Role.staff)
    errors: dict[str, str] = {}
    raw_office = _text(data, "office_id").strip()
    office = (session.get(OmbudsmanOffice, int(raw_office))
              if raw_office.isascii() and raw_office.isdigit() and len(raw_office) <= 9 else None)
    if office is None or not office.is_active:
        errors["office_id"] = N_("Choose one of the listed values.")
    kind_text = _text(data, "kind").strip() or "exchange"
    if kind_text not in ListKind.__members__:
        errors["kind"] = N_("Choose one of the listed values.")
    title = clean_name(_text(data, "title"))
    if len(title) > 200:
        errors["title"] = Msg(N_("Too long (at most %(n)d characters)."), n=200)
    notes = _text(data, "notes").strip()
    if len(notes) > 10_000:
        errors["notes"] = Msg(N_("Too long (at most %(n)d characters)."), n=10_000)
    if errors:
        raise FieldErrors(errors)
    assert office is not None
    row = ExchangeList(office_id=office.id or 0, kind=ListKind(kind_text), title=title, notes=notes,
                       created_by_id=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="list.create", entity_type="exchange_list",
                 entity_id=row.id, changes={"office_id": [None, office.id], "kind": [None, kind_text],
                                            "title": [None, title]})
    session.commit()
    return row


def _eligible(session: Session, exchange_list: ExchangeList, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.merged_into_id is not None:
        raise FieldErrors({"person_id": N_("No such person.")})
    if person.status not in _eligible_statuses(exchange_list.kind):
        raise FieldErrors({"person_id": N_("Only a confirmed prisoner can be proposed for exchange.")
                           if exchange_list.kind == ListKind.exchange
                           else N_("This person's fate is settled: there is nothing to verify.")})
    if person_id in _busy_person_ids(session, but_list=exchange_list.id):
        raise FieldErrors({"person_id": N_("This person is already on another open list.")})
    if not has_surname(person):
        raise FieldErrors({"person_id": NO_SURNAME})
    return person


def _put_on_list(session: Session, *, actor: User, audit_key: bytes, exchange_list: ExchangeList,
                 candidate: Candidate, reason: str) -> ExchangeListEntry:
    assert exchange_list.id is not None and candidate.person.id is not None
    entries = _entries(session, exchange_list.id)
    entry = next((e for e in entries if e.person_id == candidate.person.id), None)
    if entry is not None and entry.removed_at is None:
        raise FieldErrors({"person_id": N_("This person is on the list already.")})
    position = 1 + max((e.position for e in entries if e.removed_at is None), default=0)
    if entry is None:
        entry = ExchangeListEntry(list_id=exchange_list.id, person_id=candidate.person.id)
    entry.position, entry.removed_at, entry.removed_reason, entry.removed_by_id = position, None, "", None
    entry.categories = ",".join(candidate.priority.categories)
    entry.priority = candidate.priority.points
    entry.priority_reasons = json.dumps(candidate.priority.reasons)
    entry.added_reason, entry.added_by_id, entry.added_at = reason, actor.id, utcnow()
    session.add(entry)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="list.add", entity_type="exchange_list",
                 entity_id=exchange_list.id, changes={"person_id": [None, candidate.person.id],
                                                      "position": [None, position], "reason": reason})
    return entry


@_unit_of_work
def add_person(*, session: Session, actor: User, audit_key: bytes, list_id: int, person_id: int,
               reason: str, today: date | None = None) -> ExchangeListEntry:
    _require(actor, Role.staff)
    row = _draft(session, list_id)
    errors: dict[str, str] = {}
    reason = _reason(reason, errors)
    if errors:
        raise FieldErrors(errors)
    person = _eligible(session, row, person_id)
    candidate = _candidates(session, [person], today or clock.today())[0]
    entry = _put_on_list(session, actor=actor, audit_key=audit_key, exchange_list=row, candidate=candidate,
                         reason=reason)
    _touch(session, row)
    session.commit()
    return entry


@_unit_of_work
def add_proposed(*, session: Session, actor: User, audit_key: bytes, list_id: int, person_ids: list[int] | None = None,
                 today: date | None = None) -> int:
    """Put the app's proposals on the list in their order (only `person_ids` of them if given);
    the reason recorded is the proposal's own."""
    _require(actor, Role.staff)
    row = _draft(session, list_id)
    wanted = None if person_ids is None else set(person_ids)
    added = 0
    for candidate in proposals(session, row, today=today):
        if wanted is not None and candidate.person.id not in wanted:
            continue
        reason = "proposed: " + (", ".join(candidate.priority.categories) or "confirmed captured")
        _put_on_list(session, actor=actor, audit_key=audit_key, exchange_list=row, candidate=candidate, reason=reason)
        added += 1
    if added:
        _touch(session, row)
    session.commit()
    return added


def _entry(session: Session, entry_id: int) -> ExchangeListEntry:
    entry = session.get(ExchangeListEntry, entry_id)
    if entry is None:
        raise NotFound()
    return entry


@_unit_of_work
def remove_entry(*, session: Session, actor: User, audit_key: bytes, entry_id: int, version: int | str | None,
                 reason: str) -> ExchangeListEntry:
    _require(actor, Role.staff)
    entry = _entry(session, entry_id)
    row = _draft(session, entry.list_id)
    _check_version(entry, version)
    errors: dict[str, str] = {}
    reason = _reason(reason, errors)
    if entry.removed_at is not None:
        errors["reason"] = N_("This person was removed already.")
    if errors:
        raise FieldErrors(errors)
    entry.removed_at, entry.removed_reason, entry.removed_by_id = utcnow(), reason, actor.id
    session.add(entry)
    _renumber(session, row)
    audit.record(session, key=audit_key, actor=actor, action="list.remove", entity_type="exchange_list",
                 entity_id=row.id, changes={"person_id": [entry.person_id, None], "reason": reason})
    _touch(session, row)
    session.commit()
    return entry


def _renumber(session: Session, row: ExchangeList, moved: ExchangeListEntry | None = None, to: int = 0) -> None:
    active = [e for e in _entries(session, row.id or 0) if e.removed_at is None and e is not moved]
    if moved is not None:
        active.insert(max(0, min(to - 1, len(active))), moved)
    for position, entry in enumerate(active, start=1):
        if entry.position != position:
            entry.position = position
            session.add(entry)


@_unit_of_work
def move_entry(*, session: Session, actor: User, audit_key: bytes, entry_id: int, version: int | str | None,
               position: int | str | None, reason: str) -> ExchangeListEntry:
    _require(actor, Role.staff)
    entry = _entry(session, entry_id)
    row = _draft(session, entry.list_id)
    _check_version(entry, version)
    errors: dict[str, str] = {}
    reason = _reason(reason, errors)
    try:
        to = int(position)  # type: ignore[arg-type]
        if to < 1:
            raise ValueError
    except (TypeError, ValueError):
        errors["position"] = N_("A row number, 1 or more.")
        to = 0
    if entry.removed_at is not None:
        errors["position"] = N_("This person was removed from the list.")
    if errors:
        raise FieldErrors(errors)
    before = entry.position
    _renumber(session, row, moved=entry, to=to)
    audit.record(session, key=audit_key, actor=actor, action="list.move", entity_type="exchange_list",
                 entity_id=row.id, changes={"person_id": entry.person_id, "position": [before, entry.position],
                                            "reason": reason})
    _touch(session, row)
    session.commit()
    return entry


def _verified_evidence(session: Session, person_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Each person's verified evidence (id, link), in a few queries for the whole list."""
    found: dict[int, list[tuple[int, str]]] = {}
    for i in range(0, len(person_ids), 500):
        query = (select(CaptureReport.person_id, Evidence.id, Evidence.url)
                 .join(CaptureReport, col(CaptureReport.id) == col(Evidence.capture_report_id))
                 .where(col(CaptureReport.person_id).in_(person_ids[i : i + 500]),
                        Evidence.verification == Verification.verified)
                 .order_by(col(Evidence.id)))
        for person_id, evidence_id, url in session.exec(query):
            found.setdefault(person_id, []).append((int(evidence_id or 0), str(url)))
    return found


def _family_spellings(session: Session, person_ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """How families who agreed to share write each man's name: the first open inquiry linked to
    him (a confirmed match) whose family gave share consent. Without that consent nothing the
    family wrote goes to an office, not even their spelling."""
    found: dict[int, tuple[str, str, str]] = {}
    for i in range(0, len(person_ids), 500):
        query = (select(Inquiry).where(col(Inquiry.person_id).in_(person_ids[i : i + 500]),
                                       col(Inquiry.consent_share).is_(True), Inquiry.status != InquiryStatus.closed)
                 .order_by(col(Inquiry.id)))
        for inquiry in session.exec(query):
            if inquiry.person_id is not None and inquiry.surname.strip():
                found.setdefault(inquiry.person_id, (inquiry.surname, inquiry.given_name, inquiry.patronymic))
    return found


def _snapshots(session: Session, entries: list[ExchangeListEntry], today: date, language: str) -> list[dict[str, Any]]:
    """The rows as they are sent, in order: frozen into the entries so the file never changes
    afterwards (read for the whole list at once, not person by person). The names in the office's
    script are chosen here too (office_script.py), so a family's later edit changes no sent file."""
    ids = [e.person_id for e in entries]
    persons = {p.id: p for i in range(0, len(ids), 500)
               for p in session.exec(select(Person).where(col(Person.id).in_(ids[i : i + 500])))}
    candidates = {c.person.id: c for c in _candidates(session, [persons[i] for i in ids], today)}
    evidence = _verified_evidence(session, ids)
    families = _family_spellings(session, ids)
    rows = []
    for number, entry in enumerate(entries, start=1):
        person, candidate = persons[entry.person_id], candidates[entry.person_id]
        spelling = office_script.office_names((person.surname, person.given_name, person.patronymic), language,
                                              family=families.get(entry.person_id))
        rows.append({
            "number": number, "person_ref": f"P-{person.id:06d}",
            "surname": person.surname, "given_name": person.given_name, "patronymic": person.patronymic,
            "office_names": [spelling.surname, spelling.given_name, spelling.patronymic],
            "name_source": spelling.source,
            "date_of_birth": person.date_of_birth, "rank": person.rank, "unit": person.unit,
            "personal_number": person.personal_number, "capture_date": candidate.capture_date,
            "capture_place": candidate.capture_place, "categories": list(candidate.priority.categories),
            "evidence": [list(item) for item in evidence.get(entry.person_id, [])],
            "notes": "",
        })
    return rows


@_unit_of_work
def freeze_list(*, session: Session, actor: User, audit_key: bytes, list_id: int, version: int | str | None,
                today: date | None = None) -> ExchangeList:
    """Number the list, take the snapshot of every row, and make it immutable."""
    _require(actor, Role.staff)
    row = _draft(session, list_id, version)
    active = [e for e in _entries(session, list_id) if e.removed_at is None]
    if not active:
        raise FieldErrors({"list": N_("An empty list cannot be frozen.")})
    unnamed = unnamed_on_list(session, active)
    if unnamed:
        raise FieldErrors({"list": Msg(N_("An office cannot look for a man without a surname. Rows without one "
                                          "(row, registry reference): %(rows)s. Add the surname to his record or "
                                          "take him off the list, then freeze."),
                                       rows=", ".join(f"{e.position} (P-{e.person_id:06d})" for e in unnamed))})
    duplicates = duplicates_on_list(session, list_id)
    if duplicates:
        raise FieldErrors({"list": Msg(N_("Men on this list may be the same man (pairs to settle: %(n)d): merge "
                                          "or reject each pair, or take one of the two off the list, before "
                                          "freezing."), n=len(duplicates))})
    for number, (entry, sent) in enumerate(zip(active, _snapshots(session, active, today or clock.today(),
                                                                          get_office(session, row.office_id).language),
                                               strict=True), start=1):
        entry.position = number
        entry.snapshot = json.dumps(sent, ensure_ascii=False, sort_keys=True)
        entry.categories = ",".join(sent["categories"])
        session.add(entry)
    highest = session.exec(select(func.max(ExchangeList.number))).one()
    row.number = (highest or 0) + 1
    row.state, row.frozen_by_id, row.frozen_at = ListState.frozen, actor.id, utcnow()
    session.add(row)
    if row.kind == ListKind.exchange:
        for entry in active:
            _move_inquiries(session, actor=actor, audit_key=audit_key, person_id=entry.person_id,
                            to=InquiryStatus.on_exchange_list, before={InquiryStatus.received, InquiryStatus.searching,
                                                                       InquiryStatus.match_found},
                            why=f"list {row.number}")
    audit.record(session, key=audit_key, actor=actor, action="list.freeze", entity_type="exchange_list",
                 entity_id=row.id, changes={"number": [None, row.number], "rows": len(active),
                                            "state": ["draft", "frozen"]})
    session.commit()
    return row


def unnamed_on_list(session: Session, entries: list[ExchangeListEntry]) -> list[ExchangeListEntry]:
    """The entries whose man has no surname in the registry now, in list order (NO_SURNAME)."""
    ids = [e.person_id for e in entries]
    named = {person_id for start in range(0, len(ids), 500)
             for person_id, surname in session.exec(select(Person.id, Person.surname)
                                                    .where(col(Person.id).in_(ids[start : start + 500])))
             if surname.strip()}
    return [e for e in entries if e.person_id not in named]


def _move_inquiries(session: Session, *, actor: User, audit_key: bytes, person_id: int, to: InquiryStatus,
                    before: set[InquiryStatus], why: str) -> None:
    """Every inquiry linked to the man follows what happened to him (each family still sees
    only what staff clear for it)."""
    for inquiry in session.exec(select(Inquiry).where(Inquiry.person_id == person_id)):
        if inquiry.status in before:
            old = inquiry.status
            inquiry.status, inquiry.updated_at = to, utcnow()
            session.add(inquiry)
            audit.record(session, key=audit_key, actor=actor, action="inquiry.status", entity_type="inquiry",
                         entity_id=inquiry.id, changes={"status": [old.value, to.value], "reason": why})


# --- what came back --------------------------------------------------------------------------

OUTCOME_NOTE_MAX = 2000
# Answers after which the man may go on a later list again (acknowledged still waits).
FINAL_OUTCOMES = {Outcome.not_found, Outcome.refused, Outcome.exchanged}


def _outcome_values(row: ExchangeList, outcome: str, outcome_date: str, note: str,
                    today: date) -> tuple[Outcome, str | None, str]:
    """The answer, its day and note, checked (FieldErrors names each bad field). The day falls
    between the freeze and today: an exchange not yet happened is not an answer."""
    errors: dict[str, str] = {}
    answer = OUTCOME_WORDS.get(normalize_header(outcome or ""))
    if answer is None:
        errors["outcome"] = N_("Choose one of the listed values.")
    day: str | None = None
    if (outcome_date or "").strip():
        try:
            parsed = PartialDate.parse(outcome_date)
        except NoSuchDate:
            errors["outcome_date"] = N_("This date does not exist.")
        except InvalidDate:
            errors["outcome_date"] = N_("Enter a date as YYYY-MM-DD or DD.MM.YYYY.")
        else:
            if parsed.day is None:
                errors["outcome_date"] = N_("Enter a date as YYYY-MM-DD or DD.MM.YYYY.")
            elif row.frozen_at is not None and str(parsed) < row.frozen_at.date().isoformat():
                errors["outcome_date"] = N_("The answer cannot come before the list was frozen.")
            elif is_in_the_future(parsed, today):
                errors["outcome_date"] = N_("This date is in the future.")
            day = str(parsed)
    if answer == Outcome.exchanged and day is None and "outcome_date" not in errors:
        errors["outcome_date"] = N_("Give the date of the exchange.")
    note = (note or "").strip()
    if len(note) > OUTCOME_NOTE_MAX:
        errors["note"] = Msg(N_("Too long (at most %(n)d characters)."), n=OUTCOME_NOTE_MAX)
    if errors:
        raise FieldErrors(errors)
    assert answer is not None
    return answer, day, note


def _apply_outcome(session: Session, *, actor: User, audit_key: bytes, row: ExchangeList, entry: ExchangeListEntry,
                   answer: Outcome, day: str | None, note: str) -> None:
    before = audit.snapshot(entry, ["outcome", "outcome_date", "outcome_note"])
    entry.outcome, entry.outcome_date, entry.outcome_note = answer, day, note
    entry.outcome_by_id, entry.outcome_at = actor.id, utcnow()
    session.add(entry)
    audit.record(session, key=audit_key, actor=actor, action="list.outcome", entity_type="exchange_list",
                 entity_id=row.id, changes={"person_id": entry.person_id,
                                            **audit.diff(before, audit.snapshot(entry, ["outcome", "outcome_date",
                                                                                        "outcome_note"]))})
    if answer == Outcome.exchanged:
        person = session.get(Person, entry.person_id)
        assert person is not None
        registry.status_from_outcome(session, person=person, actor=actor, audit_key=audit_key,
                                     status=PersonStatus.exchanged, list_number=row.number or 0,
                                     # The basis names the list; the reason: the day, and the office's note.
                                     reason=f"{day}" + (f": {note}" if note else ""))
        _move_inquiries(session, actor=actor, audit_key=audit_key, person_id=entry.person_id,
                        to=InquiryStatus.returned, before={InquiryStatus.received, InquiryStatus.searching,
                                                           InquiryStatus.match_found, InquiryStatus.on_exchange_list},
                        why=Msg(N_("exchanged on %(date)s (list %(n)s)"), date=str(day), n=row.number))


def _close_when_answered(session: Session, *, actor: User, audit_key: bytes, row: ExchangeList) -> None:
    active = [e for e in _entries(session, row.id or 0) if e.removed_at is None]
    if row.state == ListState.frozen and all(e.outcome in FINAL_OUTCOMES for e in active):
        row.state, row.closed_at = ListState.closed, utcnow()
        session.add(row)
        audit.record(session, key=audit_key, actor=actor, action="list.close", entity_type="exchange_list",
                     entity_id=row.id, changes={"state": ["frozen", "closed"], "reason": N_("every answer is in")})


@_unit_of_work
def record_outcome(*, session: Session, actor: User, audit_key: bytes, entry_id: int, version: int | str | None,
                   outcome: str, outcome_date: str = "", note: str = "", today: date | None = None) -> ExchangeListEntry:
    """What the office answered for one man. `exchanged` (on a date) makes him exchanged in the
    registry and every linked inquiry `returned`; once every man on the list has a final answer
    the list is closed."""
    _require(actor, Role.staff)
    entry = _entry(session, entry_id)
    row = get_list(session, entry.list_id)
    if row.state == ListState.draft:
        raise FieldErrors({"outcome": N_("Answers are recorded on frozen lists only.")})
    _check_version(entry, version)
    if entry.removed_at is not None:
        raise FieldErrors({"outcome": N_("This person was removed from the list.")})
    answer, day, note = _outcome_values(row, outcome, outcome_date, note, today or clock.today())
    _apply_outcome(session, actor=actor, audit_key=audit_key, row=row, entry=entry, answer=answer, day=day, note=note)
    _close_when_answered(session, actor=actor, audit_key=audit_key, row=row)
    session.commit()
    return entry


# Headers of the office's answer columns, and the answers in words, in ru/uk/en.
ANSWER_COLUMNS: dict[str, tuple[str, ...]] = {
    "outcome": ("outcome", "answer", "result", "ответ", "результат", "відповідь"),
    "outcome_date": ("outcome date", "date of answer", "date of exchange", "дата ответа", "дата обмена",
                     "дата відповіді", "дата обміну"),
    "note": ("note", "comment", "примечание к ответу", "комментарий", "коментар", "примітка до відповіді"),
}
OUTCOME_WORDS: dict[str, Outcome] = {
    normalize_header(word): outcome for outcome, words in {
        Outcome.acknowledged: ("acknowledged", "received", "получено", "принято", "отримано", "прийнято"),
        Outcome.not_found: ("not_found", "not found", "не найден", "не найдено", "не знайдено", "не знайдений"),
        Outcome.exchanged: ("exchanged", "обменян", "обменен", "обмін", "обміняно", "обмінений"),
        Outcome.refused: ("refused", "отказ", "отказано", "відмова", "відмовлено"),
    }.items() for word in words
}


@_unit_of_work
def import_outcomes(*, session: Session, actor: User, audit_key: bytes, list_id: int, data: bytes, filename: str,
                    dry_run: bool = False, max_bytes: int = 20_000_000, today: date | None = None,
                    on_written: Callable[[ImportReport], None] | None = None) -> ImportReport:
    """The office's answers, from the spreadsheet it sent back (our list with an answer column
    added, or any table with a row number or registry reference and an answer). All or
    nothing: every bad row is reported and nothing is recorded with one. The file is read and
    every row checked before anything is written; `on_written` runs inside the write
    transaction just before its commit (a job records its outcome there: both or neither)."""
    _require(actor, Role.staff)
    today = today or clock.today()
    row = get_list(session, list_id)
    report = ImportReport(dry_run=dry_run)
    if row.state == ListState.draft:
        raise FieldErrors({"file": N_("Answers are recorded on frozen lists only.")})
    try:
        table = read_table(data, filename, max_bytes=max_bytes)
    except TableError as exc:
        report.errors.append(RowError(0, "", exc.template, exc.params))  # translated where it is shown
        return report
    wanted = {key: {normalize_header(h) for h in (key, *exchange_xlsx.COLUMNS[key].values())}
              for key in ("row_number", "person_ref")}
    wanted.update({key: {normalize_header(h) for h in (key, *aliases)} for key, aliases in ANSWER_COLUMNS.items()})
    columns: dict[str, int] = {}
    for index, header in enumerate(table.headers):
        for key, names in wanted.items():
            if normalize_header(header) in names and key not in columns:
                columns[key] = index  # other columns (the list's own) are left alone
    if "outcome" not in columns or not {"row_number", "person_ref"} & set(columns):
        report.errors.append(RowError(1, "outcome, row_number/person_ref", N_("Required columns are missing.")))
        return report
    entries = [e for e in _entries(session, list_id) if e.removed_at is None]
    by_number = {e.position: e for e in entries}
    by_ref = {f"P-{e.person_id:06d}": e for e in entries}
    report.rows_total = len(table.rows)
    planned: list[tuple[ExchangeListEntry, Outcome, str | None, str]] = []
    seen: set[int] = set()
    for row_number, cells in table.rows:
        def cell(key: str, cells: list[str] = cells) -> str:
            index = columns.get(key)
            return cells[index].strip() if index is not None else ""

        if not cell("outcome"):
            report.rows_skipped += 1  # no answer for him yet
            continue
        entry = by_ref.get(cell("person_ref").upper()) if cell("person_ref") else None
        if entry is None and cell("row_number").isdigit():
            entry = by_number.get(int(cell("row_number")))
        if entry is None:
            report.errors.append(RowError(row_number, "row_number/person_ref", N_("No such row on this list.")))
            continue
        if entry.id in seen:
            report.errors.append(RowError(row_number, "row_number/person_ref", N_("The same person is answered twice.")))
            continue
        seen.add(entry.id or 0)
        try:
            planned.append((entry, *_outcome_values(row, cell("outcome"), cell("outcome_date"), cell("note"), today)))
        except FieldErrors as exc:
            report.errors.extend(RowError(row_number, column, message) for column, message in exc.errors.items())
    if report.errors or dry_run:
        report.rows_created = 0 if report.errors else len(planned)
        return report
    for entry, answer, day, note in planned:
        _apply_outcome(session, actor=actor, audit_key=audit_key, row=row, entry=entry, answer=answer, day=day,
                       note=note)
        report.rows_created += 1
    _close_when_answered(session, actor=actor, audit_key=audit_key, row=row)
    if on_written is not None:
        on_written(report)
    session.commit()
    return report


# --- the spreadsheet -------------------------------------------------------------------------


def _row(data: dict[str, Any]) -> exchange_xlsx.ListRow:
    return exchange_xlsx.ListRow(
        number=data["number"], person_ref=data["person_ref"], surname=data["surname"],
        given_name=data["given_name"], patronymic=data["patronymic"], date_of_birth=data["date_of_birth"],
        rank=data["rank"], unit=data["unit"], personal_number=data["personal_number"],
        capture_date=data["capture_date"], capture_place=data["capture_place"],
        categories=tuple(data["categories"]), evidence=tuple((int(i), str(u)) for i, u in data["evidence"]),
        notes=data["notes"],  # a snapshot frozen before 2026-12 may hold inquiry references: never read
        # Snapshots frozen before the office's spelling was chosen at freezing have neither: the
        # names as entered are then converted when the file is written.
        office_names=tuple(data.get("office_names") or ()), name_source=data.get("name_source") or "",
    )


def list_export(session: Session, row: ExchangeList) -> exchange_xlsx.ListExport:
    """What the spreadsheet is made of: the list, its office and the frozen rows only."""
    if row.state == ListState.draft or row.number is None or row.frozen_at is None:
        raise FieldErrors({"list": N_("Only a frozen list can be exported.")})
    office = get_office(session, row.office_id)
    frozen_by = session.get(User, row.frozen_by_id) if row.frozen_by_id else None
    entries = [e for e in _entries(session, row.id or 0) if e.removed_at is None and e.snapshot]
    return exchange_xlsx.ListExport(
        number=row.number, kind=row.kind.value, office_name=office.name, office_country=office.country,
        language=office.language, columns=office_columns(office), created_at=row.created_at,
        frozen_at=row.frozen_at, frozen_by=(frozen_by.display_name or frozen_by.email) if frozen_by else "",
        rows=tuple(_row(json.loads(e.snapshot)) for e in entries),
    )


@dataclass
class ExportedFile:
    data: bytes
    sha256: str
    filename: str
    first: bool  # this call produced the file for the first time and recorded its hash


def recorded_sha256(session: Session, *, audit_key: bytes, list_id: int) -> str | None:
    """The SHA-256 of the list's file as the audit log recorded it at the first export, or None
    when the list was never exported.

    Read from the audit event itself, fresh from the database, and only after its keyed hash is
    recomputed with the audit key: a hash column, or an event's recorded changes, rewritten by
    someone without the key does not pass. Raises TamperedExport when the event does not verify.
    (The chain as a whole, events removed or reordered, is `audit verify`'s to check.)
    """
    events: Any = AuditEvent.__table__  # type: ignore[attr-defined]
    event = session.connection().execute(
        sa_select(events).where(events.c.action == EXPORT_ACTION, events.c.entity_type == "exchange_list",
                                events.c.entity_id == list_id).order_by(events.c.id).limit(1)
    ).first()
    if event is None:
        return None
    # The event's own keyed hash (walking the whole chain on every download would cost more than it adds).
    if not audit.event_is_intact(audit_key, event):
        raise TamperedExport()
    try:
        digest = json.loads(event.changes)["file_sha256"][1]
    except (ValueError, KeyError, IndexError, TypeError):
        raise TamperedExport() from None
    if not isinstance(digest, str) or len(digest) != 64:
        raise TamperedExport()
    return digest


def export_list(*, session: Session, actor: User | None, audit_key: bytes, list_id: int,
                on_written: Callable[[ExportedFile], None] | None = None) -> ExportedFile:
    """The list's .xlsx. The first export makes the file, keeps it, and records its SHA-256 and
    size in the audit log; every later one returns the kept bytes once their SHA-256 matches the
    one in that audit event (`recorded_sha256`). A kept file that does not match, a kept file
    without an export event, and an event that does not verify are refused (TamperedExport): the
    file the office gets is always the one the log vouches for. The first export builds the file
    before it writes anything; `on_written` runs in that write transaction just before its commit
    (a job records its outcome there)."""
    try:
        row = get_list(session, list_id)
        recorded = recorded_sha256(session, audit_key=audit_key, list_id=list_id)
        first = recorded is None
        if first:
            if row.file_data is not None:
                raise TamperedExport()  # a file that no export recorded: put there by hand
            data = exchange_xlsx.write_list_xlsx(list_export(session, row))
            digest = exchange_xlsx.list_sha256(data)
            row.file_data, row.file_sha256, row.file_size, row.exported_at = data, digest, len(data), utcnow()
            session.add(row)
            audit.record(session, key=audit_key, actor=actor, action=EXPORT_ACTION, entity_type="exchange_list",
                         entity_id=row.id, changes={"file_sha256": [None, digest], "file_size": [None, len(data)]})
            if on_written is not None:
                on_written(ExportedFile(data, digest, f"exchange-list-{row.number:04d}.xlsx", True))
            session.commit()
        else:
            kept = row.file_data
            session.rollback()  # end the read
            if kept is None or not hmac.compare_digest(hashlib.sha256(kept).hexdigest(), recorded or ""):
                raise TamperedExport()
            data, digest = kept, recorded or ""
    except StaleDataError:
        session.rollback()
        raise Conflict() from None
    except BaseException:
        session.rollback()
        raise
    return ExportedFile(data, digest, f"exchange-list-{row.number:04d}.xlsx", first)


def regenerate_matches_record(session: Session, list_id: int, *, audit_key: bytes) -> bool:
    """Whether making the file afresh from the frozen rows gives the bytes the audit log recorded
    at the first export (a check for an auditor: it can differ after an openpyxl upgrade without
    anything being wrong). False for a list never exported."""
    row = get_list(session, list_id)
    recorded = recorded_sha256(session, audit_key=audit_key, list_id=list_id)
    fresh = exchange_xlsx.write_list_xlsx(list_export(session, row))
    return recorded is not None and hmac.compare_digest(exchange_xlsx.list_sha256(fresh), recorded)


# --- reading ---------------------------------------------------------------------------------


@dataclass
class EntryView:
    entry: ExchangeListEntry
    person: Person | None
    days_in_captivity: int | None
    reasons: list[tuple[str, int]]


@dataclass(frozen=True)
class DuplicateOnList:
    """Two men on one list whom the matcher proposes as the same man, not yet merged or rejected."""

    match_id: int
    person_ids: tuple[int, int]
    score: float


def duplicates_on_list(session: Session, list_id: int) -> list[DuplicateOnList]:
    """Open person ↔ person pairs among the men on the list: an office throws back a list that
    names one man twice, so such a list is not frozen until each pair is settled."""
    ids = {e.person_id for e in _entries(session, list_id) if e.removed_at is None}
    found = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        for pair in session.exec(select(MatchCandidate).where(
                MatchCandidate.left_kind == "person", MatchCandidate.right_kind == "person",
                MatchCandidate.status == MatchStatus.candidate, col(MatchCandidate.left_id).in_(chunk))):
            if pair.right_id in ids:
                found.append(DuplicateOnList(pair.id or 0, (pair.left_id, pair.right_id), pair.score))
    return sorted(found, key=lambda d: (-d.score, d.match_id))


@dataclass
class ListDetail:
    exchange_list: ExchangeList
    office: OmbudsmanOffice
    entries: list[EntryView]  # on the list, in order
    removed: list[EntryView]
    counts: dict[str, int]  # per category
    duplicates: list[DuplicateOnList] = field(default_factory=list)  # pairs to settle before freezing
    # Entries the office would read under the same name (in its script), though the matcher pairs
    # no two of them: the same man entered twice in other spellings, or namesakes. A warning to
    # check, not a stop: namesakes exist.
    same_names: list[tuple[str, list[Person]]] = field(default_factory=list)
    # Entries whose man has no surname (a draft cannot be frozen with one: NO_SURNAME).
    unnamed: list[EntryView] = field(default_factory=list)


def list_detail(session: Session, list_id: int, *, today: date | None = None) -> ListDetail:
    today = today or clock.today()
    row = get_list(session, list_id)
    office = get_office(session, row.office_id)
    entries, removed = [], []
    counts: dict[str, int] = {}
    for entry in _entries(session, list_id):
        person = session.get(Person, entry.person_id)
        capture = json.loads(entry.snapshot)["capture_date"] if entry.snapshot else None
        if capture is None and person is not None:
            first = _earliest_capture(list(session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id))))
            capture = first.capture_date if first else None
        view = EntryView(entry, person, days_in_captivity(capture, today),
                         [(str(r), int(p)) for r, p in json.loads(entry.priority_reasons or "[]")])
        if entry.removed_at is None:
            entries.append(view)
            for category in filter(None, entry.categories.split(",")):
                counts[category] = counts.get(category, 0) + 1
        else:
            removed.append(view)
    draft = row.state == ListState.draft
    duplicates = duplicates_on_list(session, list_id) if draft else []
    same = same_names_on_list(entries, office.language, duplicates) if draft else []
    unnamed = [v for v in entries if v.person is not None and not has_surname(v.person)] if draft else []
    return ListDetail(row, office, entries, removed, counts, duplicates, same, unnamed)


def same_names_on_list(entries: list[EntryView], language: str,
                       pairs: list[DuplicateOnList]) -> list[tuple[str, list[Person]]]:
    """Groups of men on the list whose names the office would read the same (in its script, any
    case, ё as е), other than the pairs the matcher already proposes."""
    paired = {frozenset(pair.person_ids) for pair in pairs}
    groups: dict[str, tuple[str, list[Person]]] = {}
    for view in entries:
        if view.person is None or not has_surname(view.person):
            continue  # a man without a surname is named in a warning of his own (ListDetail.unnamed)
        names = office_script.office_names((view.person.surname, view.person.given_name, view.person.patronymic),
                                           language)
        printed = " ".join(part for part in (names.surname, names.given_name, names.patronymic) if part)
        groups.setdefault(printed.casefold().replace("ё", "е"), (printed, []))[1].append(view.person)
    return [(printed, persons) for printed, persons in groups.values()
            if len(persons) > 1 and not all(frozenset((a.id, b.id)) in paired
                                            for a in persons for b in persons if a is not b)]


def lists(session: Session, *, page: int = 1, page_size: int = 25) -> tuple[list[tuple[ExchangeList, OmbudsmanOffice, int]], int]:
    """Lists, newest first, with their office and the number of persons on each."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    total = session.exec(select(func.count()).select_from(ExchangeList)).one()
    counts = func.count(col(ExchangeListEntry.id)).filter(col(ExchangeListEntry.removed_at).is_(None))
    query = (select(ExchangeList, OmbudsmanOffice, counts)
             .join(OmbudsmanOffice, col(OmbudsmanOffice.id) == col(ExchangeList.office_id))
             .outerjoin(ExchangeListEntry, col(ExchangeListEntry.list_id) == col(ExchangeList.id))
             .group_by(col(ExchangeList.id), col(OmbudsmanOffice.id))
             .order_by(col(ExchangeList.id).desc())
             .offset((max(page, 1) - 1) * page_size).limit(page_size))
    return [(r, o, int(n)) for r, o, n in session.exec(query)], int(total)


def submission_history(session: Session, person_id: int) -> list[tuple[ExchangeList, ExchangeListEntry]]:
    """Which lists a person was on, when, and what came back."""
    query = (select(ExchangeList, ExchangeListEntry)
             .join(ExchangeListEntry, col(ExchangeListEntry.list_id) == col(ExchangeList.id))
             .where(ExchangeListEntry.person_id == person_id)
             .order_by(col(ExchangeList.id)))
    return [(r, e) for r, e in session.exec(query)]
