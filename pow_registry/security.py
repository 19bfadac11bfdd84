"""CSRF on every form, security headers, rate limits, and the trusted-proxy setting."""

from __future__ import annotations

from flask import Flask, Response, abort, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def limiter(app: Flask) -> Limiter:
    """This app's rate limiter (each app has its own, with its own counts)."""
    return app.extensions["pow_registry.limiter"]


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app_limiter = Limiter(key_func=get_remote_address, default_limits=[])
    app_limiter.init_app(app)
    app.extensions["pow_registry.limiter"] = app_limiter
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies > 0:
        # Only as many X-Forwarded-* hops as there are proxies we run: a client cannot spoof
        # its address past them and so cannot dodge the per-address limits.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

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
