"""worker heartbeats; feed token owners and sealed tokens; inbound events pruned by time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('worker',
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id')
    )
    op.create_index(op.f('ix_worker_seen_at'), 'worker', ['seen_at'], unique=False)
    with op.batch_alter_table('feed_token') as batch:
        batch.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch.add_column(sa.Column('sealed', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.create_index(batch.f('ix_feed_token_owner'), ['owner'], unique=False)
    op.create_index(op.f('ix_inbound_event_received_at'), 'inbound_event', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_inbound_event_received_at'), table_name='inbound_event')
    with op.batch_alter_table('feed_token') as batch:
        batch.drop_index(batch.f('ix_feed_token_owner'))
        batch.drop_column('sealed')
        batch.drop_column('owner')
    op.drop_index(op.f('ix_worker_seen_at'), table_name='worker')
    op.drop_table('worker')
