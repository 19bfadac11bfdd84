"""The layers of design/architecture.md: imports only go down, and the domain stays pure.

    web/  →  services/  →  domain/
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pow_registry"
FRAMEWORKS = ("flask", "flask_login", "flask_wtf", "flask_babel", "flask_limiter", "werkzeug", "jinja2")
DATABASE = ("sqlalchemy", "sqlmodel", "alembic", "psycopg")


def modules_in(folder: str) -> list[Path]:
    files = sorted((PACKAGE / folder).rglob("*.py"))
    assert files, folder
    return files


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module a file imports, anywhere in it (also inside functions), made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" and node.args:
            if isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def hits(names: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)}


def loaded_after_import(*modules: str) -> set[str]:
    """Top-level packages in sys.modules after importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # noqa: S603 - fixed arguments
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_domain_pulls_in_no_framework_and_no_database() -> None:
    domain_modules = [module_name(p) for p in modules_in("domain")]
    loaded = loaded_after_import(*domain_modules)
    assert not loaded & set(FRAMEWORKS + DATABASE), sorted(loaded & set(FRAMEWORKS + DATABASE))


def test_importing_the_package_alone_pulls_in_no_flask() -> None:
    loaded = loaded_after_import("pow_registry")
    assert not loaded & set(FRAMEWORKS + DATABASE)


def test_importing_the_services_pulls_in_no_flask() -> None:
    service_modules = [module_name(p) for p in modules_in("services")]
    loaded = loaded_after_import(*service_modules)
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))


@pytest.mark.parametrize("path", modules_in("domain"), ids=lambda p: p.name)
def test_domain_imports_nothing_above_it(path: Path) -> None:
    names = imported_names(path)
    above = ("pow_registry.services", "pow_registry.web", "pow_registry.models", "pow_registry.db",
             "pow_registry.app", "pow_registry.auth", "pow_registry.security", "pow_registry.cli",
             "pow_registry.i18n", "pow_registry.config")
    assert not hits(names, above), sorted(hits(names, above))
    assert not hits(names, FRAMEWORKS + DATABASE), sorted(hits(names, FRAMEWORKS + DATABASE))


@pytest.mark.parametrize("path", modules_in("services"), ids=lambda p: p.name)
def test_services_never_import_flask_or_the_web(path: Path) -> None:
    names = imported_names(path)
    assert not hits(names, FRAMEWORKS), sorted(hits(names, FRAMEWORKS))
    above = ("pow_registry.web", "pow_registry.app", "pow_registry.auth", "pow_registry.security",
             "pow_registry.db", "pow_registry.cli", "pow_registry.i18n")
    assert not hits(names, above), sorted(hits(names, above))


def _import_cycles(folder: str) -> list[list[str]]:
    """Cycles among a folder's modules (imports inside functions count: they hide a cycle)."""
    modules = {module_name(path): path for path in modules_in(folder)}
    graph = {name: {other for other in modules if other != name and other in imported_names(path)}
             for name, path in modules.items()}  # fmt: skip
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt == trail[0]:
                cycles.append([*trail, nxt])
            elif nxt not in trail and nxt > trail[0]:
                walk(nxt, [*trail, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return cycles


@pytest.mark.parametrize("folder", ["services", "domain"])
def test_no_two_modules_import_each_other(folder: str) -> None:
    # issue 13: services.matching and services.counterpart imported each other (inside functions);
    # the reviews that need both now live in services.reviews, above them
    assert _import_cycles(folder) == []


def test_the_import_checker_sees_what_it_should(tmp_path: Path) -> None:
    """The checker itself: relative, nested, aliased and dynamic imports are all seen."""
    assert imported_names(PACKAGE / "domain" / "__init__.py") == set()
    root = tmp_path / "pow_registry"
    fake = root / "domain" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..services import registry\nimport flask as f\n"
                    "def x():\n    from sqlalchemy import text\n    __import__('werkzeug')\n")
    names = imported_names(fake, root)
    assert {"pow_registry.services", "pow_registry.services.registry", "flask", "sqlalchemy", "werkzeug"} <= names
    assert hits(names, FRAMEWORKS) == {"flask", "werkzeug"}


# --- one clock ---------------------------------------------------------------------------------
# Reading the wall clock in passing is how main once turned red by itself: every "now" and "today"
# goes through pow_registry/clock.py, which tests move (time-machine, --clock-shift-days).

WALL_CLOCK_CALLS = ("date.today", "datetime.now", "datetime.utcnow", "datetime.today", "time.time",
                    "time.time_ns", "time.localtime", "time.gmtime", "time.ctime", "func.now",
                    "func.current_date", "func.current_timestamp", "func.localtimestamp")
WALL_CLOCK_SQL = ("CURRENT_DATE", "CURRENT_TIMESTAMP", "LOCALTIMESTAMP", "NOW()", "'now'")
TESTS = PACKAGE.parent / "tests"
# The clock itself, the option that moves it for a whole run (it reads the real clock before moving
# it), and this file (its checker's own examples).
CLOCK_READERS = {PACKAGE / "clock.py", TESTS / "conftest.py", Path(__file__).resolve()}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def wall_clock_reads(path: Path) -> list[str]:
    """Each place a file reads the wall clock other than through pow_registry.clock."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if any(name == c or name.endswith("." + c) for c in WALL_CLOCK_CALLS):
                found.append(f"{path.name}:{node.lineno} {name}()")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{path.name}:{node.lineno} from time import {a.name}" for a in node.names
                      if a.name in {"time", "time_ns", "localtime", "gmtime", "ctime"}]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            upper = node.value.upper()
            found += [f"{path.name}:{node.lineno} SQL {w}" for w in WALL_CLOCK_SQL
                      if w in upper and ("SELECT" in upper or "DEFAULT" in upper)]
    return found


@pytest.mark.parametrize("path", [p for p in sorted(PACKAGE.rglob("*.py")) + sorted(TESTS.rglob("*.py"))
                                  + sorted((PACKAGE.parent / "bench").rglob("*.py")) if p not in CLOCK_READERS], ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_nothing_reads_the_wall_clock_but_the_one_clock(path: Path) -> None:
    assert wall_clock_reads(path) == []


def test_the_wall_clock_checker_sees_what_it_should(tmp_path: Path) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text("import datetime, time\nfrom time import time_ns\nfrom datetime import date\n"
                    "a = date.today()\nb = datetime.datetime.now(datetime.UTC)\nc = time.time()\n"
                    "d = sa.func.now()\ne = 'SELECT CURRENT_TIMESTAMP'\nf = clock.today()\ng = time.monotonic()\n")
    assert len(wall_clock_reads(fake)) == 6
    assert wall_clock_reads(PACKAGE / "clock.py")  # the clock itself is the one reader
