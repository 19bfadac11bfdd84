"""What every service that writes shares: all or nothing, and no silent overwrite."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from pow_registry.services.errors import Conflict

_P = ParamSpec("_P")
_R = TypeVar("_R")

__all__ = ["check_version", "unit_of_work"]


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
