#!/usr/bin/env python3
"""How fast is `import captures`, and how much memory does it take?

Generates a realistic captures file (fictitious names in Russian, Ukrainian and Latin spelling,
partial dates, units like «в/ч 12345», 1-3 evidence links under https://example.org/ per row,
Admiralty grades), makes a fresh database (SQLite in a temp dir, or a new PostgreSQL database
with --database-url), and times `pow_registry.services.imports.import_captures` inside an app
context, attributed to the command line's own account (`imports.system_actor`):

  parse only     read_table + map_columns (no database)
  dry run        parse + validate every row, write nothing (on the empty database)
  import         parse + validate + write, one transaction
  re-import      the same file again: every row is already there and skipped

Every measurement runs in its own child process, so `ru_maxrss` (the process's peak resident
memory) belongs to that step alone. tracemalloc slows Python down a lot, so the seconds come
from one pass and the tracemalloc peaks from a second pass on a second fresh database.

    .venv/bin/python bench/import_captures.py                     # 10,000 rows, .xlsx, SQLite
    .venv/bin/python bench/import_captures.py --format csv --rows 2000
    .venv/bin/python bench/import_captures.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/pow_bench
    .venv/bin/python bench/import_captures.py --profile           # + cProfile of the import

Everything generated is fictitious and the temp dir (and any PostgreSQL database made here) is
removed at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_SECRET = "bench-secret-not-for-production-" + "b" * 16  # 48 characters

COLUMNS = [
    "source_ref", "surname", "given_name", "patronymic", "date_of_birth", "place_of_birth", "rank",
    "unit", "personal_number", "service_category", "home_region", "capture_date", "capture_place",
    "health", "evidence_url", "evidence_kind", "source_reliability", "info_credibility", "notes",
]

# ------------------------------------------------------------------------------------------------
# Fictitious people (invented surnames: "made-up", "mock-up", "template", "draft" ...)

RU_SURNAMES = [
    "Выдумкин", "Макетов", "Шаблонов", "Условнов", "Черновиков", "Образчиков", "Пробнов", "Эскизов",
    "Набросков", "Заготовкин", "Модельков", "Примерный", "Вымыслов", "Фантазёров", "Сочинялов",
    "Придумкин", "Небылицын", "Понарошкин", "Заглушкин", "Болванкин", "Манекенов", "Опытнов",
    "Тестовиков", "Макетный", "Черновой", "Эталонов", "Трафаретов", "Копиркин", "Муляжов", "Пустышкин",
]
UK_SURNAMES = [
    "Вигадько", "Макетенко", "Шаблонюк", "Умовний", "Чернетко", "Зразковий", "Пробенко", "Ескізенко",
    "Начеркун", "Заготовко", "Вигаданий", "Примірний", "Тестенко", "Заглушко", "Вигадюк", "Макетчук",
    "Вымысленко", "Шаблонович", "Чернеткін", "Ескізняк",
]
LATIN_SURNAMES = [
    "Vydumkin", "Maketov", "Shablonov", "Uslovnov", "Chernovikov", "Probnov", "Eskizov", "Nabroskov",
    "Zagotovkin", "Vymyslov", "Vyhadko", "Shabloniuk", "Testenko", "Zahlushko", "Obraztsov-Demo",
    "Fantazyorov", "Pridumkin", "Ponaroshkin",
]
RU_GIVEN = ["Алексей", "Виталий", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим", "Илья", "Егор",
            "Кирилл", "Иван", "Григорий", "Павел", "Роман", "Андрей", "Евгений", "Олег", "Денис", "Михаил"]
UK_GIVEN = ["Олексій", "Віталій", "Микола", "Дмитро", "Юрій", "Сергій", "Максим", "Ілля", "Єгор", "Іван",
            "Павло", "Роман", "Андрій", "Євген", "Олег", "Денис", "Михайло", "Тарас", "Богдан"]
LATIN_GIVEN = ["Aleksei", "Vitaliy", "Nikolai", "Dmitrii", "Artem", "Yurii", "Sergey", "Maxim", "Ilia",
               "Yegor", "Ivan", "Pavel", "Roman", "Andrei", "Yevgeniy", "Oleg", "Denis", "Mikhail"]
RU_PATRONYMICS = ["Евгеньевич", "Игоревич", "Петрович", "Сергеевич", "Андреевич", "Олегович", "Викторович",
                  "Денисович", "Романович", "Павлович", "Александрович", "Михайлович", "Ильич", ""]
UK_PATRONYMICS = ["Євгенович", "Миколайович", "Іванович", "Степанович", "Олександрович", "Петрович",
                  "Сергійович", "Андрійович", "Богданович", ""]
LATIN_PATRONYMICS = ["Igorevich", "Sergeevich", "Romanovich", "Ilyich", "", "", ""]
PLACES = ["Выдуманка", "Примерное", "Шаблоновка", "Условное", "Vydumanka", "Primernoye", "Умовне",
          "Вигадане", "Малая Выдуманка, Примерная область", "у с. Шаблоновка", ""]
BIRTH_PLACES = ["г. Примерск", "с. Выдуманка", "м. Умовне", "Primersk", "д. Макетово", ""]
REGIONS = ["Demo Oblast", "Примерная область", "Умовна область", "Выдуманский край", ""]
RANKS = ["рядовой", "ефрейтор", "младший сержант", "сержант", "старший сержант", "лейтенант", "солдат",
         "старший солдат", "молодший сержант", "private", "corporal", ""]
CATEGORIES = ["conscript", "contract", "contract", "mobilised", "volunteer", "pmc", "other", ""]
HEALTH = ["unknown", "unknown", "unknown", "healthy", "wounded", "seriously_wounded", "sick", ""]
KINDS = ["video", "video", "photo", "post", "list", "official_statement", "other"]
RELIABILITY = "BBCCCDDEFA"
CREDIBILITY = [2, 2, 3, 3, 3, 4, 6, 1]
NOTES = ["", "", "", "Вымышленная запись для нагрузочного теста.", "Вигаданий запис.",
         "Fictitious benchmark row.", "Лицо на видео частично закрыто."]


def _partial_date(rng: random.Random, years: tuple[int, int], as_cell: bool) -> Any:
    """A date as partners type it: full (a real date cell in .xlsx), DD.MM.YYYY, YYYY-MM, YYYY, empty."""
    year = rng.randint(*years)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    shape = rng.random()
    if shape < 0.45:
        value = dt.date(year, month, day)
        return value if as_cell else value.isoformat()
    if shape < 0.65:
        return f"{day:02d}.{month:02d}.{year}"
    if shape < 0.80:
        return f"{year}-{month:02d}"
    if shape < 0.93:
        return str(year)
    return ""


def _unit(rng: random.Random) -> str:
    number = f"{rng.randint(10000, 99999)}"
    return rng.choice([f"в/ч {number}", f"в/ч №{number}", f"ВЧ-{number}", f"войсковая часть {number}",
                       f"військова частина {number}", f"military unit {number}", f"{number}", ""])


def generate_rows(count: int, seed: int = 2026, *, as_cells: bool) -> list[list[Any]]:
    rng = random.Random(seed)
    rows: list[list[Any]] = []
    for index in range(1, count + 1):
        script = rng.random()
        if script < 0.55:
            surname, given, patronymic = rng.choice(RU_SURNAMES), rng.choice(RU_GIVEN), rng.choice(RU_PATRONYMICS)
        elif script < 0.85:
            surname, given, patronymic = rng.choice(UK_SURNAMES), rng.choice(UK_GIVEN), rng.choice(UK_PATRONYMICS)
        else:
            surname, given, patronymic = rng.choice(LATIN_SURNAMES), rng.choice(LATIN_GIVEN), rng.choice(LATIN_PATRONYMICS)
        links = [
            rng.choice([
                f"https://example.org/demo-channel-{rng.randint(1, 40)}/{rng.randint(1000, 99999)}",
                f"https://example.org/video/{rng.getrandbits(40):010x}",
                f"https://example.org/lists/{rng.randint(2022, 2024)}/list-{rng.randint(1, 300)}#row-{rng.randint(1, 500)}",
                f"https://example.org/posts?id={rng.randint(1, 10**7)}&lang=ru",
            ])
            for _ in range(rng.choice([1, 1, 2, 2, 3]))
        ]
        credibility: Any = rng.choice(CREDIBILITY)
        rows.append([
            f"BENCH-{index:07d}",
            surname,
            given,
            patronymic,
            _partial_date(rng, (1970, 2006), as_cells),
            rng.choice(BIRTH_PLACES),
            rng.choice(RANKS),
            _unit(rng),
            rng.choice(["", "", f"АБ-{rng.randint(100000, 999999)}", f"{rng.randint(10**6, 10**7 - 1)}"]),
            rng.choice(CATEGORIES),
            rng.choice(REGIONS),
            _partial_date(rng, (2022, 2024), as_cells),
            rng.choice(PLACES),
            rng.choice(HEALTH),
            " ".join(links),
            rng.choice(KINDS),
            rng.choice(RELIABILITY),
            credibility if as_cells else str(credibility),
            rng.choice(NOTES),
        ])
    return rows


def write_file(path: Path, rows: int, fmt: str) -> None:
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        writer.writerows(generate_rows(rows, as_cells=False))
        path.write_bytes(buffer.getvalue().encode("utf-8"))
        return
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("captures")
    sheet.append(COLUMNS)
    for row in generate_rows(rows, as_cells=True):
        sheet.append(row)
    workbook.save(path)


# ------------------------------------------------------------------------------------------------
# Databases


def _pg_admin(url: str) -> Any:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return psycopg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username,
                           password=parsed.password, dbname="postgres", autocommit=True, connect_timeout=5)


def create_databases(args: argparse.Namespace, workdir: Path, names: list[str]) -> dict[str, str]:
    """One fresh, migrated database per pass."""
    from pow_registry.migrations_runner import upgrade

    urls: dict[str, str] = {}
    if args.database_url:
        from sqlalchemy.engine import make_url

        base = make_url(args.database_url)
        if not base.drivername.startswith("postgresql"):
            sys.exit("--database-url must be a PostgreSQL URL (postgresql+psycopg://user@host:port/newdb)")
        stem = base.database or f"pow_bench_{secrets.token_hex(3)}"
        with _pg_admin(args.database_url) as admin:
            for name in names:
                db_name = stem if name == "timed" else f"{stem}_{name}"
                exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db_name,)).fetchone()
                if exists:
                    sys.exit(f"PostgreSQL database {db_name!r} already exists: give a fresh name in --database-url.")
                admin.execute(f'CREATE DATABASE "{db_name}"')
                urls[name] = base.set(database=db_name).render_as_string(hide_password=False)
    else:
        for name in names:
            urls[name] = f"sqlite:///{workdir / f'bench-{name}.sqlite3'}"
    for url in urls.values():
        upgrade(url)
    return urls


def drop_databases(args: argparse.Namespace, urls: dict[str, str]) -> None:
    if not args.database_url:
        return
    from sqlalchemy.engine import make_url

    with _pg_admin(args.database_url) as admin:
        for url in urls.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------------
# One measurement (runs in a child process)


def _make_app(db_url: str, instance: Path) -> Any:
    for name in list(os.environ):
        if name.startswith("POW_REGISTRY_"):
            del os.environ[name]
    os.environ["POW_REGISTRY_INSTANCE_PATH"] = str(instance)
    from pow_registry.app import create_app
    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key

    return create_app({
        "SECRET_KEY": BENCH_SECRET,
        "DATABASE_URL": db_url,
        # Fresh contact-data keys per run: the bench's data is thrown away after it.
        "CONTACT_DATA_KEYS": [generate_data_key()],
        "CONTACT_INDEX_KEY": generate_index_key(),
        "EVIDENCE_DIR": str(instance / "evidence"),
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
    })


def run_phase(args: argparse.Namespace) -> None:
    import gc
    import resource
    import tracemalloc

    phase, path = args.phase, Path(args.file)
    app = _make_app(args.db, Path(args.instance))
    data = path.read_bytes()
    result: dict[str, Any] = {"phase": phase}
    with app.app_context():
        from pow_registry import db
        from pow_registry.domain.tabular import CAPTURE_COLUMNS, map_columns, read_table
        from pow_registry.services import imports

        session = db.session()
        key = app.config["AUDIT_KEY_BYTES"]
        actor = imports.system_actor(session, audit_key=key)
        max_bytes = max(app.config["IMPORT_MAX_BYTES"], len(data))
        result["over_app_limit"] = len(data) > app.config["IMPORT_MAX_BYTES"]
        gc.collect()
        result["rss_before_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        profiler = None
        if args.profile_to:
            import cProfile

            profiler = cProfile.Profile()
        if args.trace:
            tracemalloc.start()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        if phase == "parse":
            table = read_table(data, path.name, max_bytes=max_bytes)
            map_columns(table.headers, CAPTURE_COLUMNS)
            result.update(rows_total=len(table.rows), errors=[])
        else:
            report = imports.import_captures(session=session, actor=actor, audit_key=key, data=data,
                                             filename=path.name, dry_run=phase == "dry", max_bytes=max_bytes)
            result.update(rows_total=report.rows_total, rows_created=report.rows_created,
                          rows_skipped=report.rows_skipped, persons=report.persons_created,
                          evidence=report.evidence_created,
                          errors=[f"row {e.row} {e.column}: {e.text()}" for e in report.errors[:5]],
                          error_count=len(report.errors))
        if profiler:
            profiler.disable()
        result["seconds"] = time.perf_counter() - started
        if args.trace:
            result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result["rss_peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if profiler:
            profiler.dump_stats(args.profile_to)
        if phase == "import" and not args.trace:
            result["counts"] = _counts(session)
    app.extensions["pow_registry.engine"].dispose()
    print("RESULT " + json.dumps(result))


def _counts(session: Any) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import select

    from pow_registry.models import AuditEvent, CaptureReport, Evidence, Person, StatusChange

    return {model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
            for model in (Person, CaptureReport, Evidence, StatusChange, AuditEvent)}


def child(phase: str, db_url: str, file: Path, instance: Path, *, trace: bool = False,
          profile_to: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--db", db_url,
               "--file", str(file), "--instance", str(instance)]
    if trace:
        command.append("--trace")
    if profile_to:
        command += ["--profile-to", str(profile_to)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)  # noqa: S603
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"the {phase} step failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    if result.get("errors"):
        sys.exit(f"the {phase} step reported {result.get('error_count')} problem(s), e.g.:\n  "
                 + "\n  ".join(result["errors"]))
    return result


# ------------------------------------------------------------------------------------------------
# Report


def _mb(value: float) -> str:
    return f"{value / 1_000_000:.1f} MB"


def print_profile(path: Path, limit: int = 25) -> None:
    import pstats

    stream = io.StringIO()
    stats = pstats.Stats(str(path), stream=stream)
    print("-- the app's own functions, by cumulative time:")
    stats.sort_stats("cumulative").print_stats(r"pow_registry/(services|domain)/", limit)
    print("-- where the SQL statements come from (callers of Session.execute/flush):")
    stats.print_callers(r"orm/session.py.*\((flush|_autoflush)\)")
    stats.print_callers(r"sqlmodel/orm/session.py.*\((exec|get)\)")
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    print(stream.getvalue().replace(str(ROOT) + "/", "").replace(sys.prefix + "/", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="data rows to generate (default 10000)")
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx", help="file format (default xlsx)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (file, SQLite databases) "
                        "and any PostgreSQL databases made here")
    parser.add_argument("--database-url", default="", help="PostgreSQL server and the name of a database to "
                        "create there, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/pow_bench "
                        "(<name>_mem and <name>_prof are made too); default: SQLite in the temp dir")
    parser.add_argument("--profile", action="store_true", help="also run the import under cProfile "
                        "(on its own fresh database) and print where the time goes")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc pass")
    # Internal: one measurement in a child process.
    parser.add_argument("--phase", choices=["parse", "dry", "import", "reimport"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args)
        return
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="pow-bench-"))
    instance = workdir / "instance"
    instance.mkdir()
    passes = ["timed"] + ([] if args.no_trace else ["mem"]) + (["prof"] if args.profile else [])
    urls: dict[str, str] = {}
    try:
        file = workdir / f"captures-{args.rows}.{args.format}"
        started = time.perf_counter()
        write_file(file, args.rows, args.format)
        generated = time.perf_counter() - started
        urls = create_databases(args, workdir, passes)
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"pow_registry import benchmark: {args.rows:,} rows, .{args.format}, {backend}, "
              f"Python {sys.version.split()[0]}")
        print(f"file: {file.name}, {file.stat().st_size:,} bytes ({_mb(file.stat().st_size)}), "
              f"generated in {generated:.1f} s")

        steps = ["parse", "dry", "import", "reimport"]
        timed = {step: child(step, urls["timed"], file, instance) for step in steps}
        traced = {step: child(step, urls["mem"], file, instance, trace=True) for step in steps} if "mem" in urls else {}
        if traced.get("parse", {}).get("over_app_limit"):
            print("note: the file is larger than the app's IMPORT_MAX_BYTES; the limit was raised for the benchmark")

        labels = {"parse": "parse only (read_table)", "dry": "dry run (parse+validate)",
                  "import": "import (parse+validate+write)", "reimport": "re-import (all skipped)"}
        print()
        print(f"{'step':<31}{'rows':>8}{'seconds':>10}{'rows/s':>10}{'tracemalloc peak':>18}{'ru_maxrss':>12}{'(start)':>10}")
        for step in ["import", "dry", "reimport", "parse"]:
            result = timed[step]
            peak = _mb(traced[step]["tracemalloc_peak"]) if step in traced else "—"
            rows = result["rows_total"]
            print(f"{labels[step]:<31}{rows:>8,}{result['seconds']:>10.2f}{rows / result['seconds']:>10,.0f}"
                  f"{peak:>18}{_mb(result['rss_peak_kb'] * 1024):>12}{_mb(result['rss_before_kb'] * 1024):>10}")
        imported, again, dry = timed["import"], timed["reimport"], timed["dry"]
        print()
        print(f"import: {imported['rows_created']:,} rows created ({imported['persons']:,} persons, "
              f"{imported['evidence']:,} evidence items); re-import: {again['rows_skipped']:,} skipped, "
              f"{again['rows_created']} created; dry run: {dry['rows_created']:,} would be created")
        print("database after the import: " + ", ".join(f"{k} {v:,}" for k, v in imported["counts"].items()))
        write = imported["seconds"] - dry["seconds"]
        print(f"write share of the import: {write:.2f} s of {imported['seconds']:.2f} s "
              f"({write / imported['seconds']:.0%}); {write / max(imported['rows_created'], 1) * 1000:.2f} ms per row")
        print("ru_maxrss is the step's own process peak (a child per step); (start) is that process before "
              "the call. Seconds come from runs without tracemalloc.")

        if "prof" in urls:
            profile_path = workdir / "import.prof"
            child("dry", urls["prof"], file, instance)  # same state as the timed import saw
            result = child("import", urls["prof"], file, instance, profile_to=profile_path)
            print(f"\ncProfile of the import ({result['seconds']:.1f} s under the profiler)"
                  + (f": {profile_path}" if args.keep else " (--keep keeps the .prof file)"))
            print_profile(profile_path)
    finally:
        if args.keep:
            print(f"\nkept: {workdir}" + (f" and databases {', '.join(urls.values())}" if args.database_url else ""))
        else:
            drop_databases(args, urls)
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
