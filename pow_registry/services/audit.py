"""The append-only audit log, chained with a keyed hash.

Each event's HMAC covers its own content and the previous event's HMAC, so deleting, inserting
or editing an event (even by someone with database access but without the key) breaks the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pow_registry.models import AuditEvent, AuditHead, User


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


@sa_event.listens_for(Session, "before_commit")
def _head_learns_last_event(session: Session) -> None:
    pending = session.info.pop("audit_last_event", None)
    if pending is None or pending[0] is not session.get_transaction():
        return
    session.flush()
    cached = session.info.get("audit_head")
    if cached is not None and cached[0] is pending[0]:
        cached[1].last_event_id = pending[1].id


def _locked_head(session: Session) -> AuditHead:
    """The chain head for this transaction: locked once, then kept (the lock lasts until commit)."""
    transaction = session.get_transaction()
    cached = session.info.get("audit_head")
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    head = _lock_head(session)
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
    head = _locked_head(session)
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "",
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        changes=json.dumps(changes or {}, ensure_ascii=False, sort_keys=True, default=str),
        prev_hash=head.last_hash,
        hash="",
    )
    event.hash = _digest(key, head.last_hash, event)
    session.add(event)
    head.last_hash = event.hash
    session.add(head)
    # The event's id exists only after a flush; rather than flush once per event, the head learns
    # its last event id just before the transaction commits (see _head_learns_last_event).
    session.info["audit_last_event"] = (session.get_transaction(), event)
    return event


@dataclass
class ChainReport:
    ok: bool
    events_checked: int
    first_bad_event_id: int | None = None
    problem: str = ""


def verify_chain(session: Session, *, key: bytes, batch: int = 5000) -> ChainReport:
    """Walk the whole log in id order and recompute every link.

    Reads plain rows, never ORM objects: an event this session already holds would otherwise be
    checked as remembered, not as stored (an edit in the database would go unseen), and the
    caller's session is left as it was.
    """
    events_table: Any = AuditEvent.__table__  # type: ignore[attr-defined]
    head_table: Any = AuditHead.__table__  # type: ignore[attr-defined]
    prev_hash = ""
    checked = 0
    last_id = 0
    last_seen_id: int | None = None
    while True:
        events = session.connection().execute(
            sa_select(events_table).where(events_table.c.id > last_id).order_by(events_table.c.id).limit(batch)
        ).all()
        if not events:
            break
        for event in events:
            if event.prev_hash != prev_hash:
                return ChainReport(False, checked, event.id, "an event is missing or out of order before this one")
            if not hmac.compare_digest(event.hash, _digest(key, prev_hash, event)):
                return ChainReport(False, checked, event.id, "this event was altered")
            prev_hash = event.hash
            checked += 1
            last_id = event.id or last_id
            last_seen_id = event.id
    head = session.connection().execute(sa_select(head_table).where(head_table.c.id == 1)).first()
    if head is not None and (head.last_hash != prev_hash or head.last_event_id != last_seen_id):
        return ChainReport(False, checked, last_seen_id, "events after this one were removed")
    if head is None and checked:
        return ChainReport(False, checked, last_seen_id, "the chain head is missing")
    return ChainReport(True, checked)


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
    from sqlalchemy import func, or_

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
