"""Task list: a follow-up day on work items (跟进日期) and users' saved work-list filters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 17:30:00
"""
import sqlalchemy as sa
from alembic import op

from engine.core.column_types import Json, UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_item') as batch:
        batch.add_column(sa.Column('follow_up_on', sa.Date(), nullable=True))
    op.create_table(
        'saved_filter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=80), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('params', Json, nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filter')),
        sa.UniqueConstraint('username', 'name', name='uq_saved_filter_username_name'),
    )


def downgrade() -> None:
    op.drop_table('saved_filter')
    with op.batch_alter_table('work_item') as batch:
        batch.drop_column('follow_up_on')
