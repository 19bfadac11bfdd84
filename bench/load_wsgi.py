"""The app as `pow-registry serve` runs it, for servers that load a WSGI module (gunicorn,
granian) in bench/load.py: JSON logs to stderr, job threads in the process
(JOB_WORKERS_IN_SERVE), the app's own trusted-proxy middleware (these servers are told to
trust no forwarded header themselves). A benchmark entry point, not a supported way to run it."""

from __future__ import annotations

from pow_registry import observability, worker
from pow_registry.app import create_app

app = create_app()
app.config["SESSION_COOKIE_SECURE"] = False  # plain http on loopback, as `serve` does there
for _name in ("pow_registry", "waitress"):
    observability.configure_logging(str(app.config["LOG_LEVEL"]), str(app.config["LOG_FORMAT"]), logger=_name)
_consumers = int(app.config["JOB_WORKERS_IN_SERVE"])
jobs_in_process = worker.queue(app).start_in_process(_consumers) if _consumers > 0 else None
