"""job params: what a job works on besides an uploaded file (a list's id, a counterpart list's details)

The office-answers, counterpart, re-matching and list-export jobs need to know which list they
are for; the import jobs have none (NULL).

Revision ID: 0012_job_params
Revises: 0012_match_pending
Create Date: 2026-12-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_job_params'
down_revision = '0012_match_pending'  # after the matching queue (both began from 0011_jobs on separate branches)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.Text(), nullable=True))


def downgrade() -> None:
    # Jobs are work in progress and their outcomes, never registry data.
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('params')
