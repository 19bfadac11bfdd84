"""What every service that writes shares: all or nothing, and no silent overwrite."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from pow_registry.services.errors import Conflict

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = ["READ_ONLY", "check_version", "reading", "unit_of_work"]

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
