"""inquiries, phones and match candidates

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:02:43.635038
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('match_record',
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'record_id')
    )
    with op.batch_alter_table('match_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_record_revision'), ['revision'], unique=False)

    op.create_table('match_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('statistics', sa.Text(), nullable=False),
    sa.Column('prior', sa.Float(), nullable=False),
    sa.Column('statistics_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('match_candidate',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('left_kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('left_id', sa.Integer(), nullable=False),
    sa.Column('right_kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('right_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('candidate', 'confirmed', 'rejected', name='matchstatus', native_enum=False, length=40), nullable=False),
    sa.Column('left_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('right_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('review_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('left_kind', 'left_id', 'right_kind', 'right_id', name='uq_match_pair')
    )
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.create_index('ix_match_right', ['right_kind', 'right_id'], unique=False)
        batch_op.create_index('ix_match_status_score', ['status', 'score'], unique=False)

    op.create_table('inquiry',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('access_code_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('access_code_issued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('source_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('channel', sa.Enum('staff', 'family_form', 'imported', name='inquirychannel', native_enum=False, length=40), nullable=False),
    sa.Column('surname', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('given_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('patronymic', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('surname_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('given_name_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('name_needs_review', sa.Boolean(), nullable=False),
    sa.Column('date_of_birth', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('unit_number', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('service_category', sa.Enum('conscript', 'contract', 'mobilised', 'volunteer', 'pmc', 'other', name='servicecategory', native_enum=False, length=40), nullable=True),
    sa.Column('last_contact_date', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('last_known_place', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('requester_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('requester_relationship', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('requester_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('requester_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('preferred_language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('consent_contact', sa.Boolean(), nullable=False),
    sa.Column('consent_share', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('received', 'searching', 'match_found', 'on_exchange_list', 'returned', 'closed', name='inquirystatus', native_enum=False, length=40), nullable=False),
    sa.Column('closed_reason', sa.Enum('withdrawn', 'duplicate', 'deceased', 'found_elsewhere', name='closedreason', native_enum=False, length=40), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('sought_group_id', sa.Integer(), nullable=True),
    sa.Column('family_status', sa.Enum('received', 'searching', 'match_found', 'on_exchange_list', 'returned', 'closed', name='inquirystatus', native_enum=False, length=40), nullable=True),
    sa.Column('family_message', sa.Text(), nullable=False),
    sa.Column('family_cleared_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('family_cleared_by_id', sa.Integer(), nullable=True),
    sa.Column('last_checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['family_cleared_by_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference'),
    sa.UniqueConstraint('source_ref')
    )
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiry_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiry_sought_group_id'), ['sought_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiry_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiry_surname_key'), ['surname_key'], unique=False)

    op.create_table('inquiry_phone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inquiry_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('raw', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('e164', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.ForeignKeyConstraint(['inquiry_id'], ['inquiry.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inquiry_phone_e164'), ['e164'], unique=False)
        batch_op.create_index(batch_op.f('ix_inquiry_phone_inquiry_id'), ['inquiry_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inquiry_phone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiry_phone_inquiry_id'))
        batch_op.drop_index(batch_op.f('ix_inquiry_phone_e164'))

    op.drop_table('inquiry_phone')
    with op.batch_alter_table('inquiry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inquiry_surname_key'))
        batch_op.drop_index(batch_op.f('ix_inquiry_status'))
        batch_op.drop_index(batch_op.f('ix_inquiry_sought_group_id'))
        batch_op.drop_index(batch_op.f('ix_inquiry_person_id'))

    op.drop_table('inquiry')
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_match_status_score')
        batch_op.drop_index('ix_match_right')

    op.drop_table('match_candidate')
    op.drop_table('match_state')
    with op.batch_alter_table('match_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_record_revision'))

    op.drop_table('match_record')
