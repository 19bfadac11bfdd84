#!/usr/bin/env python3
"""Load on the production server, driven by wrk on loopback: requests/s, p95, p99 and 5xx of

  bare        the smallest Flask page (bench/bare_app.py) under the same server and settings: the ceiling
  healthz     GET /healthz
  status      POST /status: a family checks the demo inquiry with its reference and access code,
              each request from another address (X-Forwarded-For through a trusted proxy, as
              thousands of families behind one nginx: no per-address limit is reached)
  search      GET /registry/?q=…: a signed-in researcher searches the registry
  status+import   the status check again while a researcher's import job (sent on the import page)
              writes N rows in the server's job thread (JOB_WORKERS_IN_SERVE)

Every page is measured in the same run, on the same machine, each for --seconds at --connections
(issue 14: status ≥ 0.25 of bare with p99 < 50 ms at 8 connections, search ≥ 0.25, healthz ≥ 0.5,
zero 5xx; status p95 ≤ 100 ms while an import runs). The app runs as `pow-registry serve` with
the documented settings (README, "Operating it": JSON access log on, written to a file here),
on a fresh SQLite instance with the demo data set (and --persons generated fictitious men more);
`--servers` measures other servers the same way, each against the bare page under itself
(bench/load_wsgi.py is the app as `serve` builds it, for servers that import a module).

    .venv/bin/python bench/load.py                        # 10 s per page, 8 connections, waitress
    .venv/bin/python bench/load.py --seconds 5 --persons 20000 --import-rows 10000
    .venv/bin/python bench/load.py --servers waitress,gunicorn-gthread,granian

Needs `wrk` (Debian's package). Everything is made in a temp dir and removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))

LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) server_errors = 0; not_ok = 0 end
function request()
  if FORWARD then
    wrk.headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." ..
      math.random(0, 255) .. "." .. math.random(1, 254)
  end
  return wrk.format()
end
function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1 end
  if status ~= 200 then not_ok = not_ok + 1 end
end
function done(summary, latency, requests)
  local errors, others = 0, 0
  for _, t in ipairs(threads) do
    errors = errors + t:get("server_errors")
    others = others + t:get("not_ok")
  end
  io.write(string.format("RESULT rps=%.1f p50=%.2f p95=%.2f p99=%.2f requests=%d server_errors=%d not_ok=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors, others))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback server
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server at {url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603 - our commands
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wrk(url: str, *, seconds: int, connections: int, method: str = "GET", body: str = "",
        headers: dict[str, str] | None = None, forward: bool = False, workdir: Path) -> dict[str, float]:
    script = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    lines = [f"FORWARD = {'true' if forward else 'false'}", f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = [[{body}]]")
    for name, value in (headers or {}).items():
        lines.append(f'wrk.headers["{name}"] = [[{value}]]')
    script.write_text("\n".join(lines) + "\n" + LUA, encoding="utf-8")
    done = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s", str(script), url],  # noqa: S603, S607
                          capture_output=True, text=True, check=True)
    found = re.search(r"RESULT (.*)", done.stdout)
    if not found:
        raise SystemExit(f"wrk said nothing usable:\n{done.stdout}\n{done.stderr}")
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def prepare(instance: Path, env: dict[str, str], persons: int) -> None:
    for command in (["init-db"], ["demo-data"]):
        subprocess.run([str(BIN / "pow-registry"), *command], env=env, check=True, capture_output=True)  # noqa: S603
    if persons:
        rows_file = generated_captures(instance, persons, seed=7)
        subprocess.run([str(BIN / "pow-registry"), "import", "captures", str(rows_file)], env=env, check=True,  # noqa: S603
                       capture_output=True)


def generated_captures(instance: Path, rows: int, seed: int) -> Path:
    import import_captures

    path = instance / f"captures-{seed}-{rows}.csv"
    import csv

    table = import_captures.generate_rows(rows, seed, as_cells=False)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(import_captures.COLUMNS)
        for row in table:
            writer.writerow([f"LOAD-{seed}-{row[0]}", *row[1:]])
    return path


# wrk and the bench's own sign-in send the same User-Agent: Flask-Login's "strong" session
# protection ties a session to its address and User-Agent, and would otherwise turn every search
# into a redirect to the login page (the first version of this script measured that redirect).
USER_AGENT = "pow-registry-load-bench"


def signed_in_cookies(env: dict[str, str]) -> tuple[str, str, str, Any]:
    """(a researcher's session cookie, a visitor's session cookie, that visitor's CSRF token, the
    researcher's test client), made with the app itself on the same instance: the server accepts
    them (same keys, same database)."""
    os.environ.update(env)
    import pyotp

    from pow_registry.app import create_app
    from pow_registry.demo import DEMO_PASSWORD, DEMO_TOTP_SECRETS

    app = create_app({"SESSION_COOKIE_SECURE": False})
    researcher = app.test_client()
    researcher.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    email = "researcher@demo.invalid"
    researcher.post("/login", data={"email": email, "password": DEMO_PASSWORD,
                                    "csrf_token": _csrf(researcher, "/login")})
    researcher.post("/login/code", data={"code": pyotp.TOTP(DEMO_TOTP_SECRETS[email]).now(),
                                         "csrf_token": _csrf(researcher, "/login/code")})
    if researcher.get("/registry/").status_code != 200:
        raise SystemExit("could not sign in as the demo researcher")
    visitor = app.test_client()
    visitor.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    token = _csrf(visitor, "/status")
    return _cookie(researcher), _cookie(visitor), token, researcher


def _csrf(client: Any, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise SystemExit(f"no CSRF token on {path}")
    return found.group(1)


def _cookie(client: Any) -> str:
    cookie = client.get_cookie("session")
    if cookie is None:
        raise SystemExit("no session cookie")
    return f"session={cookie.value}"


def start_import_job(env: dict[str, str], researcher_cookie: str, rows_file: Path) -> int:
    """The researcher sends the file on the import page, as in a browser: a job is queued (the
    instance's queue) and the server's job thread runs it (JOB_WORKERS_IN_SERVE, default 1)."""
    import io

    os.environ.update(env)
    from pow_registry.app import create_app

    researcher = create_app({"SESSION_COOKIE_SECURE": False}).test_client()
    researcher.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    researcher.set_cookie("session", researcher_cookie.removeprefix("session="))
    token = _csrf(researcher, "/registry/import")
    answer = researcher.post("/registry/import", data={"csrf_token": token, "file": (
        io.BytesIO(rows_file.read_bytes()), rows_file.name)})
    found = re.search(r"/jobs/(\d+)", answer.headers.get("Location", ""))
    if answer.status_code not in (302, 303) or not found:
        raise SystemExit(f"the import was not queued: {answer.status_code}")
    return int(found.group(1))


def job_status(instance: Path, job_id: int) -> str:
    import sqlite3

    with contextlib.closing(sqlite3.connect(instance / "pow_registry.sqlite3")) as conn:
        row = conn.execute("SELECT status FROM job WHERE id = ?", (job_id,)).fetchone()
    return str(row[0]) if row else "missing"


# Each server with the settings it would be documented with: the app, and the bare page the same
# way ({port} and {threads} filled in). One process each: the per-address limits live in the
# process (RATELIMIT_STORAGE_URI=memory://), as do the job threads and the match index; several
# processes need Redis for the limits (README).
SERVERS: dict[str, tuple[list[str], list[str]]] = {
    "waitress": (
        [str(BIN / "pow-registry"), "serve", "--port", "{port}", "--threads", "{threads}"],
        [sys.executable, "-c", "import waitress, bare_app; waitress.serve(bare_app.app, host='127.0.0.1', "
         "port={port}, threads={threads}, connection_limit=1000, channel_timeout=60, _quiet=True)"]),
    "gunicorn-gthread": (
        [str(BIN / "gunicorn"), "-k", "gthread", "-w", "1", "--threads", "{threads}", "--keep-alive", "60",
         "--worker-connections", "1000", "-b", "127.0.0.1:{port}", "load_wsgi:app"],
        [str(BIN / "gunicorn"), "-k", "gthread", "-w", "1", "--threads", "{threads}", "--keep-alive", "60",
         "--worker-connections", "1000", "-b", "127.0.0.1:{port}", "bare_app:app"]),
    "granian": (
        [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
         "--blocking-threads", "{threads}", "--no-ws", "--log-level", "warning", "load_wsgi:app"],
        [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
         "--blocking-threads", "{threads}", "--no-ws", "--log-level", "warning", "bare_app:app"]),
}


def _filled(command: list[str], port: int, threads: int) -> list[str]:
    return [part.replace("{port}", str(port)).replace("{threads}", str(threads)) for part in command]


def measure(server: str, args: argparse.Namespace, env: dict[str, str], workdir: Path, prepared: Path,
            cookies: tuple[str, str, str, Any]) -> tuple[dict[str, dict[str, float]], str]:
    """Every page under `server`, the bare page under the same server first; then the status page
    while a researcher's import job runs in the server's job thread. Each server on its own copy
    of the prepared instance (a job cut short by the stop would otherwise run again in the next)."""
    researcher_cookie, visitor_cookie, csrf_token, _researcher = cookies
    instance = workdir / f"instance-{server}"
    shutil.copytree(prepared, instance)
    env = {**env, "POW_REGISTRY_INSTANCE_PATH": str(instance)}
    app_port, bare_port = free_port(), free_port()
    app_command, bare_command = SERVERS[server]
    code = Path(args.code).resolve() if args.code else ROOT
    server_env = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(code)])}
    with running(_filled(app_command, app_port, args.threads), server_env, workdir / f"{server}.log"), \
            running(_filled(bare_command, bare_port, args.threads), server_env, workdir / f"{server}-bare.log"):
        base = f"http://127.0.0.1:{app_port}"
        wait_for(f"{base}/healthz")
        wait_for(f"http://127.0.0.1:{bare_port}/")
        from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE

        status_body = urllib.parse.urlencode({"reference": DEMO_INQUIRY_REFERENCE, "access_code": DEMO_ACCESS_CODE,
                                              "csrf_token": csrf_token})
        status: dict[str, Any] = {"method": "POST", "body": status_body, "forward": True, "headers": {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": visitor_cookie, "User-Agent": USER_AGENT}}
        common: dict[str, Any] = {"seconds": args.seconds, "connections": args.connections, "workdir": workdir}
        results: dict[str, dict[str, float]] = {}
        results["bare"] = wrk(f"http://127.0.0.1:{bare_port}/", **common)
        results["healthz"] = wrk(f"{base}/healthz", **common)
        results["status"] = wrk(f"{base}/status", **status, **common)
        results["search"] = wrk(f"{base}/registry/?q=" + urllib.parse.quote("Иванов"),
                                headers={"Cookie": researcher_cookie, "User-Agent": USER_AGENT}, **common)
        note = "no import"
        if args.import_rows:
            rows_file = generated_captures(instance, args.import_rows, seed=11 + list(SERVERS).index(server))
            job_id = start_import_job(env, researcher_cookie, rows_file)
            deadline = time.monotonic() + 120
            while job_status(instance, job_id) != "running" and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # past the file's decryption and reading: into the rows
            results["status+import"] = wrk(f"{base}/status", **status, **common)
            after = job_status(instance, job_id)
            note = f"the import job ({args.import_rows} rows) was {after} when wrk ended"
            if after == "running":
                note += " (it ran through the whole measurement; the server's stop cuts it short)"
    return results, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="the server's threads (serve --threads)")
    parser.add_argument("--persons", type=int, default=5000, help="generated men added to the demo data")
    parser.add_argument("--import-rows", type=int, default=10000,
                        help="rows of the import job run beside status+import (0: none)")
    parser.add_argument("--servers", default="waitress",
                        help=f"comma-separated, each measured in turn: {', '.join(SERVERS)}")
    parser.add_argument("--code", default="", help="another checkout whose pow_registry the servers run (before/after)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    servers = [name for name in args.servers.split(",") if name]
    for name in servers:
        if name not in SERVERS:
            raise SystemExit(f"unknown server {name!r}: {', '.join(SERVERS)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="pow-load-"))
    instance = workdir / "instance"
    env = {**os.environ, "POW_REGISTRY_INSTANCE_PATH": str(instance), "POW_REGISTRY_TRUSTED_PROXIES": "1",
           "POW_REGISTRY_ORGANISATION_NAME": "Fictitious Search Group (load bench)",
           "POW_REGISTRY_ORGANISATION_CONTACT": "load@bench.invalid", "POW_REGISTRY_SESSION_COOKIE_SECURE": "false"}
    for name in ("POW_REGISTRY_DATABASE_URL", "POW_REGISTRY_SECRET_KEY"):
        env.pop(name, None)
    try:
        started = time.perf_counter()
        prepare(instance, env, args.persons)
        print(f"instance: demo data + {args.persons} generated men, SQLite, in {time.perf_counter() - started:.0f} s")
        cookies = signed_in_cookies(env)
        for server in servers:
            load_before = os.getloadavg()[0]
            results, note = measure(server, args, env, workdir, instance, cookies)
            print_results(server, results, args, note, load_before)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_results(server: str, results: dict[str, dict[str, float]], args: argparse.Namespace, note: str,
                  load_before: float) -> None:
    ceiling = results["bare"]["rps"]
    print(f"\n{server}{' (code: ' + args.code + ')' if args.code else ''}: wrk 1 thread, {args.connections} connections, {args.seconds} s per page; {args.threads} "
          f"server threads; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'page':<15}{'req/s':>9}{'of bare':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'5xx':>6}{'not 200':>9}")
    for name, r in results.items():
        print(f"{name:<15}{r['rps']:>9.0f}{r['rps'] / ceiling:>9.2f}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}"
              f"{r['server_errors']:>6.0f}{r['not_ok']:>9.0f}")
    print(note)
    targets = [("status ≥ 0.25 of bare", results["status"]["rps"] / ceiling >= 0.25),
               ("status p99 < 50 ms", results["status"]["p99"] < 50),
               ("search ≥ 0.25 of bare", results["search"]["rps"] / ceiling >= 0.25),
               ("healthz ≥ 0.5 of bare", results["healthz"]["rps"] / ceiling >= 0.5),
               ("no 5xx", all(r["server_errors"] == 0 for r in results.values())),
               ("every answer 200", all(r["not_ok"] == 0 for r in results.values()))]
    if "status+import" in results:
        targets.append(("status p95 ≤ 100 ms during an import", results["status+import"]["p95"] <= 100))
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
