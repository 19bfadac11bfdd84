"""Spreadsheet imports: every row validated first, then all written in one transaction or none.

A row's `source_ref` identifies it: re-importing the same file skips rows already imported, so
nothing is added twice. Every bad row is reported with its row number, column and problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pow_registry.domain.names import clean_name
from pow_registry.domain.tabular import (
    CAPTURE_COLUMNS,
    INQUIRY_COLUMNS,
    TableError,
    map_columns,
    read_table,
)
from pow_registry.models import CaptureReport, ImportBatch, Inquiry, InquiryChannel, Role, User
from pow_registry.services import audit, inquiries, registry
from pow_registry.services.errors import N_, Conflict, FieldErrors

# Import column → the service field it fills.
PERSON_COLUMNS = {
    "surname": "surname", "given_name": "given_name", "patronymic": "patronymic", "call_sign": "call_sign",
    "date_of_birth": "date_of_birth", "place_of_birth": "place_of_birth", "rank": "rank", "unit": "unit",
    "personal_number": "personal_number", "service_category": "service_category",
    "home_region": "home_region", "health": "health", "appearance": "appearance", "notes": "notes",
}
REPORT_COLUMNS = {"source_ref": "source_ref", "capture_date": "capture_date", "capture_place": "capture_place"}
EVIDENCE_COLUMNS = {"evidence_url": "url", "evidence_kind": "kind", "source_reliability": "source_reliability",
                    "info_credibility": "info_credibility"}
# Columns a file must have; a tuple of several: any one of them. A surname is not required: a
# man may be known only by a given name and a unit, a call sign or a photo (each row still needs
# one of the fields that identify him, registry.IDENTIFYING_FIELDS).
REQUIRED = (("source_ref",), tuple(column for column, target in PERSON_COLUMNS.items()
                                   if target in registry.IDENTIFYING_FIELDS))
MAX_URLS_PER_ROW = 20


@dataclass
class RowError:
    row: int  # as the spreadsheet shows it (header = 1); 0 for the whole file
    column: str
    message: str  # English source text, translated by the caller
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.message % self.params if self.params else self.message


@dataclass(frozen=True)
class IssuedCode:
    """A new imported inquiry and its access code, to hand on once (never stored)."""

    source_ref: str
    reference: str
    access_code: str


@dataclass
class ImportReport:
    dry_run: bool
    rows_total: int = 0
    rows_created: int = 0
    rows_skipped: int = 0  # already imported (same source_ref)
    persons_created: int = 0
    evidence_created: int = 0
    inquiries_created: int = 0
    codes: list[IssuedCode] = field(default_factory=list)  # inquiries only; empty on a dry run
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def reset_written(self) -> None:
        """Nothing was written after all (the transaction was rolled back)."""
        self.rows_created = self.persons_created = self.evidence_created = self.inquiries_created = 0
        self.codes = []


def _cell(values: list[str], index: int | None) -> str:
    return values[index] if index is not None and index < len(values) else ""


def _ref(values: list[str], index: int | None) -> str:
    """The row's source_ref as it will be stored (invisible characters gone, spaces collapsed),
    so a re-import recognises the row however it was pasted."""
    return clean_name(_cell(values, index))


def _service_field_to_column(errors: dict[str, str], mapping: dict[str, str]) -> list[tuple[str, str]]:
    reverse = {v: k for k, v in mapping.items()}
    return [(reverse.get(name, name), message) for name, message in errors.items()]


SYSTEM_EMAIL = "system@pow-registry.invalid"


def system_actor(session: Session, *, audit_key: bytes, create: bool = True, role: Role = Role.researcher) -> User:
    """The command line's own account (cannot log in), so imports are attributed.

    It holds the role the import needs (researcher for captures, staff for inquiries); a role
    it lacks is added, with an audit event. With create=False (a dry run, which writes nothing)
    nothing is created or changed: an unsaved stand-in with the role is returned instead.
    """
    from pow_registry.services.accounts import new_session_token

    email = SYSTEM_EMAIL
    user = session.exec(select(User).where(User.email == email)).first()
    if not create and (user is None or not user.has_role(role)):
        roles = sorted({*(user.role_set if user else set()), role})
        return User(email=email, display_name="command line", password_hash="!", roles=",".join(roles),  # noqa: S106 - no password
                    is_active=False, session_token="")
    if user is None:
        user = User(email=email, display_name="command line", password_hash="!", roles=role.value,  # noqa: S106 - no password
                    is_active=False, session_token=new_session_token())
        session.add(user)
        session.flush()
        audit.record(session, key=audit_key, actor=user, action="user.create", entity_type="user",
                     entity_id=user.id, changes={"email": [None, email]})
        session.commit()
    elif not user.has_role(role):
        before = user.roles
        user.roles = ",".join(sorted({*user.role_set, role}))
        session.add(user)
        audit.record(session, key=audit_key, actor=user, action="user.update", entity_type="user",
                     entity_id=user.id, changes={"roles": [before, user.roles]})
        session.commit()
    return user


def _existing_refs(session: Session, column: Any, refs: list[str]) -> set[str]:
    existing: set[str] = set()
    for start in range(0, len(refs), 500):
        chunk = refs[start:start + 500]
        existing.update(r for r in session.exec(select(column).where(col(column).in_(chunk))).all() if r)
    return existing


# One row of the file checked: (what to write, problems as (column, message)).
_PlanRow = Callable[[list[str], dict[str, int], str], tuple[Any, list[tuple[str, str]]]]
# Write some planned rows at once (inside the import's transaction, no commit) and count them.
_WriteRows = Callable[[list[Any], "ImportReport"], None]
# Count one planned row as a dry run would have written it.
_TallyRow = Callable[[Any, "ImportReport"], None]
# Where an import stands, for whoever watches (a job's progress bar): (phase, rows done, rows in all).
Progress = Callable[[str, int, int], None]
# Called inside the import's transaction once every row is written, just before the commit: what
# it writes (a job's outcome) is committed with the rows or not at all; raising rolls all back.
OnWritten = Callable[["ImportReport"], None]

# Rows written per multi-row INSERT round (and per progress report while writing): large enough
# that the statements' overhead vanishes, small enough that the objects built for them stay few.
WRITE_CHUNK = 1000

# The phases `progress` reports, in order.
PHASE_READING, PHASE_CHECKING, PHASE_WRITING, PHASE_SAVING = "reading", "checking", "writing", "saving"


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


def _run_import(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    data: bytes,
    filename: str,
    dry_run: bool,
    max_bytes: int,
    kind: str,
    table_columns: dict[str, tuple[str, ...]],
    required: tuple[tuple[str, ...], ...],
    ref_column: Any,
    plan_row: _PlanRow,
    write_rows: _WriteRows,
    tally_row: _TallyRow,
    report: ImportReport,
    progress: Progress | None = None,
    on_written: OnWritten | None = None,
) -> ImportReport:
    """What every import shares: read the table safely, check every row before writing any,
    skip rows already imported (same source_ref), then write all rows in one transaction and
    record the batch; with one bad row nothing is written and every bad row is reported.

    The file is read and every row checked before the database is touched: on SQLite the
    transaction that looks up the rows already imported begins IMMEDIATE (it is the one that
    writes), so it must not be open while a large file is parsed."""
    progress = progress or _no_progress
    if len(data) > max_bytes:
        report.errors.append(RowError(0, "", N_("The file is too large (at most %(mb)d MB)."), {"mb": max_bytes // 1_000_000}))
        return report
    progress(PHASE_READING, 0, 0)
    try:
        table = read_table(data, filename, max_bytes=max_bytes)
        columns = map_columns(table.headers, table_columns)
    except TableError as exc:
        report.errors.append(RowError(0, "", exc.template, exc.params))
        return report
    missing = ["/".join(names) for names in required if not any(name in columns for name in names)]
    if missing:
        report.errors.append(RowError(1, ", ".join(missing), N_("Required columns are missing.")))
        return report

    total = report.rows_total = len(table.rows)
    refs_in_file: dict[str, int] = {}
    for row_number, values in table.rows:
        ref = _ref(values, columns.get("source_ref"))
        if ref in refs_in_file:
            report.errors.append(RowError(row_number, "source_ref", N_("The same source_ref is also on row %(row)d."),
                                          {"row": refs_in_file[ref]}))
        elif ref:
            refs_in_file[ref] = row_number

    # Every row checked (parsed and validated) before the database is read.
    checked: list[tuple[int, str, Any, list[tuple[str, str]]]] = []
    for done, (row_number, values) in enumerate(table.rows, start=1):
        ref = _ref(values, columns.get("source_ref"))
        item, row_errors = plan_row(values, columns, ref) if ref else (None, [])
        checked.append((row_number, ref, item, row_errors))
        progress(PHASE_CHECKING, done, total)

    existing = _existing_refs(session, ref_column, list(refs_in_file))
    planned: list[tuple[int, Any]] = []
    for row_number, ref, item, row_errors in checked:
        if not ref:
            report.errors.append(RowError(row_number, "source_ref", N_("source_ref is required: it identifies the row.")))
        elif ref in existing:
            report.rows_skipped += 1
        elif row_errors:
            report.errors.extend(RowError(row_number, column, message) for column, message in row_errors)
        else:
            planned.append((row_number, item))

    if report.errors or dry_run:
        if not report.errors:
            for _row_number, item in planned:
                tally_row(item, report)
        return report

    current = 0
    try:
        progress(PHASE_WRITING, 0, len(planned))
        for start in range(0, len(planned), WRITE_CHUNK):
            chunk = planned[start:start + WRITE_CHUNK]
            current = chunk[0][0]
            write_rows([item for _row_number, item in chunk], report)
            progress(PHASE_WRITING, start + len(chunk), len(planned))
        batch = ImportBatch(kind=kind, filename=filename[:255], file_sha256=hashlib.sha256(data).hexdigest(),
                            rows_created=report.rows_created, rows_skipped=report.rows_skipped, actor_id=actor.id)
        session.add(batch)
        session.flush()
        audit.record(session, key=audit_key, actor=actor, action=f"import.{kind}", entity_type="import_batch",
                     entity_id=batch.id, changes={"filename": filename, "rows_created": report.rows_created,
                                                  "rows_skipped": report.rows_skipped})
        if on_written is not None:
            on_written(report)
        progress(PHASE_SAVING, len(planned), len(planned))  # the commit cross-references the new records
        session.commit()
    except (FieldErrors, Conflict, IntegrityError) as exc:
        # Refused while writing (e.g. another import added the same source_ref meanwhile):
        # nothing of this file is kept, and the row is reported like any other bad row.
        session.rollback()
        report.reset_written()
        if isinstance(exc, FieldErrors):
            report.errors.extend(RowError(current, column.removeprefix("report_"), message)
                                 for column, message in exc.errors.items())
        else:
            # Rows are written many at a time: the ones whose source_ref is taken now are those
            # the database refused (else the first row of the refused chunk).
            taken = _existing_refs(session, ref_column, [ref for ref in refs_in_file if ref not in existing])
            session.rollback()  # only looked: end the read (on SQLite it holds the write lock)
            rows = sorted(refs_in_file[ref] for ref in taken) or [current]
            report.errors.extend(RowError(row, "source_ref" if taken else "", N_(
                "The row could not be written (it conflicts with a record saved meanwhile); nothing was imported."))
                for row in rows)
    except BaseException:
        session.rollback()
        report.reset_written()
        raise
    return report


def import_captures(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    data: bytes,
    filename: str,
    dry_run: bool = False,
    max_bytes: int = 20_000_000,
    progress: Progress | None = None,
    on_written: OnWritten | None = None,
) -> ImportReport:
    """Persons, capture reports and evidence, by a researcher. `progress` and `on_written`: see
    `_run_import` (a job's progress bar, and its outcome committed with the rows)."""
    report = ImportReport(dry_run=dry_run)
    if not actor.has_role(Role.researcher):
        report.errors.append(RowError(0, "", N_("Only researchers may import captures.")))
        return report

    def plan_row(values: list[str], columns: dict[str, int], ref: str) -> tuple[Any, list[tuple[str, str]]]:
        row_errors: list[tuple[str, str]] = []
        person_data = {target: _cell(values, columns.get(source)) for source, target in PERSON_COLUMNS.items()}
        report_data = {target: _cell(values, columns.get(source)) for source, target in REPORT_COLUMNS.items()}
        report_data["source_ref"] = ref
        person_values: dict[str, Any] = {}
        report_values: dict[str, Any] = {}
        try:
            person_values = registry.parse_person(person_data)
        except FieldErrors as exc:
            row_errors += _service_field_to_column(exc.errors, PERSON_COLUMNS)
        try:
            report_values = registry.parse_report(report_data)
        except FieldErrors as exc:
            row_errors += _service_field_to_column(exc.errors, REPORT_COLUMNS)
        evidence: list[dict[str, Any]] = []
        urls = _cell(values, columns.get("evidence_url")).split()
        if len(urls) > MAX_URLS_PER_ROW:
            row_errors.append(("evidence_url", N_("Too many links in one row.")))
            urls = []
        extra = {target: _cell(values, columns.get(source)) for source, target in EVIDENCE_COLUMNS.items() if target != "url"}
        extra["notes"] = ""
        for url in urls:
            try:
                evidence.append(registry.parse_evidence({**extra, "url": url}))
            except FieldErrors as exc:
                for column, message in _service_field_to_column(exc.errors, EVIDENCE_COLUMNS):
                    if (column, message) not in row_errors:
                        row_errors.append((column, message))
        if not urls and any(_cell(values, columns.get(c)) for c in ("evidence_kind", "source_reliability", "info_credibility")):
            row_errors.append(("evidence_url", N_("A grade or kind is given but no link.")))
        return registry.NewCapture(person_values, report_values, evidence), row_errors

    def tally_row(item: registry.NewCapture, report: ImportReport) -> None:
        report.rows_created += 1
        report.persons_created += 1
        report.evidence_created += len(item.evidence)

    def write_rows(items: list[registry.NewCapture], report: ImportReport) -> None:
        registry.create_captures(session=session, actor=actor, audit_key=audit_key, captures=items)
        for item in items:
            tally_row(item, report)

    return _run_import(session=session, actor=actor, audit_key=audit_key, data=data, filename=filename,
                       dry_run=dry_run, max_bytes=max_bytes, kind="captures", table_columns=CAPTURE_COLUMNS,
                       required=REQUIRED, ref_column=CaptureReport.source_ref, plan_row=plan_row,
                       write_rows=write_rows, tally_row=tally_row, report=report, progress=progress,
                       on_written=on_written)


# Inquiry import column → the inquiry field it fills (contract.md, "Import columns"). There is
# no country column: numbers without a leading + are read as Russian ones (inquiries.DEFAULT_COUNTRY).
INQUIRY_IMPORT_COLUMNS = {
    "surname": "surname", "given_name": "given_name", "patronymic": "patronymic",
    "date_of_birth": "date_of_birth", "unit": "unit", "service_category": "service_category",
    "last_contact_date": "last_contact_date", "last_known_place": "last_known_place",
    "requester_name": "requester_name", "requester_relationship": "requester_relationship",
    "requester_phone": "phones", "requester_email": "requester_email",
    "preferred_language": "preferred_language", "notes": "notes",
}
INQUIRY_REQUIRED = (("source_ref",), ("requester_name",), ("surname", "given_name"))


def import_inquiries(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    access_key: bytes,
    data: bytes,
    filename: str,
    dry_run: bool = False,
    max_bytes: int = 20_000_000,
    progress: Progress | None = None,
    on_written: OnWritten | None = None,
) -> ImportReport:
    """Family inquiries from a partner's spreadsheet, by staff (channel `imported`, status
    `received`). Each new inquiry gets a reference and an access code; the codes exist only in
    `report.codes` (shown once: the caller must hand them on safely), never in the database."""
    report = ImportReport(dry_run=dry_run)
    if not actor.has_role(Role.staff):
        report.errors.append(RowError(0, "", N_("Only staff may import inquiries.")))
        return report

    def plan_row(values: list[str], columns: dict[str, int], ref: str) -> tuple[Any, list[tuple[str, str]]]:
        row = {target: _cell(values, columns.get(source)) for source, target in INQUIRY_IMPORT_COLUMNS.items()}
        row_errors: list[tuple[str, str]] = []
        parsed: dict[str, Any] = {}
        source_ref: str | None = None
        try:
            parsed = inquiries.parse_inquiry(row)
        except FieldErrors as exc:
            row_errors += _service_field_to_column(exc.errors, INQUIRY_IMPORT_COLUMNS)
        try:
            source_ref = inquiries.parse_source_ref(ref)
        except FieldErrors as exc:
            row_errors += list(exc.errors.items())
        return inquiries.NewInquiry(parsed, source_ref), row_errors

    def tally_row(_item: Any, report: ImportReport) -> None:
        report.rows_created += 1
        report.inquiries_created += 1

    def write_rows(items: list[inquiries.NewInquiry], report: ImportReport) -> None:
        issued = inquiries.create_inquiries(session=session, actor=actor, audit_key=audit_key, access_key=access_key,
                                            items=items, channel=InquiryChannel.imported)
        for item, new in zip(items, issued, strict=True):
            report.codes.append(IssuedCode(item.source_ref or "", new.inquiry.reference, new.access_code))
            tally_row(item, report)

    return _run_import(session=session, actor=actor, audit_key=audit_key, data=data, filename=filename,
                       dry_run=dry_run, max_bytes=max_bytes, kind="inquiries", table_columns=INQUIRY_COLUMNS,
                       required=INQUIRY_REQUIRED, ref_column=Inquiry.source_ref, plan_row=plan_row,
                       write_rows=write_rows, tally_row=tally_row, report=report, progress=progress,
                       on_written=on_written)
