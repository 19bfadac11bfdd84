"""Families checking their status while someone floods /status with wrong codes.

Runs the app as production does: `pow-registry serve` (waitress, configured by `serve`) in a
subprocess, on SQLite in a temporary folder, with some fictitious inquiries imported through
`pow-registry import inquiries`. Then:

1. quiet: families alone check their status with their right codes;
2. attack: the same, while attackers send wrong codes for those same families' references (they
   are printed in lists) at a steady rate from many loopback addresses (Linux routes all of
   127.0.0.0/8 to `lo`, so a client may bind 127.0.0.2 ... 127.0.0.51 as its source).

Each client does what a browser does: GET the form once (CSRF token and session cookie), then
POST it. It prints, per phase, the families' checks answered and refused, their latency (p50,
p95, p99, max), and what the attackers sent and how each was answered.

    .venv/bin/python bench/family_attack.py                     # defaults: 200/s from 50 addresses for 60 s
    .venv/bin/python bench/family_attack.py --seconds 20 --rate 400
    .venv/bin/python bench/family_attack.py --failed-checks-per-address "1000000 per hour" \\
        --checks-per-address "1000000 per minute"                # no limits at all: every wrong code does the full check

Latency is measured with time.perf_counter (the one clock, pow_registry/clock.py, is for dates).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SECRET = secrets.token_urlsafe(48)  # a fresh key per run: nothing is kept
TOKEN_RE = re.compile(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"')
WRONG_CODE = "0000-0000-0000-0000"
SURNAMES = ["Выдумкин", "Небывалов", "Придумкин", "Сочинёнов", "Вымыслов", "Небылицын", "Фантазёров",
            "Задумкін", "Вигадько", "Небувайло"]
GIVEN = ["Виталий", "Дмитрий", "Олег", "Сергій", "Андрій", "Иван", "Павло", "Николай"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One browser at one source address: a kept-alive connection, its cookie and CSRF token."""

    def __init__(self, port: int, source: str) -> None:
        self.port = port
        self.source = source
        self.connection: http.client.HTTPConnection | None = None
        self.cookie = ""
        self.token = ""

    def _send(self, method: str, path: str, body: str | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, list[str], str]:
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                             source_address=(self.source, 0))
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                cookies = response.headers.get_all("Set-Cookie") or []
                text = response.read().decode()
                if response.will_close:
                    self.connection.close()
                    self.connection = None
                return response.status, cookies, text
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def open_form(self) -> None:
        status, cookies, page = self._send("GET", "/status")
        match = TOKEN_RE.search(page)
        if status != 200 or not match:
            raise RuntimeError(f"GET /status from {self.source}: {status}")
        self.token = match.group(1)
        if cookies:
            self.cookie = "; ".join(c.split(";", 1)[0] for c in cookies)

    def check(self, reference: str, code: str) -> int:
        body = urlencode({"csrf_token": self.token, "reference": reference, "access_code": code})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie}
        return self._send("POST", "/status", body=body, headers=headers)[0]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------
# Families: each at its own address, checking with its right code every `interval` seconds.


def run_families(port: int, codes: list[tuple[str, str]], families: int, interval: float,
                 seconds: float) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def family(i: int) -> None:
        client = Client(port, f"127.0.1.{i + 1}")
        reference, code = codes[i % len(codes)]
        time.sleep(interval * i / families)  # spread the families over the interval
        while time.monotonic() < stop_at:
            began = time.monotonic()
            try:
                client.open_form()
                start = time.perf_counter()
                status = client.check(reference, code)
                took = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(took)
                    answers[str(status)] += 1
            except Exception as exc:  # noqa: BLE001 - a failure is a figure here, not a crash
                with lock:
                    answers[type(exc).__name__] += 1
            time.sleep(max(0.0, interval - (time.monotonic() - began)))

    threads = [threading.Thread(target=family, args=(i,)) for i in range(families)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, answers


# ---------------------------------------------------------------------------------------------
# Attackers: a child process (its own interpreter, so its threads do not slow the families'
# measurement), one thread per source address, each on a fixed schedule (open loop: a slow answer
# does not lower the rate asked for; a late request is sent at once).


def attack(port: int, references: list[str], addresses: int, rate: float, seconds: float,
           results: Any) -> None:
    per_address = rate / addresses
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    start_at = time.monotonic() + 0.5

    def attacker(i: int) -> None:
        client = Client(port, f"127.0.0.{i + 2}")
        client.open_form()
        n = 0
        while True:
            due = start_at + (n + i / addresses) / per_address
            if due - start_at >= seconds:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            began = time.perf_counter()
            try:
                status = str(client.check(references[(i + n) % len(references)], WRONG_CODE))
            except Exception as exc:  # noqa: BLE001
                status = type(exc).__name__
            with lock:
                answers[status] += 1
                latencies.append((time.perf_counter() - began) * 1000)
            n += 1

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(addresses)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((dict(answers), latencies, time.monotonic() - began - 0.5))


# ---------------------------------------------------------------------------------------------


def prepare(folder: Path, inquiries: int, env: dict[str, str], script: str) -> list[tuple[str, str]]:
    subprocess.run([script, "init-db"], env=env, check=True, capture_output=True)  # noqa: S603
    rows = folder / "inquiries.csv"
    with rows.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source_ref", "surname", "given_name", "requester_name", "requester_email"])
        for i in range(inquiries):
            writer.writerow([f"bench-{i}", SURNAMES[i % len(SURNAMES)], GIVEN[i % len(GIVEN)],
                             f"Небывалова Анна {i}", f"family{i}@example.org"])
    codes = folder / "codes.csv"
    subprocess.run([script, "import", "inquiries", str(rows), "--codes", str(codes)],  # noqa: S603
                   env=env, check=True, capture_output=True)
    with codes.open(encoding="utf-8") as fh:
        return [(row["reference"], row["access_code"]) for row in csv.DictReader(fh, skipinitialspace=True)]


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pow-registry serve exited ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pow-registry serve did not start")


def report_families(title: str, latencies: list[float], answers: Counter[str]) -> None:
    answered = answers.get("200", 0)
    refused = sum(answers.values()) - answered
    print(f"{title}: families answered {answered}, refused {refused} "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(answers.items()) if k != '200') or 'none'})")
    if latencies:
        print(f"  family check latency ms: p50 {percentile(latencies, 0.5):.1f}  "
              f"p95 {percentile(latencies, 0.95):.1f}  p99 {percentile(latencies, 0.99):.1f}  "
              f"max {max(latencies):.1f}  (mean {statistics.fmean(latencies):.1f}, n={len(latencies)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inquiries", type=int, default=200)
    parser.add_argument("--families", type=int, default=20, help="families, each at its own address")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between one family's checks")
    parser.add_argument("--rate", type=float, default=200.0, help="wrong-code requests per second, in all")
    parser.add_argument("--addresses", type=int, default=50, help="attacking addresses (127.0.0.2 ...)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the attack")
    parser.add_argument("--quiet-seconds", type=float, default=10.0, help="families alone, before the attack")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (serve's default)")
    parser.add_argument("--failed-checks-per-address", default=None, help="override the app's setting")
    parser.add_argument("--checks-per-address", default=None, help="override the app's setting")
    args = parser.parse_args()
    if not 1 <= args.addresses <= 250 or not 1 <= args.families <= 250:
        parser.error("--addresses and --families: 1 to 250")

    script = shutil.which("pow-registry", path=str(Path(sys.executable).parent)) or "pow-registry"
    with tempfile.TemporaryDirectory(prefix="pow-bench-attack-") as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_")}
        env.update(POW_REGISTRY_INSTANCE_PATH=str(folder / "instance"), POW_REGISTRY_SECRET_KEY=SECRET,
                   POW_REGISTRY_DATABASE_URL=f"sqlite:///{folder / 'bench.sqlite3'}",
                   POW_REGISTRY_ORGANISATION_NAME="Фонд «Выдуманный»",
                   POW_REGISTRY_ORGANISATION_CONTACT="https://example.org/")
        if args.failed_checks_per_address:
            env["POW_REGISTRY_STATUS_FAILED_CHECKS_PER_ADDRESS"] = args.failed_checks_per_address
        if args.checks_per_address:
            env["POW_REGISTRY_STATUS_CHECKS_PER_ADDRESS"] = args.checks_per_address
        began = time.perf_counter()
        codes = prepare(folder, args.inquiries, env, script)
        print(f"{len(codes)} fictitious inquiries imported in {time.perf_counter() - began:.1f} s "
              f"(SQLite, {folder})")
        port = free_port()
        server = subprocess.Popen([script, "serve", "--host", "127.0.0.1", "--port", str(port),  # noqa: S603
                                   "--threads", str(args.threads)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port, server)
            limits = (f"failed checks {env.get('POW_REGISTRY_STATUS_FAILED_CHECKS_PER_ADDRESS', 'default')}, "
                      f"checks {env.get('POW_REGISTRY_STATUS_CHECKS_PER_ADDRESS', 'default')} per address")
            print(f"pow-registry serve (waitress, {args.threads} threads) on 127.0.0.1:{port}; limits: {limits}")
            print(f"{args.families} families at 127.0.1.1-{args.families}, one check each per "
                  f"{args.interval:g} s, each with its right code")
            if args.quiet_seconds > 0:
                report_families(f"\nquiet, {args.quiet_seconds:g} s",
                                *run_families(port, codes, args.families, args.interval, args.quiet_seconds))
            print(f"\nattack: {args.rate:g} wrong codes/s from {args.addresses} addresses "
                  f"(127.0.0.2-{args.addresses + 1}) for {args.seconds:g} s, on the families' own references")
            results: Any = multiprocessing.get_context("fork").Queue()
            attacker = multiprocessing.get_context("fork").Process(
                target=attack, args=(port, [r for r, _ in codes[: args.families]], args.addresses, args.rate,
                                     args.seconds, results))
            attacker.start()
            family_figures = run_families(port, codes, args.families, args.interval, args.seconds + 0.5)
            answers, attack_latencies, took = results.get()
            attacker.join()
            report_families(f"during the attack, {args.seconds:g} s", *family_figures)
            sent = sum(answers.values())
            named = {"403": "403 (checked: wrong code)", "429": "429 (refused before any work)"}
            print(f"  attackers sent {sent} in {took:.1f} s ({sent / took:.0f}/s): "
                  + ", ".join(f"{named.get(k, k)} {v}" for k, v in sorted(answers.items())))
            if attack_latencies:
                print(f"  attacker latency ms: p50 {percentile(attack_latencies, 0.5):.1f}  "
                      f"p95 {percentile(attack_latencies, 0.95):.1f}  max {max(attack_latencies):.1f}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
