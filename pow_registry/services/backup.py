"""Backups and restores of the whole database, consistent while the app keeps writing.

A backup is one file, an uncompressed tar (POSIX pax) with two members, in this order:

  manifest.json     what was backed up: the kind of database, the schema revision (Alembic), the
                    rows of every table and the audit chain's head (event id and keyed hash), all
                    read from the same moment as the data, and the payload's size and SHA-256
  database.sqlite3  SQLite: a copy made with SQLite's online backup API, or
  database.pgdump   PostgreSQL: `pg_dump --format=custom`

Consistent while writes happen. Copying a live SQLite file (with its -wal beside it) can lose
whole tables; the backup API copies the pages in one step under a read transaction, so under WAL
the app's writers carry on and the copy is one moment of the database. pg_dump reads everything
in one REPEATABLE READ snapshot: we export that snapshot from our own transaction
(`pg_export_snapshot`), read the counts and the audit head in it, and hand it to pg_dump
(`--snapshot`), so the manifest describes exactly the rows that were dumped.

Never a half file under the name. The file is assembled in a private working folder beside FILE
(`.FILE.incomplete-*`, mode 0700; files in it 0600, opened O_EXCL|O_NOFOLLOW), then published
with link(2), which refuses any existing name, a symlink included, atomically: FILE is either
absent or a complete backup. A backup killed half-way leaves only that folder, and nothing in it
passes `verify_backup` (no manifest, or a payload that fails its size and checksum).

Restore is all or nothing and refuses, before touching anything, a backup of the other kind of
database, one made by a newer schema (a revision this code does not know), and a database that
already holds rows (unless `force`). SQLite: the backup is unpacked and checked beside the live
file, then copied into it with the backup API the other way round: one write transaction of
SQLite's own (a crash half-way is rolled back at the next open), the live file keeps its path,
owner and mode, and no connection ever has a file renamed under it (a rename would leave any
open connection writing to the old, deleted file, and a stale -wal beside the new one can
corrupt it). PostgreSQL: `pg_restore --clean --if-exists --single-transaction`. Either way the
app should be stopped: whatever it writes during a restore is lost, and on PostgreSQL its open
transactions would hold the locks the restore needs (it gives up after a minute).

Connection details go to pg_dump and pg_restore through libpq's environment (PGHOST, PGUSER, ...)
and the password through a passfile of mode 0600 in a private folder, never on a command line
that `ps` shows to every user of the machine.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from pow_registry import clock
from pow_registry.services.errors import ServiceError

__all__ = [
    "AuditHeadInfo",
    "BackupError",
    "BackupReport",
    "DatabaseState",
    "Manifest",
    "RestoreReport",
    "VerifyReport",
    "create_backup",
    "database_kind",
    "database_state",
    "read_manifest",
    "restore_backup",
    "verify_backup",
]

FORMAT = "pow-registry-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_MAX_BYTES = 1 << 20
PAYLOAD_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
KIND_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# A table Alembic keeps for itself: a database holding only its row is still empty.
SCHEMA_TABLE = "alembic_version"
SQLITE_BUSY_SECONDS = 30
# How long pg_dump and pg_restore wait for a lock before giving up with a clear message.
PG_LOCK_WAIT_MS = 60_000
_CHUNK = 1 << 20

# URL query keys libpq also reads from the environment (a key it does not know is refused rather
# than dropped: the tools must reach the same server, as the same user, as the app does).
_LIBPQ_ENVIRONMENT = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL", "sslcompression": "PGSSLCOMPRESSION", "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING", "require_auth": "PGREQUIREAUTH", "krbsrvname": "PGKRBSRVNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME", "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "service": "PGSERVICE", "passfile": "PGPASSFILE",
    "client_encoding": "PGCLIENTENCODING",
}


class BackupError(ServiceError):
    """A backup or restore refused or failed; `message` says why (in English, for the command line)."""


@dataclass(frozen=True)
class AuditHeadInfo:
    """The audit chain's head: the last event's id and keyed hash (None and "" before any event)."""

    event_id: int | None
    hash: str

    def short(self) -> str:
        if self.event_id is None and not self.hash:
            return "no audit events yet"
        return f"event {self.event_id} ({self.hash[:12]}…)"


@dataclass(frozen=True)
class DatabaseState:
    """What a database holds, as a manifest records it: rows per table, schema revision, audit head."""

    kind: str
    schema_revision: str | None
    tables: dict[str, int]
    audit_head: AuditHeadInfo

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def data_rows(self) -> int:
        """Rows other than Alembic's own: a freshly migrated database has none."""
        return sum(n for name, n in self.tables.items() if name != SCHEMA_TABLE)

    def differences(self, other: DatabaseState) -> list[str]:
        """How `other` differs from this state, in words (empty when they agree)."""
        found = []
        for name in sorted(set(self.tables) | set(other.tables)):
            mine, theirs = self.tables.get(name), other.tables.get(name)
            if mine != theirs:
                found.append(f"table {name}: {_rows(mine)} expected, {_rows(theirs)} found")
        if self.schema_revision != other.schema_revision:
            found.append(f"schema revision: {self.schema_revision} expected, {other.schema_revision} found")
        if self.audit_head != other.audit_head:
            found.append(f"audit head: {self.audit_head.short()} expected, {other.audit_head.short()} found")
        return found


def _rows(count: int | None) -> str:
    return "no table" if count is None else f"{count} rows"


@dataclass(frozen=True)
class Manifest:
    state: DatabaseState
    created_at: str
    payload_name: str
    payload_bytes: int
    payload_sha256: str
    tools: dict[str, str]
    app_version: str

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "app_version": self.app_version,
            "database": self.state.kind,
            "schema_revision": self.state.schema_revision,
            "tables": dict(sorted(self.state.tables.items())),
            "rows": self.state.rows,
            "audit_head": {"event_id": self.state.audit_head.event_id, "hash": self.state.audit_head.hash},
            "payload": {"name": self.payload_name, "bytes": self.payload_bytes, "sha256": self.payload_sha256},
            "tools": self.tools,
        }
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        """The manifest, checked field by field: anything malformed is a BackupError, not a crash."""
        bad = BackupError(f"{where}: the backup's manifest is damaged or not one of ours.")
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise bad from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise bad
        version = document.get("format_version")
        if not isinstance(version, int):
            raise bad
        if version > FORMAT_VERSION:
            raise BackupError(f"{where} was written by a newer version of pow_registry (backup format {version}): "
                              "restore it with that version or a later one.")
        try:
            kind = document["database"]
            tables = document["tables"]
            head = document["audit_head"]
            payload = document["payload"]
            revision = document["schema_revision"]
            ok = (kind in PAYLOAD_NAMES and isinstance(tables, dict)
                  and all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in tables.items())
                  and isinstance(head, dict) and (head.get("event_id") is None or isinstance(head["event_id"], int))
                  and isinstance(head.get("hash"), str) and (revision is None or isinstance(revision, str))
                  and isinstance(payload, dict) and payload.get("name") == PAYLOAD_NAMES[kind]
                  and isinstance(payload.get("bytes"), int) and isinstance(payload.get("sha256"), str)
                  and re.fullmatch(r"[0-9a-f]{64}", payload["sha256"]) is not None)
        except (KeyError, TypeError):
            raise bad from None
        if not ok:
            raise bad
        return cls(
            state=DatabaseState(kind, revision, dict(tables), AuditHeadInfo(head.get("event_id"), head["hash"])),
            created_at=str(document.get("created_at", "")),
            payload_name=payload["name"],
            payload_bytes=payload["bytes"],
            payload_sha256=payload["sha256"],
            tools={str(k): str(v) for k, v in (document.get("tools") or {}).items()},
            app_version=str(document.get("app_version", "")),
        )

    def summary(self) -> str:
        state = self.state
        return (f"{KIND_LABELS[state.kind]} database (schema {state.schema_revision or 'unrecorded'}): "
                f"{state.rows} rows in {len(state.tables)} tables, audit head {state.audit_head.short()}")


@dataclass
class BackupReport:
    path: Path
    manifest: Manifest
    bytes: int
    seconds: float
    # Working folders an earlier, interrupted backup left beside this one (to be deleted by hand).
    leftovers: list[Path] = field(default_factory=list)


@dataclass
class VerifyReport:
    path: Path
    manifest: Manifest
    checked: list[str]
    # The audit chain checked with the key given (SQLite backups only: a PostgreSQL dump cannot be
    # queried without restoring it); None when not checked.
    chain: Any = None


@dataclass
class RestoreReport:
    path: Path
    manifest: Manifest
    rows_replaced: int
    seconds: float
    # The backup's schema is older than this code's: `pow-registry init-db` brings it up to date.
    needs_migration: bool = False


# ------------------------------------------------------------------------------------------------
# The configured database


def database_kind(database_url: str) -> str:
    """"sqlite" or "postgresql"; anything else is refused."""
    return _kind(_url(database_url))


def _url(database_url: str) -> URL:
    try:
        return make_url(database_url)
    except ArgumentError:
        raise BackupError("The database URL cannot be read.") from None


def _kind(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in PAYLOAD_NAMES:
        raise BackupError(f"Backups support SQLite and PostgreSQL databases, not {backend}.")
    return backend


def _sqlite_path(url: URL) -> Path:
    name = url.database or ""
    if not name or name == ":memory:" or name.startswith("file:") or url.query.get("mode") == "memory":
        raise BackupError("The configured SQLite database is not a plain file: there is nothing to back up or restore.")
    return Path(name).expanduser().absolute()


def _quote(name: str) -> str:
    """An identifier quoted for SQL (table names come from the database's own catalogue)."""
    return '"' + name.replace('"', '""') + '"'


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    """A plain connection (autocommit: transactions are begun by hand) that never creates the file."""
    connection = sqlite3.connect(path.as_uri() + "?mode=rw", uri=True, timeout=SQLITE_BUSY_SECONDS, isolation_level=None)
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    return connection


def _sqlite_state(connection: sqlite3.Connection) -> DatabaseState:
    """Rows per table, revision and audit head, read in one read transaction."""
    connection.execute("BEGIN")
    try:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name")]
        tables = {name: int(connection.execute(f"SELECT count(*) FROM {_quote(name)}").fetchone()[0])  # noqa: S608 - names from sqlite_master, quoted
                  for name in names}
        revision = head = None
        if SCHEMA_TABLE in tables:
            row = connection.execute(f"SELECT version_num FROM {SCHEMA_TABLE}").fetchone()  # noqa: S608 - a constant
            revision = row[0] if row else None
        if "audit_head" in tables:
            head = connection.execute("SELECT last_event_id, last_hash FROM audit_head WHERE id = 1").fetchone()
    finally:
        connection.execute("COMMIT")
    return DatabaseState("sqlite", revision, tables, AuditHeadInfo(head[0], head[1] or "") if head else AuditHeadInfo(None, ""))


def _pg_state(connection: Connection) -> DatabaseState:
    """The same for PostgreSQL, in the caller's transaction (its snapshot)."""
    names = connection.execute(text(
        "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename")).scalars().all()
    preparer = connection.dialect.identifier_preparer
    tables = {str(name): int(connection.execute(text(f"SELECT count(*) FROM {preparer.quote(name)}")).scalar_one())  # noqa: S608 - names from pg_tables, quoted
              for name in names}
    revision = head = None
    if SCHEMA_TABLE in tables:
        revision = connection.execute(text(f"SELECT version_num FROM {SCHEMA_TABLE}")).scalar()  # noqa: S608 - a constant
    if "audit_head" in tables:
        head = connection.execute(text("SELECT last_event_id, last_hash FROM audit_head WHERE id = 1")).first()
    return DatabaseState("postgresql", revision, tables, AuditHeadInfo(head[0], head[1] or "") if head else AuditHeadInfo(None, ""))


def _pg_engine(url: URL) -> Any:
    return create_engine(url, poolclass=NullPool)


def database_state(database_url: str) -> DatabaseState:
    """What the configured database holds now (rows per table, schema revision, audit head)."""
    url = _url(database_url)
    if _kind(url) == "sqlite":
        return _sqlite_file_state(_sqlite_path(url))
    return _pg_database_state(url)


def _sqlite_file_state(path: Path) -> DatabaseState:
    if not path.is_file():
        return DatabaseState("sqlite", None, {}, AuditHeadInfo(None, ""))
    try:
        with contextlib.closing(_sqlite_connect(path)) as connection:
            return _sqlite_state(connection)
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot read the SQLite database {path}: {exc}.") from None


def _pg_database_state(url: URL) -> DatabaseState:
    engine = _pg_engine(url)
    try:
        with engine.connect() as connection:
            return _pg_state(connection)
    except SQLAlchemyError as exc:
        raise BackupError(f"Cannot read the PostgreSQL database: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


# ------------------------------------------------------------------------------------------------
# libpq's tools


@contextlib.contextmanager
def _libpq(url: URL) -> Iterator[tuple[dict[str, str], str]]:
    """The environment and the `--dbname` for pg_dump/pg_restore to reach the database the URL names.

    Everything but the database name goes through libpq's environment variables; the password
    through a passfile (mode 0600, in a private folder removed afterwards) rather than
    PGPASSWORD or the command line. The database name is handed over as a conninfo string
    (`dbname='...'`): given bare, a name containing `=` would be read as connection options.
    """
    if not url.database:
        raise BackupError("The PostgreSQL database URL names no database.")
    env = dict(os.environ)
    if url.host:
        env["PGHOST"] = url.host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.username:
        env["PGUSER"] = url.username
    for key, value in url.query.items():
        variable = _LIBPQ_ENVIRONMENT.get(key)
        if variable is None or not isinstance(value, str):
            raise BackupError(f"The database URL's option {key!r} cannot be handed to pg_dump and pg_restore.")
        env[variable] = value
    dbname = "dbname='" + url.database.replace("\\", "\\\\").replace("'", "\\'") + "'"
    folder = None
    try:
        if url.password is not None:
            password = str(url.password)
            if "\n" in password or "\r" in password:
                raise BackupError("The database password contains a line break: libpq's password file cannot hold it.")
            folder = Path(tempfile.mkdtemp(prefix="pow-registry-pgpass-"))
            passfile = folder / "pgpass"
            escaped = password.replace("\\", "\\\\").replace(":", "\\:")
            with _create_private(passfile) as handle:
                handle.write(f"*:*:*:*:{escaped}\n".encode())
            env["PGPASSFILE"] = str(passfile)
            env.pop("PGPASSWORD", None)  # it would win over the passfile
        yield env, dbname
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client; it must be the "
                          "server's major version or newer).")
    return found


def _run(command: list[str], env: dict[str, str], what: str, stdout: IO[bytes] | None = None) -> None:
    """Run a libpq tool; its output goes to `stdout` (or is dropped), its complaint into the error."""
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=stdout or subprocess.DEVNULL,  # noqa: S603 - fixed arguments, no shell
                            stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        complaint = result.stderr.decode("utf-8", errors="replace")
        lines = [line for line in complaint.strip().splitlines() if line.strip()]
        reason = "\n".join(lines[-15:]) or f"exit status {result.returncode}"
        raise BackupError(f"{what} failed:\n{reason}")


def _tool_version(path: str) -> str:
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    return result.stdout.strip()


# ------------------------------------------------------------------------------------------------
# Files


@contextlib.contextmanager
def _create_private(path: Path) -> Iterator[IO[bytes]]:
    """A new file only its owner can read: never an existing one, never through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)  # whatever the umask said
    with os.fdopen(descriptor, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_target(target: Path) -> None:
    if os.path.lexists(target):
        raise BackupError(f"{target} already exists: give a new file name (a backup never overwrites anything).")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder.")


def _publish(source: Path, target: Path) -> None:
    """Give the finished file its name, atomically and never over anything already there."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise BackupError(f"{target} appeared while the backup was being written: nothing was overwritten.") from None
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV}:
            raise BackupError(f"{target}: cannot create the backup file ({exc.strerror}).") from None
        # A file system without hard links (FAT on a USB stick): copy into a new file instead. A copy
        # cut short stays detectable: its payload fails the manifest's size and checksum.
        try:
            with _create_private(target) as out, source.open("rb") as handle:
                shutil.copyfileobj(handle, out, _CHUNK)
        except FileExistsError:
            raise BackupError(f"{target} appeared while the backup was being written: nothing was overwritten.") from None
    _fsync_folder(target.parent)


def _write_archive(path: Path, manifest: Manifest, payload: Path) -> None:
    mtime = int(clock.now().timestamp())
    with _create_private(path) as raw:
        with tarfile.open(fileobj=raw, mode="w:", format=tarfile.PAX_FORMAT) as archive:
            for name, size, source in ((MANIFEST_NAME, None, None), (manifest.payload_name, manifest.payload_bytes, payload)):
                info = tarfile.TarInfo(name)
                info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = 0o600, mtime, 0, 0, "", ""
                if source is None:
                    data = manifest.to_json()
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
                else:
                    info.size = size or 0
                    with source.open("rb") as handle:
                        archive.addfile(info, handle)


class _Archive:
    """A backup file opened for reading: the manifest first, then its payload on request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise BackupError(f"{path} does not exist.") from None
        except IsADirectoryError:
            raise BackupError(f"{path} is a folder, not a backup file.") from None
        except (tarfile.TarError, OSError, EOFError):
            raise BackupError(f"{path} is not a pow_registry backup (or it is incomplete).") from None
        try:
            member = self._tar.next()
            if member is None or member.name != MANIFEST_NAME or not member.isfile() or member.size > MANIFEST_MAX_BYTES:
                raise BackupError(f"{path} is not a pow_registry backup (no manifest where it belongs).")
            handle = self._tar.extractfile(member)
            assert handle is not None  # a regular file
            self.manifest = Manifest.from_json(handle.read(), str(path))
        except (tarfile.TarError, OSError, EOFError):
            self._tar.close()
            raise BackupError(f"{path} is not a pow_registry backup (or it is incomplete).") from None
        except BaseException:
            self._tar.close()
            raise

    def extract_payload(self, folder: Path) -> Path:
        """The payload written into `folder` (a new 0600 file), its size and SHA-256 checked."""
        incomplete = BackupError(f"{self.path} is incomplete or damaged: its database copy does not match the "
                                 "size and checksum its manifest recorded.")
        target = folder / self.manifest.payload_name
        try:
            member = self._tar.next()
            if member is None or member.name != self.manifest.payload_name or not member.isfile():
                raise incomplete
            if member.size != self.manifest.payload_bytes:
                raise incomplete
            source = self._tar.extractfile(member)
            assert source is not None
            digest = hashlib.sha256()
            written = 0
            with _create_private(target) as out:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
        except (tarfile.TarError, EOFError):
            raise incomplete from None
        except OSError as exc:
            raise BackupError(f"Cannot unpack {self.path} into {folder} ({exc.strerror}).") from None
        if written != self.manifest.payload_bytes or digest.hexdigest() != self.manifest.payload_sha256:
            raise incomplete
        return target

    def close(self) -> None:
        self._tar.close()


@contextlib.contextmanager
def _open_archive(path: Path) -> Iterator[_Archive]:
    archive = _Archive(path)
    try:
        yield archive
    finally:
        archive.close()


def read_manifest(path: Path) -> Manifest:
    """The manifest of a backup file (its payload is not read)."""
    with _open_archive(path) as archive:
        return archive.manifest


@contextlib.contextmanager
def _private_folder(beside: Path | None, prefix: str) -> Iterator[Path]:
    """A new folder of mode 0700 (beside `beside`, or in the system's temporary folder), removed afterwards."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=beside))
    except OSError as exc:
        raise BackupError(f"Cannot create a working folder in {beside or tempfile.gettempdir()} ({exc.strerror}).") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pow-registry")
    except PackageNotFoundError:  # pragma: no cover - always installed, if only in development mode
        return "unknown"


# ------------------------------------------------------------------------------------------------
# Backup


def create_backup(database_url: str, target: Path) -> BackupReport:
    """Back the whole database up into the new file `target` (see the module's docstring)."""
    started = time.monotonic()
    url = _url(database_url)
    kind = _kind(url)
    target = Path(target).expanduser().absolute()
    _check_target(target)
    leftovers = sorted(p for p in target.parent.glob(".*.incomplete-*") if p.is_dir())
    with _private_folder(target.parent, f".{target.name}.incomplete-") as work:
        payload = work / PAYLOAD_NAMES[kind]
        taken = clock.now()
        if kind == "sqlite":
            state, tools = _backup_sqlite(_sqlite_path(url), payload)
        else:
            state, tools = _backup_postgresql(url, payload)
        manifest = Manifest(state=state, created_at=taken.isoformat(timespec="seconds"),
                            payload_name=payload.name, payload_bytes=payload.stat().st_size,
                            payload_sha256=_sha256(payload), tools=tools, app_version=_app_version())
        archive = work / "backup.tar"
        _write_archive(archive, manifest, payload)
        _publish(archive, target)
        size = archive.stat().st_size
    return BackupReport(target, manifest, size, time.monotonic() - started, leftovers)


def _backup_sqlite(live: Path, copy: Path) -> tuple[DatabaseState, dict[str, str]]:
    if not live.is_file():
        raise BackupError(f"There is no SQLite database at {live}.")
    try:
        with contextlib.closing(_sqlite_connect(live)) as source:
            source.execute("PRAGMA query_only=ON")
            with _create_private(copy):
                pass  # the copy's file, created 0600 before SQLite opens it
            with contextlib.closing(sqlite3.connect(copy, isolation_level=None)) as destination:
                # One step (pages=-1): the whole copy under a single read transaction, so it is one
                # moment of the database; under WAL the app's writers are not held up meanwhile.
                source.backup(destination, pages=-1)
        state = _check_sqlite_copy(copy, "The copy")
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite backup failed: {exc}.") from None
    return state, {"sqlite": sqlite3.sqlite_version}


def _check_sqlite_copy(path: Path, what: str) -> DatabaseState:
    """Integrity check, then the copy's state. Closed on return: the copy is complete in its file."""
    with contextlib.closing(_sqlite_connect(path)) as connection:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(problems[:5])}")
        return _sqlite_state(connection)


def _backup_postgresql(url: URL, dump: Path) -> tuple[DatabaseState, dict[str, str]]:
    pg_dump = _tool("pg_dump")
    engine = _pg_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            state = _pg_state(connection)
            server = str(connection.execute(text("SHOW server_version")).scalar_one())
            with _libpq(url) as (env, dbname), _create_private(dump) as out:
                # pg_dump writes into our 0600 file (a regular file, so it can still seek back and
                # record where each table's data starts).
                command = [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-password",
                           f"--lock-wait-timeout={PG_LOCK_WAIT_MS}", f"--dbname={dbname}"]
                _run(command, env, "pg_dump", stdout=out)
            connection.rollback()
    except SQLAlchemyError as exc:
        raise BackupError(f"Cannot read the PostgreSQL database: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    return state, {"pg_dump": _tool_version(pg_dump), "server": server}


# ------------------------------------------------------------------------------------------------
# Verify


def verify_backup(path: Path, *, audit_key: bytes | None = None) -> VerifyReport:
    """Check a backup file without touching any live database: the payload's size and checksum,
    then SQLite's integrity check on an unpacked copy (or, for PostgreSQL, every row read back out
    of the dump by pg_restore), and the rows per table, schema revision and audit head against the
    manifest. With `audit_key`, a SQLite backup's audit chain is walked too."""
    path = Path(path)
    with _open_archive(path) as archive, _private_folder(None, "pow-registry-verify-") as work:
        manifest = archive.manifest
        payload = archive.extract_payload(work)
        checked = ["size and SHA-256 of the database copy"]
        chain = None
        if manifest.state.kind == "sqlite":
            try:
                found = _check_sqlite_copy(payload, "The backup's database copy")
            except sqlite3.Error as exc:
                raise BackupError(f"{path}: the database copy cannot be read: {exc}.") from None
            checked.append("SQLite integrity check")
            if audit_key is not None:
                chain = _chain_of(f"sqlite:///{payload}", audit_key)
        else:
            found = _pg_dump_contents(payload)
            checked.append("every row read back with pg_restore")
        differences = manifest.state.differences(found)
        if differences:
            raise BackupError(f"{path} does not hold what its manifest says: " + "; ".join(differences[:10]))
        checked.append("rows per table, schema revision and audit head as in the manifest")
    return VerifyReport(path, manifest, checked, chain)


def _chain_of(database_url: str, key: bytes) -> Any:
    from sqlmodel import Session

    from pow_registry.services import audit

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return audit.verify_chain(session, key=key)
    finally:
        engine.dispose()


_COPY = re.compile(r'^COPY (?:(?:"(?:[^"]|"")*"|[^ ."]+)\.)?("(?:[^"]|"")*"|[^ ."(]+) \((.*)\) FROM stdin;$')


def _unquote(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def _copy_value(value: str) -> str | None:
    if value == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), value)


def _pg_dump_contents(dump: Path) -> DatabaseState:
    """Rows per table, revision and audit head, read out of a custom-format dump by pg_restore
    (every data block decompressed and read: a damaged dump fails here)."""
    pg_restore = _tool("pg_restore")
    tables: dict[str, int] = {}
    kept: dict[str, tuple[list[str], list[list[str | None]]]] = {}
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([pg_restore, "--data-only", "--file=-", str(dump)],  # noqa: S603 - fixed arguments
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdout is not None
        current: str | None = None
        with process.stdout:
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if current is None:
                    match = _COPY.match(line)
                    if match:
                        current = _unquote(match.group(1))
                        tables[current] = 0
                        if current in {SCHEMA_TABLE, "audit_head"}:
                            kept[current] = ([_unquote(c) for c in match.group(2).split(",")], [])
                elif line == "\\.":
                    current = None
                else:
                    tables[current] += 1
                    if current in kept:
                        kept[current][1].append([_copy_value(v) for v in line.split("\t")])
        status = process.wait()
        if status != 0 or current is not None:
            errors.seek(0)
            reason = errors.read().decode("utf-8", errors="replace").strip().splitlines()[-5:]
            raise BackupError("The PostgreSQL dump cannot be read back: " + (" ".join(reason) or f"pg_restore exit status {status}"))

    def rows_of(table: str) -> list[dict[str, str | None]]:
        columns, rows = kept.get(table, ([], []))
        return [dict(zip(columns, row, strict=False)) for row in rows]

    versions = rows_of(SCHEMA_TABLE)
    revision = versions[0].get("version_num") if versions else None
    heads = [row for row in rows_of("audit_head") if row.get("id") == "1"]
    head = AuditHeadInfo(None, "")
    if heads:
        event_id = heads[0].get("last_event_id")
        head = AuditHeadInfo(int(event_id) if event_id is not None else None, heads[0].get("last_hash") or "")
    return DatabaseState("postgresql", revision, tables, head)


# ------------------------------------------------------------------------------------------------
# Restore


def _schema_is_current(revision: str | None, where: str) -> bool:
    """True when the backup's schema is this code's; False when older (migrate after restoring);
    refused when newer or unknown. A backup with no revision recorded (a database made without
    Alembic) is taken as it is."""
    if revision is None:
        return True
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from pow_registry.migrations_runner import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        known = script.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(f"{where} has schema revision {revision}, which this version of pow_registry does not know "
                          f"(its newest is {script.get_current_head()}): it was made by a newer version. "
                          "Upgrade pow_registry first, then restore.")
    return revision == script.get_current_head()


def restore_backup(database_url: str, path: Path, *, force: bool = False,
                   progress: Callable[[str], None] | None = None) -> RestoreReport:
    """Replace the configured database with the backup in `path`, all or nothing.

    Refused (nothing changed) when the backup is of the other kind of database, has a schema
    newer than this code, is incomplete or damaged, or when the database already holds rows and
    `force` is not given. Afterwards the database's rows per table, schema revision and audit
    head are checked against the manifest. The app should be stopped meanwhile.
    """
    started = time.monotonic()
    say = progress or (lambda _message: None)
    url = _url(database_url)
    kind = _kind(url)
    path = Path(path)
    with _open_archive(path) as archive:
        manifest = archive.manifest
        if manifest.state.kind != kind:
            raise BackupError(f"{path} is a backup of a {KIND_LABELS[manifest.state.kind]} database, and the configured "
                              f"database is {KIND_LABELS[kind]}: nothing was restored. (Moving between the two "
                              "needs an export and import, not a restore.)")
        current = _schema_is_current(manifest.state.schema_revision, str(path))
        if kind == "sqlite":
            replaced = _restore_sqlite(archive, _sqlite_path(url), force=force, say=say)
        else:
            replaced = _restore_postgresql(archive, url, force=force, say=say)
    return RestoreReport(path, manifest, replaced, time.monotonic() - started, needs_migration=not current)


def _refuse_unless_empty(state: DatabaseState, force: bool, where: str) -> None:
    if state.data_rows and not force:
        raise BackupError(f"{where} already holds {state.data_rows} rows: nothing was restored. Restoring replaces "
                          "everything in it; give --force if that is what you want (take a backup of it first).")


def _restore_sqlite(archive: _Archive, live: Path, *, force: bool, say: Callable[[str], None]) -> int:
    if not live.parent.is_dir():
        raise BackupError(f"{live.parent} is not a folder.")
    before = _sqlite_file_state(live)
    _refuse_unless_empty(before, force, f"The SQLite database {live}")
    manifest = archive.manifest
    try:
        with _private_folder(live.parent, f".{live.name}.restore-") as work:
            say("Unpacking and checking the backup's database copy…")
            copy = archive.extract_payload(work)
            found = _check_sqlite_copy(copy, "The backup's database copy")
            differences = manifest.state.differences(found)
            if differences:
                raise BackupError(f"{archive.path} does not hold what its manifest says (nothing was restored): "
                                  + "; ".join(differences[:10]))
            if not live.exists():
                with _create_private(live):
                    pass  # a new database file readable by its owner only
            say(f"Copying it into {live}…")
            with contextlib.closing(_sqlite_connect(copy)) as source, \
                    contextlib.closing(_sqlite_connect(live)) as destination:
                # The backup API the other way round: one write transaction on the live file, so the
                # app's connections see the old database or the restored one, never a mixture.
                source.backup(destination, pages=-1)
                destination.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        after = _check_sqlite_copy(live, f"The restored database {live}")
    except sqlite3.Error as exc:
        raise BackupError(f"The SQLite restore failed: {exc}.") from None
    differences = manifest.state.differences(after)
    if differences:
        raise BackupError(f"The restored database {live} does not match the backup's manifest: " + "; ".join(differences[:10]))
    return before.data_rows


def _restore_postgresql(archive: _Archive, url: URL, *, force: bool, say: Callable[[str], None]) -> int:
    pg_restore = _tool("pg_restore")
    where = f"The PostgreSQL database {url.database!r}"
    before = _pg_database_state(url)
    _refuse_unless_empty(before, force, where)
    manifest = archive.manifest
    extra = sorted(set(before.tables) - set(manifest.state.tables))
    if extra:
        # pg_restore --clean drops only what the dump holds: these tables would stay behind and stop
        # the next migration (a backup from an older schema restored over a newer one).
        raise BackupError(f"{where} has tables the backup does not: {', '.join(extra)}. Nothing was restored: "
                          "restore into a new, empty database (createdb), then point the app at it.")
    with _private_folder(None, "pow-registry-restore-") as work:
        say("Unpacking the backup's dump…")
        dump = archive.extract_payload(work)
        say(f"Restoring it into {url.database!r} (one transaction)…")
        with _libpq(url) as (env, dbname):
            env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c lock_timeout={PG_LOCK_WAIT_MS}").strip()
            command = [pg_restore, "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
                       "--no-owner", "--no-privileges", "--no-password", f"--dbname={dbname}", str(dump)]
            try:
                _run(command, env, "pg_restore")
            except BackupError as exc:
                hint = (" (Is the app still running? Stop it first: its open transactions hold the tables.)"
                        if "lock timeout" in exc.message else "")
                raise BackupError(exc.message + f"\nNothing was restored: the whole restore is one transaction.{hint}") from None
    after = _pg_database_state(url)
    differences = manifest.state.differences(after)
    if differences:
        raise BackupError("The restored database does not match the backup's manifest: " + "; ".join(differences[:10]))
    return before.data_rows
