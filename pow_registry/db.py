"""The database engine and the session per request.

SQLite is the embedded default and must be safe under concurrent writers: WAL, foreign keys,
a busy timeout, synchronous=FULL, and every writing transaction begun IMMEDIATE so two writers
queue instead of one failing half-way. A GET changes nothing (security.md), so its transaction
begins DEFERRED and read-only: under WAL it neither waits for a writer (a long import would
otherwise hold up every page, then fail them after the busy timeout) nor can it write.
PostgreSQL needs none of this.

A writer that cannot get its lock within the busy timeout (SQLite) or the lock timeout
(PostgreSQL) fails with an error `unavailable()` names "busy": the web answers 503 "try again"
(web/errors.py), never a 500, and nothing was written.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any, Literal

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from pow_registry.models import CONTACT_CRYPTO_ATTRIBUTE
from pow_registry.services.transactions import READ_ONLY

# READ_ONLY: execution option on the engine of a request that must not write (GET, HEAD, OPTIONS).
__all__ = ["READ_ONLY", "READ_ONLY_METHODS", "engine", "init_app", "make_engine", "session"]
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


DEFAULT_BUSY_TIMEOUT_SECONDS = 15.0


def make_engine(url: str, *, contact_crypto: Any = None, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
                **kwargs: Any) -> Engine:
    """An engine for `url`; `contact_crypto` (a domain.contact_crypto.ContactCrypto) lets it read
    and write the families' encrypted contact fields (models.EncryptedText); `busy_timeout`:
    seconds a writer waits for a lock before it gives up."""
    engine = _make_engine(url, busy_timeout=busy_timeout, **kwargs)
    if contact_crypto is not None:
        setattr(engine.dialect, CONTACT_CRYPTO_ATTRIBUTE, contact_crypto)
    return engine


def _make_engine(url: str, *, busy_timeout: float, **kwargs: Any) -> Engine:
    milliseconds = max(1, int(busy_timeout * 1000))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE (pysqlite would defer it).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
            cursor.execute("PRAGMA synchronous=FULL")
            # Deleted content is overwritten, not left in free pages: an erased family's contact data
            # (and the clear columns migration 0007 drops) must not survive in the file.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("PRAGMA query_only=ON")
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("PRAGMA query_only=OFF")
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A row or table lock not granted within the timeout is an error, not an endless wait; the
    # pool, too, gives up after as long when every connection is taken.
    return create_engine(url, pool_pre_ping=True, pool_timeout=busy_timeout,
                         connect_args={"options": f"-c lock_timeout={milliseconds}"}, **kwargs)


Unavailable = Literal["busy", "disk", "down"]

# PostgreSQL's SQLSTATE codes (appendix A) of a database that is busy, out of space, or gone.
_PG_BUSY = {"55P03", "40P01", "40001", "57014", "53300"}  # lock, deadlock, serialisation, timeout, connections
_PG_DISK = {"53100"}  # disk_full
_PG_DOWN_CLASSES = ("08", "57P")  # connection exceptions, operator intervention (shutdown)


def unavailable(error: BaseException) -> Unavailable | None:
    """Why a database error means "not now" rather than a fault of this request: "busy" (a lock
    or the pool not granted in time: try again), "disk" (no space: nothing was written, tell the
    administrator), "down" (the database cannot be reached); None for any other error."""
    if isinstance(error, exc.TimeoutError):
        return "busy"  # the pool had no free connection in time
    if isinstance(error, OSError) and error.errno in {errno.ENOSPC, errno.EDQUOT}:
        return "disk"
    if not isinstance(error, exc.DBAPIError):
        return None
    original = error.orig
    if isinstance(original, sqlite3.OperationalError):
        message = str(original).lower()
        if "locked" in message or "busy" in message:
            return "busy"
        if "full" in message or "disk i/o" in message:
            return "disk"
        if "unable to open" in message:
            return "down"
        return None
    state = getattr(original, "sqlstate", None) or ""
    if state in _PG_BUSY:
        return "busy"
    if state in _PG_DISK:
        return "disk"
    if state.startswith(_PG_DOWN_CLASSES) or error.connection_invalidated:
        return "down"
    return None


def init_app(app: Flask) -> None:
    app.extensions["pow_registry.engine"] = make_engine(
        app.config["DATABASE_URL"], contact_crypto=app.extensions["pow_registry.contact_crypto"],
        busy_timeout=float(app.config["DATABASE_BUSY_TIMEOUT_SECONDS"]))

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def engine() -> Engine:
    return current_app.extensions["pow_registry.engine"]


def session() -> Session:
    """The request's session, opened on first use and closed at teardown (read-only on a GET)."""
    if "db_session" not in g:
        bind = engine()
        if has_request_context() and request.method in READ_ONLY_METHODS:
            bind = bind.execution_options(**{READ_ONLY: True})
        g.db_session = Session(bind, expire_on_commit=False)
    return g.db_session
