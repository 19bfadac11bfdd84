#!/usr/bin/env python3
"""Where a request's time goes: the pages of bench/load.py through the WSGI app in this process
(Flask's test client, no server), per request CPU time and a cProfile of each.

    .venv/bin/python bench/profile_pages.py                       # 2,000 requests per page
    .venv/bin/python bench/profile_pages.py --requests 500 --top 40 --only status

It builds the same instance as load.py (demo data + --persons generated men, SQLite in a temp
dir), then for each page (healthz, status, search, and the bare Flask page for scale) times
--requests requests by process CPU time (`time.process_time`: other jobs on the machine do not
count) and profiles as many again, printing the top functions by cumulative time. The status
check comes from another address each time (X-Forwarded-For through the trusted proxy), as in
load.py, so the per-address limits are passed, not refused.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time summed per library (site-packages/<name>), per template, the app's own modules,
    the standard library and C built-ins: which layer the time goes to."""
    totals: dict[str, float] = {}
    for (filename, _line, _function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            where = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/templates/" in filename:
            where = "templates (Jinja code)"
        elif "/pow_registry/" in filename:
            where = "pow_registry"
        elif filename == "~":
            where = "C built-ins"
        else:
            where = "standard library"
        totals[where] = totals.get(where, 0.0) + own
    total = sum(totals.values()) or 1.0
    return sorted(((where, value / total) for where, value in totals.items()), key=lambda item: -item[1])[:18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated pages: bare,healthz,status,search")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()

    import load

    workdir = Path(tempfile.mkdtemp(prefix="pow-profile-"))
    instance = workdir / "instance"
    env = {**os.environ, "POW_REGISTRY_INSTANCE_PATH": str(instance), "POW_REGISTRY_TRUSTED_PROXIES": "1",
           "POW_REGISTRY_ORGANISATION_NAME": "Fictitious Search Group (load bench)",
           "POW_REGISTRY_ORGANISATION_CONTACT": "load@bench.invalid", "POW_REGISTRY_SESSION_COOKIE_SECURE": "false"}
    for name in ("POW_REGISTRY_DATABASE_URL", "POW_REGISTRY_SECRET_KEY"):
        env.pop(name, None)
    try:
        load.prepare(instance, env, args.persons)
        researcher_cookie, visitor_cookie, csrf_token, _researcher = load.signed_in_cookies(env)
        from pow_registry import observability
        from pow_registry.app import create_app
        from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE

        app = create_app({"SESSION_COOKIE_SECURE": False})
        # As under `serve`: the JSON access log on (to nowhere that costs a terminal).
        observability.configure_logging("INFO", "json", stream=io.StringIO())
        import bare_app

        client = app.test_client(use_cookies=False)  # each request with the cookie it is given
        client.environ_base["HTTP_USER_AGENT"] = load.USER_AGENT  # the one the sessions were made with
        bare = bare_app.app.test_client(use_cookies=False)
        status_body = urllib.parse.urlencode({"reference": DEMO_INQUIRY_REFERENCE, "access_code": DEMO_ACCESS_CODE,
                                              "csrf_token": csrf_token})
        search_url = "/registry/?q=" + urllib.parse.quote("Иванов")

        def address() -> str:
            return f"{random.randint(1, 223)}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"

        pages: dict[str, Any] = {
            "bare": lambda: bare.get("/"),
            "healthz": lambda: client.get("/healthz"),
            "status": lambda: client.post("/status", data=status_body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Cookie": visitor_cookie,
                "X-Forwarded-For": address()}),
            "search": lambda: client.get(search_url, headers={"Cookie": researcher_cookie}),
        }
        only = [p for p in args.only.split(",") if p] or list(pages)
        for name in only:
            request = pages[name]
            for _ in range(50):  # warm up: imports, compiled templates, the first connections
                answer = request()
                if answer.status_code != 200:
                    raise SystemExit(f"{name}: {answer.status_code}")
            started_cpu, started = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                request()
            cpu = (time.process_time() - started_cpu) / args.requests * 1000
            wall = (time.perf_counter() - started) / args.requests * 1000
            print(f"{name:<8} {cpu:7.3f} ms CPU per request ({wall:.3f} ms wall), {args.requests} requests")
            if args.no_profile:
                continue
            profile = cProfile.Profile(time.process_time)  # CPU time: other jobs on the machine do not count
            profile.enable()
            for _ in range(args.requests):
                request()
            profile.disable()
            print(f"{name}: own CPU time by where the code lives (share of the profiled total)")
            for where, share in by_package(pstats.Stats(profile)):
                print(f"  {where:<28}{share:6.1%}")
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
