"""The scale path (issue 14): PostgreSQL, Redis, two `pow-registry serve` processes and one
`pow-registry worker`, behind one nginx address, all real processes.

The stack: a fresh PostgreSQL database (created here, `pow-registry init-db` on it, dropped at
the end); Redis holding the rate limits (RATELIMIT_STORAGE_URI, key prefix unique to the run) and
the job queue (JOB_QUEUE_URL, a queue name unique to the run; both cleaned up at the end); two
`serve` processes on their own ports running no jobs (`--job-workers 0`); one `worker`; Debian's
nginx (as an ordinary user, files in a temp folder) with one upstream of both, round robin. Each
test talks through nginx and to each backend directly, from its own loopback source address
(Linux routes all of 127.0.0.0/8 to `lo`): limits count across both processes, a session (and a
form's CSRF token, and a half-done two-factor sign-in) made on one is good on the other and a
sign-out on one ends it on both, a job started on one is seen on the other and run by the worker.

It needs PostgreSQL, Redis and nginx, so it runs in the PostgreSQL pass of `bash scripts/test`
(POW_REGISTRY_TEST_DATABASE=postgresql); elsewhere it is skipped with the reason. A missing
server is a skip with the reason too, except in CI (`CI=true`), where it is a failure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from support import IN_CI, free_port, require_nginx, start_nginx, stop_processes, wait_for_port

pytestmark = pytest.mark.db

BACKEND = os.environ.get("POW_REGISTRY_TEST_DATABASE", "sqlite")
PG_URL = os.environ.get("POW_REGISTRY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("POW_REGISTRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "Vq3-scale-path-Kx9wPz7tN2mR8sL4jH6fD1bC5aE0gY"
FAILED_CHECKS = 3  # STATUS_FAILED_CHECKS_PER_ADDRESS for this stack, per hour
WRONG_CODE = "0000-0000-0000-0000"
JOB_DEADLINE_SECONDS = 120
GIVEN = ["Виталий", "Алексей", "Николай", "Дмитрий", "Артём", "Юрий", "Сергей", "Максим", "Илья", "Егор", "Кирилл", "Иван"]
CAPTURE_ROWS = len(GIVEN)


def captures(surname: str) -> bytes:
    """A small captures import: fictitious men, one surname, born 1980–1991."""
    rows = "".join(f"{surname[:3]}{i},{surname},{name},{1980 + i}-0{1 + i % 9}-1{i % 10},в/ч {20000 + i},2024-05,Суджа\n"
                   for i, name in enumerate(GIVEN))
    return ("source_ref,surname,given_name,date_of_birth,unit,capture_date,capture_place\n" + rows).encode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Browser:
    """One client: its own loopback source address and cookie jar, speaking to any of the ports."""

    source: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, port: int, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        sent = {"Accept-Language": "en", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(self.source, 0))
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            for cookie in response.headers.get_all("Set-Cookie") or []:
                pair, _, attributes = cookie.partition(";")
                name, _, value = pair.strip().partition("=")
                if not value or "max-age=0" in attributes.lower() or "expires=thu, 01 jan 1970" in attributes.lower():
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
            return Reply(response.status, dict(response.headers.items()), response.read().decode())
        finally:
            connection.close()

    def get(self, port: int, path: str) -> Reply:
        return self.request("GET", port, path)

    def post(self, port: int, path: str, fields: dict[str, str], *, file: tuple[str, str, bytes] | None = None) -> Reply:
        """A form's POST as a browser sends it (multipart with a file); the Referer Flask-WTF checks on HTTPS."""
        headers = {"Referer": f"https://127.0.0.1:{port}{path}"}
        if file is None:
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            boundary = uuid.uuid4().hex
            parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                     for k, v in fields.items()]
            name, filename, data = file
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f"Content-Type: text/csv\r\n\r\n".encode() + data + b"\r\n")
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", port, path, body=body, headers=headers)


def hidden(page: str, name: str) -> str:
    """The value of the hidden input `name` on a page."""
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', page)
    assert tag, f"no {name} on the page"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    assert value, f"{name} has no value"
    return value.group(1)


@dataclass
class Stack:
    proxy: int
    a: int
    b: int
    worker_pid: int
    reference: str
    code: str
    totp_secret: str
    database_url: str

    def sign_in(self, browser: Browser, email: str, *, form_from: int, send_to: int) -> Reply:
        page = browser.get(form_from, "/login")
        assert page.status == 200
        return browser.post(send_to, "/login", {"csrf_token": hidden(page.text, "csrf_token"), "email": email,
                                                 "password": PASSWORD, "next": ""})

    def check_status(self, browser: Browser, code: str, *, form_from: int, send_to: int) -> int:
        page = browser.get(form_from, "/status")
        assert page.status == 200
        return browser.post(send_to, "/status", {"csrf_token": hidden(page.text, "csrf_token"),
                                                  "reference": self.reference, "access_code": code}).status

    def start_import(self, browser: Browser, port: int, data: bytes) -> tuple[str, dict[str, str]]:
        """Upload a captures file on `port`'s import page: the job's path and the form's fields."""
        form = browser.get(port, "/registry/import")
        assert form.status == 200
        fields = {"csrf_token": hidden(form.text, "csrf_token"), "submission": hidden(form.text, "submission")}
        started = browser.post(port, "/registry/import", fields, file=("file", "captures.csv", data))
        assert started.status == 303, started.text
        job_path = started.location.removeprefix(f"http://127.0.0.1:{port}")
        assert re.fullmatch(r"/jobs/\d+", job_path), started.location
        return job_path, fields

    def wait_for_job(self, browser: Browser, port: int, job_path: str) -> dict[str, Any]:
        """Follow the job's progress on `port` until it has ended: its last state."""

        def finished() -> dict[str, Any] | None:
            progress = browser.get(port, job_path + "/progress")
            assert progress.status == 200
            state: dict[str, Any] = json.loads(progress.text)
            return state if state["finished"] else None

        return until(finished, "the worker to finish the job")  # type: ignore[no-any-return]

    def save_inquiry(self, browser: Browser, port: int, surname: str, given_name: str, date_of_birth: str) -> None:
        form = browser.get(port, "/inquiries/new")
        assert form.status == 200
        saved = browser.post(port, "/inquiries/new", {
            "csrf_token": hidden(form.text, "csrf_token"), "submission": hidden(form.text, "submission"),
            "surname": surname, "given_name": given_name, "date_of_birth": date_of_birth,
            "requester_name": "Небывалова Анна Петровна", "phones": "+79991234568", "requester_country": "RU",
            "preferred_language": "ru", "service_category": ""})
        assert saved.status == 303 and saved.location.endswith("/inquiries/issued"), saved.text

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            return list(conn.execute(sql, params).fetchall())


def _required(what: str, reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(reason)


def _run(script: str, *args: str, env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run([script, *args], env=env, input=stdin, capture_output=True, text=True,  # noqa: S603
                          timeout=120, check=False)
    assert done.returncode == 0, f"pow-registry {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Output to a file, not a pipe nobody reads (a full pipe would stop the server mid-test).
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if BACKEND != "postgresql":
        pytest.skip("the scale path needs PostgreSQL: it runs in the PostgreSQL pass "
                    "(POW_REGISTRY_TEST_DATABASE=postgresql)")
    require_nginx()
    import psycopg
    import redis
    from sqlalchemy.engine import make_url

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        _required("Redis", f"Redis not reachable at {REDIS_URL}: {exc}")
    url = make_url(PG_URL)
    try:
        admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                                dbname=url.database or "postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _required("PostgreSQL", f"PostgreSQL not reachable at {PG_URL}: {exc}")

    tmp = tmp_path_factory.mktemp("scale")
    run = secrets.token_hex(4)
    name = f"pow_scale_{run}"
    prefix = f"pow-scale-{run}"
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = url.set(database=name).render_as_string(hide_password=False)
    script = shutil.which("pow-registry", path=str(Path(sys.executable).parent))
    assert script, "pow-registry is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_")}
    env.update(POW_REGISTRY_INSTANCE_PATH=str(tmp / "instance"), POW_REGISTRY_SECRET_KEY=secrets.token_urlsafe(48),
               POW_REGISTRY_DATABASE_URL=database_url,
               POW_REGISTRY_RATELIMIT_STORAGE_URI=REDIS_URL, POW_REGISTRY_RATELIMIT_KEY_PREFIX=prefix,
               POW_REGISTRY_JOB_QUEUE_URL=REDIS_URL, POW_REGISTRY_JOB_QUEUE_NAME=prefix,
               POW_REGISTRY_JOB_WORKERS_IN_SERVE="0",
               POW_REGISTRY_TRUSTED_PROXIES="1", POW_REGISTRY_TRUSTED_PROXY_ADDRESS="127.0.0.1",
               POW_REGISTRY_STATUS_FAILED_CHECKS_PER_ADDRESS=f"{FAILED_CHECKS} per hour",
               # Cheap hashing: three processes on two cores; the strength of the hash is not tested here.
               POW_REGISTRY_ARGON2_TIME_COST="1", POW_REGISTRY_ARGON2_MEMORY_COST="1024",
               POW_REGISTRY_ORGANISATION_NAME="Фонд «Выдуманный»", POW_REGISTRY_ORGANISATION_CONTACT="https://example.org/")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        _run(script, "init-db", env=env)
        _run(script, "users", "create", "researcher@example.org", "--role", "researcher", "--password-stdin",
             env=env, stdin=PASSWORD + "\n")
        created = _run(script, "users", "create", "staff@example.org", "--role", "staff", "--password-stdin", "--totp",
                       env=env, stdin=PASSWORD + "\n")
        totp = re.search(r"Two-factor secret: (\S+)", created)
        assert totp, created
        inquiries, codes = tmp / "inquiries.csv", tmp / "codes.csv"
        inquiries.write_text("source_ref,surname,given_name,requester_name,requester_phone\n"
                             "scale-1,Масштабов,Виталий,Небывалова Анна Петровна,+79991234567\n", encoding="utf-8")
        _run(script, "import", "inquiries", str(inquiries), "--codes", str(codes), env=env)
        reference, code = codes.read_text(encoding="utf-8").splitlines()[1].split(",")[1:3]

        a, b, proxy = free_port(), free_port(), free_port()
        logs = {what: tmp / f"{what}.log" for what in ("serve-a", "serve-b", "worker")}
        # As if on three machines: each process has an instance folder of its own holding only the
        # shared keys (init-db's config.py); the evidence store is the one folder they share.
        envs = {}
        for what in logs:
            own = tmp / f"instance-{what}"
            own.mkdir(mode=0o700)
            shutil.copy2(tmp / "instance" / "config.py", own / "config.py")
            envs[what] = {**env, "POW_REGISTRY_INSTANCE_PATH": str(own),
                          "POW_REGISTRY_EVIDENCE_DIR": str(tmp / "instance" / "evidence")}
        for port, what in ((a, "serve-a"), (b, "serve-b")):
            processes.append(_start([script, "serve", "--host", "127.0.0.1", "--port", str(port), "--job-workers", "0"],
                                    envs[what], logs[what]))
        worker = _start([script, "worker"], envs["worker"], logs["worker"])
        processes.append(worker)
        nginx = start_nginx(tmp, proxy, [a, b])
        processes.append(nginx)
        wait_for_port(a, processes[0], f"pow-registry serve (see {logs['serve-a']})")
        wait_for_port(b, processes[1], f"pow-registry serve (see {logs['serve-b']})")
        wait_for_port(proxy, nginx, "nginx")
        yield Stack(proxy=proxy, a=a, b=b, worker_pid=worker.pid, reference=reference.strip(), code=code.strip(),
                    totp_secret=totp.group(1), database_url=database_url)
    finally:
        stop_processes(reversed(processes))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        store = redis.Redis.from_url(REDIS_URL)
        leftovers = list(store.scan_iter(match=f"*{prefix}*"))
        if leftovers:
            store.delete(*leftovers)
        store.close()


def until(condition: Callable[[], Any], what: str, seconds: float = JOB_DEADLINE_SECONDS) -> Any:
    """Poll until the condition holds (a deadline, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


# ---------------------------------------------------------------------------------------------


def test_the_family_page_limit_counts_across_both_processes(stack: Stack) -> None:
    s = stack
    guesser = Browser("127.0.0.2")
    # One wrong code on each backend and one through nginx (whose form and POST go to different
    # backends, round robin): together they use up the address's failures ...
    assert s.check_status(guesser, WRONG_CODE, form_from=s.a, send_to=s.a) == 403
    assert s.check_status(guesser, WRONG_CODE, form_from=s.b, send_to=s.b) == 403
    assert s.check_status(guesser, WRONG_CODE, form_from=s.proxy, send_to=s.proxy) == 403
    # ... so the next check is refused everywhere, before the code is even looked at.
    for port in (s.a, s.b, s.proxy):
        assert s.check_status(guesser, WRONG_CODE, form_from=port, send_to=port) == 429
    assert s.check_status(guesser, s.code, form_from=s.b, send_to=s.a) == 429
    # Per address: the family, from its own, gets its page on either process.
    family = Browser("127.0.0.3")
    assert s.check_status(family, s.code, form_from=s.a, send_to=s.b) == 200
    assert s.check_status(family, s.code, form_from=s.proxy, send_to=s.proxy) == 200


def test_a_session_made_on_one_process_is_valid_on_the_other(stack: Stack) -> None:
    s = stack
    researcher = Browser("127.0.0.4")
    assert researcher.get(s.b, "/registry/import").status == 302  # not signed in yet
    # The login form (and its CSRF token) from A, sent to B.
    signed_in = s.sign_in(researcher, "researcher@example.org", form_from=s.a, send_to=s.b)
    assert signed_in.status == 302 and "/login" not in signed_in.location
    for port in (s.a, s.b, s.proxy, s.proxy):
        page = researcher.get(port, "/registry/import")
        assert page.status == 200 and 'name="submission"' in page.text
    # Signing out on B ends the session on A too (the session's token lives in the database).
    kept = dict(researcher.cookies)
    home = researcher.get(s.b, "/registry/import")
    out = researcher.post(s.b, "/logout", {"logout-csrf_token": hidden(home.text, "logout-csrf_token")})
    assert out.status == 302 and out.location.endswith("/login")
    replayed = Browser("127.0.0.4", cookies=kept)
    assert replayed.get(s.a, "/registry/import").status == 302


@pytest.fixture(scope="module")
def staff(stack: Stack) -> Browser:
    """A staff member signed in with two factors across the processes: the password on B, the
    code (from the form A gave) through nginx. Once per module: a code works once per time step."""
    import pyotp

    s = stack
    browser = Browser("127.0.0.5")
    password_step = s.sign_in(browser, "staff@example.org", form_from=s.b, send_to=s.a)
    assert password_step.status == 302 and password_step.location.endswith("/login/code")
    page = browser.get(s.a, "/login/code")
    assert page.status == 200
    coded = browser.post(s.proxy, "/login/code", {"csrf_token": hidden(page.text, "csrf_token"),
                                                  "code": pyotp.TOTP(s.totp_secret).now()})
    assert coded.status == 302 and "/login" not in coded.location
    return browser


def test_a_two_factor_sign_in_can_cross_processes(stack: Stack, staff: Browser) -> None:
    for port in (stack.a, stack.b, stack.proxy):
        assert staff.get(port, "/inquiries/").status == 200
    assert Browser("127.0.0.5").get(stack.a, "/inquiries/").status == 302  # the cookie is what signs in


def test_a_job_started_on_one_process_is_seen_on_the_other_and_run_by_the_worker(stack: Stack) -> None:
    s = stack
    researcher = Browser("127.0.0.6")
    assert s.sign_in(researcher, "researcher@example.org", form_from=s.a, send_to=s.a).status == 302
    form = researcher.get(s.a, "/registry/import")
    # The account's language (Russian by default) wins over the browser's after sign-in: choose English on B.
    english = researcher.post(s.b, "/language", {"lang-csrf_token": hidden(form.text, "lang-csrf_token"),
                                                 "lang-language": "en"})
    assert english.status == 302
    assert 'lang="en"' in researcher.get(s.a, "/registry/import").text
    data = captures("Масштабов")
    job_path, fields = s.start_import(researcher, s.a, data)
    # B knows the job A made, and the same send again on B is the same job, not a second one.
    assert researcher.get(s.b, job_path).status == 200
    again = researcher.post(s.b, "/registry/import", fields, file=("file", "captures.csv", data))
    assert again.status == 303 and again.location.endswith(job_path)
    # Neither server runs jobs: the worker does, and B's page follows it to the end.
    state = s.wait_for_job(researcher, s.b, job_path)
    assert state["status"] == "done", state
    for port in (s.a, s.b, s.proxy):
        page = researcher.get(port, job_path)
        assert page.status == 200 and f"Imported {CAPTURE_ROWS} rows" in page.text
    job_id = int(job_path.rsplit("/", 1)[1])
    [(ran_by, rows_done)] = s.query("SELECT worker, rows_done FROM job WHERE id = %s", job_id)
    assert rows_done == CAPTURE_ROWS and ran_by.split(":")[1] == str(s.worker_pid)
    assert s.query("SELECT count(*) FROM job WHERE file_sha256 = (SELECT file_sha256 FROM job WHERE id = %s)",
                   job_id) == [(1,)]
    assert s.query("SELECT count(*) FROM person WHERE surname = %s", "Масштабов") == [(CAPTURE_ROWS,)]


def test_each_process_matches_against_records_another_process_wrote(stack: Stack, staff: Browser) -> None:
    """Each process that matches keeps its own index (services/matching.py): one that had
    built it must still see the men the worker imported after that."""
    s = stack
    # A and B each match one inquiry first, so each has an index from before the import.
    s.save_inquiry(staff, s.a, "Небывалов", "Пётр", "1975-02-03")
    s.save_inquiry(staff, s.b, "Небывалов", "Павел", "1976-04-05")
    researcher = Browser("127.0.0.7")
    assert s.sign_in(researcher, "researcher@example.org", form_from=s.b, send_to=s.b).status == 302
    job_path, _ = s.start_import(researcher, s.b, captures("Устареваев"))
    assert s.wait_for_job(researcher, s.a, job_path)["status"] == "done"
    # A family asks about two of the men just imported, one inquiry saved on each process.
    s.save_inquiry(staff, s.a, "Устареваев", "Виталий", "1980-01-10")
    s.save_inquiry(staff, s.b, "Устареваев", "Алексей", "1981-02-11")

    def paired(given_name: str) -> bool:
        return bool(s.query(
            "SELECT 1 FROM match_candidate c JOIN inquiry i ON c.left_kind = 'inquiry' AND c.left_id = i.id "
            "JOIN person p ON c.right_kind = 'person' AND c.right_id = p.id "
            "WHERE i.surname = %s AND i.given_name = %s AND p.surname = %s AND p.given_name = %s",
            "Устареваев", given_name, "Устареваев", given_name))

    until(lambda: paired("Виталий") and paired("Алексей"), "both inquiries to be paired with the imported men")
