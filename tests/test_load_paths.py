"""What the cheaper public paths still do (issue 14's load work): the rate limits' in-process
storage counts and forgets as before without a thread per count, and /healthz tells a database
that stopped answering from one that answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import time_machine
from sqlalchemy import event

from pow_registry import db
from pow_registry.security import SweptMemoryStorage, limiter
from pow_registry.web import public


def test_counting_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = SweptMemoryStorage()
    started: list[threading.Thread] = []
    original = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for n in range(500):
        storage.incr(f"address:198.51.100.{n % 250}/{n}", 60)
        if n % 50 == 0:
            time.sleep(0.02)  # longer than upstream's 10 ms timer: it would have to start another
    assert started == []
    assert storage.get("address:198.51.100.7/7") == 1


def test_an_expired_count_is_gone_when_read_and_swept_when_not() -> None:
    storage = SweptMemoryStorage()
    with time_machine.travel(0, tick=False) as traveller:
        for n in range(10):
            storage.incr(f"read-{n}", 60)
            storage.incr(f"forgotten-{n}", 60)
        assert storage.incr("read-0", 60) == 2
        traveller.shift(61)
        assert storage.get("read-0") == 0  # expired: counted afresh, sweep or not
        assert storage.incr("read-0", 60) == 1
        storage.sweep()
    assert set(storage.storage) == {"read-0"}  # the expired ones nobody read are gone too


def test_the_app_counts_in_the_swept_storage(make_app: Any) -> None:
    app = make_app(STATUS_CHECKS_PER_ADDRESS="2 per minute")
    assert isinstance(limiter(app).storage, SweptMemoryStorage)
    client = app.test_client()
    answers = [client.post("/status", data={"reference": "INQ-AAAA-AAAA", "access_code": "x"}).status_code
               for _ in range(3)]
    assert answers == [403, 403, 429]


def test_healthz_asks_the_database_at_most_once_a_window(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    asked: list[str] = []
    event.listen(db_engine(app), "before_cursor_execute", lambda *args: asked.append(args[2]))
    monkeypatch.setattr(public, "DATABASE_CHECK_SECONDS", 3600.0)
    client = app.test_client()
    assert [client.get("/healthz").status_code for _ in range(5)] == [200] * 5
    assert [sql for sql in asked if "SELECT 1" in sql] == ["SELECT 1"]


def test_healthz_says_when_the_database_stops_and_starts_answering(make_app: Any, tmp_path: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    monkeypatch.setattr(public, "DATABASE_CHECK_SECONDS", 0.0)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    working = app.extensions["pow_registry.engine"]
    # A database that cannot be reached: a file in a directory that does not exist.
    app.extensions["pow_registry.engine"] = db.make_engine(f"sqlite:///{tmp_path}/gone/nowhere.sqlite3")
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json == {"status": "unavailable"}
    app.extensions["pow_registry.engine"] = working
    assert client.get("/healthz").status_code == 200


def db_engine(app: Any) -> Any:
    return app.extensions["pow_registry.engine"]
