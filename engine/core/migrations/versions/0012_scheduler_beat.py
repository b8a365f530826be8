"""Scheduler heartbeat: when each scheduler process last ran a pass

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00
"""
import sqlalchemy as sa
from alembic import op

from engine.core.column_types import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'scheduler_beat',
        sa.Column('worker', sa.String(length=120), nullable=False),
        sa.Column('beat_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('worker', name=op.f('pk_scheduler_beat')),
    )


def downgrade() -> None:
    op.drop_table('scheduler_beat')
