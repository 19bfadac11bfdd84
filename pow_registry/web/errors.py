"""Error pages: every failure answers in the user's language, says what to do, and never shows a
traceback. A database that is busy, full or unreachable is a 503 "try again" (nothing was
written), a row someone else changed meanwhile a 409, anything else a 500 that gives the request
id the log has the traceback under."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from pow_registry import db, observability, security

# Seconds a client is told to wait before trying again, by what made the database unavailable.
RETRY_AFTER = {"busy": 5, "disk": 300, "down": 30}


# When even the error page cannot be drawn (it reads the signed-in account and its language from a
# database that is gone): the same news in the three languages, without the layout.
_BARE = {
    503: "Сервис временно недоступен, попробуйте позже. / Сервіс тимчасово недоступний, спробуйте пізніше. / "
         "The service is unavailable for a moment; please try again.",
    500: "Ошибка на сервере. / Помилка на сервері. / Server error.",
}


def _page(code: int, **context: Any) -> Any:
    rid = observability.request_id()
    try:
        return render_template("error.html", code=code, request_id=rid, **context), code
    except Exception:  # noqa: BLE001 - the error page itself failed: a plain answer, still no traceback
        observability.log.exception("the error page could not be drawn")
        text = _BARE.get(code, _BARE[500] if code >= 500 else str(code))
        return f"{text}\n{rid or ''}\n", code, {"Content-Type": "text/plain; charset=utf-8"}


def unavailable_response(kind: str) -> Any:
    body, code = _page(503, unavailable=kind)
    return body, code, {"Retry-After": str(RETRY_AFTER.get(kind, 30))}


def init_app(app: Flask) -> None:
    from pow_registry.web import family

    @app.errorhandler(403)
    def _forbidden(_e: Exception) -> Any:
        return _page(403)

    @app.errorhandler(404)
    def _not_found(_e: Exception) -> Any:
        return _page(404)

    @app.errorhandler(413)
    def _too_large(_e: Exception) -> Any:
        return _page(413)

    @app.errorhandler(429)
    def _too_many(_e: Exception) -> Any:
        retry_at = None
        try:
            current = security.limiter(app).current_limit
            retry_at = current.reset_at if current is not None else None
        except Exception:  # noqa: BLE001 - the page must not fail for want of a time
            retry_at = None
        if request.blueprint == "family" or request.endpoint == "public.index":
            return family.limited(retry_at)
        return _page(429)

    @app.errorhandler(CSRFError)
    def _csrf(_e: Exception) -> Any:
        return _page(400, csrf=True)

    @app.errorhandler(exc.DBAPIError)
    @app.errorhandler(exc.TimeoutError)
    @app.errorhandler(OSError)
    def _database_unavailable(error: Exception) -> Any:
        kind = db.unavailable(error)
        if kind is None:
            raise error  # a fault, not a busy database: the 500 below, with its traceback logged
        observability.log.warning("database unavailable: %s", kind, extra={"reason": kind})
        return unavailable_response(kind)

    @app.errorhandler(StaleDataError)
    def _stale(_e: Exception) -> Any:
        # Whoever wrote first won; this request changed nothing (its session is rolled back at teardown).
        observability.log.info("stale row refused")
        return _page(409, stale=True)

    @app.errorhandler(InternalServerError)
    def _server_error(error: InternalServerError) -> Any:
        original = error.original_exception
        if original is not None and not isinstance(original, HTTPException):
            kind = db.unavailable(original)
            if kind is not None:  # raised where no handler above could see it (a teardown, a hook)
                return unavailable_response(kind)
        return _page(500)
