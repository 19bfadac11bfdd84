"""The audit log: every change leaves an attributed event, and the keyed chain shows any tampering."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
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
