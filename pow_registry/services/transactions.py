"""What every service that writes shares: all or nothing, and no silent overwrite."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import func, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from pow_registry.services.errors import Conflict

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = ["READ_ONLY", "Draft", "check_version", "drafts_of", "insert_many", "reading", "unit_of_work"]

#: Execution option of a connection whose transaction must not write: on SQLite it begins
#: DEFERRED with `PRAGMA query_only` (db.py) instead of BEGIN IMMEDIATE, so it takes no write lock.
READ_ONLY = "pow_registry_read_only"


@contextlib.contextmanager
def reading(session: Session) -> Iterator[None]:
    """Reads in a transaction of their own that ends at once, before the caller writes.

    SQLite's write lock is taken when a writing transaction begins (BEGIN IMMEDIATE): a request
    that first reads (the signed-in user, the account a password is checked against) and only
    later writes would otherwise hold the lock through the password hashing, or wait for it on a
    request that never writes. Objects read stay usable (the sessions do not expire on commit).
    Inside a transaction already begun it just reads there.
    """
    if session.in_transaction():
        yield
        return
    session.connection(execution_options={READ_ONLY: True})
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()  # nothing to write: ends the read, releases the snapshot


def unit_of_work(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """All or nothing: on any failure the session is rolled back, so nothing half-done can be
    committed later by whoever reuses the session; a stale row found while writing (SQLAlchemy's
    version_id_col refused the UPDATE) is the same Conflict as a stale form version."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        session = kwargs["session"]
        assert isinstance(session, Session)
        try:
            return fn(*args, **kwargs)
        except StaleDataError:
            session.rollback()
            raise Conflict() from None
        except BaseException:
            session.rollback()
            raise

    return wrapper


def check_version(row: Any, version: int | str | None) -> None:
    """The version a form was loaded with must be the row's: otherwise someone else changed it."""
    try:
        expected = int(version) if version is not None else None
    except (TypeError, ValueError):
        expected = None
    if expected is None or row.version != expected:
        raise Conflict()


def insert_many(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT many rows of a table class at once (keys: its attribute names) and return their
    new ids in the order of `rows`, ascending: a few statements instead of one flush per object
    (an import of thousands of rows).

    The rows bypass the session's unit of work: nothing is added to it, and what listens to its
    flushes does not see them (the caller tells the matcher: `matching.note_changed`)."""
    if not rows:
        return []
    # Core, not the ORM's bulk INSERT: that one would set a versioned row's version itself (to 1),
    # and a row may be written already past its first version (registry.create_captures).
    mapper = sa_inspect(model)
    columns = {attribute.key: attribute.columns[0].key for attribute in mapper.column_attrs}
    table = mapper.local_table
    params = [{columns[key]: value for key, value in row.items()} for row in rows]
    if session.get_bind().dialect.name == "sqlite":
        # SQLite cannot order RETURNING by the parameters in a multi-row INSERT (SQLAlchemy would
        # send one row per statement), but needs not: its writer holds the database's only write
        # lock, and each row of a multi-row INSERT gets the next rowid in turn, so the new ids
        # sorted are the rows' order.
        return sorted(row[0] for row in session.exec(insert(table).returning(table.c.id), params=params))
    # PostgreSQL: the ids drawn from the table's sequence first, then a plain executemany (psycopg
    # pipelines it and parses the statement once), rather than INSERT ... RETURNING of a thousand
    # rows a statement, whose forty thousand placeholders psycopg parses anew each time.
    sequence = session.exec(select(func.pg_get_serial_sequence(table.name, "id"))).one()
    ids = sorted(session.exec(select(func.nextval(sequence)).select_from(func.generate_series(1, len(rows)))).all())
    session.exec(insert(table), params=[{**row, "id": row_id} for row, row_id in zip(params, ids, strict=True)])
    return ids


class Draft:
    """A row being built for `insert_many`: the table class's defaults, then whatever the
    service's builder sets on it, exactly as on the table object (the same builder code runs on
    both), without the ORM's per-attribute bookkeeping, which costs more than the INSERT."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def model_dump(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        values = dict(self.__dict__)
        for name in exclude or ():
            values.pop(name, None)
        return values


def drafts_of(model: Any) -> Callable[..., Any]:
    """What builds a Draft of `model` (`drafts_of(Person)(surname=...)`), with the defaults its
    fields declare (default_factory called for each row: created_at from the clock)."""
    fixed: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            factories[name] = info.default_factory
        elif not info.is_required():
            fixed[name] = info.default

    def make(**values: Any) -> Draft:
        return Draft(**{**fixed, **{name: factory() for name, factory in factories.items() if name not in values},
                        **values})

    return make

