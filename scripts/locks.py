"""The lock files in requirements/: what each holds, how they are made, and whether they are current.

Every install (scripts/demo, scripts/test, CI) takes exact versions, each file checked against its
sha256, from one of these files, so two machines get the same code. They are made by uv from
pyproject.toml and requirements/installer.in (`bash scripts/lock`), and each one records a fingerprint
of those inputs: `check` compares it, so a dependency added to pyproject.toml without re-locking
stops the install with a sentence saying what to run, instead of an ImportError somewhere later.

Standard library only (Python 3.11+): it runs before any virtual environment exists.

    python3 scripts/locks.py check      # exit 1 with the reason when the locks are stale
    python3 scripts/locks.py make UV [ARG...]   # what `bash scripts/lock` runs
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036 - this line is for whoever runs it on an older Python
    sys.exit(f"pow_registry needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}.")

import tomllib  # noqa: E402 - after the version check, which says why an older Python fails

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
INSTALLER_IN = REQUIREMENTS / "installer.in"

# Which extras of pyproject.toml each lock holds, beside the app's own dependencies and the installer
# (pip and the build backend, requirements/installer.in). The last one holds all the others and is
# made first; the others are held to its versions, so a package has one version in every lock.
LOCKS: dict[str, tuple[str, ...]] = {
    "app": ("redis",),  # scripts/demo and a production install (both job queues)
    "dev": ("redis", "dev"),  # scripts/test and CI: tests, linters, pip-audit, uv
    "bench": ("redis", "dev", "bench"),  # everything, for bench/matching.py on FEBRL4; audited in CI
}
ALL = "bench"
FINGERPRINT_PREFIX = "# inputs-sha256: "
PYPI = "https://pypi.org/simple"
# uv settings from the environment that would lock against another index than PyPI's own.
_FOREIGN_INDEX_VARIABLES = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)


def lock_path(name: str) -> Path:
    return REQUIREMENTS / f"{name}.txt"


def fingerprint(pyproject: Path = ROOT / "pyproject.toml", installer_in: Path = INSTALLER_IN) -> str:
    """The sha256 of what the locks are made from: dependencies, extras, build requirements, Python.

    Comments and the order of the lists do not count; any change to a requirement does.
    """
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data.get("project", {})
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            extra: sorted(requirements)
            for extra, requirements in sorted(project.get("optional-dependencies", {}).items())
        },
        "build-system": sorted(data.get("build-system", {}).get("requires", [])),
        "installer.in": sorted(
            line.split("#", 1)[0].strip()
            for line in installer_in.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()
        ),
        "locks": {name: list(extras) for name, extras in LOCKS.items()},
    }
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recorded_fingerprint(lock: Path) -> str | None:
    if not lock.exists():
        return None
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(FINGERPRINT_PREFIX):
            return line[len(FINGERPRINT_PREFIX) :].split()[0]
    return None


def problems(pyproject: Path = ROOT / "pyproject.toml", installer_in: Path = INSTALLER_IN) -> list[str]:
    """One sentence per lock file that was not made from the current inputs (empty: all current)."""
    expected = fingerprint(pyproject, installer_in)
    found = []
    for name in LOCKS:
        lock = lock_path(name)
        recorded = recorded_fingerprint(lock)
        if recorded is None:
            found.append(f"{lock.relative_to(ROOT)} is missing or has no '{FINGERPRINT_PREFIX.strip()}' line")
        elif recorded != expected:
            found.append(
                f"{lock.relative_to(ROOT)} was made from other dependencies than pyproject.toml and "
                f"{INSTALLER_IN.relative_to(ROOT)} now list"
            )
    return found


def check() -> int:
    found = problems()
    if not found:
        return 0
    for problem in found:
        print(f"error: {problem}.", file=sys.stderr)
    print(
        "Run `bash scripts/lock` to make the lock files again from pyproject.toml (it keeps every "
        "version it can), and commit requirements/ with the change.",
        file=sys.stderr,
    )
    return 1


def make(uv: str, extra_args: list[str]) -> int:
    """Make every lock with uv: hashes of every file PyPI has for each pin, for any platform, Python 3.11+."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_INDEX_VARIABLES}
    stamp = fingerprint()
    order = [ALL] + [name for name in LOCKS if name != ALL]
    for name in order:
        command = [
            uv, "pip", "compile", "--quiet", "--no-config",
            "pyproject.toml", str(INSTALLER_IN.relative_to(ROOT)),
            *[arg for extra in LOCKS[name] for arg in ("--extra", extra)],
            "--universal", "--python-version", "3.11",
            "--generate-hashes", "--default-index", PYPI,
            "--custom-compile-command", "bash scripts/lock",
            "-o", str(lock_path(name).relative_to(ROOT)),
        ]  # fmt: skip
        if name != ALL:
            command += ["-c", str(lock_path(ALL).relative_to(ROOT))]
        status = subprocess.call([*command, *extra_args], cwd=ROOT, env=env)  # noqa: S603 - our own uv
        if status:
            return status
        _stamp(lock_path(name), stamp)
    print(f"made {', '.join(str(lock_path(n).relative_to(ROOT)) for n in LOCKS)} ({FINGERPRINT_PREFIX.strip()} {stamp[:12]}…)")
    return 0


def _stamp(lock: Path, stamp: str) -> None:
    """Write the inputs' fingerprint under uv's header (uv reads it back as a comment)."""
    lines = [
        line
        for line in lock.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith(FINGERPRINT_PREFIX)
    ]
    header_end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(header_end, f"{FINGERPRINT_PREFIX}{stamp} (checked by scripts/locks.py)\n")
    lock.write_text("".join(lines), encoding="utf-8")


def entry(lock: Path, package: str) -> str:
    """The lines of one pinned package in a lock (with its hashes): to install uv alone from it."""
    block: list[str] = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        if block and not line.startswith((" ", "\t")):
            break
        if block or line.split("==", 1)[0].strip().lower() == package:
            if not line.lstrip().startswith("#"):
                block.append(line)
    return "\n".join(block) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["make"] and len(argv) >= 2:
        return make(argv[1], argv[2:])
    if argv[:1] == ["entry"] and len(argv) == 3:
        print(entry(lock_path(argv[1]), argv[2]), end="")
        return 0
    if argv[:1] == ["fingerprint"]:
        print(fingerprint())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
