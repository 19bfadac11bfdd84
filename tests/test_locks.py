"""The lock files in requirements/ match pyproject.toml: made from its current dependencies, every
requirement pinned to a version it allows, every pin hashed, one version per package (issue 14).

A dependency added to pyproject.toml without `bash scripts/lock` fails here (and stops
scripts/install-locked before it installs anything).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _load_locks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("locks", ROOT / "scripts" / "locks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


locks = _load_locks()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(name: str) -> list[tuple[str, str, str, list[str]]]:
    """(package, version, marker, hashes) for every entry of requirements/NAME.txt."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8")
    entries: list[tuple[str, str, str, list[str]]] = []
    logical = re.sub(r"\\\n\s*", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *hash_options = line.split(" --hash=")
        pinned, _, marker = requirement.partition(";")
        package, _, version = pinned.strip().partition("==")
        entries.append(
            (canonicalize_name(package), version.strip(), marker.strip(), [h.strip() for h in hash_options])
        )
    return entries


def inputs(name: str) -> list[Requirement]:
    """What requirements/NAME.txt must satisfy: the app's dependencies, its extras, the installer."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in locks.LOCKS[name]:
        lines += project["optional-dependencies"][extra]
    lines += PYPROJECT["build-system"]["requires"]
    installer = (ROOT / "requirements" / "installer.in").read_text(encoding="utf-8")
    lines += [line.split("#", 1)[0].strip() for line in installer.splitlines()]
    return [Requirement(line) for line in lines if line]


def test_the_locks_were_made_from_pyproject_as_it_is() -> None:
    assert locks.problems() == []


def test_a_dependency_added_without_locking_is_caught(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace('dependencies = [\n', 'dependencies = [\n    "fictitious-new-library>=1",\n', 1),
        encoding="utf-8",
    )
    assert pyproject.read_text(encoding="utf-8") != text
    found = locks.problems(pyproject)
    assert len(found) == len(locks.LOCKS)
    assert all("other dependencies than pyproject.toml" in problem for problem in found)


def test_a_changed_version_range_or_extra_is_caught_but_comments_and_order_are_not(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    current = locks.fingerprint()

    def fingerprint_of(changed: str) -> str:
        pyproject = tmp_path / "pyproject.toml"
        pyproject.write_text(changed, encoding="utf-8")
        return locks.fingerprint(pyproject)

    assert fingerprint_of(text.replace('"Flask>=3.1,<4"', '"Flask>=3.1,<5"')) != current
    assert fingerprint_of(text.replace('bench = [', 'bench = ["jellyfish", ', 1)) != current
    reordered = text.replace(
        '    "Flask>=3.1,<4",\n    "zxcvbn>=4.5,<5",', '    "zxcvbn>=4.5,<5",  # moved\n    "Flask>=3.1,<4",'
    )
    assert reordered != text
    assert fingerprint_of(reordered) == current


def test_the_check_command_says_what_to_run_when_a_lock_is_stale(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "locks.py", copy / "scripts")
    shutil.copytree(ROOT / "requirements", copy / "requirements")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (copy / "pyproject.toml").write_text(text, encoding="utf-8")
    run = [sys.executable, str(copy / "scripts" / "locks.py"), "check"]
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0  # noqa: S603

    (copy / "pyproject.toml").write_text(text.replace('"Flask>=3.1,<4"', '"Flask>=3.1,<5"'), encoding="utf-8")
    stale = subprocess.run(run, capture_output=True, text=True, check=False)  # noqa: S603
    assert stale.returncode == 1
    assert "bash scripts/lock" in stale.stderr


@pytest.mark.parametrize("name", list(locks.LOCKS))
def test_every_requirement_is_pinned_to_a_version_it_allows(name: str) -> None:
    pinned: dict[str, list[str]] = {}
    for package, version, _marker, _hashes in pins(name):
        pinned.setdefault(package, []).append(version)
    for requirement in inputs(name):
        versions = pinned.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement} is not in requirements/{name}.txt"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"requirements/{name}.txt pins {requirement.name}=={version}, outside {requirement}"
            )


@pytest.mark.parametrize("name", list(locks.LOCKS))
def test_every_pin_is_exact_and_hashed_and_names_no_index(name: str) -> None:
    entries = pins(name)
    assert len(entries) > 20
    for package, version, _marker, hashes in entries:
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{package} is not pinned exactly"
        assert hashes, f"{package}=={version} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), (package, hashes)
    text = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8")
    assert not re.search(r"^\s*-(-index-url|-extra-index-url|-find-links|i|f)\b", text, re.M)
    assert "file:" not in text


def test_a_package_has_the_same_version_in_every_lock() -> None:
    """Each lock may hold a package under other platform markers, never at another version."""
    everything: dict[str, set[str]] = {}
    for package, version, _marker, _ in pins(locks.ALL):
        everything.setdefault(package, set()).add(version)
    for name in locks.LOCKS:
        for package, version, _marker, _ in pins(name):
            assert version in everything.get(package, set()), (name, package, version, everything.get(package))


def test_every_extra_is_in_a_lock() -> None:
    locked = {extra for extras in locks.LOCKS.values() for extra in extras}
    assert set(PYPROJECT["project"]["optional-dependencies"]) <= locked
    assert all(set(extras) <= set(locks.LOCKS[locks.ALL]) for extras in locks.LOCKS.values())
