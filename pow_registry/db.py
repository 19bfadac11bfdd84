"""The database engine and the session per request.

SQLite is the embedded default and must be safe under concurrent writers: WAL, foreign keys,
a busy timeout, synchronous=FULL, and every writing transaction begun IMMEDIATE so two writers
queue instead of one failing half-way. A GET changes nothing (security.md), so its transaction
begins DEFERRED and read-only: under WAL it neither waits for a writer (a long import would
otherwise hold up every page, then fail them after the busy timeout) nor can it write.
PostgreSQL needs none of this.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from pow_registry.models import CONTACT_CRYPTO_ATTRIBUTE

# Execution option on the engine of a request that must not write (GET, HEAD, OPTIONS).
READ_ONLY = "pow_registry_read_only"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_engine(url: str, *, contact_crypto: Any = None, **kwargs: Any) -> Engine:
    """An engine for `url`; `contact_crypto` (a domain.contact_crypto.ContactCrypto) lets it read
    and write the families' encrypted contact fields (models.EncryptedText)."""
    engine = _make_engine(url, **kwargs)
    if contact_crypto is not None:
        setattr(engine.dialect, CONTACT_CRYPTO_ATTRIBUTE, contact_crypto)
    return engine


def _make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE (pysqlite would defer it).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
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
    return create_engine(url, pool_pre_ping=True, **kwargs)


def init_app(app: Flask) -> None:
    app.extensions["pow_registry.engine"] = make_engine(
        app.config["DATABASE_URL"], contact_crypto=app.extensions["pow_registry.contact_crypto"])

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
