"""Pieces several test modules share (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel

TEST_PASSWORD = "correct horse battery staple"
# The access code of the inquiry registry_rows() makes (fictitious, tests only).
WORLD_ACCESS_CODE = "T3ST-C0DE-0000-0001"
# A real 1×1 PNG: enough for the archive's type check and for a browser to show.
PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       + b"\x1f\x15\xc4\x89")


IN_CI = os.environ.get("CI", "").lower() == "true"
NGINX = Path("/usr/sbin/nginx")


def fast_app_config(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Config every test app shares: cheap password hashing, plain-http cookies, its own store."""
    return {
        "DATABASE_URL": db_url,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8,
        "ARGON2_PARALLELISM": 1,
        "EVIDENCE_DIR": str(tmp_path / "evidence"),
        "RATELIMIT_STORAGE_URI": "memory://",
        # Two-factor sign-in is tested on its own (test_two_factor.py) and in the browser journeys;
        # elsewhere the fixtures' accounts sign in with a password only.
        "TWO_FACTOR_ROLES": [],
        # Records are matched inside the transaction that writes them, so that a test sees its
        # candidates at once; tests/test_match_queue.py runs the production way (queued, matched
        # by the worker) end to end, web pages included.
        "MATCHING_IN_JOBS": False,
    }


def snapshot(session: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: the whole database, to show that nothing changed."""
    state = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = session.execute(text(f'SELECT * FROM "{table.name}"')).all()  # noqa: S608 - our own table names
        state[table.name] = sorted((tuple(r) for r in rows), key=repr)
    session.commit()  # end the read: SQLite transactions here begin IMMEDIATE
    return state


def registry_rows(*, app: Any, session: Any, audit_key: bytes, author: Any, make_person: Any,
                  job_owner: Any = None) -> dict[str, int]:
    """Real rows for every kind of id a URL can carry: a person with a report and an archived
    piece of evidence, a merge of two other records, a family's inquiry about the first
    person (access code WORLD_ACCESS_CODE) with the candidate match the matcher proposed, and
    the exchange rows of `exchange_rows` (the first person on the draft, the kept one of the
    merge on the frozen list), and a finished inquiries import of `job_owner` (else the author)
    whose access codes wait."""
    from sqlmodel import select

    from pow_registry.domain.references import access_code_digest
    from pow_registry.models import MatchCandidate
    from pow_registry.services import registry
    from pow_registry.services.archive import EvidenceStore

    person = make_person(author, surname="Выдумкин", report={"capture_date": "2024-08-10"})
    report = registry.add_capture_report(session=session, actor=author, audit_key=audit_key,
                                         person_id=person.id, report={"capture_date": "2024-08-11"})
    store = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    evidence = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report.id,
                                     evidence={"url": "https://example.org/post/1", "kind": "photo"},
                                     archive=(PNG, "photo.png"), store=store)
    kept, duplicate = make_person(author, surname="Макетов"), make_person(author, surname="Макетов")
    merge = registry.merge_persons(session=session, actor=author, audit_key=audit_key, keep_id=kept.id,
                                   merge_id=duplicate.id, keep_version=kept.version,
                                   merge_version=duplicate.version, reason="тот же человек")
    inquiry = add_inquiry(session, access_code_digest=access_code_digest(WORLD_ACCESS_CODE, app.config["ACCESS_CODE_KEY_BYTES"]))
    match = session.exec(select(MatchCandidate).where(
        MatchCandidate.left_kind == "inquiry", MatchCandidate.left_id == inquiry.id,
        MatchCandidate.right_kind == "person", MatchCandidate.right_id == person.id)).one()
    session.commit()
    lists = exchange_rows(app=app, session=session, audit_key=audit_key, draft_person_id=person.id,
                          frozen_person_id=kept.id)
    job = finished_job(app=app, session=session, owner=job_owner or author)
    return {"person_id": person.id, "report_id": report.id, "evidence_id": evidence.id, "merge_id": merge.id,
            "inquiry_id": inquiry.id, "match_id": match.id, "job_id": job.id, **lists}


def finished_job(*, app: Any, session: Any, owner: Any, kind: str = "import_inquiries") -> Any:
    """A job that ran to its end: an inquiries import of one row whose access code waits, sealed,
    for its one download (a fictitious reference and code)."""
    import json
    import secrets

    from pow_registry import clock
    from pow_registry.models import Job, JobStatus
    from pow_registry.services import imports, jobs

    now = clock.now()
    outcome = {"dry_run": False, "rows_total": 1, "rows_created": 1, "rows_skipped": 0, "persons_created": 0,
               "evidence_created": 0, "inquiries_created": 1, "errors": []}
    job = Job(kind=kind, owner_id=owner.id, status=JobStatus.done, filename="inquiries.csv", file_bytes=10,
              file_sha256="0" * 64, submission_digest=secrets.token_hex(32), rows_done=1, rows_total=1,
              outcome=json.dumps(outcome), attempts=1, created_at=now, started_at=now, finished_at=now,
              codes_count=1, sealed_codes=jobs._seal_codes(app.config["ACCESS_CODE_KEY_BYTES"], [  # noqa: SLF001
                  imports.IssuedCode("ROW-1", "INQ-TEST-0001", WORLD_ACCESS_CODE)]))
    session.add(job)
    session.commit()
    return job


def exchange_rows(*, app: Any, session: Any, audit_key: bytes, draft_person_id: int,
                  frozen_person_id: int) -> dict[str, int]:
    """An ombudsman office, a draft verification request with one person on it ("list_id",
    "entry_id") and a frozen one with another ("frozen_list_id"; not exported yet). Verification
    requests: they may name men whose capture is only reported, so no status is forced."""
    from pow_registry.services import accounts, exchange

    passwords = app.extensions["pow_registry.passwords"]
    admin = accounts.create_user(session=session, actor=None, audit_key=audit_key, passwords=passwords,
                                 policy=accounts.PasswordPolicy(), email="office-admin@example.org",
                                 password=TEST_PASSWORD, roles=["admin"])
    staff = accounts.create_user(session=session, actor=None, audit_key=audit_key, passwords=passwords,
                                 policy=accounts.PasswordPolicy(), email="list-staff@example.org",
                                 password=TEST_PASSWORD, roles=["staff"])
    office = exchange.create_office(session=session, actor=admin, audit_key=audit_key,
                                    data={"name": "Вымышленный омбудсмен", "country": "UA", "language": "uk",
                                          "contact": "office@example.org"})
    frozen = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                  data={"office_id": office.id, "kind": "verification", "title": "Проверка"})
    exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=frozen.id,
                        person_id=frozen_person_id, reason="семья просит")
    frozen = exchange.freeze_list(session=session, actor=staff, audit_key=audit_key, list_id=frozen.id,
                                  version=exchange.get_list(session, frozen.id).version)
    draft = exchange.create_list(session=session, actor=staff, audit_key=audit_key,
                                 data={"office_id": office.id, "kind": "verification", "title": "Черновик"})
    entry = exchange.add_person(session=session, actor=staff, audit_key=audit_key, list_id=draft.id,
                                person_id=draft_person_id, reason="есть обращение семьи")
    from pow_registry.services import counterpart

    frozen_entry = exchange.list_detail(session, frozen.id).entries[0].entry
    returned = counterpart.import_list(session=session, actor=staff, audit_key=audit_key,
                                       data="surname,given_name\nВыдумкин,Виталий\n".encode(), filename="returned.csv",
                                       details={"kind": "held", "title": "Вымышленный список"})
    session.commit()
    return {"office_id": office.id, "list_id": draft.id, "entry_id": entry.id, "frozen_list_id": frozen.id,
            "frozen_entry_id": frozen_entry.id or 0, "counterpart_list_id": returned.list_id or 0}


def add_inquiry(session: Any, **fields: Any) -> Any:
    """An inquiry written straight to the table (the matcher's hook sees it like any other):
    «Выдумкин Виталий Евгеньевич» asked about by his mother unless fields say otherwise."""
    from pow_registry.domain.references import new_reference
    from pow_registry.models import Inquiry

    values = {"surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич",
              "date_of_birth": "2005-03-12", "requester_name": "Выдумкина Анна", "reference": new_reference(),
              "access_code_digest": "0" * 64, **fields}
    inquiry = Inquiry(**values)
    session.add(inquiry)
    session.commit()
    return inquiry


def run_queued_jobs(app: Any) -> int:
    """Run every job waiting on the app's queue, here in the test's thread, as a worker would
    (the same huey task, the same services.jobs.run_job); how many ran."""
    from pow_registry import worker

    queue = worker.queue(app)
    ran = 0
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
        ran += 1
    return ran


def job_page_after(client: Any, response: Any, app: Any) -> Any:
    """An import page's send: it redirects to its job; run the job, then open the job's page."""
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    assert location.startswith("/jobs/"), location
    run_queued_jobs(app)
    return client.get(location)


# ---------------------------------------------------------------------------------------------
# Real processes: `pow-registry serve` and worker as subprocesses, Debian's nginx in front of them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    """Until something listens on the port; fails with the process's output if it exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise AssertionError(f"{what} exited early ({process.returncode}): {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not start on port {port}")


def stop_processes(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Terminate each (SIGTERM, then SIGKILL after 10 s) and close its output pipe."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def require_nginx() -> None:
    """Skip the test with the reason when Debian's nginx is missing; in CI that is a failure."""
    import pytest

    if not NGINX.exists():
        if IN_CI:
            pytest.fail(f"nginx is required in CI and {NGINX} is missing (apt-get install nginx)")
        pytest.skip(f"{NGINX} is missing (Debian's nginx: apt-get install nginx)")


NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream pow_registry {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://pow_registry;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # TLS ends here in production ($scheme there); the tests speak http to nginx.
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, listen: int, app_ports: Iterable[int]) -> subprocess.Popen[bytes]:
    """Debian's nginx as an ordinary user (pid, logs and temp files in `tmp`) on 127.0.0.1:listen,
    one upstream of every app port (round robin, nginx's default), the proxy's headers set."""
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in app_ports)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, listen=listen, servers=servers), encoding="utf-8")
    return subprocess.Popen([str(NGINX), "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "nginx-error.log")],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
