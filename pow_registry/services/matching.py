"""Cross-referencing: the matcher kept in step with the database, and the review of its pairs.

Every commit that creates or changes a person, a capture report or an inquiry has the records
it touched matched (a session hook, so no code path can forget it: the web forms, the imports
and the CLI all go through it). Where the app runs jobs (`MATCHING_IN_JOBS`, the default), the
commit only queues them in `match_pending` and a worker matches them a moment later
(`match_queued`): the index of the whole registry lives in the process that runs jobs, built
when it starts, never in a web request, and several web processes do not each hold a copy.
Otherwise (the command line, and an app configured so) they are matched inside the transaction
before it commits. A record whose matching fields did not change (its *fingerprint*) is left
alone, so editing a note or verifying evidence costs nothing.

Each process keeps one in-memory `MatchIndex` per database. The database holds, per record, the
revision at which its fingerprint last changed, and one `match_state` row with the latest
revision; matching locks that row, so writers take turns, and brings the process's index up to
date by reading only the records changed since it last looked. A process that finds the row
recreated (a new epoch) or its own state unknown rebuilds the index from the tables.

The pairs live in `match_candidate`, one row per pair, oriented (left kind, id) < (right kind,
id): an inquiry is always left of a person. A candidate the matcher stops finding is deleted; a
confirmed or rejected pair is kept. A rejected pair comes back as a candidate only when one of
its two records has changed since the rejection (its fingerprint differs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, event, func, inspect, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pow_registry.domain.matching import (
    DEFAULT_MODEL,
    DEFAULT_THRESHOLD,
    Match,
    MatchIndex,
    MatchModel,
    MatchRecord,
    PreparedRecord,
    estimate_model,
    prepare,
)
from pow_registry.domain.spreadsheet import safe_cell_text
from pow_registry.models import (
    CaptureReport,
    CounterpartEntry,
    Inquiry,
    InquiryStatus,
    MatchCandidate,
    MatchPending,
    MatchRecordState,
    MatchState,
    MatchStatus,
    Person,
    ReportClaim,
    utcnow,
)
from pow_registry.services.errors import NotFound

log = logging.getLogger(__name__)

Key = tuple[str, int]
# Names on a counterpart list (services/counterpart.py): matched against the index like an
# inquiry but never indexed; their pairs are stored with this kind on the left.
COUNTERPART = "counterpart"

#: Probability at or above which a pair becomes a candidate, per pair of kinds. Inquiry ↔ person
#: uses the matcher's default (precision 0.92, recall 0.976 on bench/matching.py); duplicates
#: among persons or inquiries need more (at 0.2 person ↔ person precision is 0.51: namesakes
#: without a birth date).
THRESHOLDS: dict[tuple[str, str], float] = {
    ("inquiry", "person"): DEFAULT_THRESHOLD,
    ("inquiry", "inquiry"): 0.5,
    ("person", "person"): 0.6,
}
_QUERY_THRESHOLD = min(THRESHOLDS.values())
REASON_MAX = 1000
MAX_PAGE_SIZE = 200
#: From this probability up a candidate is shown as "likely", below it as "possible".
LIKELY = 0.8
#: Inquiries whose blocked pairs teach the model the expected matches per inquiry.
_PRIOR_SAMPLE = 5000


# --- what the matcher reads of a record ------------------------------------------------------


def person_record(person: Any, reports: Iterable[Any]) -> MatchRecord:
    """A person as the matcher sees him: the capture date and place of his earliest capture.
    (`person` and `reports`: rows or objects with the columns of Person and CaptureReport.)"""
    captured = [r for r in reports if r.claim == ReportClaim.captured] or list(reports)
    captured.sort(key=lambda r: (r.capture_date is None, r.capture_date or "", r.id or 0))
    first = captured[0] if captured else None
    return MatchRecord(
        record_id=_rid(person.id),
        kind="person",
        surname=person.surname,
        given_name=person.given_name,
        patronymic=person.patronymic,
        date_of_birth=person.date_of_birth,
        unit=person.unit or (first.reported_unit if first else None),
        place=first.capture_place if first else None,
        event_date=first.capture_date if first else None,
        service_category=person.service_category.value if person.service_category else None,
        call_sign=person.call_sign or None,
    )


def inquiry_record(inquiry: Any) -> MatchRecord:
    return MatchRecord(
        record_id=_rid(inquiry.id),
        kind="inquiry",
        surname=inquiry.surname,
        given_name=inquiry.given_name,
        patronymic=inquiry.patronymic,
        date_of_birth=inquiry.date_of_birth,
        unit=inquiry.unit,
        place=inquiry.last_known_place,
        event_date=inquiry.last_contact_date,
        service_category=inquiry.service_category.value if inquiry.service_category else None,
    )


def counterpart_record(entry: Any) -> MatchRecord:
    """A name on a counterpart list as the matcher reads it (like an inquiry: it is looked up,
    not indexed)."""
    return MatchRecord(record_id=f"c{entry.id}", kind="inquiry", surname=entry.surname,
                       given_name=entry.given_name, patronymic=entry.patronymic,
                       date_of_birth=entry.date_of_birth, unit=entry.unit, place=entry.place)


def _rid(record_id: int | None) -> str:
    """Zero-padded, so the matcher's order of ids (text) is the order of the numbers."""
    assert record_id is not None
    return f"{record_id:010d}"


def fingerprint(record: MatchRecord | None) -> str:
    """What the matcher reads of a record, hashed: "" for a record that is out of the index."""
    if record is None:
        return ""
    fields = [record.surname, record.given_name, record.patronymic, record.date_of_birth,
              record.unit, record.place, record.event_date, record.service_category]
    if record.call_sign:  # only then: the fingerprints of records without one stay as they were
        fields.append(record.call_sign)
    payload = json.dumps([f or "" for f in fields], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


_PERSON_COLUMNS: tuple[Any, ...] = (col(Person.id), col(Person.surname), col(Person.given_name), col(Person.patronymic), col(Person.date_of_birth),
                   col(Person.unit), col(Person.service_category), col(Person.call_sign))
_REPORT_COLUMNS: tuple[Any, ...] = (col(CaptureReport.id), col(CaptureReport.person_id), col(CaptureReport.claim), col(CaptureReport.capture_date),
                   col(CaptureReport.capture_place), col(CaptureReport.reported_unit))
_INQUIRY_COLUMNS: tuple[Any, ...] = (col(Inquiry.id), col(Inquiry.surname), col(Inquiry.given_name), col(Inquiry.patronymic), col(Inquiry.date_of_birth),
                    col(Inquiry.unit), col(Inquiry.last_known_place), col(Inquiry.last_contact_date), col(Inquiry.service_category))


def load_records(session: Session, keys: Iterable[Key] | None = None) -> dict[Key, MatchRecord | None]:
    """The current match records of `keys` (None: every record in the index). A merged person
    or a closed inquiry is None: it leaves the index. (Plain column reads: at 50,000 persons,
    loading ORM objects would cost more than matching them.)"""
    wanted = None if keys is None else list(keys)
    found: dict[Key, MatchRecord | None] = {key: None for key in wanted or ()}
    person_ids = None if wanted is None else sorted({i for k, i in wanted if k == "person"})
    inquiry_ids = None if wanted is None else sorted({i for k, i in wanted if k == "inquiry"})

    def persons() -> Iterator[list[Any]]:
        query = sa_select(*_PERSON_COLUMNS).where(col(Person.merged_into_id).is_(None))
        if person_ids is None:
            yield list(session.exec(query.order_by(col(Person.id))))  # type: ignore[call-overload]
        else:
            for chunk in _chunks(person_ids):
                yield list(session.exec(query.where(col(Person.id).in_(chunk))))  # type: ignore[call-overload]

    for batch in persons():
        by_person: dict[int, list[Any]] = {}
        reports: Iterable[Any]
        if person_ids is None:
            reports = session.exec(sa_select(*_REPORT_COLUMNS))  # type: ignore[call-overload]
        else:
            ids = [p.id for p in batch]
            reports = (r for chunk in _chunks(ids) for r in session.exec(  # type: ignore[call-overload]
                sa_select(*_REPORT_COLUMNS).where(col(CaptureReport.person_id).in_(chunk))))
        for report in reports:
            by_person.setdefault(report.person_id, []).append(report)
        for person in batch:
            found[("person", person.id)] = person_record(person, by_person.get(person.id, []))

    query = sa_select(*_INQUIRY_COLUMNS).where(col(Inquiry.status) != InquiryStatus.closed)
    if inquiry_ids is None:
        inquiries: Iterable[Any] = session.exec(query.order_by(col(Inquiry.id)))  # type: ignore[call-overload]
    else:
        inquiries = [i for chunk in _chunks(inquiry_ids)
                     for i in session.exec(query.where(col(Inquiry.id).in_(chunk)))]  # type: ignore[call-overload]
    for inquiry in inquiries:
        found[("inquiry", inquiry.id)] = inquiry_record(inquiry)
    return found


# --- the process's index, kept in step with the database -------------------------------------


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.index: MatchIndex | None = None
        self.epoch = ""
        self.revision = -1


_CACHES: OrderedDict[str, _Cache] = OrderedDict()
_CACHES_LOCK = threading.Lock()
_MAX_CACHES = 4  # databases one process works with at a time (tests make many, briefly)


def _cache_key(engine: Any) -> str:
    return str(engine.url.render_as_string(hide_password=False))


def _cache_for(session: Session) -> _Cache:
    url = _cache_key(session.get_bind().engine)
    with _CACHES_LOCK:
        cache = _CACHES.get(url)
        if cache is None:
            cache = _CACHES[url] = _Cache()
            while len(_CACHES) > _MAX_CACHES:
                _CACHES.popitem(last=False)
        _CACHES.move_to_end(url)
        return cache


def index_size(engine: Any) -> int | None:
    """Records in this process's index of that engine's database (None until it is built): a metric."""
    with _CACHES_LOCK:
        cache = _CACHES.get(_cache_key(engine))
    index = cache.index if cache is not None else None
    return len(index) if index is not None else None


def _locked_state(session: Session) -> MatchState:
    """The match_state row, locked until commit (created on first use, without a race)."""
    query = select(MatchState).where(MatchState.id == 1).with_for_update().execution_options(populate_existing=True)
    state = session.exec(query).first()
    if state is None:
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
        session.exec(insert(MatchState).values(id=1, epoch=uuid.uuid4().hex, revision=0).on_conflict_do_nothing())  # type: ignore[attr-defined]
        state = session.exec(query).one()
    return state


def _frozen(state: MatchState) -> dict[str, object]:
    return json.loads(state.statistics) if state.statistics else {}


def _rebuild(session: Session, cache: _Cache, state: MatchState) -> None:
    started = time.perf_counter()
    records = [r for r in load_records(session).values() if r is not None]
    cache.index = MatchIndex(records, threshold=_QUERY_THRESHOLD, mutual=True,
                             statistics=_frozen(state), prior=state.prior)
    cache.epoch, cache.revision = state.epoch, state.revision
    # Seconds at 50,000 persons: the operator should see which process paid for it, and when.
    log.info("match index built", extra={"records": len(records),
                                         "duration_ms": round((time.perf_counter() - started) * 1000, 1)})


def _reviewed_pairs(session: Session, by_key: dict[tuple[str, str], PreparedRecord],
                    status: MatchStatus) -> list[tuple[PreparedRecord, PreparedRecord]]:
    """Inquiry ↔ person pairs staff reviewed, as the model's labels."""
    rows = session.exec(select(MatchCandidate.left_id, MatchCandidate.right_id).where(
        MatchCandidate.left_kind == "inquiry", MatchCandidate.right_kind == "person", MatchCandidate.status == status))
    pairs = []
    for left_id, right_id in rows:
        a, b = by_key.get(("inquiry", _rid(left_id))), by_key.get(("person", _rid(right_id)))
        if a is not None and b is not None:
            pairs.append((a, b))
    return pairs


def learn_model(session: Session, index: MatchIndex) -> MatchModel:
    """The model learned from the indexed registry and inquiries and the reviewed pairs (the
    hand-set one, with a note saying why, while there are too few of them). The index's blocking
    says which persons are candidates of an inquiry, as it does for the app's own queries."""
    prepared = list(index)
    persons = [p for p in prepared if p.record.kind == "person"]
    inquiries = [p for p in prepared if p.record.kind == "inquiry"]
    sample = inquiries[:: max(1, len(inquiries) // _PRIOR_SAMPLE)]
    by_key = {p.key: p for p in prepared}
    return estimate_model(
        inquiries, persons,
        confirmed=_reviewed_pairs(session, by_key, MatchStatus.confirmed),
        rejected=_reviewed_pairs(session, by_key, MatchStatus.rejected),
        candidates=[(q, [p for p in index.candidates(q) if p.record.kind == "person"]) for q in sample],
    )  # fmt: skip


def _refresh_statistics(session: Session, cache: _Cache, state: MatchState) -> MatchIndex:
    """Count the name and unit frequencies afresh, learn the model, freeze both, and make every
    process rebuild."""
    prepared = [prepare(r) for r in load_records(session).values() if r is not None]
    live = MatchIndex(prepared)
    live.use_model(learn_model(session, live))
    state.statistics = json.dumps(live.statistics(), ensure_ascii=False, sort_keys=True)
    state.prior = live.prior
    state.statistics_at = utcnow()
    state.epoch = uuid.uuid4().hex
    state.revision += 1
    session.add(state)
    cache.index = MatchIndex(prepared, threshold=_QUERY_THRESHOLD, mutual=True,
                             statistics=_frozen(state), prior=state.prior)
    cache.epoch, cache.revision = state.epoch, state.revision
    return cache.index


def current_model(session: Session) -> MatchModel:
    """The model the matcher scores with now (frozen with the statistics by `match --all`)."""
    state = session.get(MatchState, 1)
    frozen = _frozen(state) if state is not None else {}
    model = frozen.get("model")
    return MatchModel.from_dict(model) if isinstance(model, dict) else DEFAULT_MODEL


def _sync(session: Session, cache: _Cache, state: MatchState) -> MatchIndex:
    """Bring this process's index to the database's revision (the state row is locked)."""
    if cache.index is None or cache.epoch != state.epoch or cache.revision > state.revision:
        _rebuild(session, cache, state)
    elif cache.revision < state.revision:
        changed = session.exec(
            select(MatchRecordState.kind, MatchRecordState.record_id).where(MatchRecordState.revision > cache.revision)
        ).all()
        index = cache.index
        for key, record in load_records(session, [(k, i) for k, i in changed]).items():
            if record is not None:
                index.update(record)
            elif (key[0], _rid(key[1])) in index:
                index.remove(key[0], _rid(key[1]))
        cache.revision = state.revision
    assert cache.index is not None
    return cache.index


# --- re-matching -----------------------------------------------------------------------------


def explanation(match: Match) -> str:
    return json.dumps(
        {
            "prior": match.prior,
            # The English detail for scripts and the CSV; "says": the same as translatable messages.
            "fields": [[f.field, f.level, f.weight, f.detail, [say.as_json() for say in f.says]]
                       for f in match.fields],
            "notes": list(match.notes),
            "note_says": [say.as_json() for say in match.note_says],
        },
        ensure_ascii=False,
    )


def _key(kind: str, record_id: str) -> Key:
    return kind, int(record_id)


def _pairs_of(index: MatchIndex, key: Key) -> dict[tuple[Key, Key], Match]:
    """The pairs of one record at or above their kinds' thresholds, scored left to right."""
    prepared = index.get(key[0], _rid(key[1]))
    if prepared is None:
        return {}
    pairs: dict[tuple[Key, Key], Match] = {}
    for match in index.query(prepared, mutual=True, oriented=True):
        left, right = _key(match.left_kind, match.left_id), _key(match.right_kind, match.right_id)
        if match.probability >= THRESHOLDS[(left[0], right[0])]:
            pairs[(left, right)] = match
    return pairs


def _existing(session: Session, keys: list[Key]) -> dict[Key, list[MatchCandidate]]:
    """The stored pairs of each record, read in a few queries (not one per record)."""
    rows: dict[int, MatchCandidate] = {}
    for kind in ("inquiry", "person"):
        for chunk in _chunks([i for k, i in keys if k == kind]):
            for side_kind, side_id in ((MatchCandidate.left_kind, MatchCandidate.left_id),
                                       (MatchCandidate.right_kind, MatchCandidate.right_id)):
                query = select(MatchCandidate).where(col(side_kind) == kind, col(side_id).in_(chunk),
                                                     MatchCandidate.left_kind != COUNTERPART)
                rows.update((row.id, row) for row in session.exec(query) if row.id is not None)
    by_key: dict[Key, list[MatchCandidate]] = {}
    for row in rows.values():
        by_key.setdefault((row.left_kind, row.left_id), []).append(row)
        by_key.setdefault((row.right_kind, row.right_id), []).append(row)
    return by_key


@dataclass
class RematchResult:
    records: int = 0  # records whose pairs were worked out again
    new_candidates: int = 0
    dropped_candidates: int = 0
    reopened: int = 0


def _apply_pairs(session: Session, pairs: dict[tuple[Key, Key], Match], existing: list[MatchCandidate],
                 fingerprints: dict[Key, str], done: set[tuple[Key, Key]], result: RematchResult) -> None:
    """Store one record's pairs: update those known, add the new, drop candidates gone (a pair
    of two records both re-matched in this run is handled once: `done`)."""
    now = utcnow()
    for row in existing:
        pair = ((row.left_kind, row.left_id), (row.right_kind, row.right_id))
        if pair in done:
            pairs.pop(pair, None)
            continue
        done.add(pair)
        match = pairs.pop(pair, None)
        if match is None:
            if row.status == MatchStatus.candidate:
                session.delete(row)
                result.dropped_candidates += 1
            continue
        row.score, row.weight, row.explanation, row.updated_at = match.probability, match.weight, explanation(match), now
        if row.status == MatchStatus.rejected and (
            row.left_fingerprint != fingerprints[pair[0]] or row.right_fingerprint != fingerprints[pair[1]]
        ):
            row.status = MatchStatus.candidate  # a record changed since the rejection: look again
            result.reopened += 1
        session.add(row)
    for (left, right), match in pairs.items():
        if (left, right) in done:
            continue
        done.add((left, right))
        session.add(MatchCandidate(
            left_kind=left[0], left_id=left[1], right_kind=right[0], right_id=right[1],
            score=match.probability, weight=match.weight, explanation=explanation(match),
            left_fingerprint=fingerprints[left], right_fingerprint=fingerprints[right],
        ))
        result.new_candidates += 1


def _fingerprints(session: Session, index: MatchIndex, keys: Iterable[Key]) -> dict[Key, str]:
    out: dict[Key, str] = {}
    for key in keys:
        prepared = index.get(key[0], _rid(key[1]))
        out[key] = fingerprint(prepared.record if prepared is not None else None)
    return out


def rematch(session: Session, keys: Iterable[Key], *, force: bool = False,
            refresh_statistics: bool = False) -> RematchResult:
    """Re-match the records `keys` (inside the caller's transaction; the caller commits).

    Only records whose fingerprint changed are worked out again, unless `force`.
    `refresh_statistics`: count the frequencies afresh first (then pass every record, forced).
    """
    keys = sorted(set(keys))
    result = RematchResult()
    if not keys and not refresh_statistics:
        return result
    cache = _cache_for(session)
    with cache.lock:
        session.info["match_cache"] = cache  # a rollback makes this process rebuild its index
        state = _locked_state(session)
        if refresh_statistics:
            index = _refresh_statistics(session, cache, state)
        else:
            index = _sync(session, cache, state)
        records = load_records(session, keys)
        known: dict[Key, MatchRecordState] = {}
        for kind in ("inquiry", "person"):
            for chunk in _chunks([i for k, i in keys if k == kind]):
                rows = session.exec(select(MatchRecordState).where(
                    MatchRecordState.kind == kind, col(MatchRecordState.record_id).in_(chunk)))
                known.update(((row.kind, row.record_id), row) for row in rows)
        revision = state.revision + 1
        changed: list[Key] = []
        for key in keys:
            record = records.get(key)
            print_ = fingerprint(record)
            row = known.get(key)
            if row is not None and row.fingerprint == print_ and not force:
                continue
            if row is None:
                row = MatchRecordState(kind=key[0], record_id=key[1])
            if row.fingerprint != print_ or row.revision == 0:
                row.fingerprint, row.revision = print_, revision
                session.add(row)
            indexed = index.get(key[0], _rid(key[1]))
            if record is not None:
                if indexed is None or indexed.record != record:
                    index.update(record)
            elif indexed is not None:
                index.remove(key[0], _rid(key[1]))
            changed.append(key)
        if not changed:
            return result
        state.revision = revision
        session.add(state)
        cache.revision = revision
        existing = _existing(session, changed)
        done: set[tuple[Key, Key]] = set()
        for key in changed:
            pairs = _pairs_of(index, key)
            involved = {key} | {k for pair in pairs for k in pair}
            _apply_pairs(session, pairs, existing.get(key, []), _fingerprints(session, index, involved), done, result)
            result.records += 1
        inquiry_ids = [i for k, i in changed if k == "inquiry"]
        for chunk in _chunks(inquiry_ids):
            # Core UPDATE: the family's "last checked" date must not bump the row's version.
            session.exec(update(Inquiry).where(col(Inquiry.id).in_(chunk)).values(last_checked_at=utcnow()))  # type: ignore[call-overload]
        session.flush()
    return result


def match_outside(session: Session, records: list[MatchRecord]) -> list[list[Match]]:
    """Candidates for records that are not in the registry and are not indexed (names on a
    counterpart list), each pair scored in one orientation; best first per record."""
    if not records:
        return []
    cache = _cache_for(session)
    with cache.lock:
        session.info["match_cache"] = cache
        index = _sync(session, cache, _locked_state(session))
        return [index.query(record, mutual=True, oriented=True) for record in records]


def match_everything(session: Session, *, everything: bool = False) -> RematchResult:
    """`pow-registry match`: re-match what is new or changed since the matcher last saw it
    (records changed outside the app, data from before matching existed); `everything`: count
    the name frequencies afresh and re-score every record (`pow-registry match --all`)."""
    queued = session.exec(select(MatchPending.kind, MatchPending.record_id, MatchPending.token)).all()
    current = load_records(session)
    if everything:
        keys = list(current) + [(s.kind, s.record_id) for s in session.exec(select(MatchRecordState))
                                if (s.kind, s.record_id) not in current and s.fingerprint]
    else:
        seen = {(s.kind, s.record_id): s.fingerprint for s in session.exec(select(MatchRecordState))}
        keys = [key for key, record in current.items() if seen.get(key) != fingerprint(record)]
        keys += [key for key, print_ in seen.items() if print_ and key not in current]
    try:
        result = rematch(session, keys, force=everything, refresh_statistics=everything)
        if queued:  # every queued record was in `keys` (its fingerprint changed) or needs nothing
            _unqueue(session, queued)
        open_inquiries = [i for k, i in current if k == "inquiry"]
        for chunk in _chunks(open_inquiries):
            session.exec(update(Inquiry).where(col(Inquiry.id).in_(chunk)).values(last_checked_at=utcnow()))  # type: ignore[call-overload]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


# --- matching in the worker ------------------------------------------------------------------

_QUEUE_ATTRIBUTE = "pow_registry_match_queue"
#: Records the worker matches in one transaction: on SQLite the write lock is held while a batch
#: is scored, so a batch stays well under a second and other writers wait little.
QUEUED_BATCH = 200

Notify = Callable[[], object]


def match_in_jobs(engine: Any, notify: Notify | None) -> None:
    """From now on, commits through `engine` (and its read-only variants) queue the records they
    change in `match_pending`, and call `notify` after the commit (it puts a wake-up on the job
    queue), instead of matching inside the transaction; None: match inside it again."""
    setattr(engine.dialect, _QUEUE_ATTRIBUTE, notify)


def match_inline(session: Session) -> Session:
    """This session matches what it changes before its commits return (the command line: an
    operator's command ends with its work done, whether or not a worker runs)."""
    session.info["match_inline"] = True
    return session


def _queue_of(session: Session) -> Notify | None:
    if session.info.get("match_inline"):
        return None
    return getattr(session.get_bind().dialect, _QUEUE_ATTRIBUTE, None)  # type: ignore[no-any-return]


def _queue(session: Session, keys: Iterable[Key]) -> None:
    """Add the records to match_pending in the caller's transaction (again with a new token when
    already there: the worker then keeps the row for the newer change)."""
    rows = [{"kind": kind, "record_id": record_id, "token": uuid.uuid4().hex, "queued_at": utcnow()}
            for kind, record_id in sorted(set(keys))]
    if not rows:
        return
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
    upsert: Any = insert(MatchPending.__table__)  # type: ignore[attr-defined]
    statement = upsert.on_conflict_do_update(
        index_elements=["kind", "record_id"],
        set_={"token": upsert.excluded.token, "queued_at": upsert.excluded.queued_at})
    connection = session.connection()  # Core, many rows at once (the ORM has no bulk upsert)
    for start in range(0, len(rows), 500):
        connection.execute(statement, rows[start:start + 500])


def _unqueue(session: Session, rows: Iterable[Any]) -> None:
    """Remove these (kind, record_id, token) rows from the queue; one queued again since (a new
    token) stays."""
    table = MatchPending.__table__  # type: ignore[attr-defined]
    statement = delete(table).where(table.c.kind == bindparam("k"), table.c.record_id == bindparam("i"),
                                    table.c.token == bindparam("t"))
    params = [{"k": kind, "i": record_id, "t": token} for kind, record_id, token in rows]
    if params:
        session.connection().execute(statement, params)


def queued_count(session: Session) -> int:
    return int(session.exec(sa_select(func.count()).select_from(MatchPending)).one()[0])  # type: ignore[call-overload]


def is_queued(session: Session, kind: str, record_id: int) -> bool:
    """The record changed and the worker has not matched it yet (its candidates may be missing)."""
    return session.get(MatchPending, (kind, record_id)) is not None


def warm_index(session: Session) -> int | None:
    """Build (or bring up to date) this process's index from a read-only transaction: the worker
    does it when it starts, so neither a web request nor a writer's lock pays for it. The number
    of records indexed; None when nothing was ever matched (no state yet)."""
    state = session.get(MatchState, 1)
    if state is None:
        return None
    cache = _cache_for(session)
    with cache.lock:
        index = _sync(session, cache, state)
        return len(index)


def match_queued(session: Session, *, read_session: Session | None = None,
                 batch: int = QUEUED_BATCH) -> RematchResult:
    """The worker's side: match every queued record, `batch` at a time, each batch in a
    transaction of its own that also removes its rows from the queue. A record queued again
    while it was being matched (a newer token) stays queued for the next round.

    `read_session`: a read-only session in which the index is brought up to date first, so that
    on SQLite the write lock is not held while a large index is built."""
    total = RematchResult()
    if read_session is not None:
        warm_index(read_session)
        read_session.rollback()
    while True:
        try:
            rows = session.exec(select(MatchPending.kind, MatchPending.record_id, MatchPending.token)
                                .order_by(col(MatchPending.queued_at)).limit(batch)).all()
            if not rows:
                session.rollback()
                return total
            result = rematch(session, [(kind, record_id) for kind, record_id, _token in rows])
            _unqueue(session, rows)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        total.records += result.records
        total.new_candidates += result.new_candidates
        total.dropped_candidates += result.dropped_candidates
        total.reopened += result.reopened


# --- the session hook ------------------------------------------------------------------------


def _touched(obj: Any) -> Iterator[Key]:
    if isinstance(obj, Person) and obj.id is not None:
        yield ("person", obj.id)
    elif isinstance(obj, Inquiry) and obj.id is not None:
        yield ("inquiry", obj.id)
    elif isinstance(obj, CaptureReport):
        history = inspect(obj).attrs.person_id.history
        for person_id in (*history.added, *history.deleted, *history.unchanged, obj.person_id):
            if person_id is not None:
                yield ("person", person_id)


def note_changed(session: Session, keys: Iterable[Key]) -> None:
    """These records were written without passing through the session (bulk INSERTs): have them
    matched when the transaction commits, as the hook below does for the ones it sees."""
    if session.info.get("match_off"):
        return
    session.info.setdefault("match_dirty", set()).update(keys)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    if session.info.get("match_off"):
        return
    dirty: set[Key] = session.info.setdefault("match_dirty", set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        dirty.update(_touched(obj))


@event.listens_for(Session, "before_commit")
def _rematch_before_commit(session: Session) -> None:
    if session.info.get("match_off"):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # commit flushes only after this hook: collect what it would write
    if not session.info.get("match_dirty"):
        return
    keys = session.info.pop("match_dirty", set())
    session.info["match_off"] = True
    try:
        notify = _queue_of(session)
        if notify is not None:
            _queue(session, keys)
            session.info["match_notify"] = notify
        else:
            rematch(session, keys)
    finally:
        session.info["match_off"] = False
        session.info.pop("match_dirty", None)


@event.listens_for(Session, "after_commit")
def _forget(session: Session) -> None:
    session.info.pop("match_cache", None)
    notify = session.info.pop("match_notify", None)
    if notify is not None:
        try:
            notify()
        except Exception:  # noqa: BLE001 - the rows are committed: a worker's sweep finds them
            log.exception("records queued for matching; the worker could not be woken (its sweep will find them)")


@event.listens_for(Session, "after_rollback")
def _rebuild_after_rollback(session: Session) -> None:
    session.info.pop("match_dirty", None)
    session.info.pop("match_notify", None)
    cache = session.info.pop("match_cache", None)
    if cache is not None:
        with cache.lock:
            cache.index = None  # it holds changes that never committed


# --- review ----------------------------------------------------------------------------------


@dataclass
class Side:
    kind: str
    record_id: int
    record: Any  # Person, Inquiry or CounterpartEntry (None when it is gone)
    match_record: MatchRecord | None


@dataclass
class CandidateView:
    candidate: MatchCandidate
    left: Side
    right: Side
    # (field, level, weight, detail in English, the same as translatable messages or None)
    fields: list[tuple[str, str, float, str, Any]]
    notes: list[Any]  # English text, or translatable messages
    prior: float
    # Other men proposed for the same inquiry, best first: (pair id, person id, score). Two men
    # cannot both be the one a family asks about: the reviewer must tell them apart first.
    rivals: list[tuple[int, int, float]] = field(default_factory=list)


def _side(session: Session, kind: str, record_id: int) -> Side:
    if kind == COUNTERPART:
        entry = session.get(CounterpartEntry, record_id)
        return Side(kind, record_id, entry, counterpart_record(entry) if entry is not None else None)
    record: Person | Inquiry | None = (
        session.get(Person, record_id) if kind == "person" else session.get(Inquiry, record_id)
    )
    match_record = load_records(session, [(kind, record_id)]).get((kind, record_id))
    return Side(kind, record_id, record, match_record)


def candidate_view(session: Session, candidate: MatchCandidate) -> CandidateView:
    view = _view(candidate, _side(session, candidate.left_kind, candidate.left_id),
                 _side(session, candidate.right_kind, candidate.right_id))
    view.rivals = _rivals(session, [candidate]).get(candidate.id or 0, [])
    return view


def _rivals(session: Session, candidates: list[MatchCandidate]) -> dict[int, list[tuple[int, int, float]]]:
    """For each inquiry ↔ person pair, the other persons proposed for that inquiry (one query)."""
    inquiries = sorted({row.left_id for row in candidates if row.left_kind == "inquiry" and row.right_kind == "person"})
    if not inquiries:
        return {}
    by_inquiry: dict[int, list[tuple[int, int, float]]] = {}
    for chunk in _chunks(inquiries):
        rows = session.exec(select(MatchCandidate.id, MatchCandidate.left_id, MatchCandidate.right_id, MatchCandidate.score)
                            .where(MatchCandidate.left_kind == "inquiry", MatchCandidate.right_kind == "person",
                                   MatchCandidate.status != MatchStatus.rejected, col(MatchCandidate.left_id).in_(chunk)))
        for pair_id, inquiry_id, person_id, score in rows:
            by_inquiry.setdefault(inquiry_id, []).append((pair_id or 0, person_id, score))
    out = {}
    for row in candidates:
        if row.left_kind == "inquiry" and row.right_kind == "person":
            others = [r for r in by_inquiry.get(row.left_id, []) if r[1] != row.right_id]
            out[row.id or 0] = sorted(others, key=lambda r: (-r[2], r[1]))
    return out


def _view(candidate: MatchCandidate, left: Side, right: Side) -> CandidateView:
    data = json.loads(candidate.explanation or "{}")
    return CandidateView(
        candidate=candidate, left=left, right=right,
        # A pair scored before explanations were translatable has the English text only.
        fields=[(f[0], f[1], f[2], f[3], f[4] if len(f) > 4 else None) for f in data.get("fields", [])],
        notes=list(data.get("note_says") or data.get("notes", [])),
        prior=float(data.get("prior", 0.0)),
    )


def candidate_views(session: Session, candidates: list[MatchCandidate]) -> list[CandidateView]:
    """The views of a page of pairs in a fixed number of queries, whatever the page size: the
    records of each kind in one query, their match records in one call (candidate_view per pair
    costs four to six queries)."""
    wanted: dict[str, set[int]] = {}
    for row in candidates:
        wanted.setdefault(row.left_kind, set()).add(row.left_id)
        wanted.setdefault(row.right_kind, set()).add(row.right_id)
    records: dict[Key, Any] = {}
    models: tuple[tuple[str, Any], ...] = (("person", Person), ("inquiry", Inquiry),
                                            (COUNTERPART, CounterpartEntry))
    for kind, model in models:
        for chunk in _chunks(sorted(wanted.get(kind, ()))):
            for record in session.exec(select(model).where(col(model.id).in_(chunk))):
                records[(kind, record.id)] = record
    indexed = load_records(session, [(k, i) for k in ("person", "inquiry") for i in sorted(wanted.get(k, ()))])

    def side(kind: str, record_id: int) -> Side:
        record = records.get((kind, record_id))
        if kind == COUNTERPART:
            return Side(kind, record_id, record, counterpart_record(record) if record is not None else None)
        return Side(kind, record_id, record, indexed.get((kind, record_id)))

    views = [_view(row, side(row.left_kind, row.left_id), side(row.right_kind, row.right_id)) for row in candidates]
    rivals = _rivals(session, candidates)
    for view in views:
        view.rivals = rivals.get(view.candidate.id or 0, [])
    return views


@dataclass
class QueueFilter:
    kinds: str = "inquiry-person"  # "inquiry-person", "inquiry-inquiry", "person-person"
    status: MatchStatus = MatchStatus.candidate
    inquiry_id: int | None = None
    person_id: int | None = None
    counterpart_list_id: int | None = None


def queue(session: Session, flt: QueueFilter, *, page: int = 1, page_size: int = 25) -> tuple[list[CandidateView], int]:
    """Pairs to review, best first (then oldest first, so the order is stable)."""
    left_kind, _sep, right_kind = flt.kinds.partition("-")
    query = select(MatchCandidate).where(
        MatchCandidate.left_kind == left_kind, MatchCandidate.right_kind == right_kind,
        MatchCandidate.status == flt.status,
    )
    if flt.counterpart_list_id is not None:
        entry_ids = select(CounterpartEntry.id).where(CounterpartEntry.list_id == flt.counterpart_list_id)
        query = query.where(col(MatchCandidate.left_id).in_(entry_ids))
    for kind, record_id in (("inquiry", flt.inquiry_id), ("person", flt.person_id)):
        if record_id is not None:
            query = query.where(or_(
                (col(MatchCandidate.left_kind) == kind) & (col(MatchCandidate.left_id) == record_id),
                (col(MatchCandidate.right_kind) == kind) & (col(MatchCandidate.right_id) == record_id),
            ))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    rows = session.exec(
        query.order_by(col(MatchCandidate.score).desc(), col(MatchCandidate.id)).offset((max(page, 1) - 1) * page_size).limit(page_size)
    ).all()
    return candidate_views(session, list(rows)), int(total)


def get_candidate(session: Session, match_id: int) -> MatchCandidate:
    row = session.get(MatchCandidate, match_id)
    if row is None:
        raise NotFound()
    return row


MATCHES_CSV_COLUMNS = ["inquiry_reference", "inquiry_source_ref", "person_id", "person_source_refs",
                       "score", "status", "reasons"]


def reasons_text(explanation: str) -> str:
    """A short human-readable explanation: the fields that weighed for and against."""
    data = json.loads(explanation or "{}")
    parts = []
    for name, level, weight, *_detail in data.get("fields", []):
        if level in ("missing", "") or abs(weight) < 0.05:
            continue
        parts.append(f"{name} {level} ({weight:+.1f})")
    return "; ".join(parts)


def export_rows(session: Session) -> Iterator[list[str]]:
    """Inquiry ↔ person pairs as rows of the matches CSV (contract.md), best first per inquiry."""
    query = (
        select(MatchCandidate, Inquiry)
        .join(Inquiry, col(Inquiry.id) == col(MatchCandidate.left_id))
        .where(MatchCandidate.left_kind == "inquiry", MatchCandidate.right_kind == "person")
        .order_by(col(Inquiry.reference), col(MatchCandidate.score).desc(), col(MatchCandidate.right_id))
    )
    refs: dict[int, list[str]] = {}
    for report in session.exec(select(CaptureReport).where(col(CaptureReport.source_ref).is_not(None))):
        refs.setdefault(report.person_id, []).append(report.source_ref or "")
    for row, inquiry in session.exec(query):
        # Source references are free text: opened in a spreadsheet, "=..." must stay text.
        yield [
            inquiry.reference, safe_cell_text(inquiry.source_ref or ""), str(row.right_id),
            safe_cell_text(";".join(sorted(refs.get(row.right_id, [])))), f"{row.score:.4f}", row.status.value,
            reasons_text(row.explanation),
        ]


def candidate_counts(session: Session) -> dict[str, int]:
    """Open candidates per kind of pair (for the CLI's summary)."""
    counts = {kinds: 0 for kinds in ("inquiry-person", "inquiry-inquiry", "person-person")}
    query = (select(MatchCandidate.left_kind, MatchCandidate.right_kind, func.count())
             .where(MatchCandidate.status == MatchStatus.candidate)
             .group_by(col(MatchCandidate.left_kind), col(MatchCandidate.right_kind)))
    for left, right, n in session.exec(query):
        counts[f"{left}-{right}"] = n
    return counts
