"""CSRF on every form, security headers, rate limits, and the trusted-proxy setting.

Behind a reverse proxy the client's address and scheme come from X-Forwarded-For/-Proto, which
anyone can send: they are believed only on connections from the proxy's own address
(`TRUSTED_PROXY_ADDRESS`), and only as many hops as there are proxies (`TRUSTED_PROXIES`). Under
`pow-registry serve` waitress does this itself (its `trusted_proxy` options; it drops those headers
from anyone else), and `serve` takes this module's middleware off so nothing is applied twice;
under any other server (`flask run`, the tests) the middleware below does the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, abort, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage (`memory://`), with expired counts swept every few seconds
    instead of by a timer thread restarted 10 ms after every count.

    Upstream starts a `threading.Timer(0.01)` from each `incr` whose previous one has finished,
    and that timer walks every key: under load a thread per request, and with a fresh address
    per family (thousands behind one proxy) a walk over all of them a hundred times a second
    (bench/load.py: the status page at 0.05 of a bare page). Counts are still exact: `get`
    drops an expired count itself when it is read; the sweep only frees the memory of keys
    nobody reads again, at most every SWEEP_SECONDS, in whichever request comes next.
    """

    STORAGE_SCHEME = ["pow-registry+memory"]
    SWEEP_SECONDS = 5.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        self._next_sweep = time.monotonic() + self.SWEEP_SECONDS
        self._sweeping = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - replaces upstream's private timer
        now = time.monotonic()
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + self.SWEEP_SECONDS
            self.sweep()
        finally:
            self._sweeping.release()

    def sweep(self) -> None:
        """Forget every expired count and window entry now."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


# `memory://` (the default) means this storage; any other URI (redis://…) is limits' own.
_MEMORY_SCHEME = "memory://"


def _storage_uri(configured: str) -> str | None:
    return "pow-registry+memory://" if configured.strip().startswith(_MEMORY_SCHEME) else None


def limiter(app: Flask) -> Limiter:
    """This app's rate limiter (each app has its own, with its own counts)."""
    return app.extensions["pow_registry.limiter"]


# The headers a trusted proxy may set (the same ones `serve` tells waitress to trust).
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-proto")
_PROXY_ENVIRON = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                  "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")


class TrustedProxy:
    """X-Forwarded-For/-Proto believed only from the proxy's address, `count` hops deep (as
    waitress's trusted_proxy does); from anyone else they are dropped, so a client cannot spoof
    its address to dodge the per-address limits, nor its scheme."""

    def __init__(self, app: Any, *, address: str, count: int) -> None:
        self.app = app
        self.address = address
        self.fixed = ProxyFix(app, x_for=count, x_proto=count)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") == self.address:
            return self.fixed(environ, start_response)  # type: ignore[no-any-return]
        for name in _PROXY_ENVIRON:
            environ.pop(name, None)
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def without_proxy_middleware(app: Flask) -> None:
    """Take TrustedProxy off again: for a server that does the same job itself (waitress in `serve`)."""
    direct = app.extensions.get("pow_registry.wsgi_app_direct")
    if direct is not None:
        app.wsgi_app = direct  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app_limiter = Limiter(key_func=get_remote_address, default_limits=[],
                          storage_uri=_storage_uri(str(app.config.get("RATELIMIT_STORAGE_URI") or _MEMORY_SCHEME)))
    app_limiter.init_app(app)
    app.extensions["pow_registry.limiter"] = app_limiter
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        app.extensions["pow_registry.wsgi_app_direct"] = app.wsgi_app
        app.wsgi_app = TrustedProxy(  # type: ignore[method-assign]
            app.wsgi_app, address=str(app.config["TRUSTED_PROXY_ADDRESS"]).strip(), count=proxies)

    @app.before_request
    def _refuse_nul() -> None:
        """Nobody types a NUL; PostgreSQL cannot store one (it would be a 500, even on the
        public login form), and nothing downstream should have to think about it."""
        for values in (request.args, request.form):
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    abort(400)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.endpoint != "static":
            # Almost every page holds personal data: never keep it in a cache.
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
