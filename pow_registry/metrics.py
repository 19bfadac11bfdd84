"""Prometheus metrics for operators: requests, latency, the match index, jobs and the matching queue.

Served at /admin/metrics to admins, like every admin page, or to a scraper that sends
`Authorization: Bearer <METRICS_TOKEN>` when that setting is made (a Prometheus server cannot
sign in with a second factor). No metric carries a name, a reference or a path with an id:
requests are labelled by endpoint (a fixed set), not by URL.

Each app has its own registry (tests build many apps in one process); under `serve` that is one
per process, so behind a proxy with several processes each is scraped on its own port.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["init_app", "response", "token_allows"]

# Seconds: the family's status page should answer within 0.05 s at p99 (issue 14's load target).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    requests = Counter("pow_registry_http_requests", "Requests answered, by endpoint and status.",
                       ["method", "endpoint", "status"], registry=registry)
    latency = Histogram("pow_registry_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                        ["endpoint"], buckets=_BUCKETS, registry=registry)
    index_records = Gauge("pow_registry_match_index_records",
                          "Records in this process's match index (0 until it is built).", registry=registry)
    def _index_size() -> float:
        from pow_registry.services import matching

        engine = app.extensions.get("pow_registry.engine")  # made after this, by db.init_app
        return float(matching.index_size(engine) or 0) if engine is not None else 0.0

    index_records.set_function(_index_size)
    registry.register(_Backlog())
    app.extensions["pow_registry.metrics"] = registry

    @app.after_request
    def _observe(answer: Any) -> Any:
        endpoint = request.endpoint or "unmatched"
        requests.labels(request.method, endpoint, str(answer.status_code)).inc()
        started = getattr(g, "request_started", None)
        if started is not None:
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return answer


class _Backlog(Collector):
    """Work waiting, read from the database when scraped (the same from every process): jobs by
    status, and records queued for matching. Read in the scrape's own read-only request."""

    def collect(self) -> Iterator[Metric]:
        from sqlalchemy import func, select
        from sqlmodel import col

        from pow_registry import db
        from pow_registry.models import Job, JobStatus
        from pow_registry.services import matching

        if not has_request_context():
            return
        session = db.session()
        by_status = col(Job.status)
        counts: dict[Any, int] = {row[0]: int(row[1]) for row in
                                  session.execute(select(by_status, func.count()).group_by(by_status)).all()}
        jobs = GaugeMetricFamily("pow_registry_jobs", "Jobs in the database, by status (queued: waiting for a worker).",
                                 labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], float(counts.get(status, 0)))
        yield jobs
        yield GaugeMetricFamily("pow_registry_match_pending_records",
                                "Records saved but not yet matched by the worker (it falls behind when this grows).",
                                value=float(matching.queued_count(session)))


def token_allows() -> bool:
    """A scraper's bearer token, when METRICS_TOKEN is set (compared in constant time)."""
    expected = str(current_app.config.get("METRICS_TOKEN") or "")
    sent = request.headers.get("Authorization", "")
    return bool(expected) and sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].encode(), expected.encode())


def response() -> Response:
    registry: CollectorRegistry = current_app.extensions["pow_registry.metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})
