"""match_pending: records waiting for the worker to match them (matching off the request path)

Revision ID: 0012_match_pending
Revises: 0011_jobs
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012_match_pending'
down_revision = '0011_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('match_pending',
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('queued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'record_id')
    )


def downgrade() -> None:
    # Records still waiting are matched again by `pow-registry match` (their fingerprints changed).
    op.drop_table('match_pending')
