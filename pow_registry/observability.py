"""What an operator sees: one JSON object per log line, a request id on every line of a request,
an access log that names no one, and static files served before the app (no session, no query).

The access log keeps what is needed to see load and faults (method, path without its query,
endpoint, status, duration, the account's number) and nothing a leak could hurt a family with: no
query string (a registry search holds names), no form field (access codes, phones), no cookie, no
email. Errors carry the request id the error page shows, so a user's "it failed, code 3f9c…" leads
to the traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_login import current_user
from pythonjsonlogger.json import JsonFormatter
from whitenoise import WhiteNoise

from pow_registry import clock

__all__ = ["REQUEST_ID_HEADER", "access_log", "configure_logging", "init_app", "log", "request_id"]

log = logging.getLogger("pow_registry")
access_log = logging.getLogger("pow_registry.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A request id a trusted proxy passes on is kept only when it looks like one: it goes into logs.
_FORWARDED_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_HANDLER_MARK = "pow_registry_handler"


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    return getattr(g, "request_id", None) if has_request_context() else None


def _install_request_ids() -> None:
    """Every log record made while a request is handled carries its id (whichever logger makes
    it: the app's, Flask's, a library's), so an error line and its access line can be joined."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _HANDLER_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id()
        return record

    setattr(factory, _HANDLER_MARK, True)
    logging.setLogRecordFactory(factory)


_install_request_ids()


class _Formatter(JsonFormatter):
    """JSON with the time from the app's clock in UTC (tests move it; logs agree with the audit)."""

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["time"] = clock.now().isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)


_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class _TextFormatter(logging.Formatter):
    """Plain lines for a terminal, with the record's own fields (method=GET status=200 …) after."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES)
        return f"{line} {extra}" if extra else line


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None, logger: str = "pow_registry") -> None:
    """Send `logger`'s records to `stream` (stderr) as JSON lines (`fmt="text"`: plain lines for a
    person at a terminal). Calling it again replaces the handler it added before."""
    target = logging.getLogger(logger)
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "text":
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    else:
        handler.setFormatter(_Formatter("%(message)s"))
    setattr(handler, _HANDLER_MARK, True)
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level.upper())
    # Not again through the root logger: waitress.serve() gives it a plain handler of its own.
    target.propagate = False


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        forwarded = request.headers.get(REQUEST_ID_HEADER, "") if proxies else ""
        g.request_id = forwarded if _FORWARDED_ID.fullmatch(forwarded) else secrets.token_hex(8)

    @app.after_request
    def _access(response: Any) -> Any:
        started = getattr(g, "request_started", None)
        rid = request_id()
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        user = current_user._get_current_object()  # noqa: SLF001 - flask-login's proxy
        access_log.info("request", extra={
            "method": request.method,
            "path": request.path[:300],  # never the query string: a search holds names
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
            "user_id": getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None,
            "bytes": response.calculate_content_length(),
        })
        return response

    # Static files answered before Flask: no session cookie, no user loaded, no database.
    static_folder = app.static_folder
    if static_folder:
        app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
            app.wsgi_app, root=static_folder, prefix=app.static_url_path or "/static",
            max_age=int(app.config.get("STATIC_MAX_AGE_SECONDS", 3600)), add_headers_function=_static_headers)


def _static_headers(headers: Any, _path: str, _url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
