"""one submission, one inquiry: the form's one-time token and the code shown once

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('code_display',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sealed_code', sa.Text(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('shown_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiry.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    with op.batch_alter_table('code_display', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_code_display_inquiry_id'), ['inquiry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('code_display', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_code_display_inquiry_id'))
    op.drop_table('code_display')
