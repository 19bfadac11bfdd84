"""audit head keyed: the number of events, a MAC with the audit key, and where it was found changed

The audit chain's head gains `event_count`, `mac` (HMAC with the audit key over the last event's
id and hash, the count and `broken_at_event_id`) and `broken_at_event_id` (set when an append
found the head not matching its MAC). Without a MAC, deleting the last events and copying the
new last hash into the head passed verification, and so did wiping every event.

An existing log is verified here and its head sealed with the key the migration runner is given
(`pow-registry init-db`); a log that does not verify is sealed as found and marked broken, never
vouched for. On a database holding audit events and without the key this migration stops before
changing anything. Offline (`--sql`) the head cannot be sealed: the script starts with a check
that fails on PostgreSQL when any audit event exists.

Revision ID: 0011_audit
Revises: 0010
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

revision = '0011_audit'
down_revision = '0010'
branch_labels = None
depends_on = None

_NO_KEY = ("This database holds audit events, and migration 0011_audit needs the audit key to seal the chain's "
           "head: run it with `pow-registry init-db` on a configured instance.")


def upgrade() -> None:
    key = context.config.attributes.get("audit_key")
    offline = context.is_offline_mode()
    if offline:
        op.execute(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM audit_event) OR EXISTS (SELECT 1 FROM audit_head) THEN "
            "RAISE EXCEPTION 'audit events present: run pow-registry init-db, which seals the chain head'; "
            "END IF; END $$;")
    elif key is None:
        conn = op.get_bind()
        used = conn.execute(sa.text("SELECT 1 FROM audit_event LIMIT 1")).first() or conn.execute(sa.text(
            "SELECT 1 FROM audit_head WHERE last_hash <> '' OR last_event_id IS NOT NULL LIMIT 1")).first()
        if used is not None:
            raise RuntimeError(_NO_KEY)
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('broken_at_event_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('mac', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))
    if not offline and key is not None:
        from pow_registry.services.audit import seal_head

        seal_head(op.get_bind(), key=key)


def downgrade() -> None:
    # The MAC and the count go; the chain of events itself is untouched.
    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('mac')
        batch_op.drop_column('broken_at_event_id')
        batch_op.drop_column('event_count')
