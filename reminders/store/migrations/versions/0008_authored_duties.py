"""authored duties (chat and console), their changes, and drafts waiting for a save

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authored_duty',
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('commune_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('ics_text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('uid')
    )
    op.create_index(op.f('ix_authored_duty_commune_id'), 'authored_duty', ['commune_id'], unique=False)
    op.create_table('authored_duty_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('commune_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('before_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('after_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_authored_duty_change_uid'), 'authored_duty_change', ['uid'], unique=False)
    op.create_table('duty_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('adapter', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('chat', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('uid', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('ics_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_duty_draft_person_id'), 'duty_draft', ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_duty_draft_person_id'), table_name='duty_draft')
    op.drop_table('duty_draft')
    op.drop_index(op.f('ix_authored_duty_change_uid'), table_name='authored_duty_change')
    op.drop_table('authored_duty_change')
    op.drop_index(op.f('ix_authored_duty_commune_id'), table_name='authored_duty')
    op.drop_table('authored_duty')
