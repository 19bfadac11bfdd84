"""jobs: long work off the request path (an import runs in a worker; the page reads this table)

Revision ID: 0011_jobs
Revises: 0011_audit
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011_jobs'
down_revision = '0011_audit'  # after the keyed audit head (both began from 0010 on separate branches)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='jobstatus', native_enum=False,
                                length=40), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('file_bytes', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('submission_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('failure', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sealed_codes', sa.Text(), nullable=True),
    sa.Column('codes_count', sa.Integer(), nullable=False),
    sa.Column('codes_taken_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('enqueued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('heartbeat_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('submission_digest')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index('ix_job_owner_created', ['owner_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_status'), ['status'], unique=False)


def downgrade() -> None:
    # Jobs are work in progress and their outcomes, never registry data: nothing of the registry is lost.
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_status'))
        batch_op.drop_index('ix_job_owner_created')
    op.drop_table('job')
