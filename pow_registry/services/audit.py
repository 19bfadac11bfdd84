"""The append-only audit log, chained with a keyed hash.

Each event's HMAC covers its own content and the previous event's HMAC, so deleting, inserting
or editing an event (even by someone with database access but without the key) breaks the chain.
The head (one row: the last event's id and hash, the number of events) carries a MAC with the
same key, so cutting the log short and re-pointing the head, or wiping every event, shows too.
What the database alone cannot show is a cut by someone who deletes the head as well (the log
then looks never used) or who holds the key: an anchor does. `make_anchor` signs the log's end
at a moment; kept outside the database (mail, paper, an RFC 3161 timestamp), it proves later
that the log still holds that event at that place and goes on from it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.models import AuditEvent, AuditHead, User
from pow_registry.services.transactions import insert_many

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Changed fields as {field: [old, new]}."""
    changed: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = _jsonable(before.get(key)), _jsonable(after.get(key))
        if old != new:
            changed[key] = [old, new]
    return changed


def snapshot(obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
    data = obj.model_dump()
    data.pop("version", None)
    if fields is not None:
        data = {k: data[k] for k in fields if k in data}
    return {k: _jsonable(v) for k, v in data.items()}


def _digest(key: bytes, prev_hash: str, event: Any) -> str:
    """The event's keyed hash; `event` is an AuditEvent or a row with the same columns."""
    payload = json.dumps(
        [prev_hash, event.at.isoformat(), event.actor_id, event.actor_email, event.action,
         event.entity_type, event.entity_id, event.changes],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hmac.new(key, payload.encode("utf-8"), hashlib.sha256).hexdigest()


# Domain separation: a head's or an anchor's MAC can never pass for an event's hash, nor the
# other way round (an event's payload is a JSON array, these start with their label).
_HEAD_LABEL = b"pow_registry audit head\x00"
_ANCHOR_LABEL = b"pow_registry audit anchor\x00"


def event_is_intact(key: bytes, event: Any) -> bool:
    """One event's keyed hash still covers its content and its link to the one before: what the
    chain's walk checks at each step, for a caller that trusts a single event (an export's)."""
    return hmac.compare_digest(event.hash, _digest(key, event.prev_hash, event))


def _head_mac(key: bytes, head: Any) -> str:
    """The head's MAC over what it says about the log; `head` is an AuditHead or a row."""
    payload = json.dumps([head.last_event_id, head.last_hash, head.event_count, head.broken_at_event_id],
                         separators=(",", ":"))
    return hmac.new(key, _HEAD_LABEL + payload.encode("ascii"), hashlib.sha256).hexdigest()


def _head_matches(key: bytes, head: Any) -> bool:
    return bool(head.mac) and hmac.compare_digest(head.mac, _head_mac(key, head))


def _head_is_blank(head: Any) -> bool:
    """The state a head row is created in, before the first event."""
    return (not head.mac and not head.last_hash and head.last_event_id is None and not head.event_count
            and head.broken_at_event_id is None)


def _events_table() -> Any:
    return AuditEvent.__table__  # type: ignore[attr-defined]


def _head_table() -> Any:
    return AuditHead.__table__  # type: ignore[attr-defined]


def _event_columns() -> list[Any]:
    # Named, not `select(table)`: what the chain covers, and readable by migration 0011 whatever
    # columns later versions add.
    table = _events_table()
    return [table.c.id, table.c.at, table.c.actor_id, table.c.actor_email, table.c.action, table.c.entity_type,
            table.c.entity_id, table.c.changes, table.c.prev_hash, table.c.hash]


def _read_head(connection: Connection) -> Any:
    table = _head_table()
    return connection.execute(
        sa_select(table.c.last_event_id, table.c.last_hash, table.c.event_count, table.c.broken_at_event_id,
                  table.c.mac).where(table.c.id == 1)
    ).first()


def _any_event(connection: Connection) -> bool:
    return connection.execute(sa_select(_events_table().c.id).limit(1)).first() is not None


@sa_event.listens_for(Session, "before_commit")
def _head_learns_last_event(session: Session) -> None:
    pending = session.info.pop("audit_last_event", None)
    if pending is None or pending[0] is not session.get_transaction():
        return
    session.flush()
    cached = session.info.get("audit_head")
    if cached is not None and cached[0] is pending[0]:
        head = cached[1]
        head.last_event_id = pending[1].id
        head.mac = _head_mac(pending[2], head)


def _locked_head(session: Session, key: bytes) -> AuditHead:
    """The chain head for this transaction: locked once, then kept (the lock lasts until commit).

    When first locked it must match its MAC (or be the blank head of a log without events). If it
    does not, someone changed it without the key (say, after cutting the log short) or another
    key is in use: the append goes ahead (the work must not stop), but the head records where it
    was found so, under its new MAC, and verifying fails from then on instead of the next append
    quietly sealing the cut.
    """
    transaction = session.get_transaction()
    cached = session.info.get("audit_head")
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    head = _lock_head(session)
    if not _head_matches(key, head) and not (_head_is_blank(head) and not _any_event(session.connection())):
        if head.broken_at_event_id is None:
            head.broken_at_event_id = head.last_event_id or 0
        logger.error("The audit chain's head does not match its MAC (last event %s): it was changed without the "
                     "audit key, or AUDIT_KEY is not the key the log was written with. `pow-registry audit verify` "
                     "will report it.", head.last_event_id)
    session.info["audit_head"] = (session.get_transaction(), head)  # begun by now
    return head


def _lock_head(session: Session) -> AuditHead:
    """The chain head, read fresh from the database and locked until the caller commits.

    populate_existing: a session that keeps objects across commits must never chain to the head
    it saw in an earlier transaction. The first append creates the row without racing another
    first append (INSERT ... ON CONFLICT DO NOTHING, then lock it).
    """
    query = select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    head = session.exec(query).first()
    if head is None:
        dialect = session.get_bind().dialect.name
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
        if insert is not None:
            session.exec(insert(AuditHead).values(id=1, last_hash="").on_conflict_do_nothing())  # type: ignore[attr-defined]
        else:  # pragma: no cover - only PostgreSQL and SQLite are supported
            session.add(AuditHead(id=1, last_hash=""))
            session.flush()
        head = session.exec(query).one()
    return head


def record(
    session: Session,
    *,
    key: bytes,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction (the caller commits)."""
    head = _locked_head(session, key)
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        changes=_changes_text(changes),
        prev_hash=head.last_hash,
        hash="",
    )
    event.hash = _digest(key, head.last_hash, event)
    session.add(event)
    head.last_hash = event.hash
    head.event_count = (head.event_count or 0) + 1
    session.add(head)
    # The event's id exists only after a flush; rather than flush once per event, the head learns
    # its last event id (and gets its new MAC) just before the transaction commits (see
    # _head_learns_last_event).
    session.info["audit_last_event"] = (session.get_transaction(), event, key)
    return event


def _changes_text(changes: dict[str, Any] | None) -> str:
    return json.dumps(changes or {}, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class Pending:
    """One event for `record_many`: what `record` takes besides the session, key and actor."""

    action: str
    entity_type: str
    entity_id: int | None
    changes: dict[str, Any] | None = None


@dataclass(frozen=True)
class _NewEvent:
    """An event's columns before it has an id (what `_digest` reads)."""

    at: datetime
    actor_id: int | None
    actor_email: str
    action: str
    entity_type: str
    entity_id: int | None
    changes: str


def record_many(session: Session, *, key: bytes, actor: User | None, events: list[Pending]) -> None:
    """Append many events, in this order, inside the caller's transaction (the caller commits):
    the same events `record` would append one by one (same columns, same chain), each hashed in
    order here and all inserted at once, for an import of thousands of rows.

    Whatever was recorded one by one before is flushed first, so the ids follow the chain."""
    if not events:
        return
    session.flush()
    session.info.pop("audit_last_event", None)  # flushed: the head learns the last id below
    head = _locked_head(session, key)
    actor_id, actor_email = (actor.id, actor.email) if actor else (None, "")
    rows: list[dict[str, Any]] = []
    prev_hash = head.last_hash
    for pending in events:
        row = _NewEvent(at=clock.now(), actor_id=actor_id, actor_email=actor_email, action=pending.action,
                   entity_type=pending.entity_type, entity_id=pending.entity_id,
                   changes=_changes_text(pending.changes))
        digest = _digest(key, prev_hash, row)
        rows.append({**row.__dict__, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    ids = insert_many(session, AuditEvent, rows)
    head.last_hash = prev_hash
    head.event_count = (head.event_count or 0) + len(rows)
    head.last_event_id = ids[-1]
    head.mac = _head_mac(key, head)
    session.add(head)


@dataclass
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_event_id: int | None = None
    problem: str = ""
    # The end of the verified log (when ok): what an anchor records.
    last_event_id: int | None = None
    last_hash: str = ""


@dataclass(frozen=True)
class Anchor:
    """A signed statement of the log's end at a moment, kept outside the database: the log must
    still hold `event_id` with `event_hash` as its `event_count`-th event, and go on from it."""

    event_id: int
    event_hash: str
    event_count: int
    at: datetime
    mac: str = ""

    def described(self) -> str:
        return f"the anchor of {self.at.isoformat()} (event {self.event_id}, {self.event_count} events)"


class AnchorError(ValueError):
    """The text is not an audit anchor."""


class ChainBroken(Exception):  # noqa: N818 - a state, not a failure of the code
    def __init__(self, report: ChainReport) -> None:
        super().__init__(report.problem)
        self.report = report


class EmptyLog(Exception):  # noqa: N818 - a state, not a failure of the code
    """There is no event to anchor yet."""


ANCHOR_TYPE = "pow-registry audit anchor"
ANCHOR_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _anchor_mac(key: bytes, anchor: Anchor) -> str:
    payload = json.dumps([ANCHOR_VERSION, anchor.event_id, anchor.event_hash, anchor.event_count,
                          anchor.at.isoformat()], separators=(",", ":"))
    return hmac.new(key, _ANCHOR_LABEL + payload.encode("ascii"), hashlib.sha256).hexdigest()


def anchor_is_authentic(anchor: Anchor, key: bytes) -> bool:
    return hmac.compare_digest(anchor.mac, _anchor_mac(key, anchor))


def make_anchor(session: Session, *, key: bytes) -> Anchor:
    """Verify the whole chain and anchor its end, at the clock's time (whole seconds).

    Raises ChainBroken when the chain does not verify (an anchor of a broken log would vouch for
    it) and EmptyLog when there is no event yet.
    """
    report = verify_chain(session, key=key)
    if not report.ok:
        raise ChainBroken(report)
    if not report.events_checked or report.last_event_id is None:
        raise EmptyLog("the audit log has no event yet")
    anchor = Anchor(event_id=report.last_event_id, event_hash=report.last_hash, event_count=report.events_checked,
                    at=clock.now().replace(microsecond=0))
    return replace(anchor, mac=_anchor_mac(key, anchor))


def anchor_text(anchor: Anchor) -> str:
    """The anchor as a small JSON document (what `pow-registry audit anchor` prints)."""
    return json.dumps({
        "type": ANCHOR_TYPE, "version": ANCHOR_VERSION, "event_id": anchor.event_id,
        "event_hash": anchor.event_hash, "event_count": anchor.event_count, "at": anchor.at.isoformat(),
        "mac": anchor.mac,
        "note": "Keep this outside the registry's database; check the log against it with "
                "`pow-registry audit verify --anchor FILE`.",
    }, indent=2) + "\n"


def parse_anchor(text: str) -> Anchor:
    """An anchor from the text `anchor_text` made, also when pasted into a mail among other text
    (the first `{` to the last `}`). Raises AnchorError, saying what is wrong."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise AnchorError("no JSON object in it")
    try:
        data = json.loads(text[start:end + 1])
    except ValueError as exc:
        raise AnchorError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != ANCHOR_TYPE:
        raise AnchorError(f"its \"type\" is not {ANCHOR_TYPE!r}")
    if data.get("version") != ANCHOR_VERSION:
        raise AnchorError(f"version {data.get('version')!r} is not one this version reads ({ANCHOR_VERSION})")
    event_id: Any = data.get("event_id")
    count: Any = data.get("event_count")
    event_hash: Any = data.get("event_hash")
    at: Any = data.get("at")
    mac: Any = data.get("mac")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (event_id, count)):
        raise AnchorError("\"event_id\" and \"event_count\" must be whole numbers above 0")
    if not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in (event_hash, mac)):
        raise AnchorError("\"event_hash\" and \"mac\" must be 64 hexadecimal digits")
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise AnchorError("\"at\" must be a date and time with its UTC offset")
    return Anchor(event_id=event_id, event_hash=event_hash, event_count=count, at=moment, mac=mac)


class _Walk:
    """Walks the events in id order, recomputing every link; remembers where it got to."""

    def __init__(self, key: bytes, anchor: Anchor | None) -> None:
        self.key, self.anchor = key, anchor
        self.prev_hash = ""
        self.checked = 0
        self.cursor = 0
        self.last_seen_id: int | None = None

    def run(self, connection: Connection, *, batch: int, upto: int | None = None) -> ChainReport | None:
        """Walk on from where it got to (up to event `upto`); a report when a link is broken."""
        table = _events_table()
        while True:
            query = sa_select(*_event_columns()).where(table.c.id > self.cursor)
            if upto is not None:
                query = query.where(table.c.id <= upto)
            events = connection.execute(query.order_by(table.c.id).limit(batch)).all()
            if not events:
                return None
            for event in events:
                if event.prev_hash != self.prev_hash:
                    return ChainReport(False, self.checked, event.id, "an event is missing or out of order before this one")
                if not event_is_intact(self.key, event):  # its prev_hash is ours, checked just above
                    return ChainReport(False, self.checked, event.id, "this event was altered")
                self.prev_hash = event.hash
                self.checked += 1
                self.cursor = self.last_seen_id = event.id
                anchor = self.anchor
                if anchor is not None and self.checked == anchor.event_count and (
                        event.id != anchor.event_id or event.hash != anchor.event_hash):
                    return ChainReport(False, self.checked - 1, event.id,
                                       f"{anchor.described()} says event {anchor.event_id} with hash "
                                       f"{anchor.event_hash[:12]}… is event number {anchor.event_count}, and here it "
                                       f"is event {event.id} with hash {event.hash[:12]}…: the log up to the anchor "
                                       "was rewritten")


def verify_chain(session: Session, *, key: bytes, batch: int = 5000, anchor: Anchor | None = None) -> ChainReport:
    """Walk the whole log in id order, recompute every link, and check the head's MAC, the
    number of events and the last one against it; with an `anchor`, check that its MAC is right
    and the log still holds its event at its place.

    Reads plain rows, never ORM objects: an event this session already holds would otherwise be
    checked as remembered, not as stored (an edit in the database would go unseen), and the
    caller's session is left as it was.
    """
    return _verify(session.connection(), key=key, batch=batch, anchor=anchor)


def _verify(connection: Connection, *, key: bytes, batch: int, anchor: Anchor | None) -> ChainReport:
    if anchor is not None and not anchor_is_authentic(anchor, key):
        return ChainReport(False, 0, None, f"{anchor.described()} does not match its MAC: it was altered, or made "
                                           "with another audit key")
    walk = _Walk(key, anchor)
    broken = walk.run(connection, batch=batch)
    if broken:
        return broken
    head = _read_head(connection)
    if head is not None and head.last_event_id is not None and head.last_event_id > walk.cursor:
        # On PostgreSQL each query sees what was committed when it began: events appended while
        # the walk went on are in the head read after it. Walk them too (anything past the head's
        # last event was in the log before the head was read, so it is not the head's).
        broken = walk.run(connection, batch=batch, upto=head.last_event_id)
        if broken:
            return broken
    checked, last_id = walk.checked, walk.last_seen_id

    def fail(problem: str, event_id: int | None = last_id) -> ChainReport:
        return ChainReport(False, checked, event_id, problem)

    if anchor is not None and checked < anchor.event_count:
        held = "the log is empty" if not checked else f"the log holds {checked} events"
        return fail(f"{held}, but {anchor.described()} proves {anchor.event_count} events up to event "
                    f"{anchor.event_id}: events were deleted since")
    if head is None or _head_is_blank(head):
        if checked:
            return fail("the chain head is missing or blank: events after this one may have been removed")
        return ChainReport(True, 0)
    if not head.mac:
        return fail("the chain head has no MAC: it was never sealed (run `pow-registry init-db`), or its MAC was "
                    "erased")
    if not _head_matches(key, head):
        return fail("the chain head does not match its MAC: it was changed without the audit key (events at the "
                    "end removed and the head re-pointed?), or AUDIT_KEY is not the key the log was written with")
    if head.broken_at_event_id is not None:
        return fail("when an event was appended after this one, the chain head did not match its MAC (it had been "
                    "changed without the audit key, or another AUDIT_KEY was in use): events up to here may have "
                    "been removed", head.broken_at_event_id or None)
    if (head.event_count, head.last_event_id, head.last_hash) != (checked, last_id, walk.prev_hash):
        if not checked:
            return fail(f"the log is empty, but its head says {head.event_count} events were recorded, up to event "
                        f"{head.last_event_id}: they were deleted", None)
        return fail(f"events after this one were removed (the head counts {head.event_count} events, up to event "
                    f"{head.last_event_id})")
    return ChainReport(True, checked, last_event_id=last_id, last_hash=walk.prev_hash)


@dataclass
class SealReport:
    events: int
    intact: bool
    problem: str = ""


def seal_head(connection: Connection, *, key: bytes) -> SealReport:
    """Give the head of a log written before heads had a MAC its event count and MAC (migration
    0011, once). A log that does not verify is sealed as found, and marked so (broken_at_event_id):
    sealing must never vouch for a log that was already cut or altered."""
    table = _head_table()
    walk = _Walk(key, None)
    broken = walk.run(connection, batch=5000)
    count = int(connection.execute(sa_select(func.count()).select_from(_events_table())).scalar_one())
    head = _read_head(connection)
    if head is None:
        if not count:
            values: dict[str, Any] = {"last_event_id": None, "last_hash": "", "event_count": 0,
                                      "broken_at_event_id": None}
            connection.execute(table.insert().values(id=1, **values, mac=_head_mac(key, _Row(values))))
            return SealReport(0, True)
        last = connection.execute(sa_select(_events_table().c.id, _events_table().c.hash)
                                  .order_by(_events_table().c.id.desc()).limit(1)).one()
        values = {"last_event_id": last.id, "last_hash": last.hash, "event_count": count,
                  "broken_at_event_id": last.id}
        connection.execute(table.insert().values(id=1, **values, mac=_head_mac(key, _Row(values))))
        return SealReport(count, False, "the chain head was missing")
    problem = broken.problem if broken else ""
    if not broken and (head.last_hash, head.last_event_id) != (walk.prev_hash, walk.last_seen_id):
        problem = "the chain head does not name the last event"
    values = {"last_event_id": head.last_event_id, "last_hash": head.last_hash, "event_count": count,
              "broken_at_event_id": (head.last_event_id or 0) if problem else None}
    connection.execute(table.update().where(table.c.id == 1).values(**values, mac=_head_mac(key, _Row(values))))
    return SealReport(count, not problem, problem)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def search(
    session: Session,
    *,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    page_size: int | None = 50,
) -> tuple[list[AuditEvent], int]:
    """Events, newest first. `actor`: a fragment of the email or the display name, any case;
    `since`/`until`: days (UTC), both included; `page_size` None: every event that matches."""
    from sqlalchemy import or_

    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if actor and actor.strip():
        like = "%" + actor.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        named = select(User.id).where(func.lower(User.display_name).like(like, escape="\\"))
        query = query.where(or_(func.lower(AuditEvent.actor_email).like(like, escape="\\"),
                                col(AuditEvent.actor_id).in_(named)))
    if since is not None:
        query = query.where(col(AuditEvent.at) >= datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:
        query = query.where(col(AuditEvent.at) < datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    ordered = query.order_by(col(AuditEvent.id).desc())
    if page_size is not None:
        ordered = ordered.offset((max(page, 1) - 1) * page_size).limit(page_size)
    rows = session.exec(ordered).all()
    return list(rows), int(total)
