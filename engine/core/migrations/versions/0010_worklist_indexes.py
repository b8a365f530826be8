"""The open work list never scans: partial indexes on open items by group, assignee and due time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'open'")
_OPEN_DUE = sa.text("status = 'open' AND due_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.create_index('ix_work_item_open_group_due', ['candidate_group', 'due_at'], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.create_index('ix_work_item_open_assignee_due', ['assignee', 'due_at'], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.create_index('ix_work_item_open_due', ['due_at'], unique=False,
                              postgresql_where=_OPEN_DUE, sqlite_where=_OPEN_DUE)


def downgrade() -> None:
    with op.batch_alter_table('work_item', schema=None) as batch_op:
        batch_op.drop_index('ix_work_item_open_due')
        batch_op.drop_index('ix_work_item_open_assignee_due')
        batch_op.drop_index('ix_work_item_open_group_due')
