"""ombudsman offices, exchange lists and counterpart lists

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:54:43.365955
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Pairs whose left side is a name on a counterpart list ("counterpart": 11 characters).
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.alter_column('left_kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=20), existing_nullable=False)
        batch_op.alter_column('right_kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=10),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=20), existing_nullable=False)
    op.create_table('ombudsman_office',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('contact', sa.Text(), nullable=False),
    sa.Column('columns', sa.Text(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('counterpart_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('returned', 'held', name='counterpartkind', native_enum=False, length=40), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('received_on', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('exchange_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('file_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=True),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['imported_by_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('counterpart_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counterpart_list_file_sha256'), ['file_sha256'], unique=False)

    op.create_table('exchange_list',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('exchange', 'verification', name='listkind', native_enum=False, length=40), nullable=False),
    sa.Column('state', sa.Enum('draft', 'frozen', 'closed', name='liststate', native_enum=False, length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('frozen_by_id', sa.Integer(), nullable=True),
    sa.Column('frozen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('file_data', sa.LargeBinary(), nullable=True),
    sa.Column('file_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('file_size', sa.Integer(), nullable=True),
    sa.Column('exported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['frozen_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['office_id'], ['ombudsman_office.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('number')
    )
    with op.batch_alter_table('exchange_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_list_office_id'), ['office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_list_state'), ['state'], unique=False)

    op.create_table('exchange_list_entry',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('categories', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('priority_reasons', sa.Text(), nullable=False),
    sa.Column('added_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('removed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('removed_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('outcome', sa.Enum('acknowledged', 'not_found', 'exchanged', 'refused', name='outcome', native_enum=False, length=40), nullable=True),
    sa.Column('outcome_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('outcome_note', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('outcome_by_id', sa.Integer(), nullable=True),
    sa.Column('outcome_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['list_id'], ['exchange_list.id'], ),
    sa.ForeignKeyConstraint(['outcome_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.ForeignKeyConstraint(['removed_by_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('list_id', 'person_id', name='uq_list_person')
    )
    with op.batch_alter_table('exchange_list_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_list_entry_list_id'), ['list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_list_entry_person_id'), ['person_id'], unique=False)

    op.create_table('counterpart_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('surname', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('given_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('patronymic', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('date_of_birth', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('inquiry_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiry.id'], ),
    sa.ForeignKeyConstraint(['list_id'], ['counterpart_list.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('counterpart_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_counterpart_entry_inquiry_id'), ['inquiry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterpart_entry_list_id'), ['list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_counterpart_entry_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    op.execute("DELETE FROM match_candidate WHERE left_kind = 'counterpart'")
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.alter_column('left_kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=20),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=10), existing_nullable=False)
        batch_op.alter_column('right_kind', existing_type=sqlmodel.sql.sqltypes.AutoString(length=20),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=10), existing_nullable=False)
    with op.batch_alter_table('counterpart_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counterpart_entry_person_id'))
        batch_op.drop_index(batch_op.f('ix_counterpart_entry_list_id'))
        batch_op.drop_index(batch_op.f('ix_counterpart_entry_inquiry_id'))

    op.drop_table('counterpart_entry')
    with op.batch_alter_table('exchange_list_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_list_entry_person_id'))
        batch_op.drop_index(batch_op.f('ix_exchange_list_entry_list_id'))

    op.drop_table('exchange_list_entry')
    with op.batch_alter_table('exchange_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_list_state'))
        batch_op.drop_index(batch_op.f('ix_exchange_list_office_id'))

    op.drop_table('exchange_list')
    with op.batch_alter_table('counterpart_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_counterpart_list_file_sha256'))

    op.drop_table('counterpart_list')
    op.drop_table('ombudsman_office')
