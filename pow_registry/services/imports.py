"""Spreadsheet imports: every row validated first, then all written in one transaction or none.

A row's `source_ref` identifies it: re-importing the same file skips rows already imported, so
nothing is added twice. Every bad row is reported with its row number, column and problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pow_registry.domain.names import clean_name
from pow_registry.domain.tabular import CAPTURE_COLUMNS, TableError, map_columns, read_table
from pow_registry.models import CaptureReport, ImportBatch, Role, User
from pow_registry.services import audit, registry
from pow_registry.services.errors import N_, Conflict, FieldErrors

# Import column → the service field it fills.
PERSON_COLUMNS = {
    "surname": "surname", "given_name": "given_name", "patronymic": "patronymic",
    "date_of_birth": "date_of_birth", "place_of_birth": "place_of_birth", "rank": "rank", "unit": "unit",
    "personal_number": "personal_number", "service_category": "service_category",
    "home_region": "home_region", "health": "health", "notes": "notes",
}
REPORT_COLUMNS = {"source_ref": "source_ref", "capture_date": "capture_date", "capture_place": "capture_place"}
EVIDENCE_COLUMNS = {"evidence_url": "url", "evidence_kind": "kind", "source_reliability": "source_reliability",
                    "info_credibility": "info_credibility"}
REQUIRED = ("source_ref", "surname")
MAX_URLS_PER_ROW = 20


@dataclass
class RowError:
    row: int  # as the spreadsheet shows it (header = 1); 0 for the whole file
    column: str
    message: str  # English source text, translated by the caller
    params: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.message % self.params if self.params else self.message


@dataclass
class ImportReport:
    dry_run: bool
    rows_total: int = 0
    rows_created: int = 0
    rows_skipped: int = 0  # already imported (same source_ref)
    persons_created: int = 0
    evidence_created: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _PlannedRow:
    row: int
    person: dict[str, Any]
    report: dict[str, Any]
    evidence: list[dict[str, Any]]


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


def system_actor(session: Session, *, audit_key: bytes, create: bool = True) -> User:
    """The command line's own researcher account (cannot log in), so imports are attributed.

    With create=False (a dry run, which writes nothing) a missing account is not created: an
    unsaved stand-in with the same role is returned instead.
    """
    from pow_registry.services.accounts import new_session_token

    email = SYSTEM_EMAIL
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None and not create:
        return User(email=email, display_name="command line", password_hash="!", roles=Role.researcher.value,  # noqa: S106 - no password
                    is_active=False, session_token="")
    if user is None:
        user = User(email=email, display_name="command line", password_hash="!", roles=Role.researcher.value,  # noqa: S106 - no password
                    is_active=False, session_token=new_session_token())
        session.add(user)
        session.flush()
        audit.record(session, key=audit_key, actor=user, action="user.create", entity_type="user",
                     entity_id=user.id, changes={"email": [None, email]})
        session.commit()
    return user


def import_captures(
    *,
    session: Session,
    actor: User,
    audit_key: bytes,
    data: bytes,
    filename: str,
    dry_run: bool = False,
    max_bytes: int = 20_000_000,
) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    if not actor.has_role(Role.researcher):
        report.errors.append(RowError(0, "", N_("Only researchers may import captures.")))
        return report
    if len(data) > max_bytes:
        report.errors.append(RowError(0, "", N_("The file is too large (at most %(mb)d MB)."), {"mb": max_bytes // 1_000_000}))
        return report
    try:
        table = read_table(data, filename, max_bytes=max_bytes)
        columns = map_columns(table.headers, CAPTURE_COLUMNS)
    except TableError as exc:
        report.errors.append(RowError(0, "", str(exc)))
        return report
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        report.errors.append(RowError(1, ", ".join(missing), N_("Required columns are missing.")))
        return report

    report.rows_total = len(table.rows)
    refs_in_file: dict[str, int] = {}
    for row_number, values in table.rows:
        ref = _ref(values, columns.get("source_ref"))
        if ref in refs_in_file:
            report.errors.append(RowError(row_number, "source_ref", N_("The same source_ref is also on row %(row)d."),
                                          {"row": refs_in_file[ref]}))
        elif ref:
            refs_in_file[ref] = row_number
    existing: set[str] = set()
    refs = list(refs_in_file)
    for start in range(0, len(refs), 500):
        chunk = refs[start:start + 500]
        existing.update(r for r in session.exec(select(CaptureReport.source_ref).where(col(CaptureReport.source_ref).in_(chunk))).all() if r)

    planned: list[_PlannedRow] = []
    for row_number, values in table.rows:
        ref = _ref(values, columns.get("source_ref"))
        if not ref:
            report.errors.append(RowError(row_number, "source_ref", N_("source_ref is required: it identifies the row.")))
            continue
        if ref in existing:
            report.rows_skipped += 1
            continue
        row_errors: list[tuple[str, str]] = []
        person_data = {target: _cell(values, columns.get(source)) for source, target in PERSON_COLUMNS.items()}
        report_data = {target: _cell(values, columns.get(source)) for source, target in REPORT_COLUMNS.items()}
        report_data["source_ref"] = ref
        try:
            registry.parse_person(person_data)
        except FieldErrors as exc:
            row_errors += _service_field_to_column(exc.errors, PERSON_COLUMNS)
        try:
            registry.parse_report(report_data)
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
                registry.parse_evidence({**extra, "url": url})
                evidence.append({**extra, "url": url})
            except FieldErrors as exc:
                for column, message in _service_field_to_column(exc.errors, EVIDENCE_COLUMNS):
                    if (column, message) not in row_errors:
                        row_errors.append((column, message))
        if not urls and any(_cell(values, columns.get(c)) for c in ("evidence_kind", "source_reliability", "info_credibility")):
            row_errors.append(("evidence_url", N_("A grade or kind is given but no link.")))
        if row_errors:
            report.errors.extend(RowError(row_number, column, message) for column, message in row_errors)
            continue
        planned.append(_PlannedRow(row_number, person_data, report_data, evidence))

    if report.errors or dry_run:
        if not report.errors:
            report.rows_created = len(planned)
            report.persons_created = len(planned)
            report.evidence_created = sum(len(p.evidence) for p in planned)
        return report

    current: _PlannedRow | None = None
    try:
        for item in planned:
            current = item
            _person, report_row = registry.create_person_with_report(
                session=session, actor=actor, audit_key=audit_key, person=item.person, report=item.report,
                commit=False, source_ref_checked=True)
            assert report_row is not None  # every import row carries its report
            for evidence_data in item.evidence:
                registry.add_evidence(session=session, actor=actor, audit_key=audit_key, report_id=report_row.id or 0,
                                      evidence=evidence_data, commit=False)
            report.rows_created += 1
            report.persons_created += 1
            report.evidence_created += len(item.evidence)
        batch = ImportBatch(kind="captures", filename=filename[:255], file_sha256=hashlib.sha256(data).hexdigest(),
                            rows_created=report.rows_created, rows_skipped=report.rows_skipped, actor_id=actor.id)
        session.add(batch)
        session.flush()
        audit.record(session, key=audit_key, actor=actor, action="import.captures", entity_type="import_batch",
                     entity_id=batch.id, changes={"filename": filename, "rows_created": report.rows_created,
                                                  "rows_skipped": report.rows_skipped})
        session.commit()
    except (FieldErrors, Conflict, IntegrityError) as exc:
        # Refused while writing (e.g. another import added the same source_ref meanwhile):
        # nothing of this file is kept, and the row is reported like any other bad row.
        session.rollback()
        report.rows_created = report.persons_created = report.evidence_created = 0
        row = current.row if current is not None else 0
        if isinstance(exc, FieldErrors):
            report.errors.extend(RowError(row, column.removeprefix("report_"), message)
                                 for column, message in exc.errors.items())
        else:
            report.errors.append(RowError(row, "", N_("The row could not be written (it conflicts with a "
                                                      "record saved meanwhile); nothing was imported.")))
    except BaseException:
        session.rollback()
        raise
    return report
