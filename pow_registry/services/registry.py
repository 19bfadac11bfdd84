"""The capture registry: persons, capture reports, evidence, status, conflicts, merges, search.

Every function validates all input first (FieldErrors names each bad field and nothing is
written), checks the form's version against the row (Conflict, never a silent overwrite), writes
one audit event per change and commits once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, false, func, or_
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain.dates import (
    InvalidDate,
    NoSuchDate,
    PartialDate,
)
from pow_registry.domain.names import clean_name, mixed_script_words, name_skeleton
from pow_registry.domain.units import unit_number
from pow_registry.domain.urls import InvalidURL, url_hostname, validate_evidence_url
from pow_registry.models import (
    CONFIRMING_KINDS,
    MANUAL_STATUSES,
    AuditEvent,
    CaptureReport,
    Evidence,
    EvidenceKind,
    Health,
    Person,
    PersonMerge,
    PersonStatus,
    ReportClaim,
    Role,
    ServiceCategory,
    StatusChange,
    User,
    Verification,
    utcnow,
)
from pow_registry.services import audit, matching
from pow_registry.services.archive import EvidenceStore
from pow_registry.services.errors import N_, FieldErrors, Forbidden, Msg, NotFound
from pow_registry.services.parsing import choice as _enum
from pow_registry.services.parsing import escape_like as _escape_like
from pow_registry.services.parsing import multiline as _multiline
from pow_registry.services.parsing import partial_date as _partial_date
from pow_registry.services.parsing import plain as _plain
from pow_registry.services.parsing import text as _text
from pow_registry.services.transactions import check_version as _check_version
from pow_registry.services.transactions import drafts_of, insert_many
from pow_registry.services.transactions import unit_of_work as _unit_of_work

# ---------------------------------------------------------------------------------------------
# Input parsing: strings in (from a form, an import row or the API), typed values out.

PERSON_TEXT_FIELDS = {
    "place_of_birth": 300, "rank": 100, "unit": 300, "personal_number": 50,
    "home_region": 200, "person_to_inform": 500,
}
PERSON_NAME_FIELDS = {"surname": 200, "given_name": 200, "patronymic": 200,
                      "father_name": 200, "mother_maiden_name": 200}
CALL_SIGN_MAX = 100
APPEARANCE_MAX = 2000
PERSON_FIELDS = [*PERSON_NAME_FIELDS, "call_sign", "date_of_birth", *PERSON_TEXT_FIELDS,
                 "service_category", "health", "appearance", "notes"]
# What may identify a man on its own (domain.md: "the registry takes him with whatever identifies
# him"): one of these is required, the surname is not. The appearance counts: a man known only
# from a photo or a video ("unidentified, photo only") is recorded with what the picture shows,
# and the evidence goes on his capture report. The notes do not: they are about the record.
IDENTIFYING_FIELDS = ("surname", "given_name", "patronymic", "call_sign", "date_of_birth", "unit",
                      "personal_number", "appearance")
NOTHING_IDENTIFIES = N_("Nothing identifies him yet: give a surname, a given name, a patronymic, a call sign, "
                        "a date of birth, a unit or a military personal number, or describe how he looks in "
                        "the photo or video.")
# Quotes people type around a call sign («Сокол», "Sokol"): the app adds its own when it shows one.
_QUOTES = "«»\"“”„‟‘’‚‛'`"
REPORT_FIELDS = ["claim", "capture_date", "capture_place", "reported_unit", "circumstances", "source_ref"]
EVIDENCE_FIELDS = ["url", "kind", "publisher", "published_at", "source_reliability",
                   "info_credibility", "notes"]
NOTES_MAX = 10_000
MAX_PAGE_SIZE = 200


def parse_person(data: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    today = today or clock.today()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, limit in PERSON_NAME_FIELDS.items():
        values[name] = _plain(_text(data, name), limit, name, errors)
    values["call_sign"] = _plain(clean_name(_text(data, "call_sign")).strip(_QUOTES), CALL_SIGN_MAX, "call_sign", errors)
    for name, limit in PERSON_TEXT_FIELDS.items():
        values[name] = _plain(_text(data, name), limit, name, errors)
    values["date_of_birth"] = _partial_date(_text(data, "date_of_birth"), "date_of_birth", errors, today)
    values["service_category"] = _enum(ServiceCategory, _text(data, "service_category"), "service_category", errors)
    values["health"] = _enum(Health, _text(data, "health"), "health", errors, default=Health.unknown)
    values["appearance"] = _multiline(_text(data, "appearance"))
    if len(values["appearance"]) > APPEARANCE_MAX:
        errors["appearance"] = Msg(N_("Too long (at most %(n)d characters)."), n=APPEARANCE_MAX)
    values["notes"] = _text(data, "notes").strip()
    if len(values["notes"]) > NOTES_MAX:
        errors["notes"] = Msg(N_("Too long (at most %(n)d characters)."), n=NOTES_MAX)
    # A date of birth that was typed but is not a date has its own error: it is not "nothing".
    typed = {name: bool(values[name]) for name in IDENTIFYING_FIELDS}
    typed["date_of_birth"] = bool(_text(data, "date_of_birth").strip())
    if not any(typed.values()):
        errors["surname"] = NOTHING_IDENTIFIES
    if errors:
        raise FieldErrors(errors)
    return values


def parse_report(data: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    today = today or clock.today()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "claim": _enum(ReportClaim, _text(data, "claim"), "claim", errors, default=ReportClaim.captured),
        "capture_date": _partial_date(_text(data, "capture_date"), "capture_date", errors, today),
        "capture_place": _plain(_text(data, "capture_place"), 300, "capture_place", errors),
        "reported_unit": _plain(_text(data, "reported_unit"), 300, "reported_unit", errors),
        "circumstances": _text(data, "circumstances").strip(),
        "source_ref": _plain(_text(data, "source_ref"), 200, "source_ref", errors) or None,
    }
    if len(values["circumstances"]) > NOTES_MAX:
        errors["circumstances"] = Msg(N_("Too long (at most %(n)d characters)."), n=NOTES_MAX)
    if errors:
        raise FieldErrors(errors)
    return values


def parse_evidence(data: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    today = today or clock.today()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    try:
        values["url"] = validate_evidence_url(_text(data, "url"))
    except InvalidURL:
        errors["url"] = N_("Enter a full http:// or https:// link to a real site.")
    values["kind"] = _enum(EvidenceKind, _text(data, "kind"), "kind", errors, default=EvidenceKind.other)
    values["publisher"] = _plain(_text(data, "publisher"), 300, "publisher", errors)
    values["published_at"] = _partial_date(_text(data, "published_at"), "published_at", errors, today)
    reliability = _text(data, "source_reliability").strip().upper() or "F"
    if reliability not in {"A", "B", "C", "D", "E", "F"}:
        errors["source_reliability"] = N_("Source reliability is a letter from A to F.")
    values["source_reliability"] = reliability
    credibility = _text(data, "info_credibility").strip() or "6"
    if credibility not in {"1", "2", "3", "4", "5", "6"}:
        errors["info_credibility"] = N_("Information credibility is a number from 1 to 6.")
        values["info_credibility"] = 6
    else:
        values["info_credibility"] = int(credibility)
    values["notes"] = _text(data, "notes").strip()
    if len(values["notes"]) > NOTES_MAX:
        errors["notes"] = Msg(N_("Too long (at most %(n)d characters)."), n=NOTES_MAX)
    if errors:
        raise FieldErrors(errors)
    return values


def _apply_person(person: Person, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(person, key, value)
    person.surname_key = name_skeleton(person.surname)
    person.given_name_key = name_skeleton(person.given_name)
    person.patronymic_key = name_skeleton(person.patronymic)
    person.call_sign_key = name_skeleton(person.call_sign)
    person.place_of_birth_key = name_skeleton(person.place_of_birth)
    person.name_needs_review = bool(
        mixed_script_words(" ".join([person.surname, person.given_name, person.patronymic, person.call_sign]))
    )
    person.birth_year = int(person.date_of_birth[:4]) if person.date_of_birth else None
    person.unit_number = unit_number(person.unit)


def _apply_report(report: CaptureReport, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(report, key, value)
    report.capture_place_key = name_skeleton(report.capture_place)


# ---------------------------------------------------------------------------------------------
# Loading with checks


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound()
    return person


def _require_researcher(actor: User) -> None:
    if not actor.has_role(Role.researcher):
        raise Forbidden()


def _fresh(session: Session, model: Any, row_id: int) -> Any:
    """The row as stored now: a session that keeps objects across commits must not check a
    version (or derive a status) against its own old copy."""
    row = session.get(model, row_id, populate_existing=True)
    if row is None:
        raise NotFound()
    return row


def _lock_person(session: Session, person_id: int) -> Person:
    """The person row, fresh and locked until commit (PostgreSQL; SQLite writers are serialised
    by BEGIN IMMEDIATE). Every change that re-derives a person's status takes this lock before
    anything else (in particular before the audit head), so writers queue instead of deriving
    from each other's half-seen changes, and lock order is always person → audit head."""
    person = session.exec(
        select(Person).where(Person.id == person_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if person is None:
        raise NotFound()
    return person


def _live_person(session: Session, person_id: int) -> Person:
    person = _lock_person(session, person_id)
    if person.merged_into_id is not None:
        raise FieldErrors({"person": N_("This record was merged into another one; edit that one instead.")})
    return person


def _source_ref_taken(session: Session, source_ref: str | None) -> bool:
    return bool(source_ref) and session.exec(
        select(CaptureReport.id).where(CaptureReport.source_ref == source_ref)
    ).first() is not None


# ---------------------------------------------------------------------------------------------
# Persons and capture reports


@_unit_of_work
def create_person(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    person: Mapping[str, Any],
    report: Mapping[str, Any] | None = None,
    commit: bool = True,
) -> Person:
    """A new person, usually with the first capture report that made us aware of him."""
    row, _report = create_person_with_report(session=session, actor=actor, audit_key=audit_key,
                                             person=person, report=report, commit=commit)
    return row


@_unit_of_work
def create_person_with_report(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    person: Mapping[str, Any],
    report: Mapping[str, Any] | None = None,
    commit: bool = True,
    source_ref_checked: bool = False,
) -> tuple[Person, CaptureReport | None]:
    """As create_person, also handing back the report (an import adds evidence to it at once).

    `source_ref_checked`: the caller already looked for the source_ref (an import does it for
    the whole file at once); the unique index still refuses a duplicate that appears meanwhile.
    """
    _require_researcher(actor)
    errors: dict[str, str] = {}
    try:
        person_values = parse_person(person)
    except FieldErrors as exc:
        errors.update(exc.errors)
    report_values = None
    if report is not None:
        try:
            report_values = parse_report(report)
        except FieldErrors as exc:
            errors.update({f"report_{k}": v for k, v in exc.errors.items()})
        else:
            if not source_ref_checked and _source_ref_taken(session, report_values.get("source_ref")):
                errors["report_source_ref"] = N_("A capture report with this source reference already exists.")
    if errors:
        raise FieldErrors(errors)
    row = _new_person(actor, person_values)
    session.add(row)
    session.flush()
    session.add(_first_status(row, actor))
    audit.record(session, key=audit_key, actor=actor, action="person.create", entity_type="person",
                 entity_id=row.id, changes=_person_created(row))
    report_row = None
    if report_values is not None:
        report_row = _insert_report(session, actor=actor, audit_key=audit_key, person=row, values=report_values,
                                    source_ref_checked=True)
    # Created in this transaction, so no one else can see or change it yet: derive from what we
    # just wrote instead of locking and reading it back.
    refresh_person(session, person=row, actor=actor, audit_key=audit_key,
                   known=([report_row] if report_row else [], []))
    if commit:
        session.commit()
    return row, report_row


@_unit_of_work
def update_person(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    person_id: int,
    version: int | str | None,
    person: Mapping[str, Any],
) -> Person:
    _require_researcher(actor)
    row = _live_person(session, person_id)
    _check_version(row, version)
    values = parse_person(person)
    before = audit.snapshot(row, PERSON_FIELDS)
    _apply_person(row, values)
    changes = audit.diff(before, audit.snapshot(row, PERSON_FIELDS))
    if changes:
        row.updated_at = utcnow()
        session.add(row)
        audit.record(session, key=audit_key, actor=actor, action="person.update", entity_type="person",
                     entity_id=row.id, changes=changes)
        refresh_person(session, person=row, actor=actor, audit_key=audit_key)
        session.commit()
    return row


def _insert_report(session: Session, *, actor: User, audit_key: bytes, person: Person,
                   values: dict[str, Any], source_ref_checked: bool = False) -> CaptureReport:
    if not source_ref_checked and _source_ref_taken(session, values.get("source_ref")):
        raise FieldErrors({"source_ref": N_("A capture report with this source reference already exists.")})
    report = _new_report(actor, person.id or 0, values)
    session.add(report)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="report.create", entity_type="capture_report",
                 entity_id=report.id, changes=_report_created(report))
    return report


# What a new person, report or piece of evidence is, and what its audit event says: one builder
# each, for the one-by-one path and for `create_captures` (an import) alike.


def _new_person(actor: User, values: dict[str, Any], make: Callable[..., Person] = Person) -> Person:
    row = make(created_by_id=actor.id, surname=values["surname"])
    _apply_person(row, values)
    return row


def _first_status(person: Person, actor: User, make: Callable[..., StatusChange] = StatusChange) -> StatusChange:
    return make(person_id=person.id or 0, new_status=person.status, reason=person.status_basis,
                        actor_id=actor.id)


def _person_created(person: Person) -> dict[str, Any]:
    return audit.diff({}, audit.snapshot(person, PERSON_FIELDS))


def _new_report(actor: User, person_id: int, values: dict[str, Any],
                make: Callable[..., CaptureReport] = CaptureReport) -> CaptureReport:
    report = make(person_id=person_id, created_by_id=actor.id)
    _apply_report(report, values)
    return report


def _report_created(report: CaptureReport) -> dict[str, Any]:
    return {"person_id": [None, report.person_id], **audit.diff({}, audit.snapshot(report, REPORT_FIELDS))}


def _new_evidence(actor: User, report_id: int, values: dict[str, Any],
                  make: Callable[..., Evidence] = Evidence) -> Evidence:
    return make(capture_report_id=report_id, created_by_id=actor.id, **values)


def _evidence_created(row: Evidence) -> dict[str, Any]:
    return {"capture_report_id": [None, row.capture_report_id],
            **audit.diff({}, audit.snapshot(row, [*EVIDENCE_FIELDS, "archive_sha256"]))}


@dataclass
class NewCapture:
    """A man with the capture report that made us aware of him and that report's evidence, each
    already parsed (parse_person, parse_report, parse_evidence): what an import row becomes."""

    person: dict[str, Any]
    report: dict[str, Any]
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CreatedCapture:
    person_id: int
    report_id: int
    evidence_ids: list[int]


def _rows(objects: list[Any]) -> list[dict[str, Any]]:
    return [obj.model_dump(exclude={"id"}) for obj in objects]


@_unit_of_work
def create_captures(*, session: Session, actor: User, audit_key: bytes,
                    captures: list[NewCapture]) -> list[CreatedCapture]:
    """Many new men, each with his first capture report and its evidence, written in bulk (an
    import): the same rows, status history and audit events, in the same order, as
    create_person_with_report followed by add_evidence for each, in a few multi-row INSERTs
    instead of a flush per object. The caller looked the source refs up (the unique index still
    refuses one added meanwhile: IntegrityError) and commits.
    """
    _require_researcher(actor)
    # Drafts, not table objects: the same builders, without the ORM's bookkeeping (insert_many).
    new_person, new_report = drafts_of(Person), drafts_of(CaptureReport)
    new_evidence, new_status = drafts_of(Evidence), drafts_of(StatusChange)
    persons = [_new_person(actor, capture.person, new_person) for capture in captures]
    reports = [_new_report(actor, 0, capture.report, new_report) for capture in captures]
    first_status = [_first_status(person, actor, new_status) for person in persons]
    created_events = [_person_created(person) for person in persons]
    # What refresh_person derives for a man just created from what was just written (his report,
    # no evidence yet), applied before his row is written rather than as an UPDATE after it.
    derived: list[tuple[dict[str, Any] | None, tuple[StatusChange, dict[str, Any]] | None]] = []
    for person, report in zip(persons, reports, strict=True):
        conflict, status = _rederive(person, [report], [])
        status_row = _status_changed(person, actor, status.status, status.basis, "", new_status) if status else None
        if conflict is not None or status_row is not None:
            person.version += 1  # the one-by-one path updates the row it has just inserted
        derived.append((conflict, status_row))
    for person, person_id in zip(persons, insert_many(session, Person, _rows(persons)), strict=True):
        person.id = person_id
    for person, report, first, (_conflict, later) in zip(persons, reports, first_status, derived, strict=True):
        report.person_id = first.person_id = person.id or 0
        if later is not None:
            later[0].person_id = person.id or 0
    for report, report_id in zip(reports, insert_many(session, CaptureReport, _rows(reports)), strict=True):
        report.id = report_id
    status_rows = [row for first, (_c, later) in zip(first_status, derived, strict=True)
                   for row in (first, *([later[0]] if later else []))]
    insert_many(session, StatusChange, _rows(status_rows))
    evidence = [[_new_evidence(actor, report.id or 0, values, new_evidence) for values in capture.evidence]
                for capture, report in zip(captures, reports, strict=True)]
    evidence_ids = iter(insert_many(session, Evidence, _rows([row for rows in evidence for row in rows])))
    events: list[audit.Pending] = []
    created: list[CreatedCapture] = []
    for person, report, person_created, (conflict, later), rows in zip(
            persons, reports, created_events, derived, evidence, strict=True):
        events.append(audit.Pending("person.create", "person", person.id, person_created))
        events.append(audit.Pending("report.create", "capture_report", report.id, _report_created(report)))
        if conflict is not None:
            events.append(audit.Pending("person.conflict", "person", person.id, conflict))
        if later is not None:
            events.append(audit.Pending("person.status", "person", person.id, later[1]))
        for row in rows:
            row.id = next(evidence_ids)
            events.append(audit.Pending("evidence.create", "evidence", row.id, _evidence_created(row)))
        created.append(CreatedCapture(person.id or 0, report.id or 0, [row.id or 0 for row in rows]))
    audit.record_many(session, key=audit_key, actor=actor, events=events)
    matching.note_changed(session, {("person", person.id or 0) for person in persons})
    return created


@_unit_of_work
def add_capture_report(
    *, session: Session, actor: User, audit_key: bytes, person_id: int, report: Mapping[str, Any],
) -> CaptureReport:
    _require_researcher(actor)
    values = parse_report(report)
    person = _live_person(session, person_id)
    row = _insert_report(session, actor=actor, audit_key=audit_key, person=person, values=values)
    refresh_person(session, person=person, actor=actor, audit_key=audit_key)
    session.commit()
    return row


@_unit_of_work
def update_capture_report(
    *, session: Session, actor: User, audit_key: bytes, report_id: int, version: int | str | None,
    report: Mapping[str, Any],
) -> CaptureReport:
    _require_researcher(actor)
    row = _fresh(session, CaptureReport, report_id)
    person = _lock_person(session, row.person_id)
    row = _fresh(session, CaptureReport, report_id)  # re-read under the person's lock
    _check_version(row, version)
    values = parse_report(report)
    if values.get("source_ref") != row.source_ref and _source_ref_taken(session, values.get("source_ref")):
        raise FieldErrors({"source_ref": N_("A capture report with this source reference already exists.")})
    before = audit.snapshot(row, REPORT_FIELDS)
    _apply_report(row, values)
    changes = audit.diff(before, audit.snapshot(row, REPORT_FIELDS))
    if changes:
        session.add(row)
        audit.record(session, key=audit_key, actor=actor, action="report.update",
                     entity_type="capture_report", entity_id=row.id, changes=changes)
        refresh_person(session, person=person, actor=actor, audit_key=audit_key)
        session.commit()
    return row


# ---------------------------------------------------------------------------------------------
# Evidence


@_unit_of_work
def add_evidence(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    report_id: int,
    evidence: Mapping[str, Any],
    archive: tuple[bytes, str] | None = None,
    store: EvidenceStore | None = None,
    commit: bool = True,
) -> Evidence:
    _require_researcher(actor)
    report = session.get(CaptureReport, report_id)
    if report is None:
        raise NotFound()
    values = parse_evidence(evidence)
    row = _new_evidence(actor, report_id, values)
    if archive is not None and archive[0]:
        if store is None:
            raise FieldErrors({"archive": N_("Archived copies cannot be stored here.")})
        stored = store.save(*archive)
        row.archive_sha256 = stored.sha256
        row.archive_filename = stored.filename
        row.archive_media_type = stored.media_type
        row.archive_size = stored.size
        row.archived_at = utcnow()
    session.add(row)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="evidence.create", entity_type="evidence",
                 entity_id=row.id, changes=_evidence_created(row))
    if commit:
        session.commit()
    return row


@_unit_of_work
def verify_evidence(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    evidence_id: int,
    version: int | str | None,
    decision: str,
    note: str = "",
) -> Evidence:
    """A second researcher checks the evidence; its author never can."""
    _require_researcher(actor)
    row = _fresh(session, Evidence, evidence_id)
    report = _fresh(session, CaptureReport, row.capture_report_id)
    person = _lock_person(session, report.person_id)
    row = _fresh(session, Evidence, evidence_id)  # re-read under the person's lock
    _check_version(row, version)
    if row.created_by_id == actor.id:
        raise Forbidden(N_("You entered this evidence: another researcher must verify it."))
    try:
        verdict = Verification(decision)
    except ValueError:
        raise FieldErrors({"decision": N_("Choose one of the listed values.")}) from None
    note = note.strip()
    if len(note) > 1000:
        raise FieldErrors({"note": Msg(N_("Too long (at most %(n)d characters)."), n=1000)})
    if verdict == Verification.rejected and not note:
        raise FieldErrors({"note": N_("Say why the evidence is rejected.")})
    before = audit.snapshot(row, ["verification", "verification_note", "verified_by_id"])
    row.verification = verdict
    row.verification_note = note
    row.verified_by_id = actor.id if verdict != Verification.unverified else None
    row.verified_at = utcnow() if verdict != Verification.unverified else None
    session.add(row)
    audit.record(session, key=audit_key, actor=actor, action="evidence.verify", entity_type="evidence",
                 entity_id=row.id, changes=audit.diff(before, audit.snapshot(row, ["verification", "verification_note", "verified_by_id"])))
    refresh_person(session, person=person, actor=actor, audit_key=audit_key)
    session.commit()
    return row


# ---------------------------------------------------------------------------------------------
# Status and conflicts


@dataclass
class DerivedStatus:
    status: PersonStatus
    basis: str  # a code the templates explain; see STATUS_BASIS in web/registry.py


def _independent_sources(items: list[Evidence]) -> set[str]:
    """Two items are independent when published by different publishers (else different sites)."""
    sources = set()
    for item in items:
        publisher = _publisher_key(item.publisher)
        sources.add("p:" + publisher if publisher else "h:" + _site(url_hostname(item.url)))
    return sources


def _publisher_key(publisher: str) -> str:
    """Spelling-blind like a name, but numbers count: "Channel 1" and "Channel 5" are two outlets."""
    return "".join(f"#{int(part)}#" if part.isdigit() else name_skeleton(part)
                   for part in re.findall(r"[^\W\d_]+|\d+", publisher))


def _site(hostname: str) -> str:
    """example.org and www.example.org are one site (and one source)."""
    return hostname[4:] if hostname.startswith("www.") and hostname.count(".") >= 2 else hostname


def derive_status(evidence: list[Evidence]) -> DerivedStatus:
    verified = [e for e in evidence if e.verification == Verification.verified]
    confirming = [e for e in verified if e.kind in CONFIRMING_KINDS]
    if confirming:
        return DerivedStatus(PersonStatus.confirmed_captured, "confirmation:" + confirming[0].kind.value)
    sources = _independent_sources(verified)
    if len(sources) >= 2:
        return DerivedStatus(PersonStatus.confirmed_captured, f"independent_sources:{len(sources)}")
    if verified:
        return DerivedStatus(PersonStatus.probable, "one_verified_source")
    return DerivedStatus(PersonStatus.reported, "no_verified_evidence")


def find_conflicts(person: Person, reports: list[CaptureReport]) -> list[str]:
    """Contradicting claims across reports, as short English sentences (kept in the conflict note)."""
    found: list[str] = []
    claims = {r.claim for r in reports}
    if len(claims) > 1:
        found.append("Reports disagree: captured vs killed.")
    dates = sorted({r.capture_date for r in reports if r.capture_date})
    parsed = [PartialDate.parse(d) for d in dates]
    for i, a in enumerate(parsed):
        for b in parsed[i + 1:]:
            gap = (max(a.earliest(), b.earliest()) - min(a.latest(), b.latest())).days
            if gap > 7:
                found.append(f"Capture dates disagree: {a} vs {b}.")
    units = {unit_number(r.reported_unit) for r in reports if r.reported_unit} - {None}
    if person.unit_number:
        units.add(person.unit_number)
    if len(units) > 1:
        found.append("Units disagree: " + ", ".join(sorted(u for u in units if u)) + ".")
    return found


def refresh_person(session: Session, *, person: Person, actor: User | None, audit_key: bytes,
                   known: tuple[list[CaptureReport], list[Evidence]] | None = None) -> None:
    """Re-derive status and conflicts after any change to the person, a report or evidence.

    Reads what is stored now (not what this session last saw), under the person's row lock;
    `known` (reports, evidence) is only for a person created in the caller's own transaction.
    """
    session.flush()
    if known is None:
        person = _lock_person(session, person.id or 0)
        reports = list(session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)
                                    .execution_options(populate_existing=True)).all())
        evidence = _evidence_of(session, [r for r in reports if r.claim == ReportClaim.captured])
    else:
        reports = known[0]
        captured = {r.id for r in reports if r.claim == ReportClaim.captured}
        evidence = [e for e in known[1] if e.capture_report_id in captured]
    conflict, derived = _rederive(person, reports, evidence)
    if conflict is not None:
        audit.record(session, key=audit_key, actor=actor, action="person.conflict", entity_type="person",
                     entity_id=person.id, changes=conflict)
    if derived is not None:
        _change_status(session, person=person, actor=actor, audit_key=audit_key,
                       new_status=derived.status, basis=derived.basis, reason="")
    session.add(person)


def _rederive(person: Person, reports: list[CaptureReport],
              evidence: list[Evidence]) -> tuple[dict[str, Any] | None, DerivedStatus | None]:
    """refresh_person's rules without the database: sets the person's conflict flag and note and
    returns the change for the audit log (None: unchanged), and the status the evidence now
    gives him when it differs from his (None: keep it; the caller records the change)."""
    conflicts = find_conflicts(person, reports)
    signature = hashlib.sha256("\n".join(conflicts).encode()).hexdigest() if conflicts else ""
    flag = bool(conflicts) and signature != person.conflict_resolved_signature
    conflict = None
    if flag != person.conflict or (flag and person.conflict_note != "\n".join(conflicts)):
        before = {"conflict": person.conflict, "conflict_note": person.conflict_note}
        person.conflict = flag
        if flag:
            person.conflict_note = "\n".join(conflicts)
        elif not conflicts:
            person.conflict_note = ""  # the contradiction went away by itself: nothing left to explain
        conflict = audit.diff(before, {"conflict": person.conflict, "conflict_note": person.conflict_note})
    if person.status not in MANUAL_STATUSES:
        derived = derive_status(evidence)
        if derived.status != person.status or derived.basis != person.status_basis:
            return conflict, derived
    return conflict, None


def _evidence_of(session: Session, reports: list[CaptureReport]) -> list[Evidence]:
    """Evidence a capture rests on: that of reports claiming a capture (a verified report that he
    was killed is no evidence that he was captured)."""
    ids = [r.id for r in reports]
    if not ids:
        return []
    return list(session.exec(select(Evidence).where(col(Evidence.capture_report_id).in_(ids))
                             .execution_options(populate_existing=True)).all())


def _change_status(session: Session, *, person: Person, actor: User | None, audit_key: bytes,
                   new_status: PersonStatus, basis: str, reason: str) -> None:
    row, changes = _status_changed(person, actor, new_status, basis, reason)
    session.add(row)
    audit.record(session, key=audit_key, actor=actor, action="person.status", entity_type="person",
                 entity_id=person.id, changes=changes)


def _status_changed(person: Person, actor: User | None, new_status: PersonStatus, basis: str, reason: str,
                    make: Callable[..., StatusChange] = StatusChange) -> tuple[StatusChange, dict[str, Any]]:
    """Set the person's status: its history row and what the audit event says."""
    old = person.status
    person.status = new_status
    person.status_basis = basis
    person.status_reason = reason
    row = make(person_id=person.id or 0, old_status=old, new_status=new_status,
               reason=reason or basis, actor_id=actor.id if actor else None)
    return row, {"status": [old.value, new_status.value], "basis": basis, "reason": reason}


def status_from_outcome(session: Session, *, person: Person, actor: User | None, audit_key: bytes,
                        status: PersonStatus, list_number: int, reason: str) -> None:
    """What an ombudsman office answered on an exchange list (he was exchanged): recorded by the
    staff member who records the answer, with the list as its basis. The caller commits."""
    if person.status != status:
        _change_status(session, person=person, actor=actor, audit_key=audit_key, new_status=status,
                       basis=f"exchange_list:{list_number}", reason=reason)
        person.updated_at = utcnow()
        session.add(person)


@_unit_of_work
def set_manual_status(
    *, session: Session, actor: User, audit_key: bytes, person_id: int, version: int | str | None,
    status: str, reason: str,
) -> Person:
    """Deceased, disputed, exchanged, released: stated by a researcher with a reason; or back to derived."""
    _require_researcher(actor)
    person = _live_person(session, person_id)
    _check_version(person, version)
    reason = reason.strip()
    if not reason:
        raise FieldErrors({"reason": N_("Say why the status changes.")})
    if len(reason) > 1000:
        raise FieldErrors({"reason": Msg(N_("Too long (at most %(n)d characters)."), n=1000)})
    if status == "derived":
        # Back to what the evidence says; the history shows the step from the manual status.
        reports = list(session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id,
                                                                CaptureReport.claim == ReportClaim.captured)).all())
        derived = derive_status(_evidence_of(session, reports))
        if person.status in MANUAL_STATUSES or (derived.status, derived.basis) != (person.status, person.status_basis):
            _change_status(session, person=person, actor=actor, audit_key=audit_key,
                           new_status=derived.status, basis=derived.basis, reason=reason)
        refresh_person(session, person=person, actor=actor, audit_key=audit_key)
    else:
        try:
            new_status = PersonStatus(status)
        except ValueError:
            raise FieldErrors({"status": N_("Choose one of the listed values.")}) from None
        if new_status not in MANUAL_STATUSES:
            raise FieldErrors({"status": N_("This status follows from the evidence and cannot be set by hand.")})
        _change_status(session, person=person, actor=actor, audit_key=audit_key,
                       new_status=new_status, basis="manual", reason=reason)
    session.add(person)
    session.commit()
    return person


@_unit_of_work
def resolve_conflict(
    *, session: Session, actor: User, audit_key: bytes, person_id: int, version: int | str | None, note: str,
) -> Person:
    _require_researcher(actor)
    person = _live_person(session, person_id)
    _check_version(person, version)
    note = note.strip()
    if not note:
        raise FieldErrors({"note": N_("Say how the conflict was resolved.")})
    if len(note) > 1000:
        raise FieldErrors({"note": Msg(N_("Too long (at most %(n)d characters)."), n=1000)})
    if not person.conflict:
        raise FieldErrors({"note": N_("There is no open conflict on this record.")})
    reports = list(session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)
                                .execution_options(populate_existing=True)).all())
    conflicts = find_conflicts(person, reports)
    before = {"conflict": True, "conflict_note": person.conflict_note}
    person.conflict = False
    person.conflict_resolved_signature = hashlib.sha256("\n".join(conflicts).encode()).hexdigest() if conflicts else ""
    person.conflict_note = person.conflict_note + "\n" + "Resolved: " + note
    session.add(person)
    audit.record(session, key=audit_key, actor=actor, action="person.conflict_resolve", entity_type="person",
                 entity_id=person.id, changes=audit.diff(before, {"conflict": False, "conflict_note": person.conflict_note}))
    session.commit()
    return person


# ---------------------------------------------------------------------------------------------
# Merge and undo


@_unit_of_work
def merge_persons(
    *, session: Session, actor: User, audit_key: bytes, keep_id: int, merge_id: int,
    keep_version: int | str | None, merge_version: int | str | None, reason: str,
) -> PersonMerge:
    """The same man reported twice: move every report (and so its evidence) to the kept record."""
    _require_researcher(actor)
    if keep_id == merge_id:
        raise FieldErrors({"merge_id": N_("Choose two different records.")})
    for person_id in sorted((keep_id, merge_id)):  # one lock order for every writer
        _lock_person(session, person_id)
    keep = _live_person(session, keep_id)
    other = _live_person(session, merge_id)
    _check_version(keep, keep_version)
    _check_version(other, merge_version)
    reason = reason.strip()
    if not reason:
        raise FieldErrors({"reason": N_("Say why these records are the same man.")})
    reports = list(session.exec(select(CaptureReport).where(CaptureReport.person_id == other.id)).all())
    for report in reports:
        report.person_id = keep.id or 0
        session.add(report)
    other.merged_into_id = keep.id
    session.add(other)
    merge = PersonMerge(kept_person_id=keep.id or 0, merged_person_id=other.id or 0,
                        moved_report_ids=json.dumps([r.id for r in reports]), reason=reason[:1000],
                        actor_id=actor.id)
    session.add(merge)
    session.flush()
    audit.record(session, key=audit_key, actor=actor, action="person.merge", entity_type="person",
                 entity_id=keep.id, changes={"merged_person_id": [None, other.id],
                                             "moved_report_ids": [None, [r.id for r in reports]], "reason": reason})
    refresh_person(session, person=keep, actor=actor, audit_key=audit_key)
    session.commit()
    return merge


@_unit_of_work
def undo_merge(*, session: Session, actor: User, audit_key: bytes, merge_id: int, reason: str) -> PersonMerge:
    """Admins only: move the reports back and bring the merged record back to life. Says why:
    an undone merge splits what researchers decided was one man."""
    if not actor.has_role(Role.admin):
        raise Forbidden()
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors({"reason": N_("Say why the merge is undone.")})
    if len(reason) > 1000:
        raise FieldErrors({"reason": N_("Too long.")})
    merge = _fresh(session, PersonMerge, merge_id)
    for person_id in sorted((merge.kept_person_id, merge.merged_person_id)):
        _lock_person(session, person_id)
    merge = _fresh(session, PersonMerge, merge_id)  # re-read under the locks
    if merge.undone_at is not None:
        raise FieldErrors({"merge": N_("This merge was already undone.")})
    keep = _lock_person(session, merge.kept_person_id)
    other = _lock_person(session, merge.merged_person_id)
    moved = json.loads(merge.moved_report_ids or "[]")
    reports = list(session.exec(select(CaptureReport).where(col(CaptureReport.id).in_(moved))
                                .execution_options(populate_existing=True)).all()) if moved else []
    if keep.merged_into_id is not None or other.merged_into_id != keep.id or any(r.person_id != keep.id for r in reports):
        # A later merge moved these reports on: undoing this one first would strand them.
        raise FieldErrors({"merge": N_("A later merge depends on this one: undo that one first.")})
    for report in reports:
        report.person_id = other.id or 0
        session.add(report)
    other.merged_into_id = None
    session.add(other)
    merge.undone_at = utcnow()
    merge.undone_by_id = actor.id
    session.add(merge)
    audit.record(session, key=audit_key, actor=actor, action="person.merge_undo", entity_type="person",
                 entity_id=keep.id, changes={"merged_person_id": [other.id, None], "merge_id": merge.id,
                                             "reason": reason})
    refresh_person(session, person=keep, actor=actor, audit_key=audit_key)
    refresh_person(session, person=other, actor=actor, audit_key=audit_key)
    session.commit()
    return merge


@dataclass
class MergeEntry:
    """One merge as the admins' history shows it: both men by name, who merged them, when and why,
    and who undid it and why."""

    merge: PersonMerge
    kept: Person | None
    merged: Person | None
    merged_by: str
    undone_by: str = ""
    undo_reason: str = ""
    reports: list[CaptureReport] = field(default_factory=list)  # those that moved (and would move back)


def _user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {u.id or 0: (u.display_name or u.email) for u in session.exec(select(User).where(col(User.id).in_(ids)))}


def merge_history(session: Session, *, limit: int = 200, merge_id: int | None = None) -> list[MergeEntry]:
    """The latest merges (or one), newest first, in a few queries whatever their number."""
    query = select(PersonMerge).order_by(col(PersonMerge.id).desc()).limit(limit)
    if merge_id is not None:
        query = select(PersonMerge).where(PersonMerge.id == merge_id)
    merges = list(session.exec(query))
    person_ids = {m.kept_person_id for m in merges} | {m.merged_person_id for m in merges}
    persons = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(person_ids)))} if merges else {}
    users = _user_names(session, {i for m in merges for i in (m.actor_id, m.undone_by_id) if i is not None})
    undo_reasons: dict[int, str] = {}
    undone = [m.id for m in merges if m.undone_at is not None]
    if undone:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "person.merge_undo",
                                                       col(AuditEvent.entity_id).in_({m.kept_person_id for m in merges})))
        for event in events:
            changes = json.loads(event.changes or "{}")
            if changes.get("merge_id") in undone:
                undo_reasons[int(changes["merge_id"])] = str(changes.get("reason") or "")
    moved: dict[int, list[CaptureReport]] = {}
    if merge_id is not None and merges:
        ids = json.loads(merges[0].moved_report_ids or "[]")
        if ids:
            moved[merge_id] = list(session.exec(select(CaptureReport).where(col(CaptureReport.id).in_(ids))
                                                .order_by(col(CaptureReport.id))))
    return [MergeEntry(merge=m, kept=persons.get(m.kept_person_id), merged=persons.get(m.merged_person_id),
                       merged_by=users.get(m.actor_id or 0, ""), undone_by=users.get(m.undone_by_id or 0, ""),
                       undo_reason=undo_reasons.get(m.id or 0, ""), reports=moved.get(m.id or 0, []))
            for m in merges]


def merge_entry(session: Session, merge_id: int) -> MergeEntry:
    """One merge with the reports it moved: what an undo would give back to the merged record."""
    found = merge_history(session, merge_id=merge_id)
    if not found:
        raise NotFound()
    return found[0]


# ---------------------------------------------------------------------------------------------
# Search and the person page


@dataclass
class PersonQuery:
    text: str = ""
    date_of_birth: str = ""
    unit: str = ""
    place: str = ""
    status: str = ""
    conflict_only: bool = False


def search_persons(session: Session, query: PersonQuery, *, page: int = 1, page_size: int = 25) -> tuple[list[Person], int]:
    """Names and call signs in any script (script-blind keys), date of birth, unit, place; merged
    records hidden."""
    errors: dict[str, str] = {}
    conditions: list[Any] = [col(Person.merged_into_id).is_(None)]
    tokens = [key for key in (name_skeleton(t) for t in query.text.replace(",", " ").split()) if key]
    if query.text.strip() and not tokens:
        conditions.append(false())  # "%", "_" or other signs only: no name can match that
    for key in tokens:
        like = _escape_like(key) + "%"
        conditions.append(or_(
            col(Person.given_name_key) == key,
            col(Person.patronymic_key) == key,
            col(Person.call_sign_key) == key,
            col(Person.surname_key).like(like, escape="\\") if len(key) >= 3 else col(Person.surname_key) == key,
        ))
    if query.date_of_birth.strip():
        try:
            dob = PartialDate.parse(query.date_of_birth)
        except NoSuchDate:
            errors["date_of_birth"] = N_("This date does not exist.")
        except InvalidDate:
            errors["date_of_birth"] = N_("Enter a date as YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY.")
        else:
            text = str(dob)
            prefixes = {text[:4], text[:7], text}
            conditions.append(or_(col(Person.date_of_birth).like(_escape_like(text) + "%", escape="\\"),
                                  col(Person.date_of_birth).in_(prefixes)))
    if query.unit.strip():
        number = unit_number(query.unit)
        if number:
            conditions.append(Person.unit_number == number)
        else:
            conditions.append(func.lower(Person.unit).like("%" + _escape_like(query.unit.strip().lower()) + "%", escape="\\"))
    if query.place.strip():
        key = name_skeleton(query.place)
        place_conditions: list[Any] = [func.lower(Person.place_of_birth).like(
            "%" + _escape_like(query.place.strip().lower()) + "%", escape="\\")]
        if key:
            pattern = "%" + _escape_like(key) + "%"
            place_conditions.append(col(Person.place_of_birth_key).like(pattern, escape="\\"))
            place_conditions.append(exists().where(and_(
                col(CaptureReport.person_id) == col(Person.id),
                col(CaptureReport.capture_place_key).like(pattern, escape="\\"))))
        conditions.append(or_(*place_conditions))
    if query.status:
        try:
            conditions.append(Person.status == PersonStatus(query.status))
        except ValueError:
            errors["status"] = N_("Choose one of the listed values.")
    if query.conflict_only:
        conditions.append(col(Person.conflict).is_(True))
    if errors:
        raise FieldErrors(errors)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    base = select(Person).where(and_(*conditions))
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(
        # Men whose surname is not known yet come after the named ones, not before them.
        base.order_by(col(Person.surname_key) == "", col(Person.surname_key), col(Person.given_name_key),
                      col(Person.id))
        .offset((max(page, 1) - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), int(total)


@dataclass
class ReportView:
    report: CaptureReport
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class PersonDetail:
    person: Person
    reports: list[ReportView]
    status_history: list[StatusChange]
    audit_events: list[AuditEvent]
    merges: list[PersonMerge]
    users: dict[int, User]


def person_detail(session: Session, person_id: int) -> PersonDetail:
    person = get_person(session, person_id)
    reports = list(session.exec(select(CaptureReport).where(CaptureReport.person_id == person_id)
                                .order_by(col(CaptureReport.id))).all())
    ids = [r.id for r in reports]
    evidence = list(session.exec(select(Evidence).where(col(Evidence.capture_report_id).in_(ids))
                                 .order_by(col(Evidence.id))).all()) if ids else []
    views = [ReportView(r, [e for e in evidence if e.capture_report_id == r.id]) for r in reports]
    history = list(session.exec(select(StatusChange).where(StatusChange.person_id == person_id)
                                .order_by(col(StatusChange.id).desc())).all())
    entity_filters = [and_(col(AuditEvent.entity_type) == "person", col(AuditEvent.entity_id) == person_id)]
    if ids:
        entity_filters.append(and_(col(AuditEvent.entity_type) == "capture_report", col(AuditEvent.entity_id).in_(ids)))
    ev_ids = [e.id for e in evidence]
    if ev_ids:
        entity_filters.append(and_(col(AuditEvent.entity_type) == "evidence", col(AuditEvent.entity_id).in_(ev_ids)))
    events = list(session.exec(select(AuditEvent).where(or_(*entity_filters))
                               .order_by(col(AuditEvent.id).desc()).limit(200)).all())
    merges = list(session.exec(select(PersonMerge).where(or_(col(PersonMerge.kept_person_id) == person_id,
                                                             col(PersonMerge.merged_person_id) == person_id))
                               .order_by(col(PersonMerge.id).desc())).all())
    user_ids = {e.created_by_id for e in evidence} | {e.verified_by_id for e in evidence} | {r.created_by_id for r in reports} | {h.actor_id for h in history}
    user_ids.discard(None)
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids))).all()} if user_ids else {}
    return PersonDetail(person, views, history, events, merges, users)  # type: ignore[arg-type]
