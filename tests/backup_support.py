"""What the backup tests share: empty databases to restore into, and backups rewritten on purpose."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("POW_REGISTRY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_pg_tools(backend: str) -> None:
    """PostgreSQL's backups need pg_dump and pg_restore: skipped with the reason when they are
    missing, except in CI (.ci/run installs them), where that is a failure."""
    import pytest

    if backend != "postgresql":
        return
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} missing (Debian: apt-get install postgresql-client)"
        if IN_CI:
            pytest.fail(f"{reason}: required in CI")
        pytest.skip(reason)


@contextmanager
def empty_databases(backend: str, folder: Path) -> Iterator[Callable[[], str]]:
    """A factory of new, empty databases of the backend under test (no tables at all): a file
    name that does not exist yet in `folder`, or a new PostgreSQL database, dropped afterwards."""
    made: list[str] = []
    admin: Any = None

    def new() -> str:
        nonlocal admin
        if backend != "postgresql":
            return f"sqlite:///{folder / f'restored-{secrets.token_hex(4)}.sqlite3'}"
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(PG_URL)
        if admin is None:
            admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                                    dbname=url.database or "postgres", autocommit=True, connect_timeout=3)
        name = f"pow_backup_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return url.set(database=name).render_as_string(hide_password=False)

    try:
        yield new
    finally:
        if admin is not None:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


def rewrite_backup(source: Path, target: Path, *, manifest: Callable[[dict[str, Any]], None] | None = None,
                   payload: Callable[[bytes], bytes] | None = None) -> Path:
    """A copy of a backup file with its manifest and/or its payload changed (the size recorded in
    the tar header follows the new payload, as a careless or hostile editor would make it)."""
    with tarfile.open(source, "r:") as archive:
        members = [(m, archive.extractfile(m).read()) for m in archive.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(target, "w:", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            if member.name == "manifest.json" and manifest is not None:
                document = json.loads(data)
                manifest(document)
                data = json.dumps(document).encode()
            elif member.name != "manifest.json" and payload is not None:
                data = payload(data)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return target
