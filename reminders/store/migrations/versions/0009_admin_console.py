"""web console: one-time sign-in links and sessions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_login',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('commune_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('commune_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_hash')
    )
    op.create_index(op.f('ix_admin_session_person_id'), 'admin_session', ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_admin_session_person_id'), table_name='admin_session')
    op.drop_table('admin_session')
    op.drop_table('admin_login')
