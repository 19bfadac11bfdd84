"""Benchmark of cross-referencing as the app runs it (services/matching.py), database included.

    .venv/bin/python bench/match_service.py                          # SQLite, 50,000 persons
    .venv/bin/python bench/match_service.py --persons 5000            # quicker
    .venv/bin/python bench/match_service.py --database postgresql://postgres@127.0.0.1:5432/bench

It writes a generated registry (bench/matching.py's fictitious generator) straight into a fresh
database, runs `pow-registry match --all` once (index, name frequencies, every person's
duplicates), then saves new inquiries one at a time through the ORM: each commit runs the
matcher's hook (bring the index up to date, add the inquiry, query both ways, write its
candidates). It prints the batch time and the median / p95 time of one inquiry's commit, with
and without the hook, so the matcher's share is visible.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=50_000)
    parser.add_argument("--inquiries", type=int, default=300, help="saved one at a time")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--database", default=None, help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    url = _database(args.database)
    # Fresh contact-data keys per run: the bench's data is thrown away after it.
    engine = make_engine(url, contact_crypto=ContactCrypto([generate_data_key()], generate_index_key()))
    SQLModel.metadata.create_all(engine)
    data = generate(args.persons, args.inquiries, args.seed)
    print(f"== {args.persons} persons on {engine.dialect.name}; {args.inquiries} inquiries saved one by one ==")

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
    print(f"registry written in {time.perf_counter() - t0:.1f} s")

    with Session(engine, expire_on_commit=False) as session:
        t0 = time.perf_counter()
        result = matching.match_everything(session, everything=True)
        batch = time.perf_counter() - t0
        pairs = session.exec(select(sa.func.count()).select_from(MatchCandidate)).one()
        print(f"match --all: {result.records} records in {batch:.1f} s ({pairs} person ↔ person candidates); "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    def save(record: object, session: Session, hooked: bool) -> float:
        inquiry = Inquiry(reference=new_reference(), access_code_digest="0" * 64, requester_name="Бенчмарк",
                          surname=record.surname or "", given_name=record.given_name or "",  # type: ignore[attr-defined]
                          patronymic=record.patronymic or "", date_of_birth=record.date_of_birth,  # type: ignore[attr-defined]
                          unit=record.unit or "", last_known_place=record.place or "",  # type: ignore[attr-defined]
                          last_contact_date=record.event_date)  # type: ignore[attr-defined]
        session.info["match_off"] = not hooked
        t0 = time.perf_counter()
        session.add(inquiry)
        session.commit()
        return (time.perf_counter() - t0) * 1000

    rng = random.Random(args.seed)
    probes = rng.sample(data.inquiries, min(args.inquiries, len(data.inquiries)))
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
    engine.dispose()


if __name__ == "__main__":
    main()
