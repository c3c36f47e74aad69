"""zalo_oa_token: the Zalo OA's rotating token pair

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('zalo_oa_token',
    sa.Column('app_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('access_token', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('refresh_token', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('access_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('seed_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('refreshing_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('refreshing_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('app_id')
    )


def downgrade() -> None:
    op.drop_table('zalo_oa_token')
