#!/usr/bin/env python3
"""Load on the production server, driven by wrk on loopback: requests/s, p95, p99 and 5xx of

  bare        the smallest Flask page (bench/bare_app.py) under the same server and settings: the ceiling
  healthz     GET /healthz
  status      POST /status: a family checks the demo inquiry with its reference and access code,
              each request from another address (X-Forwarded-For through a trusted proxy, as
              thousands of families behind one nginx: no per-address limit is reached)
  search      GET /registry/?q=…: a signed-in researcher searches the registry
  status+import   the status check again while `import captures` writes N rows in another process

Every page is measured in the same run, on the same machine, each for --seconds at --connections
(issue 14: status ≥ 0.25 of bare with p99 < 50 ms at 8 connections, search ≥ 0.25, healthz ≥ 0.5,
zero 5xx; status p95 ≤ 100 ms while an import runs). The app runs as `pow-registry serve` with
the documented settings (README, "Operating it": JSON access log on, written to a file here),
on a fresh SQLite instance with the demo data set (and --persons generated fictitious men more).

    .venv/bin/python bench/load.py                        # 10 s per page, 8 connections
    .venv/bin/python bench/load.py --seconds 5 --persons 20000 --import-rows 10000

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
function init(args) server_errors = 0 end
function request()
  if FORWARD then
    wrk.headers["X-Forwarded-For"] = math.random(1, 223) .. "." .. math.random(0, 255) .. "." ..
      math.random(0, 255) .. "." .. math.random(1, 254)
  end
  return wrk.format()
end
function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1 end
end
function done(summary, latency, requests)
  local errors = 0
  for _, t in ipairs(threads) do errors = errors + t:get("server_errors") end
  io.write(string.format("RESULT rps=%.1f p50=%.2f p95=%.2f p99=%.2f requests=%d server_errors=%d non_ok=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors, summary.errors.status))
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


def signed_in_cookies(env: dict[str, str]) -> tuple[str, str, str]:
    """(a researcher's session cookie, a visitor's session cookie, that visitor's CSRF token), made
    with the app itself on the same instance: the server accepts them (same keys, same database)."""
    os.environ.update(env)
    import pyotp

    from pow_registry.app import create_app
    from pow_registry.demo import DEMO_PASSWORD, DEMO_TOTP_SECRETS

    app = create_app({"SESSION_COOKIE_SECURE": False})
    researcher = app.test_client()
    email = "researcher@demo.invalid"
    researcher.post("/login", data={"email": email, "password": DEMO_PASSWORD,
                                    "csrf_token": _csrf(researcher, "/login")})
    researcher.post("/login/code", data={"code": pyotp.TOTP(DEMO_TOTP_SECRETS[email]).now(),
                                         "csrf_token": _csrf(researcher, "/login/code")})
    if researcher.get("/registry/").status_code != 200:
        raise SystemExit("could not sign in as the demo researcher")
    visitor = app.test_client()
    token = _csrf(visitor, "/status")
    return _cookie(researcher), _cookie(visitor), token


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="the server's threads (serve --threads)")
    parser.add_argument("--persons", type=int, default=5000, help="generated men added to the demo data")
    parser.add_argument("--import-rows", type=int, default=10000, help="rows imported during status+import")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
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
        researcher_cookie, visitor_cookie, csrf_token = signed_in_cookies(env)
        app_port, bare_port = free_port(), free_port()
        serve = [str(BIN / "pow-registry"), "serve", "--port", str(app_port), "--threads", str(args.threads)]
        bare = [sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); import waitress, bare_app; "
                f"waitress.serve(bare_app.app, host='127.0.0.1', port={bare_port}, threads={args.threads}, "
                "connection_limit=1000, channel_timeout=60, _quiet=True)"]
        with running(serve, env, workdir / "serve.log"), running(bare, {**env, "PYTHONPATH": str(ROOT)},
                                                                 workdir / "bare.log"):
            base = f"http://127.0.0.1:{app_port}"
            wait_for(f"{base}/healthz")
            wait_for(f"http://127.0.0.1:{bare_port}/")
            from pow_registry.demo import DEMO_ACCESS_CODE, DEMO_INQUIRY_REFERENCE

            status_body = urllib.parse.urlencode({"reference": DEMO_INQUIRY_REFERENCE, "access_code": DEMO_ACCESS_CODE,
                                                  "csrf_token": csrf_token})
            status = {"method": "POST", "body": status_body, "forward": True,
                      "headers": {"Content-Type": "application/x-www-form-urlencoded", "Cookie": visitor_cookie}}
            common = {"seconds": args.seconds, "connections": args.connections, "workdir": workdir}
            results: dict[str, dict[str, float]] = {}
            results["bare"] = wrk(f"http://127.0.0.1:{bare_port}/", **common)  # type: ignore[arg-type]
            results["healthz"] = wrk(f"{base}/healthz", **common)  # type: ignore[arg-type]
            results["status"] = wrk(f"{base}/status", **status, **common)  # type: ignore[arg-type]
            results["search"] = wrk(f"{base}/registry/?q=" + urllib.parse.quote("Иванов"),  # type: ignore[arg-type]
                                    headers={"Cookie": researcher_cookie}, **common)
            rows_file = generated_captures(instance, args.import_rows, seed=11)
            importer = subprocess.Popen([str(BIN / "pow-registry"), "import", "captures", str(rows_file)],  # noqa: S603
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            import_started = time.perf_counter()
            results["status+import"] = wrk(f"{base}/status", **status, **common)  # type: ignore[arg-type]
            importer.wait()
            import_seconds = time.perf_counter() - import_started
        print_results(results, args, import_seconds)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def print_results(results: dict[str, dict[str, float]], args: argparse.Namespace, import_seconds: float) -> None:
    ceiling = results["bare"]["rps"]
    print(f"wrk: 1 thread, {args.connections} connections, {args.seconds} s per page; serve --threads {args.threads}")
    print(f"{'page':<15}{'req/s':>9}{'of bare':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'5xx':>6}{'non-2xx/3xx':>13}")
    for name, r in results.items():
        print(f"{name:<15}{r['rps']:>9.0f}{r['rps'] / ceiling:>9.2f}{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}"
              f"{r['server_errors']:>6.0f}{r['non_ok']:>13.0f}")
    print(f"the import of {args.import_rows} rows ran beside status+import and took {import_seconds:.1f} s in all")
    targets = [("status ≥ 0.25 of bare", results["status"]["rps"] / ceiling >= 0.25),
               ("status p99 < 50 ms", results["status"]["p99"] < 50),
               ("search ≥ 0.25 of bare", results["search"]["rps"] / ceiling >= 0.25),
               ("healthz ≥ 0.5 of bare", results["healthz"]["rps"] / ceiling >= 0.5),
               ("no 5xx", all(r["server_errors"] == 0 for r in results.values())),
               ("status p95 ≤ 100 ms during an import", results["status+import"]["p95"] <= 100)]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
