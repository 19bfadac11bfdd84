#!/usr/bin/env python3
"""Memory of two web processes and a worker, and what the first saving request pays, with
matching in the worker (MATCHING_IN_JOBS=true, the default) and inside the request (false).

One fresh SQLite instance: the demo data and --persons generated fictitious men. Then, for each
setting, two `pow-registry serve --job-workers 0` processes and (with matching in the worker) one
`pow-registry worker`, as the README's production layout has them. A signed-in researcher saves
--writes new men through each web process (the registry's form, as a person would) and searches;
the bench waits until every saved man is matched, then reads each process's resident memory
(VmRSS) and prints it with the time the first save took on each web process.

    .venv/bin/python bench/web_memory.py                    # 20,000 men
    .venv/bin/python bench/web_memory.py --persons 50000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port, prepare, running, signed_in_cookies, wait_for  # noqa: E402


def _agent() -> str:
    """The test client's User-Agent: the session was made with it, and flask-login's "strong"
    session protection ends a session whose browser changes."""
    from importlib.metadata import version

    return f"Werkzeug/{version('werkzeug')}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def csrf_token(base: str, cookie: str) -> str:
    request = urllib.request.Request(f"{base}/registry/persons/new",  # noqa: S310 - our loopback server
                                     headers={"Cookie": cookie, "User-Agent": _agent()})
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our loopback server
        page = response.read().decode()
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if not found:
        raise SystemExit("no CSRF token on the person form")
    return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def save_person(base: str, cookie: str, token: str, number: int) -> float:
    """Seconds one save of the registry's form took (a new fictitious man)."""
    body = urllib.parse.urlencode({
        "csrf_token": token, "surname": f"Замерщиков{number}", "given_name": "Тестовий", "date_of_birth": "2001",
        "report_claim": "captured", "report_capture_date": "2024-08", "report_capture_place": "Суджа"}).encode()
    request = urllib.request.Request(f"{base}/registry/persons/new", data=body, method="POST", headers={  # noqa: S310
        "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded", "User-Agent": _agent()})
    opener = urllib.request.build_opener(_NoRedirect)
    started = time.perf_counter()
    try:
        opener.open(request, timeout=300)
    except urllib.error.HTTPError as answer:  # the 302 to the new man's page
        location = answer.headers.get("Location", "")
        if answer.code != 302 or not re.search(r"/registry/persons/\d+$", location):
            raise SystemExit(f"saving a man answered {answer.code} → {location!r}") from answer
    else:
        raise SystemExit("saving a man did not redirect to his page")
    return time.perf_counter() - started


def search(base: str, cookie: str) -> None:
    request = urllib.request.Request(f"{base}/registry/?q=" + urllib.parse.quote("Выдумкин"),  # noqa: S310
                                     headers={"Cookie": cookie, "User-Agent": _agent()})
    with urllib.request.urlopen(request, timeout=120):  # noqa: S310 - our loopback server
        pass


def pending(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM match_pending").fetchone()[0])


def measure(instance: Path, env: dict[str, str], cookie: str, *, in_jobs: bool, writes: int,
            workdir: Path) -> dict[str, float]:
    env = {**env, "POW_REGISTRY_MATCHING_IN_JOBS": "true" if in_jobs else "false",
           "POW_REGISTRY_JOB_WORKERS_IN_SERVE": "0"}
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        webs = [stack.enter_context(running([str(BIN / "pow-registry"), "serve", "--port", str(port)], env,
                                            workdir / f"serve-{port}.log")) for port in ports]
        worker = (stack.enter_context(running([str(BIN / "pow-registry"), "worker"], env, workdir / "worker.log"))
                  if in_jobs else None)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_for(f"{base}/healthz")
        if worker is not None:  # the worker builds its index when it starts: wait for it
            deadline = time.monotonic() + 600
            while "match index ready" not in (workdir / "worker.log").read_text(errors="replace"):
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit("the worker did not get its index ready")
                time.sleep(0.2)
        idle = {f"web{i + 1}": rss_mb(p.pid) for i, p in enumerate(webs)}
        first: dict[str, float] = {}
        number = 0
        for i, base in enumerate(bases):
            token = csrf_token(base, cookie)
            for n in range(writes):
                number += 1
                seconds = save_person(base, cookie, token, number + (0 if in_jobs else 10_000))
                if n == 0:
                    first[f"web{i + 1}"] = seconds
            search(base, cookie)
        deadline = time.monotonic() + 600
        while in_jobs and pending(instance / "pow_registry.sqlite3"):
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not match the saved men in 10 minutes")
            time.sleep(0.2)
        figures = {f"{name} idle MB": mb for name, mb in idle.items()}
        figures.update({f"web{i + 1} MB": rss_mb(p.pid) for i, p in enumerate(webs)})
        if worker is not None:
            figures["worker MB"] = rss_mb(worker.pid)
        figures.update({f"{name} first save s": s for name, s in first.items()})
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20_000, help="generated men added to the demo data")
    parser.add_argument("--writes", type=int, default=5, help="men saved through each web process")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pow-memory-"))
    instance = workdir / "instance"
    env = {**os.environ, "POW_REGISTRY_INSTANCE_PATH": str(instance), "POW_REGISTRY_LOG_FORMAT": "text",
           "POW_REGISTRY_ORGANISATION_NAME": "Fictitious Search Group (memory bench)",
           "POW_REGISTRY_ORGANISATION_CONTACT": "memory@bench.invalid", "POW_REGISTRY_SESSION_COOKIE_SECURE": "false"}
    for name in ("POW_REGISTRY_DATABASE_URL", "POW_REGISTRY_SECRET_KEY"):
        env.pop(name, None)
    try:
        started = time.perf_counter()
        prepare(instance, env, args.persons)
        print(f"instance: demo data + {args.persons} generated men, SQLite, in {time.perf_counter() - started:.0f} s")
        cookie, _visitor, _token = signed_in_cookies(env)
        rows = {setting: measure(instance, env, cookie, in_jobs=setting == "in the worker", writes=args.writes,
                                 workdir=workdir)
                for setting in ("in the worker", "in the request")}
        names = sorted({name for figures in rows.values() for name in figures})
        print(f"\n{'matching':<16}" + "".join(f"{name:>20}" for name in names))
        for setting, figures in rows.items():
            print(f"{setting:<16}" + "".join(
                f"{figures[name]:>20.2f}" if name in figures else f"{'—':>20}" for name in names))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
