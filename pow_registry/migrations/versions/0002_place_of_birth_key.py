"""place of birth searchable in any script (Суджа finds Sudzha)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place_of_birth_key", sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=False, server_default=""))
    if not context.is_offline_mode():
        _fill_keys()
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.alter_column("place_of_birth_key", server_default=None)


def _fill_keys() -> None:
    """Keys for rows that exist; the app keeps them up to date from here on."""
    from pow_registry.domain.names import name_skeleton

    bind = op.get_bind()
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("place_of_birth", sa.String),
                      sa.column("place_of_birth_key", sa.String))
    rows = bind.execute(sa.select(person.c.id, person.c.place_of_birth).where(person.c.place_of_birth != "")).all()
    for row_id, place in rows:
        bind.execute(person.update().where(person.c.id == row_id).values(place_of_birth_key=name_skeleton(place)))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("place_of_birth_key")
