"""Benchmark of cross-referencing as the app runs it (services/matching.py), database included.

    .venv/bin/python bench/match_service.py                          # SQLite, 50,000 persons
    .venv/bin/python bench/match_service.py --persons 5000            # quicker
    .venv/bin/python bench/match_service.py --database postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/match_service.py --scale 10 --database postgresql+psycopg://postgres@127.0.0.1:5432/bench
                                        # 10x matching.py's default: 50,000 persons, 150,000 stored inquiries

It writes a generated registry (bench/matching.py's fictitious generator) straight into a fresh
database, and with --stored-inquiries that many families' inquiries too. A fresh process then
builds the match index from the tables (its first write: build time, and its RSS before and after,
which is what the index costs whichever process holds it). Then `pow-registry match --all` once
(index, name frequencies, every record re-scored), then new inquiries saved one at a time through
the ORM: each commit runs the matcher's hook (bring the index up to date, add the inquiry, query
both ways, write its candidates). It prints the batch time and the median / p95 time of one
inquiry's commit, with and without the hook, so the matcher's share is visible.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from matching import generate  # noqa: E402
from sqlmodel import Session, SQLModel, col, select  # noqa: E402

from pow_registry.db import make_engine  # noqa: E402
from pow_registry.domain.contact_crypto import ContactCrypto, generate_data_key, generate_index_key  # noqa: E402
from pow_registry.domain.references import new_reference  # noqa: E402
from pow_registry.models import CaptureReport, Inquiry, MatchCandidate, Person, utcnow  # noqa: E402
from pow_registry.services import matching  # noqa: E402


def _database(url: str | None) -> str:
    if url is None:
        return f"sqlite:///{tempfile.mkdtemp(prefix='pow-bench-')}/bench.sqlite3"
    if url.startswith("postgresql"):
        admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return url


#: bench/matching.py's default scale: `--scale N` is N times this many persons and stored inquiries.
MATCHING_DEFAULT = (5_000, 15_000)


def _rss_mb() -> float:
    """This process's resident memory now (not its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _inquiry(record: object) -> Inquiry:
    return Inquiry(reference=new_reference(), access_code_digest="0" * 64, requester_name="Бенчмарк",
                   surname=record.surname or "", given_name=record.given_name or "",  # type: ignore[attr-defined]
                   patronymic=record.patronymic or "", date_of_birth=record.date_of_birth,  # type: ignore[attr-defined]
                   unit=record.unit or "", last_known_place=record.place or "",  # type: ignore[attr-defined]
                   last_contact_date=record.event_date)  # type: ignore[attr-defined]


def measure_index(url: str, crypto_keys: list[str]) -> None:
    """In a fresh process: build the index from the tables (this process's first matched write)
    and print its time and the process's RSS before and after, as JSON. A tiny index is built
    first, so what is measured is the records' share, not the libraries and dictionaries every
    matching process loads once."""
    crypto = ContactCrypto([crypto_keys[0]], crypto_keys[1])
    warm = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='pow-bench-warm-')}/warm.sqlite3", contact_crypto=crypto)
    SQLModel.metadata.create_all(warm)
    sample = generate(20, 5, 99)
    with Session(warm) as session:
        session.add_all(_inquiry(r) for r in sample.inquiries)
        session.commit()
    warm.dispose()
    engine = make_engine(url, contact_crypto=crypto)
    with Session(engine, expire_on_commit=False) as session:
        session.exec(select(sa.func.count()).select_from(Person)).one()
        session.commit()
        gc.collect()
        before = _rss_mb()
        t0, cpu0 = time.perf_counter(), time.process_time()
        session.add(_inquiry(sample.inquiries[0]))
        session.commit()
        build, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        gc.collect()
        after = _rss_mb()
    print(json.dumps({"build_seconds": build, "build_cpu_seconds": cpu, "rss_before_mb": before, "rss_after_mb": after,
                      "records": matching.index_size(engine)}))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--inquiries", type=int, default=300, help="saved one at a time")
    parser.add_argument("--stored-inquiries", type=int, default=0,
                        help="families' inquiries written to the database before match --all")
    parser.add_argument("--scale", type=int, default=None,
                        help=f"N times bench/matching.py's default scale: persons and stored inquiries "
                             f"{MATCHING_DEFAULT[0]:,} × N and {MATCHING_DEFAULT[1]:,} × N")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", default=None, help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--measure-index", metavar="URL", help=argparse.SUPPRESS)  # keys in BENCH_CONTACT_KEYS
    args = parser.parse_args()
    if args.measure_index:
        measure_index(args.measure_index, os.environ["BENCH_CONTACT_KEYS"].split(","))
        return
    if args.scale:
        args.persons, args.stored_inquiries = MATCHING_DEFAULT[0] * args.scale, MATCHING_DEFAULT[1] * args.scale

    url = _database(args.database)
    # Fresh contact-data keys per run: the bench's data is thrown away after it.
    keys = [generate_data_key(), generate_index_key()]
    engine = make_engine(url, contact_crypto=ContactCrypto([keys[0]], keys[1]))
    SQLModel.metadata.create_all(engine)
    data = generate(args.persons, args.stored_inquiries + args.inquiries, args.seed)
    print(f"== {args.persons} persons and {args.stored_inquiries} stored inquiries on {engine.dialect.name}; "
          f"{args.inquiries} inquiries saved one by one ==")

    t0 = time.perf_counter()
    now = utcnow()
    with engine.begin() as conn:  # Core inserts: the registry arrives as if imported long ago
        rows = [{"surname": p.surname or "", "given_name": p.given_name or "", "patronymic": p.patronymic or "",
                 "date_of_birth": p.date_of_birth, "unit": p.unit or "", "status": "reported",
                 "status_basis": "no_verified_evidence", "status_reason": "", "conflict": False,
                 "conflict_note": "", "conflict_resolved_signature": "", "notes": "", "version": 1,
                 "surname_key": "", "given_name_key": "", "patronymic_key": "", "name_needs_review": False,
                 "place_of_birth": "", "place_of_birth_key": "", "rank": "", "personal_number": "",
                 "father_name": "", "mother_maiden_name": "", "person_to_inform": "", "home_region": "",
                 "health": "unknown", "created_at": now, "updated_at": now}
                for p in data.persons]
        for i in range(0, len(rows), 5000):
            conn.execute(sa.insert(Person), rows[i : i + 5000])
        ids = [r[0] for r in conn.execute(sa.select(col(Person.id)).order_by(col(Person.id)))]
        reports = [{"person_id": pid, "claim": "captured", "capture_date": p.event_date,
                    "capture_place": p.place or "", "capture_place_key": "", "reported_unit": "",
                    "circumstances": "", "version": 1, "created_at": now}
                   for pid, p in zip(ids, data.persons, strict=True)]
        for i in range(0, len(reports), 5000):
            conn.execute(sa.insert(CaptureReport), reports[i : i + 5000])
    if args.stored_inquiries:
        with Session(engine) as session:
            session.info["match_off"] = True  # as if imported before matching existed: match --all scores them
            for i in range(0, args.stored_inquiries, 5000):
                session.add_all(_inquiry(r) for r in data.inquiries[i : min(i + 5000, args.stored_inquiries)])
                session.commit()
    print(f"registry written in {time.perf_counter() - t0:.1f} s")

    # What the index costs a process that holds it: a fresh one builds it from the tables.
    measured = subprocess.run([sys.executable, __file__, "--measure-index", url], capture_output=True, text=True,  # noqa: S603
                              check=True, env={**os.environ, "BENCH_CONTACT_KEYS": ",".join(keys)})
    index = json.loads(measured.stdout.strip().splitlines()[-1])
    grown = index["rss_after_mb"] - index["rss_before_mb"]
    print(f"index built from the tables by a fresh process: {index['records']} records in "
          f"{index['build_seconds']:.1f} s ({index['build_cpu_seconds']:.1f} s of CPU); its RSS {index['rss_before_mb']:.0f} → {index['rss_after_mb']:.0f} MB "
          f"(+{grown:.0f} MB: {grown / index['records'] * 10_000:.1f} MB per 10,000 records; "
          f"{grown / args.persons * 10_000:.1f} MB per 10,000 persons with "
          f"{args.stored_inquiries / args.persons:.1f} inquiries each)")

    with Session(engine, expire_on_commit=False) as session:
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = matching.match_everything(session, everything=True)
        batch, batch_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        pairs = session.exec(select(sa.func.count()).select_from(MatchCandidate)).one()
        print(f"match --all: {result.records} records in {batch:.1f} s ({batch_cpu:.1f} s of CPU; {pairs} candidates); "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    def save(record: object, session: Session, hooked: bool) -> float:
        inquiry = _inquiry(record)
        session.info["match_off"] = not hooked
        t0 = time.perf_counter()
        session.add(inquiry)
        session.commit()
        return (time.perf_counter() - t0) * 1000

    rng = random.Random(args.seed)
    probes = rng.sample(data.inquiries[args.stored_inquiries:], args.inquiries)  # new to the database
    with Session(engine, expire_on_commit=False) as session:
        save(probes[0], session, True)  # the first commit of a process builds its index
        plain = sorted(save(r, session, False) for r in probes[: len(probes) // 3])
        hooked = sorted(save(r, session, True) for r in probes)
        found = session.exec(select(sa.func.count()).select_from(MatchCandidate)
                             .where(MatchCandidate.left_kind == "inquiry")).one()
    p95 = hooked[int(len(hooked) * 0.95)]
    print(f"one inquiry saved (commit) without the matcher: median {statistics.median(plain):.1f} ms")
    print(f"one inquiry saved with the matcher: median {statistics.median(hooked):.1f} ms, p95 {p95:.1f} ms, "
          f"max {hooked[-1]:.1f} ms ({found} inquiry candidates written)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    engine.dispose()


if __name__ == "__main__":
    main()
