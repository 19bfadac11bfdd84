"""accounts made by an admin change their password at first sign-in; inquiries can be assigned

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_inquiry_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_foreign_key('fk_inquiry_assigned_to_id_user_account', 'user_account',
                                    ['assigned_to_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.drop_constraint('fk_inquiry_assigned_to_id_user_account', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inquiry_assigned_to_id'))
        batch_op.drop_column('assigned_to_id')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
