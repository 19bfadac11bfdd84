"""families' contact data encrypted at rest, a blind index for phones, erasure and retention dates

Requester name and email, and each phone number (as typed and in E.164), move into encrypted
columns (`*_enc`, Fernet tokens under CONTACT_DATA_KEYS); phones gain `e164_index`, the keyed
blind index (CONTACT_INDEX_KEY) that searches compare against. Existing rows are encrypted here,
then the clear columns are dropped. The keys come from the app config the migration runner is
given (`pow-registry init-db`); on a database holding contact data and without keys this
migration stops before changing anything. `closed_at` is filled for closed inquiries from their
last update (the retention period counts from then: never earlier than the real closing).

Offline (`--sql`) the rows cannot be encrypted: the script starts with a check that fails on
PostgreSQL when any contact data exists, so it can only be applied to a database without any.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_NO_KEYS = ("This database holds families' contact data, and migration 0007 needs CONTACT_DATA_KEYS and "
            "CONTACT_INDEX_KEY to encrypt it: run it with `pow-registry init-db` on a configured instance.")


def _crypto() -> Any:
    return context.config.attributes.get("contact_crypto")


def _has_contact_data(conn: Any, name_col: str, email_col: str, phone_col: str) -> bool:
    inquiry = conn.execute(sa.text(
        f"SELECT 1 FROM inquiry WHERE {name_col} <> '' OR {email_col} <> '' LIMIT 1")).first()  # noqa: S608 - fixed names
    phone = conn.execute(sa.text(f"SELECT 1 FROM inquiry_phone WHERE {phone_col} <> '' LIMIT 1")).first()  # noqa: S608
    return inquiry is not None or phone is not None


def upgrade() -> None:
    offline = context.is_offline_mode()
    if offline:
        op.execute(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM inquiry WHERE requester_name <> '' OR requester_email <> '') "
            "OR EXISTS (SELECT 1 FROM inquiry_phone) THEN RAISE EXCEPTION "
            "'contact data present: run pow-registry init-db, which encrypts it'; END IF; END $$;")
    else:
        conn = op.get_bind()
        if _has_contact_data(conn, "requester_name", "requester_email", "raw") and _crypto() is None:
            raise RuntimeError(_NO_KEYS)
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_name_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('requester_email_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('contact_erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('e164_enc', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('e164_index', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    if not offline:
        conn = op.get_bind()
        crypto = _crypto()
        rows = conn.execute(sa.text("SELECT id, requester_name, requester_email FROM inquiry")).all()
        for row in rows:
            conn.execute(sa.text("UPDATE inquiry SET requester_name_enc = :name, requester_email_enc = :email "
                                 "WHERE id = :id"),
                         {"id": row.id, "name": crypto.encrypt(row.requester_name or "") if crypto else "",
                          "email": crypto.encrypt(row.requester_email or "") if crypto else ""})
        phones = conn.execute(sa.text("SELECT id, raw, e164 FROM inquiry_phone")).all()
        for phone in phones:
            conn.execute(sa.text("UPDATE inquiry_phone SET raw_enc = :raw, e164_enc = :e164, e164_index = :idx "
                                 "WHERE id = :id"),
                         {"id": phone.id, "raw": crypto.encrypt(phone.raw), "e164": crypto.encrypt(phone.e164),
                          "idx": crypto.blind_index(phone.e164)})
    op.execute("UPDATE inquiry SET requester_name_enc = '' WHERE requester_name_enc IS NULL")
    op.execute("UPDATE inquiry SET requester_email_enc = '' WHERE requester_email_enc IS NULL")
    op.execute("UPDATE inquiry SET closed_at = updated_at WHERE status = 'closed'")

    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.alter_column('requester_name_enc', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('requester_email_enc', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('requester_name')
        batch_op.drop_column('requester_email')
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.alter_column('raw_enc', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('e164_enc', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('e164_index', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_inquiry_phone_e164'))
        batch_op.create_index(batch_op.f('ix_inquiry_phone_e164_index'), ['e164_index'], unique=False)
        batch_op.drop_column('raw')
        batch_op.drop_column('e164')


def downgrade() -> None:
    """Back to clear columns: decrypts (so it needs the keys when contact data exists)."""
    offline = context.is_offline_mode()
    crypto = _crypto()
    if not offline:
        conn = op.get_bind()
        if _has_contact_data(conn, "requester_name_enc", "requester_email_enc", "raw_enc") and crypto is None:
            raise RuntimeError(_NO_KEYS.replace("encrypt", "decrypt"))
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('requester_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('e164', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
    if not offline:
        conn = op.get_bind()
        for row in conn.execute(sa.text("SELECT id, requester_name_enc, requester_email_enc FROM inquiry")).all():
            conn.execute(sa.text("UPDATE inquiry SET requester_name = :name, requester_email = :email WHERE id = :id"),
                         {"id": row.id,
                          "name": crypto.decrypt(row.requester_name_enc)[:200] if crypto else "",
                          "email": crypto.decrypt(row.requester_email_enc)[:254] if crypto else ""})
        for phone in conn.execute(sa.text("SELECT id, raw_enc, e164_enc FROM inquiry_phone")).all():
            conn.execute(sa.text("UPDATE inquiry_phone SET raw = :raw, e164 = :e164 WHERE id = :id"),
                         {"id": phone.id, "raw": crypto.decrypt(phone.raw_enc)[:100] if crypto else "",
                          "e164": crypto.decrypt(phone.e164_enc)[:20] if crypto else ""})
    op.execute("UPDATE inquiry SET requester_name = '' WHERE requester_name IS NULL")
    op.execute("UPDATE inquiry SET requester_email = '' WHERE requester_email IS NULL")
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.alter_column('raw', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)
        batch_op.alter_column('e164', existing_type=sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False)
        batch_op.drop_index(batch_op.f('ix_inquiry_phone_e164_index'))
        batch_op.create_index(batch_op.f('ix_inquiry_phone_e164'), ['e164'], unique=False)
        batch_op.drop_column('e164_index')
        batch_op.drop_column('e164_enc')
        batch_op.drop_column('raw_enc')
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.alter_column('requester_name', existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
                              nullable=False)
        batch_op.alter_column('requester_email', existing_type=sqlmodel.sql.sqltypes.AutoString(length=254),
                              nullable=False)
        batch_op.drop_column('contact_erased_at')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('requester_email_enc')
        batch_op.drop_column('requester_name_enc')
