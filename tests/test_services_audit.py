"""The audit log: every change leaves an attributed event, and the keyed chain shows any tampering."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from pow_registry.models import AuditEvent, CaptureReport, User, utcnow
from pow_registry.services import audit, registry


@pytest.fixture
def engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]


def events(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def last_event(session: Session, action: str) -> AuditEvent:
    session.expire_all()
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)
                        .order_by(col(AuditEvent.id).desc())).first()


def changes(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.changes)


def sql(engine: Any, statement: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


@pytest.fixture
def history(session: Session, audit_key: bytes, make_user: Callable[..., User], make_person: Callable[..., Any]) -> dict[str, Any]:
    """A small but complete history: accounts, persons, reports, evidence, verification, status, merge."""
    researcher, checker, admin = make_user("researcher"), make_user("researcher"), make_user("admin")
    svc = {"session": session, "audit_key": audit_key}
    first = make_person(researcher)
    second = make_person(researcher, surname="Выдумкін", given_name="Віталій")
    report = session.exec(select(CaptureReport).where(CaptureReport.person_id == first.id)).one()
    evidence = registry.add_evidence(**svc, actor=researcher, report_id=report.id,
                                     evidence={"url": "https://example.org/a", "publisher": "Demo Channel One"})
    registry.verify_evidence(**svc, actor=checker, evidence_id=evidence.id, version=evidence.version,
                             decision="verified", note="Face and tattoo match.")
    merge = registry.merge_persons(**svc, actor=researcher, keep_id=first.id, merge_id=second.id,
                                   keep_version=session.get(type(first), first.id).version,
                                   merge_version=second.version, reason="Same man.")
    session.commit()
    return {"researcher": researcher, "checker": checker, "admin": admin, "merge": merge, "person": first,
            "svc": svc}


def test_every_service_change_writes_an_event_with_actor_and_before_after(session, audit_key, history):
    svc, researcher, checker, admin = history["svc"], history["researcher"], history["checker"], history["admin"]
    person = history["person"]
    person = registry.get_person(session, person.id)
    person = registry.update_person(**svc, actor=researcher, person_id=person.id, version=person.version,
                                    person={"surname": "Выдумкин", "given_name": "Виталий", "rank": "рядовой",
                                            "date_of_birth": "2005-03-12", "patronymic": "Евгеньевич"})
    event = last_event(session, "person.update")
    assert event.actor_id == researcher.id and event.actor_email == researcher.email
    assert event.entity_type == "person" and event.entity_id == person.id
    assert changes(event) == {"rank": ["", "рядовой"]}

    created = last_event(session, "person.create")
    assert changes(created)["surname"] == [None, "Выдумкін"]
    report = registry.add_capture_report(**svc, actor=researcher, person_id=person.id,
                                         report={"capture_date": "2024-08-11", "capture_place": "Коренево"})
    assert changes(last_event(session, "report.create"))["capture_place"] == [None, "Коренево"]
    registry.update_capture_report(**svc, actor=checker, report_id=report.id, version=report.version,
                                   report={"capture_date": "2024-08-11", "capture_place": "Суджа"})
    event = last_event(session, "report.update")
    assert event.actor_id == checker.id and changes(event) == {"capture_place": ["Коренево", "Суджа"]}

    evidence = last_event(session, "evidence.create")
    assert evidence.actor_id == researcher.id and changes(evidence)["url"] == [None, "https://example.org/a"]
    verified = last_event(session, "evidence.verify")
    assert verified.actor_id == checker.id
    assert changes(verified)["verification"] == ["unverified", "verified"]
    assert changes(last_event(session, "person.status"))["status"] == ["reported", "probable"]

    person = registry.get_person(session, person.id)
    registry.set_manual_status(**svc, actor=researcher, person_id=person.id, version=person.version,
                               status="released", reason="Released (fictitious).")
    event = last_event(session, "person.status")
    assert event.actor_id == researcher.id
    assert changes(event)["status"] == ["probable", "released"]
    assert changes(event)["reason"] == "Released (fictitious)."

    merge = last_event(session, "person.merge")
    assert merge.actor_id == researcher.id and changes(merge)["merged_person_id"][1] is not None
    registry.undo_merge(**svc, actor=admin, merge_id=history["merge"].id, reason="Два разных человека.")
    assert last_event(session, "person.merge_undo").actor_id == admin.id
    assert all(e.actor_id is not None for e in events(session))
    assert audit.verify_chain(session, key=audit_key).ok


def test_the_chain_verifies_on_a_clean_log(session, audit_key, history):
    report = audit.verify_chain(session, key=audit_key)
    assert report.ok
    assert report.events_checked == len(events(session)) > 10


def test_a_small_batch_size_walks_the_whole_log(session, audit_key, history):
    assert audit.verify_chain(session, key=audit_key, batch=3).events_checked == len(events(session))


def test_the_wrong_key_fails(session, history):
    assert not audit.verify_chain(session, key=b"another key, from another server").ok


def test_an_edited_event_is_detected(session, engine, audit_key, history):
    target = events(session)[5]
    session.commit()  # end the read; SQLite's writer lock is per transaction
    sql(engine, "UPDATE audit_event SET changes = :c WHERE id = :id",
        c=json.dumps({"rank": ["", "генерал"]}), id=target.id)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.first_bad_event_id == target.id


@pytest.mark.parametrize("column", ["actor_email", "action", "entity_id", "at"])
def test_any_edited_field_is_detected(session, engine, audit_key, history, column):
    target = events(session)[3]
    session.commit()
    value = {"actor_email": "someone-else@example.org", "action": "person.view", "entity_id": 999,
             "at": "2020-01-01 00:00:00"}[column]
    sql(engine, f"UPDATE audit_event SET {column} = :v WHERE id = :id", v=value, id=target.id)  # noqa: S608
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.first_bad_event_id == target.id


def test_a_deleted_event_in_the_middle_is_detected(session, engine, audit_key, history):
    all_events = events(session)
    gone, after = all_events[4], all_events[5]
    session.commit()  # end the read; SQLite's writer lock is per transaction
    sql(engine, "DELETE FROM audit_event WHERE id = :id", id=gone.id)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.first_bad_event_id == after.id


def test_a_deleted_last_event_is_detected(session, engine, audit_key, history):
    all_events = events(session)
    session.commit()  # end the read; SQLite's writer lock is per transaction
    sql(engine, "DELETE FROM audit_event WHERE id = :id", id=all_events[-1].id)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.events_checked == len(all_events) - 1


@pytest.mark.parametrize("move_head", [False, True])
def test_a_forged_event_with_a_plain_sha256_is_detected(session, engine, audit_key, history, move_head):
    """Someone with database access but without the key appends an event and recomputes a plain hash."""
    last = events(session)[-1]
    session.commit()
    at = utcnow()
    forged = {"at": at.strftime("%Y-%m-%d %H:%M:%S.%f"), "actor_id": last.actor_id, "actor_email": last.actor_email,
              "action": "person.update", "entity_type": "person", "entity_id": 1,
              "changes": json.dumps({"surname": ["Выдумкин", "Подделкин"]}, ensure_ascii=False, sort_keys=True)}
    payload = json.dumps([last.hash, at.isoformat(), forged["actor_id"], forged["actor_email"], forged["action"],
                          forged["entity_type"], forged["entity_id"], forged["changes"]],
                         ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(payload.encode()).hexdigest()
    sql(engine, "INSERT INTO audit_event (at, actor_id, actor_email, action, entity_type, entity_id, changes, "
                "prev_hash, hash) VALUES (:at, :actor_id, :actor_email, :action, :entity_type, :entity_id, "
                ":changes, :prev, :hash)", **forged, prev=last.hash, hash=digest)
    if move_head:
        sql(engine, "UPDATE audit_head SET last_hash = :h, last_event_id = "
                    "(SELECT max(id) FROM audit_event) WHERE id = 1", h=digest)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.events_checked == len(events(session)) - 1


def test_two_long_lived_sessions_appending_in_turn_keep_the_chain(engine, session, audit_key, make_user):
    """Sessions that keep their objects after commit (as the app's do) must not chain to a stale head."""
    actor = make_user("researcher")
    first, second = Session(engine, expire_on_commit=False), Session(engine, expire_on_commit=False)
    try:
        for round_number in range(3):
            for s in (first, second):
                audit.record(s, key=audit_key, actor=actor, action="test.append", entity_type="test",
                             entity_id=round_number)
                s.commit()
    finally:
        first.close()
        second.close()
    report = audit.verify_chain(session, key=audit_key)
    assert report.ok, report
    assert report.events_checked == len(events(session))


def test_concurrent_appends_from_threads_keep_the_chain(engine, session, audit_key, make_user):
    actor = make_user("researcher")
    session.commit()
    threads_count, per_thread = 4, 15
    barrier = threading.Barrier(threads_count)
    failures: list[str] = []

    def work(n: int) -> None:
        with Session(engine, expire_on_commit=False) as own:
            barrier.wait(timeout=30)
            try:
                for i in range(per_thread):
                    audit.record(own, key=audit_key, actor=actor, action="test.concurrent", entity_type="test",
                                 entity_id=n * 100 + i, changes={"n": [None, i]})
                    own.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    appended = [e for e in events(session) if e.action == "test.concurrent"]
    assert len(appended) == threads_count * per_thread
    all_events = events(session)
    assert len({e.prev_hash for e in all_events}) == len(all_events)  # nobody chained to the same event twice
    report = audit.verify_chain(session, key=audit_key)
    assert report.ok, report


def test_verifying_leaves_the_callers_session_alone(session, audit_key, history):
    """The admin page verifies inside the request's session: objects it holds must stay attached."""
    user = session.get(User, history["researcher"].id)
    audit.verify_chain(session, key=audit_key)
    assert user in session


def test_the_first_event_starts_the_chain(session, audit_key):
    assert audit.verify_chain(session, key=audit_key).ok  # an empty log is intact
    audit.record(session, key=audit_key, actor=None, action="test.first", entity_type="test", entity_id=None)
    session.commit()
    first = events(session)[0]
    assert first.prev_hash == ""
    assert audit.verify_chain(session, key=audit_key).ok


def test_search_filters_the_log(session, history):
    rows, total = audit.search(session, action="person.merge")
    assert total == 1 and rows[0].actor_id == history["researcher"].id
    rows, total = audit.search(session, actor=history["checker"].email.upper())
    assert total >= 1 and {r.actor_id for r in rows} == {history["checker"].id}
    rows, total = audit.search(session, entity_type="person", entity_id=history["person"].id, page_size=2)
    assert len(rows) == 2 and total > 2


# ---------------------------------------------------------------------------------------------
# The head: a MAC over the last event, its hash and the number of events (issue 14)


def head_row(engine: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM audit_head WHERE id = 1")).one()


def cut_after(engine: Any, event: AuditEvent, *, repoint: bool, count: int | None = None) -> None:
    """What an attacker with database access and no key does: delete the events after `event`,
    and (`repoint`) copy its id and hash into the head, and `count` as its number of events."""
    sql(engine, "DELETE FROM audit_event WHERE id > :id", id=event.id)
    if repoint:
        sql(engine, "UPDATE audit_head SET last_event_id = :id, last_hash = :h WHERE id = 1", id=event.id, h=event.hash)
    if count is not None:
        sql(engine, "UPDATE audit_head SET event_count = :n WHERE id = 1", n=count)


def append(session: Session, audit_key: bytes, n: int = 1, action: str = "test.append") -> None:
    """`n` events, each in its own transaction, from another session (as the app would: the
    test's session may still hold events an attacker deleted, whose ids SQLite hands out again)."""
    session.commit()
    with Session(session.get_bind()) as own:
        for i in range(n):
            audit.record(own, key=audit_key, actor=None, action=action, entity_type="test", entity_id=i)
            own.commit()


def test_the_head_counts_the_events_and_carries_a_mac(session, engine, audit_key, history):
    all_events = events(session)
    session.commit()
    head = head_row(engine)
    assert (head.event_count, head.last_event_id, head.last_hash) == (len(all_events), all_events[-1].id,
                                                                      all_events[-1].hash)
    assert len(head.mac) == 64 and head.broken_at_event_id is None
    report = audit.verify_chain(session, key=audit_key)
    assert report.ok and (report.last_event_id, report.last_hash) == (all_events[-1].id, all_events[-1].hash)


@pytest.mark.parametrize("count", [None, "right"])
def test_a_cut_tail_with_the_head_repointed_is_detected(session, engine, audit_key, history, count):
    """The attack of issue 14: delete the last events, copy the new last hash into the head
    (and even the new number of events); no key, so the head's MAC no longer matches."""
    all_events = events(session)
    keep = all_events[-4]
    session.commit()
    cut_after(engine, keep, repoint=True, count=len(all_events) - 3 if count else None)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.events_checked == len(all_events) - 3
    assert "head does not match its MAC" in report.problem


def test_a_cut_tail_without_touching_the_head_is_detected(session, engine, audit_key, history):
    all_events = events(session)
    session.commit()
    cut_after(engine, all_events[-4], repoint=False)
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok and report.first_bad_event_id == all_events[-4].id
    assert "removed" in report.problem and str(len(all_events)) in report.problem


def test_wiping_every_event_is_detected(session, engine, audit_key, history):
    count = len(events(session))
    session.commit()
    sql(engine, "DELETE FROM audit_event")
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok and report.events_checked == 0
    assert "empty" in report.problem and f"{count} events were recorded" in report.problem


@pytest.mark.parametrize("forgery", ["plain sha256", "another key", "no mac", "blank head"])
def test_a_forged_head_is_detected(session, engine, audit_key, history, forgery):
    all_events = events(session)
    keep = all_events[-3]
    session.commit()
    cut_after(engine, keep, repoint=True, count=len(all_events) - 2)
    payload = json.dumps([keep.id, keep.hash, len(all_events) - 2, None], separators=(",", ":")).encode()
    if forgery == "plain sha256":
        sql(engine, "UPDATE audit_head SET mac = :m", m=hashlib.sha256(payload).hexdigest())
    elif forgery == "another key":
        other = hmac.new(b"a key the attacker chose for himself", b"pow_registry audit head\x00" + payload,
                         hashlib.sha256).hexdigest()
        sql(engine, "UPDATE audit_head SET mac = :m", m=other)
    elif forgery == "no mac":
        sql(engine, "UPDATE audit_head SET mac = ''")
    else:  # the state of a head before the first event, over a log that has events
        sql(engine, "UPDATE audit_head SET mac = '', last_hash = '', last_event_id = NULL, event_count = 0")
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert "head" in report.problem


def test_wiping_the_events_and_deleting_the_head_needs_an_anchor(session, engine, audit_key, history):
    """The database alone cannot tell a wiped log without a head from one never used: an
    anchor kept outside it can."""
    anchor = audit.make_anchor(session, key=audit_key)
    session.commit()
    sql(engine, "DELETE FROM audit_event")
    sql(engine, "DELETE FROM audit_head")
    assert audit.verify_chain(session, key=audit_key).ok  # looks never used
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok
    assert "the log is empty" in report.problem and "deleted" in report.problem


@pytest.mark.parametrize("tamper", ["repoint", "blank mac"])
def test_the_next_append_does_not_seal_a_tampered_head(session, engine, audit_key, history, tamper):
    """Cut the tail, re-point the head, and wait for the app's next event: the append goes on
    (the work must not stop), but the head says it was found tampered with, under its MAC."""
    all_events = events(session)
    keep = all_events[-4]
    session.commit()
    cut_after(engine, keep, repoint=True, count=len(all_events) - 3)
    if tamper == "blank mac":
        sql(engine, "UPDATE audit_head SET mac = ''")
    append(session, audit_key, 2)
    head = head_row(engine)
    assert head.broken_at_event_id == keep.id
    report = audit.verify_chain(session, key=audit_key)
    assert not report.ok
    assert report.first_bad_event_id == keep.id and "did not match its MAC" in report.problem
    session.commit()
    # Clearing the mark needs the key too.
    sql(engine, "UPDATE audit_head SET broken_at_event_id = NULL")
    assert not audit.verify_chain(session, key=audit_key).ok


def test_appending_with_another_key_marks_the_head(session, engine, audit_key, history):
    """An instance started with the wrong AUDIT_KEY (say, SECRET_KEY rotated while the key was
    still derived from it) does not quietly start a second chain."""
    append(session, b"another audit key, from a misconfigured server", 1)
    head = head_row(engine)
    assert head.broken_at_event_id is not None
    assert not audit.verify_chain(session, key=audit_key).ok


def test_an_intact_head_is_not_marked(session, engine, audit_key, history):
    append(session, audit_key, 3)
    assert head_row(engine).broken_at_event_id is None
    assert audit.verify_chain(session, key=audit_key).ok


def test_verifying_while_others_append_reports_no_false_break(engine, session, audit_key, make_user):
    """On PostgreSQL each query of the walk sees newer commits: events appended during it are
    walked up to the head read after it, never taken for a cut or a forgery."""
    actor = make_user("researcher")
    session.commit()
    stop = threading.Event()
    failures: list[str] = []

    def appender() -> None:
        with Session(engine, expire_on_commit=False) as own:
            try:
                for i in range(400):
                    if stop.is_set():
                        return
                    audit.record(own, key=audit_key, actor=actor, action="test.live", entity_type="test", entity_id=i)
                    own.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=appender)
    thread.start()
    reports = []
    try:
        while thread.is_alive() and len(reports) < 40:
            with Session(engine) as reader:
                reports.append(audit.verify_chain(reader, key=audit_key, batch=7))
    finally:
        stop.set()
        thread.join(timeout=120)
    assert failures == []
    assert reports and all(r.ok for r in reports), [r for r in reports if not r.ok][:1]
    assert audit.verify_chain(session, key=audit_key).ok


# ---------------------------------------------------------------------------------------------
# Anchors: the log's end, signed, kept outside the database


def test_an_anchor_round_trips_through_its_text(session, audit_key, history):
    anchor = audit.make_anchor(session, key=audit_key)
    all_events = events(session)
    assert (anchor.event_id, anchor.event_hash, anchor.event_count) == (all_events[-1].id, all_events[-1].hash,
                                                                        len(all_events))
    text_form = audit.anchor_text(anchor)
    assert json.loads(text_form)["type"] == audit.ANCHOR_TYPE
    assert audit.parse_anchor(text_form) == anchor
    # Pasted into a mail among other words, it still reads.
    assert audit.parse_anchor("Anchor of this morning:\n" + text_form + "\n-- \nA. Operator\n") == anchor


def test_the_anchor_time_comes_from_the_clock(session, audit_key, history):
    import time_machine

    from pow_registry import clock

    moment = clock.now().replace(microsecond=0) + timedelta(days=3, hours=2)
    with time_machine.travel(moment, tick=False):
        anchor = audit.make_anchor(session, key=audit_key)
    assert anchor.at == moment


def test_the_log_goes_on_from_an_anchor(session, audit_key, history):
    anchor = audit.make_anchor(session, key=audit_key)
    append(session, audit_key, 5)
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert report.ok and report.events_checked == anchor.event_count + 5


@pytest.mark.parametrize("repoint", [False, True])
def test_a_cut_down_to_before_an_anchor_is_detected(session, engine, audit_key, history, repoint):
    anchor = audit.make_anchor(session, key=audit_key)
    append(session, audit_key, 3)
    all_events = events(session)
    keep = next(e for e in reversed(all_events) if e.id < anchor.event_id)
    session.commit()
    cut_after(engine, keep, repoint=repoint, count=anchor.event_count - 1 if repoint else None)
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok
    assert f"proves {anchor.event_count} events up to event {anchor.event_id}" in report.problem
    assert "deleted since" in report.problem


def test_a_cut_after_an_anchor_is_detected_by_the_head(session, engine, audit_key, history):
    anchor = audit.make_anchor(session, key=audit_key)
    append(session, audit_key, 4)
    all_events = events(session)
    session.commit()
    cut_after(engine, all_events[-3], repoint=True, count=len(all_events) - 2)
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok and "head does not match its MAC" in report.problem


def test_a_key_holder_cutting_down_to_the_anchor_is_caught_by_it(session, engine, audit_key, history):
    """Whoever holds the key can cut the tail and re-key the head: the database alone is then
    consistent, and only what was kept outside it shows the cut."""
    all_events = events(session)
    session.commit()
    anchor = audit.make_anchor(session, key=audit_key)
    session.commit()
    keep = all_events[-3]
    cut_after(engine, keep, repoint=True)
    values = {"last_event_id": keep.id, "last_hash": keep.hash, "event_count": len(all_events) - 2,
              "broken_at_event_id": None}
    mac = audit._head_mac(audit_key, SimpleNamespace(**values))  # noqa: SLF001 - the attacker holds the key
    sql(engine, "UPDATE audit_head SET event_count = :n, mac = :m", n=values["event_count"], m=mac)
    assert audit.verify_chain(session, key=audit_key).ok
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok and "deleted since" in report.problem


def test_a_rewritten_event_before_an_anchor_is_detected(session, engine, audit_key, history):
    anchor = audit.make_anchor(session, key=audit_key)
    target = events(session)[2]
    session.commit()
    sql(engine, "UPDATE audit_event SET entity_id = 777 WHERE id = :id", id=target.id)
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok and report.first_bad_event_id == target.id


@pytest.mark.parametrize("field,value", [("event_count", 3), ("event_id", 2), ("event_hash", "0" * 64),
                                         ("at", "2031-01-01T00:00:00+00:00"), ("mac", "f" * 64)])
def test_a_tampered_anchor_is_refused(session, audit_key, history, field, value):
    document = json.loads(audit.anchor_text(audit.make_anchor(session, key=audit_key)))
    document[field] = value
    anchor = audit.parse_anchor(json.dumps(document))
    report = audit.verify_chain(session, key=audit_key, anchor=anchor)
    assert not report.ok and "does not match its MAC" in report.problem


def test_an_anchor_made_with_another_key_is_refused(session, audit_key, history):
    """Another registry's anchor (or one forged with a key of one's own) vouches for nothing here."""
    genuine = audit.make_anchor(session, key=audit_key)
    other_key = b"the key of another registry, 32+ bytes long"
    forged = replace(genuine, mac=audit._anchor_mac(other_key, genuine))  # noqa: SLF001 - signing with another key
    report = audit.verify_chain(session, key=audit_key, anchor=forged)
    assert not report.ok and "does not match its MAC" in report.problem


@pytest.mark.parametrize("document", [
    "", "not an anchor", "{", "[1, 2]", '{"type": "something else"}',
    '{"type": "pow-registry audit anchor", "version": 2}',
    '{"type": "pow-registry audit anchor", "version": 1, "event_id": "5", "event_count": 5,'
    ' "event_hash": "' + "a" * 64 + '", "mac": "' + "b" * 64 + '", "at": "2026-01-01T00:00:00+00:00"}',
    '{"type": "pow-registry audit anchor", "version": 1, "event_id": 5, "event_count": 5,'
    ' "event_hash": "xyz", "mac": "' + "b" * 64 + '", "at": "2026-01-01T00:00:00+00:00"}',
    '{"type": "pow-registry audit anchor", "version": 1, "event_id": 5, "event_count": 5,'
    ' "event_hash": "' + "a" * 64 + '", "mac": "' + "b" * 64 + '", "at": "2026-01-01 00:00"}',
])
def test_malformed_anchors_are_refused_with_the_reason(document):
    with pytest.raises(audit.AnchorError):
        audit.parse_anchor(document)


def test_a_broken_or_empty_log_is_not_anchored(session, engine, audit_key):
    with pytest.raises(audit.EmptyLog):
        audit.make_anchor(session, key=audit_key)
    append(session, audit_key, 3)
    sql(engine, "UPDATE audit_event SET action = 'test.other' WHERE id = (SELECT min(id) FROM audit_event)")
    with pytest.raises(audit.ChainBroken):
        audit.make_anchor(session, key=audit_key)
