#!/usr/bin/env python3
"""How does a web import behave as a job? Time from POST to redirect, rows/s of the job, the
worker's memory, and how long a page takes while the job runs: with the consumer as threads in
the web process (`serve`'s JOB_WORKERS_IN_SERVE) or as a separate `pow-registry worker`.

Generates a realistic fictitious captures file (that of bench/import_captures.py) or inquiries
file (below), makes a fresh SQLite database in a temp dir (or a new PostgreSQL database with
--database-url) migrated with Alembic, signs in a researcher who is also staff with the app's
test client, POSTs the file to /registry/import or /inquiries/import, then lets the job run and
asks for the job's page every half second, timing each answer.

`--matching off` measures the import without the cross-referencing its commit does today (the
`before_commit` hook of services/matching.py): the consumer's sessions get `match_off` set when
they begin, in this benchmark only.

    .venv/bin/python bench/import_job.py                        # 10,000 rows, captures and inquiries, both ways
    .venv/bin/python bench/import_job.py --rows 2000 --mode worker --kind inquiries --matching both
    .venv/bin/python bench/import_job.py --mode worker \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/pow_bench_jobs
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from import_captures import (  # noqa: E402
    LATIN_GIVEN,
    LATIN_SURNAMES,
    RU_GIVEN,
    RU_SURNAMES,
    UK_GIVEN,
    UK_SURNAMES,
    write_file,
)

INQUIRY_COLUMNS = ["source_ref", "surname", "given_name", "patronymic", "date_of_birth", "unit", "service_category",
                   "last_contact_date", "last_known_place", "requester_name", "requester_relationship",
                   "requester_phone", "requester_email", "preferred_language", "notes"]


def write_inquiries(path: Path, rows: int, seed: int = 2026) -> None:
    """A partner's inquiries file: invented names, phones in the +7 999 000 block, example.org mail."""
    import csv
    import io
    import random

    rng = random.Random(seed)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(INQUIRY_COLUMNS)
    for index in range(1, rows + 1):
        surnames, given = rng.choice([(RU_SURNAMES, RU_GIVEN), (UK_SURNAMES, UK_GIVEN), (LATIN_SURNAMES, LATIN_GIVEN)])
        surname = rng.choice(surnames)
        writer.writerow([
            f"BENCH-INQ-{index:07d}", surname, rng.choice(given), "",
            rng.choice(["", str(rng.randint(1975, 2006)), f"{rng.randint(1975, 2006)}-{rng.randint(1, 12):02d}"]),
            rng.choice(["", f"в/ч {rng.randint(10000, 99999)}"]), rng.choice(["", "conscript", "mobilised", "contract"]),
            rng.choice(["", f"2024-{rng.randint(1, 12):02d}"]), rng.choice(["", "Суджа", "Коренево", "Sudzha"]),
            f"{surname} {rng.choice(['Ольга', 'Ирина', 'Марія', 'Olena'])}", rng.choice(["мать", "жена", "сестра", "мати"]),
            rng.choice(["", f"+7 999 000 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"]),
            rng.choice(["", f"family{index}@example.org"]), rng.choice(["ru", "uk", "en"]),
            rng.choice(["", "Fictitious benchmark row."]),
        ])
    path.write_bytes(buffer.getvalue().encode("utf-8"))


# The worker of `--matching off`: its sessions skip the commit's cross-referencing (bench only).
MATCH_OFF_WORKER = """
import sys
from sqlalchemy import event
from sqlmodel import Session

@event.listens_for(Session, "after_begin")
def _match_off(session, _transaction, _connection):
    session.info["match_off"] = True

from pow_registry.cli import main
sys.argv = ["pow-registry", "worker"]
main()
"""

PASSWORD = secrets.token_urlsafe(24)  # a throwaway account in a temp database


def _vm_hwm_mb(pid: int) -> float:
    """A process's peak resident memory (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(mode: str, rows: int, database_url: str | None, keep: bool, kind: str = "captures",
        matching: str = "on") -> dict[str, Any]:
    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key

    tmp = Path(tempfile.mkdtemp(prefix=f"pow-job-bench-{mode}-"))
    instance = tmp / "instance"
    instance.mkdir()
    url = database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    pg_admin = None
    if database_url:
        import psycopg
        from sqlalchemy.engine import make_url

        parsed = make_url(database_url)
        name = f"{parsed.database}_{mode}_{kind}_{matching}"
        pg_admin = psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                   password=parsed.password, dbname="postgres", autocommit=True)
        pg_admin.execute(f'CREATE DATABASE "{name}"')
        url = parsed.set(database=name).render_as_string(hide_password=False)
    settings = {"SECRET_KEY": secrets.token_urlsafe(48), "CONTACT_DATA_KEYS": generate_data_key(),
                "CONTACT_INDEX_KEY": generate_index_key(), "DATABASE_URL": url}
    os.environ["POW_REGISTRY_INSTANCE_PATH"] = str(instance)
    for key, value in settings.items():
        os.environ[f"POW_REGISTRY_{key}"] = value
    from pow_registry.migrations_runner import upgrade

    upgrade(url)
    from pow_registry.app import create_app

    app = create_app({"SESSION_COOKIE_SECURE": False, "TWO_FACTOR_ROLES": [], "WTF_CSRF_ENABLED": False,
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1,
                      "IMPORT_MAX_BYTES": 60 * 1024 * 1024, "MAX_CONTENT_LENGTH": 80 * 1024 * 1024})
    from sqlmodel import Session

    from pow_registry import worker
    from pow_registry.models import Job
    from pow_registry.services import accounts

    with Session(app.extensions["pow_registry.engine"]) as session:
        accounts.create_user(session=session, actor=None, audit_key=app.config["AUDIT_KEY_BYTES"],
                             passwords=app.extensions["pow_registry.passwords"], policy=accounts.PasswordPolicy(),
                             email="bench@example.org", password=PASSWORD, roles=["researcher", "staff"])
    path = tmp / f"{kind}.csv"
    if kind == "captures":
        write_file(path, rows, "csv")
    else:
        write_inquiries(path, rows)
    data = path.read_bytes()
    if matching == "off":
        from sqlalchemy import event

        @event.listens_for(Session, "after_begin")
        def _match_off(session: Session, _transaction: Any, _connection: Any) -> None:
            session.info["match_off"] = True
    client = app.test_client()
    assert client.post("/login", data={"email": "bench@example.org", "password": PASSWORD}).status_code == 302

    import io

    started = time.perf_counter()
    endpoint = "/registry/import" if kind == "captures" else "/inquiries/import"
    response = client.post(endpoint, data={"file": (io.BytesIO(data), f"{kind}.csv")})
    post_seconds = time.perf_counter() - started
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    job_id = int(location.rsplit("/", 1)[1])

    process = None
    in_process = None
    if mode == "threads":
        in_process = worker.queue(app).start_in_process(1)
    else:
        script = Path(sys.executable).parent / "pow-registry"
        command = [str(script), "worker"] if matching == "on" else [sys.executable, "-c", MATCH_OFF_WORKER]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: S603
                                   env=dict(os.environ))
    job_started = time.perf_counter()
    latencies = []
    peak_worker_mb = 0.0
    read_only = app.extensions["pow_registry.engine"].execution_options(pow_registry_read_only=True)
    try:
        while True:
            t0 = time.perf_counter()
            page = client.get(location)
            latencies.append(time.perf_counter() - t0)
            assert page.status_code == 200
            if process is not None:
                peak_worker_mb = max(peak_worker_mb, _vm_hwm_mb(process.pid))
            with Session(read_only) as session:
                job = session.get(Job, job_id)
                assert job is not None
                status = job.status.value
            if status in ("done", "failed"):
                break
            time.sleep(0.5)
        job_seconds = time.perf_counter() - job_started
    finally:
        if in_process is not None:
            in_process.stop(graceful=True)
        if process is not None:
            peak_worker_mb = max(peak_worker_mb, _vm_hwm_mb(process.pid))
            process.terminate()
            process.wait(30)
    with Session(read_only) as session:
        job = session.get(Job, job_id)
        assert job is not None
        result = {"mode": mode, "kind": kind, "matching": matching, "rows": rows, "bytes": len(data),
                  "status": job.status.value, "created": _created(job),
                  "post_seconds": post_seconds, "job_seconds": job_seconds,
                  "run_seconds": (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None,
                  "page_median_ms": statistics.median(latencies) * 1000, "page_max_ms": max(latencies) * 1000,
                  "pages": len(latencies),
                  "web_process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_mb": peak_worker_mb if process is not None else None}
    app.extensions["pow_registry.engine"].dispose()
    if pg_admin is not None and not keep:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _created(job: Any) -> int | None:
    """How many rows the job says it created (a failed or refused job: none)."""
    import json

    try:
        return int(json.loads(job.outcome or "{}").get("rows_created"))
    except (TypeError, ValueError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--mode", choices=["threads", "worker", "both"], default="both")
    parser.add_argument("--kind", choices=["captures", "inquiries", "both"], default="both")
    parser.add_argument("--matching", choices=["on", "off", "both"], default="on",
                        help="off: without the commit's cross-referencing (measurement only)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import json

        print(json.dumps(run(args.child, args.rows, args.database_url, args.keep, args.kind, args.matching)))
        return
    modes = ["threads", "worker"] if args.mode == "both" else [args.mode]
    kinds = ["captures", "inquiries"] if args.kind == "both" else [args.kind]
    matchings = ["on", "off"] if args.matching == "both" else [args.matching]
    import json

    print(f"pow_registry import-as-a-job benchmark: {args.rows:,} rows, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}, Python {sys.version.split()[0]}")
    print(f"{'kind':<10} {'matching':<9} {'consumer':<10} {'POST→303 s':>11} {'job s':>8} {'rows/s':>8} "
          f"{'run s':>7} {'run rows/s':>10} {'page median ms':>15} {'page max ms':>12} {'web MB':>8} {'worker MB':>10}")
    print("(job s: from the consumer's start to the job's page saying it is done, the commit's cross-referencing "
          "included unless matching is off; run s: the job's own started_at → finished_at)")
    for kind in kinds:
        for matching in matchings:
            for mode in modes:
                command = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows), "--kind", kind,
                           "--matching", matching]
                if args.database_url:
                    command += ["--database-url", args.database_url]
                if args.keep:
                    command.append("--keep")
                out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 - our own script
                r = json.loads(out.stdout.strip().splitlines()[-1])
                rate = r["rows"] / r["job_seconds"]
                worker_mb = f"{r['worker_mb']:.0f}" if r["worker_mb"] else "(in web)"
                run_s = f"{r['run_seconds']:.1f}" if r["run_seconds"] is not None else "—"
                run_rate = f"{r['rows'] / r['run_seconds']:.0f}" if r["run_seconds"] else "—"
                print(f"{kind:<10} {matching:<9} {'threads' if mode == 'threads' else 'process':<10} "
                      f"{r['post_seconds']:>11.2f} {r['job_seconds']:>8.1f} {rate:>8.0f} {run_s:>7} {run_rate:>10} "
                      f"{r['page_median_ms']:>15.0f} {r['page_max_ms']:>12.0f} {r['web_process_mb']:>8.0f} "
                      f"{worker_mb:>10}  ({r['status']}, {r['created']} created, {r['pages']} pages, "
                      f"file {r['bytes'] / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
