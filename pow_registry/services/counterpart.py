"""Counterpart lists: names received from elsewhere, reconciled against the registry and the
inquiries with the same matcher, applied once staff confirm (domain.md, "Counterpart list").

A list of those *returned* in an exchange: a confirmed name makes the person `exchanged` (and
answers his open exchange-list entries), and every linked inquiry `returned`. A list of those the
other side says it *holds*: a confirmed name moves linked inquiries still being searched to
`match_found`. A name nobody matched stays on the list, reported as unmatched, never dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain.names import clean_name
from pow_registry.domain.tabular import COUNTERPART_COLUMNS, TableError, map_columns, read_table
from pow_registry.models import (
    CounterpartEntry,
    CounterpartKind,
    CounterpartList,
    ExchangeList,
    ExchangeListEntry,
    Inquiry,
    InquiryStatus,
    ListState,
    MatchCandidate,
    MatchStatus,
    Outcome,
    Person,
    PersonStatus,
    Role,
    User,
    utcnow,
)
from pow_registry.services import audit, exchange, matching, registry
from pow_registry.services.errors import N_, FieldErrors, Forbidden, Msg, NotFound
from pow_registry.services.imports import ImportReport, RowError
from pow_registry.services.parsing import partial_date

__all__ = ["CounterpartEntry", "CounterpartReport", "apply_confirmed", "check_details", "import_list",
           "list_detail", "reconcile"]

MAX_NAMES = 20_000
_ENTRY_LIMITS = {"surname": 200, "given_name": 200, "patronymic": 200, "unit": 300, "place": 300, "notes": 10_000}


@dataclass
class CounterpartReport(ImportReport):
    list_id: int | None = None
    candidates: int = 0
    unmatched: int = 0


def _partial(text: str, name: str, errors: list[tuple[str, str]]) -> str | None:
    """A partial date by the one set of rules (services/parsing.py), its problem added to `errors`."""
    found: dict[str, str] = {}
    value = partial_date(text, name, found, clock.today())
    errors.extend(found.items())
    return value


def _list_values(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    kind = str(data.get("kind") or "returned")
    if kind not in CounterpartKind.__members__:
        errors["kind"] = N_("Choose one of the listed values.")
    values: dict[str, Any] = {"kind": CounterpartKind(kind) if kind in CounterpartKind.__members__ else kind}
    for name, limit in (("title", 200), ("source", 500)):
        values[name] = clean_name(str(data.get(name) or ""))
        if len(values[name]) > limit:
            errors[name] = Msg(N_("Too long (at most %(n)d characters)."), n=limit)
    if not values["title"]:
        errors["title"] = N_("Required.")
    for name in ("received_on", "exchange_date"):
        found: list[tuple[str, str]] = []
        values[name] = _partial(str(data.get(name) or ""), name, found)
        errors.update(found)
    if errors:
        raise FieldErrors(errors)
    return values


def check_details(details: Mapping[str, Any]) -> None:
    """The list's own details (kind, title, dates), checked before its file is even read: a page
    shows these on its form (FieldErrors) instead of starting a job that can only fail."""
    _list_values(details)


def import_list(*, session: Session, actor: User, audit_key: bytes, data: bytes, filename: str,
                details: Mapping[str, Any], dry_run: bool = False, max_bytes: int = 20_000_000,
                on_written: Callable[[CounterpartReport], None] | None = None) -> CounterpartReport:
    """Read the list (all or nothing: every bad row reported, nothing written with one), then
    reconcile it. Names need only a surname or a given name; everything else may be missing.
    Every row is checked before anything is written; `on_written` runs in the write transaction
    just before its commit (a job records its outcome there: both or neither)."""
    if not actor.has_role(Role.staff):
        raise Forbidden()
    values = _list_values(details)
    report = CounterpartReport(dry_run=dry_run)
    if len(data) > max_bytes:
        report.errors.append(RowError(0, "", N_("The file is too large (at most %(mb)d MB)."), {"mb": max_bytes // 1_000_000}))
        return report
    try:
        table = read_table(data, filename, max_bytes=max_bytes)
        columns = map_columns(table.headers, COUNTERPART_COLUMNS)
    except TableError as exc:
        report.errors.append(RowError(0, "", exc.template, exc.params))
        return report
    if "surname" not in columns and "given_name" not in columns:
        report.errors.append(RowError(1, "surname/given_name", N_("Required columns are missing.")))
        return report
    if len(table.rows) > MAX_NAMES:
        report.errors.append(RowError(0, "", N_("Too many rows (at most %(n)d)."), {"n": MAX_NAMES}))
        return report
    report.rows_total = len(table.rows)
    planned: list[dict[str, Any]] = []
    for row_number, cells in table.rows:
        def cell(name: str, cells: list[str] = cells) -> str:
            index = columns.get(name)
            return cells[index] if index is not None else ""

        problems: list[tuple[str, str]] = []
        entry: dict[str, Any] = {"row_number": row_number}
        for name, limit in _ENTRY_LIMITS.items():
            entry[name] = clean_name(cell(name)) if name != "notes" else cell(name).strip()
            if len(entry[name]) > limit:
                problems.append((name, N_("Too long.")))
        entry["date_of_birth"] = _partial(cell("date_of_birth"), "date_of_birth", problems)
        if not entry["surname"] and not entry["given_name"]:
            problems.append(("surname", N_("A surname or a given name is required.")))
        report.errors.extend(RowError(row_number, column, message) for column, message in problems)
        planned.append(entry)
    if report.errors or dry_run:
        report.rows_created = 0 if report.errors else len(planned)
        return report
    try:
        row = CounterpartList(**values, filename=filename[:255], file_sha256=hashlib.sha256(data).hexdigest(),
                              imported_by_id=actor.id)
        session.add(row)
        session.flush()
        entries = [CounterpartEntry(list_id=row.id or 0, **entry) for entry in planned]
        session.add_all(entries)
        session.flush()
        audit.record(session, key=audit_key, actor=actor, action="counterpart.import", entity_type="counterpart_list",
                     entity_id=row.id, changes={"title": [None, row.title], "kind": [None, row.kind.value],
                                                "names": len(entries), "file_sha256": row.file_sha256})
        report.list_id, report.rows_created = row.id, len(entries)
        report.candidates, report.unmatched = _reconcile(session, entries)
        if on_written is not None:
            on_written(report)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def _reconcile(session: Session, entries: list[CounterpartEntry]) -> tuple[int, int]:
    """Candidates for each name not yet confirmed (rejected pairs stay rejected)."""
    open_entries = [e for e in entries if e.person_id is None and e.inquiry_id is None]
    found = matching.match_outside(session, [matching.counterpart_record(e) for e in open_entries])
    candidates = unmatched = 0
    for entry, matches in zip(open_entries, found, strict=True):
        known = {(r.right_kind, r.right_id): r for r in session.exec(select(MatchCandidate).where(
            MatchCandidate.left_kind == matching.COUNTERPART, MatchCandidate.left_id == entry.id))}
        kept = 0
        for match in matches:
            own_left = match.left_id == f"c{entry.id}"
            kind, other = (match.right_kind, match.right_id) if own_left else (match.left_kind, match.left_id)
            threshold = matching.THRESHOLDS[("inquiry", kind) if kind == "person" else ("inquiry", "inquiry")]
            if match.probability < threshold:
                continue
            key = (kind, int(other))
            row = known.pop(key, None)
            if row is None:
                row = MatchCandidate(left_kind=matching.COUNTERPART, left_id=entry.id or 0, right_kind=kind,
                                     right_id=int(other), score=match.probability, weight=match.weight)
            row.score, row.weight, row.explanation = match.probability, match.weight, matching.explanation(match)
            row.updated_at = utcnow()
            session.add(row)
            kept += 1
        for row in known.values():
            if row.status == MatchStatus.candidate:
                session.delete(row)
        candidates += kept
        unmatched += kept == 0
    session.flush()
    return candidates, unmatched


def reconcile(*, session: Session, actor: User, list_id: int,
              on_written: Callable[[tuple[int, int]], None] | None = None) -> tuple[int, int]:
    """Look again (after the registry changed): candidates and unmatched names. `on_written`
    runs in the write transaction just before its commit (a job records its outcome there)."""
    if not actor.has_role(Role.staff):
        raise Forbidden()
    if session.get(CounterpartList, list_id) is None:
        raise NotFound()
    try:
        entries = list(session.exec(select(CounterpartEntry).where(CounterpartEntry.list_id == list_id)))
        result = _reconcile(session, entries)
        if on_written is not None:
            on_written(result)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def apply_confirmed(session: Session, *, actor: User, audit_key: bytes, candidate: MatchCandidate) -> None:
    """Staff confirmed that a name on the list is this person (or this inquiry's man): link it
    and apply what the list says. Inside the caller's transaction."""
    entry = session.get(CounterpartEntry, candidate.left_id)
    if entry is None:
        raise NotFound()
    counterpart_list = session.get(CounterpartList, entry.list_id)
    assert counterpart_list is not None
    if entry.person_id is not None or entry.inquiry_id is not None:
        raise FieldErrors({"status": N_("This name is linked already.")})
    returned = counterpart_list.kind == CounterpartKind.returned
    day = counterpart_list.exchange_date or counterpart_list.received_on
    why = f"counterpart list {counterpart_list.id} ({counterpart_list.title})"
    person_id: int | None = None
    if candidate.right_kind == "person":
        entry.person_id = person_id = candidate.right_id
    else:
        entry.inquiry_id = candidate.right_id
        inquiry = session.get(Inquiry, candidate.right_id)
        person_id = inquiry.person_id if inquiry is not None else None
    if returned and person_id is not None:
        person = session.get(Person, person_id)
        if person is not None:
            registry.status_from_outcome(session, person=person, actor=actor, audit_key=audit_key,
                                         status=PersonStatus.exchanged, list_number=0,
                                         reason=f"named as returned on {why}")
            _answer_open_entries(session, actor=actor, audit_key=audit_key, person_id=person_id, day=day, why=why)
    target, before = ((InquiryStatus.returned, {InquiryStatus.received, InquiryStatus.searching,
                                                InquiryStatus.match_found, InquiryStatus.on_exchange_list})
                      if returned else (InquiryStatus.match_found, {InquiryStatus.received, InquiryStatus.searching}))
    inquiries = (list(session.exec(select(Inquiry).where(Inquiry.person_id == person_id))) if person_id is not None
                 else [i for i in [session.get(Inquiry, entry.inquiry_id or 0)] if i is not None])
    for inquiry in inquiries:
        if inquiry.status in before:
            old = inquiry.status
            inquiry.status, inquiry.updated_at = target, utcnow()
            session.add(inquiry)
            audit.record(session, key=audit_key, actor=actor, action="inquiry.status", entity_type="inquiry",
                         entity_id=inquiry.id, changes={"status": [old.value, target.value], "reason": why})
    entry.applied_at = utcnow()
    session.add(entry)
    audit.record(session, key=audit_key, actor=actor, action="counterpart.apply", entity_type="counterpart_list",
                 entity_id=counterpart_list.id, changes={"entry": entry.id, "person_id": entry.person_id,
                                                         "inquiry_id": entry.inquiry_id,
                                                         "kind": counterpart_list.kind.value})


def _answer_open_entries(session: Session, *, actor: User, audit_key: bytes, person_id: int, day: str | None,
                         why: str) -> None:
    """His entries on frozen lists still waiting for an answer: exchanged, as the list says."""
    query = (select(ExchangeListEntry).join(ExchangeList, col(ExchangeList.id) == col(ExchangeListEntry.list_id))
             .where(ExchangeListEntry.person_id == person_id, ExchangeList.state == ListState.frozen,
                    col(ExchangeListEntry.removed_at).is_(None)))
    for entry in session.exec(query):
        if entry.outcome in exchange.FINAL_OUTCOMES:
            continue
        entry.outcome, entry.outcome_date, entry.outcome_note = Outcome.exchanged, day, why
        entry.outcome_by_id, entry.outcome_at = actor.id, utcnow()
        session.add(entry)
        audit.record(session, key=audit_key, actor=actor, action="list.outcome", entity_type="exchange_list",
                     entity_id=entry.list_id, changes={"person_id": person_id, "outcome": [None, "exchanged"],
                                                       "reason": why})


@dataclass
class EntryView:
    entry: CounterpartEntry
    candidates: int
    best: float | None


@dataclass
class CounterpartDetail:
    counterpart_list: CounterpartList
    linked: list[EntryView] = field(default_factory=list)
    to_review: list[EntryView] = field(default_factory=list)
    unmatched: list[EntryView] = field(default_factory=list)


def list_detail(session: Session, list_id: int) -> CounterpartDetail:
    row = session.get(CounterpartList, list_id)
    if row is None:
        raise NotFound()
    detail = CounterpartDetail(row)
    entries = list(session.exec(select(CounterpartEntry).where(CounterpartEntry.list_id == list_id)
                                .order_by(col(CounterpartEntry.row_number))))
    pairs: dict[int, list[MatchCandidate]] = {}
    ids = [e.id for e in entries if e.id is not None]
    for i in range(0, len(ids), 500):
        for pair in session.exec(select(MatchCandidate).where(MatchCandidate.left_kind == matching.COUNTERPART,
                                                              col(MatchCandidate.left_id).in_(ids[i : i + 500]))):
            pairs.setdefault(pair.left_id, []).append(pair)
    for entry in entries:
        open_pairs = [p for p in pairs.get(entry.id or 0, []) if p.status == MatchStatus.candidate]
        view = EntryView(entry, len(open_pairs), max((p.score for p in open_pairs), default=None))
        if entry.person_id is not None or entry.inquiry_id is not None:
            detail.linked.append(view)
        elif open_pairs:
            detail.to_review.append(view)
        else:
            detail.unmatched.append(view)
    return detail


def lists(session: Session) -> list[CounterpartList]:
    return list(session.exec(select(CounterpartList).order_by(col(CounterpartList.id).desc())))
