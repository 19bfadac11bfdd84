"""scripts/audit.py against a fake OSV database on this machine: it audits the real lock, fails on a
vulnerability, and never passes quietly when the database does not answer (issue 14).

The fake stands in for api.osv.dev (unreachable from here); what is tested is the script's judgement
and pip-audit reading requirements/bench.txt, not the real database's contents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _vuln(name: str, vuln_id: str, fixed: str) -> dict[str, object]:
    return {
        "id": vuln_id,
        "summary": f"fictitious advisory for {name}",
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


class FakeOsv:
    """Answers OSV's /v1/query for the releases in `known` (name -> version -> advisory)."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], dict[str, object]] = {}
        self.asked: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = (query["package"]["name"], query["version"])
                fake.asked.append(key)
                body = json.dumps({"vulns": [fake.known[key]]} if key in fake.known else {})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/query"


@pytest.fixture
def osv() -> Iterator[FakeOsv]:
    fake = FakeOsv()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def audit(osv_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_AUDIT")}
    environment |= {
        "POW_REGISTRY_AUDIT_SERVICES": "osv",
        "POW_REGISTRY_AUDIT_OSV_URL": osv_url,
        "NO_PROXY": "127.0.0.1",
        **env,
    }
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "audit.py")],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
        timeout=300,
    )


def test_a_database_that_answers_audits_every_locked_package_and_passes_when_none_is_known(
    osv: FakeOsv,
) -> None:
    osv.known[("jinja2", "2.10")] = _vuln("jinja2", "PYSEC-2019-217", "2.10.1")
    run = audit(osv.url)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "against the osv vulnerability database" in run.stdout
    asked = {name for name, _ in osv.asked}
    assert {"flask", "sqlalchemy", "cryptography", "pytest", "recordlinkage"} <= asked


def test_a_known_vulnerability_in_a_locked_package_fails_the_audit(osv: FakeOsv) -> None:
    osv.known[("jinja2", "2.10")] = _vuln("jinja2", "PYSEC-2019-217", "2.10.1")
    lock = (ROOT / "requirements" / "bench.txt").read_text(encoding="utf-8")
    flask_version = next(
        line.split("==", 1)[1].split()[0] for line in lock.splitlines() if line.startswith("flask==")
    )
    osv.known[("flask", flask_version)] = _vuln("flask", "FAKE-2026-0001", "99.0")
    run = audit(osv.url, POW_REGISTRY_AUDIT_UNREACHABLE_OK="not the question here")
    assert run.returncode != 0
    assert "FAKE-2026-0001" in run.stdout
    assert "flask" in run.stdout


def test_a_database_that_knows_nothing_fails_loudly_instead_of_passing(osv: FakeOsv) -> None:
    run = audit(osv.url)  # answers, but not about jinja2 2.10: empty, like a mirror without data
    assert run.returncode == 1
    assert "NOT checked for known vulnerabilities" in run.stderr
    assert "POW_REGISTRY_AUDIT_UNREACHABLE_OK" in run.stderr
    assert osv.asked == [("jinja2", "2.10")]  # the lock was not "audited" against it


def test_an_unreachable_database_fails_unless_a_reason_to_carry_on_is_given(osv: FakeOsv) -> None:
    closed = osv.url
    osv.server.shutdown()
    osv.server.server_close()
    refused = audit(closed)
    assert refused.returncode == 1
    assert "NOT checked" in refused.stderr

    excused = audit(closed, POW_REGISTRY_AUDIT_UNREACHABLE_OK="the CI machine has no route to OSV")
    assert excused.returncode == 0
    assert "NOT checked" in excused.stderr
    assert "the CI machine has no route to OSV" in excused.stderr
