"""Known vulnerabilities in the locked dependencies: pip-audit on requirements/bench.txt.

bench.txt holds every pin of every other lock (scripts/locks.py), so one audit covers the app, the
tests and the benchmarks. A vulnerability database that cannot be reached must not look like a clean
audit (pip-audit's PyPI service, for one, skips every package it cannot look up and exits 0): so each
service is first asked about a release every database knows to be vulnerable, and is used only if it
names that vulnerability. When none answers, this fails with a sentence saying so, unless
POW_REGISTRY_AUDIT_UNREACHABLE_OK holds the reason to carry on (set by .ci/run, where the reason is
written); a vulnerability found always fails.

    POW_REGISTRY_AUDIT_SERVICES   services to try, in order (default "osv pypi")
    POW_REGISTRY_AUDIT_OSV_URL    another OSV query endpoint (a mirror of the database; the tests' fake)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "bench.txt"
PIP_AUDIT = str(Path(sys.executable).parent / "pip-audit")
# Jinja2 2.10's sandbox escape (CVE-2019-10906, PYSEC-2019-217, GHSA-462w-v97r-4m45): in every database.
CANARY = ("jinja2", "2.10")
OPT_OUT = "POW_REGISTRY_AUDIT_UNREACHABLE_OK"


def _service_args(service: str) -> list[str]:
    args = ["--vulnerability-service", service, "--progress-spinner", "off", "--timeout", "20"]
    osv_url = os.environ.get("POW_REGISTRY_AUDIT_OSV_URL")
    if service == "osv" and osv_url:
        args += ["--osv-url", osv_url]
    return args


def why_not_answering(service: str) -> str | None:
    """None when the service names the canary's vulnerability; else what it answered instead."""
    name, version = CANARY
    with tempfile.TemporaryDirectory() as tmp:
        canary = Path(tmp) / "canary.txt"
        canary.write_text(f"{name}=={version}\n", encoding="utf-8")
        run = subprocess.run(  # noqa: S603 - pip-audit from the locked environment
            [PIP_AUDIT, "-r", str(canary), "--no-deps", "--disable-pip", "--format", "json"]
            + _service_args(service),
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
        return (lines[-1] if lines else f"pip-audit exited {run.returncode} with no output")[:400]
    for dependency in report.get("dependencies", []):
        if dependency.get("name") == name:
            if dependency.get("vulns"):
                return None
            if dependency.get("skip_reason"):
                return dependency["skip_reason"][:400]
    return f"it knows of no vulnerability in {name} {version} (CVE-2019-10906)"


def main() -> int:
    services = os.environ.get("POW_REGISTRY_AUDIT_SERVICES", "osv pypi").split()
    failures = []
    for service in services:
        reason = why_not_answering(service)
        if reason is None:
            print(f"pip-audit: {LOCK.relative_to(ROOT)} against the {service} vulnerability database")
            return subprocess.call(  # noqa: S603 - pip-audit from the locked environment
                [PIP_AUDIT, "-r", str(LOCK), "--disable-pip", "--strict", "--desc", "on"]
                + _service_args(service)
            )
        failures.append(f"  {service}: {reason}")
    print(
        "error: no vulnerability database answered, so the locked dependencies were NOT checked for "
        "known vulnerabilities. Asked about "
        f"{CANARY[0]} {CANARY[1]}, which every database knows to be vulnerable:\n" + "\n".join(failures),
        file=sys.stderr,
    )
    allowed = os.environ.get(OPT_OUT, "").strip()
    if allowed:
        print(f"Carrying on without the audit, as {OPT_OUT} says: {allowed}", file=sys.stderr)
        return 0
    print(
        f"Run it where api.osv.dev or PyPI's JSON API answers, or set {OPT_OUT} to the reason for "
        "carrying on without it.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
