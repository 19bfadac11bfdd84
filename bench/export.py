#!/usr/bin/env python3
"""How fast is the exchange-list export, and how much memory does it take?

Builds a `ListExport` of fictitious rows (invented surnames such as Выдумкин, Макетов, Вигадько;
Russian, Ukrainian and Latin spellings; partial dates; 1-3 evidence links under
https://example.org/), then measures, each in its own child process:

  export   pow_registry.domain.exchange_xlsx.write_list_xlsx: names in the office's script,
           labels, safe text, styles, the three sheets, the deterministic zip
  bare     a bare openpyxl write-only workbook with the same cell values (same three sheets,
           same rows), values computed before the clock starts; no styling, no safety pass, no
           determinism pass, plain Workbook.save into memory

Each run is a fresh child process so ru_maxrss (the process's peak resident memory) belongs to
that one step; the runs alternate and the median is reported. tracemalloc slows Python down, so
its peak (Python allocations during the call only) comes from a separate child.

    .venv/bin/python bench/export.py                       # 10,000 rows, English office, 3 runs each
    .venv/bin/python bench/export.py --rows 2000 --language ru --kind verification --runs 5

Targets (issue 4): export ≤ 1.5 × the bare write, ≤ 150 MB peak.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Both steps run openpyxl as production does, without lxml (the dev extra installs it for a test):
# the bare write would be lxml's otherwise, while the export always serialises its sheets with the
# standard library (exchange_xlsx, "Determinism"). OPENPYXL_LXML=True compares with lxml's.
os.environ.setdefault("OPENPYXL_LXML", "False")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pow_registry.domain import exchange_xlsx as ex  # noqa: E402

RU_SURNAMES = ["Выдумкин", "Макетов", "Шаблонов", "Условнов", "Черновиков", "Образчиков", "Пробнов",
               "Эскизов", "Набросков", "Заготовкин", "Небылицын", "Понарошкин", "Муляжов", "Пустышкин"]
UK_SURNAMES = ["Вигадько", "Макетенко", "Шаблонюк", "Умовний", "Чернетко", "Зразковий", "Пробенко",
               "Ескізенко", "Заглушко", "Вигадюк", "Макетчук"]
LATIN_SURNAMES = ["Vydumkin", "Maketov", "Shablonov", "Vyhadko", "Testenko", "Obraztsov-Demo"]
RU_GIVEN = ["Алексей", "Виталий", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим", "Илья"]
UK_GIVEN = ["Олексій", "Віталій", "Микола", "Дмитро", "Юрій", "Сергій", "Ілля", "Єгор", "Тарас"]
LATIN_GIVEN = ["Aleksei", "Vitaliy", "Nikolai", "Dmitrii", "Artem", "Yurii"]
RU_PATRONYMICS = ["Евгеньевич", "Игоревич", "Петрович", "Сергеевич", "Андреевич", "Олегович", ""]
UK_PATRONYMICS = ["Євгенович", "Миколайович", "Іванович", "Степанович", "Петрович", ""]
LATIN_PATRONYMICS = ["Igorevich", "Sergeevich", ""]
RANKS = ["рядовой", "ефрейтор", "младший сержант", "сержант", "солдат", "старший солдат", "private", ""]
PLACES = ["Выдуманка", "Примерное", "Шаблоновка", "Умовне", "Вигадане", "у с. Шаблоновка", "Vydumanka", ""]
NOTES = ["", "", "", "Вымышленная запись для нагрузочного теста.", "Вигаданий запис.",
         "Fictitious benchmark row.", "Лицо на видео частично закрыто."]
CATEGORY_CODES = list(ex.CATEGORY_LABELS)


def _partial(rng: random.Random, years: tuple[int, int]) -> str | None:
    year, month, day = rng.randint(*years), rng.randint(1, 12), rng.randint(1, 28)
    shape = rng.random()
    if shape < 0.6:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if shape < 0.75:
        return f"{year:04d}-{month:02d}"
    if shape < 0.9:
        return f"{year:04d}"
    return None


def build_export(rows: int, seed: int, language: str, kind: str) -> ex.ListExport:
    rng = random.Random(seed)
    items = []
    for number in range(1, rows + 1):
        script = rng.random()
        if script < 0.55:
            names = rng.choice(RU_SURNAMES), rng.choice(RU_GIVEN), rng.choice(RU_PATRONYMICS)
        elif script < 0.85:
            names = rng.choice(UK_SURNAMES), rng.choice(UK_GIVEN), rng.choice(UK_PATRONYMICS)
        else:
            names = rng.choice(LATIN_SURNAMES), rng.choice(LATIN_GIVEN), rng.choice(LATIN_PATRONYMICS)
        evidence = tuple(
            (rng.randint(1, 10**6), rng.choice([
                f"https://example.org/demo-channel-{rng.randint(1, 40)}/{rng.randint(1000, 99999)}",
                f"https://example.org/video/{rng.getrandbits(40):010x}",
                f"https://example.org/lists/{rng.randint(2022, 2024)}/list-{rng.randint(1, 300)}",
            ]))
            for _ in range(rng.choice([1, 1, 2, 2, 3]))
        )
        items.append(ex.ListRow(
            number=number,
            person_ref=f"P-{rng.randint(1, 999_999):06d}",
            surname=names[0], given_name=names[1], patronymic=names[2],
            date_of_birth=_partial(rng, (1970, 2006)),
            rank=rng.choice(RANKS),
            unit=rng.choice(["в/ч {}", "військова частина {}", "military unit {}", "{}"]).format(
                rng.randint(10000, 99999)),
            personal_number=rng.choice(["", f"АБ-{rng.randint(100000, 999999)}"]),
            capture_date=_partial(rng, (2022, 2025)),
            capture_place=rng.choice(PLACES),
            categories=tuple(sorted(rng.sample(CATEGORY_CODES, rng.choice([0, 1, 1, 2, 3])))),
            evidence=evidence,
            notes=rng.choice(NOTES),
        ))
    return ex.ListExport(
        number=12, kind=kind, office_name="Demo Ombudsman Office", office_country="Demoland",
        language=language, columns=ex.DEFAULT_COLUMNS,
        created_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        frozen_at=datetime(2026, 11, 22, 14, 30, tzinfo=UTC),
        frozen_by="Макетова А. (demo)", rows=tuple(items),
    )


# ------------------------------------------------------------------------------------------------
# The bare write: the same values, nothing else


def bare_values(export: ex.ListExport) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]]]:
    """The three sheets' values as write_list_xlsx shows them (plain str / int / date / None).

    Empty texts are None, as in the export (an empty string would still write an empty cell).
    """
    from pow_registry.domain.dates import PartialDate

    language = export.language

    def day(text: str | None) -> Any:
        if not text:
            return None
        partial = PartialDate.parse(text)
        return partial.earliest() if partial.precision == "day" else str(partial)

    answers = list(ex.ANSWER_COLUMNS) if export.kind == "verification" else []
    header = [ex.COLUMNS[k][language] for k in export.columns] + [ex.ANSWER_COLUMNS[k][language] for k in answers]
    rows: list[list[Any]] = [header]
    manifest: list[list[Any]] = [["No.", "Registry reference", "Row SHA-256", "Evidence"]]
    for row in export.rows:
        surname, given, patronymic = ex.names_for_office(row, language)
        source = ex.NAME_SOURCE_LABELS[ex.name_source(row, language)][language]
        evidence = "\n".join(f"#{i} {link}" for i, link in row.evidence)
        values = {
            "row_number": row.number, "person_ref": row.person_ref, "surname": surname,
            "given_name": given, "patronymic": patronymic, "name_source": source, "surname_as_entered": row.surname,
            "given_name_as_entered": row.given_name, "patronymic_as_entered": row.patronymic,
            "date_of_birth": day(row.date_of_birth), "rank": row.rank, "unit": row.unit,
            "personal_number": row.personal_number, "capture_date": day(row.capture_date),
            "capture_place": row.capture_place,
            "categories": "; ".join(ex.CATEGORY_LABELS[c][language] for c in row.categories),
            "evidence": evidence,
            "notes": row.notes,
        }
        rows.append([values[k] if values[k] != "" else None for k in export.columns])
        manifest.append([row.number, row.person_ref, ex.row_sha256(row), evidence or None])
    cover: list[list[Any]] = [[f"Exchange list {export.number}"], [], ["List number", export.number],
                              ["Kind", export.kind], ["Office", export.office_name],
                              ["Country", export.office_country], ["Created", export.created_at.replace(tzinfo=None)],
                              ["Frozen", export.frozen_at.replace(tzinfo=None)], ["Frozen by", export.frozen_by],
                              ["Total", len(export.rows)], []]
    cover += [[labels[language], 0] for labels in ex.CATEGORY_LABELS.values()]
    return rows, cover, manifest


def bare_write(sheets: tuple[list[list[Any]], ...]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, values in zip(("List", "Cover", "Manifest"), sheets, strict=True):
        ws = workbook.create_sheet(title)
        for row in values:
            ws.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------
# Child and parent


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def child(args: argparse.Namespace) -> None:
    import tracemalloc

    export = build_export(args.rows, args.seed, args.language, args.kind)
    if args.child == "bare":
        prepared = bare_values(export)  # before the clock: the bare write gets its values for free
        call = lambda: bare_write(prepared)  # noqa: E731
    else:
        call = lambda: ex.write_list_xlsx(export)  # noqa: E731
    result: dict[str, Any] = {"rss_start_mb": _rss_mb()}
    if args.trace:
        tracemalloc.start()
        data = call()
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    else:
        started, cpu = time.perf_counter(), time.process_time()
        data = call()
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu
    result["rss_peak_mb"] = _rss_mb()
    result["bytes"] = len(data)
    result["sha256"] = ex.list_sha256(data)
    print(json.dumps(result))


def run_child(args: argparse.Namespace, step: str, trace: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", step, "--rows", str(args.rows), "--seed",
               str(args.seed), "--language", args.language, "--kind", args.kind]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=900)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--language", choices=ex.LANGUAGES, default="en")
    parser.add_argument("--kind", choices=ex.KINDS, default="exchange")
    parser.add_argument("--runs", type=int, default=3, help="timed child runs per step (median reported)")
    parser.add_argument("--child", choices=["export", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    timed: dict[str, list[dict[str, Any]]] = {"export": [], "bare": []}
    for _ in range(args.runs):
        for step in ("bare", "export"):
            timed[step].append(run_child(args, step, trace=False))
    traced = {step: run_child(args, step, trace=True) for step in ("bare", "export")}
    hashes = {run["sha256"] for run in timed["export"]} | {traced["export"]["sha256"]}

    print(f"{args.rows:,} rows, {args.language} office, {args.kind}, {len(ex.DEFAULT_COLUMNS)} columns, "
          f"{args.runs} runs each (median)")
    print(f"{'step':<8}{'seconds':>10}{'cpu s':>8}{'file':>10}{'ru_maxrss':>12}{'(start)':>10}{'tracemalloc':>13}")
    seconds, cpu = {}, {}
    for step in ("bare", "export"):
        runs = timed[step]
        seconds[step] = statistics.median(run["seconds"] for run in runs)
        cpu[step] = statistics.median(run["cpu_seconds"] for run in runs)
        print(f"{step:<8}{seconds[step]:>10.2f}{cpu[step]:>8.2f}{runs[0]['bytes'] / 2**20:>8.1f}MB"
              f"{max(run['rss_peak_mb'] for run in runs):>10.0f}MB"
              f"{statistics.median(run['rss_start_mb'] for run in runs):>8.0f}MB"
              f"{traced[step]['traced_peak_mb']:>11.1f}MB")
    print(f"ratio export / bare: {seconds['export'] / seconds['bare']:.2f} wall, "
          f"{cpu['export'] / cpu['bare']:.2f} CPU (target ≤ 1.5)")
    print(f"export bytes identical across {len(timed['export']) + 1} processes: {len(hashes) == 1}")
    print("ru_maxrss: the child's peak resident memory (largest run); (start): before the call, with "
          "the generated list built; tracemalloc: Python allocations during the call, separate run. "
          "CPU seconds are the steadier figure on a shared machine.")


if __name__ == "__main__":
    main()
