"""Alembic, driven from inside the package (no alembic.ini to find)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str, contact_crypto: Any = None, audit_key: bytes | None = None) -> Config:
    """`contact_crypto` (the app's domain.contact_crypto.ContactCrypto) is what migrations that
    touch families' contact data encrypt and decrypt with; without it they refuse to run on a
    database that holds such data. `audit_key` (the app's AUDIT_KEY_BYTES) seals the audit
    chain's head (0011_audit); without it that migration refuses a database holding events."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["contact_crypto"] = contact_crypto
    cfg.attributes["audit_key"] = audit_key
    return cfg


def upgrade(database_url: str, revision: str = "head", *, contact_crypto: Any = None,
            audit_key: bytes | None = None) -> None:
    command.upgrade(alembic_config(database_url, contact_crypto, audit_key), revision)


def downgrade(database_url: str, revision: str, *, contact_crypto: Any = None) -> None:
    command.downgrade(alembic_config(database_url, contact_crypto), revision)
