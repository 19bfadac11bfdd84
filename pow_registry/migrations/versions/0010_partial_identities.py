"""partial identities: a person's call sign (and its search key) and appearance; the surname may be empty

A man is often known only partly at first (a given name and a unit from a video, a call sign, a
face): the registry takes him with whatever identifies him. The surname column stays NOT NULL;
"" means "not known", as for the other names.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_sign', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('call_sign_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('appearance', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_person_call_sign_key'), ['call_sign_key'], unique=False)


def downgrade() -> None:
    # Call signs and appearances are lost going down; a man recorded without a surname keeps an
    # empty one (the surname column itself is unchanged).
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_call_sign_key'))
        batch_op.drop_column('appearance')
        batch_op.drop_column('call_sign_key')
        batch_op.drop_column('call_sign')
